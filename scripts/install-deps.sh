#!/usr/bin/env bash
# The Debian packages vmon's build, tests and benchmarks need; installs the missing ones (as
# root), or names the apt-get command to run. `make` runs it once per build tree (the stamp
# build/.deps), so `make demo` and `make check` work on a fresh Debian 12 machine.
#   scripts/install-deps.sh [STAMP]
set -euo pipefail

pkgs=(
	build-essential nasm cpio gzip		# the build and the tiny guests
	libjson-c-dev libzstd-dev zlib1g-dev libslirp-dev libseccomp-dev
	passt					# --net user's default back end
	qemu-system-x86 qemu-utils		# references in tests and benchmarks, qcow2 images
	seabios grub-pc-bin xorriso mtools memtest86+	# firmware boots
	clang-14 libclang-rt-14-dev		# the fuzzers
	mmdebstrap e2fsprogs			# the whole Debian system of make check-slow
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "$0: missing Debian packages; as root run: apt-get install ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ $# -ge 1 ]; then
	mkdir -p "$(dirname "$1")"
	touch "$1"
fi
