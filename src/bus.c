/* Port-I/O and MMIO dispatch: sorted ranges, binary search, one lock per range. */
#include <string.h>

#include "bus.h"

static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct io_ops *ops,
		 void *opaque, const char *name)
{
	if (len == 0 || base + len - 1 < base || b->nr >= BUS_MAX_RANGES)
		return -1;

	int i = 0;
	while (i < b->nr && b->range[i].base < base)
		i++;
	/* The neighbours on both sides decide whether the new range fits. */
	if (i > 0 && b->range[i - 1].base + (b->range[i - 1].len - 1) >= base)
		return -1;
	if (i < b->nr && base + (len - 1) >= b->range[i].base)
		return -1;

	/* A pthread mutex must not be copied, so the ones that move are re-created. Registration
	 * happens before any vCPU runs, so none of them is held. */
	for (int j = i; j < b->nr; j++)
		pthread_mutex_destroy(&b->range[j].lock);
	memmove(&b->range[i + 1], &b->range[i], (size_t)(b->nr - i) * sizeof(b->range[0]));
	b->nr++;
	b->range[i] = (struct bus_range){
		.base = base, .len = len, .ops = ops, .opaque = opaque, .name = name,
	};
	for (int j = i; j < b->nr; j++)
		pthread_mutex_init(&b->range[j].lock, NULL);
	return 0;
}

struct bus_range *bus_find(struct bus *b, uint64_t addr)
{
	int lo = 0, hi = b->nr;

	/* Find the last range whose base is <= addr. */
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (b->range[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	struct bus_range *r = &b->range[lo - 1];
	return addr - r->base < r->len ? r : NULL;
}

bool bus_access(struct bus *b, uint64_t addr, unsigned size, bool write, uint64_t *val)
{
	struct bus_range *r = bus_find(b, addr);

	if (!r) {
		if (!write)
			*val = size_mask(size);
		return false;
	}
	bool lock = !r->ops->self_locked;
	if (lock)
		pthread_mutex_lock(&r->lock);
	if (write) {
		if (r->ops->write)
			r->ops->write(r->opaque, addr - r->base, size, *val & size_mask(size));
	} else {
		*val = r->ops->read ? r->ops->read(r->opaque, addr - r->base, size) & size_mask(size)
				    : size_mask(size);
	}
	if (lock)
		pthread_mutex_unlock(&r->lock);
	return true;
}

void bus_destroy(struct bus *b)
{
	for (int i = 0; i < b->nr; i++)
		pthread_mutex_destroy(&b->range[i].lock);
	b->nr = 0;
}
