/* Local APIC of one vCPU (private to the irqchip). Callers hold the irqchip lock. */
#ifndef VMON_HW_LAPIC_H
#define VMON_HW_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

struct bus;
struct irqchip;
struct apic_msg;

/* LVT entries in register order: timer, thermal, performance counter, LINT0, LINT1, error. */
enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_NR };

struct lapic {
	struct irqchip *owner;
	int cpu;
	uint32_t id;			/* APIC ID (plain number, not shifted) */
	uint64_t base_msr;		/* IA32_APIC_BASE */
	uint32_t tpr, svr, ldr, dfr;
	uint32_t esr, esr_pending;	/* ESR as last latched / errors since */
	uint32_t icr_lo, icr_hi;
	uint32_t lvt[LVT_NR];
	uint32_t irr[8], isr[8], tmr[8];
	uint32_t timer_initial, timer_divide;	/* TMICT, TDCR */
	uint64_t timer_start_ns;	/* when TMICT was written (one-shot/periodic) */
	uint64_t timer_deadline_ns;	/* next expiry, UINT64_MAX when disarmed */
	uint64_t tsc_deadline;		/* IA32_TSC_DEADLINE, 0 when disarmed */
	bool init_pending, sipi_pending, nmi_pending;
	bool extint_pending;		/* an ExtINT message: take the vector from the PIC */
	uint8_t sipi_vector;
};

void lapic_init(struct lapic *l, struct irqchip *owner, int cpu);
int lapic_register(struct irqchip *c, struct bus *mmio);
/* Delivery of one APIC-bus message that addressed this LAPIC; false if it was dropped. */
bool lapic_accept(struct lapic *l, const struct apic_msg *m);
/* The LINT1 pin was pulsed (an NMI button): what its LVT entry says (NMI, or a fixed vector). */
void lapic_lint1(struct lapic *l);
/* Hardware- and software-enabled: fixed and lowest-priority interrupts get in. */
bool lapic_enabled(const struct lapic *l);
/* Whether an APIC-bus destination names this LAPIC (shorthands are resolved by the caller). */
bool lapic_match_dest(const struct lapic *l, const struct apic_msg *m);
uint8_t lapic_ppr(const struct lapic *l);
/* The PIC's INTR reaches this CPU through LINT0 (ExtINT) or because the APIC is off. */
bool lapic_accepts_pic(const struct lapic *l);
/* Highest IRR vector the CPU may take now, or -1; lapic_ack moves it IRR -> ISR and returns it,
 * or returns the spurious vector if nothing is deliverable any more. */
int lapic_pending_vector(const struct lapic *l);
int lapic_ack(struct lapic *l);
/* Fires the timer if due; returns its next deadline or UINT64_MAX. */
uint64_t lapic_timer_poll(struct lapic *l, uint64_t now);

#endif
