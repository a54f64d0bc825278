#!/usr/bin/env bash
# The kvm engine's fallback interpreter (src/engine/kvm/fallback.c) on any KVM, and guest time
# under kvm, under the sanitized build:
#   kvm/fallback-MODE   tiny guests in every CPU mode with VMON_KVM_TEST_FALLBACK=io:64: after
#                       each port-I/O exit the next 64 instructions run in the bt interpreter on
#                       the vCPU's state (I/O, exceptions, IRET, paging, mode switches included)
#                       and KVM resumes after them. Output and exit status as without it, and
#                       --stats counts the fallbacks by instruction. (Not smp: the interpreter
#                       cannot reach KVM's in-kernel LAPIC, so an IPI it sent would be lost.)
#   kvm/fallback-bad    a malformed VMON_KVM_TEST_FALLBACK: the VM is not made, the variable named
#   kvm/uptime          the API's uptime_ms counts from the VM's start under kvm too (it used to
#                       start at the first status request), on a boot sector that halts at once
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

vmon=${VMON_SAN:-build/vmon-san}
client=${VMON:-build/vmon}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

ok() { echo "ok $1"; }
fail() { echo "FAIL $1"; shift; printf '    %s\n' "$@"; }
header() { sed -n "s/^; $2:[[:space:]]*//p" "tests/guests/$1.asm" | head -n 1; }

if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	echo "SKIP kvm/fallback: /dev/kvm not available"
	exit 0
fi

# One guest per CPU mode, each ending with port-I/O exits that hand code to the fallback.
for guest in realmode unreal pmode32 longmode compat shadow exceptions; do
	bin=build/guests/$guest.bin
	kind=--$(header $guest vmon-kind)
	want=$(header $guest vmon-exit)
	eval "args=($(header $guest vmon-args))"
	VMON_KVM_TEST_FALLBACK=io:64 timeout 60 "$vmon" run --engine kvm --console stdio --stats \
		"${args[@]}" "$kind" "$bin" </dev/null >"$work/out" 2>"$work/err"
	status=$?
	if [ $status != "$want" ] || ! cmp -s "$work/out" "tests/guests/$guest.expected"; then
		fail "kvm/fallback-$guest" "exit status $status (want $want), output:" \
			"$(head -c 600 "$work/out")" "$(tail -n 5 "$work/err")"
	elif ! grep -Eq '^kvm: fallback_[A-Za-z0-9_]+ [1-9][0-9]*$' "$work/err"; then
		fail "kvm/fallback-$guest" "no fallback counted in --stats" "$(tail -n 5 "$work/err")"
	else
		ok "kvm/fallback-$guest"
	fi
done

VMON_KVM_TEST_FALLBACK=io:0 timeout 60 "$vmon" run --engine kvm --console stdio \
	--kernel build/guests/longmode.bin </dev/null >"$work/out" 2>"$work/err"
status=$?
if [ $status != 0 ] && grep -q '^vmon: VMON_KVM_TEST_FALLBACK=io:0: ' "$work/err" &&
   ! [ -s "$work/out" ]; then
	ok kvm/fallback-bad
else
	fail kvm/fallback-bad "exit status $status" "$(cat "$work/err")"
fi

# cli; hlt: no exit, no fallback, nothing that would read the clock before the API does.
printf '\xfa\xf4' >"$work/halt.img"
truncate -s 510 "$work/halt.img"
printf '\x55\xaa' >>"$work/halt.img"
sock=$work/api.sock
"$vmon" run --engine kvm --boot-sector "$work/halt.img" --console none \
	--api-sock "$sock" </dev/null 2>"$work/err" &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
sleep 2
reply=$("$client" api "$sock" status 2>&1)
uptime=$(sed -n 's/.*"uptime_ms":\([0-9]*\).*/\1/p' <<<"$reply")
"$client" api "$sock" quit >/dev/null 2>&1
wait "$pid" 2>/dev/null
pid=
if [ -n "$uptime" ] && [ "$uptime" -ge 1500 ]; then
	ok kvm/uptime
else
	fail kvm/uptime "uptime_ms '$uptime' 2 s after the start (want >= 1500)" "$reply"
fi
