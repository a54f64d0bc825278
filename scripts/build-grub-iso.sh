#!/usr/bin/env bash
# A bootable hybrid ISO (El Torito + MBR) made by GRUB from Debian packages, without root or
# loop devices:
#   scripts/build-grub-iso.sh GUESTDIR OUT.iso
# GUESTDIR is what scripts/build-guest.sh built (vmlinuz, initramfs.cpio.gz). grub-mkrescue
# (grub-pc-bin, xorriso, mtools) puts them on the ISO with a grub.cfg whose menu shows on the
# serial console and whose one entry boots the kernel with console=ttyS0 and vmon.run=CMD for
# scripts/guest-init (CMD: VMON_ISO_RUN, default uname; without spaces, as GRUB quotes arguments
# that have spaces in a way /init does not parse).
#
# Cached: OUT.iso.stamp records the inputs; when it matches, nothing is done. The ISO is built
# next to OUT.iso and renamed into place, so an interrupted build is never taken for a finished
# one.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 GUESTDIR OUT.iso" >&2; exit 2; }
guest=$1 out=$2
run=${VMON_ISO_RUN:-uname}
for f in vmlinuz initramfs.cpio.gz; do
	[ -r "$guest/$f" ] || { echo "$0: no $guest/$f (make guest)" >&2; exit 1; }
done
command -v grub-mkrescue >/dev/null || { echo "$0: no grub-mkrescue (grub-common)" >&2; exit 1; }
[ -d /usr/lib/grub/i386-pc ] || { echo "$0: no /usr/lib/grub/i386-pc (grub-pc-bin)" >&2; exit 1; }

stamp="$(sha256sum "$guest/vmlinuz" "$guest/initramfs.cpio.gz" "$0" | cut -d' ' -f1 | tr '\n' ' ')"
stamp+=" $(dpkg-query -W -f '${Version}' grub-pc-bin xorriso 2>/dev/null) run=$run"
if [ -f "$out" ] && [ -f "$out.stamp" ] && [ "$(cat "$out.stamp")" = "$stamp" ]; then
	exit 0
fi
rm -f "$out.stamp"
tree=$(mktemp -d "${out%/*}/iso-tree.XXXXXX")
log=$(mktemp "${out%/*}/iso-log.XXXXXX")
trap 'rm -rf "$tree" "$log" "$out.tmp"' EXIT
mkdir -p "$tree/boot/grub"
cp "$guest/vmlinuz" "$guest/initramfs.cpio.gz" "$tree/boot/"
cat >"$tree/boot/grub/grub.cfg" <<CFG
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=1
menuentry 'vmon test Linux' {
	linux /boot/vmlinuz console=ttyS0 vmon.run=$run
	initrd /boot/initramfs.cpio.gz
}
CFG
# Only the BIOS platform: the ISO's El Torito image and its MBR both start GRUB's i386-pc core.
grub-mkrescue -o "$out.tmp" -d /usr/lib/grub/i386-pc "$tree" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
mv "$out.tmp" "$out"
echo "$stamp" >"$out.stamp"
