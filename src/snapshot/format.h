/* The snapshot file container (version 1).
 *
 *   header   "VMONSNAP" (8 bytes), u32 version, u32 flags (0)
 *   section  char name[16] (NUL-padded), u32 length, payload[length]    ... repeated
 *   end      section "end" whose 4-byte payload is the CRC-32 (zlib) of every byte before it
 *
 * All integers little-endian. Sections are at most SNAP_MAX_SECTION bytes, so a reader never
 * allocates more than that whatever the file claims; big state (RAM) comes as many sections of
 * the same name. The same section stream goes over a socket for migration (src/migrate.c): there
 * the reader knows no length and the stream ends at "end".
 */
#ifndef VMON_SNAPSHOT_FORMAT_H
#define VMON_SNAPSHOT_FORMAT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SNAP_MAGIC		"VMONSNAP"
#define SNAP_VERSION		1
#define SNAP_HEADER_SIZE	16
#define SNAP_NAME_LEN		16
#define SNAP_SECTION_HEADER	(SNAP_NAME_LEN + 4)
#define SNAP_MAX_SECTION	(4u << 20)

struct snap_writer {
	FILE *f;
	uint32_t crc;
	uint64_t bytes;
	bool failed;
};

/* Starts a regular file at path (created/truncated; never blocks on a FIFO, host_file.h).
 * Returns 0, or -1 with *why saying why. */
int snap_writer_open(struct snap_writer *w, const char *path, const char **why);
/* Starts a stream on f (a socket: migration); write errors show in w->failed. */
void snap_writer_start(struct snap_writer *w, FILE *f);
void snap_write_section(struct snap_writer *w, const char *name, const void *p, uint32_t len);
/* Writes "end" and flushes (a stream's end; the caller closes f). Returns 0, or -1 if any
 * write failed (errno). */
int snap_writer_end(struct snap_writer *w);
/* snap_writer_end, then to disk and closed. Returns 0, or -1 if any write failed (errno). */
int snap_writer_finish(struct snap_writer *w);
void snap_writer_abort(struct snap_writer *w);

struct snap_reader {
	FILE *f;
	uint32_t crc;
	uint64_t left;			/* bytes of the file not read yet (UINT64_MAX: stream) */
	bool stream;			/* not a regular file: a socket or pipe */
	uint8_t *buf;			/* the current section's payload */
	uint32_t cap;
};

/* Why a file is not a (valid) snapshot, for "vmon: FILE: not a vmon snapshot (WHY)". */
enum snap_error {
	SNAP_OK, SNAP_ERR_IO, SNAP_ERR_MAGIC, SNAP_ERR_VERSION, SNAP_ERR_TRUNCATED,
	SNAP_ERR_LENGTH, SNAP_ERR_CHECKSUM, SNAP_ERR_NOMEM,
};
const char *snap_error_str(enum snap_error e);

enum snap_error snap_reader_open(struct snap_reader *r, FILE *f);
/* The next section: its NUL-terminated name, payload (valid until the next call) and length.
 * At "end" the checksum is verified and *name is "end". */
enum snap_error snap_read_section(struct snap_reader *r, char name[SNAP_NAME_LEN + 1],
				  const uint8_t **p, uint32_t *len);
void snap_reader_close(struct snap_reader *r);	/* closes the FILE too */

#endif
