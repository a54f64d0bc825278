#!/usr/bin/env bash
# Debian's kernel + busybox under the bt engine, a shell loop printing N=0 .. N=29 with
# `sleep 0.3` between lines, live-migrated over tcp to a second vmon on this host mid-count:
#   linux/migrate   the target's console continues the count with the next number, the
#                   guest powers off there (VMON-RUN-EXIT=0, exit status 0), the source ends
#                   with exit status 0 after "migration completed"; status during the
#                   migration reports its progress
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh. Consoles are kept in
# build/tests/migrate_linux/.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

logdir=build/tests/migrate_linux
. tests/integration/linux_lib.sh
need_guest linux/migrate

vmon=build/vmon
sock=$logdir/api.sock
rm -f "$sock" "$logdir"/*.console "$logdir"/*.stderr
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT

api() { reply=$("$vmon" api "$1" "${@:2}" 2>&1); rc=$?; }

errors=()
timeout -k 5 "$limit" "$vmon" run --engine bt --incoming tcp:127.0.0.1:0 \
	--console "$logdir/target.console" </dev/null 2>"$logdir/target.stderr" &
tpid=$!
pids+=("$tpid")
wait_for "$logdir/target.stderr" 'waiting for a migration on' 10 || errors+=("target not listening")
uri=$(sed -n 's/^vmon: waiting for a migration on //p' "$logdir/target.stderr")

loop='i=0; while [ $i -lt 30 ]; do echo N=$i; i=$((i+1)); sleep 0.3; done'
timeout -k 5 "$limit" "$vmon" run --engine bt --mem 256M --console "$logdir/source.console" \
	--api-sock "$sock" --kernel "$guest/vmlinuz" --initrd "$guest/initramfs.cpio.gz" \
	--cmdline "console=ttyS0 vmon.run=\"$loop\"" </dev/null 2>"$logdir/source.stderr" &
spid=$!
pids+=("$spid")
if ! wait_for "$logdir/source.console" '^N=5' "$limit"; then
	echo "FAIL linux/migrate"
	echo "    the guest never counted to 5"
	exit 0
fi
api "$sock" migrate uri="$uri"
[ $rc = 0 ] || errors+=("migrate: $reply")
api "$sock" status
grep -q '"migration":{"state":"\(active\|completed\)","rounds":[0-9]*,"pages_sent":[0-9]*,"dirty_pages":[0-9]*,"bytes":[0-9]' <<<"$reply" ||
	[ $rc != 0 ] || errors+=("status during the migration: $reply")
wait "$spid"
status=$?
[ $status = 0 ] || errors+=("source: exit status $status" "$(tail -3 "$logdir/source.stderr")")
grep -q '^vmon: migration completed: ' "$logdir/source.stderr" ||
	errors+=("source: $(tail -3 "$logdir/source.stderr")")
wait "$tpid"
status=$?
[ $status = 0 ] || errors+=("target: exit status $status" "$(tail -3 "$logdir/target.stderr")")
last=$(grep '^N=' "$logdir/source.console" | tail -1 | tr -d '\r')
first=$(grep '^N=' "$logdir/target.console" | head -1 | tr -d '\r')
[ -n "$last" ] && [ "${first#N=}" = $((${last#N=} + 1)) ] || errors+=("count went $last -> $first")
grep -q '^VMON-RUN-EXIT=0' "$logdir/target.console" || errors+=("no VMON-RUN-EXIT=0 on the target")
all=$(cat "$logdir/source.console" "$logdir/target.console" | tr -d '\r' | grep '^N=' | tr '\n' ' ')
[ "$all" = "$(seq -f "N=%g" 0 29 | tr '\n' ' ')" ] || errors+=("count: $all")
[ -e "$sock" ] && errors+=("socket left behind")
if [ ${#errors[@]} = 0 ]; then
	echo "ok linux/migrate"
else
	echo "FAIL linux/migrate"
	printf '    %s\n' "${errors[@]}"
fi
