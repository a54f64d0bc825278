#!/usr/bin/env bash
# `make tsan`: ThreadSanitizer where vmon's threads meet. build/vmon-tsan (the Makefile builds it
# with -fsanitize=thread) runs every test guest on the bt engine (smp and pvunhalt with 2 vCPUs:
# IPIs, the irqchip lock, kicks), then the pause / snapshot / API and migration tests
# (tests/integration/snapshot_tiny.sh, migrate_tiny.sh: the event thread, the migration thread
# and parked vCPUs). Any data race is a failure: its reports are kept in build/tsan-logs/.
# tests/tsan.supp names the races that are the guest's own (its RAM), not vmon's.
# Ends with one line `N passed, N failed` and exit status 1 if anything failed.
set -u
cd "$(dirname "$0")/.." || exit 1

logs=build/tsan-logs
rm -rf "$logs"
mkdir -p "$logs"
export VMON_SAN=build/vmon-tsan
# ThreadSanitizer slows the interpreter several times over: a guest may take minutes, and the
# migration tests pace their guests as for a nested kvm (VMON_TEST_SLOW).
export TIMEOUT=${TIMEOUT:-300} VMON_TEST_SLOW=1
# Reports go to files (one per process) so a test's own stderr checks are not disturbed; a run
# with a report exits 66, which the tests see as a wrong exit status.
export TSAN_OPTIONS="log_path=$PWD/$logs/report exitcode=66 suppressions=$PWD/tests/tsan.supp ${TSAN_OPTIONS:-}"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
	tests/run.sh --guests bt
	for t in snapshot_tiny migrate_tiny; do
		tests/integration/$t.sh || echo "FAIL $t: exit status $?"
	done
} 2>&1 | tee "$out"

passed=$(grep -c '^ok' "$out")
failed=$(grep -c '^FAIL' "$out")
reports=$(cat "$logs"/report.* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer')
if [ "$reports" -gt 0 ]; then
	echo "FAIL tsan: $reports ThreadSanitizer reports in $logs/:"
	cat "$logs"/report.* | grep -A3 '^WARNING: ThreadSanitizer' | grep -E '^WARNING|#0' |
		sed 's/^/    | /' | sort | uniq -c | sort -rn | head -40
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
