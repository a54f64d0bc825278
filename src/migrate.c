/* Live migration, source side (migrate.h): the pre-copy rounds on a thread of their own.
 *
 * The stream goes through stdio (a FILE from fopencookie) so the snapshot writer serves both
 * files and sockets; the cookie sends with MSG_NOSIGNAL (a target that goes away is an error,
 * not a SIGPIPE). A target that stops reading is an error too, and so is one that reads a
 * trickle: progress means at least PROGRESS_MIN_BYTES taken per PROGRESS_WINDOW_S spent sending
 * (a per-send timeout restarts with every few bytes accepted, and never fired).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dirty.h"
#include "migrate.h"
#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "util/log.h"
#include "vm.h"

#define PAGE			4096u
#define PROGRESS_WINDOW_S	10	/* a target that takes less than ... */
#define PROGRESS_MIN_BYTES	(1u << 20)	/* ... this in that long has failed */
#define ACK_TIMEOUT_S		30	/* loading the last state and starting the VM */
#define STREAM_BUFFER		(256u << 10)

struct migration {
	struct vm *vm;
	pthread_t thread;
	bool stay_paused, compress;
	int fd;				/* -1 once closed (under lock) */
	_Atomic uint64_t bytes;		/* sent on fd */
	/* Progress: time spent sending in the current window, bytes sent before it. */
	uint64_t window_spent_ns, window_bytes;
	bool stalled;			/* failed for want of progress */
	pthread_mutex_t lock;		/* progress, fd */
	struct migrate_progress progress;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Milliseconds left in the current progress window, counting the time spent sending before
 * this call (spent_before) and in it since t0 (waiting for the target's answers or computing
 * the next pass does not count). 0 once a window ended with less than PROGRESS_MIN_BYTES
 * taken: the migration has stalled. */
static int progress_left_ms(struct migration *m, uint64_t *t0)
{
	uint64_t now = now_ns(), spent = m->window_spent_ns + (now - *t0);
	const uint64_t window = PROGRESS_WINDOW_S * 1000000000ull;

	if (spent >= window) {
		uint64_t bytes = atomic_load(&m->bytes);
		if (bytes - m->window_bytes < PROGRESS_MIN_BYTES) {
			m->stalled = true;
			return 0;
		}
		m->window_bytes = bytes;
		m->window_spent_ns = 0;
		*t0 = now;
		spent = 0;
	}
	return (int)((window - spent + 999999) / 1000000);
}

static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
	struct migration *m = cookie;
	uint64_t t0 = now_ns();
	size_t done = 0;
	int left;

	while (done < size && (left = progress_left_ms(m, &t0)) > 0) {
		ssize_t n = send(m->fd, buf + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = m->fd, .events = POLLOUT };
			poll(&pfd, 1, left);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
		atomic_fetch_add(&m->bytes, (uint64_t)n);
	}
	m->window_spent_ns += now_ns() - t0;
	return done ? (ssize_t)done : -1;
}

static void update(struct migration *m, void (*fn)(struct migrate_progress *p, uint64_t v),
		   uint64_t v)
{
	pthread_mutex_lock(&m->lock);
	fn(&m->progress, v);
	pthread_mutex_unlock(&m->lock);
}

static void set_dirty(struct migrate_progress *p, uint64_t v) { p->dirty_pages = v; }

/* A pass while the guest ran sent v pages. */
static void end_round(struct migrate_progress *p, uint64_t v)
{
	p->round_pages[p->rounds++] = v;
	p->pages_sent += v;
}

/* The target's answer, exactly `want` (MIGRATE_ACK or SNAPSHOT_SYNC_REPLY); what says what
 * the target has not done otherwise. */
static int wait_answer(int fd, const char *want, const char *what, char *err, size_t errlen)
{
	struct timeval tv = { .tv_sec = ACK_TIMEOUT_S };
	char buf[16];
	size_t got = 0, len = strlen(want);

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "the target did not %s (%s)", what,
				 n == 0 ? "connection closed" : strerror(errno));
			return -1;
		}
		got += (size_t)n;
	}
	if (memcmp(buf, want, len) != 0) {
		snprintf(err, errlen, "the target did not %s (unexpected answer)", what);
		return -1;
	}
	return 0;
}

/* Rounds while the guest runs. Returns 0 with dirty holding the pages still to send, or -1. */
static int precopy(struct migration *m, struct snap_writer *w, uint64_t *dirty, size_t words,
		   char *err, size_t errlen)
{
	struct vm *vm = m->vm;
	uint64_t t = now_ns(), pages = 0, sent0 = atomic_load(&m->bytes);
	uint64_t best = UINT64_MAX;
	unsigned stalls = 0;

	if (snapshot_write_ram(vm, w, NULL, m->compress, &pages) < 0 || fflush(w->f) != 0)
		return -1;
	update(m, end_round, pages);
	for (unsigned round = 1;; round++) {
		/* Bytes per ns of the last pass: how much the pause could send in the budget. */
		uint64_t dt = now_ns() - t, sent = atomic_load(&m->bytes) - sent0;
		uint64_t budget = dt ? (uint64_t)((double)sent / (double)dt * MIGRATE_DOWNTIME_MS *
						  1e6) : 0;

		memset(dirty, 0, words * sizeof(*dirty));
		if (vm_dirty_log_fetch(vm, dirty) < 0) {
			snprintf(err, errlen, "the VM is shutting down");
			return -1;
		}
		uint64_t n = dirty_count(dirty, vm->mem.size / PAGE);
		update(m, set_dirty, n);
		if (n < best) {
			best = n;
			stalls = 0;
		} else {
			stalls++;
		}
		if (n * PAGE <= budget || round > MIGRATE_MAX_ROUNDS ||
		    stalls >= MIGRATE_STALL_ROUNDS) {
			/* Let the target load what the sockets still hold while the guest runs:
			 * otherwise that backlog (MiBs on a fast link) becomes downtime. */
			snap_write_section(w, "sync", NULL, 0);
			if (w->failed || fflush(w->f) != 0)
				return -1;
			return wait_answer(m->fd, SNAPSHOT_SYNC_REPLY, "catch up", err, errlen);
		}
		t = now_ns();
		sent0 = atomic_load(&m->bytes);
		pages = 0;
		if (snapshot_write_ram(vm, w, dirty, m->compress, &pages) < 0 ||
		    fflush(w->f) != 0)
			return -1;
		update(m, end_round, pages);
	}
}

/* Paused: the last dirty pages, clock, vCPUs, devices, end; then the target's answer. */
static int stop_and_copy(struct migration *m, struct snap_writer *w, uint64_t *dirty,
			 char *err, size_t errlen)
{
	struct vm *vm = m->vm;
	uint64_t pages = 0;

	if (vm_dirty_log_fetch(vm, dirty) < 0) {
		snprintf(err, errlen, "the VM is shutting down");
		return -1;
	}
	if (snapshot_write_ram(vm, w, dirty, m->compress, &pages) < 0 ||
	    snapshot_write_clock(vm, w) < 0 ||
	    snapshot_write_state(vm, w, err, errlen) < 0 || snap_writer_end(w) < 0)
		return -1;
	pthread_mutex_lock(&m->lock);
	m->progress.final_pages = pages;
	m->progress.dirty_pages = 0;
	pthread_mutex_unlock(&m->lock);
	return wait_answer(m->fd, MIGRATE_ACK, "start the VM", err, errlen);
}

static void finish(struct migration *m, enum migrate_state state, const char *error)
{
	pthread_mutex_lock(&m->lock);
	m->progress.bytes = atomic_load(&m->bytes);
	m->progress.state = state;
	snprintf(m->progress.error, sizeof(m->progress.error), "%s", error);
	close(m->fd);
	m->fd = -1;
	pthread_mutex_unlock(&m->lock);
}

static void *migrate_thread(void *arg)
{
	struct migration *m = arg;
	struct vm *vm = m->vm;
	size_t words = dirty_words(vm->mem.size / PAGE);
	uint64_t *dirty = calloc(words ? words : 1, sizeof(*dirty));
	cookie_io_functions_t io = { .write = stream_write };
	FILE *f = fopencookie(m, "w", io);
	struct snap_writer w;
	char err[160] = "";
	bool paused = false, logging = false;
	uint64_t t0 = now_ns(), t_pause = 0;

	if (!dirty || !f || setvbuf(f, NULL, _IOFBF, STREAM_BUFFER) != 0) {
		snprintf(err, sizeof(err), "%s", strerror(ENOMEM));
		goto fail;
	}
	snap_writer_start(&w, f);
	if (snapshot_write_config(vm, &w) < 0 || snapshot_write_device_set(vm, &w) < 0)
		goto fail;
	if (vm_dirty_log_start(vm) < 0) {
		snprintf(err, sizeof(err), "cannot start the dirty-page log");
		goto fail;
	}
	logging = true;
	if (precopy(m, &w, dirty, words, err, sizeof(err)) < 0)
		goto fail;
	t_pause = now_ns();
	if (!vm_is_paused(vm)) {
		if (vm_pause(vm) < 0) {
			snprintf(err, sizeof(err), "the VM is shutting down");
			goto fail;
		}
		paused = true;
	}
	if (stop_and_copy(m, &w, dirty, err, sizeof(err)) < 0)
		goto fail;
	uint64_t t_end = now_ns();
	vm_dirty_log_stop(vm);
	fclose(f);
	free(dirty);

	struct migrate_progress p;
	pthread_mutex_lock(&m->lock);
	m->progress.total_ms = (t_end - t0) / 1000000;
	m->progress.downtime_us = (t_end - t_pause) / 1000;
	pthread_mutex_unlock(&m->lock);
	finish(m, MIGRATE_COMPLETED, "");
	migrate_progress(vm, &p);
	vmon_log("migration completed: %u rounds, %llu pages + %llu paused, "
		"%llu bytes, %llu ms, downtime %llu.%03llu ms", p.rounds,
		(unsigned long long)p.pages_sent, (unsigned long long)p.final_pages,
		(unsigned long long)p.bytes, (unsigned long long)p.total_ms,
		(unsigned long long)p.downtime_us / 1000, (unsigned long long)p.downtime_us % 1000);
	if (!m->stay_paused)
		vm_request_stop(vm, EXIT_STATUS_OK);
	return NULL;
fail:
	if (m->stalled)
		snprintf(err, sizeof(err), "the target took less than %u KiB in %d s",
			 PROGRESS_MIN_BYTES >> 10, PROGRESS_WINDOW_S);
	else if (!err[0])
		snprintf(err, sizeof(err), "sending to the target: %s",
			 strerror(errno ? errno : EIO));
	if (logging)
		vm_dirty_log_stop(vm);
	if (f)
		fclose(f);		/* may try to flush into the dead socket: harmless */
	free(dirty);
	if (paused)
		vm_resume(vm);
	finish(m, MIGRATE_FAILED, err);
	vmon_log("migration failed: %s (the VM continues here)", err);
	return NULL;
}

static void free_migration(struct migration *m)
{
	pthread_join(m->thread, NULL);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int migrate_start(struct vm *vm, const char *uri, bool stay_paused, bool compress,
		  char *err, size_t errlen)
{
	if (!vm->engine->dirty_log_start) {
		snprintf(err, errlen, "this engine cannot log dirty pages");
		return -1;
	}
	if (migrate_active(vm)) {
		snprintf(err, errlen, "a migration is in progress");
		return -1;
	}
	if (vm->migration) {
		free_migration(vm->migration);
		vm->migration = NULL;
	}
	int fd = migrate_connect(uri, err, errlen);
	if (fd < 0)
		return -1;

	struct migration *m = calloc(1, sizeof(*m));
	if (!m) {
		close(fd);
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return -1;
	}
	*m = (struct migration){ .vm = vm, .stay_paused = stay_paused, .compress = compress,
				 .fd = fd };
	pthread_mutex_init(&m->lock, NULL);
	int e = pthread_create(&m->thread, NULL, migrate_thread, m);
	if (e) {
		close(fd);
		pthread_mutex_destroy(&m->lock);
		free(m);
		snprintf(err, errlen, "migration thread: %s", strerror(e));
		return -1;
	}
	vm->migration = m;
	return 0;
}

bool migrate_progress(struct vm *vm, struct migrate_progress *p)
{
	struct migration *m = vm->migration;

	if (!m)
		return false;
	pthread_mutex_lock(&m->lock);
	*p = m->progress;
	if (p->state == MIGRATE_ACTIVE)
		p->bytes = atomic_load(&m->bytes);
	pthread_mutex_unlock(&m->lock);
	return true;
}

bool migrate_active(struct vm *vm)
{
	struct migrate_progress p;

	return migrate_progress(vm, &p) && p.state == MIGRATE_ACTIVE;
}

void migrate_cleanup(struct vm *vm)
{
	struct migration *m = vm->migration;

	if (!m)
		return;
	/* Unblocks a send or the wait for the answer; the thread then sees the VM ending. */
	pthread_mutex_lock(&m->lock);
	if (m->fd >= 0)
		shutdown(m->fd, SHUT_RDWR);
	pthread_mutex_unlock(&m->lock);
	free_migration(m);
	vm->migration = NULL;
}
