/* The translation cache: one executable arena per vCPU (see translate.h). */
#include <sys/mman.h>

#include "engine/bt/translate.h"

#define TCACHE_POPULATE	(2u << 20)

int bt_tcache_init(struct bt_tcache *tc, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	tc->base = p;
	tc->end = tc->base + size;
	tc->populated = tc->base;
	bt_tcache_reset(tc);
	return 0;
}

void bt_tcache_free(struct bt_tcache *tc)
{
	if (tc->base)
		munmap(tc->base, (size_t)(tc->end - tc->base));
	tc->base = tc->cur = tc->end = tc->populated = NULL;
}

void bt_tcache_reset(struct bt_tcache *tc)
{
	tc->cur = tc->base;
	tc->ibtc_stub = NULL;
	for (unsigned k = 0; k < (1u << BT_IBTC_BITS); k++)
		tc->ibtc[k] = (struct bt_ibtc_entry){ .lin = 1ull << 63, .tlb_off = -1 };
}

/* A first-touch page fault per 4 KiB of new code costs more than allocating 2 MiB in one call
 * (only a hint: without MADV_POPULATE_WRITE the pages fault in as before). The caller made sure
 * that len bytes fit before end. */
void bt_tcache_reserve(struct bt_tcache *tc, size_t len)
{
	while (tc->populated < tc->cur + len) {
		size_t n = (size_t)(tc->end - tc->populated);
		n = n < TCACHE_POPULATE ? n : TCACHE_POPULATE;
		madvise(tc->populated, n, MADV_POPULATE_WRITE);
		tc->populated += n;
	}
}
