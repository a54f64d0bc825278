#!/usr/bin/env bash
# Slow check (make check-slow): Debian's memtest86+ v6 (package memtest86+), booted as it ships,
# through its Linux boot protocol image with --kernel under bt, runs its first pass over 16 MiB
# and shows it on the serial console: the pass counter reaches 1 with no errors. A pass includes
# the bit fade test (two 80-second waits), so this takes minutes (MEMTEST_TIMEOUT, default 1800 s).
set -u
cd "$(dirname "$0")/../.."
image=/boot/memtest86+x64.bin
name=memtest/first-pass
if [ ! -r "$image" ]; then
	echo "SKIP $name: no $image (package memtest86+)"
	exit 0
fi
mkdir -p build/tests/memtest
log=build/tests/memtest/console
start=$(date +%s)
timeout "${MEMTEST_TIMEOUT:-1800}" build/vmon run --engine bt --mem 16M --console stdio \
	--kernel "$image" --cmdline "console=ttyS0,115200" </dev/null >"$log" 2>&1 &
pid=$!
# The screen is drawn with cursor motions: the status line reads "Pass:  N        Errors: N".
while kill -0 "$pid" 2>/dev/null; do
	if grep -a -q -E 'Pass: +1 +Errors: +0' "$log"; then
		kill "$pid"
		wait "$pid" 2>/dev/null
		echo "ok $name ($(($(date +%s) - start)) s)"
		exit 0
	fi
	sleep 5
done
wait "$pid"
echo "FAIL $name: no completed pass without errors (status $?, console in $log)"
exit 1
