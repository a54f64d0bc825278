/* struct cpu_state <-> snapshot bytes, field by field (the engine-neutral vCPU section). */
#include "snapshot/cpu.h"

static void put_seg(struct state_out *o, const struct seg_reg *s)
{
	state_put_u64(o, s->base);
	state_put_u32(o, s->limit);
	state_put_u32(o, s->attr);
	state_put_u16(o, s->sel);
}

static void get_seg(struct state_in *in, struct seg_reg *s)
{
	s->base = state_get_u64(in);
	s->limit = state_get_u32(in);
	s->attr = state_get_u32(in);
	s->sel = state_get_u16(in);
}

static void put_array(struct state_out *o, const uint64_t *v, int n)
{
	for (int i = 0; i < n; i++)
		state_put_u64(o, v[i]);
}

static void get_array(struct state_in *in, uint64_t *v, int n)
{
	for (int i = 0; i < n; i++)
		v[i] = state_get_u64(in);
}

/* The scalar 64-bit registers in file order; the same list drives save and load. */
#define CPU_U64_FIELDS(X) \
	X(rip) X(rflags) X(cr0) X(cr2) X(cr3) X(cr4) X(cr8) X(efer) X(xcr0) \
	X(star) X(lstar) X(cstar) X(sfmask) X(kernel_gs_base) \
	X(sysenter_cs) X(sysenter_esp) X(sysenter_eip) X(tsc) X(tsc_aux) X(apic_base) X(pat) \
	X(misc_enable) X(mtrr_def_type) X(kvm_system_time) X(kvm_wall_clock)

void cpu_state_save(const struct cpu_state *s, struct state_out *o)
{
	put_array(o, s->gpr, 16);
#define PUT(f) state_put_u64(o, s->f);
	CPU_U64_FIELDS(PUT)
#undef PUT
	for (int i = 0; i < S_NR; i++)
		put_seg(o, &s->seg[i]);
	state_put_u64(o, s->gdt.base);
	state_put_u16(o, s->gdt.limit);
	state_put_u64(o, s->idt.base);
	state_put_u16(o, s->idt.limit);
	put_array(o, s->dr, 8);
	put_array(o, s->mtrr_fixed, MTRR_FIXED_COUNT);
	put_array(o, s->mtrr_var, 2 * MTRR_VAR_COUNT);
	state_put(o, s->fxsave, sizeof(s->fxsave));
	state_put_bool(o, s->halted);
	state_put_bool(o, s->interrupt_shadow);
}

void cpu_state_load(struct cpu_state *s, struct state_in *in)
{
	get_array(in, s->gpr, 16);
#define GET(f) s->f = state_get_u64(in);
	CPU_U64_FIELDS(GET)
#undef GET
	for (int i = 0; i < S_NR; i++)
		get_seg(in, &s->seg[i]);
	s->gdt.base = state_get_u64(in);
	s->gdt.limit = state_get_u16(in);
	s->idt.base = state_get_u64(in);
	s->idt.limit = state_get_u16(in);
	get_array(in, s->dr, 8);
	get_array(in, s->mtrr_fixed, MTRR_FIXED_COUNT);
	get_array(in, s->mtrr_var, 2 * MTRR_VAR_COUNT);
	state_get(in, s->fxsave, sizeof(s->fxsave));
	s->halted = state_get_bool(in);
	s->interrupt_shadow = state_get_bool(in);
}
