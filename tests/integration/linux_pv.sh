#!/usr/bin/env bash
# Debian's cloud kernel on vmon's paravirtual interface (the KVM ABI) under the bt engine, 2 CPUs:
#   linux/pv-clock  Linux detects KVM, registers kvm-clock (MSRs 4b564d01/4b564d00) and takes the
#                   TSC frequency from it (exactly 2000.000 MHz, no calibration); it keeps the TSC
#                   as clocksource (invariant TSC rates it above kvm-clock) and kvm-clock can be
#                   selected; it sets up PV IPIs (KVM_HC_SEND_IPI) and PV spinlocks (PV_UNHALT,
#                   KVM_HC_KICK_CPU); dmesg has no clocksource warning (a clocksource or the TSC
#                   marked unstable, skew, calibration failure).
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.  Guest consoles are kept in
# build/tests/linux_pv/.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

logdir=build/tests/linux_pv
. tests/integration/linux_lib.sh
need_guest linux/pv-clock

cs=/sys/devices/system/clocksource/clocksource0/current_clocksource
boot linux/pv-clock 2 "cat $cs; echo kvm-clock >$cs; cat $cs; dmesg | sed 's/^.[^]]*] //' | grep -i -E 'unstable|skew|calibration|MHz|kvm-clock: using msrs|PV IPI|PV spinlocks' | grep -v -i 'command line'"
check linux/pv-clock "tsc
kvm-clock
kvm-clock: Using msrs 4b564d01 and 4b564d00
tsc: Detected 2000.000 MHz processor
kvm-guest: PV spinlocks enabled
kvm-guest: setup PV IPIs"
