#!/usr/bin/env bash
# virtio-pci devices under Linux (Debian's cloud kernel, --engine bt), on disk images this script
# creates in build/tests/linux_virtio/:
#   linux/virtio-blk-read     sha256sum of the raw /dev/vda equals the host's sha256sum of its image
#   linux/virtio-blk-write    the guest writes /data/blob to /dev/vdb; the image's first 64 KiB
#                             then have the blob's checksum
#   linux/virtio-blk-ro       a write to a --disk FILE,ro device fails in the guest, the image is
#                             unchanged, and the guest sees the device read-only
#   linux/virtio-rng          rng_current is virtio_rng.0 and /dev/hwrng gives 32 bytes
#   linux/virtio-pci-dmesg    the kernel logs no PCI error (BAR conflicts, failed assignments, ...)
#   linux/virtio-intx         with pci=nomsi the devices work over INTx (ACPI _PRT -> IOAPIC 16-23)
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

logdir=build/tests/linux_virtio
. tests/integration/linux_lib.sh
names=(linux/virtio-blk-read linux/virtio-blk-write linux/virtio-blk-ro linux/virtio-rng
	linux/virtio-pci-dmesg linux/virtio-intx)
need_guest "${names[@]}"

a=$logdir/a.img b=$logdir/b.img ro=$logdir/ro.img
head -c $((3 * 1024 * 1024 + 512)) /dev/urandom >"$a"
head -c $((1024 * 1024)) /dev/zero >"$b"
head -c $((64 * 1024)) /dev/urandom >"$ro"
sum_a=$(sha256sum <"$a" | cut -d' ' -f1)
sum_ro=$(sha256sum <"$ro" | cut -d' ' -f1)
blob_sum=$(cat "$guest/blob.sha256")

# One boot, one line per check, each prefixed so a missing line shows which check it was.
cmd="echo read=\$(sha256sum /dev/vda | cut -d' ' -f1);"
cmd+=" dd if=/data/blob of=/dev/vdb bs=4096 conv=fsync 2>/dev/null; echo write=\$?;"
cmd+=" dd if=/dev/zero of=/dev/vdc bs=512 count=1 conv=fsync 2>/dev/null; echo ro=\$? \$(cat /sys/block/vdc/ro);"
cmd+=" echo rng=\$(cat /sys/class/misc/hw_random/rng_current) \$(head -c 32 /dev/hwrng | wc -c);"
cmd+=" echo pcierr=\$(dmesg | grep -v -i 'command line' | grep -i pci | grep -c -i -E 'error|fatal|conflict|claim|no space|failed')"
disks=(--disk "$a" --disk "$b" --disk "$ro,ro" --rng)
vmon_args=("${disks[@]}")
boot linux/virtio-blk-read 1 "$cmd"

# line KEY: the value the boot printed for KEY (empty if the boot failed).
line() { sed -n "s/^$1=//p" <<<"$output"; }
check_line() {
	local name=$1 key=$2 expected=$3 save_reason=$reason
	[ -n "$reason" ] || [ "$(line "$key")" = "$expected" ] ||
		reason="$key=$(line "$key"), expected $key=$expected"
	if [ -n "$reason" ]; then
		echo "FAIL $name"
		echo "    $reason"
		tail -n 5 "$logdir/virtio-blk-read.console" | sed 's/^/    /'
	else
		echo "ok $name"
	fi
	reason=$save_reason
}
check_line linux/virtio-blk-read read "$sum_a"
saved=$reason
[ -n "$reason" ] || [ "$(head -c 65536 "$b" | sha256sum | cut -d' ' -f1)" = "$blob_sum" ] ||
	reason="the first 64 KiB of $b do not hold /data/blob"
check_line linux/virtio-blk-write write 0
reason=$saved
[ -n "$reason" ] || [ "$(sha256sum <"$ro" | cut -d' ' -f1)" = "$sum_ro" ] ||
	reason="$ro changed"
check_line linux/virtio-blk-ro ro "1 1"
reason=$saved
check_line linux/virtio-rng rng "virtio_rng.0 32"
check_line linux/virtio-pci-dmesg pcierr 0

vmon_args=(--disk "$a" --rng)
boot linux/virtio-intx 1 "sha256sum /dev/vda | cut -d' ' -f1; grep -c IO-APIC.*virtio /proc/interrupts; head -c 8 /dev/hwrng | wc -c" "pci=nomsi"
check linux/virtio-intx "$sum_a
2
8"
