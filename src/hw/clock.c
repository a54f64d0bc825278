/* The guest TSC, derived from the VM clock (src/vm_clock.h).
 *
 * The guest TSC ticks at GUEST_TSC_HZ from a process-wide epoch (the first time anybody asks,
 * normally irqchip_create), so every vCPU of every VM in the process reads one synchronized TSC.
 */
#include <pthread.h>
#include <time.h>

#include "hw/clock.h"
#include "hw/irqchip.h"
#include "vm_clock.h"

static pthread_once_t epoch_once = PTHREAD_ONCE_INIT;
static uint64_t epoch_ns;

/* A VM clock reads CLOCK_MONOTONIC until its VM is paused or restored, which is after its
 * irqchip_create or (restore) after guest_tsc_restore_epoch. */
static void epoch_init(void)
{
	epoch_ns = monotonic_ns();
}

void guest_tsc_restore_epoch(uint64_t epoch)
{
	pthread_once(&epoch_once, epoch_init);
	epoch_ns = epoch;
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
