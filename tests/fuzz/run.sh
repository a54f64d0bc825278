#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS TARGET...: runs each libFuzzer harness (build/fuzz/bin/TARGET) for
# SECONDS from its seeds (make-seeds.sh) and the corpus it grew before, in build/fuzz/TARGET/:
#   corpus/    inputs that found new coverage (kept between runs)
#   seeds/     made afresh each run
#   log        libFuzzer's output
#   crash-*, leak-*, timeout-*, oom-*   reproducers, each also as *.hex: a regression test once
#              copied to tests/fuzz/regressions/TARGET/ (replayed by `make check`); a timeout
#              that does not happen again is kept as unconfirmed-timeout-* and not counted
# Prints one line per harness (inputs run, edges covered, corpus size, reproducers) and the
# total time; exit status 1 if any harness left a reproducer.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
secs=$1
shift
found=0
start=$SECONDS

to_hex() { perl -e 'local $/; $_ = unpack("H*", <STDIN>); s/(.{64})/$1\n/g; print "$_\n"' <"$1"; }

for target in "$@"; do
	dir=build/fuzz/$target
	mkdir -p "$dir/corpus"
	rm -rf "$dir/seeds"
	if ! tests/fuzz/make-seeds.sh "$target" "$dir/seeds"; then
		echo "fuzz $target: no seeds"
		found=1
		continue
	fi
	dict=()
	[ -f "tests/fuzz/$target.dict" ] && dict=(-dict="tests/fuzz/$target.dict")
	# stderr closed for the harness (refused inputs print a line each); sanitizer reports
	# still reach the log.
	"build/fuzz/bin/$target" -max_total_time="$secs" -timeout=60 -rss_limit_mb=4096 \
		-close_fd_mask=2 -print_final_stats=1 -artifact_prefix="$dir/" "${dict[@]}" \
		"$dir/corpus" "$dir/seeds" >"$dir/log" 2>&1
	status=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
	cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -n 1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$dir/log" | tail -n 1 | cut -d' ' -f2)
	repro=0
	for r in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
		[ -f "$r" ] || continue
		case $r in *.hex) continue ;; esac
		# A timeout on a loaded machine is often just the load: it counts if it happens again.
		if [[ $r == */timeout-* ]] && timeout 120 "build/fuzz/bin/$target" -timeout=60 \
			"$r" >/dev/null 2>&1; then
			mv "$r" "$dir/unconfirmed-${r##*/}"
			echo "fuzz $target: ${r##*/} ran in time when tried again (load?): not counted"
			continue
		fi
		[ -f "$r.hex" ] || to_hex "$r" >"$r.hex"
		repro=$((repro + 1))
	done
	echo "fuzz $target: ${runs:-?} inputs, ${cov:-?} edges, ${ft:-?} features," \
		"$(ls "$dir/corpus" | wc -l) in corpus, $repro reproducers (exit $status)"
	if [ "$repro" != 0 ] || [ "$status" != 0 ]; then
		found=1
		grep -m 1 -A 12 'ERROR\|WARNING: \|==[0-9]*==' "$dir/log" | sed 's/^/    | /'
	fi
done
echo "fuzz: $# harnesses, ${secs} s each, $((SECONDS - start)) s in all"
exit $found
