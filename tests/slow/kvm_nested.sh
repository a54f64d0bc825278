#!/usr/bin/env bash
# Slow check (make kvm-nested, not part of make check): vmon's kvm engine on a real KVM, on a
# host without /dev/kvm. QEMU's TCG emulates a CPU with AMD SVM (-cpu max); in it Debian's cloud
# kernel (build/guest/vmlinuz) boots as L1, loads kvm + kvm_amd from the same kernel package, and
# vmon's kvm engine runs its guests as L2 there (slow: the L2 vCPU is emulated by TCG too):
#   - the kvm engine's error without /dev/kvm (before the modules are loaded),
#   - every tiny guest on --engine kvm (tests/run.sh --guests kvm), smp also with --cpus 4; but
#     not those that check what QEMU TCG gets wrong (tcg_deviant below): TCG executes L2's code,
#   - --engine auto on one guest (the probe picks an engine and says why),
#   - snapshot/restore and live migration on the kvm engine: tests/integration/snapshot_tiny.sh
#     and migrate_tiny.sh (the ticker snapshotted and migrated mid-count, a guest rewriting
#     4096 pages migrated and verified, corrupt files, the other engine refused, ...) with
#     VMON_TEST_ENGINE=kvm, their names suffixed /kvm,
#   - bench/kvm.sh's measurements,
#   - Debian's kernel under the kvm engine until its first lines (tests/slow/linux_kvm.sh), then
#     a whole boot with 4 vCPUs to its /init, which checks /data/blob and the CPU topology and
#     powers off (tests/integration/linux_lib.sh), and one snapshotted mid-run and restored.
# Prints every result line and the bench table, then `N passed, N failed`; exit status 1 if
# anything failed. SKIPs (exit 0) without qemu-system-x86_64 or when the CPU model has no SVM.
#
# The L1 initramfs is the Linux guest's (its /init runs vmon.run="CMD") followed by a second,
# uncompressed archive with /nested/vmon (a copy of the files the tests need, laid out as in the
# tree), bash, the shared libraries and the modules; the modules are cached under build/kvm-nested/.
#
# Environment: KVM_NESTED_CPU (QEMU -cpu model, default max), KVM_NESTED_TIMEOUT (whole run,
# default 1500 s), LINUX_KVM_TIMEOUT (the L2 Linux, default 180 s), KVM_NESTED_BENCH_RUNS (3),
# KVM_NESTED_STEPS (what L1 runs, comma-separated: default guests,snapshot,bench,linux).
#
# `tests/slow/kvm_nested.sh --l1 CPU L2_TIMEOUT BENCH_RUNS` is the part that runs inside L1.
set -u
cd "$(dirname "$0")/../.." || exit 1

if [ "${1:-}" = --l1 ]; then
	cpu=$2 l2_timeout=$3 bench_runs=$4 steps=$5
else
	cpu=${KVM_NESTED_CPU:-max}
	l2_timeout=${LINUX_KVM_TIMEOUT:-180}
	bench_runs=${KVM_NESTED_BENCH_RUNS:-3}
	steps=${KVM_NESTED_STEPS:-guests,snapshot,bench,linux}
fi
# Whether the comma-separated $steps names $1.
step() { [[ ,$steps, == *,$1,* ]]; }
modules=(irqbypass kvm kvm-amd)	# load order: each needs the ones before it
declare -A tcg_deviant=(
	[archfaults]="QEMU TCG runs L2's code: it raises #GP, not #SS, for a non-canonical stack access (tests/guests/README.md)"
	[seglimit]="QEMU TCG runs L2's code: it does not check segment limits (tests/guests/README.md)"
)
done_marker="kvm-nested: L1 done"

# ---- inside L1 -------------------------------------------------------------------------------

# --engine auto: one line on stderr names the engine and why; then run.sh compares a guest's
# output and exit status under it.
l1_engine_auto() {
	local note
	note=$(build/vmon run --engine auto --console none --boot-sector build/guests/pio.bin \
		2>&1 >/dev/null </dev/null)
	if [[ $note =~ ^vmon:\ engine\ (kvm|bt)\ \(.+\)$ ]]; then
		echo "ok   auto/note: $note"
	else
		echo "FAIL auto/note: '$note'"
	fi
	VMON_SAN=build/vmon-san tests/run.sh --guests auto pio | grep -v ' passed, '
}

# Debian's Linux, 4 vCPUs, under the kvm engine up to its /init and its poweroff: the blob's
# hash, and 4 CPUs seen as 4 cores of one package (the topology the engine writes into CPUID).
l1_linux_boot() {
	local logdir=/tmp/linux-kvm
	VMON_LINUX_ENGINE=kvm VMON_LINUX_TIMEOUT=$l2_timeout
	. tests/integration/linux_lib.sh
	mkdir -p "$logdir"
	boot linux/kvm-smp4 4 "sha256sum /data/blob; grep -c processor /proc/cpuinfo; grep -E '^(physical id|cpu cores)' /proc/cpuinfo | sort -u | tr -d '\t'"
	check linux/kvm-smp4 "$(cat "$guest/blob.sha256")  /data/blob
4
cpu cores: 4
physical id: 0"
}

# wait_line FILE PATTERN SECONDS
wait_line() {
	for _ in $(seq $(($3 * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# Debian's Linux, 1 vCPU, under the kvm engine: a shell loop N=0 .. N=29 a second apart,
# snapshotted mid-count (staying paused), quit, and restored into a new vmon, which must go on
# with the next number and power off (tests/integration/snapshot_linux.sh, under bt).
l1_linux_snapshot() {
	local dir=/tmp/linux-snap errors=() pid status last first all
	local loop='i=0; while [ $i -lt 30 ]; do echo N=$i; i=$((i+1)); sleep 1; done'
	mkdir -p $dir
	timeout -k 5 "$l2_timeout" build/vmon run --engine kvm --mem 256M \
		--console $dir/run1.console --api-sock $dir/api.sock --kernel build/guest/vmlinuz \
		--initrd build/guest/initramfs.cpio.gz --cmdline "console=ttyS0 vmon.run=\"$loop\"" \
		</dev/null 2>$dir/run1.stderr &
	pid=$!
	if ! wait_line $dir/run1.console '^N=2' "$l2_timeout"; then
		echo "FAIL linux/snapshot/kvm: the guest never counted to 2"
		tail -n 3 $dir/run1.console $dir/run1.stderr | sed 's/^/    | /'
		kill "$pid" 2>/dev/null
		return
	fi
	build/vmon api $dir/api.sock snapshot path=$dir/guest.snap paused=true >$dir/reply 2>&1 ||
		errors+=("snapshot: $(cat $dir/reply)")
	build/vmon api $dir/api.sock quit >/dev/null 2>&1
	wait "$pid"
	status=$?
	[ $status = 0 ] || errors+=("first vmon: exit status $status")
	last=$(grep '^N=' $dir/run1.console | tail -n 1 | tr -d '\r')
	timeout -k 5 "$l2_timeout" build/vmon run --restore $dir/guest.snap --engine kvm \
		--console $dir/run2.console </dev/null 2>$dir/run2.stderr
	status=$?
	[ $status = 0 ] || errors+=("restored vmon: exit status $status" "$(tail -n 3 $dir/run2.stderr)")
	first=$(grep '^N=' $dir/run2.console | head -n 1 | tr -d '\r')
	[ -n "$first" ] && [ "${first#N=}" = $((${last#N=} + 1)) ] ||
		errors+=("count went $last -> $first")
	grep -q '^VMON-RUN-EXIT=0' $dir/run2.console || errors+=("no VMON-RUN-EXIT=0 after restore")
	all=$(cat $dir/run1.console $dir/run2.console | tr -d '\r' | grep '^N=' | tr '\n' ' ')
	[ "$all" = "$(for i in $(seq 0 29); do printf 'N=%d ' "$i"; done)" ] || errors+=("count: $all")
	if [ ${#errors[@]} = 0 ]; then
		echo "ok   linux/snapshot/kvm: $last in the snapshot, $first first after the restore"
	else
		echo "FAIL linux/snapshot/kvm"
		printf '    %s\n' "${errors[@]}"
	fi
}

l1_main() {
	local status m

	echo "kvm-nested: L1 $(uname -r), $(nproc) vCPUs, $(awk '/MemTotal/ { print $2 " kB" }' /proc/meminfo)"
	if ! grep -qw svm /proc/cpuinfo; then
		echo "SKIP kvm-nested: the L1 CPU (QEMU -cpu $cpu) has no svm flag"
		echo "$done_marker"
		return
	fi

	build/vmon run --engine kvm --boot-sector build/guests/realmode.bin \
		</dev/null >/tmp/cli.out 2>/tmp/cli.err
	status=$?
	if [ "$status" = 2 ] && [ "$(cat /tmp/cli.err)" = "vmon: /dev/kvm: No such file or directory" ]; then
		echo "ok   cli/kvm-unavailable: $(cat /tmp/cli.err)"
	else
		echo "FAIL cli/kvm-unavailable: exit status $status"
		sed 's/^/    | /' /tmp/cli.err
	fi

	for m in "${modules[@]}"; do
		insmod "/nested/modules/$m.ko" || break
	done
	if ! [ -c /dev/kvm ]; then
		echo "FAIL kvm-nested/modules: no /dev/kvm after loading ${modules[*]}"
		dmesg | grep -iE 'kvm|svm' | tail -n 5 | sed 's/^/    | /'
		echo "$done_marker"
		return
	fi
	echo "ok   kvm-nested/modules: $(dmesg | sed -n 's/^\[[^]]*\] \(\(kvm\|SVM\): \)/\1/p' |
		awk '{ printf "%s%s", sep, $0; sep = "; " }')"

	if step guests; then
		# run.sh's own summary line would be taken for ours.
		for m in "${!tcg_deviant[@]}"; do
			echo "SKIP $m/kvm: ${tcg_deviant[$m]}"
		done
		VMON_SAN=build/vmon-san tests/run.sh --guests kvm | grep -v ' passed, '
		VMON_SAN=build/vmon-san tests/run.sh --guests kvm smp --cpus 4 | grep -v ' passed, '
		l1_engine_auto
	fi

	if step snapshot; then
		ip link set lo up	# migrate_tiny.sh migrates over tcp:127.0.0.1 too
		for t in snapshot_tiny migrate_tiny; do
			VMON_TEST_ENGINE=kvm VMON_SAN=build/vmon-san "tests/integration/$t.sh" |
				sed -E 's#^(ok|FAIL) ([^ ]+)#\1 \2/kvm#; s#^SKIP ([^:]+):#SKIP \1/kvm:#'
		done
	fi

	# A hang here must not eat the whole run's time limit.
	if step bench; then
		if timeout -k 5 600 bench/kvm.sh --no-build "$bench_runs"; then
			echo "ok   bench/kvm"
		else
			echo "FAIL bench/kvm: exit status $? (124: timed out after 600 s)"
		fi
	fi

	if step linux; then
		LINUX_KVM_TIMEOUT=$l2_timeout tests/slow/linux_kvm.sh
		l1_linux_boot
		l1_linux_snapshot
	fi
	echo "$done_marker"
}

if [ "${1:-}" = --l1 ]; then
	l1_main
	exit 0
fi

# ---- on the host -----------------------------------------------------------------------------

out=build/kvm-nested
stage=$out/stage

die() {
	echo "kvm_nested.sh: $*" >&2
	exit 1
}

if ! command -v qemu-system-x86_64 >/dev/null; then
	echo "SKIP kvm-nested: qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
	exit 0
fi
[ -f build/guest/vmlinuz ] || scripts/build-guest.sh build/guest >/dev/null || exit 1
for f in build/vmon build/vmon-san build/bench/kvm_floor build/bench/exit_now.bin; do
	[ -f "$f" ] || die "$f missing (make kvm-nested builds it)"
done

# kvm.ko and kvm-amd.ko of the package build/guest/vmlinuz came from (build-guest's stamp).
. scripts/debs.sh
kernel_spec=$(grep -m 1 '^linux-image-' build/guest/cloud.stamp) ||
	die "build/guest/cloud.stamp names no kernel package"
moddir=$out/modules-${kernel_spec/=/_}
fetch_modules() {
	local tmp ko m
	tmp=$(mktemp -d "$out/.debs.XXXXXX")
	if ! download_debs "$tmp" "$kernel_spec"; then
		apt_update
		download_debs "$tmp" "$kernel_spec" || { rm -rf "$tmp"; return 1; }
	fi
	dpkg-deb -x "$tmp"/*.deb "$tmp/root"
	if ! cmp -s "$(find "$tmp/root/boot" -name 'vmlinuz-*' | head -n 1)" build/guest/vmlinuz; then
		rm -rf "$tmp"
		die "the kernel of $kernel_spec is not build/guest/vmlinuz"
	fi
	mkdir -p "$tmp/mod"
	for m in "${modules[@]}"; do
		ko=$(find "$tmp/root/lib/modules" -name "$m.ko" | head -n 1)
		[ -n "$ko" ] || { rm -rf "$tmp"; die "$kernel_spec has no $m.ko"; }
		cp "$ko" "$tmp/mod/"
	done
	rm -rf "$moddir"
	mv "$tmp/mod" "$moddir"
	rm -rf "$tmp"
}
mkdir -p "$out"
[ -f "$moddir/kvm-amd.ko" ] || fetch_modules || die "cannot fetch $kernel_spec"

# put FILE...: copy into the staging tree at the same relative path.
put() {
	local f
	for f in "$@"; do
		mkdir -p "$stage/nested/vmon/$(dirname "$f")"
		cp "$f" "$stage/nested/vmon/$f"
	done
}

# put_libs EXE...: the shared libraries and the loader EXE needs, at their absolute paths.
put_libs() {
	local lib
	for lib in $(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*[^:]$/ { print $1 }'); do
		[ -f "$stage$lib" ] && continue
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
}

# put_exe EXE...: EXE at its absolute path, and its libraries.
put_exe() {
	local exe
	for exe in "$@"; do
		mkdir -p "$stage$(dirname "$exe")"
		cp -L "$exe" "$stage$exe"
	done
	put_libs "$@"
}

rm -rf "$stage"
mkdir -p "$stage/nested/modules"
cp "$moddir"/*.ko "$stage/nested/modules/"
put tests/run.sh tests/slow/linux_kvm.sh tests/slow/kvm_nested.sh tests/integration/linux_lib.sh \
	tests/integration/snapshot_tiny.sh tests/integration/migrate_tiny.sh \
	bench/kvm.sh tests/guests/*.asm tests/guests/*.expected tests/guests/module.txt \
	build/guests/*.bin build/vmon build/vmon-san build/bench/kvm_floor build/bench/*.bin \
	build/guest/vmlinuz build/guest/initramfs.cpio.gz build/guest/blob.sha256
for g in "${!tcg_deviant[@]}"; do
	rm "$stage/nested/vmon/tests/guests/$g.asm"
done
put_exe /bin/bash
[ -x /usr/bin/time ] && put_exe /usr/bin/time	# bench/kvm.sh's max RSS figures
put_libs build/vmon build/vmon-san build/bench/kvm_floor

# The guest's (compressed) archive first, ours (uncompressed: faster to unpack under TCG) after.
find "$stage" -exec touch -h -d @0 {} +
(cd "$stage" && find . -mindepth 1 | sort | cpio --quiet -o -H newc -R 0:0) >"$out/extra.cpio" ||
	die "cpio failed"
# Linux reads an uncompressed archive only at a 4-byte aligned offset: pad the gzip member.
gz_size=$(stat -c %s build/guest/initramfs.cpio.gz)
{ cat build/guest/initramfs.cpio.gz; head -c $(((4 - gz_size % 4) % 4)) /dev/zero
  cat "$out/extra.cpio"; } >"$out/initramfs.cpio"
rm -f "$out/extra.cpio"

echo "kvm-nested: L1 = QEMU TCG -cpu $cpu, ${kernel_spec%%=*}, $(du -m "$out/initramfs.cpio" | cut -f1) MiB initramfs"
log=$out/console.log	# line-buffered, so it shows how far L1 got while it runs
t0=$SECONDS
timeout "${KVM_NESTED_TIMEOUT:-1500}" qemu-system-x86_64 -accel tcg -cpu "$cpu" -smp 2 -m 2G \
	-display none -monitor none -serial stdio -no-reboot -net none \
	-kernel build/guest/vmlinuz -initrd "$out/initramfs.cpio" \
	-append "console=ttyS0 quiet vmon.run=\"/nested/vmon/tests/slow/kvm_nested.sh --l1 $cpu $l2_timeout $bench_runs $steps\"" \
	</dev/null 2>&1 | stdbuf -oL tr -d '\r' | tee "$log" | {
	passed=0 failed=0 skipped=0 started=no finished=no
	while IFS= read -r line; do
		case $line in
		VMON-INIT-START) started=yes; continue ;;
		VMON-RUN-EXIT=*) continue ;;
		"$done_marker") finished=yes; continue ;;
		esac
		[ $started = yes ] && [ $finished = no ] || continue
		echo "$line"
		case $line in
		"ok "*) passed=$((passed + 1)) ;;
		"FAIL "*) failed=$((failed + 1)) ;;
		"SKIP "*) skipped=$((skipped + 1)) ;;
		esac
	done
	if [ $finished = no ]; then
		echo "FAIL kvm-nested/l1: L1 did not finish (see $log); its last lines:"
		tail -n 15 "$log" | sed 's/^/    | /'
		failed=$((failed + 1))
	fi
	echo "kvm-nested: $((SECONDS - t0)) s in QEMU"
	echo "$passed passed, $failed failed"
	[ $failed = 0 ]
}
