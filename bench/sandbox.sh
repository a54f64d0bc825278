#!/usr/bin/env bash
# The seccomp sandbox's cost: the Linux guest (bt engine) booted to poweroff with the sandbox on
# (the default) and with --sandbox off, runs interleaved (on, off, on, off, ...) so that the
# shared host's load hits both alike. Two workloads: a plain boot, and a boot that reads a 32 MiB
# virtio disk with dd (one preadv per request, the device path that makes system calls).
# Prints every run's seconds (process start to exit) and the medians; BENCH_RUNS (default 5) runs
# per mode. Then bench/sandbox_syscall.c: the filter's cost on one system call. Never fails
# because a figure is slow.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
export LC_ALL=C	# EPOCHREALTIME with a '.' separator

runs=${BENCH_RUNS:-5}
logdir=build/bench/sandbox
mkdir -p "$logdir"
if ! scripts/build-guest.sh build/guest >/dev/null 2>"$logdir/build-guest.log"; then
	echo "sandbox: guest image unavailable (see $logdir/build-guest.log); skipped"
	exit 0
fi
disk=$logdir/disk.img
head -c $((32 << 20)) /dev/urandom >"$disk"

usecs() { local t=${1/./}; echo $((10#$t)); }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# boot MODE CMD [ARGS...]: one boot to poweroff; prints its seconds, or "fail".
boot() {
	local mode=$1 cmd=$2 start end status
	shift 2
	start=$(usecs "$EPOCHREALTIME")
	timeout 120 build/vmon run --engine bt --mem 256M --console none --sandbox "$mode" \
		--kernel build/guest/vmlinuz --initrd build/guest/initramfs.cpio.gz "$@" \
		--cmdline "console=ttyS0 vmon.run=\"$cmd\"" </dev/null 2>"$logdir/$mode.err"
	status=$?
	end=$(usecs "$EPOCHREALTIME")
	if [ $status != 0 ]; then
		echo fail
	else
		awk -v us=$((end - start)) 'BEGIN { printf "%.3f\n", us / 1e6 }'
	fi
}

# workload NAME CMD [ARGS...]
workload() {
	local name=$1 on=() off=() t
	shift
	for _ in $(seq "$runs"); do
		on+=("$(boot on "$@")")
		off+=("$(boot off "$@")")
	done
	printf '%-10s sandbox on:  %s  (median %s s)\n' "$name" "${on[*]}" \
		"$(printf '%s\n' "${on[@]}" | grep -v fail | median)"
	printf '%-10s sandbox off: %s  (median %s s)\n' "$name" "${off[*]}" \
		"$(printf '%s\n' "${off[@]}" | grep -v fail | median)"
}

echo "Linux guest under bt to poweroff, seconds, $runs runs per mode interleaved"
workload boot true
workload disk-read "dd if=/dev/vda of=/dev/null bs=64k" --disk "$disk,ro"

if gcc -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -Isrc -o "$logdir/syscall" \
	bench/sandbox_syscall.c build/obj/src/sandbox.o -lseccomp 2>"$logdir/syscall.log"; then
	"$logdir/syscall"
else
	echo "sandbox_syscall: build failed (see $logdir/syscall.log)"
fi
