#!/usr/bin/env bash
# A VM with `--net user` ends while frames flow both ways: the guest starts a download from and
# an upload to the host (10.0.2.2), and powers off a second later. vmon must stop the device
# threads before it frees what they use (a delivery into a freed interrupt controller was a
# heap-use-after-free in 1 of 7 sanitized runs). VMON_TEARDOWN_RUNS runs (default 4) of the
# sanitized vmon (VMON_SAN, default build/vmon-san), alternating the backends; each must exit
# 0 with no sanitizer report.
#   net/teardown-while-flowing
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh. Needs python3.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

name=net/teardown-while-flowing
logdir=build/tests/net_teardown
. tests/integration/linux_lib.sh
need_guest "$name"
if ! command -v python3 >/dev/null; then
	echo "SKIP $name: no python3 for the host's servers"
	exit 0
fi

# Two servers on the host's loopback: one streams zeros to whoever connects, one swallows
# whatever comes; both until the peer goes.
python3 -u - >"$logdir/servers.log" 2>&1 <<'PY' &
import socket, threading
def serve(s, fn):
    while True:
        c, _ = s.accept()
        threading.Thread(target=fn, args=(c,), daemon=True).start()
def source(c):
    try:
        while c.send(b"\0" * 65536): pass
    except OSError: pass
def sink(c):
    try:
        while c.recv(65536): pass
    except OSError: pass
socks = []
for fn in (source, sink):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8); socks.append(s)
    threading.Thread(target=serve, args=(s, fn), daemon=True).start()
print(*[s.getsockname()[1] for s in socks], flush=True)
threading.Event().wait()
PY
server=$!
trap 'kill $server 2>/dev/null' EXIT
src= sink=
for _ in $(seq 50); do
	read -r src sink <"$logdir/servers.log" 2>/dev/null
	[ -n "$sink" ] && break
	sleep 0.1
done
if [ -z "$sink" ]; then
	echo "FAIL $name"
	echo "    the host's servers did not start (see $logdir/servers.log)"
	exit 0
fi

backends=(slirp)
command -v passt >/dev/null && backends=(passt slirp)
cmd="ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 >/dev/null 2>&1;"
cmd+=" nc 10.0.2.2 $src >/dev/null & dd if=/dev/zero bs=64k 2>/dev/null | nc 10.0.2.2 $sink &"
cmd+=" sleep 1"
runs=${VMON_TEARDOWN_RUNS:-4}
for ((i = 0; i < runs; i++)); do
	backend=${backends[i % ${#backends[@]}]}
	console=$logdir/run$i-$backend.console
	timeout -k 5 "$limit" "${VMON_SAN:-build/vmon-san}" run --engine bt --mem 256M --console stdio \
		--kernel "$guest/vmlinuz" --initrd "$guest/initramfs.cpio.gz" --net "$backend" \
		--cmdline "console=ttyS0 vmon.run=\"$cmd\"" </dev/null >"$console" 2>"$console.stderr"
	status=$?
	why=
	if [ $status != 0 ]; then
		why="run $i ($backend): vmon exit status $status"
	elif ! tr -d '\r' <"$console" | grep -qx VMON-RUN-EXIT=0; then
		why="run $i ($backend): the guest's command did not exit 0"
	elif grep -q Sanitizer "$console.stderr"; then
		why="run $i ($backend): sanitizer report"
	fi
	if [ -n "$why" ]; then
		echo "FAIL $name"
		echo "    $why"
		grep -m 3 -E 'ERROR|SUMMARY|runtime error' "$console.stderr" | sed 's/^/    /'
		exit 0
	fi
done
echo "ok $name"
