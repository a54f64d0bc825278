#!/usr/bin/env bash
# Debian's Linux under `vmon run --engine bt` as a whole machine: its lifecycle, its console, more
# CPUs and the generic kernel. Two boots (a Linux boot under bt takes 15-60 s):
#
#   boot 1, cloud kernel, 1 vCPU, no vmon.run (the interactive shell of scripts/guest-init):
#     linux/bt-console-shell  once the `vmon# ` prompt is on the console, the test types
#                             `echo hi-$((6*7))` into vmon's stdin; `hi-42` must come back.
#     linux/bt-reboot         then it types `reboot -f`: Linux resets through the i8042, and vmon
#                             (--reboot exit) must exit 0. tests/integration/demo.sh has the
#                             default, --reboot restart.
#   boot 2, generic kernel (linux-image-amd64), 4 vCPUs:
#     linux/bt-generic        the generic kernel reaches /init and runs the command.
#     linux/bt-smp4           Linux brings up 4 CPUs; one shell pinned to each CPU with taskset
#                             reports that CPU and appends 8 sha256sums of /data/blob to one shared
#                             file; all 32 lines must be there and equal (the kernel's locks and
#                             atomics keep the concurrent O_APPEND writes whole).
#     linux/bt-panic          then the command panics the kernel (sysrq c): the panic text must be
#                             on the console and vmon must exit 3 (the warm-boot-flag reset that
#                             vmon's Linux loader arranges, see src/boot/linux.c), although a
#                             plain reset would boot the machine again (--reboot restart, the
#                             default).
#
# The prompt is awaited before typing: bytes a UART receives before Linux opens the port are lost
# to the FIFO resets of its 8250 driver, as on real hardware.  Without the generic kernel (its
# download failed) boot 2 uses the cloud kernel and linux/bt-generic is skipped.
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.  Consoles are kept in
# build/tests/linux_bt_machine/.  VMON_LINUX_TIMEOUT overrides the per-boot limit (seconds).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit
trap '' PIPE	# a vmon that died must fail a test, not kill this script when we type into it

limit=${VMON_LINUX_TIMEOUT:-300}
guest=build/guest
logdir=build/tests/linux_bt_machine
mkdir -p "$logdir"

ok() { echo "ok $1"; }
fail() {
	local name=$1 why=$2 console=$3
	echo "FAIL $name"
	echo "    $why"
	tail -n 5 "$console" "$console.stderr" 2>/dev/null | sed 's/^/    /'
}

if ! scripts/build-guest.sh "$guest" >/dev/null 2>"$logdir/build-guest.log"; then
	for name in console-shell reboot generic smp4 panic; do
		echo "SKIP linux/bt-$name: no guest image (scripts/build-guest.sh failed, see" \
			"$logdir/build-guest.log)"
	done
	exit 0
fi
generic=$guest/vmlinuz-generic
if ! scripts/build-guest.sh "$guest" --flavor generic >/dev/null \
	2>"$logdir/build-guest-generic.log"; then
	generic=
fi

# vmon KERNEL CPUS CMDLINE [OPTION...]: runs vmon on the guest in the background (stdin from $input, console
# to $console, stderr to $console.stderr); sets pid.
vmon() {
	local initrd=$guest/initramfs.cpio.gz
	# Each kernel flavor has its own initramfs (its virtio modules).
	[ "$1" != "$guest/vmlinuz-generic" ] || initrd=$guest/initramfs-generic.cpio.gz
	timeout -k 5 "$limit" "${VMON:-build/vmon}" run --engine bt --mem 256M --cpus "$2" --console stdio \
		--kernel "$1" --initrd "$initrd" --cmdline "$3" "${@:4}" \
		<"$input" >"$console.raw" 2>"$console.stderr" &
	pid=$!
}

# finish: waits for vmon; sets status and the console without carriage returns.
finish() {
	wait "$pid"
	status=$?
	tr -d '\r' <"$console.raw" >"$console"
}

# ---- boot 1: the interactive shell, then a reboot ----------------------------------------------
console=$logdir/shell.console
input=$logdir/shell.stdin
rm -f "$input" && mkfifo "$input" || exit 1
vmon "$guest/vmlinuz" 1 "console=ttyS0" --reboot exit
exec 3>"$input"
until grep -q 'vmon# ' "$console.raw" 2>/dev/null; do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.2
done
printf 'echo hi-$((6*7))\nreboot -f\n' >&3
exec 3>&-
finish
rm -f "$input"

if [ "$status" = 124 ] || [ "$status" = 137 ]; then
	why="timed out after $limit s"
elif ! grep -q 'vmon# ' "$console"; then
	why="no shell prompt (vmon exit status $status)"
else
	why=
fi
if [ -n "$why" ]; then
	fail linux/bt-console-shell "$why" "$console"
	fail linux/bt-reboot "$why" "$console"
else
	if grep -qx 'hi-42' "$console"; then
		ok linux/bt-console-shell
	else
		fail linux/bt-console-shell "the shell did not answer hi-42" "$console"
	fi
	if [ "$status" = 0 ] && grep -q 'reboot: Restarting system' "$console"; then
		ok linux/bt-reboot
	else
		fail linux/bt-reboot "vmon exit status $status after reboot -f, expected 0" "$console"
	fi
fi

# ---- boot 2: generic kernel, 4 CPUs, parallel work, then a panic -------------------------------
# No double quotes in CMD (see scripts/guest-init); `cut -d\  -f39` is the CPU a process runs on.
# The sleep lets the tty drain SMP-DONE before the panic's synchronous console output overtakes it.
smp_cmd='nproc; for c in 0 1 2 3; do taskset -c $c sh -c '\''cut -d\  -f39 /proc/self/stat >>/tmp/cpus; for i in 1 2 3 4 5 6 7 8; do sha256sum /data/blob >>/tmp/sums; done'\'' & done; wait; sort /tmp/cpus | tr \\n \ ; echo; uniq -c /tmp/sums; echo SMP-DONE; sleep 1; echo c >/proc/sysrq-trigger'
smp_expected="4
0 1 2 3 
     32 $(cat "$guest/blob.sha256")  /data/blob"

console=$logdir/smp4-panic.console
input=/dev/null
vmon "${generic:-$guest/vmlinuz}" 4 "console=ttyS0 vmon.run=\"$smp_cmd\""
finish

if [ -z "$generic" ]; then
	echo "SKIP linux/bt-generic: no generic kernel (see $logdir/build-guest-generic.log)"
elif grep -qx VMON-INIT-START "$console" && grep -qx SMP-DONE "$console"; then
	ok linux/bt-generic
else
	fail linux/bt-generic "the generic kernel did not run the command (vmon exit status $status)" \
		"$console"
fi

output=$(sed -n '/^VMON-INIT-START$/,/^SMP-DONE$/p' "$console" | sed '1d;$d')
if [ "$output" = "$smp_expected" ]; then
	ok linux/bt-smp4
else
	fail linux/bt-smp4 "printed '$output', expected '$smp_expected'" "$console"
fi

if [ "$status" = 3 ] && grep -q 'Kernel panic - not syncing: sysrq triggered crash' "$console" &&
	grep -q 'vmon: guest kernel panic' "$console.stderr"; then
	ok linux/bt-panic
else
	fail linux/bt-panic "vmon exit status $status, expected 3 with the panic on the console" \
		"$console"
fi
