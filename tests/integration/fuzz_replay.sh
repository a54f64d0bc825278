#!/usr/bin/env bash
# The fuzz harnesses (tests/fuzz/TARGET.c), built by the usual compiler with ASan+UBSan as
# build/fuzz-replay/TARGET, run on their seeds (tests/fuzz/make-seeds.sh) and on every
# reproducer a fuzzer ever found (tests/fuzz/regressions/TARGET/*.hex): no sanitizer report, no
# crash. The snapshot and migration seeds are a real snapshot and stream of a running guest, and
# must load without a refusal: otherwise those harnesses would only exercise the refusals.
set -u
shopt -s nullglob
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for bin in build/fuzz-replay/*; do
	[ -x "$bin" ] || continue
	target=$(basename "$bin")
	name=fuzz-replay/$target
	if ! tests/fuzz/make-seeds.sh "$target" "$work/$target" 2>"$work/seeds.err"; then
		echo "FAIL $name: no seeds"
		sed 's/^/    | /' "$work/seeds.err"
		continue
	fi
	inputs=("$work/$target"/* tests/fuzz/regressions/"$target"/*.hex)
	"$bin" "${inputs[@]}" >"$work/out" 2>"$work/err"
	status=$?
	refused=$(grep '^vmon: ' "$work/err" | grep -v 'waiting for a migration\|migration received')
	if [ "$status" != 0 ] || ! grep -q '^replay: ' "$work/out"; then
		echo "FAIL $name: exit status $status"
		grep -m 1 -A 15 'ERROR\|runtime error' "$work/err" | sed 's/^/    | /'
	elif [ "$target" = snapshot ] || [ "$target" = migrate ] && [ -n "$refused" ]; then
		echo "FAIL $name: a seed was refused"
		echo "$refused" | sed 's/^/    | /'
	else
		echo "ok   $name ($(sed 's/^replay: //' "$work/out"))"
	fi
done
