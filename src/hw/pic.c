/* 8259A programmable interrupt controller pair: master at 0x20/0x21, slave at 0xa0/0xa1 cascaded
 * on master input 2, edge/level control (ELCR) at 0x4d0/0x4d1.
 *
 * Modelled: ICW1-4, OCW1 mask, OCW2 EOI (specific, non-specific, rotating, set priority), OCW3
 * (read IRR/ISR, poll, special mask), auto-EOI, special fully nested mode, edge and level inputs,
 * spurious IRQ 7/15. The cascade input of the master follows the slave's INT output as a level,
 * so a slave request that stays asserted across an EOI is never lost. Buffered mode and the
 * 8080 call format are meaningless for a VM and ignored.
 */
#include "bus.h"
#include "hw/irqchip_internal.h"

#define PIC_MASTER_PORT	0x20
#define PIC_SLAVE_PORT	0xa0
#define PIC_ELCR_PORT	0x4d0
#define PIC_CASCADE_IRQ	2

static uint8_t level_inputs(const struct pic_chip *s, bool master)
{
	uint8_t lvl = s->level_mode ? 0xff : s->elcr;

	return master ? lvl | (1u << PIC_CASCADE_IRQ) : lvl;
}

/* 0 for the highest priority input .. 7 for the lowest, 8 if mask is empty. */
static int priority_of(const struct pic_chip *s, uint8_t mask)
{
	for (int p = 0; p < 8; p++)
		if (mask & (1u << ((p + s->highest) & 7)))
			return p;
	return 8;
}

/* The input this chip requests an interrupt for now (INT output), or -1. */
static int chip_pending_irq(const struct pic_chip *s, bool master)
{
	int p = priority_of(s, s->irr & ~s->imr);
	uint8_t blocking = s->isr;

	if (p == 8)
		return -1;
	/* Special mask mode: a masked in-service level no longer holds off lower priorities. */
	if (s->special_mask)
		blocking &= ~s->imr;
	/* Special fully nested: the slave may interrupt again while its cascade is in service. */
	if (master && s->special_nested)
		blocking &= ~(1u << PIC_CASCADE_IRQ);
	return p < priority_of(s, blocking) ? (p + s->highest) & 7 : -1;
}

static void chip_set_input(struct pic_chip *s, bool master, unsigned irq, int level)
{
	uint8_t bit = 1u << irq;

	if (level_inputs(s, master) & bit) {
		if (level)
			s->irr |= bit;
		else
			s->irr &= ~bit;
	} else if (level && !(s->line & bit)) {
		s->irr |= bit;
	}
	if (level)
		s->line |= bit;
	else
		s->line &= ~bit;
}

static void chip_ack(struct pic_chip *s, bool master, int irq)
{
	uint8_t bit = 1u << irq;

	if (!s->auto_eoi)
		s->isr |= bit;
	else if (s->rotate_on_aeoi)
		s->highest = (irq + 1) & 7;
	/* A level input keeps requesting for as long as its line is high. */
	if (!(level_inputs(s, master) & bit))
		s->irr &= ~bit;
}

/* Propagates the slave's output to the master and wakes the BSP if the master now requests. */
static void pic_update(struct pic *p)
{
	chip_set_input(&p->chip[0], true, PIC_CASCADE_IRQ, chip_pending_irq(&p->chip[1], false) >= 0);
	if (chip_pending_irq(&p->chip[0], true) >= 0)
		irqchip_kick_cpu(p->owner, 0);
}

void pic_set_irq(struct pic *p, unsigned irq, int level)
{
	if (irq >= 16 || irq == PIC_CASCADE_IRQ)
		return;
	chip_set_input(&p->chip[irq >> 3], irq < 8, irq & 7, level);
	pic_update(p);
}

int pic_pending_vector(const struct pic *p)
{
	int irq = chip_pending_irq(&p->chip[0], true);

	if (irq < 0)
		return -1;
	if (irq == PIC_CASCADE_IRQ) {
		int sirq = chip_pending_irq(&p->chip[1], false);
		return p->chip[1].vector_base + (sirq < 0 ? 7 : sirq);
	}
	return p->chip[0].vector_base + irq;
}

int pic_intack(struct pic *p)
{
	struct pic_chip *m = &p->chip[0], *s = &p->chip[1];
	int irq = chip_pending_irq(m, true), vector;

	if (irq < 0) {
		/* The request went away before INTA: spurious IRQ 7, ISR untouched. */
		vector = m->vector_base + 7;
	} else if (irq == PIC_CASCADE_IRQ) {
		int sirq = chip_pending_irq(s, false);
		chip_ack(m, true, irq);
		if (sirq >= 0) {
			chip_ack(s, false, sirq);
			vector = s->vector_base + sirq;
		} else {
			vector = s->vector_base + 7;
		}
	} else {
		chip_ack(m, true, irq);
		vector = m->vector_base + irq;
	}
	pic_update(p);
	return vector;
}

static void chip_icw1(struct pic_chip *s, bool master, uint8_t val)
{
	s->icw4_expected = val & 0x01;
	s->single = val & 0x02;
	s->level_mode = val & 0x08;
	s->imr = 0;
	s->isr = 0;
	/* The edge-sense latches are reset: only asserted level inputs still request. */
	s->irr = s->line & level_inputs(s, master);
	s->highest = 0;
	s->auto_eoi = s->rotate_on_aeoi = s->special_nested = false;
	s->special_mask = s->read_isr = s->poll = false;
	s->icw_next = 2;
}

static void chip_eoi(struct pic_chip *s, uint8_t ocw2)
{
	int irq;

	switch (ocw2 >> 5) {
	case 0:	/* rotate in auto-EOI mode: clear */
	case 4:	/* rotate in auto-EOI mode: set */
		s->rotate_on_aeoi = ocw2 >> 7;
		return;
	case 1:	/* non-specific EOI */
	case 5:	/* rotate on non-specific EOI */
		irq = priority_of(s, s->isr);
		if (irq == 8)
			return;
		irq = (irq + s->highest) & 7;
		break;
	case 3:	/* specific EOI */
	case 7:	/* rotate on specific EOI */
		irq = ocw2 & 7;
		break;
	case 6:	/* set priority: the named input becomes the lowest */
		s->highest = (ocw2 + 1) & 7;
		return;
	default: /* 2: no operation */
		return;
	}
	s->isr &= ~(1u << irq);
	if (ocw2 & 0x80)
		s->highest = (irq + 1) & 7;
}

static void chip_write(struct pic *p, int idx, uint64_t off, uint8_t val)
{
	struct pic_chip *s = &p->chip[idx];

	if (off == 0) {
		if (val & 0x10) {
			chip_icw1(s, idx == 0, val);
		} else if (val & 0x08) {	/* OCW3 */
			if (val & 0x04)
				s->poll = true;
			if (val & 0x02)
				s->read_isr = val & 0x01;
			if (val & 0x40)
				s->special_mask = val & 0x20;
		} else {
			chip_eoi(s, val);
		}
	} else {
		switch (s->icw_next) {
		case 0:		/* OCW1 */
			s->imr = val;
			break;
		case 2:
			s->vector_base = val & 0xf8;
			s->icw_next = !s->single ? 3 : s->icw4_expected ? 4 : 0;
			break;
		case 3:		/* the cascade wiring is fixed: ICW3 only advances */
			s->icw_next = s->icw4_expected ? 4 : 0;
			break;
		default:	/* ICW4 */
			s->auto_eoi = val & 0x02;
			s->special_nested = val & 0x10;
			s->icw_next = 0;
			break;
		}
	}
	pic_update(p);
}

/* Poll command: the read acts as INTA and returns 0x80 | input, or 0 if nothing is pending. */
static uint8_t chip_poll(struct pic *p, int idx)
{
	struct pic_chip *s = &p->chip[idx];
	int irq = chip_pending_irq(s, idx == 0);

	s->poll = false;
	if (irq < 0)
		return 0;
	chip_ack(s, idx == 0, irq);
	pic_update(p);
	return 0x80 | irq;
}

static uint8_t chip_read(struct pic *p, int idx, uint64_t off)
{
	const struct pic_chip *s = &p->chip[idx];

	if (s->poll)
		return chip_poll(p, idx);
	if (off == 0)
		return s->read_isr ? s->isr : s->irr;
	return s->imr;
}

static uint64_t master_read(void *opaque, uint64_t off, unsigned size)
{
	struct pic *p = opaque;

	irqchip_lock(p->owner);
	uint8_t val = chip_read(p, 0, off);
	irqchip_unlock(p->owner);
	return val;
}

static void master_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct pic *p = opaque;

	irqchip_lock(p->owner);
	chip_write(p, 0, off, (uint8_t)val);
	irqchip_unlock(p->owner);
}

static uint64_t slave_read(void *opaque, uint64_t off, unsigned size)
{
	struct pic *p = opaque;

	irqchip_lock(p->owner);
	uint8_t val = chip_read(p, 1, off);
	irqchip_unlock(p->owner);
	return val;
}

static void slave_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct pic *p = opaque;

	irqchip_lock(p->owner);
	chip_write(p, 1, off, (uint8_t)val);
	irqchip_unlock(p->owner);
}

/* The two ELCR bytes may be accessed together as one 16-bit port. */
static uint64_t elcr_read(void *opaque, uint64_t off, unsigned size)
{
	struct pic *p = opaque;
	uint64_t val = 0;

	irqchip_lock(p->owner);
	for (unsigned i = 0; i < size && off + i < 2; i++)
		val |= (uint64_t)p->chip[off + i].elcr << (8 * i);
	irqchip_unlock(p->owner);
	return val;
}

static void elcr_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct pic *p = opaque;

	irqchip_lock(p->owner);
	for (unsigned i = 0; i < size && off + i < 2; i++) {
		struct pic_chip *s = &p->chip[off + i];
		s->elcr = (uint8_t)(val >> (8 * i)) & s->elcr_mask;
		/* Inputs that are level-triggered now request exactly while their line is high. */
		uint8_t lvl = level_inputs(s, off + i == 0);
		s->irr = (s->irr & ~lvl) | (s->line & lvl);
	}
	pic_update(p);
	irqchip_unlock(p->owner);
}

static const struct io_ops master_ops = { .read = master_read, .write = master_write };
static const struct io_ops slave_ops = { .read = slave_read, .write = slave_write };
static const struct io_ops elcr_ops = { .read = elcr_read, .write = elcr_write };

void pic_init(struct pic *p, struct irqchip *owner)
{
	*p = (struct pic){ .owner = owner };
	/* The state a PC BIOS leaves behind, for guests that never program the PIC: vectors 0x08 and
	 * 0x70, everything masked but the cascade. */
	p->chip[0].vector_base = 0x08;
	p->chip[0].imr = 0xff & ~(1u << PIC_CASCADE_IRQ);
	p->chip[0].elcr_mask = 0xf8;	/* IRQ 0-2 are always edge */
	p->chip[1].vector_base = 0x70;
	p->chip[1].imr = 0xff;
	p->chip[1].elcr_mask = 0xde;	/* IRQ 8 and 13 are always edge */
}

int pic_register(struct pic *p, struct bus *pio)
{
	if (bus_register(pio, PIC_MASTER_PORT, 2, &master_ops, p, "pic-master") ||
	    bus_register(pio, PIC_SLAVE_PORT, 2, &slave_ops, p, "pic-slave") ||
	    bus_register(pio, PIC_ELCR_PORT, 2, &elcr_ops, p, "pic-elcr"))
		return -1;
	return 0;
}
