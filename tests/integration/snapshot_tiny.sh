#!/usr/bin/env bash
# The control socket and snapshot/restore on a tiny guest (tests/guests/ticker.asm: "tick 00" ..
# "tick 09" on PIT interrupts, slowly: 5 s), under the sanitized build:
#   api/abuse          garbage, an over-long line, an unknown command, a client gone mid-line:
#                      error replies (or none), and the VM keeps running
#   api/pause          while paused the bt instruction counter stands still; resume continues
#   snapshot/tiny      snapshot mid-count (staying paused), quit, restore into a new vmon: the
#                      two consoles together are exactly the full count, exit status the guest's
#   snapshot/corrupt   truncated / bit-flipped snapshot: exit 2, one line "not a vmon snapshot"
#   snapshot/other-engine  restored with the other engine: exit 2, one line naming the engine
#                      the snapshot needs (no conversion between engines)
#   api/sock-not-socket  --api-sock naming a regular file: exit 2, file untouched
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh. VMON_TEST_ENGINE (bt)
# picks the engine (tests/slow/kvm_nested.sh runs it with kvm; api/pause needs bt's counter).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

vmon=${VMON_SAN:-build/vmon-san}	# the VM under test
client=${VMON:-build/vmon}		# requests: quick to start
engine=${VMON_TEST_ENGINE:-bt}
other=bt pace=slow
[ "$engine" = bt ] && other=kvm
# Nested under QEMU TCG the kvm guest keeps real time while these requests crawl: 2 s a line.
[ "$engine" = kvm ] && pace=long
guest=build/guests/ticker.bin
# A kvm whose ring 0 is emulated (`vmon probe`: ring0-speed slow, a software KVM such as PVM,
# where the dirtier takes 41 s to fill its buffer and 142 s to verify it) gets every wait
# multiplied by wait_scale.
wait_scale=1
[ "$engine" = kvm ] && "$vmon" probe 2>/dev/null | grep -q '^ring0-speed slow' && wait_scale=8
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
sock=$work/api.sock

ok() { echo "ok $1"; }
fail() { echo "FAIL $1"; shift; printf '    %s\n' "$@"; }

# api REQUEST...: the reply line of one request (exit status kept in $rc).
api() { reply=$("$client" api "$sock" "$@" 2>&1); rc=$?; }
# json KEY: a number or string field of $reply (flat lookup, enough for these replies).
json() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" <<<"$reply"; }

wait_for() {	# wait_for FILE PATTERN: up to 30 s times wait_scale
	for _ in $(seq $((300 * wait_scale))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

"$vmon" run --engine "$engine" --kernel "$guest" --cmdline $pace --console "$work/out1" --api-sock "$sock" \
	</dev/null 2>"$work/err1" &
pid=$!
wait_for "$work/out1" "tick 01" || { fail api/abuse "the guest never ticked"; exit 0; }

# ---- abuse
errors=()
api '{"cmd":'
[ $rc = 1 ] && grep -q '"ok":false,"error":"malformed JSON' <<<"$reply" || errors+=("garbage: $rc $reply")
api "{\"cmd\":\"status\",\"pad\":\"$(head -c 10000 /dev/zero | tr '\0' x)\"}"
[ $rc = 1 ] && grep -q 'too long' <<<"$reply" || errors+=("long line: $rc $reply")
api reboot
[ $rc = 1 ] && grep -q 'unknown command' <<<"$reply" || errors+=("unknown: $rc $reply")
api snapshot path=5
[ $rc = 1 ] && grep -q 'must be a string' <<<"$reply" || errors+=("type: $rc $reply")
printf '{"cmd":"sta' | "$client" api "$sock" - >"$work/partial" 2>&1
[ $? = 2 ] && [ ! -s "$work/partial" ] || true	# no reply to a partial line
printf '{"cmd":"status"}\nnot json\n{"cmd":"help"}\n' | "$client" api "$sock" - >"$work/multi"
[ $? = 1 ] && [ "$(wc -l <"$work/multi")" = 3 ] || errors+=("three requests: $(cat "$work/multi")")
api status
[ $rc = 0 ] && [ "$(json state)" = running ] && [ "$(json engine)" = "$engine" ] ||
	errors+=("status after abuse: $rc $reply")
if [ ${#errors[@]} = 0 ]; then ok api/abuse; else fail api/abuse "${errors[@]}"; fi

# ---- pause: the guest stands still (bt: its instruction counter; kvm, which counts no
# instructions: its console, which gets a line every 2 s while it runs)
progress() {
	if [ "$engine" = bt ]; then
		api stats
		json instructions
	else
		stat -c %s "$work/out1"
	fi
}
errors=()
api pause
[ $rc = 0 ] || errors+=("pause: $reply")
api pause
[ $rc = 1 ] || errors+=("second pause: $reply")
i1=$(progress)
if [ "$engine" = bt ]; then sleep 0.3; else sleep 4.5; fi
i2=$(progress)
api status
[ "$(json state)" = paused ] || errors+=("state: $reply")
[ -n "$i1" ] && [ "$i1" = "$i2" ] || errors+=("the guest moved while paused: $i1 -> $i2")
api resume
[ $rc = 0 ] || errors+=("resume: $reply")
for _ in $(seq 100); do
	[ "$(progress)" != "$i2" ] && break
	sleep 0.1
done
api status
[ "$(json state)" = running ] && [ "$(progress)" != "$i2" ] || errors+=("after resume: $reply")
if [ ${#errors[@]} = 0 ]; then ok api/pause; else fail api/pause "${errors[@]}"; fi

# ---- snapshot mid-count, restore into a new vmon
errors=()
wait_for "$work/out1" "tick 03" || errors+=("no tick 03")
api snapshot path="$work/snap" paused=true
[ $rc = 0 ] && [ "$(json state)" = paused ] || errors+=("snapshot: $reply" "$(cat "$work/err1")")
[ -e "$work/snap.tmp" ] && errors+=("snap.tmp left behind")
api quit
wait "$pid"
status=$?
pid=
[ $status = 0 ] || errors+=("quit: exit status $status")
[ -e "$sock" ] && errors+=("socket left behind")
timeout 120 "$vmon" run --restore "$work/snap" --engine "$engine" --console "$work/out2" \
	</dev/null 2>"$work/err2"
status=$?
[ $status = 49 ] || errors+=("restored guest: exit status $status, expected 49" "$(head -3 "$work/err2")")
if ! cat "$work/out1" "$work/out2" | cmp -s - tests/guests/ticker.expected; then
	errors+=("consoles: $(tr '\n' ' ' <"$work/out1") | $(tr '\n' ' ' <"$work/out2")")
fi
[ -s "$work/out2" ] || errors+=("the restored guest printed nothing")
if [ ${#errors[@]} = 0 ]; then ok snapshot/tiny; else fail snapshot/tiny "${errors[@]}"; fi

# ---- corrupt snapshots
errors=()
size=$(stat -c %s "$work/snap")
head -c $((size / 2)) "$work/snap" >"$work/trunc"
cp "$work/snap" "$work/flip"
byte=$(od -An -tu1 -j $((size / 3)) -N1 "$work/snap")
printf "\\x$(printf %02x $((byte ^ 1)))" | dd of="$work/flip" bs=1 seek=$((size / 3)) conv=notrunc 2>/dev/null
printf 'VMONSNAP\x07\0\0\0\0\0\0\0' >"$work/version"
for f in trunc flip version; do
	"$vmon" run --restore "$work/$f" --engine "$engine" --console none </dev/null >"$work/out" 2>"$work/err"
	status=$?
	if [ $status != 2 ] || [ "$(wc -l <"$work/err")" != 1 ] ||
	   ! grep -q "^vmon: $work/$f: not a vmon snapshot (" "$work/err"; then
		errors+=("$f: exit status $status: $(cat "$work/err")")
	fi
done
if [ ${#errors[@]} = 0 ]; then ok snapshot/corrupt; else fail snapshot/corrupt "${errors[@]}"; fi

# ---- restored by the other engine: refused, naming the engine it needs
if [ "$other" = kvm ] && ! [ -c /dev/kvm ]; then
	echo "SKIP snapshot/other-engine: no /dev/kvm (make kvm-nested runs it the other way round)"
else
	"$vmon" run --restore "$work/snap" --engine "$other" --console none </dev/null \
		>"$work/out" 2>"$work/err"
	status=$?
	want="vmon: $work/snap: snapshot of the $engine engine: restore it with --engine $engine"
	if [ $status = 2 ] && [ "$(cat "$work/err")" = "$want" ] && [ ! -s "$work/out" ]; then
		ok snapshot/other-engine
	else
		fail snapshot/other-engine "exit status $status: $(cat "$work/err")"
	fi
fi

# ---- --api-sock on something that is not a socket
echo keep >"$work/file"
"$vmon" run --engine "$engine" --kernel "$guest" --console none --api-sock "$work/file" \
	</dev/null >"$work/out" 2>"$work/err"
status=$?
if [ $status = 2 ] && grep -q "exists and is not a socket" "$work/err" &&
   [ "$(cat "$work/file")" = keep ]; then
	ok api/sock-not-socket
else
	fail api/sock-not-socket "exit status $status: $(cat "$work/err")"
fi
