#!/usr/bin/env bash
# A static C CPU benchmark in the Linux guest (tests/guest-programs/cpubench.c: integer sort,
# hashing, memset/copy streaming over 128 MiB), timed by the program itself around each kernel,
# so boot time is not part of any figure. The same binary runs natively on the host, in QEMU TCG
# and in vmon's bt engine (once per --user-mode the build offers). Each kernel's checksum must
# equal the host's, so a wrong run never counts as a fast one. Medians of BENCH_RUNS runs
# (default 3), interleaved. BENCH_QEMU=0 leaves QEMU out. Prints figures; never fails on time.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
export LC_ALL=C

runs=${BENCH_RUNS:-3}
vmon=${VMON:-build/vmon}
kernel=build/guest/vmlinuz
prog=build/guest-programs/cpubench
out=build/bench/guest-cpu
limit=900
kernels=(sort hash stream)

if [ ! -f "$kernel" ] || [ ! -f build/guest/initramfs.cpio.gz ] || [ ! -x "$prog" ] ||
	[ ! -f build/guest-programs.cpio.gz ]; then
	echo "guest-cpu: needs make guest and build/guest-programs.cpio.gz; skipped"
	exit 0
fi
rm -rf "$out" && mkdir -p "$out"
initrd=$out/initramfs.cpio.gz
cat build/guest/initramfs.cpio.gz build/guest-programs.cpio.gz >"$initrd"
cmdline='console=ttyS0 vmon.run=cpubench'

declare -A secs check fail
# record NAME FILE: takes "kernel seconds checksum" lines from FILE.
record() {
	local name=$1 k s c
	while read -r k s c; do
		case " ${kernels[*]} " in *" $k "*) ;; *) continue ;; esac
		secs[$name.$k]+=" $s"
		if [ "$name" = native ]; then
			check[$k]=$c
		elif [ "$c" != "${check[$k]:-}" ]; then
			fail[$name]="$k: checksum $c, expected ${check[$k]:-?} (log $2)"
		fi
	done < <(tr -d '\r' <"$2")
}

configs=(native)
if [ "${BENCH_QEMU:-1}" != 0 ] && command -v qemu-system-x86_64 >/dev/null; then
	configs+=(qemu)
fi
modes=(bt)
if "$vmon" run --help 2>&1 | grep -q -- '--user-mode'; then
	modes=(bt direct auto)
fi
for m in "${modes[@]}"; do configs+=("vmon-$m"); done

for ((r = 1; r <= runs; r++)); do
	for c in "${configs[@]}"; do
		log=$out/$c.$r.log
		[ -z "${fail[$c]:-}" ] || continue
		case $c in
		native) "$prog" >"$log" 2>&1 ;;
		qemu) timeout -k 5 "$limit" qemu-system-x86_64 -accel tcg -m 512M -nographic \
			-no-reboot -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
			</dev/null >"$log" 2>&1 ;;
		vmon-*)
			mode_args=()
			[ "${#modes[@]}" = 1 ] || mode_args=(--user-mode "${c#vmon-}")
			timeout -k 5 "$limit" "$vmon" run --engine bt --mem 512M --console stdio \
				"${mode_args[@]}" --kernel "$kernel" --initrd "$initrd" \
				--cmdline "$cmdline" </dev/null >"$log" 2>&1 ;;
		esac
		record "$c" "$log"
	done
done

median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
med() {
	local v=(${secs[$1.$2]:-})
	if [ -n "${fail[$1]:-}" ] || [ ${#v[@]} -eq 0 ]; then echo -; else median "${v[@]}"; fi
}
ratio() {
	[ "$1" != - ] && [ "$2" != - ] || { echo -; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'
}

echo "cpubench in the guest: seconds timed by the program, median of $runs runs; x = / native"
printf '%-8s' kernel
for c in "${configs[@]}"; do printf ' %16s' "$c"; done
echo
for k in "${kernels[@]}"; do
	printf '%-8s' "$k"
	n=$(med native "$k")
	for c in "${configs[@]}"; do
		v=$(med "$c" "$k")
		if [ "$c" = native ]; then printf ' %16s' "$v"; else printf ' %16s' "$v ($(ratio "$v" "$n"))"; fi
	done
	echo
done
for c in "${configs[@]}"; do
	[ -z "${fail[$c]:-}" ] || echo "$c: ${fail[$c]}"
done
exit 0
