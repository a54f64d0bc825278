#!/usr/bin/env bash
# Interpreter speed of the bt engine: guest instructions per second on three loops (tight, ALU mix,
# memory-heavy with 4-level paging), next to the host running the same loops natively.
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

echo "== bt interpreter speed (guest instructions per second) =="
printf '%-8s %16s %16s %10s\n' loop "vmon bt" native "native/bt"
status=0
guest=$(timeout 300 ${VMON:-build/vmon} run --engine bt --console stdio --kernel "$out/interp.bin" \
	--mem 64M </dev/null 2>/dev/null) || status=$?
if [ "$status" -ne 1 ]; then		# the guest ends with EXIT 0 -> status 1
	echo "vmon bt: the benchmark guest failed (status $status)"
	exit 0
fi
while read -r name insns tsc; do
	[ -n "${native[$name]:-}" ] || continue
	awk -v n="$name" -v i=$((16#$insns)) -v c=$((16#$tsc)) -v nat="${native[$name]}" 'BEGIN {
		ips = i / (c / 2e9);
		printf "%-8s %16.0f %16.0f %9.1fx\n", n, ips, nat, nat / ips }'
done <<<"$guest"
