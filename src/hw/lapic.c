/* Local APIC, one per vCPU: xAPIC registers in the MMIO page at LAPIC_DEFAULT_BASE and the same
 * registers as x2APIC MSRs 0x800-0x8ff.
 *
 * Version 0x50014: integrated APIC, 6 LVT entries (timer, thermal, perf, LINT0, LINT1, error),
 * no directed EOI. The timer counts at a 1 GHz bus clock, so with divide-by-1 one count is one
 * nanosecond of host CLOCK_MONOTONIC; one-shot, periodic and TSC-deadline modes are modelled.
 * The MMIO page at LAPIC_DEFAULT_BASE is on the bus; all vCPUs share it and the vCPU thread
 * making the access tells which LAPIC it sees (irqchip_set_current_cpu). A CPU whose APIC is
 * off, in x2APIC mode or relocated sees nothing there (reads all ones, like unassigned MMIO);
 * an engine that lets a CPU relocate its page routes accesses there to lapic_mmio_relocated.
 * The BSP's LINT0 comes out of reset in ExtINT mode (what a BIOS sets up: "virtual wire"), so
 * guests that never touch the APIC get PIC interrupts. Thermal and performance LVT entries are
 * plain registers: nothing here raises them.
 */
#include "bus.h"
#include "hw/clock.h"
#include "hw/irqchip_internal.h"

#define LAPIC_MMIO_SIZE		0x1000
#define LAPIC_VERSION		(0x14u | ((LVT_NR - 1u) << 16))

#define APIC_BASE_BSP		(1ull << 8)
#define APIC_BASE_EXTD		(1ull << 10)
#define APIC_BASE_ENABLE	(1ull << 11)
#define APIC_BASE_ADDR		0x000ffffffffff000ull

enum {
	REG_ID = 0x20, REG_VERSION = 0x30, REG_TPR = 0x80, REG_APR = 0x90, REG_PPR = 0xa0,
	REG_EOI = 0xb0, REG_RRD = 0xc0, REG_LDR = 0xd0, REG_DFR = 0xe0, REG_SVR = 0xf0,
	REG_ISR = 0x100, REG_TMR = 0x180, REG_IRR = 0x200, REG_ESR = 0x280,
	REG_ICR_LO = 0x300, REG_ICR_HI = 0x310, REG_LVT = 0x320, REG_TIMER_ICR = 0x380,
	REG_TIMER_CCR = 0x390, REG_TIMER_DCR = 0x3e0, REG_SELF_IPI = 0x3f0,
};

#define X2APIC_MSR_FIRST	0x800u
#define X2APIC_MSR_LAST		0x8ffu

#define SVR_ENABLE		(1u << 8)
#define SVR_FOCUS_OFF		(1u << 9)

#define LVT_MASKED		(1u << 16)
#define LVT_TIMER_MODE(v)	(((v) >> 17) & 3)
enum { TIMER_ONESHOT, TIMER_PERIODIC, TIMER_TSC_DEADLINE };

#define ICR_LOGICAL		(1u << 11)
#define ICR_ASSERT		(1u << 14)
#define ICR_LEVEL		(1u << 15)
/* vector, delivery mode, destination mode, level, trigger, shorthand */
#define ICR_LO_WRITABLE		0x000ccfffu

#define ESR_SEND_ILLEGAL	(1u << 5)
#define ESR_RECV_ILLEGAL	(1u << 6)

/* Writable bits of each LVT entry; delivery status and remote IRR always read 0 because
 * messages are delivered at once. */
static const uint32_t lvt_writable[LVT_NR] = {
	[LVT_TIMER] = 0xff | LVT_MASKED | (3u << 17),
	[LVT_THERMAL] = 0x7ff | LVT_MASKED,
	[LVT_PERF] = 0x7ff | LVT_MASKED,
	[LVT_LINT0] = 0x7ff | (1u << 13) | (1u << 15) | LVT_MASKED,
	[LVT_LINT1] = 0x7ff | (1u << 13) | (1u << 15) | LVT_MASKED,
	[LVT_ERROR] = 0xff | LVT_MASKED,
};

static bool hw_enabled(const struct lapic *l)
{
	return l->base_msr & APIC_BASE_ENABLE;
}

static bool sw_enabled(const struct lapic *l)
{
	return l->svr & SVR_ENABLE;
}

static bool x2apic_mode(const struct lapic *l)
{
	return (l->base_msr & (APIC_BASE_ENABLE | APIC_BASE_EXTD)) ==
	       (APIC_BASE_ENABLE | APIC_BASE_EXTD);
}

static uint32_t x2apic_ldr(uint32_t id)
{
	return ((id >> 4) << 16) | (1u << (id & 0xf));
}

static int highest_vector(const uint32_t bits[8])
{
	for (int i = 7; i >= 0; i--)
		if (bits[i])
			return i * 32 + 31 - __builtin_clz(bits[i]);
	return -1;
}

static bool test_vector(const uint32_t bits[8], unsigned v)
{
	return bits[v >> 5] & (1u << (v & 31));
}

static void set_vector(uint32_t bits[8], unsigned v)
{
	bits[v >> 5] |= 1u << (v & 31);
}

static void clear_vector(uint32_t bits[8], unsigned v)
{
	bits[v >> 5] &= ~(1u << (v & 31));
}

/* Power-up (power_on) or INIT reset. INIT keeps the APIC ID and the base MSR (x2APIC mode too). */
static void lapic_reset(struct lapic *l, bool power_on)
{
	struct irqchip *owner = l->owner;
	int cpu = l->cpu;
	uint32_t id = power_on ? (uint32_t)cpu : l->id;
	uint64_t base = l->base_msr;

	if (power_on)
		base = LAPIC_DEFAULT_BASE | APIC_BASE_ENABLE | (cpu == 0 ? APIC_BASE_BSP : 0);
	*l = (struct lapic){ .owner = owner, .cpu = cpu, .id = id, .base_msr = base };
	l->svr = 0xff;
	l->dfr = 0xffffffff;
	for (int i = 0; i < LVT_NR; i++)
		l->lvt[i] = LVT_MASKED;
	if (power_on && cpu == 0)
		l->lvt[LVT_LINT0] = APIC_DM_EXTINT << 8;
	if (x2apic_mode(l))
		l->ldr = x2apic_ldr(l->id);
	l->timer_deadline_ns = UINT64_MAX;
}

void lapic_init(struct lapic *l, struct irqchip *owner, int cpu)
{
	l->owner = owner;
	l->cpu = cpu;
	lapic_reset(l, true);
}

static bool lapic_set_irr(struct lapic *l, unsigned vector, bool level);

static void lapic_error(struct lapic *l, uint32_t err)
{
	uint32_t lvt = l->lvt[LVT_ERROR];

	l->esr_pending |= err;
	/* An illegal error vector must not report itself forever. */
	if (!(lvt & LVT_MASKED) && (lvt & 0xff) >= 16)
		lapic_set_irr(l, lvt & 0xff, false);
}

/* Makes vector pending; false (and an APIC error) for the reserved vectors 0-15. */
static bool lapic_set_irr(struct lapic *l, unsigned vector, bool level)
{
	if (vector < 16) {
		lapic_error(l, ESR_RECV_ILLEGAL);
		return false;
	}
	set_vector(l->irr, vector);
	if (level)
		set_vector(l->tmr, vector);
	else
		clear_vector(l->tmr, vector);
	irqchip_kick_cpu(l->owner, l->cpu);
	return true;
}

bool lapic_enabled(const struct lapic *l)
{
	return hw_enabled(l) && sw_enabled(l);
}

bool lapic_accept(struct lapic *l, const struct apic_msg *m)
{
	switch (m->mode) {
	case APIC_DM_FIXED:
	case APIC_DM_LOWEST:
		/* A software-disabled APIC drops fixed interrupts; INIT, SIPI and NMI still work. */
		return lapic_enabled(l) && lapic_set_irr(l, m->vector, m->level);
	case APIC_DM_NMI:
		l->nmi_pending = true;
		break;
	case APIC_DM_INIT:
		lapic_reset(l, false);
		l->init_pending = true;
		break;
	case APIC_DM_STARTUP:
		l->sipi_pending = true;
		l->sipi_vector = m->vector;
		break;
	case APIC_DM_EXTINT:
		l->extint_pending = true;
		break;
	default:	/* SMI and reserved modes: no SMM here */
		return false;
	}
	irqchip_kick_cpu(l->owner, l->cpu);
	return true;
}

void lapic_lint1(struct lapic *l)
{
	uint32_t lvt = l->lvt[LVT_LINT1];

	/* With the APIC off, LINT1 is the processor's NMI pin itself. */
	if (!hw_enabled(l) || (!(lvt & LVT_MASKED) && ((lvt >> 8) & 7) == APIC_DM_NMI)) {
		l->nmi_pending = true;
		irqchip_kick_cpu(l->owner, l->cpu);
	} else if (!(lvt & LVT_MASKED) && ((lvt >> 8) & 7) == APIC_DM_FIXED) {
		lapic_set_irr(l, lvt & 0xff, false);
	}
}

bool lapic_match_dest(const struct lapic *l, const struct apic_msg *m)
{
	uint32_t bcast = m->x2apic ? 0xffffffff : 0xff;

	if (!hw_enabled(l))
		return false;
	if (m->dest == bcast)
		return true;
	if (!m->logical)
		return m->dest == l->id;
	if (x2apic_mode(l)) {
		uint32_t cluster = m->dest >> 16;
		return (cluster == 0xffff || cluster == l->ldr >> 16) && (m->dest & l->ldr & 0xffff);
	}

	uint32_t dest = m->dest & 0xff, ldr = l->ldr >> 24;

	if ((l->dfr >> 28) == 0xf)	/* flat model: one bit per APIC */
		return dest & ldr;
	/* cluster model: 4-bit cluster, 4 bits within it */
	return (dest >> 4) == (ldr >> 4) && (dest & ldr & 0xf);
}

uint8_t lapic_ppr(const struct lapic *l)
{
	int isrv = highest_vector(l->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;

	return (l->tpr & 0xf0) >= isr_class ? l->tpr & 0xff : isr_class;
}

bool lapic_accepts_pic(const struct lapic *l)
{
	uint32_t lint0 = l->lvt[LVT_LINT0];

	return !hw_enabled(l) ||
	       (!(lint0 & LVT_MASKED) && ((lint0 >> 8) & 7) == APIC_DM_EXTINT);
}

int lapic_pending_vector(const struct lapic *l)
{
	int v = highest_vector(l->irr);

	if (v < 0 || !hw_enabled(l) || (v & 0xf0) <= (lapic_ppr(l) & 0xf0))
		return -1;
	return v;
}

int lapic_ack(struct lapic *l)
{
	int v = lapic_pending_vector(l);

	if (v < 0)
		return l->svr & 0xff;	/* spurious: no ISR bit, no EOI expected */
	clear_vector(l->irr, (unsigned)v);
	set_vector(l->isr, (unsigned)v);
	return v;
}

static void lapic_eoi(struct lapic *l)
{
	int v = highest_vector(l->isr);

	if (v < 0)
		return;
	clear_vector(l->isr, (unsigned)v);
	if (test_vector(l->tmr, (unsigned)v))
		ioapic_eoi(&l->owner->ioapic, (uint8_t)v);
}

static uint64_t timer_divisor(const struct lapic *l)
{
	unsigned v = (l->timer_divide & 3) | ((l->timer_divide >> 1) & 4);

	return v == 7 ? 1 : 2u << v;
}

/* One bus clock is 1 ns. */
static uint64_t timer_period_ns(const struct lapic *l)
{
	return (uint64_t)l->timer_initial * timer_divisor(l);
}

static void timer_disarm(struct lapic *l)
{
	l->timer_deadline_ns = UINT64_MAX;
	l->tsc_deadline = 0;
}

static void timer_write_initial(struct lapic *l, uint32_t val)
{
	uint64_t now = irqchip_now(l->owner);

	if (LVT_TIMER_MODE(l->lvt[LVT_TIMER]) == TIMER_TSC_DEADLINE)
		return;		/* TMICT is ignored in TSC-deadline mode */
	l->timer_initial = val;
	l->timer_start_ns = now;
	l->timer_deadline_ns = val ? add_sat64(now, timer_period_ns(l)) : UINT64_MAX;
}

static uint32_t timer_current_count(const struct lapic *l)
{
	uint64_t now = irqchip_now(l->owner);

	if (LVT_TIMER_MODE(l->lvt[LVT_TIMER]) == TIMER_TSC_DEADLINE ||
	    l->timer_deadline_ns == UINT64_MAX || now < l->timer_start_ns)
		return 0;

	uint64_t ticks = (now - l->timer_start_ns) / timer_divisor(l);

	if (LVT_TIMER_MODE(l->lvt[LVT_TIMER]) == TIMER_PERIODIC)
		return l->timer_initial - (uint32_t)(ticks % l->timer_initial);
	return ticks >= l->timer_initial ? 0 : l->timer_initial - (uint32_t)ticks;
}

uint64_t lapic_timer_poll(struct lapic *l, uint64_t now)
{
	uint32_t lvt = l->lvt[LVT_TIMER];

	if (l->timer_deadline_ns > now)
		return l->timer_deadline_ns;
	/* A masked timer still counts, it just does not interrupt. */
	if (!(lvt & LVT_MASKED))
		lapic_set_irr(l, lvt & 0xff, false);

	uint64_t period = timer_period_ns(l);

	if (LVT_TIMER_MODE(lvt) == TIMER_PERIODIC && period) {
		/* Periods missed while nobody polled are coalesced into this one interrupt. */
		uint64_t late = now - l->timer_deadline_ns;
		l->timer_deadline_ns = add_sat64(l->timer_deadline_ns,
						 add_sat64(late - late % period, period));
	} else {
		timer_disarm(l);
	}
	return l->timer_deadline_ns;
}

static void lvt_write(struct lapic *l, int i, uint32_t val)
{
	val &= lvt_writable[i];
	if (!sw_enabled(l))
		val |= LVT_MASKED;
	/* Entering or leaving TSC-deadline mode disarms the timer. */
	if (i == LVT_TIMER && (LVT_TIMER_MODE(val) == TIMER_TSC_DEADLINE) !=
			      (LVT_TIMER_MODE(l->lvt[i]) == TIMER_TSC_DEADLINE)) {
		timer_disarm(l);
		l->timer_initial = 0;
	}
	l->lvt[i] = val;
}

static void svr_write(struct lapic *l, uint32_t val)
{
	l->svr = val & (0xff | SVR_ENABLE | SVR_FOCUS_OFF);
	if (!sw_enabled(l))
		for (int i = 0; i < LVT_NR; i++)
			l->lvt[i] |= LVT_MASKED;
}

static void lapic_send_ipi(struct lapic *l)
{
	uint32_t lo = l->icr_lo;
	struct apic_msg m = {
		.dest = x2apic_mode(l) ? l->icr_hi : l->icr_hi >> 24,
		.vector = (uint8_t)lo,
		.mode = (lo >> 8) & 7,
		.logical = lo & ICR_LOGICAL,
		.x2apic = x2apic_mode(l),
		.shorthand = (lo >> 18) & 3,
		.src = l->cpu,
	};

	/* INIT level de-assert only resynchronizes arbitration IDs. */
	if (m.mode == APIC_DM_INIT && (lo & ICR_LEVEL) && !(lo & ICR_ASSERT))
		return;
	if ((m.mode == APIC_DM_FIXED || m.mode == APIC_DM_LOWEST) && m.vector < 16) {
		lapic_error(l, ESR_SEND_ILLEGAL);
		return;
	}
	irqchip_deliver(l->owner, &m);
}

/* Register reads in xAPIC layout (reg = MMIO offset); false for write-only/reserved ones. */
static bool lapic_reg_read(const struct lapic *l, unsigned reg, uint32_t *val)
{
	switch (reg) {
	case REG_ID:
		*val = x2apic_mode(l) ? l->id : l->id << 24;
		return true;
	case REG_VERSION:
		*val = LAPIC_VERSION;
		return true;
	case REG_TPR:
		*val = l->tpr;
		return true;
	case REG_APR:
		*val = 0;
		return true;
	case REG_PPR:
		*val = lapic_ppr(l);
		return true;
	case REG_LDR:
		*val = l->ldr;
		return true;
	case REG_DFR:
		*val = l->dfr;
		return true;
	case REG_SVR:
		*val = l->svr;
		return true;
	case REG_ESR:
		*val = l->esr;
		return true;
	case REG_ICR_LO:
		*val = l->icr_lo;
		return true;
	case REG_ICR_HI:
		*val = l->icr_hi;
		return true;
	case REG_TIMER_ICR:
		*val = l->timer_initial;
		return true;
	case REG_TIMER_CCR:
		*val = timer_current_count(l);
		return true;
	case REG_TIMER_DCR:
		*val = l->timer_divide;
		return true;
	}
	if (reg >= REG_ISR && reg < REG_ISR + 0x80)
		*val = l->isr[(reg - REG_ISR) >> 4];
	else if (reg >= REG_TMR && reg < REG_TMR + 0x80)
		*val = l->tmr[(reg - REG_TMR) >> 4];
	else if (reg >= REG_IRR && reg < REG_IRR + 0x80)
		*val = l->irr[(reg - REG_IRR) >> 4];
	else if (reg >= REG_LVT && reg < REG_LVT + 0x10 * LVT_NR)
		*val = l->lvt[(reg - REG_LVT) >> 4];
	else
		return false;
	return true;
}

/* Register writes in xAPIC layout; false for read-only/reserved ones. */
static bool lapic_reg_write(struct lapic *l, unsigned reg, uint32_t val)
{
	switch (reg) {
	case REG_ID:
		l->id = val >> 24;
		return true;
	case REG_TPR:
		l->tpr = val & 0xff;
		return true;
	case REG_EOI:
		lapic_eoi(l);
		return true;
	case REG_LDR:
		l->ldr = val & 0xff000000;
		return true;
	case REG_DFR:
		l->dfr = val | 0x0fffffff;
		return true;
	case REG_SVR:
		svr_write(l, val);
		return true;
	case REG_ESR:
		l->esr = l->esr_pending;
		l->esr_pending = 0;
		return true;
	case REG_ICR_LO:
		l->icr_lo = val & ICR_LO_WRITABLE;
		lapic_send_ipi(l);
		return true;
	case REG_ICR_HI:
		l->icr_hi = val & 0xff000000;
		return true;
	case REG_TIMER_ICR:
		timer_write_initial(l, val);
		return true;
	case REG_TIMER_DCR:
		l->timer_divide = val & 0xb;
		return true;
	}
	if (reg >= REG_LVT && reg < REG_LVT + 0x10 * LVT_NR) {
		lvt_write(l, (int)(reg - REG_LVT) >> 4, val);
		return true;
	}
	return false;
}

/* xAPIC MMIO: 32-bit registers on 16-byte boundaries. Narrower reads inside a register are
 * allowed; writes must be whole 32-bit registers (others are dropped). */
/* The xAPIC page of l is at page (the APIC is on and not in x2APIC mode). */
static bool page_is_here(const struct lapic *l, uint64_t page)
{
	return hw_enabled(l) && !x2apic_mode(l) && (l->base_msr & APIC_BASE_ADDR) == page;
}

/* An access at offset off of l's page; the irqchip lock is held. */
static void page_access(struct lapic *l, uint64_t off, unsigned size, bool write, uint64_t *val)
{
	unsigned within = off & 0xf;
	uint32_t v = 0;

	if (write) {
		if (within == 0 && size >= 4)
			lapic_reg_write(l, (unsigned)off & 0xff0, (uint32_t)*val);
		return;
	}
	if (within + size <= 4 && !lapic_reg_read(l, (unsigned)off & 0xff0, &v))
		v = 0;
	*val = v >> (8 * (within & 3));
}

static uint64_t lapic_mmio_read(void *opaque, uint64_t off, unsigned size)
{
	struct irqchip *c = opaque;
	uint64_t val = ~0ull;

	irqchip_lock(c);
	struct lapic *l = irqchip_current_lapic(c);
	if (page_is_here(l, LAPIC_DEFAULT_BASE))
		page_access(l, off, size, false, &val);
	irqchip_unlock(c);
	return val;
}

static void lapic_mmio_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct irqchip *c = opaque;

	irqchip_lock(c);
	struct lapic *l = irqchip_current_lapic(c);
	if (page_is_here(l, LAPIC_DEFAULT_BASE))
		page_access(l, off, size, true, &val);
	irqchip_unlock(c);
}

bool lapic_mmio_relocated(struct lapic *l, uint64_t gpa, unsigned size, bool write, uint64_t *val)
{
	uint64_t page = gpa & ~(uint64_t)(LAPIC_MMIO_SIZE - 1);

	if (!l || page == LAPIC_DEFAULT_BASE)
		return false;
	irqchip_lock(l->owner);
	bool here = page_is_here(l, page);
	if (here)
		page_access(l, gpa - page, size, write, val);
	irqchip_unlock(l->owner);
	return here;
}

static const struct io_ops lapic_ops = { .read = lapic_mmio_read, .write = lapic_mmio_write };

int lapic_register(struct irqchip *c, struct bus *mmio)
{
	return bus_register(mmio, LAPIC_DEFAULT_BASE, LAPIC_MMIO_SIZE, &lapic_ops, c, "lapic");
}

static bool x2apic_msr_read(const struct lapic *l, unsigned reg, uint64_t *val)
{
	uint32_t v;

	switch (reg) {
	case REG_ICR_LO:
		*val = l->icr_lo | (uint64_t)l->icr_hi << 32;
		return true;
	case REG_APR:
	case REG_DFR:
	case REG_ICR_HI:
		return false;	/* not in x2APIC */
	}
	if (!lapic_reg_read(l, reg, &v))
		return false;
	*val = v;
	return true;
}

static bool x2apic_msr_write(struct lapic *l, unsigned reg, uint64_t val)
{
	switch (reg) {
	case REG_ICR_LO:
		l->icr_hi = (uint32_t)(val >> 32);
		l->icr_lo = (uint32_t)val & ICR_LO_WRITABLE;
		lapic_send_ipi(l);
		return true;
	case REG_SELF_IPI:
		if (val > 0xff)
			return false;
		lapic_set_irr(l, (unsigned)val, false);
		return true;
	case REG_EOI:
		if (val)
			return false;
		lapic_eoi(l);
		return true;
	case REG_ID:
	case REG_LDR:
	case REG_DFR:
	case REG_ICR_HI:
	case REG_APR:
		return false;	/* read-only in x2APIC mode, or absent */
	}
	return val <= UINT32_MAX && lapic_reg_write(l, reg, (uint32_t)val);
}

bool lapic_msr_read(struct lapic *l, uint32_t msr, uint64_t *val)
{
	if (!l || msr < X2APIC_MSR_FIRST || msr > X2APIC_MSR_LAST)
		return false;
	irqchip_lock(l->owner);
	bool ok = x2apic_mode(l) && x2apic_msr_read(l, (msr - X2APIC_MSR_FIRST) << 4, val);
	irqchip_unlock(l->owner);
	return ok;
}

bool lapic_msr_write(struct lapic *l, uint32_t msr, uint64_t val)
{
	if (!l || msr < X2APIC_MSR_FIRST || msr > X2APIC_MSR_LAST)
		return false;
	irqchip_lock(l->owner);
	bool ok = x2apic_mode(l) && x2apic_msr_write(l, (msr - X2APIC_MSR_FIRST) << 4, val);
	irqchip_unlock(l->owner);
	return ok;
}

void lapic_set_tpr(struct lapic *l, uint8_t cr8)
{
	if (!l)
		return;
	irqchip_lock(l->owner);
	l->tpr = (cr8 & 0xfu) << 4;
	irqchip_unlock(l->owner);
}

uint8_t lapic_get_tpr(struct lapic *l)
{
	if (!l)
		return 0;
	irqchip_lock(l->owner);
	uint8_t cr8 = (uint8_t)(l->tpr >> 4);
	irqchip_unlock(l->owner);
	return cr8;
}

bool lapic_base_msr_valid(uint64_t old, uint64_t val, bool x2apic_offered)
{
	bool was_x2apic = (old & (APIC_BASE_ENABLE | APIC_BASE_EXTD)) ==
			  (APIC_BASE_ENABLE | APIC_BASE_EXTD);
	uint64_t reserved = ~(APIC_BASE_ADDR | APIC_BASE_BSP | APIC_BASE_ENABLE |
			      (x2apic_offered ? APIC_BASE_EXTD : 0));

	return !(val & reserved) && !((val & APIC_BASE_EXTD) && !(val & APIC_BASE_ENABLE)) &&
	       !(was_x2apic && (val & APIC_BASE_ENABLE) && !(val & APIC_BASE_EXTD));
}

void lapic_set_base_msr(struct lapic *l, uint64_t val)
{
	if (!l)
		return;
	irqchip_lock(l->owner);

	uint64_t old = l->base_msr;
	bool was_x2apic = x2apic_mode(l);

	val = (val & (APIC_BASE_ADDR | APIC_BASE_EXTD | APIC_BASE_ENABLE)) | (old & APIC_BASE_BSP);
	/* Invalid transitions (x2APIC without enable, x2APIC straight back to xAPIC) are ignored
	 * here: lapic_base_msr_valid is the #GP check an engine makes first. */
	if (!lapic_base_msr_valid(old, val, true))
		goto out;
	l->base_msr = val;
	if (!(val & APIC_BASE_ENABLE) && (old & APIC_BASE_ENABLE)) {
		/* Hardware disable: the APIC loses its state. */
		lapic_reset(l, false);
	} else if (!was_x2apic && x2apic_mode(l)) {
		l->id = (uint32_t)l->cpu;	/* the x2APIC ID is the initial APIC ID */
		l->ldr = x2apic_ldr(l->id);
	}
out:
	irqchip_unlock(l->owner);
}

uint64_t lapic_get_base_msr(struct lapic *l)
{
	if (!l)
		return 0;
	irqchip_lock(l->owner);
	uint64_t val = l->base_msr;
	irqchip_unlock(l->owner);
	return val;
}

void lapic_set_tsc_deadline(struct lapic *l, uint64_t guest_tsc)
{
	if (!l)
		return;
	irqchip_lock(l->owner);
	/* Writes are ignored unless the timer is in TSC-deadline mode; 0 disarms. */
	if (LVT_TIMER_MODE(l->lvt[LVT_TIMER]) == TIMER_TSC_DEADLINE) {
		l->tsc_deadline = guest_tsc;
		l->timer_deadline_ns = guest_tsc ? ns_from_guest_tsc(guest_tsc) : UINT64_MAX;
	}
	irqchip_unlock(l->owner);
}

uint64_t lapic_get_tsc_deadline(struct lapic *l)
{
	if (!l)
		return 0;
	irqchip_lock(l->owner);
	uint64_t val = LVT_TIMER_MODE(l->lvt[LVT_TIMER]) == TIMER_TSC_DEADLINE ? l->tsc_deadline : 0;
	irqchip_unlock(l->owner);
	return val;
}
