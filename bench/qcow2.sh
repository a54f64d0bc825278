#!/usr/bin/env bash
# Disk formats in the guest: sequential write then read of 32 MiB through virtio-blk
# (`dd bs=1M`, fsync after writing, page cache dropped before reading), on a raw image and on a
# fresh qcow2 one (qemu-img create: every write allocates clusters), under vmon's bt engine and,
# for reference, QEMU TCG with the same images. The guest times each dd from /proc/uptime
# (10 ms resolution). BENCH_RUNS boots per VMM and format (default 3), medians printed. Figures
# only: never fails on a slow or missing one.
set -uo pipefail
cd "$(dirname "$0")/.." || exit

runs=${BENCH_RUNS:-3}
logdir=build/bench/qcow2
mkdir -p "$logdir"
mib=32

echo "disk formats: sequential write and read of $mib MiB in the guest (dd bs=1M), MiB/s"
if ! scripts/build-guest.sh build/guest >/dev/null 2>"$logdir/build-guest.log"; then
	echo "qcow2: guest image unavailable (see $logdir/build-guest.log); skipped"
	exit 0
fi
if ! command -v qemu-img >/dev/null; then
	echo "qcow2: qemu-img (qemu-utils) not installed; skipped"
	exit 0
fi
cmd="read a x </proc/uptime; dd if=/dev/zero of=/dev/vda bs=1M count=$mib conv=fsync 2>/dev/null;"
cmd+=" read b x </proc/uptime; echo 3 >/proc/sys/vm/drop_caches;"
cmd+=" read c x </proc/uptime; dd if=/dev/vda of=/dev/null bs=1M count=$mib 2>/dev/null;"
cmd+=" read d x </proc/uptime; echo VMON-DISK \$a \$b \$c \$d"
append="console=ttyS0 vmon.run=\"$cmd\""
kernel=build/guest/vmlinuz initrd=build/guest/initramfs.cpio.gz

# "WRITE READ" MiB/s from a console log, or nothing.
rates() {
	tr -d '\r' <"$1" | awk -v mib="$mib" '/^VMON-DISK / {
		w = $3 - $2; r = $5 - $4
		if (w > 0 && r > 0) printf "%.1f %.1f\n", mib / w, mib / r }'
}
median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
# fresh FORMAT: a new 64 MiB image of that format; its path.
fresh() {
	local img=$logdir/disk.$1
	rm -f "$img"
	qemu-img create -q -f "$1" "$img" 64M
	echo "$img"
}

have_qemu=yes
command -v qemu-system-x86_64 >/dev/null || have_qemu=no
printf '  %-16s %10s %10s\n' "" write read
for fmt in raw qcow2; do
	for vmm in vmon qemu; do
		[ $vmm = vmon ] || [ $have_qemu = yes ] || continue
		w=() r=()
		for ((i = 1; i <= runs; i++)); do
			img=$(fresh $fmt) log=$logdir/$vmm-$fmt-$i.console
			if [ $vmm = vmon ]; then
				timeout -k 5 300 build/vmon run --engine bt --mem 256M --console stdio \
					--kernel "$kernel" --initrd "$initrd" --disk "$img" \
					--cmdline "$append" </dev/null >"$log" 2>&1
			else
				timeout -k 5 300 qemu-system-x86_64 -accel tcg -m 256M -display none \
					-no-reboot -net none -monitor none -serial stdio -kernel "$kernel" \
					-initrd "$initrd" -append "$append" \
					-drive "file=$img,format=$fmt,if=none,id=d0" \
					-device virtio-blk-pci,drive=d0 </dev/null >"$log" 2>&1
			fi
			read -r a b <<<"$(rates "$log")"
			[ -n "${a:-}" ] && w+=("$a") r+=("$b")
		done
		name="$([ $vmm = vmon ] && echo "vmon bt" || echo "qemu tcg") $fmt"
		if [ ${#w[@]} = 0 ]; then
			printf '  %-16s %10s %10s  (no figure, see %s/)\n' "$name" - - "$logdir"
		else
			printf '  %-16s %10s %10s\n' "$name" "$(printf '%s\n' "${w[@]}" | median)" \
				"$(printf '%s\n' "${r[@]}" | median)"
		fi
	done
done
[ $have_qemu = yes ] || echo "  qemu tcg: qemu-system-x86_64 not installed"
exit 0
