#!/usr/bin/env bash
# `make bench`: runs every bench/*.sh but this one; each prints its own figures.  A slow or failed
# figure is reported, never a reason to fail.
cd "$(dirname "$0")/.." || exit
for script in bench/*.sh; do
	[ "$script" != bench/run.sh ] || continue
	echo "== $script"
	bash "$script" || echo "($script exited with status $?)"
	echo
done
exit 0
