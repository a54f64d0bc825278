#!/usr/bin/env bash
# Live migration between two vmon processes on this host, tiny guests, sanitized build:
#   migrate/tiny          tests/guests/ticker.asm migrated mid-count over a Unix socket: the two
#                         consoles together are exactly the full count, the target exits with
#                         the guest's status, the source ends with 0 after "migration completed"
#   migrate/dirty         tests/guests/dirtier.asm (rewrites 4096 pages per iteration) over tcp
#                         with paused=true: status shows the rounds (>= 2) and the bytes; the
#                         target's guest verifies every byte of its buffer ("verify ok")
#   migrate/target-dies   the target is killed mid-stream: the migration fails in status, the
#                         source runs on and its guest still verifies
#   migrate/bad-stream    --incoming fed something that is not a migration stream: exit 2, one
#                         line "not a vmon migration stream"
#   migrate/refused       migrate to a port nobody listens on: an error reply, the VM runs on
#   migrate/cli           --incoming with --kernel: exit 2, one line
#   migrate/stalled       the dirtier migrating to a target that accepts and never reads, and
#   migrate/trickle       to one that reads a trickle (16 KiB/s): the migration fails within
#                         10-25 s ("took less than"), the source's guest runs on
#   migrate/guest-exits   the dirtier exits (port 0xf4) while a migration to a target that never
#                         reads runs: vmon ends with the guest's status and removes its socket
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh. VMON_TEST_ENGINE (bt)
# picks the engine of both sides (tests/slow/kvm_nested.sh runs it with kvm).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

vmon=${VMON_SAN:-build/vmon-san}	# the VMs under test
client=${VMON:-build/vmon}		# requests: quick to start
engine=${VMON_TEST_ENGINE:-bt}
# The guests' pace: the ticker's lines, the dirtier's seconds. Nested under QEMU TCG the kvm
# guest keeps real time while vmon and these scripts crawl: 2 s a line, 40 s of dirtying.
pace=slow dirt=long
[ "$engine" = kvm ] && pace=long dirt=nest
# A kvm whose ring 0 is emulated (`vmon probe`: ring0-speed slow, a software KVM such as PVM,
# where the dirtier takes 41 s to fill its buffer and 142 s to verify it) gets every wait
# multiplied by wait_scale.
wait_scale=1
[ "$engine" = kvm ] && "$vmon" probe 2>/dev/null | grep -q '^ring0-speed slow' && wait_scale=8
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT

ok() { echo "ok $1"; }
fail() { echo "FAIL $1"; shift; printf '    %s\n' "$@"; }
api() { reply=$("$client" api "$1" "${@:2}" 2>&1); rc=$?; }
json() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" <<<"$reply"; }
vm_state() { sed -n 's/^{"ok":true,"state":"\([a-z]*\)".*/\1/p' <<<"$reply"; }
wait_for() {	# wait_for FILE PATTERN [SECONDS]: SECONDS (30) times wait_scale
	for _ in $(seq $((${3:-30} * 10 * wait_scale))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# target NAME URI: starts `vmon run --incoming URI` (console NAME.out); sets tpid and turi (the
# URI it really listens on).
target() {
	"$vmon" run --engine "$engine" --incoming "$2" --console "$work/$1.out" </dev/null \
		2>"$work/$1.err" &
	tpid=$!
	pids+=("$tpid")
	wait_for "$work/$1.err" "waiting for a migration on" 10
	turi=$(sed -n 's/^vmon: waiting for a migration on //p' "$work/$1.err")
}
# source NAME GUEST CMDLINE: starts the guest with an API socket NAME.sock; sets spid.
source_vm() {
	"$vmon" run --engine "$engine" --mem 64M --kernel "build/guests/$2.bin" --cmdline "$3" \
		--console "$work/$1.out" --api-sock "$work/$1.sock" </dev/null 2>"$work/$1.err" &
	spid=$!
	pids+=("$spid")
}
# reap PID: waits for a VM and returns its exit status; one still running after 300 s (times
# wait_scale) is killed (status 137), so a hung migration is a FAIL, not a hung test.
reap() {
	for _ in $(seq $((3000 * wait_scale))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	wait "$1"
}
# until_migration STATE SOCK: polls status until the migration is in STATE (30 s, scaled).
until_migration() {
	for _ in $(seq $((300 * wait_scale))); do
		api "$2" status
		grep -q "\"migration\":{\"state\":\"$1\"" <<<"$reply" && return 0
		sleep 0.1
	done
	return 1
}

# ---- ticker over a Unix socket
errors=()
target t1 "unix:$work/mig.sock"
source_vm s1 ticker $pace
wait_for "$work/s1.out" "tick 02" || errors+=("the source never ticked")
api "$work/s1.sock" migrate uri="$turi"
[ $rc = 0 ] || errors+=("migrate: $reply")
reap "$spid"
status=$?
[ $status = 0 ] || errors+=("source: exit status $status")
grep -q '^vmon: migration completed: ' "$work/s1.err" || errors+=("source: $(cat "$work/s1.err")")
[ ${#errors[@]} = 0 ] || errors+=("target: $(cat "$work/t1.err")")
reap "$tpid"
status=$?
[ $status = 49 ] || errors+=("target: exit status $status, expected 49" "$(cat "$work/t1.err")")
grep -q '^vmon: migration received: ' "$work/t1.err" || errors+=("target: $(cat "$work/t1.err")")
cat "$work/s1.out" "$work/t1.out" | cmp -s - tests/guests/ticker.expected ||
	errors+=("consoles: $(tr '\n' ' ' <"$work/s1.out") | $(tr '\n' ' ' <"$work/t1.out")")
[ -s "$work/t1.out" ] || errors+=("the target printed nothing")
[ -e "$work/mig.sock" ] && errors+=("the target left its socket behind")
if [ ${#errors[@]} = 0 ]; then ok migrate/tiny; else fail migrate/tiny "${errors[@]}"; fi

# ---- a guest dirtying every page all the time, over tcp, source stays paused
errors=()
target t2 tcp:127.0.0.1:0
source_vm s2 dirtier $dirt
wait_for "$work/s2.out" filled || errors+=("the source never filled its buffer")
api "$work/s2.sock" migrate uri="$turi" paused=true
[ $rc = 0 ] || errors+=("migrate: $reply")
until_migration completed "$work/s2.sock" || errors+=("not completed: $reply")
rounds=$(json rounds)
[ "$(vm_state)" = paused ] || errors+=("source not paused: $reply")
[ -n "$rounds" ] && [ "$rounds" -ge 2 ] || errors+=("rounds: $reply")
# Under bt the guest rewrites its whole buffer between two fetches, so the paused pass sends
# it all; nested kvm guests slow down under the dirty log's write-protect faults (each an exit
# TCG emulates), so there only the target's verification counts.
[ "$engine" = kvm ] || [ "$(json final_pages)" -ge 4096 ] 2>/dev/null ||
	errors+=("final pages: $reply")
grep -q '"round_pages":\[[0-9]*,4096' <<<"$reply" || errors+=("round pages: $reply")
api "$work/s2.sock" quit
reap "$spid"
status=$?
[ $status = 0 ] || errors+=("source: exit status $status")
reap "$tpid"
status=$?
[ $status = 65 ] || errors+=("target: exit status $status, expected 65" "$(cat "$work/t2.err")")
[ "$(cat "$work/t2.out")" = "verify ok" ] || errors+=("target console: $(cat "$work/t2.out")")
[ "$(cat "$work/s2.out")" = filled ] || errors+=("source console: $(cat "$work/s2.out")")
if [ ${#errors[@]} = 0 ]; then ok migrate/dirty; else fail migrate/dirty "${errors[@]}"; fi

# ---- the target dies mid-stream: the source resumes
errors=()
target t3 tcp:127.0.0.1:0
source_vm s3 dirtier $dirt
wait_for "$work/s3.out" filled || errors+=("the source never filled its buffer")
api "$work/s3.sock" migrate uri="$turi"
until_migration active "$work/s3.sock" || errors+=("not active: $reply")
kill -9 "$tpid"
wait "$tpid" 2>/dev/null
until_migration failed "$work/s3.sock" || errors+=("not failed: $reply")
[ "$(vm_state)" = running ] || errors+=("source not running: $reply")
[ -n "$(json error)" ] || errors+=("no error: $reply")
api "$work/s3.sock" pause
[ $rc = 0 ] || errors+=("pause after the failure: $reply")
api "$work/s3.sock" resume
reap "$spid"
status=$?
[ $status = 65 ] || errors+=("source: exit status $status, expected 65" "$(cat "$work/s3.err")")
[ "$(tr '\n' ' ' <"$work/s3.out")" = "filled verify ok " ] ||
	errors+=("source console: $(cat "$work/s3.out")")
grep -q '^vmon: migration failed: ' "$work/s3.err" || errors+=("source: $(cat "$work/s3.err")")
if [ ${#errors[@]} = 0 ]; then ok migrate/target-dies; else fail migrate/target-dies "${errors[@]}"; fi

# ---- not a migration stream
errors=()
target t4 tcp:127.0.0.1:0
port=${turi##*:}
printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >"/dev/tcp/127.0.0.1/$port"
reap "$tpid"
status=$?
last=$(tail -n 1 "$work/t4.err")
[ $status = 2 ] || errors+=("exit status $status")
[ "$(wc -l <"$work/t4.err")" = 2 ] &&
	[ "$last" = "vmon: tcp:127.0.0.1:0: not a vmon migration stream (bad magic)" ] ||
	errors+=("stderr: $(cat "$work/t4.err")")
[ -s "$work/t4.out" ] && errors+=("console output: $(cat "$work/t4.out")")
if [ ${#errors[@]} = 0 ]; then ok migrate/bad-stream; else fail migrate/bad-stream "${errors[@]}"; fi

# ---- nobody listening; bad arguments
errors=()
source_vm s5 ticker $pace
wait_for "$work/s5.out" "tick 00" || errors+=("the source never ticked")
api "$work/s5.sock" migrate uri="unix:$work/nobody.sock"
[ $rc = 1 ] && grep -q 'nobody.sock: No such file' <<<"$reply" || errors+=("unix: $reply")
api "$work/s5.sock" migrate uri=ftp:somewhere
[ $rc = 1 ] && grep -q 'not tcp:HOST:PORT or unix:PATH' <<<"$reply" || errors+=("uri: $reply")
api "$work/s5.sock" migrate uri=tcp:127.0.0.1:99999
[ $rc = 1 ] || errors+=("port: $reply")
api "$work/s5.sock" status
[ "$(vm_state)" = running ] && ! grep -q migration <<<"$reply" || errors+=("status: $reply")
api "$work/s5.sock" quit
reap "$spid"
if [ ${#errors[@]} = 0 ]; then ok migrate/refused; else fail migrate/refused "${errors[@]}"; fi

"$vmon" run --engine "$engine" --incoming tcp:127.0.0.1:0 --kernel build/guests/ticker.bin \
	</dev/null >"$work/out" 2>"$work/err"
status=$?
if [ $status = 2 ] && [ "$(wc -l <"$work/err")" = 1 ] &&
   grep -q '^vmon: --incoming takes the machine from the migration stream' "$work/err"; then
	ok migrate/cli
else
	fail migrate/cli "exit status $status: $(cat "$work/err")"
fi

# slow_target NAME BYTES_PER_S: a TCP listener on 127.0.0.1 that accepts and reads BYTES_PER_S
# (0: nothing); sets turi.
slow_target() {
	python3 -u -c '
import socket, sys, time
rate = int(sys.argv[1])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
while True:
    time.sleep(0.25)
    if rate and not c.recv(rate // 4): break
' "$2" >"$work/$1.port" &
	pids+=($!)
	wait_for "$work/$1.port" '[0-9]' 10
	turi=tcp:127.0.0.1:$(cat "$work/$1.port")
}

# ---- targets that take nothing, or a trickle: no progress, the migration fails in time
for kind in stalled:0 trickle:16384; do
	name=migrate/${kind%%:*}
	errors=()
	slow_target "${kind%%:*}" "${kind#*:}"
	source_vm "s-${kind%%:*}" dirtier nest
	wait_for "$work/s-${kind%%:*}.out" filled || errors+=("the source never filled its buffer")
	sock=$work/s-${kind%%:*}.sock
	api "$sock" migrate uri="$turi"
	[ $rc = 0 ] || errors+=("migrate: $reply")
	t0=$(date +%s)
	until_migration active "$sock" || errors+=("not active: $reply")
	failed=no
	for _ in $(seq 250); do
		api "$sock" status
		grep -q '"migration":{"state":"failed"' <<<"$reply" && failed=yes && break
		sleep 0.1
	done
	t1=$(date +%s)
	[ $failed = yes ] || errors+=("still not failed after $((t1 - t0)) s: $reply")
	[ $failed = no ] || [ $((t1 - t0)) -ge 9 ] || errors+=("failed after $((t1 - t0)) s: $reply")
	[ $failed = no ] || grep -q 'took less than 1024 KiB in 10 s' <<<"$reply" ||
		errors+=("error: $reply")
	[ "$(vm_state)" = running ] || errors+=("source not running: $reply")
	api "$sock" quit
	reap "$spid"
	status=$?
	[ $status = 0 ] || errors+=("source: exit status $status" "$(cat "$work/s-${kind%%:*}.err")")
	if [ ${#errors[@]} = 0 ]; then ok "$name"; else fail "$name" "${errors[@]}"; fi
done

# ---- the guest exits in the middle of a migration (its last tick, port 0xf4)
errors=()
slow_target exits 0
source_vm s-exits dirtier long
wait_for "$work/s-exits.out" filled || errors+=("the source never filled its buffer")
api "$work/s-exits.sock" migrate uri="$turi"
[ $rc = 0 ] || errors+=("migrate: $reply")
reap "$spid"
status=$?
[ $status = 65 ] || errors+=("exit status $status, expected 65 (the guest's)" "$(cat "$work/s-exits.err")")
grep -q '^vmon: migration completed' "$work/s-exits.err" && errors+=("the migration completed")
[ -e "$work/s-exits.sock" ] && errors+=("the API socket was left behind")
if [ ${#errors[@]} = 0 ]; then ok migrate/guest-exits; else fail migrate/guest-exits "${errors[@]}"; fi
