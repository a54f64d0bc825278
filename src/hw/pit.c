/* 8254 programmable interval timer at ports 0x40-0x43 and system control port B (0x61).
 *
 * A channel's state is the number of 1.193182 MHz input clocks it has counted, derived from host
 * time: base_ticks + (now - base_ns) * PIT_HZ, advancing only while it is running. Count, OUT and
 * IRQ 0 edges are functions of that number, so nothing ticks in the background.
 * Channel 0 drives IRQ 0 (pulsed on each rising edge of OUT, missed periods coalesced), channel 1
 * just counts, channel 2's gate is port 0x61 bit 0 and its OUT is readable as bit 5 (Linux
 * calibrates the TSC with it). Modes 0-5 are modelled; reprogramming a count restarts the period at
 * once (rather than at the end of the current one in modes 2/3). BCD is recorded for the status
 * byte but counting is binary.
 */
#include "bus.h"
#include "hw/clock.h"
#include "hw/irqchip_internal.h"

#define PIT_HZ			1193182ull
#define PIT_PORT		0x40
#define PIT_CONTROL		3
#define SYSCTL_PORT		0x61
#define SYSCTL_GATE2		0x01
#define SYSCTL_REFRESH		0x10
#define SYSCTL_OUT2		0x20

static unsigned ch_mode(const struct pit_channel *ch)
{
	return ch->mode >= 6 ? ch->mode - 4u : ch->mode;
}

static uint64_t ch_ticks(const struct pit_channel *ch, uint64_t now)
{
	if (!ch->running || now <= ch->base_ns)
		return ch->base_ticks;
	return add_sat64(ch->base_ticks, muldiv64(now - ch->base_ns, PIT_HZ, NS_PER_SEC));
}

/* When the running channel reaches ticks counted; UINT64_MAX if it is stopped. */
static uint64_t ch_time_of(const struct pit_channel *ch, uint64_t ticks)
{
	if (!ch->running)
		return UINT64_MAX;
	if (ticks <= ch->base_ticks)
		return ch->base_ns;
	return add_sat64(ch->base_ns, muldiv64_ceil(ticks - ch->base_ticks, NS_PER_SEC, PIT_HZ));
}

static bool ch_out(const struct pit_channel *ch, uint64_t now)
{
	uint64_t n = ch->reload, t = ch_ticks(ch, now);

	if (!ch->loaded)
		return ch_mode(ch) != 0;
	switch (ch_mode(ch)) {
	case 0:		/* interrupt on terminal count: high from then on */
		return t >= n;
	case 1:		/* one-shot: low from the trigger to terminal count */
		return !ch->triggered || t >= n;
	case 2:		/* rate generator: low for the last clock of each period */
		return !ch->running || t % n != n - 1;
	case 3:		/* square wave: high for the first (rounded up) half */
		return !ch->running || t % n < (n + 1) / 2;
	case 4:		/* software strobe: low for one clock at terminal count */
		return t != n;
	default:	/* 5, hardware strobe */
		return !ch->triggered || t != n;
	}
}

static uint16_t ch_count(const struct pit_channel *ch, uint64_t now)
{
	uint64_t n = ch->reload, t = ch_ticks(ch, now);

	switch (ch_mode(ch)) {
	case 2:
		return (uint16_t)(n - t % n);
	case 3: {	/* counts down by two through each half period */
		uint64_t half = (n + 1) / 2, p = t % n;
		return (uint16_t)(n - 2 * (p < half ? p : p - half));
	}
	default:	/* one-shot modes keep counting down (wrapping) after terminal count */
		return (uint16_t)(n - t);
	}
}

/* Rising OUT edges after ticks counted, as IRQ 0 sees them. */
static uint64_t ch_edges(const struct pit_channel *ch, uint64_t t)
{
	switch (ch_mode(ch)) {
	case 2:
	case 3:
		return t / ch->reload;
	case 1:
	case 5:
		return ch->triggered && t >= ch->reload;
	default:
		return t >= ch->reload;
	}
}

static void ch_load(struct pit *p, int i, uint16_t val, uint64_t now)
{
	struct pit_channel *ch = &p->ch[i];
	unsigned mode = ch_mode(ch);

	ch->reload = val ? val : 0x10000;
	ch->loaded = true;
	ch->triggered = false;
	ch->base_ticks = 0;
	ch->base_ns = now;
	ch->irqs = 0;
	/* Modes 1 and 5 wait for a gate edge; the others count while the gate is high. */
	ch->running = mode != 1 && mode != 5 && ch->gate;
	/* A vCPU halted until the old deadline must look again. */
	if (i == 0)
		irqchip_kick_cpu(p->owner, 0);
}

static void ch_set_gate(struct pit_channel *ch, bool gate, uint64_t now)
{
	if (gate == ch->gate)
		return;
	if (ch->loaded) {
		switch (ch_mode(ch)) {
		case 0:
		case 4:		/* the gate pauses counting */
			ch->base_ticks = ch_ticks(ch, now);
			ch->base_ns = now;
			ch->running = gate;
			break;
		case 2:
		case 3:		/* low stops the count (OUT high), a rising edge reloads */
			ch->base_ticks = 0;
			ch->base_ns = now;
			ch->irqs = 0;
			ch->running = gate;
			break;
		default:	/* 1, 5: a rising edge (re)triggers */
			if (gate) {
				ch->base_ticks = 0;
				ch->base_ns = now;
				ch->irqs = 0;
				ch->running = true;
				ch->triggered = true;
			}
			break;
		}
	}
	ch->gate = gate;
}

static void ch_latch_count(struct pit_channel *ch, uint64_t now)
{
	if (ch->count_latched)
		return;		/* later latch commands are ignored until it is read */
	ch->latched_count = ch_count(ch, now);
	ch->count_latched = true;
	ch->latch_msb = false;
}

static void ch_latch_status(struct pit_channel *ch, uint64_t now)
{
	if (ch->status_latched)
		return;
	ch->status = (uint8_t)(ch_out(ch, now) << 7 | !ch->loaded << 6 | ch->rw << 4 |
			       ch->mode << 1 | ch->bcd);
	ch->status_latched = true;
}

static void pit_control(struct pit *p, uint8_t val, uint64_t now)
{
	unsigned sel = val >> 6, rw = (val >> 4) & 3;

	if (sel == 3) {		/* read-back: bit 5 clear latches counts, bit 4 clear statuses */
		for (int i = 0; i < 3; i++) {
			if (!(val & (2u << i)))
				continue;
			if (!(val & 0x20))
				ch_latch_count(&p->ch[i], now);
			if (!(val & 0x10))
				ch_latch_status(&p->ch[i], now);
		}
		return;
	}

	struct pit_channel *ch = &p->ch[sel];

	if (rw == 0) {
		ch_latch_count(ch, now);
		return;
	}
	ch->rw = (uint8_t)rw;
	ch->mode = (val >> 1) & 7;
	ch->bcd = val & 1;
	ch->loaded = ch->running = ch->triggered = false;
	ch->base_ticks = 0;
	ch->irqs = 0;
	ch->write_msb = ch->read_msb = false;
	ch->count_latched = ch->latch_msb = ch->status_latched = false;
}

static uint8_t ch_read(struct pit_channel *ch, uint64_t now)
{
	if (ch->status_latched) {
		ch->status_latched = false;
		return ch->status;
	}

	uint16_t v;
	bool msb;

	if (ch->count_latched) {
		v = ch->latched_count;
		msb = ch->rw == 2 || (ch->rw == 3 && ch->latch_msb);
		ch->latch_msb = !msb;
		/* The latch is released once its last byte has been read. */
		ch->count_latched = ch->rw == 3 && !msb;
	} else {
		v = ch_count(ch, now);
		msb = ch->rw == 2 || (ch->rw == 3 && ch->read_msb);
		if (ch->rw == 3)
			ch->read_msb = !ch->read_msb;
	}
	return msb ? v >> 8 : v & 0xff;
}

static void ch_write(struct pit *p, int i, uint8_t val, uint64_t now)
{
	struct pit_channel *ch = &p->ch[i];

	switch (ch->rw) {
	case 1:
		ch_load(p, i, val, now);
		break;
	case 2:
		ch_load(p, i, (uint16_t)(val << 8), now);
		break;
	default:
		if (!ch->write_msb) {
			ch->write_lsb = val;
			ch->write_msb = true;
		} else {
			ch->write_msb = false;
			ch_load(p, i, (uint16_t)(ch->write_lsb | val << 8), now);
		}
		break;
	}
}

static uint64_t pit_read(void *opaque, uint64_t off, unsigned size)
{
	struct pit *p = opaque;
	uint8_t val = 0;

	irqchip_lock(p->owner);
	if (off < PIT_CONTROL)
		val = ch_read(&p->ch[off], irqchip_now(p->owner));
	irqchip_unlock(p->owner);
	return val;	/* the control word register is write-only */
}

static void pit_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct pit *p = opaque;

	irqchip_lock(p->owner);
	if (off < PIT_CONTROL)
		ch_write(p, (int)off, (uint8_t)val, irqchip_now(p->owner));
	else
		pit_control(p, (uint8_t)val, irqchip_now(p->owner));
	irqchip_unlock(p->owner);
}

/* Port 0x61 reads: bit 4 toggles on every read (DRAM refresh, which guests poll for short
 * delays), bit 5 is channel 2's OUT. */
static uint64_t sysctl_read(void *opaque, uint64_t off, unsigned size)
{
	struct pit *p = opaque;

	irqchip_lock(p->owner);
	p->refresh = !p->refresh;
	uint8_t val = p->port61 | (p->refresh ? SYSCTL_REFRESH : 0) |
		      (ch_out(&p->ch[2], irqchip_now(p->owner)) ? SYSCTL_OUT2 : 0);
	irqchip_unlock(p->owner);
	return val;
}

/* Bit 0 gates channel 2, bit 1 is the speaker data, bits 2-3 the parity/IO check enables. */
static void sysctl_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct pit *p = opaque;

	irqchip_lock(p->owner);
	p->port61 = val & 0x0f;
	ch_set_gate(&p->ch[2], val & SYSCTL_GATE2, irqchip_now(p->owner));
	irqchip_unlock(p->owner);
}

static const struct io_ops pit_ops = { .read = pit_read, .write = pit_write };
static const struct io_ops sysctl_ops = { .read = sysctl_read, .write = sysctl_write };

uint64_t pit_poll(struct pit *p, uint64_t now)
{
	struct pit_channel *ch = &p->ch[0];

	if (!ch->loaded || !ch->running)
		return UINT64_MAX;

	uint64_t due = ch_edges(ch, ch_ticks(ch, now));

	if (due > ch->irqs) {
		ch->irqs = due;
		irqchip_set_irq_locked(p->owner, 0, 1);
		irqchip_set_irq_locked(p->owner, 0, 0);
	}
	if (ch_mode(ch) == 2 || ch_mode(ch) == 3)
		return ch_time_of(ch, (ch->irqs + 1) * ch->reload);
	return ch->irqs ? UINT64_MAX : ch_time_of(ch, ch->reload);
}

void pit_init(struct pit *p, struct irqchip *owner)
{
	*p = (struct pit){ .owner = owner };
	for (int i = 0; i < 3; i++) {
		p->ch[i].reload = 0x10000;
		p->ch[i].rw = 3;
		p->ch[i].gate = i < 2;	/* channels 0 and 1 are gated on permanently */
	}
}

int pit_register(struct pit *p, struct bus *pio)
{
	if (bus_register(pio, PIT_PORT, 4, &pit_ops, p, "pit") ||
	    bus_register(pio, SYSCTL_PORT, 1, &sysctl_ops, p, "sysctl-port-b"))
		return -1;
	return 0;
}
