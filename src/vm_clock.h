/* The VM clock (ns): host CLOCK_MONOTONIC plus an offset, except that it stands still while the
 * VM is paused (as QEMU's guest clock does by default) and a restored VM continues it from the
 * snapshot's time, so every timer deadline, the TSC and kvmclock carry on where they were
 * instead of jumping. Every device timer, the guest TSC and kvmclock run on it. */
#ifndef VMON_VM_CLOCK_H
#define VMON_VM_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>

/* All zero: a running clock that reads CLOCK_MONOTONIC. Writers (pause, resume, restore) run
 * while no vCPU runs; readers only load. */
struct vm_clock {
	_Atomic int64_t offset;		/* VM clock - CLOCK_MONOTONIC while running */
	atomic_bool frozen;
	_Atomic uint64_t frozen_at;	/* what it reads while frozen */
};

uint64_t vm_clock_now_ns(struct vm_clock *c);
/* Host CLOCK_MONOTONIC (ns), for host-side timeouts that a pause must not stop. */
uint64_t monotonic_ns(void);
/* CLOCK_MONOTONIC time at which the VM clock reads ns (for timed sleeps); UINT64_MAX stays. */
uint64_t vm_clock_to_monotonic(struct vm_clock *c, uint64_t ns);
/* Pause / resume (no vCPU runs meanwhile): the clock stops, then continues from where it was. */
void vm_clock_freeze(struct vm_clock *c);
void vm_clock_thaw(struct vm_clock *c);
/* Restore: the clock reads now (as vm_clock_now_ns read it when the snapshot was taken) and
 * runs on from there. */
void vm_clock_restore(struct vm_clock *c, uint64_t now);

#endif
