/* The interpreter on another engine's vCPU state (emulate.h).
 *
 * An emulator is a bt vCPU of its own private bt_vm that shares the machine's RAM and buses but
 * has no irqchip (the other engine keeps interrupts) and tracks no page: bt_vm.nr_pages is 0,
 * so every block is decoded afresh into the scratch block and nothing is write-protected. That
 * is what a vCPU needs whose guest runs natively between two calls and may have rewritten
 * anything meanwhile, code and page tables included; the page-walk cache (shadow) and the soft
 * TLB are emptied on every call for the same reason. Stores go through the soft TLB as usual,
 * so the dirty log (vm->mem.dirty) sees them.
 */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "engine/bt/sys/btsys.h"
#include "engine/bt/emulate.h"
#include "engine/bt/cpu/ops.h"
#include "hw/irqchip.h"
#include "vm.h"

struct bt_emulator {
	struct bt_vm bvm;
	struct bt_vcpu *bv;
};

struct bt_emulator *bt_emulator_create(struct vcpu *v)
{
	struct bt_emulator *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->bvm.vm = v->vm;
	e->bvm.nr_cpus = 1;
	/* shadow.c indexes its per-page state by any frame in RAM: size it for all of them, then
	 * track none (nr_pages 0: see the top of this file). */
	e->bvm.nr_pages = bt_ram_pages(v->vm);
	if (bt_shadow_vm_init(&e->bvm) < 0) {
		free(e);
		return NULL;
	}
	e->bvm.nr_pages = 0;
	e->bv = bt_vcpu_alloc(v, &e->bvm, false);
	if (!e->bv) {
		bt_shadow_vm_free(&e->bvm);
		free(e);
		return NULL;
	}
	return e;
}

void bt_emulator_destroy(struct bt_emulator *e)
{
	if (!e)
		return;
	bt_block_cache_free(&e->bv->cpu);
	free(e->bv);
	bt_shadow_vm_free(&e->bvm);
	free(e);
}

/* The vCPU takes s, with nothing remembered from the previous call. */
static struct bt_cpu *load(struct bt_emulator *e, const struct cpu_state *s)
{
	struct bt_cpu *cpu = &e->bv->cpu;

	cpu->s = *s;
	bt_set_rflags(cpu, s->rflags);
	cpu->inhibit_irq = s->interrupt_shadow;
	e->bv->tsc_offset = (int64_t)(s->tsc - guest_tsc_from_ns(bt_vm_clock_now(cpu)));
	bt_update_mode(cpu);
	bt_shadow_reset(cpu);
	bt_tlb_flush(cpu, true);
	return cpu;
}

enum bt_emulate_result bt_emulate(struct bt_emulator *e, struct cpu_state *s, unsigned max)
{
	struct bt_cpu *cpu = load(e, s);
	volatile int delivering = -1;

	if (setjmp(cpu->fault_jmp)) {
		/* A fault: delivered (the handler is the other engine's to run), or shutdown. */
		if (!bt_fault_landed(cpu, &delivering))
			return BT_EMULATE_SHUTDOWN;
	} else {
		bt_interp_run(cpu, max ? max : 1);
	}
	*s = cpu->s;
	s->rflags = bt_get_rflags(cpu);
	s->interrupt_shadow = cpu->inhibit_irq;
	s->tsc = bt_guest_tsc(cpu);
	return BT_EMULATE_DONE;
}

/* ---- Describing an instruction ------------------------------------------------------------- */

struct handler_name {
	bt_handler fn;
	const char *name;
};

#define SYS_NAME(n) { bt_op_##n, #n },
#define CPU_NAME(n) { bt_h_##n, #n },
static const struct handler_name handler_names[] = {
	BT_SYS_HANDLERS(SYS_NAME)
	BT_CPU_HANDLERS(CPU_NAME)
};

static void insn_name(const struct bt_insn *i, char *buf, size_t len)
{
	static const char size_suffix[9] = { [2] = 'w', [4] = 'd', [8] = 'q' };

	buf[0] = 0;
	for (size_t k = 0; k < sizeof(handler_names) / sizeof(handler_names[0]); k++) {
		if (handler_names[k].fn != i->fn)
			continue;
		if (i->fn == bt_h_cmpxchg8b && i->opsize == 8)
			snprintf(buf, len, "cmpxchg16b");
		else if (i->fn == bt_op_iret && i->opsize <= 8)
			snprintf(buf, len, "iret%c", size_suffix[i->opsize]);
		else
			snprintf(buf, len, "%s", handler_names[k].name);
		return;
	}
}

int bt_emulator_describe(struct bt_emulator *e, const struct cpu_state *s, struct bt_insn_text *t)
{
	struct bt_cpu *cpu = load(e, s);
	uint64_t lin = cpu->mode == BT_MODE_LONG ? s->rip : (s->seg[S_CS].base + s->rip) & 0xffffffffull;
	struct bt_insn i;
	volatile int len = 0;
	size_t n = 0;

	t->name[0] = 0;
	if (setjmp(cpu->fault_jmp)) {
		snprintf(t->bytes, sizeof(t->bytes), "(%s at %#llx: exception %d)",
			 len ? "cannot read" : "cannot decode", (unsigned long long)lin,
			 cpu->pending_vector);
		return -1;
	}
	len = bt_decode(cpu, lin, &i);
	for (int k = 0; k < len && n + 4 < sizeof(t->bytes); k++) {
		uint64_t at = cpu->mode == BT_MODE_LONG ? lin + (uint64_t)k : (lin + (uint64_t)k) & 0xffffffffull;
		n += (size_t)snprintf(t->bytes + n, sizeof(t->bytes) - n, "%s%02x", k ? " " : "",
				      (unsigned)bt_read_lin(cpu, at, 1, BT_TLB_SUP));
	}
	insn_name(&i, t->name, sizeof(t->name));
	return 0;
}
