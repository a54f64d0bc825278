#!/usr/bin/env bash
# Snapshot and live migration of a Linux guest in the middle of a CPU-bound computation run by the
# bt engine's direct execution (--user-mode direct on both sides):
#   direct/snapshot   snapshot (paused) at the first progress line, quit, --restore in a new vmon:
#                     the computation's result must be the one the host computes
#   direct/migrate    migrate to an --incoming vmon at the first progress line: the result on the
#                     target must be the host's (the dirty log sees the pages user code wrote)
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

logdir=build/tests/direct_snapshot
. tests/integration/linux_lib.sh
need_guest direct/snapshot direct/migrate

vmon=build/vmon
sock=$logdir/api.sock
snap=$logdir/guest.snap
rm -f "$sock" "$snap" "$logdir"/*.console
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT

n=300000
loop="s=0; i=0; while [ \$i -lt $n ]; do s=\$(( (s * 31 + i) % 1000003 )); i=\$((i + 1)); [ \$((i % 50000)) = 0 ] && echo P=\$i; done; echo RESULT=\$s"
want=$(s=0; for ((i = 0; i < n; i++)); do s=$(((s * 31 + i) % 1000003)); done; echo "RESULT=$s")

api() { reply=$("$vmon" api "$1" "${@:2}" 2>&1); rc=$?; }
result() { grep -a '^RESULT=' "$1" | tr -d '\r' | tail -1; }
report() {	# report NAME ERRORS...
	local name=$1
	shift
	if [ $# = 0 ]; then echo "ok $name"; else echo "FAIL $name"; printf '    %s\n' "$@"; fi
}
start_source() {	# start_source CONSOLE [ARGS]: the computing guest, pid in spid
	timeout -k 5 "$limit" "$vmon" run --engine bt --user-mode direct --mem 256M \
		--console "$1" --api-sock "$sock" --kernel "$guest/vmlinuz" \
		--initrd "$guest/initramfs.cpio.gz" --cmdline "console=ttyS0 vmon.run=\"$loop\"" \
		</dev/null 2>"$1.stderr" &
	spid=$!
	pids+=("$spid")
}

# ---- snapshot -----------------------------------------------------------------------------------
errors=()
start_source "$logdir/snap1.console"
if wait_for "$logdir/snap1.console" '^P=' "$limit"; then
	api "$sock" snapshot path="$snap" paused=true
	[ $rc = 0 ] || errors+=("snapshot: $reply")
	grep -q '^RESULT=' "$logdir/snap1.console" && errors+=("the computation ended before the snapshot")
	api "$sock" quit
	wait "$spid"
	timeout -k 5 "$limit" "$vmon" run --restore "$snap" --engine bt --user-mode direct --stats \
		--console "$logdir/snap2.console" </dev/null 2>"$logdir/snap2.stderr"
	status=$?
	[ $status = 0 ] || errors+=("restored vmon: exit status $status" "$(tail -3 "$logdir/snap2.stderr")")
	got=$(result "$logdir/snap2.console")
	[ "$got" = "$want" ] || errors+=("after restore: '$got', expected $want")
	grep -Eq '^bt: direct_runs [1-9]' "$logdir/snap2.stderr" ||
		errors+=("the restored guest ran no user code natively")
else
	errors+=("the guest printed no progress line" "$(tail -3 "$logdir/snap1.console.stderr")")
fi
report direct/snapshot "${errors[@]}"

# ---- live migration -----------------------------------------------------------------------------
errors=()
rm -f "$sock"
timeout -k 5 "$limit" "$vmon" run --engine bt --user-mode direct --stats --incoming tcp:127.0.0.1:0 \
	--console "$logdir/target.console" </dev/null 2>"$logdir/target.stderr" &
tpid=$!
pids+=("$tpid")
wait_for "$logdir/target.stderr" 'waiting for a migration on' 10 || errors+=("target not listening")
uri=$(sed -n 's/^vmon: waiting for a migration on //p' "$logdir/target.stderr")
start_source "$logdir/source.console"
if wait_for "$logdir/source.console" '^P=' "$limit"; then
	api "$sock" migrate uri="$uri"
	[ $rc = 0 ] || errors+=("migrate: $reply")
	wait "$spid"
	status=$?
	[ $status = 0 ] || errors+=("source: exit status $status" "$(tail -3 "$logdir/source.console.stderr")")
	wait "$tpid"
	status=$?
	[ $status = 0 ] || errors+=("target: exit status $status" "$(tail -3 "$logdir/target.stderr")")
	grep -q '^RESULT=' "$logdir/source.console" && errors+=("the computation ended on the source")
	got=$(result "$logdir/target.console")
	[ "$got" = "$want" ] || errors+=("on the target: '$got', expected $want")
	grep -Eq '^bt: direct_runs [1-9]' "$logdir/target.stderr" ||
		errors+=("the target ran no user code natively")
else
	errors+=("the guest printed no progress line" "$(tail -3 "$logdir/source.console.stderr")")
fi
report direct/migrate "${errors[@]}"
