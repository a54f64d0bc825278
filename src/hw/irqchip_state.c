/* Snapshot state of the software irqchip: the PIC pair, the IOAPIC, the PIT and each LAPIC as
 * sections "pic", "ioapic", "pit", "lapic<N>". Saved and loaded under the irqchip lock; timer
 * times are VM-clock nanoseconds, which a restored VM continues (src/hw/clock.c), so armed
 * timers fire when they would have. Values the models divide by or index with are checked.
 */
#include <stdio.h>

#include "hw/irqchip_internal.h"
#include "snapshot/state.h"
#include "vm.h"

static void pic_chip_save(const struct pic_chip *p, struct state_out *o)
{
	const bool flags[] = { p->icw4_expected, p->single, p->level_mode, p->auto_eoi,
			       p->rotate_on_aeoi, p->special_nested, p->special_mask,
			       p->read_isr, p->poll };

	state_put_u8(o, p->irr);
	state_put_u8(o, p->isr);
	state_put_u8(o, p->imr);
	state_put_u8(o, p->line);
	state_put_u8(o, p->elcr);
	state_put_u8(o, p->vector_base);
	state_put_u8(o, p->highest);
	state_put_u8(o, p->icw_next);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		state_put_bool(o, flags[i]);
}

static void pic_chip_load(struct pic_chip *p, struct state_in *in)
{
	bool *flags[] = { &p->icw4_expected, &p->single, &p->level_mode, &p->auto_eoi,
			  &p->rotate_on_aeoi, &p->special_nested, &p->special_mask,
			  &p->read_isr, &p->poll };

	p->irr = state_get_u8(in);
	p->isr = state_get_u8(in);
	p->imr = state_get_u8(in);
	p->line = state_get_u8(in);
	p->elcr = state_get_u8(in) & p->elcr_mask;	/* the mask is the hardware's */
	p->vector_base = state_get_u8(in);
	p->highest = state_get_u8(in);
	p->icw_next = state_get_u8(in);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		*flags[i] = state_get_bool(in);
	if (p->highest > 7 || p->icw_next > 4)
		in->bad = true;
}

static void pic_save(void *opaque, struct state_out *o)
{
	struct irqchip *c = opaque;

	irqchip_lock(c);
	pic_chip_save(&c->pic.chip[0], o);
	pic_chip_save(&c->pic.chip[1], o);
	irqchip_unlock(c);
}

static int pic_load(void *opaque, struct state_in *in)
{
	struct irqchip *c = opaque;

	irqchip_lock(c);
	pic_chip_load(&c->pic.chip[0], in);
	pic_chip_load(&c->pic.chip[1], in);
	irqchip_unlock(c);
	return in->bad ? -1 : 0;
}

static void ioapic_save(void *opaque, struct state_out *o)
{
	struct irqchip *c = opaque;

	irqchip_lock(c);
	state_put_u8(o, c->ioapic.regsel);
	state_put_u8(o, c->ioapic.id);
	state_put_u32(o, c->ioapic.line);
	for (int i = 0; i < IOAPIC_PINS; i++)
		state_put_u64(o, c->ioapic.redir[i]);
	irqchip_unlock(c);
}

static int ioapic_load(void *opaque, struct state_in *in)
{
	struct irqchip *c = opaque;

	irqchip_lock(c);
	c->ioapic.regsel = state_get_u8(in);
	c->ioapic.id = state_get_u8(in) & 0xf;
	c->ioapic.line = state_get_u32(in);
	for (int i = 0; i < IOAPIC_PINS; i++)
		c->ioapic.redir[i] = state_get_u64(in);
	irqchip_unlock(c);
	return in->bad ? -1 : 0;
}

static void pit_save(void *opaque, struct state_out *o)
{
	struct irqchip *c = opaque;

	irqchip_lock(c);
	for (int i = 0; i < 3; i++) {
		const struct pit_channel *ch = &c->pit.ch[i];
		const bool flags[] = { ch->bcd, ch->gate, ch->loaded, ch->running, ch->triggered,
				       ch->write_msb, ch->read_msb, ch->count_latched,
				       ch->latch_msb, ch->status_latched };
		state_put_u32(o, ch->reload);
		state_put_u8(o, ch->mode);
		state_put_u8(o, ch->rw);
		state_put_u64(o, ch->base_ticks);
		state_put_u64(o, ch->base_ns);
		state_put_u64(o, ch->irqs);
		state_put_u8(o, ch->write_lsb);
		state_put_u16(o, ch->latched_count);
		state_put_u8(o, ch->status);
		for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
			state_put_bool(o, flags[k]);
	}
	state_put_u8(o, c->pit.port61);
	state_put_bool(o, c->pit.refresh);
	irqchip_unlock(c);
}

static int pit_load(void *opaque, struct state_in *in)
{
	struct irqchip *c = opaque;

	irqchip_lock(c);
	for (int i = 0; i < 3; i++) {
		struct pit_channel *ch = &c->pit.ch[i];
		bool *flags[] = { &ch->bcd, &ch->gate, &ch->loaded, &ch->running, &ch->triggered,
				  &ch->write_msb, &ch->read_msb, &ch->count_latched,
				  &ch->latch_msb, &ch->status_latched };
		ch->reload = state_get_u32(in);
		ch->mode = state_get_u8(in);
		ch->rw = state_get_u8(in);
		ch->base_ticks = state_get_u64(in);
		ch->base_ns = state_get_u64(in);
		ch->irqs = state_get_u64(in);
		ch->write_lsb = state_get_u8(in);
		ch->latched_count = state_get_u16(in);
		ch->status = state_get_u8(in);
		for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
			*flags[k] = state_get_bool(in);
		/* The count model divides by reload. */
		if (ch->reload < 1 || ch->reload > 65536 || ch->mode > 7 || ch->rw > 3)
			in->bad = true;
	}
	c->pit.port61 = state_get_u8(in) & 0xf;
	c->pit.refresh = state_get_bool(in);
	irqchip_unlock(c);
	return in->bad ? -1 : 0;
}

static void put_u32s(struct state_out *o, const uint32_t *v, int n)
{
	for (int i = 0; i < n; i++)
		state_put_u32(o, v[i]);
}

static void get_u32s(struct state_in *in, uint32_t *v, int n)
{
	for (int i = 0; i < n; i++)
		v[i] = state_get_u32(in);
}

static void lapic_save(void *opaque, struct state_out *o)
{
	struct lapic *l = opaque;

	irqchip_lock(l->owner);
	state_put_u32(o, l->id);
	state_put_u64(o, l->base_msr);
	const uint32_t regs[] = { l->tpr, l->svr, l->ldr, l->dfr, l->esr, l->esr_pending,
				  l->icr_lo, l->icr_hi, l->timer_initial, l->timer_divide };
	put_u32s(o, regs, sizeof(regs) / sizeof(regs[0]));
	put_u32s(o, l->lvt, LVT_NR);
	put_u32s(o, l->irr, 8);
	put_u32s(o, l->isr, 8);
	put_u32s(o, l->tmr, 8);
	state_put_u64(o, l->timer_start_ns);
	state_put_u64(o, l->timer_deadline_ns);
	state_put_u64(o, l->tsc_deadline);
	state_put_bool(o, l->init_pending);
	state_put_bool(o, l->sipi_pending);
	state_put_bool(o, l->nmi_pending);
	state_put_bool(o, l->extint_pending);
	state_put_u8(o, l->sipi_vector);
	irqchip_unlock(l->owner);
}

static int lapic_load(void *opaque, struct state_in *in)
{
	struct lapic *l = opaque;
	uint32_t regs[10];

	irqchip_lock(l->owner);
	l->id = state_get_u32(in);
	l->base_msr = state_get_u64(in);
	get_u32s(in, regs, 10);
	l->tpr = regs[0];
	l->svr = regs[1];
	l->ldr = regs[2];
	l->dfr = regs[3];
	l->esr = regs[4];
	l->esr_pending = regs[5];
	l->icr_lo = regs[6];
	l->icr_hi = regs[7];
	l->timer_initial = regs[8];
	l->timer_divide = regs[9] & 0xb;
	get_u32s(in, l->lvt, LVT_NR);
	get_u32s(in, l->irr, 8);
	get_u32s(in, l->isr, 8);
	get_u32s(in, l->tmr, 8);
	l->timer_start_ns = state_get_u64(in);
	l->timer_deadline_ns = state_get_u64(in);
	l->tsc_deadline = state_get_u64(in);
	l->init_pending = state_get_bool(in);
	l->sipi_pending = state_get_bool(in);
	l->nmi_pending = state_get_bool(in);
	l->extint_pending = state_get_bool(in);
	l->sipi_vector = state_get_u8(in);
	/* The vCPU looks at its LAPIC again once it runs. */
	irqchip_kick_cpu(l->owner, l->cpu);
	irqchip_unlock(l->owner);
	return in->bad ? -1 : 0;
}

int irqchip_register_state(struct irqchip *c, struct vm *vm)
{
	if (vm_register_state(vm, "pic", pic_save, pic_load, c) < 0 ||
	    vm_register_state(vm, "ioapic", ioapic_save, ioapic_load, c) < 0 ||
	    vm_register_state(vm, "pit", pit_save, pit_load, c) < 0)
		return -1;
	for (int i = 0; i < c->nr_cpus; i++) {
		char name[VM_STATE_NAME_LEN];
		snprintf(name, sizeof(name), "lapic%u", (uint8_t)i);
		if (vm_register_state(vm, name, lapic_save, lapic_load, &c->lapic[i]) < 0)
			return -1;
	}
	return 0;
}
