#!/usr/bin/env bash
# virtio-blk sequential read: `dd if=/dev/vda of=/dev/null bs=1M` over a 64 MiB raw image in the
# Linux guest (Debian's cloud kernel, scripts/build-guest.sh), under vmon's bt engine and, for
# reference, under QEMU TCG with its virtio-blk-pci. The guest times the dd itself from
# /proc/uptime (10 ms resolution) on a cold page cache (first read after boot).
# Runs alternate between the two (BENCH_RUNS each, default 3); medians printed. Never fails on a
# slow or missing figure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit

runs=${BENCH_RUNS:-3}
logdir=build/bench/virtio-blk
mkdir -p "$logdir"
img=$logdir/disk.img
mib=64

echo "virtio-blk: sequential read of a $mib MiB disk in the guest (dd bs=1M, cold cache)"
if ! scripts/build-guest.sh build/guest >/dev/null 2>"$logdir/build-guest.log"; then
	echo "virtio-blk: guest image unavailable (see $logdir/build-guest.log); skipped"
	exit 0
fi
[ -f "$img" ] || head -c $((mib * 1024 * 1024)) /dev/urandom >"$img"

cmd='read t0 x </proc/uptime; dd if=/dev/vda of=/dev/null bs=1M 2>/dev/null; read t1 x </proc/uptime; echo VMON-BLK $t0 $t1'
append="console=ttyS0 vmon.run=\"$cmd\""
kernel=build/guest/vmlinuz initrd=build/guest/initramfs.cpio.gz

# MB/s (MiB per second, 1 decimal) from a console log, or nothing.
rate() {
	awk -v mib="$mib" '/^VMON-BLK / { d = $3 - $2; if (d > 0) printf "%.1f\n", mib / d }' "$1" | tr -d '\r'
}
median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

have_qemu=yes
command -v qemu-system-x86_64 >/dev/null || have_qemu=no
vmon_rates=() qemu_rates=()
for ((i = 1; i <= runs; i++)); do
	log=$logdir/vmon-$i.console
	timeout -k 5 300 build/vmon run --engine bt --mem 256M --console stdio --kernel "$kernel" \
		--initrd "$initrd" --disk "$img,ro" --cmdline "$append" </dev/null >"$log" 2>&1
	r=$(rate "$log")
	[ -n "$r" ] && vmon_rates+=("$r")
	if [ $have_qemu = yes ]; then
		log=$logdir/qemu-$i.console
		timeout -k 5 300 qemu-system-x86_64 -accel tcg -m 256M -display none -no-reboot \
			-net none -monitor none -serial stdio -kernel "$kernel" -initrd "$initrd" \
			-append "$append" -drive "file=$img,format=raw,if=none,id=d0,readonly=on" \
			-device virtio-blk-pci,drive=d0 </dev/null >"$log" 2>&1
		r=$(rate "$log")
		[ -n "$r" ] && qemu_rates+=("$r")
	fi
done

show() {
	local name=$1
	shift
	if [ $# -eq 0 ]; then
		echo "  $name: no figure (see $logdir/)"
	else
		echo "  $name: median $(printf '%s\n' "$@" | median) MiB/s  (runs: $*)"
	fi
}
show "vmon bt  " "${vmon_rates[@]}"
if [ $have_qemu = yes ]; then
	show "qemu tcg " "${qemu_rates[@]}"
else
	echo "  qemu tcg : qemu-system-x86_64 not installed"
fi
exit 0
