/* bt engine segmentation: the execution mode derived from CR0/EFER/EFLAGS/CS, descriptor
 * table lookups and segment-register loads with the protected-mode checks (Intel SDM Vol. 3,
 * 5.5-5.8 and the MOV/POP Sreg pseudo-code).
 */
#include "engine/bt/sys/btsys.h"

void bt_update_mode(struct bt_cpu *cpu)
{
	const struct cpu_state *s = &cpu->s;
	uint32_t cs = s->seg[S_CS].attr;

	if (!(s->cr0 & CR0_PE)) {
		/* Real mode keeps the cached CS.D until CS is reloaded, like hardware. */
		cpu->mode = BT_MODE_REAL;
		cpu->cpl = 0;
		cpu->code_size = (cs & SEG_DB) ? 4 : 2;
		cpu->stack_size = (s->seg[S_SS].attr & SEG_DB) ? 4 : 2;
	} else if (s->rflags & RFLAGS_VM) {
		cpu->mode = BT_MODE_V86;
		cpu->cpl = 3;
		cpu->code_size = 2;
		cpu->stack_size = 2;
	} else if ((s->efer & EFER_LMA) && (cs & SEG_L)) {
		cpu->mode = BT_MODE_LONG;
		cpu->cpl = s->seg[S_CS].sel & 3;
		cpu->code_size = 8;
		cpu->stack_size = 8;
	} else {
		cpu->mode = (s->efer & EFER_LMA) ? BT_MODE_COMPAT : BT_MODE_PROT;
		cpu->cpl = s->seg[S_CS].sel & 3;
		cpu->code_size = (cs & SEG_DB) ? 4 : 2;
		cpu->stack_size = (s->seg[S_SS].attr & SEG_DB) ? 4 : 2;
	}
}

uint64_t bt_read_desc(struct bt_cpu *cpu, uint16_t sel, uint64_t *lin)
{
	uint64_t base;
	uint32_t limit;

	if (sel & 4) {
		const struct seg_reg *ldt = &cpu->s.seg[S_LDTR];
		if ((ldt->attr & SEG_UNUSABLE) || !(ldt->sel & ~3))
			bt_raise(cpu, EXC_GP, sel & 0xfffc);
		base = ldt->base;
		limit = ldt->limit;
	} else {
		base = cpu->s.gdt.base;
		limit = cpu->s.gdt.limit;
	}
	uint32_t off = sel & 0xfff8u;
	if (off + 7u > limit)
		bt_raise(cpu, EXC_GP, sel & 0xfffc);
	*lin = base + off;
	if (!(cpu->s.efer & EFER_LMA))
		*lin &= 0xffffffffull;
	return bt_read_lin(cpu, *lin, 8, BT_TLB_SUP);
}

uint64_t bt_read_desc_hi(struct bt_cpu *cpu, uint64_t lin)
{
	return bt_read_lin(cpu, lin + 8, 8, BT_TLB_SUP);
}

void bt_desc_to_seg(struct seg_reg *s, uint16_t sel, uint64_t d)
{
	uint32_t limit = (uint32_t)(d & 0xffff) | (uint32_t)((d >> 32) & 0xf0000);

	s->sel = sel;
	s->base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000);
	s->attr = bt_desc_attr(d);
	s->limit = (s->attr & SEG_G) ? (limit << 12) | 0xfff : limit;
}

void bt_desc_set_accessed(struct bt_cpu *cpu, uint64_t lin, uint64_t desc)
{
	if (!(desc & (1ull << 40)))
		bt_write_lin(cpu, lin + 5, 1, (desc >> 40 & 0xff) | 1, BT_TLB_SUP);
}

void bt_load_cs(struct bt_cpu *cpu, uint16_t sel, uint64_t desc, unsigned cpl)
{
	bt_desc_to_seg(&cpu->s.seg[S_CS], (uint16_t)((sel & 0xfffc) | cpl), desc);
	cpu->s.seg[S_CS].attr |= 1;	/* accessed, as written to the descriptor */
	bt_update_mode(cpu);
	cpu->end_block = true;
}

uint64_t bt_check_far_target(struct bt_cpu *cpu, uint16_t sel)
{
	uint64_t lin;

	if (!(sel & 0xfffc))
		bt_raise(cpu, EXC_GP, 0);
	uint64_t d = bt_read_desc(cpu, sel, &lin);
	uint32_t attr = bt_desc_attr(d);
	unsigned dpl = SEG_DPL(attr), rpl = sel & 3;

	/* Gates and TSS targets (call gates, task switches) are not supported: #GP(sel). */
	if (!(attr & SEG_S) || !(SEG_TYPE(attr) & 8))
		bt_raise(cpu, EXC_GP, sel & 0xfffc);
	if (SEG_TYPE(attr) & 4) {
		if (dpl > cpu->cpl)
			bt_raise(cpu, EXC_GP, sel & 0xfffc);
	} else if (rpl > cpu->cpl || dpl != cpu->cpl) {
		bt_raise(cpu, EXC_GP, sel & 0xfffc);
	}
	if (!(attr & SEG_P))
		bt_raise(cpu, EXC_NP, sel & 0xfffc);
	if ((cpu->s.efer & EFER_LMA) && (attr & SEG_L) && (attr & SEG_DB))
		bt_raise(cpu, EXC_GP, sel & 0xfffc);
	bt_desc_set_accessed(cpu, lin, d);
	return d;
}

void bt_null_outer_segs(struct bt_cpu *cpu)
{
	static const int segs[] = { S_ES, S_DS, S_FS, S_GS };

	for (unsigned k = 0; k < 4; k++) {
		struct seg_reg *s = &cpu->s.seg[segs[k]];
		unsigned type = SEG_TYPE(s->attr);
		bool conforming_code = (type & 0xc) == 0xc;
		if (!(s->attr & SEG_UNUSABLE) && !conforming_code && SEG_DPL(s->attr) < cpu->cpl) {
			s->sel = 0;
			s->attr = SEG_UNUSABLE;
		}
	}
}

static void load_null(struct bt_cpu *cpu, int sreg, uint16_t sel)
{
	struct seg_reg *s = &cpu->s.seg[sreg];

	s->sel = sel;
	s->attr = SEG_UNUSABLE | ((uint32_t)cpu->cpl << 5);
	/* Intel clears the base (AMD keeps it; we model an Intel CPU). */
	s->base = 0;
	s->limit = 0;
}

void bt_load_seg(struct bt_cpu *cpu, int sreg, uint16_t sel)
{
	struct seg_reg *s = &cpu->s.seg[sreg];

	if (cpu->mode == BT_MODE_REAL || cpu->mode == BT_MODE_V86) {
		s->sel = sel;
		s->base = (uint64_t)sel << 4;
		/* Real mode keeps the cached limit and attributes ("unreal mode"), but a segment
		 * is always usable there; v86 mode resets them. */
		if (cpu->mode == BT_MODE_V86 || (s->attr & SEG_UNUSABLE) || !(s->attr & SEG_P)) {
			s->limit = 0xffff;
			s->attr = SEG_P | SEG_S | (sreg == S_CS ? 0xb : 0x3) |
				  (cpu->mode == BT_MODE_V86 ? 3u << 5 : 0);
		}
		if (sreg == S_CS || sreg == S_SS) {
			bt_update_mode(cpu);
			cpu->end_block = true;
		}
		return;
	}

	unsigned rpl = sel & 3, cpl = cpu->cpl;
	if (!(sel & 0xfffc)) {
		if (sreg == S_SS) {
			/* 64-bit mode allows a null SS below CPL 3 with RPL = CPL. */
			if (cpu->mode != BT_MODE_LONG || cpl == 3 || rpl != cpl)
				bt_raise(cpu, EXC_GP, 0);
		} else if (sreg == S_CS) {
			bt_raise(cpu, EXC_GP, 0);
		}
		load_null(cpu, sreg, sel);
		if (sreg == S_SS)
			bt_update_mode(cpu);
		return;
	}

	if (sreg == S_CS) {
		bt_load_cs(cpu, sel, bt_check_far_target(cpu, sel), cpl);
		return;
	}

	uint64_t lin;
	uint64_t d = bt_read_desc(cpu, sel, &lin);
	uint32_t attr = bt_desc_attr(d);
	unsigned type = SEG_TYPE(attr), dpl = SEG_DPL(attr);
	uint16_t err = sel & 0xfffc;

	if (!(attr & SEG_S))
		bt_raise(cpu, EXC_GP, err);
	if (sreg == S_SS) {
		if (rpl != cpl || dpl != cpl || (type & 8) || !(type & 2))
			bt_raise(cpu, EXC_GP, err);
		if (!(attr & SEG_P))
			bt_raise(cpu, EXC_SS, err);
	} else {
		/* Data or readable code; privilege matters except for conforming code. */
		if ((type & 0xa) == 0x8)
			bt_raise(cpu, EXC_GP, err);
		if ((type & 0xc) != 0xc && (rpl > dpl || cpl > dpl))
			bt_raise(cpu, EXC_GP, err);
		if (!(attr & SEG_P))
			bt_raise(cpu, EXC_NP, err);
	}
	bt_desc_set_accessed(cpu, lin, d);
	bt_desc_to_seg(s, sel, d | (1ull << 40));
	if (sreg == S_SS)
		bt_update_mode(cpu);
}

uint64_t bt_check_ret_cs(struct bt_cpu *cpu, uint16_t cs, uint64_t *lin)
{
	if (!(cs & 0xfffc))
		bt_raise(cpu, EXC_GP, 0);
	uint64_t d = bt_read_desc(cpu, cs, lin);
	uint32_t attr = bt_desc_attr(d);
	unsigned rpl = cs & 3, dpl = SEG_DPL(attr);

	if (!(attr & SEG_S) || !(SEG_TYPE(attr) & 8) || rpl < cpu->cpl ||
	    ((SEG_TYPE(attr) & 4) ? dpl > rpl : dpl != rpl))
		bt_raise(cpu, EXC_GP, cs & 0xfffc);
	if ((cpu->s.efer & EFER_LMA) && (attr & SEG_L) && (attr & SEG_DB))
		bt_raise(cpu, EXC_GP, cs & 0xfffc);
	if (!(attr & SEG_P))
		bt_raise(cpu, EXC_NP, cs & 0xfffc);
	return d;
}

uint64_t bt_check_ret_ss(struct bt_cpu *cpu, uint16_t ss, unsigned rpl, bool to64, uint64_t *lin)
{
	if (!(ss & 0xfffc)) {
		/* Only 64-bit code below CPL 3 may run on a null SS. */
		if (!to64 || rpl == 3 || (ss & 3) != rpl)
			bt_raise(cpu, EXC_GP, 0);
		return 0;
	}
	uint64_t d = bt_read_desc(cpu, ss, lin);
	uint32_t a = bt_desc_attr(d);
	if ((ss & 3) != rpl || SEG_DPL(a) != rpl || !(a & SEG_S) || (SEG_TYPE(a) & 0xa) != 0x2)
		bt_raise(cpu, EXC_GP, ss & 0xfffc);
	if (!(a & SEG_P))
		bt_raise(cpu, EXC_SS, ss & 0xfffc);
	return d;
}

void bt_set_ss(struct bt_cpu *cpu, uint16_t ss, uint64_t desc, unsigned cpl)
{
	struct seg_reg *s = &cpu->s.seg[S_SS];

	if (desc) {
		bt_desc_to_seg(s, ss, desc | (1ull << 40));
	} else {
		s->sel = ss;
		s->base = 0;
		s->limit = 0;
		s->attr = SEG_UNUSABLE | (cpl << 5);
	}
	bt_update_mode(cpu);
}
