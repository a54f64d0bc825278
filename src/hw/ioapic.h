/* 82093AA-style I/O APIC (private to the irqchip). Callers hold the irqchip lock. */
#ifndef VMON_HW_IOAPIC_H
#define VMON_HW_IOAPIC_H

#include <stdint.h>

struct bus;
struct irqchip;

#define IOAPIC_PINS	24

struct ioapic {
	struct irqchip *owner;
	uint8_t regsel;			/* IOREGSEL */
	uint8_t id;			/* 4-bit IOAPIC ID */
	uint32_t line;			/* input levels */
	uint64_t redir[IOAPIC_PINS];	/* redirection table */
};

void ioapic_init(struct ioapic *io, struct irqchip *owner, uint8_t id);
int ioapic_register(struct ioapic *io, struct bus *mmio);
void ioapic_set_irq(struct ioapic *io, unsigned pin, int level);
/* A LAPIC completed a level-triggered vector: clear remote IRR, re-deliver if still asserted. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

#endif
