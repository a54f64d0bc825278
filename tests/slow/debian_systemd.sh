#!/usr/bin/env bash
# A whole Debian system under the bt engine: Debian's cloud kernel and its initramfs-tools
# initramfs, systemd on an ext4 root on virtio-blk (scripts/build-debian-image.sh), a user-mode
# network. Slow (tens of seconds to the login prompt): `make check-slow`.
#   debian/systemd   systemd logs root in on ttyS0 and finishes booting with no failed unit
#                    (`is-system-running`: running), multi-user.target active; the network came
#                    up by DHCP (10.0.2.15); `poweroff` ends vmon with status 0.
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason`, then the time to the login prompt.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

name=debian/systemd
img=build/debian
logdir=build/tests/debian
limit=${VMON_DEBIAN_TIMEOUT:-600}
mkdir -p "$logdir"
if ! scripts/build-debian-image.sh "$img" >"$logdir/build.log" 2>&1; then
	echo "SKIP $name: no Debian image (scripts/build-debian-image.sh failed, see $logdir/build.log)"
	exit 0
fi
. tests/lib/console.sh

disk=$logdir/disk.img
cp --sparse=always "$img/disk.img" "$disk"
console_start "$logdir/systemd" build/vmon run --engine bt --mem 1G --cpus 1 \
	--kernel "$img/vmlinuz" --initrd "$img/initrd.img" --cmdline "console=ttyS0 root=/dev/vda rw" \
	--disk "$disk" --net user
prompt='root@debian-vmon:~# '
reason=''
if ! console_wait "$prompt" "$limit"; then
	reason="no root prompt after $limit s"
else
	login_s=$(console_elapsed)
	console_send 'systemctl is-system-running --wait; systemctl is-active multi-user.target; systemctl --failed --no-legend --plain | cut -d" " -f1; ip -4 -o addr show dev $(ls /sys/class/net | grep -v lo | head -n 1) | awk "{print \$4}"; echo CHECK-DONE'
	if ! console_wait_line CHECK-DONE 300; then
		reason="the checks did not finish"
	else
		got=$(console_output_after 'echo CHECK-DONE' | sed '/^CHECK-DONE$/,$d')
		want=$'running\nactive\n10.0.2.15/24'
		[ "$got" = "$want" ] || reason="expected $(echo $want), got: $(echo $got)"
	fi
	console_send poweroff
fi
console_finish 120
[ -n "$reason" ] || [ "$console_status" = 0 ] || reason="vmon exit status $console_status after poweroff"
if [ -n "$reason" ]; then
	echo "FAIL $name"
	echo "    $reason"
	tail -n 8 "$logdir/systemd.out" | sed 's/^/    /'
else
	echo "ok $name"
	echo "    login prompt after $login_s s"
fi
rm -f "$disk"
