#!/usr/bin/env bash
# tests/fuzz/coverage.sh TARGET...: line coverage of each harness's surface reached by its
# corpus and seeds (build/fuzz/TARGET/{corpus,seeds}, from `make fuzz`), replayed by the
# harness built with clang's source-based coverage (build/fuzz/cov/bin/TARGET). Needs
# llvm-profdata-14 and llvm-cov-14 (Debian's llvm-14).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
shopt -s nullglob

# The source files (or FILE:FUNCTION) each harness is about.
surface() {
	case $1 in
	decode) find src/engine/bt -name decode.c ;;	# wherever the engine keeps it
	virtio) echo src/virtio/pci.c src/virtio/queue.c src/virtio/blk.c src/virtio/rng.c ;;
	net) echo src/virtio/net.c src/virtio/queue.c ;;
	boot) echo src/boot/boot.c src/boot/linux.c src/boot/multiboot.c src/boot/bootsector.c \
		src/boot/file.c ;;
	snapshot) echo src/snapshot/format.c src/snapshot/snapshot.c src/snapshot/state.c \
		src/snapshot/cpu.c src/virtio/pci.c src/virtio/queue.c src/hw/irqchip_state.c ;;
	migrate) echo src/snapshot/format.c src/snapshot/snapshot.c src/migrate_incoming.c \
		src/migrate_net.c ;;
	api) echo src/api.c:api_parse_request ;;
	esac
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in "$@"; do
	inputs=(build/fuzz/"$target"/corpus/* build/fuzz/"$target"/seeds/*)
	if [ ${#inputs[@]} = 0 ]; then
		echo "coverage $target: no corpus (run make fuzz first)"
		continue
	fi
	LLVM_PROFILE_FILE="$work/$target.profraw" "build/fuzz/cov/bin/$target" "${inputs[@]}" \
		>/dev/null 2>&1
	llvm-profdata-14 merge -o "$work/$target.profdata" "$work/$target.profraw"
	echo "coverage $target (${#inputs[@]} inputs):"
	report=(llvm-cov-14 report "build/fuzz/cov/bin/$target" -instr-profile="$work/$target.profdata")
	for part in $(surface "$target"); do
		file=${part%%:*} fn=${part#*:}
		if [ "$fn" = "$part" ]; then
			"${report[@]}" "$file" | awk -v name="$file" '$1 ~ /\.c$/ {
				printf "    %-34s lines %5d of %5d  %7s   branches %7s\n",
					name, $8 - $9, $8, $10, $13 }'
		else
			"${report[@]}" -show-functions "$file" | awk -v fn="$fn" -v name="$part" '$1 == fn {
				printf "    %-34s lines %5d of %5d  %7s   branches %7s\n",
					name, $5 - $6, $5, $7, $10 }'
		fi
	done
done
