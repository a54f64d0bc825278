/* Snapshot and restore of a whole VM (file format: snapshot/format.h).
 *
 * Sections, in file order: "config" (RAM size, vCPUs, engine), "clock" (VM clock and TSC epoch),
 * "devices" (disk sizes and read-only flags, --rng, --net), "ram" records (runs of non-zero pages), "cpu<N>" (struct cpu_state, engine-neutral), then
 * every registered device / engine state (vm_register_state) under its own name, and "end"
 * with the checksum.
 */
#ifndef VMON_SNAPSHOT_SNAPSHOT_H
#define VMON_SNAPSHOT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vm_config;
struct snapshot_reader;

struct snapshot_info {
	uint64_t bytes;			/* file size */
	uint64_t ram_pages;		/* non-zero pages written */
	uint64_t ram_bytes;		/* guest RAM size */
};

/* Writes the paused vm to path (through path.tmp and a rename, so a failure leaves no file).
 * compress: zstd on RAM records. Returns 0, or -1 with one line in err. */
int snapshot_save(struct vm *vm, const char *path, bool compress, struct snapshot_info *info,
		  char *err, size_t errlen);

/* Opens a snapshot for `vmon run --restore`: checks the header, reads "config" into cfg (RAM
 * size, vCPUs), sets the VM clock from "clock" and keeps the device set of "devices". NULL
 * after one line "vmon: FILE: ...". */
struct snapshot_reader *snapshot_open(const char *path, struct vm_config *cfg);
/* Loads the rest into vm, built from that cfg and not running yet, after checking that it has
 * the snapshot's devices (vm->cfg: disks with their sizes, --rng, --net); verifies the checksum.
 * Returns 0, or -1 after one line on stderr. */
int snapshot_load(struct snapshot_reader *r, struct vm *vm);
void snapshot_close(struct snapshot_reader *r);	/* NULL is fine */

#endif
