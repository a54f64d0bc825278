#!/usr/bin/env bash
# Hostile guests (tests/guests/hostile/) under the sanitized build; each must end with the
# guest's own exit status (its `; vmon-exit:` header) and its expected console lines, with no
# sanitizer report:
#   hostile/hammer    60,000 pseudo-random port, PCI configuration, MMIO and virtqueue
#                     operations with --disk, --rng and --net user
#   hostile/netabuse  malformed, oversized and descriptor-split frames on --net user; the
#                     network still answers ARP and ICMP echo afterwards
#   hostile/netfrag   fragmented IPv4 on the slirp helper, including the lone fragment that
#                     crashed vmon inside libslirp's reassembly: it now crashes only the helper
#                     process, vmon takes the link down and the guest runs on to its end
# Prints `ok NAME` / `FAIL NAME` for tests/run.sh. VMON_TEST_ENGINE (bt) picks the engine.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

vmon=${VMON_SAN:-build/vmon-san}
engine=${VMON_TEST_ENGINE:-bt}
timeout=${TIMEOUT:-120}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ok() { echo "ok $1"; }
fail() { echo "FAIL $1"; shift; printf '    %s\n' "$@"; }
sanitizer_report() { grep -m 3 'Sanitizer\|runtime error' "$1" | tr '\n' ' '; }

# hostile NAME EXPECTED-LINES ARGS...: runs guest NAME with ARGS; the console's lines must
# include EXPECTED-LINES (newline-separated, in order, last line last). The exit status must be
# the guest's `; vmon-exit:`, or $exit_want_instead when set; vmon's stderr must hold the line
# $stderr_want when set.
exit_want_instead='' stderr_want=''
hostile() {
	local name=$1 want=$2 asm=tests/guests/hostile/$1.asm status errors=()
	shift 2
	local exit_want=$exit_want_instead
	[ -n "$exit_want" ] || exit_want=$(sed -n 's/^; vmon-exit: *//p' "$asm")
	timeout "$timeout" "$vmon" run --engine "$engine" --console stdio "$@" \
		--kernel "build/guests/hostile/$name.bin" </dev/null >"$work/out" 2>"$work/err"
	status=$?
	[ "$status" = "$exit_want" ] || errors+=("exit status $status, expected $exit_want")
	# Only the printable lines: the hammer's port writes reach the UART too.
	if [ "$(LC_ALL=C grep -a -x -F "$want" "$work/out" | tr -d '\r')" != "$want" ] ||
	   [ "$(tail -n 1 "$work/out")" != "$(tail -n 1 <<<"$want")" ]; then
		errors+=("console: $(LC_ALL=C tr -c '[:print:]\n' '?' <"$work/out" | tail -n 4 |
			tr '\n' '|')")
	fi
	[ -z "$stderr_want" ] || grep -qxF "$stderr_want" "$work/err" ||
		errors+=("stderr has no line '$stderr_want': $(head -c 300 "$work/err")")
	local report
	report=$(sanitizer_report "$work/err")
	[ -z "$report" ] || errors+=("$report")
	if [ ${#errors[@]} = 0 ]; then ok "hostile/$name"; else fail "hostile/$name" "${errors[@]}"; fi
}

head -c $((1024 * 1024)) /dev/zero >"$work/disk.img"
hostile hammer $'hammer\nhammer done' --disk "$work/disk.img" --rng --net user
# ICMP echo to 10.0.2.2 is answered by libslirp itself; passt would need ping sockets, which
# Debian's default net.ipv4.ping_group_range withholds.
hostile netabuse $'netabuse\nmalformed sent\narp reply\necho reply' --net slirp
# The lone fragment still crashes libslirp 4.7.0's reassembly, now in the helper process: vmon
# takes the link down, the guest finds no ARP reply and ends with its own status (97).
exit_want_instead=97 stderr_want='vmon: virtio-net: the network backend (slirp helper) closed its socket: link down' \
	hostile netfrag $'netfrag\nfragmented echo reply\nhostile fragments sent\nno reply' --net slirp
exit 0
