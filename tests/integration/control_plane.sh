#!/usr/bin/env bash
# The control plane against hostile files, signals and clients (sanitized build, bt engine,
# tests/guests/ticker.asm):
#   control/fifo-inputs     --kernel, --initrd, --boot-sector, --restore or --console naming a
#                           FIFO: one line, exit 2, at once (opening one used to block forever)
#   control/fifo-snapshot   a snapshot whose FILE.tmp is a FIFO: an error reply at once, and
#                           status, resume and quit still answer (it wedged the API)
#   control/signals         USR1, USR2, ALRM, VTALRM, XCPU and a real-time signal end vmon as
#                           that signal, with the API socket removed and, on a terminal (script
#                           gives it one), the terminal's modes restored
#   control/api-idle        9 idle connections: once the 8 held ones are idle for 10 s, a new
#                           client is served; while they are not, it is refused and counted
#   control/asan-report     a sandboxed vmon-san killed with SIGSEGV: ASan's report is complete
#                           (its symbolizer's readlink is allowed in the test build)
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

vmon=build/vmon-san
client=build/vmon
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
ticker=build/guests/ticker.bin

ok() { echo "ok $1"; }
fail() { echo "FAIL $1"; shift; printf '    %s\n' "$@"; }
api() { reply=$(timeout 10 "$client" api "$1" "${@:2}" 2>&1); rc=$?; }
wait_for() {	# wait_for FILE PATTERN [SECONDS]
	for _ in $(seq $((${3:-30} * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# start NAME: the ticker (20 s) with an API socket NAME.sock; sets pid.
start() {
	"$vmon" run --engine bt --kernel "$ticker" --cmdline long --console "$work/$1.out" \
		--api-sock "$work/$1.sock" </dev/null 2>"$work/$1.err" &
	pid=$!
	pids+=("$pid")
	wait_for "$work/$1.out" "tick 00" || true
}

# ---- FIFOs where vmon expects files
errors=()
mkfifo "$work/fifo"
for args in "--kernel $work/fifo" "--kernel $ticker --initrd $work/fifo" \
	    "--boot-sector $work/fifo" "--restore $work/fifo" "--kernel $ticker --console $work/fifo"; do
	# shellcheck disable=SC2086
	timeout 20 "$vmon" run --engine bt $args </dev/null >"$work/out" 2>"$work/err"
	status=$?
	if [ $status != 2 ] || [ "$(wc -l <"$work/err")" != 1 ] ||
	   ! grep -q "^vmon: $work/fifo: not a regular file" "$work/err"; then
		errors+=("$args: exit status $status: $(cat "$work/err")")
	fi
done
if [ ${#errors[@]} = 0 ]; then ok control/fifo-inputs; else fail control/fifo-inputs "${errors[@]}"; fi

errors=()
start fifo
mkfifo "$work/snap.tmp"
api "$work/fifo.sock" snapshot path="$work/snap"
[ $rc != 0 ] && grep -q 'snap.tmp: not a regular file' <<<"$reply" || errors+=("snapshot: $reply")
api "$work/fifo.sock" status
grep -q '"state":"running"' <<<"$reply" || errors+=("status: $reply")
api "$work/fifo.sock" pause
api "$work/fifo.sock" resume
[ $rc = 0 ] || errors+=("resume: $reply")
api "$work/fifo.sock" quit
[ $rc = 0 ] || errors+=("quit: $reply")
wait "$pid"
status=$?
[ $status = 0 ] || errors+=("exit status $status: $(cat "$work/fifo.err")")
[ -p "$work/snap.tmp" ] || errors+=("the FIFO was replaced")
[ -e "$work/snap" ] && errors+=("a snapshot file was left")
if [ ${#errors[@]} = 0 ]; then ok control/fifo-snapshot; else fail control/fifo-snapshot "${errors[@]}"; fi

# ---- default-fatal signals: the socket goes, the terminal comes back, the signal is the status
errors=()
for sig in USR1 USR2 ALRM VTALRM XCPU RTMIN+3; do
	num=$(kill -l "$sig" 2>/dev/null) || num=$(( $(kill -l RTMIN) + 3 ))
	sock=$work/sig.sock
	# Under script, stdin is a terminal: vmon puts it in raw mode; after vmon is gone, stty
	# must show canonical mode and echo again.
	script -qec "stty sane; $vmon run --engine bt --kernel $ticker --cmdline long \
		--api-sock $sock --console stdio >$work/sig.out 2>$work/sig.err & p=\$!; \
		for i in \$(seq 300); do grep -q 'tick 00' $work/sig.out && break; sleep 0.1; done; \
		kill -$num \$p; wait \$p; echo status=\$?; stty -a" /dev/null </dev/null >"$work/tty.log" 2>&1
	status=$(sed -n 's/^status=\([0-9]*\).*/\1/p' "$work/tty.log" | tr -d '\r')
	[ "$status" = $((128 + num)) ] || errors+=("SIG$sig: status '$status', expected $((128 + num))")
	[ -e "$sock" ] && errors+=("SIG$sig: the API socket was left behind")
	grep -q ' icanon' "$work/tty.log" && grep -q ' echo ' "$work/tty.log" ||
		errors+=("SIG$sig: the terminal stayed raw: $(grep -o -- '-\{0,1\}icanon\|-\{0,1\}echo ' "$work/tty.log" | tr '\n' ' ')")
	rm -f "$sock"
done
if [ ${#errors[@]} = 0 ]; then ok control/signals; else fail control/signals "${errors[@]}"; fi

# ---- idle API connections give way; refusals are counted
errors=()
start idle
python3 - "$work/idle.sock" >"$work/idle.log" 2>&1 <<'PY' &
import socket, sys, time
held = []
for _ in range(8):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); held.append(s)
time.sleep(1)	# accepted by now
print("held", flush=True)
time.sleep(60)
PY
holder=$!
pids+=("$holder")
wait_for "$work/idle.log" held 30 || errors+=("the 8 connections were not made")
api "$work/idle.sock" status
# Refused: the reply says so, unless the close outran it (the client then sees none).
[ $rc != 0 ] && ! grep -q '"ok":true' <<<"$reply" || errors+=("9th connection while 8 are fresh: $reply")
sleep 11
api "$work/idle.sock" status
grep -q '"ok":true' <<<"$reply" || errors+=("9th connection after 10 s idle: $reply")
grep -q '"refused":1' <<<"$reply" || errors+=("refusals not counted: $reply")
grep -q '"idle_closed":8' <<<"$reply" || errors+=("idle connections not closed: $reply")
grep -q 'vmon: --api-sock: refused a connection' "$work/idle.err" || errors+=("no stderr line")
kill "$holder" 2>/dev/null
api "$work/idle.sock" quit
wait "$pid"
if [ ${#errors[@]} = 0 ]; then ok control/api-idle; else fail control/api-idle "${errors[@]}"; fi

# ---- a sanitizer report inside the sandbox
errors=()
"$vmon" run --engine bt --kernel "$ticker" --cmdline long --console none </dev/null \
	2>"$work/asan.err" &
pid=$!
pids+=("$pid")
sleep 2
kill -SEGV "$pid"
wait "$pid"
status=$?
[ $status != 159 ] || errors+=("killed by the sandbox (SIGSYS) while reporting")
grep -q '^SUMMARY: AddressSanitizer: SEGV' "$work/asan.err" || errors+=("report: $(tail -n 3 "$work/asan.err")")
grep -q 'in main ' "$work/asan.err" || errors+=("no symbolized stack: $(grep '#' "$work/asan.err" | head -n 3)")
if [ ${#errors[@]} = 0 ]; then ok control/asan-report; else fail control/asan-report "${errors[@]}"; fi
