/* Time arithmetic shared by the software timers (private to src/hw). */
#ifndef VMON_HW_CLOCK_H
#define VMON_HW_CLOCK_H

#include <stdint.h>

#define NS_PER_SEC	1000000000ull

/* a * b / c rounded down, saturating at UINT64_MAX (c != 0). */
static inline uint64_t muldiv64(uint64_t a, uint64_t b, uint64_t c)
{
	unsigned __int128 q = (unsigned __int128)a * b / c;

	return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

/* a * b / c rounded up, saturating at UINT64_MAX (c != 0). */
static inline uint64_t muldiv64_ceil(uint64_t a, uint64_t b, uint64_t c)
{
	unsigned __int128 q = ((unsigned __int128)a * b + (c - 1)) / c;

	return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

static inline uint64_t add_sat64(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Host time at which the guest TSC read 0 (fixed by the first call, process-wide). */
uint64_t guest_tsc_epoch_ns(void);

#endif
