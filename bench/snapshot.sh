#!/usr/bin/env bash
# Snapshot / restore and the control socket, on the Linux guest under bt at 256 MiB:
#   - snapshot size and time, raw RAM records vs zstd (interleaved, BENCH_RUNS each, default 3),
#     taken while the guest spins in a shell loop;
#   - restore: the time vmon reports (`status` restore_us: reading the file, RAM, devices and
#     vCPUs, up to releasing the vCPU threads), and from exec to the first `status` reply (the
#     socket answers only once the restored vCPUs run);
#   - API round trip: `status` request -> reply on one connection, mean of 2000 (python3).
# Figures only; never fails because one is slow or missing.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
export LC_ALL=C

runs=${BENCH_RUNS:-3}
vmon=build/vmon
guest=build/guest
logdir=build/bench/snapshot
mkdir -p "$logdir"
sock=$logdir/api.sock
sock2=$logdir/api2.sock
rm -f "$sock" "$sock2"

echo "Snapshot / restore (Linux guest, bt engine, 256 MiB)"
if ! scripts/build-guest.sh "$guest" >/dev/null 2>"$logdir/build-guest.log"; then
	echo "snapshot: guest image unavailable (see $logdir/build-guest.log); skipped"
	exit 0
fi
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -f "$sock" "$sock2"' EXIT

now() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }	# microseconds
field() { sed -n "s/.*\"$1\":\\([0-9]*\\).*/\\1/p" <<<"$2"; }

"$vmon" run --engine bt --mem 256M --console "$logdir/guest.console" --api-sock "$sock" \
	--kernel "$guest/vmlinuz" --initrd "$guest/initramfs.cpio.gz" \
	--cmdline 'console=ttyS0 vmon.run="echo READY; while true; do :; done"' \
	</dev/null 2>"$logdir/guest.stderr" &
pid=$!
for _ in $(seq 1200); do
	grep -q READY "$logdir/guest.console" 2>/dev/null && break
	sleep 0.1
done
if ! grep -q READY "$logdir/guest.console"; then
	echo "snapshot: the guest did not come up; skipped"
	exit 0
fi

declare -A bytes ms
for run in $(seq "$runs"); do
	for mode in zstd raw; do
		compress=false
		[ $mode = raw ] || compress=true
		reply=$("$vmon" api "$sock" snapshot path="$logdir/$mode.snap" compress=$compress)
		bytes[$mode]=$(field bytes "$reply")
		ms[$mode]="${ms[$mode]:-} $(field ms "$reply")"
		pages=$(field ram_pages "$reply")
	done
done
echo "guest RAM in use: $pages non-zero 4 KiB pages ($((pages * 4 / 1024)) MiB) of 256 MiB"
for mode in raw zstd; do
	echo "snapshot $mode: $((${bytes[$mode]} / 1024 / 1024)) MiB (${bytes[$mode]} bytes), ms per run:${ms[$mode]}"
done

if command -v python3 >/dev/null; then
	python3 - "$sock" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
f = s.makefile("rb")
n = 2000
t = time.perf_counter()
for _ in range(n):
    s.sendall(b'{"cmd":"status"}\n')
    f.readline()
print("API status round trip: %.1f us (mean of %d on one connection)" %
      ((time.perf_counter() - t) / n * 1e6, n))
PY
else
	echo "API round trip: skipped (no python3)"
fi
"$vmon" api "$sock" quit >/dev/null
wait "$pid"
pid=

for mode in raw zstd; do
	inside= outside=
	for run in $(seq "$runs"); do
		rm -f "$sock2"
		t0=$(now)
		"$vmon" run --restore "$logdir/$mode.snap" --engine bt --console none \
			--api-sock "$sock2" </dev/null 2>>"$logdir/restore.stderr" &
		pid=$!
		reply=
		for _ in $(seq 5000); do
			reply=$("$vmon" api "$sock2" status 2>/dev/null) && break
			sleep 0.001
		done
		t1=$(now)
		"$vmon" api "$sock2" quit >/dev/null 2>&1
		wait "$pid"
		pid=
		inside="$inside $(($(field restore_us "$reply") / 1000))"
		outside="$outside $(((t1 - t0) / 1000))"
	done
	echo "restore from $mode: ms inside vmon (file to vCPUs ready):$inside;" \
	     "ms from exec to the first API reply:$outside"
done
