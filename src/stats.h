/* Exit counters shared by all engines. Each vCPU counts into its own block (no locked atomics
 * on the hot path: stat_add); vm_print_stats() and the API add them up. */
#ifndef VMON_STATS_H
#define VMON_STATS_H

#include <stdint.h>
#include <stdio.h>

enum stat_kind {
	STAT_PIO_SERIAL,	/* 0x3f8-0x3ff */
	STAT_PIO_DEBUG,		/* 0xf4, 0x80 */
	STAT_PIO_PIC_PIT,	/* 0x20-0x21, 0xa0-0xa1, 0x40-0x43, 0x61 */
	STAT_PIO_KBD_RTC,	/* 0x60-0x64, 0x70-0x71 */
	STAT_PIO_PCI,		/* 0xcf8-0xcff and PCI BARs */
	STAT_PIO_ACPI,		/* PM block */
	STAT_PIO_OTHER,
	STAT_PIO_UNCLAIMED,
	STAT_MMIO,
	STAT_MMIO_UNCLAIMED,
	STAT_HLT,
	STAT_HYPERCALL,
	STAT_IRQ_INJECTED,
	STAT_SHUTDOWN,
	STAT_NR
};

struct vcpu_stats {
	uint64_t count[STAT_NR];
};

extern const char *const stat_names[STAT_NR];

/* Count into a counter that only its vCPU thread writes and other threads (--stats, the API)
 * read with relaxed atomic loads: a relaxed load and store, plain moves on x86-64, so it costs
 * what ++ did and the concurrent read is not a data race. */
static inline void stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* The counter a claimed access to port belongs to (one of the STAT_PIO_* above). */
enum stat_kind stat_pio_kind(uint16_t port);

/* CLOCK_REALTIME in ns. */
uint64_t stats_now_ns(void);
/* When vmon started: VMON_T0_NS if set (a benchmark's clock reading just before it ran vmon,
 * so exec and loading count, as for bench/kvm_floor.c), else now. */
uint64_t stats_start_ns(void);

struct vm;
/* --stats: every non-zero counter summed over the vCPUs, then the engine's own counters. */
void vm_print_stats(struct vm *vm, FILE *out);

#endif
