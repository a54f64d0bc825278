#!/usr/bin/env bash
# Slow check (make linux-kvm, not part of make check): Debian's kernel starts under the kvm engine
# and prints its first console lines. On PVM hosts (software KVM) ring 0 runs at ~2 M insns/s, so
# a whole boot takes minutes: this waits for the first lines only (LINUX_KVM_TIMEOUT, default 600 s).
set -u
cd "$(dirname "$0")/../.."
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	echo "SKIP linux/kvm-first-lines: /dev/kvm not available"
	exit 0
fi
[ -f build/guest/vmlinuz ] || scripts/build-guest.sh build/guest >/dev/null || exit 1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout "${LINUX_KVM_TIMEOUT:-600}" build/vmon run --engine kvm --kernel build/guest/vmlinuz \
	--initrd build/guest/initramfs.cpio.gz --cmdline "console=ttyS0 earlyprintk=ttyS0" \
	</dev/null >"$log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
	if grep -q "Linux version" "$log"; then
		kill "$pid"
		wait "$pid" 2>/dev/null
		echo "ok linux/kvm-first-lines"
		grep -m 5 -E "Linux version|Command line|BIOS-e820" "$log" | sed 's/^/    | /'
		exit 0
	fi
	sleep 1
done
echo "FAIL linux/kvm-first-lines: no 'Linux version' line"
sed -n '1,20p' "$log" | sed 's/^/    | /'
exit 1
