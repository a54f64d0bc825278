#!/usr/bin/env bash
# Guest user programs under Debian's Linux: tests/guest-programs/usermode.c (fork/exec, COW,
# MAP_SHARED, file mmap, threads and TLS, a guard page repaired by a SIGSEGV handler, faults,
# signals on an alternate stack, a user-mode JIT, ptrace single-stepping, compat mode and
# int 0x80, CPUID), in every user mode vmon offers (`--user-mode`, where the build has it):
#   linux/usermode-MODE         all default checks on 2 vCPUs; the output must equal the same
#                               binary's run on this host (the reference), but for the cpuid
#                               line, which must show vmon's CPU model
#   linux/usermode-smp4-MODE    threads and TLS on 4 vCPUs, and touching 512 MiB
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh. Guest consoles are kept
# in build/tests/linux_usermode/.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

logdir=build/tests/linux_usermode
. tests/integration/linux_lib.sh

modes=(bt)
if build/vmon run --help 2>&1 | grep -q -- '--user-mode'; then
	modes=(bt direct auto)
fi
names=()
for m in "${modes[@]}"; do names+=("linux/usermode-$m" "linux/usermode-smp4-$m"); done
need_guest "${names[@]}"

programs=build/guest-programs.cpio.gz
prog=build/guest-programs/usermode
if [ ! -f "$programs" ] || [ ! -x "$prog" ]; then
	for n in "${names[@]}"; do echo "SKIP $n: $programs not built (make check builds it)"; done
	exit 0
fi
initrd=$logdir/initramfs-usermode.cpio.gz
cat "$guest/initramfs.cpio.gz" "$programs" >"$initrd"

# The reference: the same static binary on this host. vmon's CPU model replaces the host's.
vmon_cpuid='cpuid: GenuineIntel family 6 model 0x3f'
reference() { "$prog" "$@" 2>&1 | sed "s/^cpuid: .*/$vmon_cpuid/"; }
ref_all=$(reference)
ref_smp4=$(reference threads tls touch512)
if ! grep -qx 'usermode: 0 failed' <<<"$ref_all$(printf '\n')$ref_smp4"; then
	for n in "${names[@]}"; do echo "SKIP $n: the program fails natively on this host"; done
	printf '%s\n%s\n' "$ref_all" "$ref_smp4" | sed 's/^/    /'
	exit 0
fi

for m in "${modes[@]}"; do
	vmon_args=()
	[ "${#modes[@]}" = 1 ] || vmon_args=(--user-mode "$m")
	mem=256M
	boot "linux/usermode-$m" 2 usermode
	check "linux/usermode-$m" "$ref_all"
	mem=768M
	boot "linux/usermode-smp4-$m" 4 "usermode threads tls touch512"
	check "linux/usermode-smp4-$m" "$ref_smp4"
done
