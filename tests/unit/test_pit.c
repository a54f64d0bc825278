/* 8254 PIT and port 0x61 on explicit clock values (1193182 Hz input clock). */
#include "irqchip_fixture.h"
#include "test.h"

static uint16_t read_count(struct irq_fixture *f, uint16_t port)
{
	uint8_t lo = inb(f, port);

	return (uint16_t)(lo | inb(f, port) << 8);
}

static void load(struct irq_fixture *f, uint16_t port, uint16_t count)
{
	outb(f, port, count & 0xff);
	outb(f, port, count >> 8);
}

/* Delivers IRQ 0 if pending and EOIs it; returns the vector or -1. */
static int take_irq(struct irq_fixture *f)
{
	int v = irqchip_pending(f->c, 0);

	if (v >= 0) {
		irqchip_ack(f->c, 0, v);
		outb(f, 0x20, 0x20);
	}
	return v;
}

TEST(pit_mode2_channel0_irq0_at_expected_times)
{
	struct irq_fixture *f = fixture_create(1);
	uint64_t t0 = FIXTURE_T0;

	pic_setup(f);
	outb(f, 0x43, 0x34);			/* channel 0, LSB+MSB, mode 2 */
	load(f, 0x40, 1193);			/* ~1 kHz: period 999847.5 ns */
	CHECK_EQ(irqchip_poll(f->c, t0), t0 + 999848);
	CHECK_EQ(irqchip_poll(f->c, t0 + 999847), t0 + 999848);
	CHECK_EQ(take_irq(f), -1);
	CHECK_EQ(irqchip_poll(f->c, t0 + 999848), t0 + 1999695);
	CHECK_EQ(take_irq(f), 0x20);
	CHECK_EQ(irqchip_poll(f->c, t0 + 1999694), t0 + 1999695);
	CHECK_EQ(take_irq(f), -1);
	CHECK_EQ(irqchip_poll(f->c, t0 + 1999695), t0 + 2999543);
	CHECK_EQ(take_irq(f), 0x20);

	/* Eleven periods in, polled late: one interrupt, not a storm of eight. */
	CHECK_EQ(irqchip_poll(f->c, t0 + 10998323 + 5), t0 + 11998170);
	CHECK_EQ(take_irq(f), 0x20);
	CHECK_EQ(irqchip_poll(f->c, t0 + 10998323 + 6), t0 + 11998170);
	CHECK_EQ(take_irq(f), -1);
	fixture_destroy(f);
}

TEST(pit_mode0_channel0_fires_once)
{
	struct irq_fixture *f = fixture_create(1);
	uint64_t t0 = FIXTURE_T0;

	pic_setup(f);
	CHECK_EQ(irqchip_poll(f->c, t0), UINT64_MAX);	/* unprogrammed: no ticks */
	outb(f, 0x43, 0x30);
	load(f, 0x40, 100);
	CHECK_EQ(irqchip_poll(f->c, t0 + 83809), t0 + 83810);
	CHECK_EQ(take_irq(f), -1);
	CHECK_EQ(irqchip_poll(f->c, t0 + 83810), UINT64_MAX);
	CHECK_EQ(take_irq(f), 0x20);
	CHECK_EQ(irqchip_poll(f->c, t0 + 10000000), UINT64_MAX);
	CHECK_EQ(take_irq(f), -1);
	fixture_destroy(f);
}

TEST(pit_latch_read_counts_decrease)
{
	struct irq_fixture *f = fixture_create(1);
	uint64_t t0 = FIXTURE_T0;

	outb(f, 0x43, 0x34);
	load(f, 0x40, 0x1000);
	fixture_now = t0 + 1000;		/* 1 input clock */
	outb(f, 0x43, 0x00);			/* latch channel 0 */
	fixture_now = t0 + 50000;		/* the latch holds the old value */
	CHECK_EQ(read_count(f, 0x40), 0x0fff);
	fixture_now = t0 + 100000;		/* 119 clocks */
	outb(f, 0x43, 0x00);
	uint16_t c1 = read_count(f, 0x40);
	CHECK_EQ(c1, 0x1000 - 119);
	fixture_now = t0 + 2000000;		/* 2386 clocks */
	outb(f, 0x43, 0x00);
	uint16_t c2 = read_count(f, 0x40);
	CHECK(c2 < c1);
	CHECK_EQ(c2, 0x1000 - 2386);
	CHECK_EQ(read_count(f, 0x40), 0x1000 - 2386);	/* live read, no latch */

	/* Read-back: status then count of channel 0. */
	outb(f, 0x43, 0xc2);
	CHECK_EQ(inb(f, 0x40), 0x80 | 0x30 | (2 << 1));	/* OUT high, LSB+MSB, mode 2 */
	CHECK_EQ(read_count(f, 0x40), 0x1000 - 2386);

	/* LSB-only access mode. */
	outb(f, 0x43, 0x10);			/* channel 0, LSB only, mode 0 */
	outb(f, 0x40, 200);
	fixture_now += 83810;			/* 100 clocks */
	CHECK_EQ(inb(f, 0x40), 100);
	CHECK_EQ(inb(f, 0x40), 100);
	fixture_destroy(f);
}

TEST(pit_channel2_gate_and_output)
{
	struct irq_fixture *f = fixture_create(1);
	uint64_t t0 = FIXTURE_T0;

	/* What Linux's pit_calibrate_tsc does: gate on, speaker off, mode 0, wait for OUT2. */
	outb(f, 0x61, (inb(f, 0x61) & ~0x02) | 0x01);
	outb(f, 0x43, 0xb0);
	load(f, 0x42, 100);
	CHECK_EQ(inb(f, 0x61) & 0x20, 0);
	fixture_now = t0 + 83809;
	CHECK_EQ(inb(f, 0x61) & 0x20, 0);
	fixture_now = t0 + 83810;
	CHECK_EQ(inb(f, 0x61) & 0x20, 0x20);
	CHECK_EQ(inb(f, 0x61) & 0x0f, 0x01);
	CHECK_EQ(irqchip_poll(f->c, fixture_now), UINT64_MAX);	/* channel 2 raises no IRQ */

	/* Gate low holds the count. */
	outb(f, 0x61, 0x00);
	load(f, 0x42, 100);
	fixture_now += 1000000000;
	CHECK_EQ(inb(f, 0x61) & 0x20, 0);
	CHECK_EQ(read_count(f, 0x42), 100);
	outb(f, 0x61, 0x01);
	fixture_now += 83810;
	CHECK_EQ(inb(f, 0x61) & 0x20, 0x20);

	/* The refresh bit toggles. */
	uint8_t a = inb(f, 0x61) & 0x10, b = inb(f, 0x61) & 0x10;
	CHECK(a != b);
	fixture_destroy(f);
}

TEST(pit_mode3_square_wave)
{
	struct irq_fixture *f = fixture_create(1);
	uint64_t t0 = FIXTURE_T0;

	outb(f, 0x61, 0x01);
	outb(f, 0x43, 0xb6);			/* channel 2, LSB+MSB, mode 3 */
	load(f, 0x42, 100);
	fixture_now = t0 + 41905 - 1;		/* 49 clocks: first half, high */
	CHECK_EQ(inb(f, 0x61) & 0x20, 0x20);
	fixture_now = t0 + 41905 + 838;		/* 50 clocks: second half, low */
	CHECK_EQ(inb(f, 0x61) & 0x20, 0);
	fixture_now = t0 + 83810;		/* next period */
	CHECK_EQ(inb(f, 0x61) & 0x20, 0x20);

	/* A silly mode / BCD control word does not break anything. */
	outb(f, 0x43, 0xbf);
	load(f, 0x42, 0);
	CHECK_EQ(read_count(f, 0x42), 0);
	fixture_destroy(f);
}
