/* Shifts and rotates (group 2) and the double shifts SHLD/SHRD. Counts are masked to 5 bits
 * (6 for 64-bit operands); a masked count of 0 changes neither the operand's value nor flags. */
#include "engine/bt/cpu/ops.h"

enum { SH_ROL, SH_ROR, SH_RCL, SH_RCR, SH_SHL, SH_SHR, SH_SAL, SH_SAR };

static unsigned count_mask(unsigned size) { return size == 8 ? 0x3f : 0x1f; }

static uint64_t rotate(struct bt_cpu *cpu, unsigned op, unsigned size, uint64_t v, unsigned c,
		       struct bt_cc *cc)
{
	unsigned bits = sz_bits(size);
	uint64_t m = sz_mask(size), sign = sz_sign(size);
	bool cf, of;

	v &= m;
	switch (op) {
	case SH_ROL:
		c %= bits;
		if (c)
			v = ((v << c) | (v >> (bits - c))) & m;
		cf = v & 1;
		of = !!(v & sign) ^ cf;
		break;
	case SH_ROR:
		c %= bits;
		if (c)
			v = ((v >> c) | (v << (bits - c))) & m;
		cf = v & sign;
		of = !!(v & sign) ^ !!(v & (sign >> 1));
		break;
	case SH_RCL:
		cf = bt_cf(cpu);
		for (c %= bits + 1; c; c--) {
			bool out = v & sign;
			v = ((v << 1) | cf) & m;
			cf = out;
		}
		of = !!(v & sign) ^ cf;
		break;
	default:	/* SH_RCR */
		cf = bt_cf(cpu);
		for (c %= bits + 1; c; c--) {
			bool out = v & 1;
			v = (v >> 1) | (cf ? sign : 0);
			cf = out;
		}
		of = !!(v & sign) ^ !!(v & (sign >> 1));
		break;
	}
	*cc = cc_eflags(cpu, RFLAGS_CF | RFLAGS_OF, (cf ? RFLAGS_CF : 0) | (of ? RFLAGS_OF : 0));
	return v;
}

static uint64_t shift_rmw(struct bt_cpu *cpu, uint64_t v, const struct bt_rmw_arg *arg,
			  struct bt_cc *cc)
{
	unsigned size = arg->size, bits = sz_bits(size), c = (unsigned)arg->src;
	uint64_t m = sz_mask(size), r;
	bool cf, of;

	if (!c)
		return v;	/* flags untouched (cc->op stays "none") */
	v &= m;
	switch (arg->op) {
	case SH_SHL:
	case SH_SAL:
		r = c < 64 ? (v << c) & m : 0;
		cf = c <= bits ? (v >> (bits - c)) & 1 : 0;
		of = !!(r & sz_sign(size)) ^ cf;
		break;
	case SH_SHR:
		r = v >> c;
		cf = (v >> (c - 1)) & 1;
		of = v & sz_sign(size);
		break;
	case SH_SAR: {
		int64_t s = sext(v, size);
		r = (uint64_t)(s >> c) & m;
		cf = (uint64_t)(s >> (c - 1)) & 1;
		of = false;
		break;
	}
	default:
		return rotate(cpu, arg->op, size, v, c, cc);
	}
	*cc = cc_make(CC_SHIFT, size, r, cf, of);
	return r;
}

static void shift(struct bt_cpu *cpu, const struct bt_insn *i, unsigned op, uint64_t count)
{
	struct bt_rmw_arg arg = { count & count_mask(i->opsize), i->opsize, op, 0 };
	bt_rm_rmw(cpu, i, shift_rmw, &arg, false);
}

#define SHIFT_HANDLERS(name, OP) \
	void bt_h_##name##_I(struct bt_cpu *cpu, const struct bt_insn *i) \
	{ shift(cpu, i, OP, i->imm); } \
	void bt_h_##name##_CL(struct bt_cpu *cpu, const struct bt_insn *i) \
	{ shift(cpu, i, OP, cpu->s.gpr[R_RCX]); }

SHIFT_HANDLERS(rol, SH_ROL)
SHIFT_HANDLERS(ror, SH_ROR)
SHIFT_HANDLERS(rcl, SH_RCL)
SHIFT_HANDLERS(rcr, SH_RCR)
SHIFT_HANDLERS(shl, SH_SHL)
SHIFT_HANDLERS(shr, SH_SHR)
SHIFT_HANDLERS(sar, SH_SAR)

/* SHLD / SHRD: the destination shifted with bits from the source register filling in. For
 * 16-bit operands with counts above 16 the result is undefined; this takes bits of the source
 * and then zeros, without faulting. */
enum { DS_LEFT, DS_RIGHT };

static uint64_t dshift_rmw(struct bt_cpu *cpu, uint64_t dst, const struct bt_rmw_arg *arg,
			   struct bt_cc *cc)
{
	unsigned size = arg->size, bits = sz_bits(size), c = (unsigned)arg->src2;
	uint64_t m = sz_mask(size), src = arg->src & m, r;
	unsigned __int128 t;
	bool cf;

	if (!c)
		return dst;
	dst &= m;
	if (arg->op == DS_LEFT) {
		/* dst:src shifted left by c, the result read from the top half; c < 2 * bits keeps
		 * every shift below 128 even for 64-bit operands. */
		t = (unsigned __int128)dst << bits | src;
		r = (uint64_t)(c <= bits ? t >> (bits - c) : t << (c - bits)) & m;
		cf = (t >> (2 * bits - c)) & 1;
	} else {
		t = (unsigned __int128)src << bits | dst;
		r = (uint64_t)(t >> c) & m;
		cf = (t >> (c - 1)) & 1;
	}
	*cc = cc_make(CC_SHIFT, size, r, cf, !!((r ^ dst) & sz_sign(size)));
	return r;
}

static void dshift(struct bt_cpu *cpu, const struct bt_insn *i, unsigned dir, uint64_t count)
{
	struct bt_rmw_arg arg = { reg_get(cpu, i->reg, i->opsize, true), i->opsize, dir,
				  count & count_mask(i->opsize) };
	bt_rm_rmw(cpu, i, dshift_rmw, &arg, false);
}

void bt_h_shld_I(struct bt_cpu *cpu, const struct bt_insn *i) { dshift(cpu, i, DS_LEFT, i->imm); }
void bt_h_shld_CL(struct bt_cpu *cpu, const struct bt_insn *i)
{
	dshift(cpu, i, DS_LEFT, cpu->s.gpr[R_RCX]);
}
void bt_h_shrd_I(struct bt_cpu *cpu, const struct bt_insn *i) { dshift(cpu, i, DS_RIGHT, i->imm); }
void bt_h_shrd_CL(struct bt_cpu *cpu, const struct bt_insn *i)
{
	dshift(cpu, i, DS_RIGHT, cpu->s.gpr[R_RCX]);
}
