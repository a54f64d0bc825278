/* Live migration, pre-copy, over a TCP or Unix stream socket.
 *
 * Source (the API's migrate command, src/migrate.c): on its own thread, sends the snapshot
 * container (snapshot/format.h) as a stream: "config", every non-zero page while the guest
 * runs, then rounds of the pages it dirtied (dirty.h) until few enough are left to send within
 * MIGRATE_DOWNTIME_MS at the measured rate, the dirty set stops shrinking, or
 * MIGRATE_MAX_ROUNDS; then pauses, sends the last dirty pages, "clock", the vCPUs and devices
 * and "end" (CRC-32 of the whole stream). The target answers MIGRATE_ACK once the VM is built
 * and about to run; the source then ends with exit status 0 (or stays paused if asked).
 * Any failure before the answer resumes the source and reports the error in `status`.
 *
 * Target (`vmon run --incoming URI`, src/migrate_incoming.c): accepts one connection, builds
 * the VM from "config", loads records as they come (every section bounded, every RAM record
 * checked against guest RAM, as a restore does), verifies the checksum, answers, runs.
 */
#ifndef VMON_MIGRATE_H
#define VMON_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vm_config;
struct snapshot_reader;

#define MIGRATE_MAX_ROUNDS	30	/* dirty rounds while the guest runs */
#define MIGRATE_STALL_ROUNDS	5	/* rounds without a smaller dirty set: give up converging */
#define MIGRATE_DOWNTIME_MS	30	/* pause once the rest takes about this long to send */
#define MIGRATE_ACK		"ok\n"	/* target -> source: loaded, running */

/* ---- Sockets (migrate_net.c): URI "tcp:HOST:PORT" or "unix:PATH" ---- */

/* A connected socket, or -1 with one line in err. */
int migrate_connect(const char *uri, char *err, size_t errlen);
/* A listening socket (port 0: any free one), or -1 with one line in err; where gets the
 * address actually bound, as a URI. */
int migrate_listen(const char *uri, char *where, size_t wherelen, char *err, size_t errlen);

/* ---- Source ---- */

enum migrate_state { MIGRATE_ACTIVE, MIGRATE_COMPLETED, MIGRATE_FAILED };

struct migrate_progress {
	enum migrate_state state;
	unsigned rounds;		/* RAM passes while the guest ran (round 0: everything) */
	uint64_t pages_sent;		/* pages in completed passes */
	uint64_t bytes;			/* stream bytes sent so far */
	uint64_t dirty_pages;		/* dirty pages still to send, at the last count */
	uint64_t final_pages;		/* sent while paused */
	uint64_t total_ms, downtime_us;	/* completed: start to target running; pause to ack */
	uint64_t round_pages[MIGRATE_MAX_ROUNDS + 1];
	char error[200];		/* failed: why */
};

/* Starts migrating vm to uri on a new thread (the VM must run an engine that can snapshot).
 * stay_paused: keep the source paused after success instead of ending it. Returns 0, or -1
 * with one line in err (cannot connect, one in progress, ...). API thread only. */
int migrate_start(struct vm *vm, const char *uri, bool stay_paused, bool compress,
		  char *err, size_t errlen);
/* The progress of the current or last migration; false if there was none. */
bool migrate_progress(struct vm *vm, struct migrate_progress *p);
bool migrate_active(struct vm *vm);
/* Aborts a running migration and frees it; vm_destroy, before the vCPUs go. */
void migrate_cleanup(struct vm *vm);

/* ---- Target ---- */

/* `vmon run --incoming URI`: waits for one connection, reads the stream's header and config
 * into cfg. NULL after one line on stderr. *fd: the connection, for migrate_incoming_done. */
struct snapshot_reader *migrate_incoming_open(const char *uri, struct vm_config *cfg, int *fd);
/* After snapshot_load: ok tells the source the VM runs (and prints what arrived and the
 * target's share of the downtime); closes fd either way. Returns 0, or -1 if the source
 * cannot be told (it will resume its own copy: this one must not run). */
int migrate_incoming_done(struct snapshot_reader *r, int fd, bool ok);

#endif
