#!/usr/bin/env bash
# The bt engine's direct execution of guest user mode (--user-mode direct, docs/direct-execution.md):
#   direct/usermode      tests/guests/usermode (compute, syscalls, #PF fixed by the guest, a write
#                        to a read-only page, #GP/#UD/#DE, int3, CPUID, RDTSC) prints the same under
#                        --user-mode bt and direct, and direct really ran it natively (--stats).
#   direct/syscalls      tests/guests/usersyscall (every syscall number from random places): same
#                        output as under bt, every call answered by the guest kernel.
#   direct/container     while a guest runs: the container holds only the guest-RAM memfd, runs
#                        under its own seccomp filter with no_new_privs, maps nothing of vmon.
#   direct/killed        a container killed from outside ends the VM with one error line, no crash.
#   direct/linux-sha256  Debian's Linux boots to /init and busybox computes a sha256 with user
#                        mode native, on 1 vCPU; direct/linux-smp2 two at once on 2 vCPUs.
#   direct/unprivileged  usermode again as an unprivileged user (setpriv), when root runs this.
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

VMON_SAN=${VMON_SAN:-build/vmon-san}
logdir=build/tests/direct
mkdir -p "$logdir"
limit=60

pass() { echo "ok $1"; }
fail() {
	echo "FAIL $1"
	echo "    $2"
	[ -z "${3:-}" ] || tail -n 5 "$3" | sed 's/^/    /'
}

# same_as_bt NAME GUEST: the guest's output and status under direct equal those under bt, and
# --stats counted native runs.
same_as_bt() {
	local name=$1 bin=build/guests/$2.bin want=41 st_bt st_d
	timeout "$limit" "$VMON_SAN" run --engine bt --user-mode bt --kernel "$bin" --console stdio \
		</dev/null >"$logdir/$2.bt" 2>"$logdir/$2.bt.err"
	st_bt=$?
	timeout "$limit" "$VMON_SAN" run --engine bt --user-mode direct --stats --kernel "$bin" \
		--console stdio </dev/null >"$logdir/$2.direct" 2>"$logdir/$2.direct.err"
	st_d=$?
	if [ "$st_bt" != $want ] || [ "$st_d" != $want ]; then
		fail "$name" "exit status bt $st_bt, direct $st_d, expected $want" "$logdir/$2.direct.err"
	elif ! cmp -s "$logdir/$2.bt" "$logdir/$2.direct"; then
		fail "$name" "output differs from --user-mode bt: $(diff "$logdir/$2.bt" "$logdir/$2.direct" | head -3 | tr '\n' ' ')"
	elif ! cmp -s "$logdir/$2.bt" "tests/guests/$2.expected"; then
		fail "$name" "output differs from tests/guests/$2.expected"
	elif ! grep -Eq '^bt: direct_runs [1-9]' "$logdir/$2.direct.err" ||
	     ! grep -Eq '^bt: direct_stop_syscall [1-9]' "$logdir/$2.direct.err"; then
		fail "$name" "--stats shows no native run or no syscall stop" "$logdir/$2.direct.err"
	else
		pass "$name"
	fi
}

same_as_bt direct/usermode usermode
if grep -Eq '^bt: direct_stop_cpuid [1-9]' "$logdir/usermode.direct.err" &&
   grep -Eq '^bt: direct_stop_rdtsc [1-9]' "$logdir/usermode.direct.err" &&
   grep -Eq '^bt: direct_stop_page_mapped [1-9]' "$logdir/usermode.direct.err"; then
	pass direct/usermode-stops
else
	fail direct/usermode-stops "cpuid, rdtsc or mapped-page stops missing in --stats" \
		"$logdir/usermode.direct.err"
fi
same_as_bt direct/syscalls usersyscall
grep -q 'wrong answers 0000$' "$logdir/usersyscall.direct" ||
	fail direct/syscalls-answers "a call was not answered by the guest kernel"

# ---- the container, seen from outside --------------------------------------------------------
# A Linux guest that stays in user mode a while: its container is looked at, then killed.
guest=build/guest
if [ ! -f "$guest/vmlinuz" ] || [ ! -f "$guest/initramfs.cpio.gz" ]; then
	for n in container killed linux-sha256 linux-smp2; do
		echo "SKIP direct/$n: no guest image in $guest (make guest)"
	done
else
	spin="i=0; while [ \$i -lt 3000000 ]; do i=\$((i+1)); done"
	console=$logdir/spin.console
	"$VMON_SAN" run --engine bt --user-mode direct --mem 256M --console stdio \
		--kernel "$guest/vmlinuz" --initrd "$guest/initramfs.cpio.gz" \
		--cmdline "console=ttyS0 vmon.run=\"$spin\"" </dev/null >"$console" 2>"$console.err" &
	vm=$!
	for ((t = 0; t < 600; t++)); do
		grep -q VMON-INIT-START "$console" 2>/dev/null && break
		kill -0 $vm 2>/dev/null || break
		sleep 0.1
	done
	sleep 1
	ct=$(cat /proc/$vm/task/*/children 2>/dev/null | tr ' ' '\n' | grep -m1 .)
	why=''
	if [ -z "$ct" ]; then
		why="no container process under vmon (pid $vm)"
	else
		fds=$(ls /proc/$ct/fd 2>/dev/null | wc -l)
		memfd=$(readlink /proc/$ct/fd/* 2>/dev/null | grep -c 'memfd:vmon-ram')
		seccomp=$(awk '/^Seccomp:/ { print $2 }' /proc/$ct/status)
		nnp=$(awk '/^NoNewPrivs:/ { print $2 }' /proc/$ct/status)
		# besides guest pages (the memfd), only the gadget and the kernel's vsyscall page
		vmon_maps=$(grep -Evc 'memfd:vmon-ram|^1fffffffe000-1ffffffff000 |\[vsyscall\]' /proc/$ct/maps)
		gadget=$(grep -c '^1fffffffe000-1ffffffff000 r-xp' /proc/$ct/maps)
		if [ "$fds" != 1 ] || [ "$memfd" != 1 ]; then
			why="container has $fds descriptors ($(readlink /proc/$ct/fd/* | tr '\n' ' '))"
		elif [ "$seccomp" != 2 ] || [ "$nnp" != 1 ]; then
			why="container Seccomp $seccomp NoNewPrivs $nnp, expected 2 and 1"
		elif [ "$vmon_maps" != 0 ] || [ "$gadget" != 1 ]; then
			why="container maps vmon's memory or lacks the gadget: $(head -5 /proc/$ct/maps | tr '\n' ' ')"
		fi
	fi
	if [ -n "$why" ]; then fail direct/container "$why"; else pass direct/container; fi

	if [ -n "$ct" ]; then
		kill -9 "$ct"
		for ((t = 0; t < 300; t++)); do kill -0 $vm 2>/dev/null || break; sleep 0.1; done
	fi
	if kill -0 $vm 2>/dev/null; then
		kill -9 $vm
		wait $vm 2>/dev/null
		fail direct/killed "vmon still runs 30 s after its container was killed"
	else
		wait $vm
		st=$?
		if [ "$st" = 0 ] || [ "$st" -ge 128 ]; then
			fail direct/killed "vmon exit status $st, expected an error status" "$console.err"
		elif ! grep -q 'container process .* died' "$console.err" ||
		     grep -q 'Sanitizer\|runtime error' "$console.err"; then
			fail direct/killed "no 'container process died' line, or a sanitizer report" "$console.err"
		else
			pass direct/killed
		fi
	fi

	logdir_linux=$logdir
	logdir=$logdir_linux
	. tests/integration/linux_lib.sh
	limit=${VMON_LINUX_TIMEOUT:-300}
	vmon_args=(--user-mode direct --stats)
	boot linux/direct-sha256 1 "sha256sum /data/blob"
	check direct/linux-sha256 "$(cat "$guest/blob.sha256")  /data/blob"
	grep -Eq '^bt: direct_runs [1-9]' "$logdir/direct-sha256.console.stderr" ||
		fail direct/linux-native "--stats shows no native run" "$logdir/direct-sha256.console.stderr"
	# two processes computing at once, one per vCPU
	boot linux/direct-smp2 2 "grep -c processor /proc/cpuinfo; sha256sum /data/blob & sha256sum /data/blob; wait"
	check direct/linux-smp2 "2
$(cat "$guest/blob.sha256")  /data/blob
$(cat "$guest/blob.sha256")  /data/blob"
fi

# ---- an unprivileged vmon --------------------------------------------------------------------
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	out=$logdir/unpriv
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		timeout "$limit" build/vmon run --engine bt --user-mode direct --stats \
		--kernel build/guests/usermode.bin --console stdio </dev/null >"$out" 2>"$out.err"
	st=$?
	if [ "$st" = 41 ] && cmp -s "$out" tests/guests/usermode.expected &&
	   grep -Eq '^bt: direct_runs [1-9]' "$out.err"; then
		pass direct/unprivileged
	else
		fail direct/unprivileged "status $st (expected 41), or output/stats differ" "$out.err"
	fi
else
	echo "SKIP direct/unprivileged: needs root and setpriv to switch to an unprivileged user"
fi
