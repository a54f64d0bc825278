/* I/O APIC at IOAPIC_BASE: IOREGSEL at +0x00, IOWIN at +0x10, version 0x11 with 24 pins.
 *
 * Each pin's redirection entry turns an input edge (or an asserted level) into an APIC-bus
 * message. Level-triggered entries set remote IRR when a LAPIC accepts the message and stay quiet
 * until that LAPIC's EOI comes back (ioapic_eoi); the pin is then re-delivered if still asserted.
 * Edges arriving on a masked pin are lost, as on hardware. The pin polarity bit is stored but
 * lines are modelled as logical "asserted" levels, so it has no effect.
 */
#include "bus.h"
#include "hw/irqchip_internal.h"

#define IOAPIC_MMIO_SIZE	0x1000
#define IOAPIC_REGSEL		0x00
#define IOAPIC_IOWIN		0x10

#define IOAPIC_REG_ID		0x00
#define IOAPIC_REG_VERSION	0x01
#define IOAPIC_REG_ARB		0x02
#define IOAPIC_REG_REDIR	0x10
#define IOAPIC_VERSION		(0x11u | ((IOAPIC_PINS - 1u) << 16))

#define RTE_VECTOR	0xffull
#define RTE_LOGICAL	(1ull << 11)
#define RTE_POLARITY	(1ull << 13)
#define RTE_REMOTE_IRR	(1ull << 14)
#define RTE_LEVEL	(1ull << 15)
#define RTE_MASKED	(1ull << 16)
#define RTE_DEST_SHIFT	56
/* Bits the guest may write: vector, delivery mode, destination mode, polarity, trigger, mask,
 * destination. Delivery status and remote IRR are read-only. */
#define RTE_WRITABLE	(RTE_VECTOR | (7ull << 8) | RTE_LOGICAL | RTE_POLARITY | RTE_LEVEL | \
			 RTE_MASKED | (0xffull << RTE_DEST_SHIFT))

static unsigned rte_mode(uint64_t e)
{
	return (e >> 8) & 7;
}

/* Sends pin's message if its entry and input call for one now. */
static void ioapic_service(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->redir[pin];
	bool level = e & RTE_LEVEL;

	if (e & RTE_MASKED)
		return;
	if (level && (!(io->line & (1u << pin)) || (e & RTE_REMOTE_IRR)))
		return;

	struct apic_msg m = {
		.dest = (uint32_t)(e >> RTE_DEST_SHIFT),
		.vector = (uint8_t)(e & RTE_VECTOR),
		.mode = (uint8_t)rte_mode(e),
		.logical = e & RTE_LOGICAL,
		.level = level,
		.src = -1,
	};
	int accepted = irqchip_deliver(io->owner, &m);
	/* Only fixed and lowest-priority interrupts are ever EOIed. */
	if (level && accepted && (m.mode == APIC_DM_FIXED || m.mode == APIC_DM_LOWEST))
		io->redir[pin] |= RTE_REMOTE_IRR;
}

void ioapic_set_irq(struct ioapic *io, unsigned pin, int level)
{
	if (pin >= IOAPIC_PINS)
		return;

	uint32_t bit = 1u << pin;
	bool was = io->line & bit;

	if (!level) {
		io->line &= ~bit;
		return;
	}
	io->line |= bit;
	if ((io->redir[pin] & RTE_LEVEL) || !was)
		ioapic_service(io, pin);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t e = io->redir[pin];
		if ((e & RTE_VECTOR) != vector || !(e & RTE_LEVEL) || !(e & RTE_REMOTE_IRR))
			continue;
		io->redir[pin] = e & ~RTE_REMOTE_IRR;
		ioapic_service(io, pin);
	}
}

static uint32_t ioapic_reg_read(const struct ioapic *io)
{
	unsigned reg = io->regsel;

	switch (reg) {
	case IOAPIC_REG_ID:
	case IOAPIC_REG_ARB:
		return (uint32_t)io->id << 24;
	case IOAPIC_REG_VERSION:
		return IOAPIC_VERSION;
	}
	if (reg >= IOAPIC_REG_REDIR && reg < IOAPIC_REG_REDIR + 2 * IOAPIC_PINS) {
		uint64_t e = io->redir[(reg - IOAPIC_REG_REDIR) / 2];
		return (uint32_t)(reg & 1 ? e >> 32 : e);
	}
	return 0;
}

static void ioapic_reg_write(struct ioapic *io, uint32_t val)
{
	unsigned reg = io->regsel;

	if (reg == IOAPIC_REG_ID) {
		io->id = (val >> 24) & 0xf;
		return;
	}
	if (reg < IOAPIC_REG_REDIR || reg >= IOAPIC_REG_REDIR + 2 * IOAPIC_PINS)
		return;

	unsigned pin = (reg - IOAPIC_REG_REDIR) / 2;
	uint64_t e = io->redir[pin];

	if (reg & 1)
		e = (e & 0xffffffffull) | ((uint64_t)val << 32);
	else
		e = (e & ~0xffffffffull) | val;
	e = (e & RTE_WRITABLE) | (io->redir[pin] & RTE_REMOTE_IRR);
	/* Remote IRR has no meaning for edge entries; Linux clears a stuck one by switching the
	 * entry to edge and back. */
	if (!(e & RTE_LEVEL))
		e &= ~RTE_REMOTE_IRR;
	io->redir[pin] = e;
	/* Unmasking a still-asserted level input delivers it. */
	if (e & RTE_LEVEL)
		ioapic_service(io, pin);
}

static uint64_t ioapic_mmio_read(void *opaque, uint64_t off, unsigned size)
{
	struct ioapic *io = opaque;
	uint64_t val = 0;

	irqchip_lock(io->owner);
	if (off == IOAPIC_REGSEL)
		val = io->regsel;
	else if (off == IOAPIC_IOWIN)
		val = ioapic_reg_read(io);
	irqchip_unlock(io->owner);
	return val;
}

static void ioapic_mmio_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct ioapic *io = opaque;

	irqchip_lock(io->owner);
	if (off == IOAPIC_REGSEL)
		io->regsel = (uint8_t)val;
	else if (off == IOAPIC_IOWIN)
		ioapic_reg_write(io, (uint32_t)val);
	irqchip_unlock(io->owner);
}

static const struct io_ops ioapic_ops = { .read = ioapic_mmio_read, .write = ioapic_mmio_write };

void ioapic_init(struct ioapic *io, struct irqchip *owner, uint8_t id)
{
	*io = (struct ioapic){ .owner = owner, .id = id & 0xf };
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		io->redir[pin] = RTE_MASKED;
}

int ioapic_register(struct ioapic *io, struct bus *mmio)
{
	return bus_register(mmio, IOAPIC_BASE, IOAPIC_MMIO_SIZE, &ioapic_ops, io, "ioapic");
}
