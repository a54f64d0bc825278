#!/usr/bin/perl
# The host's web server of `make demo` (scripts/demo.sh), with nothing but perl-base:
#   scripts/demo-httpd.pl PORTFILE
# Listens on 127.0.0.1 (10.0.2.2 in a guest on `--net user`) on a port the kernel picks, writes
# that port to PORTFILE, and answers every request with one short page, until killed.
use strict;
use warnings;
use IO::Socket::INET;

@ARGV == 1 or die "usage: $0 PORTFILE\n";
my $server = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 8,
				   ReuseAddr => 1) or die "$0: listen: $@\n";
open(my $out, '>', "$ARGV[0].tmp") or die "$0: $ARGV[0].tmp: $!\n";
print $out $server->sockport(), "\n";
close($out) or die "$0: $ARGV[0].tmp: $!\n";
rename("$ARGV[0].tmp", $ARGV[0]) or die "$0: $ARGV[0]: $!\n";

my $page = "Hello from the host: vmon's user-mode network (libslirp) carried this page.\n";
while (my $client = $server->accept()) {
	$client->autoflush(1);
	# The request line and headers, up to the blank line (a client that sends none is let go
	# after 5 s).
	eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		alarm 5;
		while (my $line = <$client>) {
			last if $line =~ /^\r?\n$/;
		}
		alarm 0;
	};
	print $client "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n",
		"Content-Length: ", length($page), "\r\nConnection: close\r\n\r\n", $page;
	close($client);
}
