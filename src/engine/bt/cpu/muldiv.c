/* MUL, IMUL (one-, two- and three-operand forms), DIV, IDIV. Division raises #DE for a zero
 * divisor and for a quotient that does not fit, before any register changes. */
#include "engine/bt/cpu/ops.h"

typedef unsigned __int128 u128;
typedef __int128 s128;

static void set_mul_flags(struct bt_cpu *cpu, unsigned size, uint64_t low, bool overflow)
{
	struct bt_cc cc = cc_make(CC_MUL, size, low & sz_mask(size), overflow, 0);
	cc_commit(cpu, &cc);
}

/* Store a double-width result: AX for bytes, else rDX:rAX. */
static void store_wide(struct bt_cpu *cpu, unsigned size, uint64_t lo, uint64_t hi)
{
	if (size == 1) {
		reg_set(cpu, R_RAX, 2, true, (lo & 0xff) | (hi & 0xff) << 8);
		return;
	}
	reg_set(cpu, R_RAX, size, true, lo);
	reg_set(cpu, R_RDX, size, true, hi);
}

void bt_h_mul(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = i->opsize, bits = sz_bits(size);
	uint64_t m = sz_mask(size);
	u128 p = (u128)rm_get(cpu, i, size) * (cpu->s.gpr[R_RAX] & m);
	uint64_t lo = (uint64_t)p & m, hi = (uint64_t)(p >> bits) & m;

	store_wide(cpu, size, lo, hi);
	set_mul_flags(cpu, size, lo, hi != 0);
}

void bt_h_imul1(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = i->opsize, bits = sz_bits(size);
	s128 p = (s128)sext(rm_get(cpu, i, size), size) * sext(cpu->s.gpr[R_RAX], size);
	uint64_t lo = (uint64_t)p & sz_mask(size), hi = (uint64_t)((u128)p >> bits) & sz_mask(size);

	store_wide(cpu, size, lo, hi);
	set_mul_flags(cpu, size, lo, p != (s128)sext(lo, size));
}

static void imul2(struct bt_cpu *cpu, const struct bt_insn *i, uint64_t a, uint64_t b)
{
	unsigned size = i->opsize;
	s128 p = (s128)sext(a, size) * sext(b, size);
	uint64_t lo = (uint64_t)p & sz_mask(size);

	reg_set(cpu, i->reg, size, true, lo);
	set_mul_flags(cpu, size, lo, p != (s128)sext(lo, size));
}

void bt_h_imul_GE(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t b = rm_get(cpu, i, i->opsize);
	imul2(cpu, i, reg_get(cpu, i->reg, i->opsize, true), b);
}

void bt_h_imul_GEI(struct bt_cpu *cpu, const struct bt_insn *i)
{
	imul2(cpu, i, rm_get(cpu, i, i->opsize), i->imm);
}

/* The dividend: AX for bytes, else rDX:rAX. */
static u128 dividend(const struct bt_cpu *cpu, unsigned size)
{
	if (size == 1)
		return cpu->s.gpr[R_RAX] & 0xffff;
	return (u128)(cpu->s.gpr[R_RDX] & sz_mask(size)) << sz_bits(size) |
	       (cpu->s.gpr[R_RAX] & sz_mask(size));
}

void bt_h_div(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = i->opsize;
	uint64_t d = rm_get(cpu, i, size) & sz_mask(size);
	u128 n = dividend(cpu, size), q;

	if (!d)
		bt_raise_noerr(cpu, EXC_DE);
	q = n / d;
	if (q > sz_mask(size))
		bt_raise_noerr(cpu, EXC_DE);
	store_wide(cpu, size, (uint64_t)q, (uint64_t)(n % d));
}

void bt_h_idiv(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = i->opsize, bits = sz_bits(size);
	int64_t d = sext(rm_get(cpu, i, size), size);
	u128 raw = dividend(cpu, size);
	/* sign-extend the 2*bits-wide dividend */
	s128 n = (s128)(raw << (128 - 2 * bits)) >> (128 - 2 * bits), q;
	s128 lim = (s128)1 << (bits - 1);

	if (!d)
		bt_raise_noerr(cpu, EXC_DE);
	if (d == -1 && bits == 64 && raw == (u128)1 << 127)
		bt_raise_noerr(cpu, EXC_DE);	/* the one quotient s128 cannot hold */
	q = n / d;
	if (q >= lim || q < -lim)
		bt_raise_noerr(cpu, EXC_DE);
	store_wide(cpu, size, (uint64_t)q, (uint64_t)(n % d));
}
