#!/usr/bin/env bash
# virtio-net with `--net user` (libslirp) under Linux (Debian's cloud kernel, --engine bt):
#   linux/virtio-net-dhcp   busybox udhcpc gets 10.0.2.15 from slirp's DHCP server
#   linux/virtio-net-http   the guest fetches a 200 KB file from an HTTP server on the host's
#                           loopback (10.0.2.2 in the guest); its sha256 matches the host's
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.  Needs python3 for the
# host's HTTP server (skips without it).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

logdir=build/tests/linux_net
. tests/integration/linux_lib.sh
need_guest linux/virtio-net-dhcp linux/virtio-net-http

if ! command -v python3 >/dev/null; then
	echo "SKIP linux/virtio-net-dhcp: no python3 for the host's HTTP server"
	echo "SKIP linux/virtio-net-http: no python3 for the host's HTTP server"
	exit 0
fi
www=$logdir/www
mkdir -p "$www"
head -c 200000 /dev/urandom >"$www/file"
want=$(sha256sum <"$www/file" | cut -d' ' -f1)

# Port 0: the kernel picks a free one, which the server prints.
python3 -u -m http.server --bind 127.0.0.1 --directory "$www" 0 >"$logdir/http.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
port=
for _ in $(seq 50); do
	port=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$logdir/http.log" | head -n 1)
	[ -n "$port" ] && break
	sleep 0.1
done
if [ -z "$port" ]; then
	echo "FAIL linux/virtio-net-dhcp"
	echo "    the host's HTTP server did not start (see $logdir/http.log)"
	echo "FAIL linux/virtio-net-http"
	exit 0
fi

cmd="ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 >/dev/null 2>&1;"
cmd+=" ip -4 addr show eth0 | sed -n 's/.*inet \\([0-9./]*\\).*/\\1/p';"
cmd+=" wget -q -O - http://10.0.2.2:$port/file | sha256sum | cut -d' ' -f1"
vmon_args=(--net user)
boot linux/virtio-net-dhcp 1 "$cmd"
got_ip=$(sed -n 1p <<<"$output") got_sum=$(sed -n 2p <<<"$output")
saved=$reason
output=$got_ip
check linux/virtio-net-dhcp 10.0.2.15/24
reason=$saved output=$got_sum
check linux/virtio-net-http "$want"
