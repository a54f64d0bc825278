#!/usr/bin/env bash
# `make demo`: the Debian guest (scripts/build-guest.sh) with a shell on the console, a network
# and a disk to try:
#   scripts/demo.sh [VMON-RUN-OPTIONS...]     (e.g. --reboot exit, --engine bt, --cpus 2)
# - --net user, and on the host a tiny web server (scripts/demo-httpd.pl) on a free port of
#   127.0.0.1, which the guest reaches as http://10.0.2.2:PORT/ (the port goes to the guest's
#   hints on the kernel command line, vmon.demo_port=PORT);
# - --disk build/demo/scratch.img, a 16 MiB sparse scratch disk (/dev/vda), made here once and
#   kept (the guest may write to it).
# VMON (default build/vmon) is the binary to run. Exits with vmon's status.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

vmon=${VMON:-build/vmon}
guest=build/guest
dir=build/demo
mkdir -p "$dir" || exit 1
if [ ! -f "$dir/scratch.img" ]; then
	truncate -s 16M "$dir/scratch.img.tmp" && mv "$dir/scratch.img.tmp" "$dir/scratch.img" || exit 1
fi

# Each run has its own port file: two demos at once must not read each other's port.
portfile=$(mktemp "$dir/httpd-port.XXXXXX") || exit 1
rm -f "$portfile"
scripts/demo-httpd.pl "$portfile" </dev/null >/dev/null 2>"$dir/httpd.log" &
httpd=$!
trap 'kill $httpd 2>/dev/null; rm -f "$portfile"' EXIT
for _ in $(seq 100); do
	[ -s "$portfile" ] && break
	kill -0 $httpd 2>/dev/null || break
	sleep 0.05
done
port=$(cat "$portfile" 2>/dev/null)
if [ -z "$port" ]; then
	echo "demo: the host's web server did not start (see $dir/httpd.log)" >&2
	exit 1
fi

"$vmon" run --kernel "$guest/vmlinuz" --initrd "$guest/initramfs.cpio.gz" \
	--cmdline "console=ttyS0 vmon.demo_port=$port" \
	--net user --disk "$dir/scratch.img" "$@"
