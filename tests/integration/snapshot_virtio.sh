#!/usr/bin/env bash
# Snapshot/restore of a Linux guest (Debian's kernel + busybox, --engine bt) with virtio devices:
# --disk A --disk B,ro --disk C --rng --net user. The guest fetches a file over HTTP, reads the
# first half of vda, prints READY and sleeps; the host snapshots it there (staying paused), quits,
# and restores it into a new vmon with the same devices:
#   linux/snapshot-virtio           the restored guest reads the rest of vda and all of vdb (sums
#                                   as on the host), copies 1 MiB of vda to vdc (the image then
#                                   holds it), /dev/hwrng gives bytes, the guest exits 0
#   linux/snapshot-virtio-net       after the restore the guest fetches the file again from the
#                                   host's HTTP server (slirp's connections are not restored; new
#                                   ones work)
#   linux/snapshot-virtio-mismatch  a restore without the snapshot's devices (a disk missing, a
#                                   disk of another size, no --rng) is one line and exit status 2
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh. Consoles and the API's
# snapshot reply are kept in build/tests/snapshot_virtio/.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

logdir=build/tests/snapshot_virtio
. tests/integration/linux_lib.sh
names=(linux/snapshot-virtio linux/snapshot-virtio-net linux/snapshot-virtio-mismatch)
need_guest "${names[@]}"
if ! command -v python3 >/dev/null; then
	for name in "${names[@]}"; do
		echo "SKIP $name: no python3 for the host's HTTP server"
	done
	exit 0
fi

vmon=build/vmon
sock=$logdir/api.sock
snap=$logdir/guest.snap
a=$logdir/a.img b=$logdir/b.img c=$logdir/c.img
rm -f "$sock" "$snap" "$logdir"/*.console "$logdir"/*.stderr
head -c $((4 * 1024 * 1024)) /dev/urandom >"$a"
head -c $((1024 * 1024)) /dev/urandom >"$b"
head -c $((1024 * 1024)) /dev/zero >"$c"
sum() { sha256sum | cut -d' ' -f1; }
sum_h1=$(head -c $((2 * 1024 * 1024)) "$a" | sum)
sum_h2=$(tail -c $((2 * 1024 * 1024)) "$a" | sum)
sum_c=$(head -c $((1024 * 1024)) "$a" | sum)
sum_b=$(sum <"$b")

www=$logdir/www
mkdir -p "$www"
head -c 100000 /dev/urandom >"$www/file"
sum_file=$(sum <"$www/file")
python3 -u -m http.server --bind 127.0.0.1 --directory "$www" 0 >"$logdir/http.log" 2>&1 &
server=$!
pid=
trap 'kill $server 2>/dev/null; [ -n "$pid" ] && kill "$pid" 2>/dev/null' EXIT
port=
for _ in $(seq 50); do
	port=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$logdir/http.log" | head -n 1)
	[ -n "$port" ] && break
	sleep 0.1
done

ok() { echo "ok $1"; }
fail() { echo "FAIL $1"; shift; printf '    %s\n' "$@"; }
# value FILE KEY: what the guest printed as KEY=...
value() { tr -d '\r' <"$1" | sed -n "s/^$2=//p" | head -n 1; }

get="wget -q -O - http://10.0.2.2:$port/file | sha256sum | cut -d' ' -f1"
cmd="ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 >/dev/null 2>&1;"
cmd+=" echo NET1=\$($get);"
cmd+=" echo H1=\$(dd if=/dev/vda bs=65536 count=32 2>/dev/null | sha256sum | cut -d' ' -f1);"
cmd+=" echo READY; sleep 4;"
cmd+=" echo H2=\$(dd if=/dev/vda bs=65536 skip=32 count=32 2>/dev/null | sha256sum | cut -d' ' -f1);"
cmd+=" echo B=\$(sha256sum /dev/vdb | cut -d' ' -f1);"
cmd+=" dd if=/dev/vda of=/dev/vdc bs=65536 count=16 conv=fsync 2>/dev/null; echo W=\$?;"
cmd+=" echo RNG=\$(head -c 32 /dev/hwrng | wc -c);"
cmd+=" echo NET2=\$($get)"
devices=(--disk "$a" --disk "$b,ro" --disk "$c" --rng --net user)

timeout -k 5 "$limit" "$vmon" run --engine bt --mem 256M --console "$logdir/run1.console" \
	--api-sock "$sock" "${devices[@]}" --kernel "$guest/vmlinuz" \
	--initrd "$guest/initramfs.cpio.gz" --cmdline "console=ttyS0 vmon.run=\"$cmd\"" \
	</dev/null 2>"$logdir/run1.stderr" &
pid=$!
if ! wait_for "$logdir/run1.console" '^READY' "$limit"; then
	for name in "${names[@]}"; do
		fail "$name" "the guest never printed READY" "$(tail -3 "$logdir/run1.console")"
	done
	exit 0
fi
errors=()
reply=$("$vmon" api "$sock" snapshot path="$snap" paused=true 2>&1) ||
	errors+=("snapshot: $reply")
echo "$reply" >"$logdir/snapshot.reply"
"$vmon" api "$sock" quit >/dev/null 2>&1
wait "$pid"
status=$?
pid=
[ $status = 0 ] || errors+=("first vmon: exit status $status")
grep -q '^H2=' "$logdir/run1.console" && errors+=("the snapshot came after the guest went on")
[ "$(value "$logdir/run1.console" H1)" = "$sum_h1" ] || errors+=("H1 before the snapshot")

# ---- the wrong devices: one line, exit 2, nothing run
merrors=()
mismatch() {	# mismatch EXPECTED-MESSAGE ARGS...
	local want=$1 out
	shift
	out=$("$vmon" run --restore "$snap" --engine bt --console none "$@" </dev/null 2>&1)
	local st=$?
	[ $st = 2 ] && [ "$out" = "$want" ] ||
		merrors+=("$* -> exit $st: $out" "    expected: $want")
}
have="snapshot has 3 disks (vda 4 MiB, vdb 1 MiB ro, vdc 1 MiB)"
mismatch "vmon: $snap: $have, got 1 disk (vda 4 MiB)" --disk "$a" --rng --net user
mismatch "vmon: $snap: $have, got 3 disks (vda 4 MiB, vdb 1 MiB, vdc 1 MiB)" \
	--disk "$a" --disk "$b" --disk "$c" --rng --net user
mismatch "vmon: $snap: $have, got 3 disks (vda 1 MiB ro, vdb 4 MiB, vdc 1 MiB)" \
	--disk "$b,ro" --disk "$a" --disk "$c" --rng --net user
mismatch "vmon: $snap: snapshot was taken with --rng, restore with it" \
	--disk "$a" --disk "$b,ro" --disk "$c" --net user
[ "$(sum <"$c")" = "$(head -c $((1024 * 1024)) /dev/zero | sum)" ] ||
	merrors+=("a refused restore wrote to $c")
if [ ${#merrors[@]} = 0 ]; then
	ok linux/snapshot-virtio-mismatch
else
	fail linux/snapshot-virtio-mismatch "${merrors[@]}"
fi

# ---- the same devices: the guest goes on
timeout -k 5 "$limit" "$vmon" run --restore "$snap" --engine bt --console "$logdir/run2.console" \
	"${devices[@]}" </dev/null 2>"$logdir/run2.stderr"
status=$?
[ $status = 0 ] || errors+=("restored vmon: exit status $status" "$(tail -3 "$logdir/run2.stderr")")
run2=$logdir/run2.console
grep -q '^VMON-RUN-EXIT=0' "$run2" || errors+=("no VMON-RUN-EXIT=0 after restore")
grep -q '^READY' "$run2" && errors+=("the restored guest started over")
[ "$(value "$run2" H2)" = "$sum_h2" ] || errors+=("H2=$(value "$run2" H2), expected $sum_h2")
[ "$(value "$run2" B)" = "$sum_b" ] || errors+=("B=$(value "$run2" B), expected $sum_b")
[ "$(value "$run2" W)" = 0 ] || errors+=("the copy to vdc: W=$(value "$run2" W)")
[ "$(head -c $((1024 * 1024)) "$c" | sum)" = "$sum_c" ] || errors+=("$c does not hold vda's first MiB")
[ "$(value "$run2" RNG)" = 32 ] || errors+=("RNG=$(value "$run2" RNG), expected 32")
if [ ${#errors[@]} = 0 ]; then ok linux/snapshot-virtio; else fail linux/snapshot-virtio "${errors[@]}"; fi

nerrors=()
[ "$(value "$logdir/run1.console" NET1)" = "$sum_file" ] || nerrors+=("before: NET1=$(value "$logdir/run1.console" NET1)")
[ "$(value "$run2" NET2)" = "$sum_file" ] || nerrors+=("after the restore: NET2=$(value "$run2" NET2)")
if [ ${#nerrors[@]} = 0 ]; then ok linux/snapshot-virtio-net; else fail linux/snapshot-virtio-net "${nerrors[@]}"; fi
