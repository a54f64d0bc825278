/* The VM clock and the guest TSC derived from it.
 *
 * The VM clock is host CLOCK_MONOTONIC plus an offset: it stands still while the VM is paused
 * (as QEMU's guest clock does by default) and a restored VM continues it from the snapshot, so
 * every timer deadline, the TSC and kvmclock carry on where they were instead of jumping.
 * The guest TSC ticks at GUEST_TSC_HZ from a process-wide epoch (the first time anybody asks,
 * normally irqchip_create), so every vCPU of every VM in the process reads one synchronized TSC.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "hw/clock.h"
#include "hw/irqchip.h"

static pthread_once_t epoch_once = PTHREAD_ONCE_INIT;
static uint64_t epoch_ns;

/* VM clock = CLOCK_MONOTONIC + offset; while frozen it reads frozen_at. Writers (pause,
 * resume, restore) run while no vCPU runs; readers only load. */
static _Atomic int64_t clock_offset;
static atomic_bool clock_frozen;
static _Atomic uint64_t frozen_at;

uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t host_now_ns(void)
{
	if (atomic_load(&clock_frozen))
		return atomic_load(&frozen_at);
	return monotonic_ns() + (uint64_t)atomic_load(&clock_offset);
}

uint64_t vm_clock_to_monotonic(uint64_t ns)
{
	int64_t off = atomic_load(&clock_offset);

	if (off > 0 && ns < (uint64_t)off)
		return 0;
	return ns == UINT64_MAX ? ns : ns - (uint64_t)off;
}

void vm_clock_freeze(void)
{
	atomic_store(&frozen_at, host_now_ns());
	atomic_store(&clock_frozen, true);
}

void vm_clock_thaw(void)
{
	if (!atomic_load(&clock_frozen))
		return;
	atomic_store(&clock_offset, (int64_t)(atomic_load(&frozen_at) - monotonic_ns()));
	atomic_store(&clock_frozen, false);
}

static void epoch_init(void)
{
	epoch_ns = host_now_ns();
}

void vm_clock_restore(uint64_t now, uint64_t epoch)
{
	pthread_once(&epoch_once, epoch_init);
	epoch_ns = epoch;
	atomic_store(&clock_frozen, false);
	atomic_store(&clock_offset, (int64_t)(now - monotonic_ns()));
}

uint64_t guest_tsc_epoch_ns(void)
{
	pthread_once(&epoch_once, epoch_init);
	return epoch_ns;
}

uint64_t guest_tsc_from_ns(uint64_t ns)
{
	uint64_t epoch = guest_tsc_epoch_ns();

	return ns <= epoch ? 0 : muldiv64(ns - epoch, GUEST_TSC_HZ, NS_PER_SEC);
}

/* Rounded up, so that guest_tsc_from_ns(ns_from_guest_tsc(t)) >= t: a deadline computed this
 * way has really been reached when it fires. */
uint64_t ns_from_guest_tsc(uint64_t tsc)
{
	return add_sat64(guest_tsc_epoch_ns(), muldiv64_ceil(tsc, NS_PER_SEC, GUEST_TSC_HZ));
}
