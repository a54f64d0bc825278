/* Two-operand arithmetic and logic: ADD OR ADC SBB AND SUB XOR CMP TEST, INC DEC NOT NEG. */
#include "engine/bt/cpu/ops.h"

enum alu_op { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

static inline uint64_t alu(struct bt_cpu *cpu, unsigned op, unsigned size, uint64_t a, uint64_t b,
			   struct bt_cc *cc)
{
	uint64_t m = sz_mask(size), r;

	a &= m;
	b &= m;
	switch (op) {
	case ALU_ADD:
		r = (a + b) & m;
		*cc = cc_make(CC_ADD, size, r, b, a);
		return r;
	case ALU_ADC:
		r = (a + b + bt_cf(cpu)) & m;
		*cc = cc_make(CC_ADC, size, r, b, a);
		return r;
	case ALU_SUB:
	case ALU_CMP:
		r = (a - b) & m;
		*cc = cc_make(CC_SUB, size, r, b, a);
		return r;
	case ALU_SBB:
		r = (a - b - bt_cf(cpu)) & m;
		*cc = cc_make(CC_SBB, size, r, b, a);
		return r;
	case ALU_OR:
		r = a | b;
		break;
	case ALU_AND:
		r = a & b;
		break;
	default:
		r = a ^ b;
		break;
	}
	*cc = cc_make(CC_LOGIC, size, r, 0, 0);
	return r;
}

static uint64_t alu_rmw(struct bt_cpu *cpu, uint64_t old, const struct bt_rmw_arg *arg,
			struct bt_cc *cc)
{
	return alu(cpu, arg->op, arg->size, old, arg->src, cc);
}

/* r/m = r/m op src (CMP only compares). */
static inline void alu_rm(struct bt_cpu *cpu, const struct bt_insn *i, unsigned op, uint64_t src)
{
	struct bt_rmw_arg arg = { src, i->opsize, op, 0 };
	struct bt_cc cc;

	if (!(i->flags & BI_MEM)) {	/* the common case, without the rmw callback */
		bool rex = i->flags & BI_REX;
		uint64_t r = alu(cpu, op, i->opsize, reg_get(cpu, i->rm, i->opsize, rex), src, &cc);
		if (op != ALU_CMP)
			reg_set(cpu, i->rm, i->opsize, rex, r);
		cc_commit(cpu, &cc);
		return;
	}
	if (op == ALU_CMP) {
		alu(cpu, op, i->opsize, rm_get(cpu, i, i->opsize), src, &cc);
		cc_commit(cpu, &cc);
		return;
	}
	bt_rm_rmw(cpu, i, alu_rmw, &arg, false);
}

/* reg = reg op r/m */
static inline void alu_reg(struct bt_cpu *cpu, const struct bt_insn *i, unsigned op)
{
	bool rex = i->flags & BI_REX;
	uint64_t src = rm_get(cpu, i, i->opsize);
	struct bt_cc cc;
	uint64_t r = alu(cpu, op, i->opsize, reg_get(cpu, i->reg, i->opsize, rex), src, &cc);

	if (op != ALU_CMP)
		reg_set(cpu, i->reg, i->opsize, rex, r);
	cc_commit(cpu, &cc);
}

#define ALU_HANDLERS(name, OP) \
	void bt_h_##name##_EG(struct bt_cpu *cpu, const struct bt_insn *i) \
	{ alu_rm(cpu, i, OP, reg_get(cpu, i->reg, i->opsize, i->flags & BI_REX)); } \
	void bt_h_##name##_GE(struct bt_cpu *cpu, const struct bt_insn *i) { alu_reg(cpu, i, OP); } \
	void bt_h_##name##_EI(struct bt_cpu *cpu, const struct bt_insn *i) { alu_rm(cpu, i, OP, i->imm); }

ALU_HANDLERS(add, ALU_ADD)
ALU_HANDLERS(or, ALU_OR)
ALU_HANDLERS(adc, ALU_ADC)
ALU_HANDLERS(sbb, ALU_SBB)
ALU_HANDLERS(and, ALU_AND)
ALU_HANDLERS(sub, ALU_SUB)
ALU_HANDLERS(xor, ALU_XOR)
ALU_HANDLERS(cmp, ALU_CMP)

static void test(struct bt_cpu *cpu, const struct bt_insn *i, uint64_t src)
{
	uint64_t r = rm_get(cpu, i, i->opsize) & src & sz_mask(i->opsize);
	struct bt_cc cc = cc_make(CC_LOGIC, i->opsize, r, 0, 0);

	cc_commit(cpu, &cc);
}

void bt_h_test_EG(struct bt_cpu *cpu, const struct bt_insn *i)
{
	test(cpu, i, reg_get(cpu, i->reg, i->opsize, i->flags & BI_REX));
}

void bt_h_test_EI(struct bt_cpu *cpu, const struct bt_insn *i) { test(cpu, i, i->imm); }

enum { UN_INC, UN_DEC, UN_NOT, UN_NEG };

static uint64_t unary_rmw(struct bt_cpu *cpu, uint64_t old, const struct bt_rmw_arg *arg,
			  struct bt_cc *cc)
{
	unsigned size = arg->size;
	uint64_t m = sz_mask(size), r;

	switch (arg->op) {
	case UN_INC:
		r = (old + 1) & m;
		*cc = cc_make(CC_INC, size, r, bt_cf(cpu), 0);
		return r;
	case UN_DEC:
		r = (old - 1) & m;
		*cc = cc_make(CC_DEC, size, r, bt_cf(cpu), 0);
		return r;
	case UN_NOT:
		return ~old & m;
	default:
		r = (0 - old) & m;
		*cc = cc_make(CC_SUB, size, r, old & m, 0);
		return r;
	}
}

static inline void unary(struct bt_cpu *cpu, const struct bt_insn *i, unsigned op)
{
	struct bt_rmw_arg arg = { 0, i->opsize, op, 0 };

	if (!(i->flags & BI_MEM)) {
		struct bt_cc cc = { UINT32_MAX, 0, 0, 0 };
		bool rex = i->flags & BI_REX;
		uint64_t r = unary_rmw(cpu, reg_get(cpu, i->rm, i->opsize, rex), &arg, &cc);
		reg_set(cpu, i->rm, i->opsize, rex, r);
		if (cc.op != UINT32_MAX)
			cc_commit(cpu, &cc);
		return;
	}
	bt_rm_rmw(cpu, i, unary_rmw, &arg, false);
}

void bt_h_inc(struct bt_cpu *cpu, const struct bt_insn *i) { unary(cpu, i, UN_INC); }
void bt_h_dec(struct bt_cpu *cpu, const struct bt_insn *i) { unary(cpu, i, UN_DEC); }
void bt_h_not(struct bt_cpu *cpu, const struct bt_insn *i) { unary(cpu, i, UN_NOT); }
void bt_h_neg(struct bt_cpu *cpu, const struct bt_insn *i) { unary(cpu, i, UN_NEG); }
