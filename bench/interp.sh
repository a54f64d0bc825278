#!/usr/bin/env bash
# Speed of the bt engine: guest instructions per second on three loops (tight, ALU mix,
# memory-heavy with 4-level paging), interpreted only and with the translation tier, next to
# the host running the same loops natively.
# The guest times itself with RDTSC (vmon's guest TSC runs at GUEST_TSC_HZ = 2 GHz).
# VMON=path/to/vmon measures another build (default build/vmon).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/bench
mkdir -p "$out"
nasm -f bin -I tests/guests/ -I bench/guests/ -o "$out/interp.bin" bench/guests/interp.asm
nasm -f elf64 -I bench/guests/ -o "$out/native_loops.o" bench/native_loops.asm
${CC:-gcc} -O2 -o "$out/native_loops" bench/native_loops.c "$out/native_loops.o"

declare -A native
while read -r name insns ns; do
	native[$name]=$(awk -v i="$insns" -v t="$ns" 'BEGIN { printf "%.0f", i / (t / 1e9) }')
done < <("$out/native_loops")

echo "== bt engine speed (guest instructions per second): interpreter only, then translated =="
printf '%-8s %-7s %16s %16s %10s\n' loop tier "vmon bt" native "native/bt"
for tier in interp:0 jit:; do
	status=0
	# VMON_BT_JIT_THRESHOLD=0: the interpreter alone; unset: the default translation threshold
	if [ -n "${tier#*:}" ]; then
		export VMON_BT_JIT_THRESHOLD=${tier#*:}
	else
		unset VMON_BT_JIT_THRESHOLD
	fi
	guest=$(timeout 300 ${VMON:-build/vmon} run --engine bt \
		--console stdio --kernel "$out/interp.bin" --mem 64M </dev/null 2>/dev/null) || status=$?
	if [ "$status" -ne 1 ]; then		# the guest ends with EXIT 0 -> status 1
		echo "vmon bt (${tier%:*}): the benchmark guest failed (status $status)"
		continue
	fi
	while read -r name insns tsc; do
		[ -n "$name" ] && [ -n "${native[$name]:-}" ] || continue
		awk -v n="$name" -v t="${tier%:*}" -v i=$((16#$insns)) -v c=$((16#$tsc)) \
			-v nat="${native[$name]}" 'BEGIN {
			ips = i / (c / 2e9);
			printf "%-8s %-7s %16.0f %16.0f %9.1fx\n", n, t, ips, nat, nat / ips }'
	done <<<"$guest"
done
