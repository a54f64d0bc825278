#!/usr/bin/env bash
# kvm benchmarks: vmon's kvm engine against bench/kvm_floor.c (raw ioctls only).
# Figures are printed, never asserted. Without a usable /dev/kvm: prints why, exits 0.
#
#   bench/kvm.sh [RUNS]              build, then measure; each timing is the best of RUNS (5) runs
#   bench/kvm.sh --build-only        only build build/bench/kvm_floor and the bench guests
#   bench/kvm.sh --no-build [RUNS]   only measure what is already built (where there is no
#                                    compiler: inside the L1 VM of tests/slow/kvm_nested.sh)
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "$0")/.."
build=yes measure=yes
case ${1:-} in
--build-only) measure=no; shift ;;
--no-build) build=no; shift ;;
esac
runs=${1:-5}
out=build/bench
mkdir -p "$out"

if [ $build = yes ]; then
	gcc -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -o "$out/kvm_floor" bench/kvm_floor.c
	for g in exit_now out_loop; do
		nasm -f bin -o "$out/$g.bin" "bench/guests/$g.asm"
	done
	[ $measure = no ] || make -s build/vmon
fi
[ $measure = yes ] || exit 0

if ! why=$("$out/kvm_floor" --probe); then
	echo "kvm benchmarks skipped: $why"
	exit 0
fi

# CLOCK_REALTIME in ns (microsecond resolution) without forking date.
now_ns() {
	echo "${EPOCHREALTIME/./}000"
}

# Wall time of one command in ns; vmon's exit status through port 0xf4 (0 -> 1) is expected.
wall_ns() {
	local t0 t1 rc=0
	t0=${EPOCHREALTIME/./}000
	"$@" >/dev/null 2>&1 || rc=$?
	t1=${EPOCHREALTIME/./}000
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
		echo "bench/kvm.sh: '$*' failed with status $rc" >&2
		exit 1
	fi
	echo $((t1 - t0))
}

best_ns() {
	local best= t
	for _ in $(seq "$runs"); do
		t=$(wall_ns "$@")
		if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
	done
	echo "$best"
}

# Max RSS in KiB, from GNU time.
max_rss_kb() {
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f '%M' -o "$out/time.txt" "$@" >/dev/null 2>&1 || true
		tail -n 1 "$out/time.txt"
	else
		echo "n/a"
	fi
}

# Best first_exit_us of the floor over RUNS runs, T0 taken just before exec.
floor_first_us() {
	local best= t
	for _ in $(seq "$runs"); do
		t=$("$out/kvm_floor" "$out/exit_now.bin" "$(now_ns)" | awk '$1 == "first_exit_us" { print $2 }')
		best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')
	done
	echo "$best"
}

vmon=(build/vmon run --engine kvm --mem 16M --console none --boot-sector)

# The same for vmon: its --stats line "first exit N us after start", T0 passed as VMON_T0_NS.
vmon_first_us() {
	local best= t
	for _ in $(seq "$runs"); do
		# The guest's exit status through port 0xf4 is 1: not a failure here.
		t=$({ VMON_T0_NS=$(now_ns) "${vmon[@]}" "$out/exit_now.bin" --stats 2>&1 >/dev/null ||
			true; } | awk '$2 == "first" && $3 == "exit" { print $4 }')
		best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')
	done
	echo "${best:-n/a}"
}
vmon_ok=1
"${vmon[@]}" "$out/exit_now.bin" >/dev/null 2>&1 || [ $? -eq 1 ] || vmon_ok=0
if [ "$vmon_ok" -eq 0 ]; then
	echo "bench/kvm.sh: vmon cannot run the exit_now guest on kvm:" >&2
	"${vmon[@]}" "$out/exit_now.bin" >&2 || true
	exit 1
fi

v_exit=$(best_ns "${vmon[@]}" "$out/exit_now.bin")
v_loop=$(best_ns "${vmon[@]}" "$out/out_loop.bin")
f_exit=$(best_ns "$out/kvm_floor" "$out/exit_now.bin")
f_loop=$(best_ns "$out/kvm_floor" "$out/out_loop.bin")
f_first=$(floor_first_us)
v_first=$(vmon_first_us)
f_inloop=$("$out/kvm_floor" "$out/out_loop.bin" | awk '$1 == "loop_ns_per_exit" { print $2 }')
v_rss=$(max_rss_kb "${vmon[@]}" "$out/exit_now.bin")
f_rss=$(max_rss_kb "$out/kvm_floor" "$out/exit_now.bin")

awk -v runs="$runs" -v ve="$v_exit" -v vl="$v_loop" -v fe="$f_exit" -v fl="$f_loop" \
    -v ff="$f_first" -v vf="$v_first" -v fi="$f_inloop" -v vr="$v_rss" -v fr="$f_rss" 'BEGIN {
	n = 100000
	printf "kvm benchmarks (best of %d runs; vmon --mem 16M, floor 2 MiB)\n", runs
	printf "%-38s %12s %12s %8s\n", "", "vmon", "floor", "ratio"
	if (vf == "n/a")
		printf "%-38s %12s %12.1f %8s\n", "start to first guest exit (us)", "n/a", ff, ""
	else
		printf "%-38s %12.1f %12.1f %7.1fx\n", "start to first guest exit (us)", vf, ff, vf / ff
	printf "%-38s %12.1f %12.1f %7.1fx\n", "whole run, guest exits at once (us)",
	       ve / 1e3, fe / 1e3, ve / fe
	vx = (vl - ve) / n; fx = (fl - fe) / n
	printf "%-38s %12.1f %12.1f %7.1fx\n", "ns per exit (out loop, run difference)", vx, fx,
	       (fx > 0 ? vx / fx : 0)
	printf "%-38s %12s %12.1f %8s\n", "ns per exit (floor, inside its loop)", "", fi, ""
	if (vr != "n/a" && fr != "n/a") {
		printf "%-38s %12d %12d\n", "max RSS (KiB)", vr, fr
		printf "%-38s %12d\n", "vmon RSS beyond the floor (KiB)", vr - fr
	}
}'
