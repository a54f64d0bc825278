/* For the harnesses that build a whole VM from a snapshot or a migration stream: the device set
 * the seeds were made with, and the input completed with its "end" section.
 */
#ifndef VMON_FUZZ_VM_INPUT_H
#define VMON_FUZZ_VM_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct vm_config;

/* The disk the seeds' VM had (tests/fuzz/make-seeds.sh): this many zero bytes. */
#define FUZZ_DISK_BYTES	(64 * 1024)

/* A bt VM with the console off, one disk, --rng and --net user, as the seeds were made; the
 * snapshot or stream supplies RAM size and vCPUs. -1 if the disk cannot be made. */
int fuzz_vm_config(struct vm_config *cfg);

/* data followed by an "end" section whose checksum matches (snapshot/format.h), so that inputs
 * reach past the container's checksum into the loaders; free() it. *len gets its length. */
uint8_t *fuzz_with_end(const uint8_t *data, size_t size, size_t *len);

#endif
