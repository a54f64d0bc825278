/* Local APIC: priorities, EOI, IPIs, INIT/SIPI, timers, x2APIC MSRs. */
#include "irqchip_fixture.h"
#include "test.h"

enum {
	TPR = 0x80, PPR = 0xa0, EOI = 0xb0, LDR = 0xd0, DFR = 0xe0, SVR = 0xf0, ISR = 0x100,
	IRR = 0x200, ESR = 0x280, ICR_LO = 0x300, ICR_HI = 0x310, LVT_TIMER = 0x320,
	LINT0 = 0x350, LVT_ERROR = 0x370, TMICT = 0x380, TMCCT = 0x390, TDCR = 0x3e0,
};

#define SELF		(1u << 18)
#define MASKED		(1u << 16)
#define PERIODIC	(1u << 17)
#define TSC_DEADLINE	(2u << 17)

static struct irq_fixture *setup(int cpus)
{
	struct irq_fixture *f = fixture_create(cpus);

	for (int cpu = 0; cpu < cpus; cpu++) {
		apic_write(f, cpu, SVR, 0x1ff);
		apic_write(f, cpu, LINT0, MASKED | 0x700);
	}
	return f;
}

static void self_ipi(struct irq_fixture *f, uint8_t vector)
{
	apic_write(f, 0, ICR_LO, SELF | vector);
}

TEST(lapic_reset_state)
{
	struct irq_fixture *f = fixture_create(2);

	CHECK_EQ(apic_read(f, 0, 0x20), 0);
	CHECK_EQ(apic_read(f, 1, 0x20), 1u << 24);
	CHECK_EQ(apic_read(f, 0, 0x30), 0x50014);
	CHECK_EQ(apic_read(f, 0, SVR), 0xff);
	CHECK_EQ(apic_read(f, 0, DFR), 0xffffffff);
	CHECK_EQ(apic_read(f, 0, LINT0), 0x700);	/* BSP: virtual wire */
	CHECK_EQ(apic_read(f, 1, LINT0), MASKED);
	CHECK_EQ(lapic_get_base_msr(irqchip_lapic(f->c, 0)), 0xfee00900);
	CHECK_EQ(lapic_get_base_msr(irqchip_lapic(f->c, 1)), 0xfee00800);
	CHECK(irqchip_lapic(f->c, 2) == NULL);
	fixture_destroy(f);
}

TEST(lapic_tpr_blocks_lower_class)
{
	struct irq_fixture *f = setup(1);

	self_ipi(f, 0x45);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x45);
	apic_write(f, 0, TPR, 0x50);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	apic_write(f, 0, TPR, 0x4f);		/* same class: still blocked */
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	CHECK_EQ(apic_read(f, 0, PPR), 0x4f);
	lapic_set_tpr(irqchip_lapic(f->c, 0), 3);	/* MOV CR8, 3 */
	CHECK_EQ(apic_read(f, 0, TPR), 0x30);
	CHECK_EQ(lapic_get_tpr(irqchip_lapic(f->c, 0)), 3);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x45);
	fixture_destroy(f);
}

TEST(lapic_eoi_and_isr_priority)
{
	struct irq_fixture *f = setup(1);

	self_ipi(f, 0x45);
	CHECK_EQ(irqchip_ack(f->c, 0, 0x45), 0x45);
	CHECK_EQ(apic_read(f, 0, ISR + 0x20), 1u << (0x45 - 64));
	CHECK_EQ(apic_read(f, 0, PPR), 0x40);
	self_ipi(f, 0x35);			/* lower class than the one in service */
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	self_ipi(f, 0x55);			/* higher class nests */
	CHECK_EQ(irqchip_ack(f->c, 0, 0x55), 0x55);
	apic_write(f, 0, EOI, 0);		/* completes 0x55, the highest in service */
	CHECK_EQ(apic_read(f, 0, ISR + 0x20), 1u << (0x45 - 64));
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	apic_write(f, 0, EOI, 0);
	CHECK_EQ(apic_read(f, 0, ISR + 0x20), 0);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x35);

	/* Nothing deliverable at INTA time: the spurious vector, nothing put in service. */
	apic_write(f, 0, TPR, 0xf0);
	CHECK_EQ(irqchip_ack(f->c, 0, 0x35), 0xff);
	CHECK_EQ(apic_read(f, 0, ISR + 0x10), 0);
	fixture_destroy(f);
}

TEST(lapic_fixed_ipi_to_other_cpu)
{
	struct irq_fixture *f = setup(3);

	f->kicked = 0;
	apic_write(f, 0, ICR_HI, 2u << 24);
	apic_write(f, 0, ICR_LO, 0x50);		/* fixed, physical */
	CHECK_EQ(f->kicked, 4);
	CHECK_EQ(irqchip_pending(f->c, 2), 0x50);
	CHECK_EQ(irqchip_pending(f->c, 1), -1);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	CHECK_EQ(apic_read(f, 0, ICR_LO) & (1u << 12), 0);	/* delivery status idle */

	apic_write(f, 1, ICR_LO, (3u << 18) | 0x51);	/* all but self, from CPU 1 */
	CHECK_EQ(irqchip_pending(f->c, 0), 0x51);
	CHECK_EQ(irqchip_pending(f->c, 1), -1);
	CHECK_EQ(irqchip_pending(f->c, 2), 0x51);

	/* logical cluster model: cluster 1, member bit 2 is CPU 1 */
	apic_write(f, 1, DFR, 0x0fffffff);
	apic_write(f, 1, LDR, 0x12u << 24);
	apic_write(f, 0, ICR_HI, 0x12u << 24);
	apic_write(f, 0, ICR_LO, (1u << 11) | 0x61);
	CHECK_EQ(irqchip_pending(f->c, 1), 0x61);

	/* A software-disabled APIC drops fixed interrupts. */
	apic_write(f, 2, SVR, 0xff);
	apic_write(f, 0, ICR_HI, 2u << 24);
	apic_write(f, 0, ICR_LO, 0x70);
	CHECK_EQ(apic_read(f, 2, IRR + 0x30), 0);
	fixture_destroy(f);
}

TEST(lapic_illegal_vector_sets_esr)
{
	struct irq_fixture *f = setup(1);

	apic_write(f, 0, LVT_ERROR, 0xee);
	self_ipi(f, 0x05);
	apic_write(f, 0, ESR, 0);		/* latch */
	CHECK_EQ(apic_read(f, 0, ESR), 1u << 5);	/* send illegal vector */
	CHECK_EQ(irqchip_pending(f->c, 0), 0xee);	/* through LVT error */
	apic_write(f, 0, ESR, 0);
	CHECK_EQ(apic_read(f, 0, ESR), 0);
	fixture_destroy(f);
}

TEST(lapic_init_sipi)
{
	struct irq_fixture *f = setup(2);

	self_ipi(f, 0x40);
	apic_write(f, 1, ICR_LO, SELF | 0x41);
	apic_write(f, 0, ICR_HI, 1u << 24);
	apic_write(f, 0, ICR_LO, 0x4500);		/* INIT, assert */
	CHECK(irqchip_take_init(f->c, 1));
	CHECK(!irqchip_take_init(f->c, 1));
	CHECK(!irqchip_take_init(f->c, 0));
	CHECK_EQ(irqchip_pending(f->c, 1), -1);		/* INIT reset its APIC */
	CHECK_EQ(apic_read(f, 1, SVR), 0xff);
	CHECK_EQ(apic_read(f, 1, 0x20), 1u << 24);	/* ...but not the ID */

	apic_write(f, 0, ICR_LO, 0x8500);		/* INIT level de-assert: no-op */
	CHECK(!irqchip_take_init(f->c, 1));

	uint8_t vector = 0;
	CHECK(!irqchip_take_sipi(f->c, 1, &vector));
	apic_write(f, 0, ICR_LO, 0x4608);		/* STARTUP, vector 8 */
	CHECK(irqchip_take_sipi(f->c, 1, &vector));
	CHECK_EQ(vector, 0x08);
	CHECK(!irqchip_take_sipi(f->c, 1, &vector));

	apic_write(f, 0, ICR_LO, 0x4400);		/* NMI */
	CHECK(irqchip_take_nmi(f->c, 1));
	CHECK(!irqchip_take_nmi(f->c, 1));
	CHECK_EQ(irqchip_pending(f->c, 0), 0x40);	/* the sender is untouched */
	fixture_destroy(f);
}

TEST(lapic_timer_oneshot)
{
	struct irq_fixture *f = setup(1);
	uint64_t t0 = FIXTURE_T0;

	apic_write(f, 0, TDCR, 0x0b);			/* divide by 1: 1 count = 1 ns */
	apic_write(f, 0, LVT_TIMER, 0x30);
	apic_write(f, 0, TMICT, 1000);
	CHECK_EQ(irqchip_poll(f->c, t0 + 999), t0 + 1000);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	fixture_now = t0 + 400;
	CHECK_EQ(apic_read(f, 0, TMCCT), 600);
	CHECK_EQ(irqchip_poll(f->c, t0 + 1000), UINT64_MAX);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x30);
	irqchip_ack(f->c, 0, 0x30);
	apic_write(f, 0, EOI, 0);
	CHECK_EQ(irqchip_poll(f->c, t0 + 5000), UINT64_MAX);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	fixture_now = t0 + 5000;
	CHECK_EQ(apic_read(f, 0, TMCCT), 0);

	apic_write(f, 0, TMICT, 10);			/* re-armed from now */
	CHECK_EQ(irqchip_poll(f->c, t0 + 5000), t0 + 5010);
	apic_write(f, 0, TMICT, 0);			/* 0 stops it */
	CHECK_EQ(irqchip_poll(f->c, t0 + 6000), UINT64_MAX);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	fixture_destroy(f);
}

TEST(lapic_timer_periodic_rearms)
{
	struct irq_fixture *f = setup(1);
	uint64_t t0 = FIXTURE_T0;

	apic_write(f, 0, TDCR, 0x03);			/* divide by 16 */
	apic_write(f, 0, LVT_TIMER, PERIODIC | 0x31);
	apic_write(f, 0, TMICT, 100);			/* period 1600 ns */
	fixture_now = t0 + 400;
	CHECK_EQ(apic_read(f, 0, TMCCT), 75);
	CHECK_EQ(irqchip_poll(f->c, t0 + 1600), t0 + 3200);
	CHECK_EQ(irqchip_ack(f->c, 0, 0x31), 0x31);
	apic_write(f, 0, EOI, 0);
	CHECK_EQ(irqchip_poll(f->c, t0 + 3199), t0 + 3200);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	CHECK_EQ(irqchip_poll(f->c, t0 + 3200), t0 + 4800);
	CHECK_EQ(irqchip_ack(f->c, 0, 0x31), 0x31);
	apic_write(f, 0, EOI, 0);

	/* Ten periods late: one interrupt, and the next deadline stays on the period grid. */
	CHECK_EQ(irqchip_poll(f->c, t0 + 16000 + 5), t0 + 17600);
	CHECK_EQ(irqchip_ack(f->c, 0, 0x31), 0x31);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	fixture_now = t0 + 16000 + 800;
	CHECK_EQ(apic_read(f, 0, TMCCT), 50);
	fixture_destroy(f);
}

TEST(lapic_timer_masked_does_nothing)
{
	struct irq_fixture *f = setup(1);
	uint64_t t0 = FIXTURE_T0;

	apic_write(f, 0, TDCR, 0x0b);
	apic_write(f, 0, LVT_TIMER, MASKED | 0x30);
	apic_write(f, 0, TMICT, 100);
	CHECK_EQ(irqchip_poll(f->c, t0 + 100), UINT64_MAX);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	CHECK_EQ(apic_read(f, 0, IRR + 0x10), 0);

	/* Software-disabling the APIC masks every LVT entry. */
	apic_write(f, 0, LVT_TIMER, 0x30);
	apic_write(f, 0, SVR, 0xff);
	CHECK_EQ(apic_read(f, 0, LVT_TIMER), MASKED | 0x30);
	apic_write(f, 0, LVT_TIMER, 0x30);		/* cannot unmask while disabled */
	CHECK_EQ(apic_read(f, 0, LVT_TIMER), MASKED | 0x30);
	fixture_destroy(f);
}

TEST(lapic_tsc_deadline_fires)
{
	struct irq_fixture *f = setup(1);
	struct lapic *l = irqchip_lapic(f->c, 0);
	uint64_t tsc = 5000000;
	uint64_t when = ns_from_guest_tsc(tsc);

	CHECK(guest_tsc_from_ns(when) >= tsc);
	CHECK(guest_tsc_from_ns(when - 1) < tsc);
	lapic_set_tsc_deadline(l, tsc);			/* not in TSC-deadline mode: ignored */
	CHECK_EQ(lapic_get_tsc_deadline(l), 0);

	apic_write(f, 0, LVT_TIMER, TSC_DEADLINE | 0x32);
	lapic_set_tsc_deadline(l, tsc);
	CHECK_EQ(lapic_get_tsc_deadline(l), tsc);
	CHECK_EQ(irqchip_poll(f->c, when - 1), when);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);
	CHECK_EQ(irqchip_poll(f->c, when), UINT64_MAX);
	CHECK_EQ(irqchip_pending(f->c, 0), 0x32);
	CHECK_EQ(lapic_get_tsc_deadline(l), 0);		/* disarmed once fired */

	lapic_set_tsc_deadline(l, tsc);
	apic_write(f, 0, LVT_TIMER, 0x32);		/* leaving the mode disarms */
	CHECK_EQ(irqchip_poll(f->c, when + 1000), UINT64_MAX);
	fixture_destroy(f);
}

TEST(lapic_x2apic_msrs)
{
	struct irq_fixture *f = setup(2);
	struct lapic *l0 = irqchip_lapic(f->c, 0), *l1 = irqchip_lapic(f->c, 1);
	uint64_t v = 0;

	CHECK(!lapic_msr_read(l0, 0x802, &v));		/* xAPIC mode: #GP */
	lapic_set_base_msr(l0, 0xfee00c00);		/* enable + EXTD */
	lapic_set_base_msr(l1, 0xfee00c00);
	CHECK_EQ(lapic_get_base_msr(l0), 0xfee00d00);	/* BSP bit kept */
	CHECK(lapic_msr_read(l1, 0x802, &v));
	CHECK_EQ(v, 1);					/* x2APIC ID, unshifted */
	CHECK(lapic_msr_read(l1, 0x80d, &v));
	CHECK_EQ(v, 0x2);				/* LDR: cluster 0, bit 1 */
	CHECK(!lapic_msr_write(l1, 0x802, 5));		/* read-only */
	CHECK(!lapic_msr_read(l0, 0x80b, &v));		/* EOI is write-only */
	CHECK(!lapic_msr_read(l0, 0x831, &v));		/* no ICR high half */
	CHECK(lapic_msr_write(l0, 0x808, 0x20));
	CHECK(lapic_msr_read(l0, 0x808, &v));
	CHECK_EQ(v, 0x20);
	CHECK_EQ(apic_read(f, 0, TPR), 0xffffffff);	/* no xAPIC page in x2APIC mode */

	CHECK(lapic_msr_write(l0, 0x830, (1ull << 32) | 0x66));	/* fixed IPI to x2APIC ID 1 */
	CHECK_EQ(irqchip_pending(f->c, 1), 0x66);
	CHECK(lapic_msr_write(l1, 0x83f, 0x77));	/* SELF IPI */
	CHECK_EQ(irqchip_ack(f->c, 1, 0x77), 0x77);
	CHECK(!lapic_msr_write(l1, 0x80b, 1));		/* EOI must write 0 */
	CHECK(lapic_msr_write(l1, 0x80b, 0));
	CHECK(lapic_msr_read(l1, 0x817, &v));		/* ISR 0x60-0x7f */
	CHECK_EQ(v, 0);

	lapic_set_base_msr(l0, 0xfee00800);		/* x2APIC -> xAPIC directly: refused */
	CHECK_EQ(lapic_get_base_msr(l0), 0xfee00d00);
	lapic_set_base_msr(l0, 0xfee00000);		/* disable first... */
	CHECK_EQ(lapic_get_base_msr(l0), 0xfee00100);
	CHECK(!lapic_msr_read(l0, 0x808, &v));
	fixture_destroy(f);
}

TEST(lapic_mmio_rejects_odd_accesses)
{
	struct irq_fixture *f = setup(1);
	uint64_t val = 0x12345678;

	/* A byte write and a misaligned write change nothing; a byte read sees the register. */
	bus_access(&f->vm.mmio, APIC_REG(TPR), 1, true, &val);
	bus_access(&f->vm.mmio, APIC_REG(TPR + 2), 4, true, &val);
	CHECK_EQ(apic_read(f, 0, TPR), 0);
	apic_write(f, 0, TPR, 0x20);
	bus_access(&f->vm.mmio, APIC_REG(TPR), 1, false, &val);
	CHECK_EQ(val, 0x20);
	bus_access(&f->vm.mmio, APIC_REG(0xff0), 4, false, &val);	/* reserved */
	CHECK_EQ(val, 0);
	fixture_destroy(f);
}

TEST(lapic_msi_delivery)
{
	struct irq_fixture *f = setup(3);

	/* Physical destination 2, fixed. */
	f->kicked = 0;
	CHECK(irqchip_msi(f->c, 0xfee02000, 0x45));
	CHECK_EQ(f->kicked, 4);
	CHECK_EQ(irqchip_pending(f->c, 2), 0x45);
	CHECK_EQ(irqchip_pending(f->c, 0), -1);

	/* Logical flat: bit 1 of the destination is CPU 1 (LDR 2 << 24). */
	apic_write(f, 1, LDR, 0x02u << 24);
	CHECK(irqchip_msi(f->c, 0xfee02004, 0x46));
	CHECK_EQ(irqchip_pending(f->c, 1), 0x46);

	/* Lowest priority among CPUs 0 and 1 of a logical set: one of them takes it. */
	apic_write(f, 0, LDR, 0x01u << 24);
	CHECK(irqchip_msi(f->c, 0xfee03004, 0x100 | 0x47));

	/* Not the interrupt address range, an illegal vector, INIT/SIPI/ExtINT modes: dropped. */
	CHECK(!irqchip_msi(f->c, 0xfed00000, 0x48));
	CHECK(!irqchip_msi(f->c, 0xfee00000, 0x0f));
	CHECK(!irqchip_msi(f->c, 0xfee00000, 0x500 | 0x48));
	CHECK(!irqchip_msi(f->c, 0xfee00000, 0x700 | 0x48));
	/* A destination no CPU has. */
	CHECK(!irqchip_msi(f->c, 0xfee09000, 0x49));
	fixture_destroy(f);
}

TEST(lapic_base_msr_checks)
{
	const uint64_t xapic = 0xfee00900, x2apic = 0xfee00d00;

	CHECK(lapic_base_msr_valid(xapic, 0xfee00800, false));		/* BSP may be written */
	CHECK(lapic_base_msr_valid(xapic, 0x400900, false));		/* relocation */
	CHECK(!lapic_base_msr_valid(xapic, xapic | 1, false));		/* reserved bit 0 */
	CHECK(!lapic_base_msr_valid(xapic, xapic | 0x200, false));	/* reserved bit 9 */
	CHECK(!lapic_base_msr_valid(xapic, x2apic, false));		/* x2APIC not offered */
	CHECK(lapic_base_msr_valid(xapic, x2apic, true));
	CHECK(!lapic_base_msr_valid(xapic, 0xfee00500, true));		/* x2APIC without EN */
	CHECK(!lapic_base_msr_valid(x2apic, xapic, true));		/* x2APIC -> xAPIC */
	CHECK(lapic_base_msr_valid(x2apic, 0xfee00100, true));		/* x2APIC -> off */
}
