#!/usr/bin/env bash
# Booting through firmware: SeaBIOS -> GRUB (serial menu, 1 s timeout) -> Linux, from the hybrid
# ISO scripts/build-grub-iso.sh builds, under vmon's bt engine (--firmware seabios) and QEMU TCG
# (its default SeaBIOS, the same Debian package), the ISO on virtio-blk in both.
# Per VMM: seconds from process start to GRUB's menu, to the guest's /init (VMON-INIT-START) and
# to the exit after its poweroff; the median of BENCH_RUNS runs (default 3). Figures only: never
# fails on a slow or missing one.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
export LC_ALL=C	# EPOCHREALTIME with a '.' separator
. bench/lib.sh

runs=${BENCH_RUNS:-3}
logdir=build/bench/firmware-boot
iso=build/boot.iso
mkdir -p "$logdir"

echo "Firmware boot (SeaBIOS, GRUB, Linux from an ISO): time to GRUB's menu, to /init, to exit"
if ! scripts/build-guest.sh build/guest >/dev/null 2>"$logdir/build-guest.log" ||
   ! scripts/build-grub-iso.sh build/guest "$iso" >/dev/null 2>"$logdir/build-iso.log"; then
	echo "firmware-boot: guest or ISO unavailable (see $logdir/); skipped"
	exit 0
fi

# timed LOG CMD...: sets t_menu, t_init, t_exit (microseconds from start, empty if not reached).
timed() {
	local log=$1 start now line status=''
	shift
	t_menu='' t_init='' t_exit=''
	: >"$log"
	now_us start
	while IFS= read -r line; do
		now_us now
		case $line in
		VMON-BENCH-STATUS=*) status=${line#*=}; t_exit=$((now - start)); continue ;;
		*"GNU GRUB"*) [ -n "$t_menu" ] || t_menu=$((now - start)) ;;
		*VMON-INIT-START*) [ -n "$t_init" ] || t_init=$((now - start)) ;;
		esac
		printf '%s\n' "$line" >>"$log"
	done < <(timeout -k 5 180 "$@" </dev/null 2>&1; echo "VMON-BENCH-STATUS=$?")
	[ "$status" = 0 ] && grep -q '^VMON-RUN-EXIT=0' "$log" || t_exit=
}

# measure NAME CMD...: medians into m_menu, m_init, m_exit.
measure() {
	local name=$1 i menus=() inits=() exits=()
	shift
	for ((i = 1; i <= runs; i++)); do
		timed "$logdir/$name.$i.log" "$@"
		[ -z "$t_menu" ] || menus+=("$t_menu")
		[ -z "$t_init" ] || inits+=("$t_init")
		[ -z "$t_exit" ] || exits+=("$t_exit")
	done
	m_menu=$(median "${menus[@]}") m_init=$(median "${inits[@]}") m_exit=$(median "${exits[@]}")
}

printf '%-10s %12s %12s %12s\n' "" "GRUB menu" "/init" exit
q_menu='' q_init='' q_exit=''
if command -v qemu-system-x86_64 >/dev/null; then
	measure qemu-tcg qemu-system-x86_64 -accel tcg -m 256M -nographic -no-reboot -net none \
		-drive "file=$iso,format=raw,if=virtio,readonly=on"
	q_menu=$m_menu q_init=$m_init q_exit=$m_exit
	printf '%-10s %12s %12s %12s\n' "qemu tcg" "$(secs "$q_menu")" "$(secs "$q_init")" "$(secs "$q_exit")"
else
	echo "qemu tcg: qemu-system-x86_64 not installed"
fi
measure vmon-bt build/vmon run --engine bt --firmware seabios --mem 256M --console stdio \
	--disk "$iso,ro"
printf '%-10s %12s %12s %12s\n' "vmon bt" "$(secs "$m_menu")" "$(secs "$m_init")" "$(secs "$m_exit")"
printf '%-10s %12s %12s %12s\n' "vmon/qemu" "$(ratio "$m_menu" "$q_menu")" \
	"$(ratio "$m_init" "$q_init")" "$(ratio "$m_exit" "$q_exit")"
exit 0
