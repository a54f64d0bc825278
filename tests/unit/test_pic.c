/* 8259A PIC pair through its ports, as the BSP sees it (LINT0 in ExtINT mode after reset). */
#include "irqchip_fixture.h"
#include "test.h"

static uint8_t read_isr(struct irq_fixture *f, uint16_t port)
{
	outb(f, port, 0x0b);	/* OCW3: read ISR */
	uint8_t v = inb(f, port);
	outb(f, port, 0x0a);	/* back to IRR */
	return v;
}

TEST(pic_init_sequence_sets_vector_base)
{
	struct irq_fixture *f = fixture_create(1);

	pic_setup(f);
	CHECK_EQ(inb(f, 0x21), 0);
	irqchip_set_irq(f->c, 1, 1);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x21);
	CHECK_EQ(irqchip_ack(f->c, 0, 0x21), 0x21);
	CHECK_EQ(read_isr(f, 0x20), 0x02);

	/* Re-initialised with another base, an old request does not survive ICW1 (edge input). */
	outb(f, 0x20, 0x11);
	outb(f, 0x21, 0x50);
	outb(f, 0x21, 0x04);
	outb(f, 0x21, 0x01);
	CHECK_EQ(read_isr(f, 0x20), 0);
	irqchip_set_irq(f->c, 1, 0);
	irqchip_set_irq(f->c, 4, 1);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x54);
	fixture_destroy(f);
}

TEST(pic_raise_kicks_bsp)
{
	struct irq_fixture *f = fixture_create(2);

	pic_setup(f);
	f->kicked = 0;
	irqchip_set_irq(f->c, 3, 1);
	CHECK_EQ(f->kicked, 1);
	CHECK_EQ(irqchip_pending(f->c, 1), -1);	/* only the BSP's LINT0 is wired */
	fixture_destroy(f);
}

TEST(pic_masked_irq_not_pending)
{
	struct irq_fixture *f = fixture_create(1);

	pic_setup(f);
	outb(f, 0x21, 0x02);
	irqchip_set_irq(f->c, 1, 1);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	CHECK_EQ(inb(f, 0x20) & 0x02, 0x02);	/* the request waits in IRR */
	outb(f, 0x21, 0x00);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x21);
	fixture_destroy(f);
}

TEST(pic_eoi_clears_isr)
{
	struct irq_fixture *f = fixture_create(1);

	pic_setup(f);
	irqchip_set_irq(f->c, 6, 1);
	CHECK_EQ(irqchip_ack(f->c, 0, 0x26), 0x26);
	CHECK_EQ(read_isr(f, 0x20), 0x40);
	CHECK_EQ(inb(f, 0x20) & 0x40, 0);	/* edge: IRR cleared by INTA */
	outb(f, 0x20, 0x20);			/* non-specific EOI */
	CHECK_EQ(read_isr(f, 0x20), 0);

	irqchip_set_irq(f->c, 6, 0);
	irqchip_set_irq(f->c, 6, 1);
	irqchip_ack(f->c, 0, 0x26);
	outb(f, 0x20, 0x60 | 5);		/* specific EOI for another level: no effect */
	CHECK_EQ(read_isr(f, 0x20), 0x40);
	outb(f, 0x20, 0x60 | 6);
	CHECK_EQ(read_isr(f, 0x20), 0);
	fixture_destroy(f);
}

TEST(pic_priority_irq0_over_irq1)
{
	struct irq_fixture *f = fixture_create(1);

	pic_setup(f);
	irqchip_set_irq(f->c, 1, 1);
	irqchip_set_irq(f->c, 0, 1);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x20);
	CHECK_EQ(irqchip_ack(f->c, 0, 0x20), 0x20);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);	/* IRQ 1 waits for IRQ 0's EOI */
	outb(f, 0x20, 0x20);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x21);

	/* ...but a higher priority request nests into a lower one in service. */
	irqchip_ack(f->c, 0, 0x21);
	irqchip_set_irq(f->c, 0, 0);
	irqchip_set_irq(f->c, 0, 1);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x20);
	fixture_destroy(f);
}

TEST(pic_cascade_slave_irq)
{
	struct irq_fixture *f = fixture_create(1);

	pic_setup(f);
	irqchip_set_irq(f->c, 10, 1);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x2a);
	CHECK_EQ(irqchip_ack(f->c, 0, 0x2a), 0x2a);
	CHECK_EQ(read_isr(f, 0xa0), 0x04);
	CHECK_EQ(read_isr(f, 0x20), 0x04);	/* the cascade input is in service too */

	irqchip_set_irq(f->c, 9, 1);		/* higher on the slave, but the master blocks IRQ 2 */
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	outb(f, 0xa0, 0x20);
	outb(f, 0x20, 0x20);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x29);

	outb(f, 0xa1, 0x02);			/* slave mask hides it */
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	fixture_destroy(f);
}

TEST(pic_level_vs_edge)
{
	struct irq_fixture *f = fixture_create(1);

	pic_setup(f);
	outb(f, 0x4d1, 0x04);			/* IRQ 10 level-triggered */
	CHECK_EQ(inb(f, 0x4d1), 0x04);
	outb(f, 0x4d0, 0xff);			/* IRQ 0-2 cannot be level */
	CHECK_EQ(inb(f, 0x4d0), 0xf8);
	outb(f, 0x4d0, 0x00);

	irqchip_set_irq(f->c, 10, 1);
	CHECK_EQ(irqchip_ack(f->c, 0, 0x2a), 0x2a);
	outb(f, 0xa0, 0x20);
	outb(f, 0x20, 0x20);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x2a);	/* still asserted: requests again */
	irqchip_set_irq(f->c, 10, 0);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);

	irqchip_set_irq(f->c, 3, 1);			/* edge */
	CHECK_EQ(irqchip_ack(f->c, 0, 0x23), 0x23);
	outb(f, 0x20, 0x20);
	irqchip_set_irq(f->c, 3, 1);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);	/* no new edge */
	irqchip_set_irq(f->c, 3, 0);
	irqchip_set_irq(f->c, 3, 1);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x23);
	fixture_destroy(f);
}

TEST(pic_spurious_irq7)
{
	struct irq_fixture *f = fixture_create(1);

	pic_setup(f);
	outb(f, 0x4d0, 0x20);			/* IRQ 5 level */
	irqchip_set_irq(f->c, 5, 1);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x25);
	irqchip_set_irq(f->c, 5, 0);		/* gone before INTA */
	CHECK_EQ(irqchip_ack(f->c, 0, 0x25), 0x27);
	CHECK_EQ(read_isr(f, 0x20), 0);		/* spurious: nothing in service */
	fixture_destroy(f);
}

TEST(pic_auto_eoi_and_poll)
{
	struct irq_fixture *f = fixture_create(1);

	outb(f, 0x20, 0x11);
	outb(f, 0x21, 0x20);
	outb(f, 0x21, 0x04);
	outb(f, 0x21, 0x03);			/* ICW4: 8086, auto-EOI */
	outb(f, 0x21, 0x00);
	irqchip_set_irq(f->c, 4, 1);
	CHECK_EQ(irqchip_ack(f->c, 0, 0x24), 0x24);
	CHECK_EQ(read_isr(f, 0x20), 0);

	irqchip_set_irq(f->c, 7, 1);
	outb(f, 0x20, 0x0c);			/* OCW3 poll */
	CHECK_EQ(inb(f, 0x20), 0x87);
	outb(f, 0x20, 0x0c);
	CHECK_EQ(inb(f, 0x20), 0x00);
	fixture_destroy(f);
}

TEST(pic_masked_lint0_hides_pic)
{
	struct irq_fixture *f = fixture_create(1);

	pic_setup(f);
	irqchip_set_irq(f->c, 1, 1);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x21);
	apic_write(f, 0, 0xf0, 0x1ff);		/* software-enable the APIC */
	apic_write(f, 0, 0x350, 0x10700);	/* LINT0 masked */
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	apic_write(f, 0, 0x350, 0x00700);	/* virtual wire again */
	CHECK_EQ(irqchip_pending(f->c, 0), 0x21);
	fixture_destroy(f);
}
