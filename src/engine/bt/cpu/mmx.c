/* MMX: the 0F-map packed-integer instructions without a 66/F2/F3 prefix, on the eight 64-bit
 * MMn registers that alias the x87 registers (x87.c keeps the register file; every MMX
 * instruction but EMMS sets TOP to 0 and tags all registers valid, EMMS empties them), plus the
 * MMX forms SSE added (PSHUFW, PINSRW, PEXTRW, PMOVMSKB, PMINUB/PMAXUB, PAVG*, PMULHUW, PSADBW,
 * MOVNTQ, MASKMOVQ) and SSE2's PADDQ, PSUBQ and PMULUDQ.
 *
 * The arithmetic is sse.c's on the low 8 bytes of a 16-byte value: lane-wise operations give
 * the same low half; unpack-high and the packs, whose halves mix, are mapped onto it below.
 * The decoder routes an opcode here only when no mandatory prefix selected its SSE form.
 * Not done: the SSE conversions with an MMX operand (CVTPI2PS, CVTPS2PI, CVTTPS2PI and their
 * PD forms), which stay #UD.
 */
#include <string.h>

#include "engine/bt/cpu/ops.h"

static unsigned op8(const struct bt_insn *i) { return i->op & 0xff; }

/* The 64-bit r/m source: MMn (REX.B does not extend MMX register numbers) or memory. */
static uint64_t mm_src(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (i->flags & BI_MEM)
		return bt_read(cpu, i->seg, bt_ea(cpu, i), 8);
	return bt_mm(cpu, i->rm);
}

static void require_reg(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (i->flags & BI_MEM)
		bt_raise_noerr(cpu, EXC_UD);
}

/* d op s for the two-operand arithmetic opcodes. */
static uint64_t arith(struct bt_cpu *cpu, unsigned op, uint64_t d, uint64_t s)
{
	xmm_t xd = { .q = { d } }, xs = { .q = { s } }, r;

	switch (op) {
	case 0x68: case 0x69: case 0x6a:
		/* PUNPCKH*: the high half of the low-half unpack of 16 bytes. */
		if (!bt_packed_int(op - 8, &r, &xd, &xs))
			bt_raise_noerr(cpu, EXC_UD);
		return r.q[1];
	case 0x63: case 0x67: case 0x6b:
		/* The packs put d's lanes in bytes 0-3 and s's in bytes 8-11. */
		if (!bt_packed_int(op, &r, &xd, &xs))
			bt_raise_noerr(cpu, EXC_UD);
		return r.d[0] | (uint64_t)r.d[2] << 32;
	case 0x6c: case 0x6d:		/* PUNPCK*QDQ: 66 only */
		bt_raise_noerr(cpu, EXC_UD);
	}
	if (!bt_packed_int(op, &r, &xd, &xs))
		bt_raise_noerr(cpu, EXC_UD);
	return r.q[0];
}

/* 0F 71/72/73 /n ib on an MMX register. */
static uint64_t shift_imm(struct bt_cpu *cpu, const struct bt_insn *i, uint64_t v)
{
	unsigned op = op8(i), n = i->reg & 7, lane = op == 0x71 ? 2 : op == 0x72 ? 4 : 8;
	xmm_t x = { .q = { v } };

	if (n == 2)
		bt_shift_lanes(&x, lane, i->imm & 0xff, 1);
	else if (n == 4 && lane != 8)
		bt_shift_lanes(&x, lane, i->imm & 0xff, 0);
	else if (n == 6)
		bt_shift_lanes(&x, lane, i->imm & 0xff, -1);
	else
		bt_raise_noerr(cpu, EXC_UD);
	return x.q[0];
}

void bt_h_mmx(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned op = op8(i), dst = i->reg & 7;
	uint64_t v;

	bt_mmx_check(cpu);
	switch (op) {
	case 0x6e:		/* MOVD/MOVQ mm, r/m32/64 */
		v = rm_get(cpu, i, i->opsize);
		break;
	case 0x7e:		/* MOVD/MOVQ r/m32/64, mm */
		rm_set(cpu, i, i->opsize, bt_mm(cpu, i->reg));
		bt_mmx_enter(cpu);
		return;
	case 0x6f:		/* MOVQ mm, mm/m64 */
		v = mm_src(cpu, i);
		break;
	case 0x7f:		/* MOVQ mm/m64, mm */
	case 0xe7:		/* MOVNTQ m64, mm */
		if (op == 0xe7 && !(i->flags & BI_MEM))
			bt_raise_noerr(cpu, EXC_UD);
		v = bt_mm(cpu, i->reg);
		if (i->flags & BI_MEM) {
			bt_write(cpu, i->seg, bt_ea(cpu, i), 8, v);
			bt_mmx_enter(cpu);
			return;
		}
		dst = i->rm & 7;
		break;
	case 0x70: {		/* PSHUFW mm, mm/m64, imm8 */
		uint64_t s = mm_src(cpu, i);
		v = 0;
		for (unsigned k = 0; k < 4; k++)
			v |= ((s >> (16 * ((i->imm >> (2 * k)) & 3))) & 0xffff) << (16 * k);
		break;
	}
	case 0x71: case 0x72: case 0x73:
		require_reg(cpu, i);
		dst = i->rm & 7;
		v = shift_imm(cpu, i, bt_mm(cpu, i->rm));
		break;
	case 0xc4: {		/* PINSRW mm, r32/m16, imm8 */
		uint64_t w = (i->flags & BI_MEM) ? bt_read(cpu, i->seg, bt_ea(cpu, i), 2)
						 : reg_get(cpu, i->rm, 2, true);
		unsigned sh = 16 * (i->imm & 3);
		v = (bt_mm(cpu, i->reg) & ~(0xffffull << sh)) | (w & 0xffff) << sh;
		break;
	}
	case 0xc5:		/* PEXTRW r32, mm, imm8 */
		require_reg(cpu, i);
		reg_set(cpu, i->reg, i->opsize, true, (bt_mm(cpu, i->rm) >> (16 * (i->imm & 3))) & 0xffff);
		bt_mmx_enter(cpu);
		return;
	case 0xd7: {		/* PMOVMSKB r32, mm */
		require_reg(cpu, i);
		uint64_t s = bt_mm(cpu, i->rm), mask = 0;
		for (unsigned k = 0; k < 8; k++)
			mask |= ((s >> (8 * k + 7)) & 1) << k;
		reg_set(cpu, i->reg, i->opsize, true, mask);
		bt_mmx_enter(cpu);
		return;
	}
	case 0xf7: {		/* MASKMOVQ mm, mm: bytes to DS:rDI (segment overridable) */
		require_reg(cpu, i);
		uint64_t s = bt_mm(cpu, i->reg), m = bt_mm(cpu, i->rm);
		uint64_t base = cpu->s.gpr[R_RDI];
		for (unsigned k = 0; k < 8; k++)
			if ((m >> (8 * k + 7)) & 1)
				bt_write(cpu, i->seg, (base + k) & sz_mask(i->addrsize), 1,
					 (s >> (8 * k)) & 0xff);
		bt_mmx_enter(cpu);
		return;
	}
	default:
		v = arith(cpu, op, bt_mm(cpu, i->reg), mm_src(cpu, i));
		break;
	}
	bt_mmx_enter(cpu);
	bt_set_mm(cpu, dst, v);
}

void bt_h_emms(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_mmx_check(cpu);
	bt_emms(cpu);
}
