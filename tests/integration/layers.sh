#!/usr/bin/env bash
# The layering the source tree promises, checked on its #include lines:
#   - the machine's parts (src/hw, src/virtio, src/boot) include neither the runner nor the control
#     plane above it (runner, api, console, event loop, migration) nor an engine;
#   - each engine's internal headers are its own: outside src/engine/bt (or src/engine/kvm) only
#     engine/engine.h, engine/autoselect.h and each engine's one exported header are included:
#     engine/bt/emulate.h (the bt engine's instruction emulator, the kvm engine's fallback) and
#     engine/kvm/probe.h (`vmon probe`). The unit tests and the difftest, which test the
#     internals, live outside src/ and are exempt.
# Prints `ok NAME` / `FAIL NAME` lines for tests/run.sh.
set -u
cd "$(dirname "$0")/../.." || exit 1

# The engines' exported headers (above).
exported='#include "engine/(bt/emulate|kvm/probe)\.h"'

# check NAME PATTERN DIRS...: no #include line in DIRS matches PATTERN (with skip set: other
# than the lines matching it).
skip='^$'
check() {
	local name=$1 pattern=$2 hits
	shift 2
	hits=$(grep -rnE "^#include \"($pattern)" "$@" --include='*.c' --include='*.h' |
		grep -vE "$skip")
	if [ -z "$hits" ]; then
		echo "ok layers/$name"
	else
		echo "FAIL layers/$name"
		echo "$hits" | sed 's/^/    | /'
	fi
}

check machine-below-runner 'runner\.h|api\.h|console\.h|event\.h|migrate\.h|engine/' \
	src/hw src/virtio src/boot
skip=$exported
check bt-internals-private 'engine/bt/' $(find src -mindepth 1 -maxdepth 1 ! -name engine) \
	src/engine/kvm src/engine/*.c src/engine/*.h
check kvm-internals-private 'engine/kvm/' $(find src -mindepth 1 -maxdepth 1 ! -name engine) \
	src/engine/bt src/engine/*.c src/engine/*.h
