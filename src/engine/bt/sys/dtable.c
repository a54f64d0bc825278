/* bt engine descriptor-table and segment-register instructions: LGDT/LIDT/SGDT/SIDT,
 * LLDT/SLDT/LTR/STR, LAR/LSL/VERR/VERW/ARPL, MOV/PUSH/POP Sreg and LDS/LES/LFS/LGS/LSS.
 * UMIP is not advertised, so the store instructions work at any CPL.
 */
#include "engine/bt/sys/btsys.h"

static void require_prot(struct bt_cpu *cpu)
{
	if (cpu->mode == BT_MODE_REAL || cpu->mode == BT_MODE_V86)
		bt_raise_noerr(cpu, EXC_UD);
}

static void require_mem(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (!(i->flags & BI_MEM))
		bt_raise_noerr(cpu, EXC_UD);
}

/* ---- GDTR / IDTR ------------------------------------------------------------------------------ */

static void load_dtable(struct bt_cpu *cpu, const struct bt_insn *i, struct dtable *dt)
{
	require_mem(cpu, i);
	bt_require_cpl0(cpu);
	if (cpu->mode == BT_MODE_V86)
		bt_raise(cpu, EXC_GP, 0);
	stat_add(&cpu->stats.trap_dt, 1);
	uint64_t off = bt_ea(cpu, i);
	uint16_t limit = (uint16_t)bt_read(cpu, i->seg, off, 2);
	uint64_t base;

	if (cpu->mode == BT_MODE_LONG) {
		base = bt_read(cpu, i->seg, off + 2, 8);
		if (!bt_canonical(base))
			bt_raise(cpu, EXC_GP, 0);
	} else {
		/* With a 16-bit operand only 24 bits of the base are loaded. */
		base = bt_read(cpu, i->seg, (off + 2) & (i->addrsize == 2 ? 0xffff : 0xffffffff), 4);
		if (i->opsize == 2)
			base &= 0xffffff;
	}
	dt->limit = limit;
	dt->base = base;
}

static void store_dtable(struct bt_cpu *cpu, const struct bt_insn *i, const struct dtable *dt)
{
	require_mem(cpu, i);
	stat_add(&cpu->stats.trap_dt, 1);
	uint64_t off = bt_ea(cpu, i);
	unsigned bsize = cpu->mode == BT_MODE_LONG ? 8 : 4;
	uint64_t off2 = (off + 2) & (i->addrsize == 2 ? 0xffff : i->addrsize == 4 ? 0xffffffff : ~0ull);

	/* Check both parts before writing either. */
	bt_linear(cpu, i->seg, off2, bsize, BT_WRITE);
	bt_write(cpu, i->seg, off, 2, dt->limit);
	bt_write(cpu, i->seg, off2, bsize, dt->base);
}

void bt_op_lgdt(struct bt_cpu *cpu, const struct bt_insn *i) { load_dtable(cpu, i, &cpu->s.gdt); }
void bt_op_lidt(struct bt_cpu *cpu, const struct bt_insn *i) { load_dtable(cpu, i, &cpu->s.idt); }
void bt_op_sgdt(struct bt_cpu *cpu, const struct bt_insn *i) { store_dtable(cpu, i, &cpu->s.gdt); }
void bt_op_sidt(struct bt_cpu *cpu, const struct bt_insn *i) { store_dtable(cpu, i, &cpu->s.idt); }

/* ---- LDTR / TR ---------------------------------------------------------------------------------- */

/* A system descriptor from the GDT (8 bytes, 16 in IA-32e mode) for LLDT/LTR. */
static void load_system_seg(struct bt_cpu *cpu, int sreg, uint16_t sel, uint64_t *d, uint64_t *lin)
{
	struct seg_reg *s = &cpu->s.seg[sreg];

	if (sel & 4)
		bt_raise(cpu, EXC_GP, sel & 0xfffc);
	*d = bt_read_desc(cpu, sel, lin);
	uint32_t attr = bt_desc_attr(*d);
	unsigned type = SEG_TYPE(attr);
	bool ok = sreg == S_LDTR ? type == 2 : (type == 1 || type == 9);
	if ((attr & SEG_S) || !ok || ((cpu->s.efer & EFER_LMA) && type == 1))
		bt_raise(cpu, EXC_GP, sel & 0xfffc);
	if (!(attr & SEG_P))
		bt_raise(cpu, EXC_NP, sel & 0xfffc);
	uint64_t hi = 0;
	if (cpu->s.efer & EFER_LMA) {
		if ((sel & 0xfff8u) + 15u > cpu->s.gdt.limit)
			bt_raise(cpu, EXC_GP, sel & 0xfffc);
		hi = bt_read_desc_hi(cpu, *lin);
		if (!bt_canonical(((hi & 0xffffffff) << 32) | (*d >> 16 & 0xffffff) | (*d >> 32 & 0xff000000)))
			bt_raise(cpu, EXC_GP, sel & 0xfffc);
	}
	bt_desc_to_seg(s, sel, *d);
	s->base |= (hi & 0xffffffff) << 32;
}

void bt_op_lldt(struct bt_cpu *cpu, const struct bt_insn *i)
{
	require_prot(cpu);
	bt_require_cpl0(cpu);
	uint16_t sel = (uint16_t)bt_rm_get(cpu, i, 2);
	stat_add(&cpu->stats.trap_dt, 1);
	if (!(sel & 0xfffc)) {
		cpu->s.seg[S_LDTR].sel = sel;
		cpu->s.seg[S_LDTR].attr = SEG_UNUSABLE;
		return;
	}
	uint64_t d, lin;
	load_system_seg(cpu, S_LDTR, sel, &d, &lin);
}

void bt_op_ltr(struct bt_cpu *cpu, const struct bt_insn *i)
{
	require_prot(cpu);
	bt_require_cpl0(cpu);
	uint16_t sel = (uint16_t)bt_rm_get(cpu, i, 2);
	stat_add(&cpu->stats.trap_dt, 1);
	if (!(sel & 0xfffc))
		bt_raise(cpu, EXC_GP, 0);
	uint64_t d, lin;
	load_system_seg(cpu, S_TR, sel, &d, &lin);
	/* Mark the TSS busy, in memory and in TR. */
	bt_write_lin(cpu, lin + 5, 1, ((d >> 40) & 0xff) | 2, BT_TLB_SUP);
	cpu->s.seg[S_TR].attr |= 2;
}

static void store_sel(struct bt_cpu *cpu, const struct bt_insn *i, uint16_t sel)
{
	stat_add(&cpu->stats.trap_dt, 1);
	bt_rm_set(cpu, i, (i->flags & BI_MEM) ? 2 : i->opsize, sel);
}

void bt_op_sldt(struct bt_cpu *cpu, const struct bt_insn *i)
{
	require_prot(cpu);
	store_sel(cpu, i, cpu->s.seg[S_LDTR].sel);
}

void bt_op_str(struct bt_cpu *cpu, const struct bt_insn *i)
{
	require_prot(cpu);
	store_sel(cpu, i, cpu->s.seg[S_TR].sel);
}

/* ---- LAR / LSL / VERR / VERW / ARPL ------------------------------------------------------------ */

static void set_zf(struct bt_cpu *cpu, bool zf)
{
	uint64_t f = bt_get_rflags(cpu);
	bt_set_rflags(cpu, zf ? f | RFLAGS_ZF : f & ~RFLAGS_ZF);
}

/* The descriptor of sel if it is visible at the current CPL and RPL for LAR/LSL/VERR/VERW
 * (no fault for bad selectors: ZF = 0 instead). */
static bool visible_desc(struct bt_cpu *cpu, uint16_t sel, uint64_t *d)
{
	if (!(sel & 0xfffc))
		return false;
	const struct seg_reg *t = (sel & 4) ? &cpu->s.seg[S_LDTR] : NULL;
	uint32_t limit = t ? t->limit : cpu->s.gdt.limit;
	if ((t && (t->attr & SEG_UNUSABLE)) || (sel & 0xfff8u) + 7u > limit)
		return false;
	uint64_t lin;
	*d = bt_read_desc(cpu, sel, &lin);
	uint32_t attr = bt_desc_attr(*d);
	bool conforming = (attr & SEG_S) && (SEG_TYPE(attr) & 0xc) == 0xc;
	return conforming || (SEG_DPL(attr) >= cpu->cpl && SEG_DPL(attr) >= (sel & 3u));
}

/* System types LAR/LSL accept (TSS, LDT; call gates too for LAR outside IA-32e). */
static bool system_type_ok(struct bt_cpu *cpu, unsigned type, bool lar)
{
	if (cpu->s.efer & EFER_LMA)
		return type == 2 || type == 9 || type == 0xb || (lar && type == 0xc);
	switch (type) {
	case 1: case 2: case 3: case 9: case 0xb:
		return true;
	case 4: case 5: case 0xc:
		return lar;
	default:
		return false;
	}
}

static void lar_lsl(struct bt_cpu *cpu, const struct bt_insn *i, bool lar)
{
	require_prot(cpu);
	uint16_t sel = (uint16_t)bt_rm_get(cpu, i, 2);
	uint64_t d;
	bool ok = visible_desc(cpu, sel, &d);
	if (ok) {
		uint32_t attr = bt_desc_attr(d);
		if (!(attr & SEG_S))
			ok = system_type_ok(cpu, SEG_TYPE(attr), lar);
	}
	if (ok) {
		struct seg_reg s;
		bt_desc_to_seg(&s, sel, d);
		uint64_t v = lar ? (d >> 32) & 0x00f0ff00 : s.limit;
		bt_reg_set(cpu, i->reg, i->opsize, true, i->opsize == 2 ? v & 0xffff : v);
	}
	set_zf(cpu, ok);
}

void bt_op_lar(struct bt_cpu *cpu, const struct bt_insn *i) { lar_lsl(cpu, i, true); }
void bt_op_lsl(struct bt_cpu *cpu, const struct bt_insn *i) { lar_lsl(cpu, i, false); }

static void verify(struct bt_cpu *cpu, const struct bt_insn *i, bool write)
{
	require_prot(cpu);
	uint16_t sel = (uint16_t)bt_rm_get(cpu, i, 2);
	uint64_t d;
	bool ok = visible_desc(cpu, sel, &d);
	if (ok) {
		uint32_t attr = bt_desc_attr(d);
		unsigned type = SEG_TYPE(attr);
		if (!(attr & SEG_S))
			ok = false;
		else if (write)
			ok = !(type & 8) && (type & 2);
		else
			ok = !(type & 8) || (type & 2);
	}
	set_zf(cpu, ok);
}

void bt_op_verr(struct bt_cpu *cpu, const struct bt_insn *i) { verify(cpu, i, false); }
void bt_op_verw(struct bt_cpu *cpu, const struct bt_insn *i) { verify(cpu, i, true); }

void bt_op_arpl(struct bt_cpu *cpu, const struct bt_insn *i)
{
	require_prot(cpu);
	uint16_t dst = (uint16_t)bt_rm_get(cpu, i, 2);
	uint16_t src = (uint16_t)bt_reg_get(cpu, i->reg, 2, true);

	if ((dst & 3) < (src & 3)) {
		bt_rm_set(cpu, i, 2, (dst & ~3u) | (src & 3));
		set_zf(cpu, true);
	} else {
		set_zf(cpu, false);
	}
}

/* ---- Segment registers ------------------------------------------------------------------------ */

void bt_op_mov_to_sreg(struct bt_cpu *cpu, const struct bt_insn *i)
{
	int sreg = i->reg;	/* REX.R makes it > 7: #UD */

	if (sreg == S_CS || sreg > S_GS)
		bt_raise_noerr(cpu, EXC_UD);
	bt_load_seg(cpu, sreg, (uint16_t)bt_rm_get(cpu, i, 2));
	if (sreg == S_SS)
		cpu->inhibit_irq = cpu->inhibit_db = true;
}

void bt_op_mov_from_sreg(struct bt_cpu *cpu, const struct bt_insn *i)
{
	int sreg = i->reg;	/* REX.R makes it > 7: #UD */

	if (sreg > S_GS)
		bt_raise_noerr(cpu, EXC_UD);
	bt_rm_set(cpu, i, (i->flags & BI_MEM) ? 2 : i->opsize, cpu->s.seg[sreg].sel);
}

/* PUSH/POP Sreg opcodes: 06/07 ES, 0E CS, 16/17 SS, 1E/1F DS, 0F A0/A1 FS, 0F A8/A9 GS. */
static int sreg_of_op(uint16_t op)
{
	switch (op) {
	case 0x06: case 0x07: return S_ES;
	case 0x0e: return S_CS;
	case 0x16: case 0x17: return S_SS;
	case 0x1e: case 0x1f: return S_DS;
	case 0x1a0: case 0x1a1: return S_FS;
	default: return S_GS;
	}
}

void bt_op_push_sreg(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_push(cpu, i->opsize, cpu->s.seg[sreg_of_op(i->op)].sel);
}

void bt_op_pop_sreg(struct bt_cpu *cpu, const struct bt_insn *i)
{
	int sreg = sreg_of_op(i->op);
	uint64_t rsp = cpu->s.gpr[R_RSP];
	uint64_t m = bt_stack_mask(cpu->stack_size);	/* POP SS: the old SS.B applies */
	uint16_t sel = (uint16_t)bt_stack_peek(cpu, rsp, 0, i->opsize);

	bt_load_seg(cpu, sreg, sel);
	cpu->s.gpr[R_RSP] = (rsp & ~m) | ((rsp + i->opsize) & m);
	if (sreg == S_SS)
		cpu->inhibit_irq = cpu->inhibit_db = true;
}

void bt_op_load_far_ptr(struct bt_cpu *cpu, const struct bt_insn *i)
{
	int sreg;

	switch (i->op) {
	case 0xc4: sreg = S_ES; break;
	case 0xc5: sreg = S_DS; break;
	case 0x1b2: sreg = S_SS; break;
	case 0x1b4: sreg = S_FS; break;
	default: sreg = S_GS; break;
	}
	require_mem(cpu, i);
	uint64_t off = bt_ea(cpu, i);
	uint64_t val = bt_read(cpu, i->seg, off, i->opsize);
	uint64_t off2 = (off + i->opsize) & (i->addrsize == 2 ? 0xffff :
					     i->addrsize == 4 ? 0xffffffff : ~0ull);
	uint16_t sel = (uint16_t)bt_read(cpu, i->seg, off2, 2);

	bt_load_seg(cpu, sreg, sel);
	bt_reg_set(cpu, i->reg, i->opsize, true, val);
	if (sreg == S_SS)
		cpu->inhibit_irq = true;
}
