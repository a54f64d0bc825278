/* A VM with just buses and the software irqchip, on a clock the test sets (test_pic/ioapic/
 * lapic/pit). */
#ifndef VMON_TEST_IRQCHIP_FIXTURE_H
#define VMON_TEST_IRQCHIP_FIXTURE_H

#include <stdlib.h>

#include "hw/irqchip.h"
#include "vm.h"

struct irq_fixture {
	struct vm vm;
	struct irqchip *c;
	uint64_t kicked;	/* CPUs the irqchip kicked */
};

#define FIXTURE_T0	1000000000ull	/* where the test clock starts */
#define APIC_REG(off)	(LAPIC_DEFAULT_BASE + (off))

static uint64_t fixture_now;

static inline uint64_t fixture_clock(void)
{
	return fixture_now;
}

static inline void fixture_kick(void *opaque, int cpu)
{
	struct irq_fixture *f = opaque;

	f->kicked |= 1ull << cpu;
}

static inline struct irq_fixture *fixture_create(int cpus)
{
	struct irq_fixture *f = calloc(1, sizeof(*f));

	f->c = irqchip_create(&f->vm, cpus, fixture_kick, f);
	fixture_now = FIXTURE_T0;
	irqchip_set_clock(f->c, fixture_clock);
	irqchip_set_current_cpu(0);
	return f;
}

static inline void fixture_destroy(struct irq_fixture *f)
{
	irqchip_set_current_cpu(0);
	irqchip_destroy(f->c);
	bus_destroy(&f->vm.pio);
	bus_destroy(&f->vm.mmio);
	free(f);
}

static inline void outb(struct irq_fixture *f, uint16_t port, uint8_t v)
{
	uint64_t val = v;

	bus_access(&f->vm.pio, port, 1, true, &val);
}

static inline uint8_t inb(struct irq_fixture *f, uint16_t port)
{
	uint64_t val = 0;

	bus_access(&f->vm.pio, port, 1, false, &val);
	return (uint8_t)val;
}

static inline void mmio_write32(struct irq_fixture *f, uint64_t addr, uint32_t v)
{
	uint64_t val = v;

	bus_access(&f->vm.mmio, addr, 4, true, &val);
}

static inline uint32_t mmio_read32(struct irq_fixture *f, uint64_t addr)
{
	uint64_t val = 0;

	bus_access(&f->vm.mmio, addr, 4, false, &val);
	return (uint32_t)val;
}

/* LAPIC register access as vCPU cpu. */
static inline void apic_write(struct irq_fixture *f, int cpu, unsigned reg, uint32_t v)
{
	irqchip_set_current_cpu(cpu);
	mmio_write32(f, APIC_REG(reg), v);
	irqchip_set_current_cpu(0);
}

static inline uint32_t apic_read(struct irq_fixture *f, int cpu, unsigned reg)
{
	irqchip_set_current_cpu(cpu);
	uint32_t v = mmio_read32(f, APIC_REG(reg));
	irqchip_set_current_cpu(0);
	return v;
}

/* ICW1-4 as Linux does: master vectors 0x20, slave 0x28, everything unmasked. */
static inline void pic_setup(struct irq_fixture *f)
{
	outb(f, 0x20, 0x11);
	outb(f, 0x21, 0x20);
	outb(f, 0x21, 0x04);
	outb(f, 0x21, 0x01);
	outb(f, 0xa0, 0x11);
	outb(f, 0xa1, 0x28);
	outb(f, 0xa1, 0x02);
	outb(f, 0xa1, 0x01);
	outb(f, 0x21, 0x00);
	outb(f, 0xa1, 0x00);
}

#endif
