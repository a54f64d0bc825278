/* bt side of the differential tester: a one-vCPU VM on the bt engine in 64-bit mode at CPL3,
 * with page tables mapping the code and data pages at the same addresses the native child uses.
 * The run loop here is the harness's own: it calls bt_interp_run() and catches the fault that
 * ends the sequence instead of delivering it to a guest IDT. */
#include <stdlib.h>
#include <string.h>

#include "difftest.h"
#include "engine/bt/bt.h"
#include "vm.h"

#define PT_BASE		0x10000ull	/* PML4, PDPT, PD, PT */
#define CODE_GPA	0x200000ull
#define DATA_GPA	0x201000ull
#define PTE_P		1ull
#define PTE_W		2ull
#define PTE_U		4ull

struct dt_bt {
	struct vm vm;
	struct vcpu vcpu;
	struct bt_cpu *cpu;
};

static void put64(struct vm *vm, uint64_t gpa, uint64_t v)
{
	mem_write(&vm->mem, gpa, &v, 8);
}

struct dt_bt *dt_bt_start(void)
{
	struct dt_bt *b = calloc(1, sizeof(*b));
	struct vm *vm;

	if (!b)
		return NULL;
	vm = &b->vm;
	vm->nr_cpus = 1;
	vm->console_out_fd = -1;
	vm->engine = &bt_engine;
	vm->cfg.user_mode = USER_MODE_BT;	/* the translator is what is compared with native */
	if (mem_init(&vm->mem, 8ull << 20) < 0)
		goto fail;
	/* Identity of the native layout: VA 0x10000000 -> code page, 0x10010000 -> data page. */
	put64(vm, PT_BASE, (PT_BASE + 0x1000) | PTE_P | PTE_W | PTE_U);
	put64(vm, PT_BASE + 0x1000, (PT_BASE + 0x2000) | PTE_P | PTE_W | PTE_U);
	put64(vm, PT_BASE + 0x2000 + 8 * (DT_CODE_VA >> 21), (PT_BASE + 0x3000) | PTE_P | PTE_W | PTE_U);
	put64(vm, PT_BASE + 0x3000 + 8 * ((DT_CODE_VA >> 12) & 511), CODE_GPA | PTE_P | PTE_W | PTE_U);
	put64(vm, PT_BASE + 0x3000 + 8 * ((DT_DATA_VA >> 12) & 511), DATA_GPA | PTE_P | PTE_W | PTE_U);
	if (bt_engine.vm_create(vm) < 0)
		goto fail_mem;
	b->vcpu.vm = vm;
	b->vcpu.id = 0;
	vm->vcpu[0] = &b->vcpu;
	if (bt_engine.vcpu_create(&b->vcpu) < 0)
		goto fail_vm;
	b->cpu = b->vcpu.engine_priv;
	return b;
fail_vm:
	bt_engine.vm_destroy(vm);
fail_mem:
	mem_destroy(&vm->mem);
fail:
	free(b);
	return NULL;
}

void dt_bt_stop(struct dt_bt *b)
{
	if (!b)
		return;
	bt_engine.vcpu_destroy(&b->vcpu);
	bt_engine.vm_destroy(&b->vm);
	mem_destroy(&b->vm.mem);
	free(b);
}

static void user_long_mode(struct cpu_state *s, const struct dt_case *c)
{
	cpu_state_reset(s);
	memcpy(s->gpr, c->gpr, sizeof(s->gpr));
	s->rip = DT_CODE_VA;
	s->rflags = c->rflags;
	memcpy(s->fxsave, c->fx, sizeof(s->fxsave));
	s->cr0 = CR0_PE | CR0_PG | CR0_ET | CR0_NE | CR0_WP | CR0_MP;
	s->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	s->cr3 = PT_BASE;
	s->efer = EFER_LME | EFER_LMA | EFER_SCE | EFER_NXE;
	/* Linux's user selectors: CS 0x33 (64-bit, DPL3), SS/DS 0x2b. */
	cpu_state_flat_seg(&s->seg[S_CS], 0x33, 0xb | SEG_S | (3 << 5) | SEG_P | SEG_L | SEG_G);
	for (int r = S_ES; r <= S_GS; r++)
		if (r != S_CS)
			cpu_state_flat_seg(&s->seg[r], 0x2b, 0x3 | SEG_S | (3 << 5) | SEG_P | SEG_DB | SEG_G);
	s->seg[S_TR].attr = 0xb | SEG_P;
	s->seg[S_TR].limit = 0x67;
}

int dt_bt_run(struct dt_bt *b, const struct dt_case *c, struct dt_result *r)
{
	struct bt_cpu *cpu = b->cpu;
	struct cpu_state s;
	volatile uint64_t executed = 0;

	if (mem_write(&b->vm.mem, CODE_GPA, c->code, DT_PAGE) < 0 ||
	    mem_write(&b->vm.mem, DATA_GPA, c->data, DT_PAGE) < 0)
		return -1;
	/* The host wrote guest RAM behind the engine's back: drop code decoded from it. */
	bt_code_written(cpu->bvm, CODE_GPA);
	user_long_mode(&s, c);
	if (bt_engine.set_state(&b->vcpu, &s) < 0)
		return -1;

	r->vector = -1;
	if (setjmp(cpu->fault_jmp) == 0) {
		/* Generated code has no backward jumps: it ends at the HLT; the cap is a backstop. */
		while (executed < 100000) {
			uint64_t n = bt_interp_run(cpu, 1000);
			if (n == 0)
				break;
			executed += n;
		}
	} else {
		r->vector = cpu->pending_vector;
	}
	if (bt_engine.get_state(&b->vcpu, &s) < 0)
		return -1;
	memcpy(r->gpr, s.gpr, sizeof(r->gpr));
	r->rip = s.rip;
	r->rflags = s.rflags;
	memcpy(r->fx, s.fxsave, sizeof(r->fx));
	return mem_read(&b->vm.mem, DATA_GPA, r->data, DT_PAGE);
}
