/* The software irqchip: owns the PIC, IOAPIC, PIT and LAPICs, routes device lines and APIC-bus
 * messages between them, and answers the engine's "what interrupt now" questions.
 *
 * Wiring, as on a PC: ISA IRQ n goes to PIC input n and IOAPIC pin n, except IRQ 0 (the PIT)
 * which reaches IOAPIC pin 2 (firmware tables carry the IRQ0 -> GSI2 override). The PIC's INTR
 * goes to the BSP's LINT0; an IOAPIC entry in ExtINT mode also takes its vector from the PIC.
 */
#include <stdlib.h>

#include "hw/clock.h"
#include "hw/irqchip_internal.h"
#include "vm.h"

_Static_assert(VM_MAX_CPUS <= 64, "kick_mask has one bit per vCPU");

static _Thread_local int current_cpu;

void irqchip_set_current_cpu(int cpu)
{
	current_cpu = cpu;
}

struct lapic *irqchip_current_lapic(struct irqchip *c)
{
	int cpu = current_cpu;

	return &c->lapic[cpu >= 0 && cpu < c->nr_cpus ? cpu : 0];
}

void irqchip_lock(struct irqchip *c)
{
	pthread_mutex_lock(&c->lock);
}

void irqchip_unlock(struct irqchip *c)
{
	uint64_t kicks = c->kick_mask;

	c->kick_mask = 0;
	pthread_mutex_unlock(&c->lock);
	while (kicks) {
		int cpu = __builtin_ctzll(kicks);
		kicks &= kicks - 1;
		if (c->kick)
			c->kick(c->kick_opaque, cpu);
	}
}

void irqchip_kick_cpu(struct irqchip *c, int cpu)
{
	if (cpu >= 0 && cpu < c->nr_cpus)
		c->kick_mask |= 1ull << cpu;
}

void irqchip_set_irq_locked(struct irqchip *c, unsigned gsi, int level)
{
	if (gsi >= IOAPIC_PINS)
		return;
	if (gsi < 16)
		pic_set_irq(&c->pic, gsi, level);
	ioapic_set_irq(&c->ioapic, gsi == 0 ? 2 : gsi, level);
}

void irqchip_set_irq(struct irqchip *c, unsigned gsi, int level)
{
	irqchip_lock(c);
	irqchip_set_irq_locked(c, gsi, level);
	irqchip_unlock(c);
}

static bool shorthand_hits(const struct apic_msg *m, int cpu)
{
	switch (m->shorthand) {
	case APIC_SH_SELF:
		return cpu == m->src;
	case APIC_SH_ALL:
		return true;
	default:
		return cpu != m->src;
	}
}

int irqchip_deliver(struct irqchip *c, const struct apic_msg *m)
{
	int accepted = 0;

	if (m->mode == APIC_DM_LOWEST && m->shorthand == APIC_SH_NONE) {
		/* Lowest priority: the enabled matching APIC with the lowest PPR (first on a tie). */
		struct lapic *best = NULL;
		for (int i = 0; i < c->nr_cpus; i++) {
			struct lapic *l = &c->lapic[i];
			if (lapic_enabled(l) && lapic_match_dest(l, m) &&
			    (!best || lapic_ppr(l) < lapic_ppr(best)))
				best = l;
		}
		return best && lapic_accept(best, m);
	}
	for (int i = 0; i < c->nr_cpus; i++) {
		struct lapic *l = &c->lapic[i];
		bool hit = m->shorthand == APIC_SH_NONE ? lapic_match_dest(l, m) : shorthand_hits(m, i);
		if (hit && lapic_accept(l, m))
			accepted++;
	}
	return accepted;
}

bool irqchip_send_ipi(struct irqchip *c, int src_cpu, uint32_t apic_id, bool nmi, uint8_t vector)
{
	struct apic_msg m = {
		.dest = apic_id,
		.vector = nmi ? 0 : vector,
		.mode = nmi ? APIC_DM_NMI : APIC_DM_FIXED,
		.src = src_cpu,
	};

	/* 0xff is the xAPIC broadcast address, not a CPU; vectors 0-15 are illegal for fixed IPIs. */
	if (apic_id >= 0xff || (!nmi && vector < 16))
		return false;
	irqchip_lock(c);
	int accepted = irqchip_deliver(c, &m);
	irqchip_unlock(c);
	return accepted > 0;
}

#define MSI_ADDR_MASK		0xfff00000ull
#define MSI_ADDR_BASE		0xfee00000ull
#define MSI_ADDR_DEST_SHIFT	12
#define MSI_ADDR_LOGICAL	(1u << 2)
#define MSI_DATA_MODE_SHIFT	8

bool irqchip_msi(struct irqchip *c, uint64_t addr, uint32_t data)
{
	struct apic_msg m = {
		.dest = (uint32_t)(addr >> MSI_ADDR_DEST_SHIFT) & 0xff,
		.vector = (uint8_t)data,
		.mode = (uint8_t)((data >> MSI_DATA_MODE_SHIFT) & 7),
		.logical = addr & MSI_ADDR_LOGICAL,
		.src = -1,
	};

	/* Anything but the interrupt address range is a plain memory write, which no RAM backs
	 * here; SMI, INIT, SIPI and ExtINT have no business in an MSI. */
	if ((addr & MSI_ADDR_MASK) != MSI_ADDR_BASE ||
	    (m.mode != APIC_DM_FIXED && m.mode != APIC_DM_LOWEST && m.mode != APIC_DM_NMI) ||
	    (m.mode != APIC_DM_NMI && m.vector < 16))
		return false;
	irqchip_lock(c);
	int accepted = irqchip_deliver(c, &m);
	irqchip_unlock(c);
	return accepted > 0;
}

struct irqchip *irqchip_create(struct vm *vm, int nr_cpus, irqchip_kick_fn kick, void *opaque)
{
	if (!vm || nr_cpus < 1 || nr_cpus > VM_MAX_CPUS)
		return NULL;

	struct irqchip *c = calloc(1, sizeof(*c) + (size_t)nr_cpus * sizeof(c->lapic[0]));

	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->nr_cpus = nr_cpus;
	c->kick = kick;
	c->kick_opaque = opaque;
	c->clock = &vm->clock;
	guest_tsc_epoch_ns();	/* the guest TSC starts no later than the VM */
	pic_init(&c->pic, c);
	/* The IOAPIC ID follows the CPUs' APIC IDs, as the MP table and MADT say. */
	ioapic_init(&c->ioapic, c, (uint8_t)nr_cpus);
	pit_init(&c->pit, c);
	for (int i = 0; i < nr_cpus; i++)
		lapic_init(&c->lapic[i], c, i);
	if (pic_register(&c->pic, &vm->pio) || pit_register(&c->pit, &vm->pio) ||
	    ioapic_register(&c->ioapic, &vm->mmio) || lapic_register(c, &vm->mmio) ||
	    irqchip_register_state(c, vm)) {
		irqchip_destroy(c);
		return NULL;
	}
	return c;
}

void irqchip_destroy(struct irqchip *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void irqchip_set_clock(struct irqchip *c, uint64_t (*now_ns)(void))
{
	irqchip_lock(c);
	c->test_now = now_ns;
	irqchip_unlock(c);
}

struct lapic *irqchip_lapic(struct irqchip *c, int cpu)
{
	return cpu >= 0 && cpu < c->nr_cpus ? &c->lapic[cpu] : NULL;
}

uint64_t irqchip_poll(struct irqchip *c, uint64_t now_ns)
{
	irqchip_lock(c);
	uint64_t next = pit_poll(&c->pit, now_ns);
	for (int i = 0; i < c->nr_cpus; i++) {
		uint64_t t = lapic_timer_poll(&c->lapic[i], now_ns);
		if (t < next)
			next = t;
	}
	irqchip_unlock(c);
	return next;
}

/* Whether this CPU takes its next interrupt from the PIC (INTA cycle) rather than its LAPIC. */
static bool pic_routed(const struct irqchip *c, const struct lapic *l)
{
	return (l->cpu == 0 && lapic_accepts_pic(l)) || l->extint_pending;
}

int irqchip_pending(struct irqchip *c, int cpu)
{
	if (cpu < 0 || cpu >= c->nr_cpus)
		return -1;
	irqchip_lock(c);

	const struct lapic *l = &c->lapic[cpu];
	int v = pic_routed(c, l) ? pic_pending_vector(&c->pic) : -1;

	if (v < 0)
		v = lapic_pending_vector(l);
	irqchip_unlock(c);
	return v;
}

int irqchip_ack(struct irqchip *c, int cpu, int vector)
{
	if (cpu < 0 || cpu >= c->nr_cpus)
		return -1;
	irqchip_lock(c);

	struct lapic *l = &c->lapic[cpu];
	int v;

	/* Decided again under the lock: whatever is highest now is what gets delivered. */
	if (pic_routed(c, l) &&
	    (pic_pending_vector(&c->pic) >= 0 || lapic_pending_vector(l) < 0)) {
		l->extint_pending = false;
		v = pic_intack(&c->pic);
	} else {
		v = lapic_ack(l);
	}
	irqchip_unlock(c);
	return v;
}

bool irqchip_take_init(struct irqchip *c, int cpu)
{
	if (cpu < 0 || cpu >= c->nr_cpus)
		return false;
	irqchip_lock(c);
	bool r = c->lapic[cpu].init_pending;
	c->lapic[cpu].init_pending = false;
	irqchip_unlock(c);
	return r;
}

bool irqchip_take_sipi(struct irqchip *c, int cpu, uint8_t *vector)
{
	if (cpu < 0 || cpu >= c->nr_cpus)
		return false;
	irqchip_lock(c);
	struct lapic *l = &c->lapic[cpu];
	bool r = l->sipi_pending;
	if (r)
		*vector = l->sipi_vector;
	l->sipi_pending = false;
	irqchip_unlock(c);
	return r;
}

void irqchip_nmi_button(struct irqchip *c)
{
	irqchip_lock(c);
	for (int cpu = 0; cpu < c->nr_cpus; cpu++)
		lapic_lint1(&c->lapic[cpu]);
	irqchip_unlock(c);
}

bool irqchip_take_nmi(struct irqchip *c, int cpu)
{
	if (cpu < 0 || cpu >= c->nr_cpus)
		return false;
	irqchip_lock(c);
	bool r = c->lapic[cpu].nmi_pending;
	c->lapic[cpu].nmi_pending = false;
	irqchip_unlock(c);
	return r;
}
