#!/usr/bin/env bash
# tests/fuzz/make-seeds.sh TARGET DIR: the seed corpus of fuzz harness TARGET into DIR, built
# rather than committed:
#   - tests/fuzz/seeds/TARGET/*.hex (hex text, '#' comments) as bytes, other files as they are;
#   - boot: the test guests (build/guests/*.bin) behind an option byte (tests/fuzz/boot.c), and
#     the head of the Debian kernel (build/guest/vmlinuz) if it is there;
#   - snapshot, migrate: a snapshot (plain and compressed) and a migration stream of a running
#     tiny guest with the harnesses' device set (a 64 KiB disk, --rng, --net user), made by
#     build/vmon, without their "end" section (the harnesses append it).
set -euo pipefail
cd "$(dirname "$0")/../.."
target=$1 out=$2
vmon=${VMON:-build/vmon}
mkdir -p "$out"

hex_to_bytes() { perl -ne 's/#.*//; s/\s+//g; print pack("H*", $_)' "$1"; }

for f in tests/fuzz/seeds/"$target"/*; do
	[ -e "$f" ] || continue
	case $f in
	*.hex) hex_to_bytes "$f" >"$out/$(basename "$f" .hex)" ;;
	*) cp "$f" "$out/" ;;
	esac
done

# Drops a snapshot container's trailing "end" section (20-byte header, 4-byte checksum).
strip_end() { head -c -24 "$1" >"$2"; }

# A running tiny guest with the harnesses' devices and an API socket, in $work.
work=
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	[ -z "$work" ] || rm -rf "$work"
	return 0
}
trap cleanup EXIT
start_guest() {
	work=$(mktemp -d)
	head -c 65536 /dev/zero >"$work/disk"
	"$vmon" run --engine bt --mem 4M --kernel build/guests/ticker.bin --cmdline long \
		--console none --disk "$work/disk" --rng --net user --api-sock "$work/api.sock" \
		</dev/null 2>"$work/err" &
	pid=$!
	for _ in $(seq 600); do
		[ -S "$work/api.sock" ] && { sleep 0.3; return 0; }
		sleep 0.1
	done
	echo "make-seeds: the seed guest did not start: $(head -n 1 "$work/err")" >&2
	exit 1
}

# Listens on unix socket $1, records a migration stream up to its "end" section into $2 (without
# it) and answers as a target does (snapshot.h, migrate.h).
record_stream() {
	perl -MIO::Socket::UNIX -e '
		my ($path, $out) = @ARGV;
		my $l = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $path, Listen => 1)
			or die "make-seeds: $path: $!\n";
		my $c = $l->accept or die "make-seeds: accept: $!\n";
		my $buf = "";
		sub need {
			while (length($buf) < $_[0]) {
				sysread($c, $buf, 1 << 16, length $buf) or die "make-seeds: stream cut\n";
			}
		}
		my $pos = 16;
		for (;;) {
			need($pos + 20);
			my ($name, $len) = unpack("Z16 V", substr($buf, $pos, 20));
			need($pos + 20 + $len);
			if ($name eq "end") {
				open(my $f, ">", $out) or die "make-seeds: $out: $!\n";
				binmode $f;
				print $f substr($buf, 0, $pos);
				close $f;
				syswrite($c, "ok\n");
				last;
			}
			# The source waits for this answer to each empty "sync" section.
			syswrite($c, "sync\n") if $name eq "sync" && $len == 0;
			$pos += 20 + $len;
		}' "$1" "$2"
}

case $target in
boot)
	for asm in tests/guests/*.asm; do
		bin=build/guests/$(basename "$asm" .asm).bin
		[ -f "$bin" ] || continue
		if grep -q '^; vmon-kind: boot-sector' "$asm"; then opt='\x08'; else opt='\x44'; fi
		{ printf "$opt"; cat "$bin"; } >"$out/$(basename "$asm" .asm)"
	done
	[ -f build/guest/vmlinuz ] && { printf '\x01'; head -c 65536 build/guest/vmlinuz; } \
		>"$out/vmlinuz-head"
	;;
snapshot)
	start_guest
	"$vmon" api "$work/api.sock" snapshot path="$work/plain" >/dev/null
	"$vmon" api "$work/api.sock" snapshot path="$work/zstd" compress=true >/dev/null
	strip_end "$work/plain" "$out/ticker"
	strip_end "$work/zstd" "$out/ticker-zstd"
	;;
migrate)
	start_guest
	record_stream "$work/mig.sock" "$out/ticker" &
	rec=$!
	for _ in $(seq 600); do
		[ -S "$work/mig.sock" ] && break
		sleep 0.1
	done
	"$vmon" api "$work/api.sock" migrate uri="unix:$work/mig.sock" >/dev/null
	wait "$rec"
	;;
esac
