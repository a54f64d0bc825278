#!/usr/bin/env bash
# The bt translation tier counts instructions exactly: tiny 64-bit guests (loops, calls, faults,
# ring changes, self-modifying code) report the same `--stats` instruction count interpreted
# (VMON_BT_JIT_THRESHOLD=0), translated at first sight (1) and at the default threshold, and
# translation really happened in the last two. VMON_PERF_MAP names every translation.
set -u
cd "$(dirname "$0")/../.."
vmon=${VMON:-build/vmon}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for guest in smc longmode exceptions ring3 compat; do
	counts='' translated=''
	for threshold in 0 1 default; do
		if [ $threshold = default ]; then
			unset VMON_BT_JIT_THRESHOLD
		else
			export VMON_BT_JIT_THRESHOLD=$threshold
		fi
		timeout 60 "$vmon" run --engine bt --console none --stats \
			--kernel "build/guests/$guest.bin" </dev/null >/dev/null 2>"$out"
		counts="$counts $(sed -n 's/^bt: instructions //p' "$out")"
		translated="$translated $(sed -n 's/^bt: tb_blocks //p' "$out")"
	done
	read -r interp first default <<<"$counts"
	read -r t0 t1 t16 <<<"$translated"
	if [ -z "$interp" ] || [ "$interp" != "$first" ] || [ "$interp" != "$default" ]; then
		echo "FAIL bt-jit/$guest: instruction counts differ (interpreter, first sight, default):$counts"
	elif [ "$t0" != 0 ] || [ "${t1:-0}" = 0 ] || [ "${t16:-0}" = 0 ]; then
		echo "FAIL bt-jit/$guest: translated blocks (interpreter, first sight, default):$translated"
	else
		echo "ok bt-jit/$guest ($interp instructions, $t1 / $t16 blocks translated)"
	fi
done

# VMON_PERF_MAP=1: every translation is named in perf's /tmp/perf-PID.map, as many lines as
# --stats counts translated blocks, each "START SIZE guest_RIP" with START inside vmon's memory.
# (No `timeout` in front: the map is named after vmon's own pid; a watchdog bounds the run.)
VMON_BT_JIT_THRESHOLD=1 VMON_PERF_MAP=1 "$vmon" run --engine bt --console none \
	--stats --kernel build/guests/longmode.bin </dev/null >/dev/null 2>"$out" &
pid=$!
(sleep 60; kill "$pid" 2>/dev/null) </dev/null >/dev/null 2>&1 &
watchdog=$!
wait "$pid"
kill "$watchdog" 2>/dev/null
map=/tmp/perf-$pid.map
blocks=$(sed -n 's/^bt: tb_blocks //p' "$out")
named=$(grep -cE '^[0-9a-f]+ [0-9a-f]+ guest_[0-9a-f]+$' "$map" 2>/dev/null)
lines=$(wc -l <"$map" 2>/dev/null)
if [ -n "$blocks" ] && [ "$blocks" -gt 0 ] && [ "${named:-0}" = "$blocks" ] && [ "$lines" = "$blocks" ]; then
	echo "ok bt-jit/perf-map ($named translations named)"
else
	echo "FAIL bt-jit/perf-map: $blocks blocks translated, $map has ${lines:-no} lines, ${named:-0} named"
fi
rm -f "$map"
