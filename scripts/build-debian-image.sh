#!/usr/bin/env bash
# A minimal Debian system on an ext4 disk image, for booting a real distribution under vmon:
#   scripts/build-debian-image.sh OUTDIR
#
# mmdebstrap --variant=minbase with systemd, D-Bus, udev and Debian's cloud kernel, from this machine's
# own apt sources (the mirrors it already uses; never a hard-coded host), then `mkfs.ext4 -d`:
# no mount, no loop device. Set up for a serial console and a user-mode network:
#   - root logs in automatically on ttyS0 (the image is for tests: root has no password), and
#     the getty waits for udev to announce ttyS0 however long an emulated boot takes (systemd
#     gives up on a device after 90 s by default, and with it on the getty);
#   - systemd-networkd configures every Ethernet interface by DHCP;
#   - /dev/vda is the root filesystem.
# Outputs in OUTDIR: disk.img (2 GiB, sparse), vmlinuz and initrd.img (the image's own kernel and
# initramfs-tools initramfs, copied out so vmon can boot them with --kernel), and debian.stamp.
# Cached: nothing is done while debian.stamp matches this script and the apt sources. Built in a
# temporary directory and renamed into place; the stamp is written last.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
outdir=$1
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -s "$f" ] && grep -q '^[^#]' "$f" && sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || { echo "$0: no apt sources on this machine" >&2; exit 1; }
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
stamp="script $(sha256sum "$0" | cut -d' ' -f1) suite $suite sources $(cat "${sources[@]}" | sha256sum | cut -d' ' -f1)"
if [ -f "$outdir/debian.stamp" ] && [ "$(cat "$outdir/debian.stamp")" = "$stamp" ]; then
	exit 0
fi

for tool in mmdebstrap:mmdebstrap mkfs.ext4:e2fsprogs; do
	command -v "${tool%%:*}" >/dev/null || apt-get install -y -qq "${tool#*:}" >/dev/null
done

mkdir -p "$outdir"
rm -f "$outdir/debian.stamp"
work=$(mktemp -d "$outdir/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

# The hook runs in the finished tree ($1), before mmdebstrap cleans up.
setup='root=$1
echo "/dev/vda / ext4 defaults 0 1" >"$root/etc/fstab"
echo debian-vmon >"$root/etc/hostname"
mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d" "$root/etc/systemd/network" \
	"$root/etc/systemd/system/dev-ttyS0.device.d"
printf "[Unit]\nJobRunningTimeoutSec=infinity\n" >"$root/etc/systemd/system/dev-ttyS0.device.d/wait.conf"
printf "[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %%I \$TERM\n" \
	>"$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf"
printf "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n" >"$root/etc/systemd/network/20-wired.network"
chroot "$root" systemctl enable --quiet systemd-networkd
chroot "$root" passwd --quiet -d root'
mmdebstrap --quiet --variant=minbase \
	--include=systemd-sysv,dbus,udev,linux-image-cloud-amd64,initramfs-tools,iproute2,procps \
	--customize-hook="$setup" "$suite" "$root" "${sources[@]}"

cp "$root"/boot/vmlinuz-* "$work/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/initrd.img"
mkfs.ext4 -q -F -L debian -d "$root" "$work/disk.img" 2G >/dev/null
for f in disk.img vmlinuz initrd.img; do mv "$work/$f" "$outdir/$f"; done
echo "$stamp" >"$outdir/debian.stamp"
