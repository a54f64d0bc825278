#!/usr/bin/env bash
# virtio-net with `--net user` under Linux (Debian's cloud kernel, --engine bt):
#   linux/virtio-net-dhcp   busybox udhcpc gets 10.0.2.15 from the backend's DHCP server
#   linux/virtio-net-http   the guest fetches a 200 KB file from an HTTP server on the host's
#                           loopback (10.0.2.2 in the guest); its sha256 matches the host's
# once with the default backend (passt where installed) and, where that is passt, once more
# with the slirp helper (--net slirp: linux/virtio-net-*-slirp).
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.  Needs python3 for the
# host's HTTP server (skips without it).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

logdir=build/tests/linux_net
. tests/integration/linux_lib.sh
backends=(user)
command -v passt >/dev/null && backends+=(slirp)
names=()
for b in "${backends[@]}"; do
	suffix=${b#user}
	names+=("linux/virtio-net-dhcp${suffix:+-$suffix}" "linux/virtio-net-http${suffix:+-$suffix}")
done
need_guest "${names[@]}"

if ! command -v python3 >/dev/null; then
	for name in "${names[@]}"; do echo "SKIP $name: no python3 for the host's HTTP server"; done
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
	for name in "${names[@]}"; do
		echo "FAIL $name"
		echo "    the host's HTTP server did not start (see $logdir/http.log)"
	done
	exit 0
fi

cmd="ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 >/dev/null 2>&1;"
cmd+=" ip -4 addr show eth0 | sed -n 's/.*inet \\([0-9./]*\\).*/\\1/p';"
cmd+=" wget -q -O - http://10.0.2.2:$port/file | sha256sum | cut -d' ' -f1"
for b in "${backends[@]}"; do
	suffix=${b#user}
	suffix=${suffix:+-$suffix}
	vmon_args=(--net "$b")
	boot "linux/virtio-net-dhcp$suffix" 1 "$cmd"
	got_ip=$(sed -n 1p <<<"$output") got_sum=$(sed -n 2p <<<"$output")
	saved=$reason
	output=$got_ip
	check "linux/virtio-net-dhcp$suffix" 10.0.2.15/24
	reason=$saved output=$got_sum
	check "linux/virtio-net-http$suffix" "$want"
done
