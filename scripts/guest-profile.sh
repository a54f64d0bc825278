#!/usr/bin/env bash
# Where the bt engine's time goes, by guest kernel function: boots the Linux guest under
# `perf record` with VMON_PERF_MAP=1 (each translation named guest_<rip> in /tmp/perf-PID.map),
# then sums perf's samples per guest kernel symbol (from the guest's own /proc/kallsyms, read once
# with nokaslr and cached) next to vmon's own functions.
#
#   scripts/guest-profile.sh [CMD]     CMD: what the guest's /init runs (default: sha256sum /data/blob)
#
# Needs perf. Translations only: time spent interpreting shows under bt_interp_run and handlers.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:-sha256sum /data/blob}
out=build/guest-profile
kernel=build/guest/vmlinuz initrd=build/guest/initramfs.cpio.gz
mkdir -p "$out"
command -v perf >/dev/null || { echo "guest-profile: perf not installed (apt-get install linux-perf)" >&2; exit 2; }
[ -x build/vmon ] && [ -f "$kernel" ] || { echo "guest-profile: run make and make guest first" >&2; exit 2; }

# The guest's text symbols, at nokaslr addresses; rebuilt when the kernel changes.
syms=$out/kallsyms
if ! [ -s "$syms" ] || [ "$kernel" -nt "$syms" ]; then
	build/vmon run --engine bt --mem 256M --console "$out/kallsyms.console" --kernel "$kernel" \
		--initrd "$initrd" --cmdline 'console=ttyS0 quiet nokaslr vmon.run="cat /proc/kallsyms"' \
		</dev/null >/dev/null
	tr -d '\r' <"$out/kallsyms.console" | grep -aE '^[0-9a-f]{16} [tTwW] ' | sort >"$syms.tmp"
	mv "$syms.tmp" "$syms"
fi

rm -f "$out/perf.data"
VMON_PERF_MAP=1 perf record -q -o "$out/perf.data" -- build/vmon run --engine bt --mem 256M \
	--console none --kernel "$kernel" --initrd "$initrd" \
	--cmdline "console=ttyS0 nokaslr vmon.run=\"$cmd\"" </dev/null >/dev/null
perf report -i "$out/perf.data" --no-children --sort sym 2>/dev/null | grep '%' >"$out/report.txt"

# Sum the samples: guest_<rip> by the kernel symbol at or below rip (binary search), user-space
# rips by 4 KiB page, everything else (vmon, libc, host kernel) by its own name. perl, for its
# 64-bit integers (awk's doubles cannot tell kernel addresses apart).
perl -e '
	no warnings "portable";
	my (@addr, @name, %sum, $guest);
	open(my $s, "<", $ARGV[0]) or die "$ARGV[0]: $!\n";
	while (<$s>) { my @f = split; push @addr, hex $f[0]; push @name, $f[2]; }
	sub lookup {
		my ($a) = @_;
		return "?" if !@addr || $a < $addr[0];
		my ($lo, $hi) = (0, $#addr);
		while ($lo < $hi) {
			my $mid = int(($lo + $hi + 1) / 2);
			if ($addr[$mid] <= $a) { $lo = $mid } else { $hi = $mid - 1 }
		}
		return $name[$lo];
	}
	open(my $r, "<", $ARGV[1]) or die "$ARGV[1]: $!\n";
	while (<$r>) {
		my ($pct, $sym) = /^\s*([\d.]+)%\s+\S+\s+(\S+)/ or next;
		my $key = "vmon/host: $sym";
		if ($sym =~ /^guest_([0-9a-f]+)$/) {
			my $rip = hex $1;
			$key = $rip >= 0x8000000000000000 ? "guest kernel: " . lookup($rip)
				: sprintf("guest low half (user, or boot code): page %x", $rip & ~0xfff);
			$guest += $pct;
		}
		$sum{$key} += $pct;
	}
	printf "%.1f%% of samples in translated guest code, the rest in vmon and the host\n", $guest;
	my @keys = sort { $sum{$b} <=> $sum{$a} } keys %sum;
	printf "%6.2f%%  %s\n", $sum{$_}, $_ for @keys[0 .. ($#keys < 39 ? $#keys : 39)];
' "$syms" "$out/report.txt"
