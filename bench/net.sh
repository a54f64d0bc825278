#!/usr/bin/env bash
# `--net user` throughput and latency: TCP between the Linux guest (busybox nc, --engine bt) and
# servers on the host's loopback (bench/net_host.py, 10.0.2.2 in the guest):
#   host -> guest   the guest reads NET_MIB MiB (nc > /dev/null)
#   guest -> host   the guest writes NET_MIB MiB (dd | nc)
#   round trip      one byte echoed by the guest (nc through a FIFO and cat), median of 200
# for each backend: passt (where installed) and the slirp helper; VMON_NET_BASE=BINARY adds a
# vmon that still runs libslirp inside its own process (a build from before the backends moved
# out) as the baseline. The peer is the host's own loopback through the same servers. Medians
# of BENCH_RUNS runs (default 3); VMON=BINARY measures another vmon build. Never fails on a slow
# or missing figure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit

runs=${BENCH_RUNS:-3}
mib=${NET_MIB:-32}
logdir=build/bench/net
mkdir -p "$logdir"
if ! command -v python3 >/dev/null; then
	echo "net: no python3 for the host's servers; skipped"
	exit 0
fi
if ! scripts/build-guest.sh build/guest >/dev/null 2>"$logdir/build-guest.log"; then
	echo "net: guest image unavailable (see $logdir/build-guest.log); skipped"
	exit 0
fi
bytes=$((mib << 20))
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null' EXIT

# run LOG VMON-BINARY NET-OPTION: one guest run; prints "h2g g2h rtt" or nothing.
run() {
	local log=$1 vmon=$2 net=$3 host=$1.host src done sink echo
	python3 -u bench/net_host.py "$bytes" >"$host" 2>&1 &
	server=$!
	for _ in $(seq 50); do
		[ -s "$host" ] && break
		sleep 0.1
	done
	read -r src done sink echo <"$host"
	local cmd="ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 >/dev/null 2>&1;"
	cmd+=" nc 10.0.2.2 $src >/dev/null; echo | nc 10.0.2.2 $done;"
	cmd+=" dd if=/dev/zero bs=64k count=$((bytes >> 16)) 2>/dev/null | nc 10.0.2.2 $sink;"
	cmd+=" mkfifo /tmp/f; nc 10.0.2.2 $echo </tmp/f | cat >/tmp/f"
	timeout -k 5 300 "$vmon" run --engine bt --mem 256M --console stdio \
		--kernel build/guest/vmlinuz --initrd build/guest/initramfs.cpio.gz --net "$net" \
		--cmdline "console=ttyS0 vmon.run=\"$cmd\"" </dev/null >"$log" 2>&1
	for _ in $(seq 50); do
		[ "$(wc -l <"$host")" -ge 2 ] && break
		sleep 0.1
	done
	kill "$server" 2>/dev/null
	wait "$server" 2>/dev/null
	server=
	sed -n 2p "$host" | grep -E '^[0-9.]+ [0-9.]+ [0-9.]+$'
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'
}

# show NAME FILE: the medians of the figures in FILE (one "h2g g2h rtt" line per run).
show() {
	printf "  %-34s %8s %8s %8s\n" "$1" "$(cut -d' ' -f1 "$2" | median)" \
		"$(cut -d' ' -f2 "$2" | median)" "$(cut -d' ' -f3 "$2" | median)"
}

backends=()
command -v passt >/dev/null && backends+=(passt)
backends+=(slirp)
names=()
for b in "${backends[@]}"; do names+=("vmon --net $b:${VMON:-build/vmon}:$b"); done
[ -n "${VMON_NET_BASE:-}" ] && names+=("in-process libslirp (baseline):$VMON_NET_BASE:user")

echo "net: $mib MiB each way over TCP, guest (bt engine) <-> host loopback; medians of $runs"
for entry in "${names[@]}"; do : >"$logdir/${entry%%:*}.figures"; done
: >"$logdir/loopback.figures"
for ((i = 1; i <= runs; i++)); do
	for entry in "${names[@]}"; do
		IFS=: read -r name vmon net <<<"$entry"
		run "$logdir/${name// /_}-$i.log" "$vmon" "$net" >>"$logdir/$name.figures"
	done
	python3 -u bench/net_host.py "$bytes" --loopback | sed -n 2p >>"$logdir/loopback.figures"
done
printf "  %-34s %8s %8s %8s\n" "" "h2g MB/s" "g2h MB/s" "rtt us"
for entry in "${names[@]}"; do show "${entry%%:*}" "$logdir/${entry%%:*}.figures"; done
show "host loopback (no VM, the peer)" "$logdir/loopback.figures"
exit 0
