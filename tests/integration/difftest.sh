#!/usr/bin/env bash
# The bt engine against the host CPU: a fixed-seed corpus of random integer, SSE/SSE2, x87 and MMX sequences
# (tests/difftest/), each run natively in a traced child and in the bt engine at CPL3, interpreted
# and translated. Any
# difference in registers, defined flags, memory or the ending exception fails the test.
set -u
cd "$(dirname "$0")/../.."
bin=build/difftest
if [ ! -x "$bin" ]; then
	echo "FAIL difftest: $bin not built"
	exit 0
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# Once interpreted, once with every block translated at first sight (the translation tier).
for mode in interp:0 jit:1; do
	if VMON_BT_JIT_THRESHOLD=${mode#*:} "$bin" --seed 1 --count 4000 --insns 24 >"$out" 2>&1; then
		echo "ok difftest/fixed-corpus-${mode%:*} ($(tail -n 1 "$out"))"
	else
		echo "FAIL difftest/fixed-corpus-${mode%:*}"
		sed -n '1,40p' "$out" | sed 's/^/    | /'
	fi
done
