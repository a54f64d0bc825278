#!/usr/bin/env bash
# `make check-slow`: the slow suites that are not part of `make check` (each a tests/slow/*.sh
# listed here prints `ok NAME` / `FAIL NAME` / `SKIP NAME: why`). Ends with one line
# `N passed, N failed, N skipped`; exit status 1 if anything failed.
set -u
cd "$(dirname "$0")/../.." || exit 1
passed=0 failed=0 skipped=0
for script in tests/slow/debian_systemd.sh tests/slow/memtest.sh; do
	while IFS= read -r line; do
		echo "$line"
		case $line in
		"ok "*) passed=$((passed + 1)) ;;
		"FAIL "*) failed=$((failed + 1)) ;;
		"SKIP "*) skipped=$((skipped + 1)) ;;
		esac
	done < <(bash "$script" 2>&1)
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
