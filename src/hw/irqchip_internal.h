/* What the PIC, IOAPIC, LAPIC and PIT models share (private to src/hw).
 *
 * One mutex guards the whole irqchip: devices call into each other (PIT -> PIC/IOAPIC -> LAPIC,
 * LAPIC EOI -> IOAPIC) and a single lock keeps that free of lock-order problems. Kicks are queued
 * while the lock is held and sent after it is dropped, so the engine's kick callback may take its
 * own locks or call back into the irqchip.
 */
#ifndef VMON_HW_IRQCHIP_INTERNAL_H
#define VMON_HW_IRQCHIP_INTERNAL_H

#include <pthread.h>

#include "hw/ioapic.h"
#include "hw/irqchip.h"
#include "hw/lapic.h"
#include "hw/pic.h"
#include "hw/pit.h"
#include "vm_clock.h"

/* One interrupt message on the APIC bus (from the IOAPIC or an ICR write). */
struct apic_msg {
	uint32_t dest;
	uint8_t vector;
	uint8_t mode;		/* APIC_DM_* */
	bool logical;
	bool level;		/* level-triggered: the LAPIC sets TMR and broadcasts its EOI */
	bool x2apic;		/* 32-bit destination (x2APIC ICR) rather than 8-bit */
	uint8_t shorthand;	/* APIC_SH_* */
	int src;		/* sending CPU for the self shorthands, -1 for the IOAPIC */
};

enum { APIC_DM_FIXED, APIC_DM_LOWEST, APIC_DM_SMI, APIC_DM_NMI = 4, APIC_DM_INIT,
       APIC_DM_STARTUP, APIC_DM_EXTINT };
enum { APIC_SH_NONE, APIC_SH_SELF, APIC_SH_ALL, APIC_SH_OTHERS };

struct irqchip {
	pthread_mutex_t lock;
	int nr_cpus;
	irqchip_kick_fn kick;
	void *kick_opaque;
	uint64_t kick_mask;		/* CPUs to kick when the lock is dropped */
	struct vm_clock *clock;		/* the VM's */
	uint64_t (*test_now)(void);	/* replaces the clock (irqchip_set_clock), or NULL */
	struct pic pic;
	struct ioapic ioapic;
	struct pit pit;
	struct lapic lapic[];		/* nr_cpus */
};

void irqchip_lock(struct irqchip *c);
void irqchip_unlock(struct irqchip *c);
void irqchip_kick_cpu(struct irqchip *c, int cpu);

/* The time device registers read: the VM clock unless a test replaced it. */
static inline uint64_t irqchip_now(struct irqchip *c)
{
	return c->test_now ? c->test_now() : vm_clock_now_ns(c->clock);
}
void irqchip_set_irq_locked(struct irqchip *c, unsigned gsi, int level);
/* Returns how many LAPICs accepted the message. */
int irqchip_deliver(struct irqchip *c, const struct apic_msg *m);
/* Registers "pic", "ioapic", "pit", "lapic<N>" with vm_register_state (irqchip_state.c). */
int irqchip_register_state(struct irqchip *c, struct vm *vm);
/* The LAPIC that the calling thread's vCPU sees at the APIC MMIO page. */
struct lapic *irqchip_current_lapic(struct irqchip *c);

#endif
