# Shared by the Linux integration scripts (sourced, not run): the guest image, boot() and check().
# The sourcing script sets logdir (where guest consoles are kept) before calling them.
# VMON_LINUX_TIMEOUT overrides the per-boot limit (seconds); VMON_LINUX_ENGINE the engine (bt).

limit=${VMON_LINUX_TIMEOUT:-300}
guest=build/guest
initrd=$guest/initramfs.cpio.gz	# a caller may boot another initramfs
mem=256M

# need_guest NAME...: builds the guest image (scripts/build-guest.sh), or prints SKIP for each
# NAME and exits.
need_guest() {
	mkdir -p "$logdir"
	if ! scripts/build-guest.sh "$guest" >/dev/null 2>"$logdir/build-guest.log"; then
		for name in "$@"; do
			echo "SKIP $name: no guest image (scripts/build-guest.sh failed, see $logdir/build-guest.log)"
		done
		exit 0
	fi
}

# boot NAME CPUS CMD [KERNEL-ARGS]: boots the guest with vmon.run="CMD" (and the extra vmon options
# in the array vmon_args, if the caller set it; the initramfs $initrd with $mem of RAM); sets
# output to what CMD printed (the console lines between VMON-INIT-START and VMON-RUN-EXIT=0), or
# reason to why there is none.
vmon_args=()
boot() {
	local name=$1 cpus=$2 cmd=$3 extra=${4:+$4 } console status
	console=$logdir/${name#linux/}.console
	output='' reason=''
	timeout -k 5 "$limit" build/vmon run --engine "${VMON_LINUX_ENGINE:-bt}" --mem "$mem" --cpus "$cpus" --console stdio \
		--kernel "$guest/vmlinuz" --initrd "$initrd" "${vmon_args[@]}" \
		--cmdline "console=ttyS0 ${extra}vmon.run=\"$cmd\"" </dev/null 2>"$console.stderr" |
		tr -d '\r' >"$console"
	status=${PIPESTATUS[0]}
	if [ "$status" = 124 ] || [ "$status" = 137 ]; then
		reason="timed out after $limit s"
	elif [ "$status" != 0 ]; then
		reason="vmon exit status $status"
	elif ! grep -qx VMON-INIT-START "$console"; then
		reason="the guest never reached /init"
	elif ! grep -qx VMON-RUN-EXIT=0 "$console"; then
		reason="the command did not exit 0"
	else
		output=$(sed -n '/^VMON-INIT-START$/,/^VMON-RUN-EXIT=0$/p' "$console" | sed '1d;$d')
	fi
}

# check NAME EXPECTED: after a boot, ok if the command printed exactly EXPECTED.
check() {
	local name=$1 expected=$2 console=$logdir/${1#linux/}.console
	if [ -n "$reason" ] || [ "$output" != "$expected" ]; then
		[ -n "$reason" ] || reason="printed '$output', expected '$expected'"
		echo "FAIL $name"
		echo "    $reason"
		tail -n 5 "$console" "$console.stderr" 2>/dev/null | sed 's/^/    /'
	else
		echo "ok $name"
	fi
}

# report NAME WHY CONSOLE: ok NAME if WHY is empty, else FAIL NAME with WHY and the console's end.
report() {
	if [ -n "$2" ]; then
		echo "FAIL $1"
		echo "    $2"
		tail -n 5 "$3" "$3.stderr" 2>/dev/null | sed 's/^/    | /'
	else
		echo "ok $1"
	fi
}
