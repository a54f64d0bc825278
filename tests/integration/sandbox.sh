#!/usr/bin/env bash
# The seccomp sandbox (src/sandbox.c) on a running vmon, sanitized build, tiny guest:
#   sandbox/on          by default a running vmon is confined: /proc/PID/status says
#                       "Seccomp: 2" (filter mode) with at least one filter, `status` says
#                       "sandbox":true; a migrate to a host name gets an error reply (a lookup
#                       would read /etc files) and the VM runs on to its normal end
#   sandbox/off         --sandbox off: "Seccomp: 0", "sandbox":false
# (tests/unit/test_sandbox.c checks that forbidden calls kill with SIGSYS.)
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

vmon=${VMON_SAN:-build/vmon-san}	# the VM under test
client=${VMON:-build/vmon}		# requests: quick to start
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

ok() { echo "ok $1"; }
fail() { echo "FAIL $1"; shift; printf '    %s\n' "$@"; }
api() { reply=$("$client" api "$1" "${@:2}" 2>&1); rc=$?; }
# field NAME: the value of "NAME:" in the running vmon's /proc/PID/status.
field() { sed -n "s/^$1:[[:space:]]*//p" "/proc/$pid/status"; }

# run_dirtier NAME ARGS...: the dirtier guest (5 s of guest time) with an API socket; sets pid
# and waits until the guest has filled its buffer (it runs, sandboxed or not).
run_dirtier() {
	local name=$1
	shift
	"$vmon" run --engine bt --mem 64M --kernel build/guests/dirtier.bin --cmdline long \
		--console "$work/$name.out" --api-sock "$work/$name.sock" "$@" </dev/null \
		2>"$work/$name.err" &
	pid=$!
	for _ in $(seq 300); do
		grep -q filled "$work/$name.out" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# finish NAME: quits the VM, waits for it; errors+= if it did not end with 0.
finish() {
	api "$work/$1.sock" quit
	wait "$pid"
	local status=$?
	pid=
	[ $status = 0 ] || errors+=("exit status $status after quit" "$(cat "$work/$1.err")")
}

# ---- on by default
errors=()
run_dirtier on || errors+=("the guest never filled its buffer: $(cat "$work/on.err")")
[ "$(field Seccomp)" = 2 ] || errors+=("Seccomp: '$(field Seccomp)', expected 2")
[ "$(field Seccomp_filters)" -ge 1 ] 2>/dev/null ||
	errors+=("Seccomp_filters: '$(field Seccomp_filters)', expected >= 1")
api "$work/on.sock" status
grep -q '"sandbox":true' <<<"$reply" || errors+=("status: $reply")
api "$work/on.sock" migrate uri=tcp:localhost:1
[ $rc = 1 ] && grep -q 'not a numeric address' <<<"$reply" || errors+=("migrate: $reply")
api "$work/on.sock" status
grep -q '"state":"running"' <<<"$reply" || errors+=("after migrate: $reply")
finish on
if [ ${#errors[@]} = 0 ]; then ok sandbox/on; else fail sandbox/on "${errors[@]}"; fi

# ---- --sandbox off
errors=()
run_dirtier off --sandbox off || errors+=("the guest never filled its buffer: $(cat "$work/off.err")")
[ "$(field Seccomp)" = 0 ] || errors+=("Seccomp: '$(field Seccomp)', expected 0")
api "$work/off.sock" status
grep -q '"sandbox":false' <<<"$reply" || errors+=("status: $reply")
finish off
if [ ${#errors[@]} = 0 ]; then ok sandbox/off; else fail sandbox/off "${errors[@]}"; fi
