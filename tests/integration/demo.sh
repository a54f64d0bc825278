#!/usr/bin/env bash
# `make demo` (scripts/demo.sh) driven as a person would: its console's input is a FIFO the test
# types into, once the output shows what a person would wait for. One boot per test:
#   demo/try-and-poweroff   the prompt comes; the commands the two hint lines suggest work (the
#                           wget from the host's web server prints its page, /dev/vda is the
#                           scratch disk); `poweroff` ends vmon with status 0
#   demo/exit               the shell's `exit` powers off: status 0
#   demo/reboot-restart     `reboot` (--reboot restart, the default): the machine boots again
#                           (the kernel starts over at 0 s, a second prompt), whose `poweroff`
#                           ends vmon with status 0
#   demo/reboot-exit        `reboot` with --reboot exit: vmon ends with status 0 after one boot
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh. Consoles are kept in
# build/tests/demo/. VMON_LINUX_TIMEOUT: the limit per boot (s); VMON_LINUX_ENGINE: the engine (bt);
# VMON: the binary (build/vmon; build/vmon-san works, at about 5 times the boot time).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit
trap '' PIPE	# a vmon that died must fail a test, not kill this script when we type into it

logdir=build/tests/demo
. tests/integration/linux_lib.sh
need_guest demo/try-and-poweroff demo/exit demo/reboot-restart demo/reboot-exit

# start NAME [OPTION...]: scripts/demo.sh with the OPTIONs in the background, its console on
# $console (stdin: the FIFO on fd 3); sets pid.
start() {
	name=$1 console=$logdir/${1#demo/}.console
	local fifo=$console.stdin
	rm -f "$fifo" && mkfifo "$fifo" || exit 1
	VMON=${VMON:-build/vmon} timeout -k 5 "$limit" scripts/demo.sh \
		--engine "${VMON_LINUX_ENGINE:-bt}" "${@:2}" \
		<"$fifo" >"$console" 2>"$console.stderr" &
	pid=$!
	exec 3>"$fifo"
	rm -f "$fifo"
}

# seen BOOT TEXT: TEXT is on the console, after the BOOT-th start of /init (1 = the first).
seen() {
	tr -d '\r' <"$console" |
		awk -v n="$1" -v text="$2" '/^VMON-INIT-START$/ { boot++ }
			boot == n && index($0, text) { found = 1 } END { exit !found }'
}

# wait_for BOOT TEXT: polls until seen BOOT TEXT; false (why in reason) if vmon ended or the
# time ran out first.
wait_for() {
	local end=$((SECONDS + limit))
	until seen "$1" "$2"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			seen "$1" "$2" && return 0
			reason="vmon ended before \"$2\" (boot $1) was on the console"
			return 1
		fi
		if [ $SECONDS -ge $end ]; then
			reason="no \"$2\" (boot $1) on the console after $limit s"
			return 1
		fi
		sleep 0.1
	done
}

type_line() { printf '%s\n' "$1" >&3; }

# finish: closes the console's input and waits for vmon (stopped at once after a failure);
# sets status.
finish() {
	exec 3>&-
	[ -z "$reason" ] || kill "$pid" 2>/dev/null
	wait "$pid"
	status=$?
}

report() {
	if [ -n "$reason" ]; then
		echo "FAIL $name"
		echo "    $reason"
		tail -n 5 "$console" "$console.stderr" 2>/dev/null | tr -d '\r' | sed 's/^/    /'
	else
		echo "ok $name"
	fi
}

# ends_with STATUS: after finish, reason unless vmon ended with STATUS.
ends_with() {
	if [ "$status" = 124 ] || [ "$status" = 137 ]; then
		reason="timed out after $limit s"
	elif [ "$status" != "$1" ]; then
		reason="vmon exit status $status, expected $1"
	fi
}

# boots: how many times the kernel started, its clock at 0 s (a machine reset starts it over).
boots() { tr -d '\r' <"$console" | grep -c '^\[    0\.000000\] Linux version'; }

# prompt_and_echo BOOT: waits for the prompt, then checks that the shell evaluates a command.
prompt_and_echo() {
	wait_for "$1" 'vmon# ' || return 1
	type_line "echo shell-$1-\$((6*7))"
	wait_for "$1" "shell-$1-42"
}

# ---- demo/try-and-poweroff ---------------------------------------------------------------------
reason=
start demo/try-and-poweroff
if prompt_and_echo 1; then
	hint=$(tr -d '\r' <"$console" | sed -n 's/^Try: //p' | head -n 1)
	wget=$(sed -n 's/.*\(wget -qO- http:\/\/10\.0\.2\.2:[0-9]*\/\).*/\1/p' <<<"$hint")
	if [ -z "$wget" ] || [[ $hint != *"ls -l /dev/vd*"* ]] || [[ $hint != *poweroff* ]]; then
		reason="the hints do not name wget, ls -l /dev/vd* and poweroff: '$hint'"
	else
		# Markers the shell computes: the typed line, echoed, cannot match them.
		type_line "$wget; echo wget-status-\$((100 + \$?))"
		if wait_for 1 'wget-status-1' && ! seen 1 'wget-status-100'; then
			reason="'$wget' failed"
		elif [ -z "$reason" ] && ! seen 1 "Hello from the host"; then
			reason="'$wget' did not print the host's page"
		fi
	fi
	if [ -z "$reason" ]; then
		type_line 'ls -l /dev/vd*; echo ls-done-$((6*7))'
		if wait_for 1 'ls-done-42' && ! tr -d '\r' <"$console" | grep -q '^b.* /dev/vda$'; then
			reason="ls -l /dev/vd* shows no block device /dev/vda"
		fi
	fi
	[ -n "$reason" ] || type_line poweroff
fi
finish
[ -n "$reason" ] || ends_with 0
[ -n "$reason" ] || seen 1 'reboot: Power down' || reason="no 'reboot: Power down' from Linux"
report

# ---- demo/exit ---------------------------------------------------------------------------------
reason=
start demo/exit
prompt_and_echo 1 && type_line exit
finish
[ -n "$reason" ] || ends_with 0
[ -n "$reason" ] || seen 1 'reboot: Power down' || reason="no 'reboot: Power down' after exit"
report

# ---- demo/reboot-restart -----------------------------------------------------------------------
reason=
start demo/reboot-restart
if prompt_and_echo 1; then
	type_line reboot
	prompt_and_echo 2 && type_line poweroff
fi
finish
[ -n "$reason" ] || ends_with 0
[ -n "$reason" ] || [ "$(boots)" = 2 ] || reason="$(boots) boots, expected 2"
report

# ---- demo/reboot-exit --------------------------------------------------------------------------
reason=
start demo/reboot-exit --reboot exit
prompt_and_echo 1 && type_line reboot
finish
[ -n "$reason" ] || ends_with 0
[ -n "$reason" ] || seen 1 'reboot: Restarting system' || reason="no 'reboot: Restarting system'"
[ -n "$reason" ] || [ "$(boots)" = 1 ] || reason="$(boots) boots, expected 1"
report
