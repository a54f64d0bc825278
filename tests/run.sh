#!/usr/bin/env bash
# vmon test driver (what `make check` runs, after the Makefile built build/vmon, build/vmon-san,
# build/unit-tests and build/guests/*.bin):
#   - the unit tests,
#   - every test guest (tests/guests/*.asm) on each engine, stdout and exit status compared with
#     NAME.expected and the guest's `; vmon-exit:` header,
#   - CLI error handling,
#   - every executable tests/integration/*.sh (prints `ok NAME` / `FAIL NAME` / `SKIP NAME: why`).
# Ends with one line `N passed, N failed, N skipped`; exit status 1 if anything failed.
#
# `tests/run.sh --qemu` instead runs the guests marked `; qemu: yes` under QEMU TCG, the reference
# that keeps the .expected files honest (needs `make guests` first).
# `tests/run.sh --guests ENGINE [NAME ARGS...]` only runs the guests on ENGINE (all, or NAME with
# ARGS as its options): tests/slow/kvm_nested.sh runs it inside its L1 VM.
set -u
cd "$(dirname "$0")/.." || exit 1

VMON=${VMON:-build/vmon}
VMON_SAN=${VMON_SAN:-build/vmon-san}
GUEST_DIR=tests/guests
GUEST_BIN=build/guests
TIMEOUT=${TIMEOUT:-60}

passed=0 failed=0 skipped=0
name='' bin='' kind_opt='' want='' for_engines='' args=() qargs=()	# per-guest settings (guest_setup, qemu_args)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }
skip() { echo "SKIP $1: $2"; skipped=$((skipped + 1)); }

# Indented excerpt of a file, for failure reports.
show() { sed -n "1,${2:-20}p" "$1" | sed 's/^/    | /'; }

# header FILE KEY: value of the guest's `; KEY: value` line.
header() { sed -n "s/^; $2:[[:space:]]*//p" "$1" | head -n 1; }

# check_guest NAME OUT ERR STATUS EXPECTED_STATUS: compare one run with the expectations.
check_guest() {
	local name=$1 out=$2 err=$3 status=$4 want=$5 expected=$GUEST_DIR/${1%%/*}.expected
	if [ "$status" = 124 ]; then
		fail "$name" "timed out after ${TIMEOUT}s"
		show "$out"
		show "$err"
	elif ! cmp -s "$expected" "$out"; then
		fail "$name" "output differs (exit status $status)"
		diff -u --label expected --label actual "$expected" "$out" | sed -n '1,40p' | sed 's/^/    | /'
		show "$err"
	elif [ "$status" != "$want" ]; then
		fail "$name" "exit status $status, expected $want"
		show "$err"
	else
		pass "$name"
	fi
}

# guest_setup ASM: sets name, bin, kind_opt, args[], want for one guest.
guest_setup() {
	local asm=$1 kind
	name=$(basename "$asm" .asm)
	bin=$GUEST_BIN/$name.bin
	kind=$(header "$asm" vmon-kind)
	case $kind in
	boot-sector) kind_opt=--boot-sector ;;
	kernel) kind_opt=--kernel ;;
	*) kind_opt= ;;
	esac
	eval "args=($(header "$asm" vmon-args))"
	want=$(header "$asm" vmon-exit)
	for_engines=$(header "$asm" engines)
}

kvm_usable() { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

# `vmon probe`'s lines ("CHECK RESULT ..."), read once kvm is known to be usable.
kvm_checks=''

# kvm_unmet ASM: the first of the guest's `; kvm-needs:` checks the host's KVM fails, as its
# `vmon probe` line; nothing if it needs none or all work (natively or by vmon's fallback).
kvm_unmet() {
	local need line
	for need in $(header "$1" kvm-needs); do
		line=$(grep -m 1 "^$need " <<<"$kvm_checks")
		case $line in
		"$need works"* | "$need emulated"*) ;;
		*) echo "${line:-$need: not probed}"; return ;;
		esac
	done
}

run_unit_tests() {
	local out=$work/unit.out line p f
	build/unit-tests >"$out" 2>&1
	cat "$out"
	line=$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		fail unit-tests "no closing line (crashed?)"
		return
	fi
	read -r _ p _ f _ <<<"$line"
	passed=$((passed + p))
	failed=$((failed + f))
}

# run_guests ENGINES [NAME ARGS...]: every guest on each of ENGINES, or only guest NAME, run with
# ARGS instead of its vmon-args and reported as "NAME/ENGINE ARGS".
run_guests() {
	local engines=$1 only=${2:-} asm engine label status kvm_ok=no unmet
	shift $(($# < 2 ? $# : 2))
	if kvm_usable && [[ " $engines " = *" kvm "* ]]; then
		kvm_ok=yes
		kvm_checks=$("$VMON_SAN" probe 2>/dev/null)
	fi
	for asm in "$GUEST_DIR"/*.asm; do
		guest_setup "$asm"
		if [ -n "$only" ]; then
			[ "$name" = "$only" ] || continue
			args=("$@")
		fi
		if [ -z "$kind_opt" ] || [ -z "$want" ] || [ ! -f "$GUEST_DIR/$name.expected" ]; then
			fail "$name" "needs vmon-kind, vmon-exit headers and $name.expected"
			continue
		fi
		for engine in $engines; do
			label=$name/$engine${only:+${*:+ $*}}
			if [ -n "$for_engines" ] && [[ " $for_engines " != *" $engine "* ]]; then
				skip "$label" "a guest for --engine $for_engines only"
				continue
			fi
			if [ $engine = kvm ] && [ $kvm_ok = no ]; then
				skip "$label" "/dev/kvm not available"
				continue
			fi
			unmet=
			[ $engine = kvm ] && unmet=$(kvm_unmet "$asm")
			if [ -n "$unmet" ]; then
				skip "$label" "host KVM (vmon probe): $unmet"
				continue
			fi
			timeout "$TIMEOUT" "$VMON_SAN" run --engine $engine --console stdio \
				"${args[@]}" $kind_opt "$bin" </dev/null >"$work/out" 2>"$work/err"
			status=$?
			if [ $engine = kvm ] && [ "$status" != "$want" ] && grep -q /dev/kvm "$work/err"; then
				skip "$label" "/dev/kvm not available ($(head -n 1 "$work/err"))"
				continue
			fi
			check_guest "$label" "$work/out" "$work/err" "$status" "$want"
		done
	done
}

# cli_error NAME STATUS MESSAGE ARGS...: `vmon run --engine bt ARGS` must fail with STATUS and print
# exactly one line on stderr (nothing on stdout); MESSAGE, if not empty, is that line. The engine
# is fixed so that no note about the automatic engine choice precedes the error.
cli_error() {
	local name=cli/$1 want=$2 msg=$3 status
	shift 3
	timeout "$TIMEOUT" "$VMON_SAN" run --engine bt "$@" </dev/null >"$work/out" 2>"$work/err"
	status=$?
	if [ "$status" != "$want" ]; then
		fail "$name" "exit status $status, expected $want"
		show "$work/err"
	elif [ "$(wc -l <"$work/err")" != 1 ] || [ -s "$work/out" ]; then
		fail "$name" "expected one line on stderr and nothing on stdout"
		show "$work/out"
		show "$work/err"
	elif [ -n "$msg" ] && [ "$(cat "$work/err")" != "$msg" ]; then
		fail "$name" "message"
		echo "    | expected: $msg"
		echo "    | actual:   $(cat "$work/err")"
	else
		pass "$name"
	fi
}

run_cli_tests() {
	local boot=$GUEST_BIN/realmode.bin text=$GUEST_DIR/module.txt status
	cli_error missing-kernel 2 "" --kernel "$work/no-such-file"
	cli_error missing-boot-sector 2 "" --boot-sector "$work/no-such-file"
	cli_error mem-zero 2 "vmon: --mem 0: size must be 1M..64G" --mem 0 --boot-sector "$boot"
	cli_error not-a-kernel 2 "vmon: $text: not a bzImage or multiboot kernel" --kernel "$text"
	head -c 100 "$boot" >"$work/small.img"
	cli_error boot-sector-too-small 2 "" --boot-sector "$work/small.img"
	truncate -s $((1024 * 1024 + 512)) "$work/large.img"
	cli_error boot-sector-too-large 2 "" --boot-sector "$work/large.img"
	cli_error disk-missing 2 "vmon: $work/no-such-disk: No such file or directory" \
		--disk "$work/no-such-disk" --boot-sector "$boot"
	head -c 1000 /dev/zero >"$work/odd.img"
	cli_error disk-not-sectors 2 "vmon: $work/odd.img: size 1000 is not a multiple of 512 bytes" \
		--disk "$work/odd.img" --boot-sector "$boot"
	cli_error disk-directory 2 "vmon: $work: not a regular file or block device" \
		--disk "$work,ro" --boot-sector "$boot"
	cli_error sandbox-bad 2 "vmon: --sandbox maybe: must be on or off" \
		--sandbox maybe --boot-sector "$boot"

	# --stats reports the first exit against VMON_T0_NS (a start 1 s in the past: >= 1e6 us).
	local t0=$((${EPOCHREALTIME/./} * 1000 - 1000000000)) first
	first=$(VMON_T0_NS=$t0 timeout "$TIMEOUT" "$VMON_SAN" run --engine bt --console none \
		--stats --boot-sector "$boot" 2>&1 >/dev/null </dev/null |
		awk '$2 == "first" && $3 == "exit" && $5 == "us" { print int($4) }')
	if [ -n "$first" ] && [ "$first" -ge 1000000 ]; then
		pass cli/stats-first-exit
	else
		fail cli/stats-first-exit "no 'first exit N us after start' line with N >= 1e6 ('$first')"
	fi
	VMON_T0_NS=soon timeout "$TIMEOUT" "$VMON_SAN" run --engine bt --console none --stats \
		--boot-sector "$boot" </dev/null >/dev/null 2>"$work/err"
	if grep -qx 'vmon: VMON_T0_NS=soon ignored: not a CLOCK_REALTIME ns before now' "$work/err"; then
		pass cli/stats-bad-t0
	else
		fail cli/stats-bad-t0 "no warning for VMON_T0_NS=soon"
		show "$work/err"
	fi

	# Without /dev/kvm, asking for the kvm engine must fail and say why.
	if ! kvm_usable; then
		timeout "$TIMEOUT" "$VMON" run --engine kvm --boot-sector "$boot" \
			</dev/null >"$work/out" 2>"$work/err"
		status=$?
		if [ "$status" != 0 ] && grep -q /dev/kvm "$work/err"; then
			pass cli/kvm-unavailable
		else
			fail cli/kvm-unavailable "exit status $status, stderr does not mention /dev/kvm"
			show "$work/err"
		fi
	fi
}

run_integration() {
	local script line status
	for script in tests/integration/*.sh; do
		[ -x "$script" ] || continue
		"$script" >"$work/int.out" 2>"$work/int.err"
		status=$?
		while IFS= read -r line; do
			echo "$line"
			case $line in
			"ok "*) passed=$((passed + 1)) ;;
			"FAIL "*) failed=$((failed + 1)) ;;
			"SKIP "*) skipped=$((skipped + 1)) ;;
			esac
		done <"$work/int.out"
		if [ "$status" != 0 ] && ! grep -q '^FAIL ' "$work/int.out"; then
			fail "$script" "exit status $status"
			show "$work/int.err"
		fi
	done
}

# QEMU equivalents of vmon's per-guest options.
qemu_args() {
	qargs=()
	while [ $# -gt 0 ]; do
		case $1 in
		--cpus) qargs+=(-smp "$2") ;;
		--mem) qargs+=(-m "$2") ;;
		--cmdline) qargs+=(-append "$2") ;;
		--initrd) qargs+=(-initrd "$2") ;;
		*) echo "run.sh: no QEMU equivalent for $1" >&2; return 1 ;;
		esac
		shift 2
	done
}

run_guests_qemu() {
	local asm status media
	for asm in "$GUEST_DIR"/*.asm; do
		guest_setup "$asm"
		if [ "$(header "$asm" qemu)" != yes ]; then
			skip "$name/qemu" "vmon-only guest"
			continue
		fi
		qemu_args "${args[@]}" || { fail "$name/qemu" "bad vmon-args"; continue; }
		if [ "$kind_opt" = --kernel ]; then
			media=(-kernel "$bin")
		else
			media=(-drive "format=raw,file=$bin")
		fi
		timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -display none -no-reboot -net none \
			-monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 \
			"${qargs[@]}" "${media[@]}" </dev/null >"$work/out" 2>"$work/err"
		status=$?
		check_guest "$name/qemu" "$work/out" "$work/err" "$status" "$want"
	done
}

if [ "${1:-}" = --qemu ]; then
	run_guests_qemu
elif [ "${1:-}" = --guests ]; then
	shift
	run_guests "$@"
else
	run_unit_tests
	run_guests "kvm bt"
	run_cli_tests
	run_integration
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
