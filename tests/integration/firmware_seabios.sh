#!/usr/bin/env bash
# --firmware with Debian's SeaBIOS (package seabios), in build/tests/firmware_seabios/:
#   firmware/wrong-size         a 1000-byte "BIOS": one line, status 2
#   firmware/missing            a BIOS file that does not exist: one line, status 2
#   firmware/exclusive          --firmware with --kernel: one line, status 2
#   firmware/boot-sector/ENGINE SeaBIOS prints its banner on COM1 (etc/sercon-port), finds the
#                               virtio-blk disk and boots its boot sector (the realmode test
#                               guest: its output and exit status 33)
#   firmware/no-bootable        a disk of zeros: SeaBIOS says so and resets; under --reboot exit
#                               vmon ends (no 60 s retry)
# Prints `ok NAME` / `FAIL NAME` / `SKIP NAME: reason` for tests/run.sh.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit

logdir=build/tests/firmware_seabios
mkdir -p "$logdir"
vmon=${VMON_SAN:-build/vmon-san}
bios=/usr/share/seabios/bios-256k.bin

# usage_error NAME MESSAGE ARGS...: status 2 and one line on stderr containing MESSAGE.
usage_error() {
	local name=$1 msg=$2 err=$logdir/${1#firmware/}.err status
	shift 2
	timeout 60 "$vmon" run --engine bt "$@" </dev/null >/dev/null 2>"$err"
	status=$?
	if [ "$status" = 2 ] && [ "$(wc -l <"$err")" = 1 ] && grep -q -- "$msg" "$err"; then
		echo "ok $name"
	else
		echo "FAIL $name"
		echo "    status $status, expected 2 and one line with '$msg':"
		sed 's/^/    | /' "$err"
	fi
}

head -c 1000 /dev/zero >"$logdir/small.bin"
usage_error firmware/wrong-size "a multiple of 64 KiB" --firmware "$logdir/small.bin"
usage_error firmware/missing "No such file" --firmware "$logdir/no-such-bios.bin"
usage_error firmware/exclusive "exclude each other" --firmware seabios --kernel "$logdir/small.bin"

names=(firmware/boot-sector/bt firmware/boot-sector/kvm firmware/no-bootable)
if [ ! -r "$bios" ]; then
	for name in "${names[@]}"; do echo "SKIP $name: no $bios (package seabios)"; done
	exit 0
fi

disk=$logdir/realmode.img zero=$logdir/zero.img
cp build/guests/realmode.bin "$disk"
truncate -s 1M "$disk"
rm -f "$zero" && truncate -s 1M "$zero"

# run NAME ENGINE DISK: the console in $out, the status in $status.
run() {
	out=$logdir/$(tr / - <<<"${1#firmware/}").console
	timeout 60 "$vmon" run --engine "$2" --firmware seabios --mem 64M --reboot exit --console stdio \
		--disk "$3" </dev/null 2>"$out.stderr" | tr -d '\r' >"$out"
	status=${PIPESTATUS[0]}
}

for engine in bt kvm; do
	name=firmware/boot-sector/$engine
	if [ $engine = kvm ] && ! { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then
		echo "SKIP $name: /dev/kvm not available"
		continue
	fi
	run "$name" $engine "$disk"
	# The boot sector's own lines, after SeaBIOS's (the guest's first line follows its
	# "Booting from Hard Disk..." on the same line). The banner follows terminal set-up codes.
	got=$(sed -n '/Booting from Hard Disk/,$p' "$out" | sed 's/^Booting from Hard Disk\.\.\.*//')
	if [ $engine = kvm ] && [ "$status" != 33 ] && grep -q /dev/kvm "$out.stderr"; then
		echo "SKIP $name: /dev/kvm not usable ($(head -n 1 "$out.stderr"))"
	elif [ "$status" = 33 ] && grep -q 'SeaBIOS (version' "$out" &&
	     [ "$got" = "$(cat tests/guests/realmode.expected)" ]; then
		echo "ok $name"
	else
		echo "FAIL $name"
		echo "    status $status (expected 33), console:"
		tail -n 8 "$out" "$out.stderr" | sed 's/^/    | /'
	fi
done

run firmware/no-bootable bt "$zero"
if [ "$status" = 0 ] && grep -q '^No bootable device' "$out" && [ ! -s "$out.stderr" ]; then
	echo "ok firmware/no-bootable"
else
	echo "FAIL firmware/no-bootable"
	echo "    status $status, console:"
	tail -n 8 "$out" "$out.stderr" | sed 's/^/    | /'
fi
