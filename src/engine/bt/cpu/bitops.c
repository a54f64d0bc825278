/* BT/BTS/BTR/BTC and BSF/BSR. With a register bit offset and a memory operand, the offset is
 * signed and selects the operand-sized word anywhere relative to the effective address. */
#include "engine/bt/cpu/ops.h"

enum { BIT_TEST, BIT_SET, BIT_RESET, BIT_COMPLEMENT };

static uint64_t bit_rmw(struct bt_cpu *cpu, uint64_t old, const struct bt_rmw_arg *arg,
			struct bt_cc *cc)
{
	uint64_t mask = 1ull << arg->src;
	uint64_t f = cpu->s.rflags;

	/* CF = the bit, ZF unchanged; OF, SF, AF and PF are undefined (SDM): from lazy flags
	 * only ZF is worked out and the four are left clear, which spares evaluating all six. */
	if (cc_kind(cpu) != CC_EFLAGS)
		f = (f & ~RFLAGS_ARITH) | (bt_zf(cpu) ? RFLAGS_ZF : 0);
	*cc = (struct bt_cc){ CC_EFLAGS << 2, (f & ~RFLAGS_CF) | ((old & mask) ? RFLAGS_CF : 0), 0, 0 };
	switch (arg->op) {
	case BIT_SET: return old | mask;
	case BIT_RESET: return old & ~mask;
	case BIT_COMPLEMENT: return old ^ mask;
	default: return old;
	}
}

static void bitop(struct bt_cpu *cpu, const struct bt_insn *i, unsigned op, uint64_t off,
		  bool reg_offset)
{
	unsigned size = i->opsize, bits = sz_bits(size);
	struct bt_rmw_arg arg = { off & (bits - 1), size, op, 0 };
	struct bt_cc cc;
	uint64_t addr;

	if (!(i->flags & BI_MEM)) {
		uint64_t old = reg_get(cpu, i->rm, size, true);
		uint64_t v = bit_rmw(cpu, old, &arg, &cc);
		if (op != BIT_TEST)	/* BT must not zero-extend a 32-bit register */
			reg_set(cpu, i->rm, size, true, v);
		cc_commit(cpu, &cc);
		return;
	}
	addr = bt_ea(cpu, i);
	if (reg_offset) {
		int64_t words = sext(off, size) >> __builtin_ctz(bits);
		addr = (addr + (uint64_t)words * size) & sz_mask(i->addrsize);
	}
	if (op == BIT_TEST) {
		bit_rmw(cpu, bt_read(cpu, i->seg, addr, size), &arg, &cc);
	} else if (i->flags & BI_LOCK) {
		bt_locked_rmw(cpu, i->seg, addr, size, bit_rmw, &arg, &cc);
	} else {
		uint64_t old = bt_read(cpu, i->seg, addr, size);
		bt_write(cpu, i->seg, addr, size, bit_rmw(cpu, old, &arg, &cc));
	}
	cc_commit(cpu, &cc);
}

#define BIT_HANDLERS(name, OP) \
	void bt_h_##name##_G(struct bt_cpu *cpu, const struct bt_insn *i) \
	{ bitop(cpu, i, OP, reg_get(cpu, i->reg, i->opsize, true), true); } \
	void bt_h_##name##_I(struct bt_cpu *cpu, const struct bt_insn *i) \
	{ bitop(cpu, i, OP, i->imm, false); }

BIT_HANDLERS(bt, BIT_TEST)
BIT_HANDLERS(bts, BIT_SET)
BIT_HANDLERS(btr, BIT_RESET)
BIT_HANDLERS(btc, BIT_COMPLEMENT)

/* A zero source sets ZF and leaves the destination alone (what Intel and AMD CPUs do). */
static void bit_scan(struct bt_cpu *cpu, const struct bt_insn *i, bool reverse)
{
	uint64_t src = rm_get(cpu, i, i->opsize) & sz_mask(i->opsize);

	if (!src) {
		bt_flags_update(cpu, RFLAGS_ZF, RFLAGS_ZF);
		return;
	}
	reg_set(cpu, i->reg, i->opsize, true,
		   reverse ? 63 - (unsigned)__builtin_clzll(src) : (unsigned)__builtin_ctzll(src));
	bt_flags_update(cpu, RFLAGS_ZF, 0);
}

void bt_h_bsf(struct bt_cpu *cpu, const struct bt_insn *i) { bit_scan(cpu, i, false); }
void bt_h_bsr(struct bt_cpu *cpu, const struct bt_insn *i) { bit_scan(cpu, i, true); }
