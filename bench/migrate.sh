#!/usr/bin/env bash
# Live migration of the Linux guest under bt at 256 MiB, to a second vmon on this host over tcp
# (loopback), BENCH_RUNS times each (default 2), the two workloads interleaved:
#   idle    the shell sleeps
#   dirty   the shell rewrites a 32 MiB file in tmpfs with busybox's bytes, over and over
# Per run: total time (migrate command to the target's answer), RAM passes while the guest
# ran, pages sent, stream bytes, downtime (source: pause to the target's answer; target: first
# record after the pause to running). Figures only; never fails because one is slow or missing.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
export LC_ALL=C

runs=${BENCH_RUNS:-2}
vmon=build/vmon
guest=build/guest
logdir=build/bench/migrate
mkdir -p "$logdir"
sock=$logdir/src.sock
tsock=$logdir/dst.sock

echo "Live migration (Linux guest, bt engine, 256 MiB, tcp on loopback)"
if ! scripts/build-guest.sh "$guest" >/dev/null 2>"$logdir/build-guest.log"; then
	echo "migrate: guest image unavailable (see $logdir/build-guest.log); skipped"
	exit 0
fi
spid= tpid=
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null; [ -n "$tpid" ] && kill "$tpid" 2>/dev/null' EXIT

field() { sed -n "s/.*\"$1\":\\([0-9]*\\).*/\\1/p" <<<"$2" | tail -n 1; }
wait_for() {	# wait_for FILE PATTERN SECONDS
	for _ in $(seq $(($3 * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

declare -A cmd
cmd[idle]='echo READY; while true; do sleep 1; done'
cmd[dirty]='echo READY; while true; do i=0; while [ $i -lt 16 ]; do cat /bin/busybox; i=$((i+1)); done >/tmp/d; done'

bench_one() {	# bench_one WORKLOAD RUN
	local w=$1 log=$logdir/$1.$2 uri reply
	rm -f "$sock" "$tsock"
	"$vmon" run --engine bt --incoming tcp:127.0.0.1:0 --console none --api-sock "$tsock" \
		</dev/null 2>"$log.target" &
	tpid=$!
	wait_for "$log.target" 'waiting for a migration' 10
	uri=$(sed -n 's/^vmon: waiting for a migration on //p' "$log.target")
	"$vmon" run --engine bt --mem 256M --console "$log.console" --api-sock "$sock" \
		--kernel "$guest/vmlinuz" --initrd "$guest/initramfs.cpio.gz" \
		--cmdline "console=ttyS0 vmon.run=\"${cmd[$w]}\"" </dev/null 2>"$log.source" &
	spid=$!
	if ! wait_for "$log.console" "^READY" 300; then
		echo "$w: the guest did not come up; skipped"
		kill "$spid" "$tpid" 2>/dev/null
		wait "$spid" "$tpid" 2>/dev/null
		spid= tpid=
		return
	fi
	sleep 3		# let the workload run
	"$vmon" api "$sock" migrate uri="$uri" paused=true >/dev/null
	for _ in $(seq 600); do
		reply=$("$vmon" api "$sock" status)
		grep -q '"migration":{"state":"active"' <<<"$reply" || break
		sleep 0.1
	done
	"$vmon" api "$sock" quit >/dev/null
	wait "$spid"
	spid=
	"$vmon" api "$tsock" quit >/dev/null 2>&1
	wait "$tpid"
	tpid=
	if ! grep -q '"state":"completed"' <<<"$reply"; then
		echo "$w run $2: did not complete: $reply"
		return
	fi
	local pages=$(($(field pages_sent "$reply") + $(field final_pages "$reply")))
	local share
	share=$(sed -n 's/.* \([0-9.]*\) ms from the source.s pause.*/\1/p' "$log.target")
	printf '%-5s run %s: total %5s ms, %2s rounds while running + 1 paused, %6s pages, %4s MiB sent, downtime %s us (target share %s ms), pages per round: %s\n' \
		"$w" "$2" "$(field total_ms "$reply")" "$(field rounds "$reply")" "$pages" \
		"$(($(field bytes "$reply") >> 20))" "$(field downtime_us "$reply")" "$share" \
		"$(sed -n 's/.*"round_pages":\[\([0-9,]*\)\].*/\1/p' <<<"$reply"),$(field final_pages "$reply")"
}

for run in $(seq "$runs"); do
	for w in idle dirty; do
		bench_one "$w" "$run"
	done
done
