#!/usr/bin/env bash
# CPU-bound Linux user code: busybox commands timed inside the guest (boot excluded) under QEMU TCG
# (the reference to beat) and vmon's bt engine with guest user mode in the translator (vmon bt)
# and run natively (vmon direct, --user-mode direct), next to the same busybox binary on the host.
#
# The guest (build/guest: vmlinuz + initramfs.cpio.gz) builds its input files from /data/blob,
# then runs each command under busybox `time -p` (0.01 s resolution); the host runs the same
# commands with the busybox-static binary taken from the initramfs, over the same files, timed
# with bash's EPOCHREALTIME. Every command's output must equal the host's, so a wrong run never
# counts as a fast one. Medians of BENCH_RUNS boots per engine (default 3); "spread" is the
# slowest minus the fastest run. VMON=path measures another vmon build; BENCH_BASE=path adds the
# runs of a second vmon build (alternating with the first: A/B on a noisy machine) and
# BENCH_QEMU=0 leaves QEMU out, BENCH_DIRECT=0 the direct column. Never fails because a figure is slow or missing.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
export LC_ALL=C

runs=${BENCH_RUNS:-3}
vmon=${VMON:-build/vmon}
kernel=build/guest/vmlinuz
initrd=build/guest/initramfs.cpio.gz
out=build/bench/cpu
limit=600

if [ ! -f "$kernel" ] || [ ! -f "$initrd" ]; then
	echo "cpu: no guest image in build/guest (make guest); skipped"
	exit 0
fi
rm -rf "$out"
mkdir -p "$out/root"
if ! (cd "$out/root" && zcat "$OLDPWD/$initrd" | cpio -idm --quiet bin/busybox data/blob); then
	echo "cpu: cannot unpack busybox from $initrd; skipped"
	exit 0
fi

# The workloads: name, then the command (run by busybox sh in /tmp of the guest, and in $out on
# the host). Inputs: b4 = /data/blob 64 times (4 MiB), b16 = b4 4 times.
names=(sha256sum md5sum gzip awk sh-loop)
cmds=(
	"sha256sum b16"
	"md5sum b16"
	"gzip -c b4 | wc -c"
	"awk 'BEGIN { for (i = 0; i < 300000; i++) s += i * i % 7; print s }'"
	"i=0; s=0; while [ \$i -lt 30000 ]; do s=\$((s + i * i % 7)); i=\$((i + 1)); done; echo \$s"
)
prepare='for i in $(seq 64); do cat /data/blob; done >b4 && cat b4 b4 b4 b4 >b16'

# The guest's script: per workload a marker line, then `time -p sh -c CMD` (its output, then
# "real S.SS"). Single quotes in the commands are kept by the kernel's command line parser.
script="cd /tmp && $prepare"
for w in "${!names[@]}"; do
	q=${cmds[$w]//\'/\'\\\'\'}
	script+="; echo CPU-BENCH ${names[$w]}; time -p sh -c '$q'"
done
cmdline="console=ttyS0 vmon.run=\"$script\""
prep_cmdline="console=ttyS0 vmon.run=\"cd /tmp && $prepare\""

# ---- native: the same busybox on the host --------------------------------------------------
bb=$PWD/$out/root/bin/busybox
mkdir -p "$out/bin" && "$bb" --install -s "$PWD/$out/bin"
# the commands are busybox's applets on the host too
bbsh() { (cd "$out" && PATH=$PWD/bin "$bb" sh -c "$1"); }
bbsh "${prepare//\/data\/blob/root/data/blob}" || {
	echo "cpu: preparing the input files failed; skipped"
	exit 0
}
usecs() {
	local t=${1/./}
	echo $((10#$t))
}
median() {
	printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"
}
spread() {
	printf '%s\n' "$@" | sort -n | sed -n '1p;$p' | paste -sd' ' | awk '{ printf "%.2f", $2 - $1 }'
}
declare -A expect nat
for w in "${!names[@]}"; do
	ts=()
	for ((r = 1; r <= runs; r++)); do
		start=$(usecs "$EPOCHREALTIME")
		expect[$w]=$(bbsh "${cmds[$w]}")
		ts+=($(($(usecs "$EPOCHREALTIME") - start)))
	done
	nat[$w]=$(awk -v u="$(median "${ts[@]}")" 'BEGIN { printf "%.3f", u / 1e6 }')
done

# ---- guests ----------------------------------------------------------------------------------
# engine NAME CMDLINE: sets argv to the command that boots the guest under engine NAME.
engine() {
	case $1 in
	qemu) argv=(qemu-system-x86_64 -accel tcg -m 256M -nographic -no-reboot) ;;
	vmon) argv=("$vmon" run --engine bt --user-mode bt --mem 256M --console stdio) ;;
	direct) argv=("$vmon" run --engine bt --user-mode direct --mem 256M --console stdio) ;;
	base) argv=("$base" run --engine bt --mem 256M --console stdio) ;;
	esac
	if [ "$1" = qemu ]; then
		argv+=(-kernel "$kernel" -initrd "$initrd" -append "$2")
	else
		argv+=(--kernel "$kernel" --initrd "$initrd" --cmdline "$2")
	fi
}
# cpu_secs LOG CMD...: runs CMD (output to LOG) under the time limit; prints the host CPU
# seconds (user + sys) it took.
cpu_secs() {
	local TIMEFORMAT='%U %S' t log=$1
	shift
	t=$( { time timeout -k 5 "$limit" "$@" </dev/null >"$log" 2>&1; } 2>&1)
	awk -v u="${t% *}" -v s="${t#* }" 'BEGIN { printf "%.2f", u + s }'
}
# run_guest NAME LOG: boots once; appends each workload's seconds to times[NAME.<w>], and the
# host CPU seconds of the commands (the whole run's minus those of a run that only prepares
# the inputs) to times[NAME.cpu], or records why it did not count in fail[NAME].
declare -A times fail
run_guest() {
	local name=$1 log=$2 w cur='' line got='' all prep argv
	engine "$name" "$cmdline"
	all=$(cpu_secs "$log" "${argv[@]}")
	tr -d '\r' <"$log" >"$log.txt"
	grep -q '^VMON-RUN-EXIT=0' "$log.txt" || { fail[$name]="run failed (log $log)"; return; }
	declare -A secs=() outs=()
	while IFS= read -r line; do
		case $line in
		"CPU-BENCH "*) cur=${line#CPU-BENCH }; continue ;;
		"real "*) [ -z "$cur" ] || secs[$cur]=${line#real }; cur=''; continue ;;
		"user "* | "sys "*) continue ;;
		esac
		[ -z "$cur" ] || outs[$cur]+="${outs[$cur]:+$'\n'}$line"
	done <"$log.txt"
	for w in "${!names[@]}"; do
		got=${outs[${names[$w]}]:-}
		if [ "$got" != "${expect[$w]}" ] || [ -z "${secs[${names[$w]}]:-}" ]; then
			fail[$name]="${names[$w]}: wrong output or no time (log $log)"
			return
		fi
		times[$name.$w]+=" ${secs[${names[$w]}]}"
	done
	engine "$name" "$prep_cmdline"
	prep=$(cpu_secs "$log.prep" "${argv[@]}")
	times[$name.cpu]+=" $(awk -v a="$all" -v p="$prep" 'BEGIN { printf "%.2f", a - p }')"
}

engines=()
if [ "${BENCH_QEMU:-1}" = 0 ]; then
	fail[qemu]="left out (BENCH_QEMU=0)"
elif command -v qemu-system-x86_64 >/dev/null; then
	engines+=(qemu)
else
	fail[qemu]="qemu-system-x86_64 not installed"
fi
if [ -x "$vmon" ]; then
	engines+=(vmon)
	if [ "${BENCH_DIRECT:-1}" = 0 ]; then
		fail[direct]="left out (BENCH_DIRECT=0)"
	else
		engines+=(direct)
	fi
else
	fail[vmon]="$vmon not built"
	fail[direct]="$vmon not built"
fi
base=${BENCH_BASE:-}
[ -z "$base" ] || engines+=(base)
for ((r = 1; r <= runs; r++)); do		# interleaved: the machine is shared and noisy
	for name in "${engines[@]}"; do
		[ -z "${fail[$name]:-}" ] || continue
		run_guest "$name" "$out/$name.$r.log"
	done
done

# med NAME W: "median spread" of the engine's seconds for workload W, or "-".
med() {
	local v=(${times[$1.$2]:-})
	if [ -n "${fail[$1]:-}" ] || [ ${#v[@]} -eq 0 ]; then
		echo -
		return
	fi
	echo "$(median "${v[@]}") $(spread "${v[@]}")"
}
ratio() {
	[ "$1" != - ] && [ "$2" != - ] || { echo -; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'
}

# Row labels: the commands, then "cpu" for the host CPU seconds of all of them.
label() {
	if [ "$1" = cpu ]; then echo "all (cpu)"; else echo "${names[$1]}"; fi
}
nat[cpu]=$(printf '%s\n' "${nat[@]}" | awk '{ s += $1 } END { printf "%.3f", s }')

echo "CPU-bound busybox commands in the Linux guest: seconds timed in the guest, median of $runs"
echo "boots (+spread = slowest - fastest); native = the same busybox binary on the host. Last row:"
echo "host CPU seconds of all the commands (a run's minus a run's that only prepares the inputs),"
echo "the figure to trust on a loaded machine (guest time counts time the VMM was descheduled)."
printf '%-10s %8s %14s %14s %14s %8s %8s %8s %8s\n' command native "qemu tcg" "vmon bt" \
	"vmon direct" "tcg/nat" "bt/nat" "dir/nat" "dir/tcg"
for w in "${!names[@]}" cpu; do
	read -r q qs <<<"$(med qemu "$w")"
	read -r v vs <<<"$(med vmon "$w")"
	read -r d ds <<<"$(med direct "$w")"
	printf '%-10s %8s %14s %14s %14s %8s %8s %8s %8s\n' "$(label "$w")" "${nat[$w]}" \
		"$q${qs:++$qs}" "$v${vs:++$vs}" "$d${ds:++$ds}" "$(ratio "$q" "${nat[$w]}")" \
		"$(ratio "$v" "${nat[$w]}")" "$(ratio "$d" "${nat[$w]}")" "$(ratio "$d" "$q")"
done
if [ -n "$base" ]; then
	echo "A/B: vmon = $vmon, base = $base"
	printf '%-10s %14s %14s %10s\n' command base vmon vmon/base
	for w in "${!names[@]}" cpu; do
		read -r b bs <<<"$(med base "$w")"
		read -r v vs <<<"$(med vmon "$w")"
		printf '%-10s %14s %14s %10s\n' "$(label "$w")" "$b${bs:++$bs}" "$v${vs:++$vs}" \
			"$(ratio "$v" "$b")"
	done
fi
for name in qemu vmon direct ${base:+base}; do
	[ -z "${fail[$name]:-}" ] || echo "$name: ${fail[$name]}"
done
exit 0
