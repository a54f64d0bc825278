/* IOAPIC redirection to the LAPICs, through its MMIO window. */
#include "irqchip_fixture.h"
#include "test.h"

#define RTE_LEVEL	(1u << 15)
#define RTE_MASKED	(1u << 16)
#define RTE_REMOTE_IRR	(1u << 14)
#define RTE_LOGICAL	(1u << 11)
#define RTE_LOWEST	(1u << 8)

static void ioapic_write(struct irq_fixture *f, uint8_t reg, uint32_t v)
{
	mmio_write32(f, IOAPIC_BASE, reg);
	mmio_write32(f, IOAPIC_BASE + 0x10, v);
}

static uint32_t ioapic_read(struct irq_fixture *f, uint8_t reg)
{
	mmio_write32(f, IOAPIC_BASE, reg);
	return mmio_read32(f, IOAPIC_BASE + 0x10);
}

static void set_rte(struct irq_fixture *f, unsigned pin, uint32_t lo, uint8_t dest)
{
	ioapic_write(f, (uint8_t)(0x11 + 2 * pin), (uint32_t)dest << 24);
	ioapic_write(f, (uint8_t)(0x10 + 2 * pin), lo);
}

/* Two CPUs with software-enabled APICs and the PIC out of the way (LINT0 masked). */
static struct irq_fixture *setup(void)
{
	struct irq_fixture *f = fixture_create(2);

	for (int cpu = 0; cpu < 2; cpu++) {
		apic_write(f, cpu, 0xf0, 0x1ff);
		apic_write(f, cpu, 0x350, 0x10700);
	}
	return f;
}

TEST(ioapic_id_and_version)
{
	struct irq_fixture *f = setup();

	CHECK_EQ(ioapic_read(f, 0x01), 0x170011);
	CHECK_EQ(ioapic_read(f, 0x00), 2u << 24);	/* IOAPIC ID = number of CPUs */
	ioapic_write(f, 0x00, 5u << 24);
	CHECK_EQ(ioapic_read(f, 0x00), 5u << 24);
	CHECK_EQ(ioapic_read(f, 0x10) & RTE_MASKED, RTE_MASKED);	/* masked after reset */
	CHECK_EQ(ioapic_read(f, 0x10 + 2 * 23) & RTE_MASKED, RTE_MASKED);
	fixture_destroy(f);
}

TEST(ioapic_delivers_to_destination_lapic)
{
	struct irq_fixture *f = setup();

	set_rte(f, 5, 0x35, 1);			/* fixed, physical, edge, APIC ID 1 */
	CHECK_EQ(ioapic_read(f, 0x10 + 2 * 5), 0x35);
	CHECK_EQ(ioapic_read(f, 0x11 + 2 * 5), 1u << 24);
	f->kicked = 0;
	irqchip_set_irq(f->c, 5, 1);
	CHECK_EQ(f->kicked, 2);
	CHECK_EQ(irqchip_pending(f->c, 1), 0x35);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	CHECK_EQ(irqchip_ack(f->c, 1, 0x35), 0x35);
	CHECK_EQ(apic_read(f, 1, 0x100 + 0x10), 1u << (0x35 - 32));	/* ISR */
	fixture_destroy(f);
}

TEST(ioapic_masked_entry_does_not_deliver)
{
	struct irq_fixture *f = setup();

	set_rte(f, 7, RTE_MASKED | 0x47, 0);
	irqchip_set_irq(f->c, 7, 1);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	irqchip_set_irq(f->c, 7, 0);
	set_rte(f, 7, 0x47, 0);			/* an edge while masked is lost */
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	irqchip_set_irq(f->c, 7, 1);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x47);
	fixture_destroy(f);
}

TEST(ioapic_level_remote_irr_until_eoi)
{
	struct irq_fixture *f = setup();

	set_rte(f, 9, RTE_LEVEL | 0x59, 0);
	irqchip_set_irq(f->c, 9, 1);
	CHECK_EQ(irqchip_ack(f->c, 0, 0x59), 0x59);
	CHECK_EQ(ioapic_read(f, 0x10 + 2 * 9) & RTE_REMOTE_IRR, RTE_REMOTE_IRR);
	CHECK_EQ(apic_read(f, 0, 0x180 + 0x20), 1u << (0x59 - 64));	/* TMR: level */

	irqchip_set_irq(f->c, 9, 1);		/* still asserted: held back by remote IRR */
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	CHECK_EQ(apic_read(f, 0, 0x200 + 0x20), 0);

	apic_write(f, 0, 0xb0, 0);		/* EOI: line still high -> delivered again */
	CHECK_EQ(irqchip_pending(f->c, 0), 0x59);
	CHECK_EQ(irqchip_ack(f->c, 0, 0x59), 0x59);

	irqchip_set_irq(f->c, 9, 0);
	apic_write(f, 0, 0xb0, 0);
	CHECK_EQ(ioapic_read(f, 0x10 + 2 * 9) & RTE_REMOTE_IRR, 0);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);

	/* Nobody accepted it (APIC software-disabled): no remote IRR to wait for. */
	apic_write(f, 1, 0xf0, 0xff);
	set_rte(f, 10, RTE_LEVEL | 0x5a, 1);
	irqchip_set_irq(f->c, 10, 1);
	CHECK_EQ(ioapic_read(f, 0x10 + 2 * 10) & RTE_REMOTE_IRR, 0);

	/* Unmasking an asserted level input delivers it. */
	set_rte(f, 9, RTE_MASKED | RTE_LEVEL | 0x59, 0);
	irqchip_set_irq(f->c, 9, 1);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	set_rte(f, 9, RTE_LEVEL | 0x59, 0);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x59);
	fixture_destroy(f);
}

TEST(ioapic_logical_flat_and_lowest_priority)
{
	struct irq_fixture *f = setup();

	apic_write(f, 0, 0xe0, 0xffffffff);	/* flat model */
	apic_write(f, 0, 0xd0, 0x01u << 24);
	apic_write(f, 1, 0xe0, 0xffffffff);
	apic_write(f, 1, 0xd0, 0x02u << 24);

	set_rte(f, 4, RTE_LOGICAL | 0x64, 0x02);
	irqchip_set_irq(f->c, 4, 1);
	CHECK_EQ(irqchip_pending(f->c, 1), 0x64);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);

	/* Lowest priority to both: exactly one gets it, the one with the lower TPR. */
	apic_write(f, 0, 0x80, 0x20);
	set_rte(f, 6, RTE_LOGICAL | RTE_LOWEST | 0x66, 0x03);
	irqchip_set_irq(f->c, 6, 1);
	CHECK_EQ(apic_read(f, 1, 0x200 + 0x30) & (1u << (0x66 - 96)), 1u << (0x66 - 96));
	CHECK_EQ(apic_read(f, 0, 0x200 + 0x30), 0);
	fixture_destroy(f);
}

TEST(ioapic_isa_irq0_is_pin2)
{
	struct irq_fixture *f = setup();

	set_rte(f, 2, 0x30, 0);
	set_rte(f, 0, 0x31, 0);
	irqchip_set_irq(f->c, 0, 1);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x30);
	irqchip_set_irq(f->c, 24, 1);		/* no such GSI: ignored */
	CHECK_EQ(irqchip_ack(f->c, 0, 0x30), 0x30);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	fixture_destroy(f);
}

TEST(ioapic_extint_takes_pic_vector)
{
	struct irq_fixture *f = setup();

	pic_setup(f);
	set_rte(f, 2, 7u << 8, 1);		/* ExtINT to CPU 1 */
	irqchip_set_irq(f->c, 3, 1);		/* the PIC requests 0x23, CPU 1 is not told */
	CHECK_EQ(irqchip_pending(f->c, 1), -1);
	irqchip_set_irq(f->c, 0, 1);		/* IOAPIC pin 2: "ask the PIC" */
	CHECK_EQ(irqchip_pending(f->c, 1), 0x20);	/* IRQ 0 beats IRQ 3 at the PIC */
	CHECK_EQ(irqchip_ack(f->c, 1, 0x20), 0x20);
	CHECK_EQ(irqchip_pending(f->c, 1), -1);	/* one INTA per ExtINT message */
	fixture_destroy(f);
}
