#!/usr/bin/env bash
# Debian's cloud kernel + busybox initramfs (scripts/build-guest.sh) under `vmon run --engine bt`:
#   linux/bt-sha256  the guest computes sha256 of /data/blob; it must match blob.sha256 and vmon
#                    must exit 0 after the guest's poweroff.
#   linux/bt-smp2    with --cpus 2, the guest must see 2 processors in /proc/cpuinfo.
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.  Guest consoles are kept in
# build/tests/linux_bt/.  VMON_LINUX_TIMEOUT overrides the per-boot limit (seconds).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

logdir=build/tests/linux_bt
. tests/integration/linux_lib.sh
need_guest linux/bt-sha256 linux/bt-smp2

boot linux/bt-sha256 1 "sha256sum /data/blob"
check linux/bt-sha256 "$(cat "$guest/blob.sha256")  /data/blob"

boot linux/bt-smp2 2 "grep -c processor /proc/cpuinfo"
check linux/bt-smp2 2
