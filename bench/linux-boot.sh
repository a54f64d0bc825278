#!/usr/bin/env bash
# Linux boot time: QEMU TCG (the reference to beat) against vmon's bt engine, same kernel, initrd
# and command line.  bench/linux-boot.sh [--flavor cloud|generic]
#
# Per engine: seconds from process start to the guest's VMON-INIT-START line (scripts/guest-init)
# and to process exit after the guest's poweroff; the median of BENCH_RUNS runs (default 3).  The
# guest runs `sha256sum /data/blob` and the checksum is verified, so a wrong run never counts as a
# fast one.  VMON=path measures another vmon build.  Never fails because a figure is slow or missing.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
export LC_ALL=C	# EPOCHREALTIME with a '.' separator
. bench/lib.sh

flavor=cloud
[ "${1:-}" != --flavor ] || flavor=${2:-}
case $flavor in
cloud) kernel=build/guest/vmlinuz initrd=build/guest/initramfs.cpio.gz ;;
generic) kernel=build/guest/vmlinuz-generic initrd=build/guest/initramfs-generic.cpio.gz ;;
*) echo "usage: $0 [--flavor cloud|generic]" >&2; exit 2 ;;
esac
runs=${BENCH_RUNS:-3}
vmon=${VMON:-build/vmon}
qemu_limit=60
vmon_limit=120
cmdline='console=ttyS0 vmon.run="sha256sum /data/blob"'

logdir=build/bench/linux-boot
mkdir -p "$logdir"

echo "Linux boot ($flavor kernel): time to /init (VMON-INIT-START) and to exit after poweroff"
if ! scripts/build-guest.sh build/guest --flavor "$flavor" >/dev/null 2>"$logdir/build-guest.log"
then
	echo "linux-boot: guest image unavailable (see $logdir/build-guest.log); skipped"
	exit 0
fi
expected_sum=$(cat build/guest/blob.sha256)
echo "kernel: $(head -n 1 "build/guest/$flavor.stamp"), median of $runs runs"

# Runs "$@" with stdin from /dev/null under a timeout of $1 seconds, logging its output to $2.
# Sets t_init and t_exit (microseconds, empty if not reached), run_status, sum_ok (yes/no).
timed_boot() {
	local limit=$1 log=$2 start line now
	shift 2
	t_init='' t_exit='' run_status='' sum_ok=no
	: >"$log"
	now_us start
	while IFS= read -r line; do
		now_us now
		line=${line%$'\r'}
		case $line in
		VMON-BENCH-STATUS=*)
			run_status=${line#*=}
			t_exit=$((now - start))
			continue
			;;
		*VMON-INIT-START*) [ -n "$t_init" ] || t_init=$((now - start)) ;;
		"$expected_sum  /data/blob") sum_ok=yes ;;
		esac
		printf '%s\n' "$line" >>"$log"
	done < <(timeout -k 5 "$limit" "$@" </dev/null 2>&1; echo "VMON-BENCH-STATUS=$?")
	# Only a clean poweroff after a correct checksum is a time to exit.
	[ "$run_status" = 0 ] && [ $sum_ok = yes ] || t_exit=
}

# Measures one engine; sets med_init / med_exit (microseconds, empty if never reached) and note.
measure() {
	local name=$1 limit=$2 i inits=() exits=()
	shift 2
	note=
	for ((i = 1; i <= runs; i++)); do
		timed_boot "$limit" "$logdir/$name.$i.log" "$@"
		[ -z "$t_init" ] || inits+=("$t_init")
		[ -z "$t_exit" ] || exits+=("$t_exit")
		if [ -z "$t_init" ]; then
			note="did not reach /init within $limit s (status $run_status, log $logdir/$name.$i.log)"
			break
		elif [ -z "$t_exit" ]; then
			note="no clean exit with the right checksum (status $run_status, log $logdir/$name.$i.log)"
			break
		fi
	done
	med_init=$(median "${inits[@]}")
	med_exit=$(median "${exits[@]}")
}

row() {
	printf '%-10s %12s %12s  %s\n' "$1" "$2" "$3" "$4"
}
row engine "to /init" "to exit" ""
q_init='' q_exit=''
if command -v qemu-system-x86_64 >/dev/null; then
	measure qemu-tcg $qemu_limit qemu-system-x86_64 -accel tcg -m 256M -nographic -no-reboot \
		-kernel "$kernel" -initrd "$initrd" -append "$cmdline"
	q_init=$med_init q_exit=$med_exit
	row "qemu tcg" "$(secs "$q_init")" "$(secs "$q_exit")" "$note"
else
	row "qemu tcg" - - "qemu-system-x86_64 not installed"
fi

if [ -x "$vmon" ]; then
	measure vmon-bt $vmon_limit "$vmon" run --engine bt --mem 256M --console stdio \
		--kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline"
	if [ -n "$med_init" ]; then
		row "vmon bt" "$(secs "$med_init")" "$(secs "$med_exit")" "$note"
		row "vmon/qemu" "$(ratio "$med_init" "$q_init")" "$(ratio "$med_exit" "$q_exit")" ""
	else
		echo "vmon bt: $note"
	fi
else
	echo "vmon bt: $vmon not built"
fi
exit 0
