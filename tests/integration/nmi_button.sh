#!/usr/bin/env bash
# An external NMI: the control API's `nmi` pulses every CPU's LINT1; a guest that programmed
# LINT1 for NMI delivery and halted with IF=0 (tests/integration/nmi_lint1.asm, assembled here)
# wakes in its vector 2 handler and exits. Under the kvm engine the command is refused.
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

vmon=${VMON_SAN:-build/vmon-san}
client=${VMON:-build/vmon}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
sock=$work/api.sock

if ! nasm -f bin -I tests/guests/ -o "$work/nmi.bin" tests/integration/nmi_lint1.asm; then
	echo "FAIL nmi/lint1: the guest does not assemble"
	exit 0
fi
"$vmon" run --engine bt --kernel "$work/nmi.bin" --console "$work/out" --api-sock "$sock" \
	</dev/null 2>"$work/err" &
pid=$!
for _ in $(seq 300); do
	grep -q ready "$work/out" 2>/dev/null && break
	sleep 0.1
done
sleep 0.2	# into its HLT
reply=$("$client" api "$sock" nmi 2>&1)
for _ in $(seq 100); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill "$pid" 2>/dev/null		# still waiting: the NMI never came
wait "$pid"
status=$?
pid=
if [ "$status" = 95 ] && [ "$(cat "$work/out")" = "$(printf 'ready\nlint1 nmi 1')" ]; then
	echo "ok nmi/lint1"
else
	echo "FAIL nmi/lint1"
	printf '    | reply %s, exit status %s\n' "$reply" "$status"
	sed 's/^/    | /' "$work/out" "$work/err" | head -20
fi
