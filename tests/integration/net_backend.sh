#!/usr/bin/env bash
# The `--net user` backend runs in its own process (src/net/backend.h); a guest that crashes it
# costs itself the network, never vmon. For each backend (passt where installed, the slirp
# helper), with the sanitized vmon and Debian's kernel (--engine bt):
#   net/BACKEND-ping-out   `ping 1.1.1.1` in the guest (libslirp falls back to a raw socket,
#                          which once killed vmon with SIGSYS); the guest ends on its own
#   net/BACKEND-crash      the backend is killed with SIGSEGV (what libslirp's IPv4 fragment
#                          bug did) while the guest runs: one "link down" line, the guest sees
#                          its carrier drop and exits, vmon exits 0 with no sanitizer report
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

logdir=build/tests/net_backend
. tests/integration/linux_lib.sh
backends=(slirp)
command -v passt >/dev/null && backends=(passt slirp)
names=()
for b in "${backends[@]}"; do names+=("net/$b-ping-out" "net/$b-crash"); done
need_guest "${names[@]}"
command -v passt >/dev/null || echo "SKIP net/passt: passt is not installed"

up="ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 >/dev/null 2>&1"

# start NAME BACKEND CMD: vmon-san in the background (pid in vmon_pid), console in $console.
start() {
	console=$logdir/$1.console
	build/vmon-san run --engine bt --mem 256M --console stdio --kernel "$guest/vmlinuz" \
		--initrd "$guest/initramfs.cpio.gz" --net "$2" \
		--cmdline "console=ttyS0 vmon.run=\"$3\"" </dev/null >"$console" 2>"$console.stderr" &
	vmon_pid=$!
}

# finish NAME: waits (limit s) for vmon; prints FAIL and returns 1 unless it exited 0 after the
# guest's command exited 0, with no sanitizer report.
finish() {
	local name=$1 status waited=0
	while kill -0 "$vmon_pid" 2>/dev/null && [ $waited -lt $((limit * 10)) ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	kill -KILL "$vmon_pid" 2>/dev/null
	wait "$vmon_pid"
	status=$?
	local why=
	if [ "$status" != 0 ]; then
		why="vmon exit status $status"
	elif ! tr -d '\r' <"$console" | grep -qx VMON-RUN-EXIT=0; then
		why="the guest's command did not exit 0"
	elif grep -q 'Sanitizer' "$console.stderr"; then
		why="sanitizer report"
	fi
	if [ -n "$why" ]; then
		echo "FAIL $name"
		echo "    $why"
		tail -n 5 "$console" "$console.stderr" 2>/dev/null | sed 's/^/    /'
		return 1
	fi
}

for b in "${backends[@]}"; do
	name=net/$b-ping-out
	start "$b-ping-out" "$b" "$up; ping -c 1 -W 2 1.1.1.1 >/dev/null 2>&1; echo pinged"
	finish "$name" && echo "ok $name"

	# The guest waits for its carrier to drop (the host kills the backend once it printed
	# NET-UP), at most 60 s, and says what it saw.
	name=net/$b-crash
	wait_down="for i in \$(seq 600); do [ \$(cat /sys/class/net/eth0/carrier) = 0 ] && break; sleep 0.1; done"
	start "$b-crash" "$b" "$up; echo NET-UP; $wait_down; echo carrier=\$(cat /sys/class/net/eth0/carrier)"
	for _ in $(seq $((limit * 10))); do
		tr -d '\r' <"$console" | grep -qx NET-UP && break
		kill -0 "$vmon_pid" 2>/dev/null || break
		sleep 0.1
	done
	backend=$(pgrep -P "$vmon_pid" | head -n 1)
	[ -n "$backend" ] && kill -SEGV "$backend"
	finish "$name" || continue
	if [ -z "$backend" ]; then
		echo "FAIL $name"
		echo "    no backend process under vmon ($vmon_pid)"
	elif ! tr -d '\r' <"$console" | grep -qx carrier=0; then
		echo "FAIL $name"
		echo "    the guest's link stayed up: $(tr -d '\r' <"$console" | grep carrier=)"
	elif ! grep -q 'virtio-net: the network backend .* link down' "$console.stderr"; then
		echo "FAIL $name"
		echo "    no 'link down' line on stderr"
	else
		echo "ok $name"
	fi
done
