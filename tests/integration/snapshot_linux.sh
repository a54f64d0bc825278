#!/usr/bin/env bash
# Debian's kernel + busybox under `vmon run --engine bt --api-sock`, a shell loop printing
# N=0 .. N=29 with `sleep 0.3` between lines:
#   linux/api-status     status and stats replies carry the machine and counters
#   linux/api-pause      paused: no console output, bt instruction counter and guest uptime
#                        stand still; resumed: the count goes on
#   linux/snapshot       snapshot mid-count (staying paused), quit; `vmon run --restore` in a
#                        new vmon continues with the next number and exits 0 after poweroff
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh. Consoles are kept in
# build/tests/snapshot_linux/.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

logdir=build/tests/snapshot_linux
. tests/integration/linux_lib.sh
need_guest linux/api-status linux/api-pause linux/snapshot

vmon=build/vmon
sock=$logdir/api.sock
sock2=$logdir/api2.sock
snap=$logdir/guest.snap
rm -f "$sock" "$sock2" "$snap" "$logdir"/*.console
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null' EXIT

ok() { echo "ok $1"; }
fail() { echo "FAIL $1"; shift; printf '    %s\n' "$@"; }
api() { reply=$("$vmon" api "$1" "${@:2}" 2>&1); rc=$?; }
json() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" <<<"$reply"; }
count() { grep -c '^N=' "$1" 2>/dev/null; }

loop='i=0; while [ $i -lt 30 ]; do echo N=$i; i=$((i+1)); sleep 0.3; done'
timeout -k 5 "$limit" "$vmon" run --engine bt --mem 256M --console "$logdir/run1.console" \
	--api-sock "$sock" --kernel "$guest/vmlinuz" --initrd "$guest/initramfs.cpio.gz" \
	--cmdline "console=ttyS0 vmon.run=\"$loop\"" </dev/null 2>"$logdir/run1.stderr" &
pid=$!
if ! wait_for "$logdir/run1.console" '^N=2' "$limit"; then
	for name in linux/api-status linux/api-pause linux/snapshot; do
		fail $name "the guest never counted to 2" "$(tail -3 "$logdir/run1.console")"
	done
	exit 0
fi

errors=()
api "$sock" status
[ $rc = 0 ] && [ "$(json state)" = running ] && [ "$(json engine)" = bt ] &&
	[ "$(json cpus)" = 1 ] && [ "$(json mem)" = 268435456 ] && [ "$(json uptime_ms)" -gt 0 ] &&
	[ "$(json instructions)" -gt 0 ] || errors+=("status: $reply")
api "$sock" stats
[ $rc = 0 ] && [ "$(json pio_serial)" -gt 0 ] && [ "$(json instructions)" -gt 0 ] ||
	errors+=("stats: $reply")
if [ ${#errors[@]} = 0 ]; then ok linux/api-status; else fail linux/api-status "${errors[@]}"; fi

errors=()
api "$sock" pause
[ $rc = 0 ] || errors+=("pause: $reply")
api "$sock" status
i1=$(json instructions) u1=$(json uptime_ms) n1=$(count "$logdir/run1.console")
sleep 1
api "$sock" status
i2=$(json instructions) u2=$(json uptime_ms) n2=$(count "$logdir/run1.console")
[ "$(json state)" = paused ] || errors+=("state: $reply")
[ "$i1" = "$i2" ] || errors+=("instructions moved while paused: $i1 -> $i2")
[ "$u1" = "$u2" ] || errors+=("guest uptime moved while paused: $u1 -> $u2")
[ "$n1" = "$n2" ] || errors+=("the guest printed while paused: $n1 -> $n2 lines")
api "$sock" resume
[ $rc = 0 ] || errors+=("resume: $reply")
wait_for "$logdir/run1.console" "^N=${n2}[^0-9]" 10 || errors+=("no N=$n2 after resume")
if [ ${#errors[@]} = 0 ]; then ok linux/api-pause; else fail linux/api-pause "${errors[@]}"; fi

errors=()
wait_for "$logdir/run1.console" '^N=6' 30 || errors+=("no N=6")
api "$sock" snapshot path="$snap" paused=true
[ $rc = 0 ] || errors+=("snapshot: $reply")
api "$sock" quit
wait "$pid"
status=$?
pid=
[ $status = 0 ] || errors+=("first vmon: exit status $status")
last=$(grep '^N=' "$logdir/run1.console" | tail -1 | tr -d '\r')
timeout -k 5 "$limit" "$vmon" run --restore "$snap" --engine bt \
	--console "$logdir/run2.console" --api-sock "$sock2" </dev/null 2>"$logdir/run2.stderr" &
pid=$!
wait_for "$logdir/run2.console" '^N=' 30 || errors+=("the restored guest prints nothing")
api "$sock2" status
[ "$(json state)" = running ] || errors+=("restored status: $reply")
wait "$pid"
status=$?
pid=
[ $status = 0 ] || errors+=("restored vmon: exit status $status" "$(tail -3 "$logdir/run2.stderr")")
first=$(grep '^N=' "$logdir/run2.console" | head -1 | tr -d '\r')
[ "${first#N=}" = $((${last#N=} + 1)) ] || errors+=("count went $last -> $first")
grep -q '^VMON-RUN-EXIT=0' "$logdir/run2.console" || errors+=("no VMON-RUN-EXIT=0 after restore")
all=$(cat "$logdir/run1.console" "$logdir/run2.console" | tr -d '\r' | grep '^N=' | tr '\n' ' ')
[ "$all" = "$(seq -f "N=%g" 0 29 | tr '\n' ' ')" ] || errors+=("count: $all")
[ -e "$sock" ] || [ -e "$sock2" ] && errors+=("socket left behind")
if [ ${#errors[@]} = 0 ]; then ok linux/snapshot; else fail linux/snapshot "${errors[@]}"; fi
