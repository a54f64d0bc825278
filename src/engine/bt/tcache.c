/* The translation cache: one executable arena per vCPU (see translate.h). */
#include <sys/mman.h>

#include "engine/bt/translate.h"

int bt_tcache_init(struct bt_tcache *tc, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	tc->base = p;
	tc->end = tc->base + size;
	bt_tcache_reset(tc);
	return 0;
}

void bt_tcache_free(struct bt_tcache *tc)
{
	if (tc->base)
		munmap(tc->base, (size_t)(tc->end - tc->base));
	tc->base = tc->cur = tc->end = NULL;
}

void bt_tcache_reset(struct bt_tcache *tc)
{
	tc->cur = tc->base;
	tc->ibtc_stub = NULL;
	for (unsigned k = 0; k < (1u << BT_IBTC_BITS); k++)
		tc->ibtc[k] = (struct bt_ibtc_entry){ .lin = 1ull << 63, .tlb_off = -1 };
}
