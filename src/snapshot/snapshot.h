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

#include <stdio.h>

struct vm;
struct vm_config;
struct snapshot_reader;
struct snap_writer;

struct snapshot_info {
	uint64_t bytes;			/* file size */
	uint64_t ram_pages;		/* non-zero pages written */
	uint64_t ram_bytes;		/* guest RAM size */
};

/* Writes the paused vm to path (through path.tmp and a rename, so a failure leaves no file).
 * compress: zstd on RAM records. Returns 0, or -1 with one line in err. */
int snapshot_save(struct vm *vm, const char *path, bool compress, struct snapshot_info *info,
		  char *err, size_t errlen);

/* The pieces snapshot_save writes, for a stream that sends RAM in several passes (migration:
 * config and device set, RAM while the guest runs, then with the VM paused the last RAM, clock,
 * vCPUs and device states). Each returns 0, or -1 (errno; w->failed for write errors). */
int snapshot_write_config(struct vm *vm, struct snap_writer *w);
int snapshot_write_device_set(struct vm *vm, struct snap_writer *w);	/* "devices" */
int snapshot_write_clock(struct vm *vm, struct snap_writer *w);	/* paused */
/* dirty NULL: every non-zero page. Otherwise exactly the pages set in dirty (a dirty.h bitmap),
 * zero pages as records without data. Adds the pages written to *pages. */
int snapshot_write_ram(struct vm *vm, struct snap_writer *w, const uint64_t *dirty,
		       bool compress, uint64_t *pages);
/* "cpu<N>" and every registered device state, of the paused vm; -1 with one line in err. */
int snapshot_write_state(struct vm *vm, struct snap_writer *w, char *err, size_t errlen);

/* The whole of a paused (or not yet started) vm, as snapshot_save writes it, without "end".
 * Returns 0, or -1 with one line in err (may be empty: errno says why). */
int snapshot_write_all(struct vm *vm, struct snap_writer *w, bool compress, uint64_t *pages,
		       char *err, size_t errlen);

/* Opens a snapshot for `vmon run --restore`: checks the header, reads "config" into cfg (RAM
 * size, vCPUs), sets the VM clock from "clock" and keeps the device set of "devices". NULL
 * after one line "vmon: FILE: ...". */
struct snapshot_reader *snapshot_open(const char *path, struct vm_config *cfg);
/* The same for a snapshot already open as f (a regular file, closed by snapshot_close); path
 * names it in errors. */
struct snapshot_reader *snapshot_open_file(FILE *f, const char *path, struct vm_config *cfg);
/* The same for a migration stream on f (`vmon run --incoming`): header, "config" and
 * "devices"; the clock comes later in the stream. what names the stream in errors ("vmon: WHAT: not a vmon
 * migration stream (...)"). */
struct snapshot_reader *snapshot_open_stream(FILE *f, const char *what, struct vm_config *cfg);

/* What a stream's reader sends back for an empty "sync" section. */
#define SNAPSHOT_SYNC_REPLY	"sync\n"

struct snapshot_load_info {
	uint64_t bytes;			/* a stream: bytes read so far */
	uint64_t ram_records;
	uint64_t final_ns;		/* a stream: CLOCK_MONOTONIC when the first section
					 * sent after the source paused arrived */
};
const struct snapshot_load_info *snapshot_info_of(struct snapshot_reader *r);

/* Loads the rest into vm, built from that cfg and not running yet, after checking that it has
 * the snapshot's devices (vm->cfg: disks with their sizes, --rng, --net); verifies the checksum.
 * Returns 0, or -1 after one line on stderr. */
int snapshot_load(struct snapshot_reader *r, struct vm *vm);
void snapshot_close(struct snapshot_reader *r);	/* NULL is fine */

#endif
