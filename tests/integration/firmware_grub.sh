#!/usr/bin/env bash
# Booting what users have: SeaBIOS (--firmware seabios) -> GRUB on a hybrid ISO built by
# scripts/build-grub-iso.sh (grub-pc-bin, xorriso, mtools; no root, no loop device) -> Debian's
# kernel and the project's initramfs, under bt, in build/tests/firmware_grub/:
#   firmware/grub-menu      GRUB's menu with the ISO's entry shows on the serial console
#   firmware/grub-linux     Linux reaches the same /init as the direct boot (its vmon.run command
#                           prints `Linux`), finds vmon's ACPI tables (etc/table-loader) and
#                           powers the VM off: status 0
#   firmware/iso-not-bootable  an ISO without a boot record: SeaBIOS says there is no bootable
#                           device and vmon ends
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

logdir=build/tests/firmware_grub
. tests/integration/linux_lib.sh
names=(firmware/grub-menu firmware/grub-linux firmware/iso-not-bootable)
if [ ! -r /usr/share/seabios/bios-256k.bin ] || ! command -v grub-mkrescue >/dev/null ||
   ! command -v xorriso >/dev/null; then
	for name in "${names[@]}"; do echo "SKIP $name: needs seabios, grub-pc-bin, xorriso, mtools"; done
	exit 0
fi
need_guest "${names[@]}"
iso=build/boot.iso
if ! scripts/build-grub-iso.sh "$guest" "$iso" 2>"$logdir/build-iso.log"; then
	for name in "${names[@]}"; do echo "FAIL $name: scripts/build-grub-iso.sh failed"; done
	sed 's/^/    | /' "$logdir/build-iso.log"
	exit 0
fi

console=$logdir/grub.console
timeout -k 5 "$limit" build/vmon run --engine "${VMON_LINUX_ENGINE:-bt}" --firmware seabios \
	--mem 256M --console stdio --disk "$iso,ro" </dev/null 2>"$console.stderr" |
	tr -d '\r' >"$console"
status=${PIPESTATUS[0]}

why=''
grep -q 'GNU GRUB' "$console" && grep -q 'vmon test Linux' "$console" ||
	why="no GRUB menu on the console"
report firmware/grub-menu "$why" "$console"

why=''
output=$(sed -n '/^VMON-INIT-START$/,/^VMON-RUN-EXIT=0$/p' "$console" | sed '1d;$d')
if [ "$status" != 0 ]; then
	why="vmon exit status $status"
elif ! grep -qx VMON-INIT-START "$console"; then
	why="the guest never reached /init"
elif [ "$output" != Linux ]; then
	why="the command printed '$output', expected 'Linux'"
elif ! grep -q 'ACPI: RSDT' "$console"; then
	why="Linux found no ACPI tables"
fi
report firmware/grub-linux "$why" "$console"

plain=$logdir/plain.iso
mkdir -p "$logdir/plain"
echo "no boot record here" >"$logdir/plain/README"
xorriso -as mkisofs -quiet -o "$plain" "$logdir/plain" 2>"$logdir/plain.log"
console=$logdir/plain.console
timeout -k 5 60 build/vmon run --engine bt --firmware seabios --mem 64M --reboot exit --console stdio \
	--disk "$plain,ro" </dev/null 2>"$console.stderr" | tr -d '\r' >"$console"
status=${PIPESTATUS[0]}
why=''
[ "$status" = 0 ] && grep -q '^No bootable device' "$console" ||
	why="status $status, expected SeaBIOS's 'No bootable device' and the VM's end"
report firmware/iso-not-bootable "$why" "$console"
