/* The translation cache: per vCPU, one memfd mapped twice, writable and executable (translate.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/bt/jit/translate.h"
#include "mem.h"

#define TCACHE_POPULATE	(2u << 20)
#define PERF_MAP_FILLS	8	/* with VMON_PERF_MAP: the mapping is this many caches long */

/* perf's convention for JIT code: `perf report` names samples in [start, start+size) after the
 * lines of /tmp/perf-PID.map. Every vCPU appends to the same file; O_APPEND keeps each line whole.
 * A flushed cache reuses addresses: the later line is the one that counts. */
static void perf_map_open(struct bt_tcache *tc)
{
	char path[64];

	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	tc->perf_map_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (tc->perf_map_fd < 0)
		perror("vmon: VMON_PERF_MAP");
}

void bt_tcache_name(struct bt_tcache *tc, const uint8_t *code, const uint8_t *end,
		    const char *name)
{
	char line[96];
	int n;

	if (tc->perf_map_fd < 0 || end <= code)
		return;
	n = snprintf(line, sizeof(line), "%" PRIxPTR " %tx %s\n", (uintptr_t)code, end - code, name);
	if (n >= (int)sizeof(line) || write(tc->perf_map_fd, line, (size_t)n) != n) {
		close(tc->perf_map_fd);	/* disk full or the like: stop naming, keep running */
		tc->perf_map_fd = -1;
	}
}

/* Two views of one memfd of size bytes: *w writable, *x executable, at unrelated addresses
 * (each mapping gets its own place). The file is sparse: only what is written gets pages. */
static int map_views(size_t size, uint8_t **w, uint8_t **x)
{
	int fd = memfd_create("vmon-tcache", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	void *wp = MAP_FAILED, *xp = MAP_FAILED;
	if (ftruncate(fd, (off_t)size) == 0) {
		wp = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
		xp = mmap(NULL, size, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_NORESERVE, fd, 0);
	}
	close(fd);		/* the mappings keep the file */
	if (wp == MAP_FAILED || xp == MAP_FAILED) {
		if (wp != MAP_FAILED)
			munmap(wp, size);
		if (xp != MAP_FAILED)
			munmap(xp, size);
		return -1;
	}
	*w = wp;
	*x = xp;
	return 0;
}

int bt_tcache_init(struct bt_tcache *tc, size_t size)
{
	bool perf_map = getenv("VMON_PERF_MAP");
	uint8_t *w, *x;

	/* Room for several fills that keep their addresses (see bt_tcache_reset); only what is
	 * written gets host pages. */
	if (perf_map)
		size *= PERF_MAP_FILLS;
	/* Made with the vCPU, before the sandbox, which allows no executable mapping later. */
	if (map_views(size, &w, &x) < 0)
		return -1;
	tc->base = x;
	tc->wdelta = w - x;
	tc->end = tc->base + size;
	tc->populated = tc->base;
	tc->start = tc->cur = tc->base;
	tc->perf_map_fd = -1;
	if (perf_map)
		perf_map_open(tc);
	bt_tcache_reset(tc);
	return 0;
}

void bt_tcache_free(struct bt_tcache *tc)
{
	if (!tc->base)		/* never initialised (interpreter only) */
		return;
	munmap(tc->base, (size_t)(tc->end - tc->base));
	munmap(tc->base + tc->wdelta, (size_t)(tc->end - tc->base));
	if (tc->perf_map_fd >= 0)
		close(tc->perf_map_fd);
	tc->perf_map_fd = -1;
	tc->base = tc->start = tc->cur = tc->end = tc->populated = NULL;
}

void bt_tcache_reset(struct bt_tcache *tc)
{
	/* perf names code by address for the whole run: with a perf map, emptying the cache
	 * starts the next fill after the old code, and only a mapping used up to its last fill's
	 * worth starts over (from then on perf may name some samples after older code). */
	if (tc->perf_map_fd >= 0 && (size_t)(tc->end - tc->cur) >= (size_t)(tc->end - tc->base) / PERF_MAP_FILLS)
		tc->start = tc->cur;
	else
		tc->start = tc->base;
	tc->cur = tc->start;
	for (unsigned k = 0; k < (1u << BT_IBTC_BITS); k++)
		tc->ibtc[k] = (struct bt_ibtc_entry){ .lin = 1ull << 63, .tlb_off = -1 };
}

/* Host pages for new code 2 MiB at a time (host_populate: cheaper than a fault per page). The
 * caller made sure that len bytes fit before end. */
void bt_tcache_reserve(struct bt_tcache *tc, size_t len)
{
	while (tc->populated < tc->cur + len) {
		size_t n = (size_t)(tc->end - tc->populated);
		n = n < TCACHE_POPULATE ? n : TCACHE_POPULATE;
		host_populate(tc->populated + tc->wdelta, n);	/* the writable view faults */
		tc->populated += n;
	}
}
