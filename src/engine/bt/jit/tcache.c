/* The translation cache: one executable arena per vCPU (see translate.h). */
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

int bt_tcache_init(struct bt_tcache *tc, size_t size)
{
	bool perf_map = getenv("VMON_PERF_MAP");
	void *p;

	/* Room for several fills that keep their addresses (see bt_tcache_reset); only what is
	 * written gets host pages. */
	if (perf_map)
		size *= PERF_MAP_FILLS;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	tc->base = p;
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
		host_populate(tc->populated, n);
		tc->populated += n;
	}
}
