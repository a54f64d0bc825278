#!/usr/bin/env bash
# The cost of one transition of the bt engine's direct execution (guest user -> engine -> guest
# user, docs/direct-execution.md): tests/guests/syscallloop makes 100000 empty system calls from
# user mode, run with --user-mode direct and with --user-mode bt (the same round trip
# translated). Per call: wall time of the run divided by the calls (boot and exit included, a few
# ms), medians of BENCH_RUNS runs (default 3). Beside them the floor measured in the same run: a
# bare PTRACE_SYSEMU round trip between two host processes (bench/ptrace_floor.c), and where a
# direct transition's time goes from vmon's --stats (waiting for the container, the rest in the
# engine). Figures only, never fails on time.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
export LC_ALL=C

runs=${BENCH_RUNS:-3}
vmon=${VMON:-build/vmon}
guest=build/guests/syscallloop.bin
out=build/bench/direct
calls=100000
mkdir -p "$out"
if [ ! -x "$vmon" ] || [ ! -f "$guest" ]; then
	echo "direct: $vmon or $guest not built (make, make guests); skipped"
	exit 0
fi
floor=-
if cc -O2 -D_GNU_SOURCE -o "$out/ptrace-floor" bench/ptrace_floor.c 2>"$out/cc.log"; then
	floor=$("$out/ptrace-floor" 20000)
fi

median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
# run MODE: ns per call of one run (wall time), and the --stats lines kept in $out/MODE.stats
run() {
	local t0 t1
	t0=$(date +%s%N)
	timeout 300 "$vmon" run --engine bt --user-mode "$1" --stats --kernel "$guest" \
		--console stdio </dev/null >"$out/$1.out" 2>"$out/$1.stats"
	t1=$(date +%s%N)
	grep -q 'syscallloop ok' "$out/$1.out" || { echo -; return; }
	echo $(((t1 - t0) / calls))
}
declare -A ns
for ((r = 1; r <= runs; r++)); do
	for m in bt direct; do
		ns[$m]+=" $(run $m)"
	done
done
bt=$(median ${ns[bt]})
direct=$(median ${ns[direct]})
# From the last direct run's --stats: time blocked on the container vs all of direct mode.
native=$(sed -n 's/^bt: direct_native_ns //p' "$out/direct.stats")
total=$(sed -n 's/^bt: direct_run_ns //p' "$out/direct.stats")
echo "One system call from guest user mode and back, ns (median of $runs runs of $calls calls):"
printf '  %-44s %8s\n' "--user-mode bt (translated, no transition)" "$bt"
printf '  %-44s %8s\n' "--user-mode direct (one transition each)" "$direct"
printf '  %-44s %8s\n' "floor: bare PTRACE_SYSEMU round trip" "$floor"
if [ -n "${native:-}" ] && [ -n "${total:-}" ]; then
	awk -v n="$native" -v t="$total" -v c="$calls" 'BEGIN {
		printf "  of a direct transition: %.0f ns waiting for the container (resume, the guest'"'"'s\n", n / c
		printf "  code, the stop, two context switches), %.0f ns in the engine (registers, FPU\n", (t - n) / c
		printf "  state, classifying the stop, running SYSCALL..SYSRET translated)\n" }'
fi
exit 0
