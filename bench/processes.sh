#!/usr/bin/env bash
# Process-switch-heavy Linux on the bt engine: the guest's shell runs /bin/true BENCH_PROCESSES
# times (default 300: fork, exec, exit and wait each time, so new address spaces, CR3 switches,
# page tables written and freed), and for reference a plain boot (vmon.run=true); each with guest
# user mode translated (--user-mode bt) and as --user-mode auto chooses (direct execution where
# it pays, docs/direct-execution.md).
#
# Per workload: wall, user and system CPU seconds of the whole vmon run (its containers included), guest page walks (soft-TLB
# misses the shadow page tables could not serve), shadow hits and write-protect traps, from
# --stats; medians of BENCH_RUNS runs (default 3). With BENCH_BASE=path/to/another/vmon the same
# runs alternate between the two binaries (A/B on a shared, noisy machine); a binary without
# shadow page tables shows "-" for their figures. Never fails because a figure is slow.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
export LC_ALL=C

runs=${BENCH_RUNS:-3}
n=${BENCH_PROCESSES:-300}
kernel=build/guest/vmlinuz
initrd=build/guest/initramfs.cpio.gz
logdir=build/bench/processes
mkdir -p "$logdir"

if [ ! -f "$kernel" ] || [ ! -f "$initrd" ]; then
	echo "processes: no guest image in build/guest (make guest); skipped"
	exit 0
fi
bins=(build/vmon)
[ -z "${BENCH_BASE:-}" ] || bins+=("$BENCH_BASE")

loop="i=0; while [ \$i -lt $n ]; do /bin/true; i=\$((i+1)); done"
names=("$n x /bin/true" "boot (true)")
cmds=("$loop" "true")

# field LOG SED-EXPRESSION: the number it extracts, or "-".
field() {
	local v
	v=$(sed -n "$2" "$1" | head -n 1)
	echo "${v:--}"
}

median() {
	printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"
}

# What runs: each binary with each user mode ("BINARY MODE"; "-": a BENCH_BASE from before
# --user-mode, run without it).
runs_of=()
for b in "${bins[@]}"; do
	if "$b" run --help 2>&1 | grep -q -- --user-mode; then
		runs_of+=("$b bt" "$b auto")
	else
		runs_of+=("$b -")
	fi
done

echo "Linux processes on the bt engine (1 vCPU), median of $runs runs"
printf '%-16s %-26s %8s %8s %8s %10s %10s %10s\n' workload "binary user-mode" "wall s" "user s" \
	"sys s" walks "shadow hits" "wp traps"
for w in "${!cmds[@]}"; do
	declare -A wall=() user=() sys=() walks=() hits=() traps=() bad=()
	for ((r = 1; r <= runs; r++)); do
		for c in "${runs_of[@]}"; do
			b=${c% *}
			log=$logdir/$w.$(basename "$b").${c#* }.$r.log
			TIMEFORMAT='%R %U %S'
			mode=()
			[ "${c#* }" = - ] || mode=(--user-mode "${c#* }")
			t=$( { time timeout -k 5 300 "$b" run --engine bt "${mode[@]}" --mem 256M \
				--console stdio --kernel "$kernel" --initrd "$initrd" --stats \
				--cmdline "console=ttyS0 vmon.run=\"${cmds[$w]}\"" </dev/null \
				>"$log" 2>&1; } 2>&1)
			if ! grep -q 'VMON-RUN-EXIT=0' "$log"; then
				bad[$c]="failed (log $log)"
				continue
			fi
			read -r tw tu ts <<<"$t"
			echo "vmon-bench: wall $tw s, user $tu s, sys $ts s" >>"$log"
			wall[$c]+="$tw "
			user[$c]+="$tu "
			sys[$c]+="$ts "
			# One counter a line ("bt: page_walks N"); a BENCH_BASE from before that
			# groups them ("bt: soft tlb: ... page walks N, ...").
			walks[$c]+="$(field "$log" 's/^bt: page_walks //p; s/^bt: soft tlb:.* page walks \([0-9]*\).*/\1/p') "
			hits[$c]+="$(field "$log" 's/^bt: shadow_hits //p; s/^bt: shadow page tables: hits \([0-9]*\).*/\1/p') "
			traps[$c]+="$(field "$log" 's/^bt: pt_write_traps //p; s/.*write-protect traps \([0-9]*\).*/\1/p') "
		done
	done
	for c in "${runs_of[@]}"; do
		if [ -n "${bad[$c]:-}" ]; then
			printf '%-16s %-26s %s\n' "${names[$w]}" "$c" "${bad[$c]}"
			continue
		fi
		# shellcheck disable=SC2086
		printf '%-16s %-26s %8s %8s %8s %10s %10s %10s\n' "${names[$w]}" "$c" \
			"$(median ${wall[$c]})" "$(median ${user[$c]})" "$(median ${sys[$c]})" \
			"$(median ${walks[$c]})" "$(median ${hits[$c]})" "$(median ${traps[$c]})"
	done
	unset wall user sys walks hits traps bad
done
exit 0
