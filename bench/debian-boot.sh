#!/usr/bin/env bash
# Time from start to the systemd login prompt of a whole Debian system (the image of
# scripts/build-debian-image.sh: its own kernel and initramfs, ext4 root on virtio-blk, a
# user-mode network), vmon's bt engine vs QEMU TCG on the same image, kernel and devices. The
# root is a fresh sparse copy for every boot. BENCH_RUNS boots each (default 3), interleaved;
# medians. Prints figures, never fails on time.
set -uo pipefail
cd "$(dirname "$0")/.." || exit

runs=${BENCH_RUNS:-3}
vmon=${VMON:-build/vmon}
img=build/debian
out=build/bench/debian-boot
limit=900
mkdir -p "$out"
if ! scripts/build-debian-image.sh "$img" >"$out/build.log" 2>&1; then
	echo "debian-boot: no Debian image (see $out/build.log); skipped"
	exit 0
fi
. tests/lib/console.sh
cmdline="console=ttyS0 root=/dev/vda rw"
prompt='root@debian-vmon:~# '

# boot NAME: one boot to the prompt, then poweroff; appends the seconds to t[NAME].
declare -A t
boot() {
	local name=$1 disk=$out/disk.img argv
	cp --sparse=always "$img/disk.img" "$disk"
	case $name in
	qemu) argv=(qemu-system-x86_64 -accel tcg -m 1G -smp 1 -nographic -no-reboot
		-kernel "$img/vmlinuz" -initrd "$img/initrd.img" -append "$cmdline"
		-drive "file=$disk,if=virtio,format=raw" -nic user,model=virtio-net-pci) ;;
	vmon) argv=("$vmon" run --engine bt --mem 1G --cpus 1 --kernel "$img/vmlinuz"
		--initrd "$img/initrd.img" --cmdline "$cmdline" --disk "$disk" --net user) ;;
	esac
	console_start "$out/$name" "${argv[@]}"
	if console_wait "$prompt" "$limit"; then
		t[$name]+=" $(console_elapsed)"
	else
		echo "debian-boot: $name: no prompt after $limit s (console $out/$name.out)"
	fi
	console_send poweroff
	console_finish 120
	rm -f "$disk"
}

engines=(vmon)
command -v qemu-system-x86_64 >/dev/null && engines+=(qemu)
for ((r = 1; r <= runs; r++)); do
	for e in "${engines[@]}"; do boot "$e"; done
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
echo "Debian 12 with systemd to the login prompt on ttyS0 (1 vCPU, 1 GiB), median of $runs"
for e in "${engines[@]}"; do
	v=(${t[$e]:-})
	[ ${#v[@]} -gt 0 ] && printf '%-6s %8s s   (%s)\n' "$e" "$(median "${v[@]}")" "${t[$e]# }"
done
if [ -n "${t[vmon]:-}" ] && [ -n "${t[qemu]:-}" ]; then
	awk -v a="$(median ${t[vmon]})" -v b="$(median ${t[qemu]})" \
		'BEGIN { printf "vmon/qemu %.2fx\n", a / b }'
fi
exit 0
