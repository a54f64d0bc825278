#!/usr/bin/env bash
# A machine reset with --reboot restart (the default) on a tiny guest (tests/guests/reset.asm:
# prints "boot", marks RAM, resets through the i8042), under the sanitized build:
#   reset/restart   the guest boots again and again, never finding its mark (each reset brings
#                   the power-on RAM back), until the API's quit: exit status 0, nothing on stderr
# Prints `ok NAME` / `FAIL NAME` for tests/run.sh. VMON_TEST_ENGINE (bt) picks the engine.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

vmon=${VMON_SAN:-build/vmon-san}
client=${VMON:-build/vmon}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

fail() { echo "FAIL reset/restart"; printf '    %s\n' "$@"; }
boots() { cat "$work/out" 2>/dev/null | grep -c '^boot$'; }
# The console's whole lines: the quit may cut the guest off in the middle of one.
whole_lines() { if [ -n "$(tail -c 1 "$work/out")" ]; then head -n -1 "$work/out"; else cat "$work/out"; fi; }

"$vmon" run --engine "${VMON_TEST_ENGINE:-bt}" --boot-sector build/guests/reset.bin \
	--console "$work/out" --api-sock "$work/api.sock" </dev/null 2>"$work/err" &
pid=$!
for _ in $(seq 600); do
	[ "$(boots)" -ge 5 ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
boots=$(boots)
"$client" api "$work/api.sock" quit >/dev/null 2>&1
wait "$pid"
status=$?
pid=
if [ "$boots" -lt 5 ]; then
	fail "$boots boots in 60 s, expected at least 5 (exit status $status)" "$(head -n 3 "$work/out" "$work/err")"
elif whole_lines | grep -qv '^boot$'; then
	fail "the guest saw more than boots:" "$(whole_lines | grep -v '^boot$' | head -n 3)"
elif [ "$status" != 0 ] || [ -s "$work/err" ]; then
	fail "exit status $status after quit, expected 0 and nothing on stderr" "$(head -n 5 "$work/err")"
else
	echo "ok reset/restart"
fi
