#!/usr/bin/env bash
# qcow2 disks (src/block/qcow2.c) on images qemu-img makes, in build/tests/linux_qcow2/:
#   qcow2/bad-l2           an L2 entry pointing past the end of the file: one line, status 2
#   qcow2/bad-refcount     a refcount table entry pointing past the end: one line, status 2
#   qcow2/backing-loop     two images that back each other: one line, status 2
#   linux/qcow2-read       the guest's sha256sum of a compressed qcow2 equals the raw source's
#   linux/qcow2-write      the guest writes /data/blob through virtio-blk: `qemu-img check` finds
#                          the image clean and `qemu-img convert` gives back the blob
#   linux/qcow2-backing    an overlay on a raw base reads as the base; the guest's write lands in
#                          the overlay and the base is unchanged
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

logdir=build/tests/linux_qcow2
. tests/integration/linux_lib.sh
cli_names=(qcow2/bad-l2 qcow2/bad-refcount qcow2/backing-loop)
names=(linux/qcow2-read linux/qcow2-write linux/qcow2-backing)
mkdir -p "$logdir"
if ! command -v qemu-img >/dev/null; then
	for name in "${cli_names[@]}" "${names[@]}"; do echo "SKIP $name: no qemu-img (qemu-utils)"; done
	exit 0
fi
vmon=${VMON_SAN:-build/vmon-san}

# be64 FILE OFFSET: the big-endian 64-bit number at OFFSET.
be64() { echo $((16#$(od -An -tx1 -j "$2" -N 8 "$1" | tr -d ' \n'))); }
# poke64 FILE OFFSET VALUE: writes VALUE big-endian at OFFSET.
poke64() {
	local hex i bytes=''
	hex=$(printf %016x "$3")
	for i in 0 2 4 6 8 10 12 14; do bytes+="\\x${hex:$i:2}"; done
	printf "$bytes" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# bad_image NAME MESSAGE FILE...: vmon must refuse the disk FILE with status 2 and one line
# containing MESSAGE.
bad_image() {
	local name=$1 msg=$2 err=$logdir/${1#qcow2/}.err status
	shift 2
	timeout 60 "$vmon" run --engine bt --boot-sector build/guests/realmode.bin --disk "$1" \
		</dev/null >/dev/null 2>"$err"
	status=$?
	if [ "$status" = 2 ] && [ "$(wc -l <"$err")" = 1 ] && grep -q "$msg" "$err"; then
		echo "ok $name"
	else
		echo "FAIL $name"
		echo "    status $status, expected 2 and one line with '$msg':"
		sed 's/^/    | /' "$err"
	fi
}

img=$logdir/bad.qcow2
qemu-img create -q -f qcow2 -o cluster_size=4096 "$img" 1M
qemu-io -c 'write -P 0x11 0 8k' "$img" >/dev/null
l2=$(($(be64 "$img" $(be64 "$img" 40)) & 0x00fffffffffffe00))
poke64 "$img" $((l2 + 8)) $(((1 << 63) | (1 << 40)))
bad_image qcow2/bad-l2 "data cluster outside the file" "$img"

qemu-img create -q -f qcow2 -o cluster_size=4096 "$img" 1M
poke64 "$img" $(be64 "$img" 48) $((1 << 40))
bad_image qcow2/bad-refcount "refcount block outside the file" "$img"

a=$logdir/loop-a.qcow2 b=$logdir/loop-b.qcow2
qemu-img create -q -f qcow2 "$a" 1M
qemu-img create -q -f qcow2 -b "$(realpath "$a")" -F qcow2 "$b"
qemu-img rebase -u -b "$(realpath "$b")" -F qcow2 "$a"
bad_image qcow2/backing-loop "backing file loop" "$b"

need_guest "${names[@]}"
src=$logdir/src.raw rd=$logdir/read.qcow2 wr=$logdir/write.qcow2
base=$logdir/base.raw top=$logdir/top.qcow2
head -c $((2 * 1024 * 1024)) /dev/urandom >"$src"
head -c $((1024 * 1024)) /dev/zero >>"$src"		# compresses: several clusters of zeros
qemu-img convert -c -O qcow2 "$src" "$rd"
qemu-img create -q -f qcow2 "$wr" 4M
head -c $((1024 * 1024)) /dev/urandom >"$base"
qemu-img create -q -f qcow2 -o cluster_size=4096 -b "$(realpath "$base")" -F raw "$top"
sum_src=$(sha256sum <"$src" | cut -d' ' -f1)
sum_base=$(sha256sum <"$base" | cut -d' ' -f1)
blob_sum=$(cat "$guest/blob.sha256")

cmd="echo read=\$(sha256sum /dev/vda | cut -d' ' -f1);"
cmd+=" dd if=/data/blob of=/dev/vdb bs=4096 conv=fsync 2>/dev/null; echo write=\$?;"
cmd+=" echo backing=\$(sha256sum /dev/vdc | cut -d' ' -f1);"
cmd+=" dd if=/data/blob of=/dev/vdc bs=512 seek=3 conv=fsync 2>/dev/null; echo overlay=\$?"
vmon_args=(--disk "$rd,ro" --disk "$wr" --disk "$top")
boot linux/qcow2-read 1 "$cmd"

line() { sed -n "s/^$1=//p" <<<"$output"; }
console=$logdir/qcow2-read.console
why=$reason
[ -n "$why" ] || [ "$(line read)" = "$sum_src" ] || why="read=$(line read), expected $sum_src"
report linux/qcow2-read "$why" "$console"

why=$reason
[ -n "$why" ] || [ "$(line write)" = 0 ] || why="the guest's dd failed"
[ -n "$why" ] || qemu-img check -q "$wr" >"$logdir/check.out" 2>&1 ||
	why="qemu-img check: $(head -n 3 "$logdir/check.out" | tr '\n' ' ')"
[ -n "$why" ] || { qemu-img convert -O raw "$wr" "$logdir/out.raw" &&
		   [ "$(head -c 65536 "$logdir/out.raw" | sha256sum | cut -d' ' -f1)" = "$blob_sum" ]; } ||
	why="the image does not hold /data/blob"
report linux/qcow2-write "$why" "$console"

why=$reason
[ -n "$why" ] || [ "$(line backing)" = "$sum_base" ] || why="backing=$(line backing), expected $sum_base"
[ -n "$why" ] || [ "$(line overlay)" = 0 ] || why="the write to the overlay failed"
[ -n "$why" ] || [ "$(sha256sum <"$base" | cut -d' ' -f1)" = "$sum_base" ] || why="the base changed"
[ -n "$why" ] || qemu-img check -q "$top" >"$logdir/check.out" 2>&1 ||
	why="qemu-img check of the overlay: $(head -n 3 "$logdir/check.out" | tr '\n' ' ')"
[ -n "$why" ] || { qemu-img convert -O raw "$top" "$logdir/out.raw" &&
		   [ "$(head -c $((1536 + 65536)) "$logdir/out.raw" | tail -c 65536 | sha256sum |
			cut -d' ' -f1)" = "$blob_sum" ]; } ||
	why="the overlay does not hold /data/blob at sector 3"
report linux/qcow2-backing "$why" "$console"
