#!/usr/bin/env bash
# Build vmon's Linux guest from Debian packages only:
#   scripts/build-guest.sh OUTDIR [--flavor cloud|generic]
#
# Outputs in OUTDIR:
#   vmlinuz             kernel of linux-image-cloud-amd64 (flavor cloud, the default)
#   vmlinuz-generic     kernel of linux-image-amd64 (flavor generic)
#   initramfs.cpio.gz   (initramfs-generic.cpio.gz for flavor generic: the modules differ)
#                       busybox-static + /init (scripts/guest-init) + /data/blob + the virtio
#                       modules of the same kernel package in /lib/modules (load order in
#                       /lib/modules/virtio.order; /init loads them only when a virtio PCI
#                       device is present) + udhcpc's hook (scripts/udhcpc.script)
#   blob.sha256         expected sha256 (hex) of /data/blob, a deterministic 64 KiB file
#   FLAVOR.stamp        package versions and input hashes the outputs were built from
#
# Cached: when FLAVOR.stamp matches what would be built now, nothing is done. Outputs are built in
# a temporary directory inside OUTDIR and renamed into place; the stamp is removed first and
# written last, so an interrupted build is never taken for a finished one.
set -euo pipefail

usage() {
	echo "usage: $0 OUTDIR [--flavor cloud|generic]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
outdir=$1
shift
flavor=cloud
while [ $# -gt 0 ]; do
	case $1 in
	--flavor)
		[ $# -ge 2 ] || usage
		flavor=$2
		shift 2
		;;
	*) usage ;;
	esac
done
case $flavor in
cloud) meta=linux-image-cloud-amd64 kernel_out=vmlinuz initrd_out=initramfs.cpio.gz ;;
generic) meta=linux-image-amd64 kernel_out=vmlinuz-generic initrd_out=initramfs-generic.cpio.gz ;;
*) usage ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
init_script=$here/guest-init
dhcp_script=$here/udhcpc.script
[ -r "$init_script" ] || { echo "$0: $init_script missing" >&2; exit 1; }
[ -r "$dhcp_script" ] || { echo "$0: $dhcp_script missing" >&2; exit 1; }
[ -r "$here/debs.sh" ] || { echo "$0: $here/debs.sh missing" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive LC_ALL=C

# Tools a fresh Debian 12 may lack.
need_install=()
for tool in cpio:cpio gzip:gzip sha256sum:coreutils dpkg-deb:dpkg objcopy:binutils; do
	command -v "${tool%%:*}" >/dev/null || need_install+=("${tool#*:}")
done
if [ ${#need_install[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "$0: missing packages: ${need_install[*]} (install them as root)" >&2
		exit 1
	fi
	apt-get install -y -qq "${need_install[@]}" >/dev/null ||
		{ apt-get update -qq && apt-get install -y -qq "${need_install[@]}" >/dev/null; }
fi

# apt_update, candidate, download_debs.
. "$here/debs.sh"

# The meta package depends on the real, versioned kernel package (linux-image-6.1.0-NN-...).
resolve_kernel_pkg() {
	apt-cache depends "$meta" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1
}
resolve() {
	kernel_pkg=$(resolve_kernel_pkg)
	[ -n "$kernel_pkg" ] || return 1
	kernel_ver=$(candidate "$kernel_pkg")
	busybox_ver=$(candidate busybox-static)
	[ -n "$kernel_ver" ] && [ "$kernel_ver" != "(none)" ] &&
		[ -n "$busybox_ver" ] && [ "$busybox_ver" != "(none)" ]
}
if ! resolve; then
	apt_update
	resolve || { echo "$0: cannot resolve $meta / busybox-static with apt" >&2; exit 1; }
fi

stamp_file=$outdir/$flavor.stamp
make_stamp() {
	printf '%s\n' "$kernel_pkg=$kernel_ver" "busybox-static=$busybox_ver" \
		"guest-init=$(sha256sum <"$init_script" | cut -d' ' -f1)" \
		"udhcpc.script=$(sha256sum <"$dhcp_script" | cut -d' ' -f1)" \
		"build-guest.sh=$(sha256sum <"$0" | cut -d' ' -f1)" \
		"debs.sh=$(sha256sum <"$here/debs.sh" | cut -d' ' -f1)"
}
stamp=$(make_stamp)

if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] &&
	[ -f "$outdir/$kernel_out" ] && [ -f "$outdir/$initrd_out" ] &&
	[ -f "$outdir/blob.sha256" ]; then
	echo "build-guest: $outdir is up to date ($flavor: $kernel_pkg $kernel_ver, busybox-static $busybox_ver)"
	exit 0
fi

mkdir -p "$outdir"
tmp=$(mktemp -d "$outdir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

# A stale package list can name versions the mirror no longer has: update once and retry.
download() {
	download_debs "$tmp/debs" "$@"
}
mkdir "$tmp/debs" "$tmp/pkgroot"
if ! download "$kernel_pkg=$kernel_ver" "busybox-static=$busybox_ver"; then
	apt_update || exit 1
	resolve || { echo "$0: cannot resolve $meta / busybox-static with apt" >&2; exit 1; }
	rm -f "$tmp"/debs/*.deb
	download "$kernel_pkg=$kernel_ver" "busybox-static=$busybox_ver"
	stamp=$(make_stamp)
fi
for deb in "$tmp"/debs/*.deb; do
	dpkg-deb -x "$deb" "$tmp/pkgroot"
done
kernel_file=$(find "$tmp/pkgroot/boot" -maxdepth 1 -name 'vmlinuz-*' 2>/dev/null | head -n 1)
[ -n "$kernel_file" ] || { echo "$0: no /boot/vmlinuz-* in $kernel_pkg" >&2; exit 1; }
[ -x "$tmp/pkgroot/bin/busybox" ] || { echo "$0: no /bin/busybox in busybox-static" >&2; exit 1; }

# /data/blob: 64 KiB from a 32-bit LCG (numerical recipes constants), high byte of each state.
# Products stay below 2^53, so the sequence is the same wherever bash runs.
make_blob() {
	local x=20240229 i esc=
	for ((i = 0; i < 65536; i++)); do
		x=$(((x * 1664525 + 1013904223) & 0xffffffff))
		printf -v esc '%s\\x%02x' "$esc" $((x >> 24))
		if ((i % 4096 == 4095)); then
			printf '%b' "$esc"
			esc=
		fi
	done
}

# Staging tree of the initramfs; busybox installs its applet links at boot (guest-init).
stage=$tmp/stage
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,data,lib/modules,etc/udhcpc}

# Debian builds virtio as modules: take the virtio PCI transport and the block and rng drivers
# from the kernel package, with what they depend on (the `depends=` of each module's .modinfo;
# there is no modules.dep before depmod runs), listed dependencies first.
moddir=$(find "$tmp/pkgroot/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)
[ -n "$moddir" ] || { echo "$0: no /lib/modules/* in $kernel_pkg" >&2; exit 1; }
module_path() {
	local p
	p=$(find "$moddir/kernel" -name "$1.ko" -o -name "${1//_/-}.ko" | sort | head -n 1)
	[ -n "$p" ] || { echo "$0: module $1 not in $kernel_pkg" >&2; exit 1; }
	echo "$p"
}
module_deps() {
	objcopy -O binary --only-section=.modinfo "$1" /dev/stdout | tr '\0' '\n' |
		sed -n 's/^depends=//p' | tr ',' ' '
}
loaded=" "
add_module() {
	local name=${1//-/_} path dep
	case $loaded in *" $name "*) return ;; esac
	path=$(module_path "$name") || exit 1
	for dep in $(module_deps "$path"); do
		add_module "$dep"
	done
	loaded="$loaded$name "
	cp "$path" "$stage/lib/modules/"
	basename "$path" >>"$stage/lib/modules/virtio.order"
}
for m in virtio_pci virtio_blk virtio_rng virtio_net; do
	add_module "$m"
done
cp "$tmp/pkgroot/bin/busybox" "$stage/bin/busybox"
install -m 0755 "$init_script" "$stage/init"
install -m 0755 "$dhcp_script" "$stage/etc/udhcpc/default.script"
make_blob >"$stage/data/blob"
blob_size=$(stat -c %s "$stage/data/blob")
[ "$blob_size" -eq 65536 ] || { echo "$0: /data/blob is $blob_size bytes, not 65536" >&2; exit 1; }
sha256sum <"$stage/data/blob" | cut -d' ' -f1 >"$tmp/blob.sha256"

# Reproducible archive: fixed mtimes, sorted names, no gzip timestamp.
find "$stage" -exec touch -h -d @0 {} +
(cd "$stage" && find . -mindepth 1 | sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -n -9 >"$tmp/$initrd_out"
cp "$kernel_file" "$tmp/$kernel_out"

rm -f "$stamp_file"
for f in "$kernel_out" "$initrd_out" blob.sha256; do
	mv -f "$tmp/$f" "$outdir/$f"
done
printf '%s\n' "$stamp" >"$tmp/stamp"
mv -f "$tmp/stamp" "$stamp_file"
echo "build-guest: built $outdir ($flavor: $kernel_pkg $kernel_ver, busybox-static $busybox_ver)"
