#!/usr/bin/env bash
# Speed of the bt engine: guest instructions per second on three loops (tight, ALU mix,
# memory-heavy with 4-level paging), interpreted only and with the translation tier, next to
# the host running the same loops natively.
# The guest times itself with RDTSC (vmon's guest TSC runs at GUEST_TSC_HZ = 2 GHz; under QEMU
# TCG, which runs the same guest for the last column, it counts host TSC ticks, whose rate
# bench/tsc_hz.c measures). VMON=path/to/vmon measures another build (default build/vmon).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/bench
mkdir -p "$out"
nasm -f bin -I tests/guests/ -I bench/guests/ -o "$out/interp.bin" bench/guests/interp.asm
nasm -f elf64 -I bench/guests/ -o "$out/native_loops.o" bench/native_loops.asm
${CC:-gcc} -O2 -o "$out/native_loops" bench/native_loops.c "$out/native_loops.o"
${CC:-gcc} -O2 -o "$out/tsc_hz" bench/tsc_hz.c

declare -A native
while read -r name insns ns; do
	native[$name]=$(awk -v i="$insns" -v t="$ns" 'BEGIN { printf "%.0f", i / (t / 1e9) }')
done < <("$out/native_loops")

# QEMU TCG on the same guest: guest instructions per second per loop, if it runs.
declare -A qemu
if command -v qemu-system-x86_64 >/dev/null; then
	tsc_hz=$("$out/tsc_hz")
	qstatus=0
	guest=$(timeout 300 qemu-system-x86_64 -accel tcg -display none -no-reboot -net none \
		-monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 -m 64M \
		-kernel "$out/interp.bin" </dev/null 2>/dev/null) || qstatus=$?
	if [ "$qstatus" -eq 1 ]; then		# EXIT 0 through isa-debug-exit -> status 1
		while read -r name insns tsc; do
			[ -n "$name" ] || continue
			qemu[$name]=$(awk -v i=$((16#$insns)) -v c=$((16#$tsc)) -v hz="$tsc_hz" \
				'BEGIN { printf "%.0f", i / (c / hz) }')
		done <<<"$guest"
	fi
fi

echo "== bt engine speed (guest instructions per second): interpreter only, then translated =="
echo "   (qemu tcg: the same guest under QEMU TCG; - if it could not run)"
printf '%-8s %-7s %16s %16s %10s %16s %10s\n' loop tier "vmon bt" native "native/bt" \
	"qemu tcg" "tcg/bt"
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
			-v nat="${native[$name]}" -v q="${qemu[$name]:-}" 'BEGIN {
			ips = i / (c / 2e9);
			printf "%-8s %-7s %16.0f %16.0f %9.1fx", n, t, ips, nat, nat / ips
			if (q != "") printf " %16.0f %9.2fx\n", q, q / ips; else printf " %16s %10s\n", "-", "-" }'
	done <<<"$guest"
done
