/* 8259A PIC pair (private to the irqchip). Callers hold the irqchip lock. */
#ifndef VMON_HW_PIC_H
#define VMON_HW_PIC_H

#include <stdbool.h>
#include <stdint.h>

struct bus;
struct irqchip;

struct pic_chip {
	uint8_t irr, isr, imr;
	uint8_t line;		/* input levels as last set, for edge detection */
	uint8_t elcr;		/* level-triggered inputs (ELCR ports 0x4d0/0x4d1) */
	uint8_t elcr_mask;	/* which ELCR bits exist */
	uint8_t vector_base;	/* ICW2 */
	uint8_t highest;	/* input with the highest priority (moves when rotating) */
	uint8_t icw_next;	/* next ICW expected on the odd port (2-4), 0 when initialized */
	bool icw4_expected, single, level_mode, auto_eoi, rotate_on_aeoi, special_nested;
	bool special_mask, read_isr, poll;
};

struct pic {
	struct pic_chip chip[2];	/* [0] master, [1] slave on master input 2 */
	struct irqchip *owner;
};

void pic_init(struct pic *p, struct irqchip *owner);
int pic_register(struct pic *p, struct bus *pio);
/* ISA IRQ 0-15 except 2 (the cascade input). */
void pic_set_irq(struct pic *p, unsigned irq, int level);
/* Vector of the interrupt the master's INTR line is requesting, or -1 (does not acknowledge). */
int pic_pending_vector(const struct pic *p);
/* INTA cycle: acknowledges and returns the vector (spurious 7/15 if the request went away). */
int pic_intack(struct pic *p);

#endif
