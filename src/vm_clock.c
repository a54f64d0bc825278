/* The VM clock: CLOCK_MONOTONIC plus an offset, frozen while the VM is paused (vm_clock.h). */
#include <stdbool.h>
#include <time.h>

#include "vm_clock.h"

uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t vm_clock_now_ns(struct vm_clock *c)
{
	if (atomic_load(&c->frozen))
		return atomic_load(&c->frozen_at);
	return monotonic_ns() + (uint64_t)atomic_load(&c->offset);
}

uint64_t vm_clock_to_monotonic(struct vm_clock *c, uint64_t ns)
{
	int64_t off = atomic_load(&c->offset);

	if (off > 0 && ns < (uint64_t)off)
		return 0;
	return ns == UINT64_MAX ? ns : ns - (uint64_t)off;
}

void vm_clock_freeze(struct vm_clock *c)
{
	atomic_store(&c->frozen_at, vm_clock_now_ns(c));
	atomic_store(&c->frozen, true);
}

void vm_clock_thaw(struct vm_clock *c)
{
	if (!atomic_load(&c->frozen))
		return;
	atomic_store(&c->offset, (int64_t)(atomic_load(&c->frozen_at) - monotonic_ns()));
	atomic_store(&c->frozen, false);
}

void vm_clock_restore(struct vm_clock *c, uint64_t now)
{
	atomic_store(&c->frozen, false);
	atomic_store(&c->offset, (int64_t)(now - monotonic_ns()));
}
