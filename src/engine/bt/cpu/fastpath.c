/* Specialised handlers for the commonest instruction forms, chosen at decode time so the hot
 * path has no operand-size or operand-kind switches: ALU ops, TEST, INC/DEC, MOV and shifts by
 * an immediate on 32/64-bit registers, 32/64-bit MOV to and from memory, LEA of base +
 * displacement, and in 64-bit code PUSH/POP of a register and Jcc with the usual conditions
 * evaluated inline.
 * Each computes exactly what its generic handler does (same result, same lazy-flag state).
 */
#include "engine/bt/cpu/ops.h"

#define KIND(cpu)	((cpu)->cc_op >> 2)

/* CF as bt_cf computes it, or -1 after ADC/SBB: the caller then hands the instruction to its
 * generic handler, so the fast path makes no call. */
static inline int cf_fast(const struct bt_cpu *cpu)
{
	switch (KIND(cpu)) {
	case CC_EFLAGS:
		return !!(cpu->s.rflags & RFLAGS_CF);
	case CC_ADD:
		return cpu->cc_dst < cpu->cc_src2;
	case CC_SUB:
		return cpu->cc_src2 < cpu->cc_src;
	case CC_LOGIC:
		return 0;
	case CC_INC:
	case CC_DEC:
	case CC_SHIFT:
	case CC_MUL:
		return cpu->cc_src & 1;
	default:
		return -1;
	}
}

static inline void set_cc(struct bt_cpu *cpu, unsigned kind, unsigned size, uint64_t dst,
			  uint64_t src, uint64_t src2)
{
	cpu->cc_op = kind << 2 | cc_size_log(size);
	cpu->cc_dst = dst;
	cpu->cc_src = src;
	cpu->cc_src2 = src2;
}

enum { F_ADD, F_OR, F_ADC, F_AND, F_SUB, F_XOR, F_CMP };

/* gpr[d] = gpr[d] op b for a 32- or 64-bit register operand. */
static inline __attribute__((always_inline)) void alu_reg(struct bt_cpu *cpu,
							  const struct bt_insn *i, unsigned op,
							  unsigned size, unsigned d, uint64_t b,
							  bt_handler generic)
{
	uint64_t m = sz_mask(size), a = cpu->s.gpr[d] & m, r;
	int cf;

	b &= m;
	switch (op) {
	case F_ADD:
		r = (a + b) & m;
		set_cc(cpu, CC_ADD, size, r, b, a);
		break;
	case F_ADC:
		cf = cf_fast(cpu);
		if (cf < 0) {
			generic(cpu, i);
			return;
		}
		r = (a + b + (unsigned)cf) & m;
		set_cc(cpu, CC_ADC, size, r, b, a);
		break;
	case F_SUB:
	case F_CMP:
		r = (a - b) & m;
		set_cc(cpu, CC_SUB, size, r, b, a);
		break;
	case F_OR:
		r = a | b;
		set_cc(cpu, CC_LOGIC, size, r, 0, 0);
		break;
	case F_AND:
		r = a & b;
		set_cc(cpu, CC_LOGIC, size, r, 0, 0);
		break;
	default:
		r = a ^ b;
		set_cc(cpu, CC_LOGIC, size, r, 0, 0);
		break;
	}
	if (op != F_CMP)
		cpu->s.gpr[d] = r;
}

#define FAST_ALU(name, OP, SIZE) \
	static void fast_##name##_EG##SIZE(struct bt_cpu *cpu, const struct bt_insn *i) \
	{ alu_reg(cpu, i, OP, SIZE, i->rm, cpu->s.gpr[i->reg], bt_h_##name##_EG); } \
	static void fast_##name##_GE##SIZE(struct bt_cpu *cpu, const struct bt_insn *i) \
	{ alu_reg(cpu, i, OP, SIZE, i->reg, cpu->s.gpr[i->rm], bt_h_##name##_GE); } \
	static void fast_##name##_EI##SIZE(struct bt_cpu *cpu, const struct bt_insn *i) \
	{ alu_reg(cpu, i, OP, SIZE, i->rm, i->imm, bt_h_##name##_EI); }

#define FAST_ALU_SIZES(name, OP) FAST_ALU(name, OP, 4) FAST_ALU(name, OP, 8)
FAST_ALU_SIZES(add, F_ADD)
FAST_ALU_SIZES(or, F_OR)
FAST_ALU_SIZES(adc, F_ADC)
FAST_ALU_SIZES(and, F_AND)
FAST_ALU_SIZES(sub, F_SUB)
FAST_ALU_SIZES(xor, F_XOR)
FAST_ALU_SIZES(cmp, F_CMP)

static inline __attribute__((always_inline)) void incdec_reg(struct bt_cpu *cpu,
							     const struct bt_insn *i,
							     unsigned size, bool dec)
{
	uint64_t m = sz_mask(size);
	uint64_t r = (cpu->s.gpr[i->rm] + (dec ? m : 1)) & m;
	int cf = cf_fast(cpu);

	if (cf < 0) {
		(dec ? bt_h_dec : bt_h_inc)(cpu, i);
		return;
	}
	set_cc(cpu, dec ? CC_DEC : CC_INC, size, r, (unsigned)cf, 0);
	cpu->s.gpr[i->rm] = r;
}

static void fast_inc4(struct bt_cpu *cpu, const struct bt_insn *i) { incdec_reg(cpu, i, 4, false); }
static void fast_inc8(struct bt_cpu *cpu, const struct bt_insn *i) { incdec_reg(cpu, i, 8, false); }
static void fast_dec4(struct bt_cpu *cpu, const struct bt_insn *i) { incdec_reg(cpu, i, 4, true); }
static void fast_dec8(struct bt_cpu *cpu, const struct bt_insn *i) { incdec_reg(cpu, i, 8, true); }

static void fast_mov_EG4(struct bt_cpu *cpu, const struct bt_insn *i)
{
	cpu->s.gpr[i->rm] = cpu->s.gpr[i->reg] & 0xffffffff;
}

static void fast_mov_EG8(struct bt_cpu *cpu, const struct bt_insn *i)
{
	cpu->s.gpr[i->rm] = cpu->s.gpr[i->reg];
}

static void fast_mov_GE4(struct bt_cpu *cpu, const struct bt_insn *i)
{
	cpu->s.gpr[i->reg] = cpu->s.gpr[i->rm] & 0xffffffff;
}

static void fast_mov_GE8(struct bt_cpu *cpu, const struct bt_insn *i)
{
	cpu->s.gpr[i->reg] = cpu->s.gpr[i->rm];
}

static void fast_test_EG4(struct bt_cpu *cpu, const struct bt_insn *i)
{
	set_cc(cpu, CC_LOGIC, 4, cpu->s.gpr[i->rm] & cpu->s.gpr[i->reg] & 0xffffffff, 0, 0);
}

static void fast_test_EG8(struct bt_cpu *cpu, const struct bt_insn *i)
{
	set_cc(cpu, CC_LOGIC, 8, cpu->s.gpr[i->rm] & cpu->s.gpr[i->reg], 0, 0);
}

static void fast_test_EI4(struct bt_cpu *cpu, const struct bt_insn *i)
{
	set_cc(cpu, CC_LOGIC, 4, cpu->s.gpr[i->rm] & i->imm & 0xffffffff, 0, 0);
}

static void fast_test_EI8(struct bt_cpu *cpu, const struct bt_insn *i)
{
	set_cc(cpu, CC_LOGIC, 8, cpu->s.gpr[i->rm] & i->imm, 0, 0);
}

/* LEA of base + displacement with 64-bit address and operand size. */
static void fast_lea_base64(struct bt_cpu *cpu, const struct bt_insn *i)
{
	cpu->s.gpr[i->reg] = cpu->s.gpr[i->base] + (uint64_t)(int64_t)i->disp;
}

/* PUSH/POP of a 64-bit register in 64-bit code (RSP moves only after the access). */
static void fast_push64(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t sp = cpu->s.gpr[R_RSP] - 8;

	bt_write(cpu, S_SS, sp, 8, cpu->s.gpr[i->rm]);
	cpu->s.gpr[R_RSP] = sp;
}

static void fast_pop64(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t sp = cpu->s.gpr[R_RSP], v = bt_read(cpu, S_SS, sp, 8);

	cpu->s.gpr[R_RSP] = sp + 8;
	cpu->s.gpr[i->rm] = v;
}

enum { S_SHL, S_SHR, S_SAR };

/* SHL/SHR/SAR of a register by a nonzero immediate count (a zero count is left to the
 * generic handler: it changes no flags). */
static inline __attribute__((always_inline)) void shift_reg(struct bt_cpu *cpu,
							    const struct bt_insn *i,
							    unsigned op, unsigned size)
{
	unsigned bits = sz_bits(size), c = (unsigned)i->imm & (bits - 1);
	uint64_t m = sz_mask(size), v = cpu->s.gpr[i->rm] & m, r, cf, of;

	switch (op) {
	case S_SHL:
		r = (v << c) & m;
		cf = (v >> (bits - c)) & 1;
		of = !!(r & sz_sign(size)) ^ cf;
		break;
	case S_SHR:
		r = v >> c;
		cf = (v >> (c - 1)) & 1;
		of = !!(v & sz_sign(size));
		break;
	default: {
		int64_t sv = sext(v, size);
		r = (uint64_t)(sv >> c) & m;
		cf = (uint64_t)(sv >> (c - 1)) & 1;
		of = 0;
		break;
	}
	}
	set_cc(cpu, CC_SHIFT, size, r, cf, of);
	cpu->s.gpr[i->rm] = r;
}

#define FAST_SHIFT(name, OP) \
	static void fast_##name##4(struct bt_cpu *cpu, const struct bt_insn *i) \
	{ shift_reg(cpu, i, OP, 4); } \
	static void fast_##name##8(struct bt_cpu *cpu, const struct bt_insn *i) \
	{ shift_reg(cpu, i, OP, 8); }

FAST_SHIFT(shl, S_SHL)
FAST_SHIFT(shr, S_SHR)
FAST_SHIFT(sar, S_SAR)

/* MOV between a register and memory. */
static void fast_load4(struct bt_cpu *cpu, const struct bt_insn *i)
{
	cpu->s.gpr[i->reg] = bt_read(cpu, i->seg, bt_ea(cpu, i), 4);
}

static void fast_load8(struct bt_cpu *cpu, const struct bt_insn *i)
{
	cpu->s.gpr[i->reg] = bt_read(cpu, i->seg, bt_ea(cpu, i), 8);
}

static void fast_store4(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_write(cpu, i->seg, bt_ea(cpu, i), 4, cpu->s.gpr[i->reg]);
}

static void fast_store8(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_write(cpu, i->seg, bt_ea(cpu, i), 8, cpu->s.gpr[i->reg]);
}

/* Condition cc on the lazy flags for the forms compilers emit after CMP/SUB, and ZF after
 * anything; -1 for the rest (left to bt_cond). */
static inline int cond_fast(const struct bt_cpu *cpu, unsigned cc)
{
	unsigned kind = KIND(cpu);
	bool r;

	if (kind == CC_SUB) {
		uint64_t a = cpu->cc_src2, b = cpu->cc_src;
		unsigned size = 1u << (cpu->cc_op & 3);
		switch ((cc >> 1) & 7) {
		case 1: r = a < b; break;
		case 2: r = a == b; break;
		case 3: r = a <= b; break;
		case 6: r = sext(a, size) < sext(b, size); break;
		case 7: r = sext(a, size) <= sext(b, size); break;
		default: return -1;
		}
		return r ^ (cc & 1);
	}
	if (((cc >> 1) & 7) == 2 && kind != CC_EFLAGS)
		return (cpu->cc_dst == 0) ^ (cc & 1);
	return -1;
}

/* Jcc in 64-bit code: no operand-size masking, only the canonical check. */
static void fast_jcc64(struct bt_cpu *cpu, const struct bt_insn *i)
{
	int taken = cond_fast(cpu, i->op & 0xf);

	if (__builtin_expect(taken < 0, 0)) {
		bt_h_jcc(cpu, i);
	} else if (taken) {
		uint64_t target = cpu->next_rip + i->imm;
		if ((uint64_t)((int64_t)(target << 16) >> 16) != target)
			bt_raise(cpu, EXC_GP, 0);
		cpu->next_rip = target;
	}
}

#define PICK(fn4, fn8)	(i->opsize == 4 ? (fn4) : (fn8))
#define PICK_ALU(name) \
	if (i->fn == bt_h_##name##_EG) { i->fn = PICK(fast_##name##_EG4, fast_##name##_EG8); return; } \
	if (i->fn == bt_h_##name##_GE) { i->fn = PICK(fast_##name##_GE4, fast_##name##_GE8); return; } \
	if (i->fn == bt_h_##name##_EI) { i->fn = PICK(fast_##name##_EI4, fast_##name##_EI8); return; }

void bt_specialize(struct bt_insn *i, unsigned code_size)
{
	if (i->fn == bt_h_jcc) {
		if (code_size == 8)
			i->fn = fast_jcc64;
		return;
	}
	/* The rest: operands of 32 or 64 bits (no byte-register aliasing), in registers
	 * except for MOV. */
	if (i->opsize != 4 && i->opsize != 8)
		return;
	if (i->fn == bt_h_lea) {
		if (i->addrsize == 8 && i->opsize == 8 && i->base != BT_NOREG &&
		    i->index == BT_NOREG && !(i->flags & BI_RIPREL))
			i->fn = fast_lea_base64;
		return;
	}
	if (code_size == 8 && i->opsize == 8 && !(i->flags & BI_MEM)) {
		if (i->fn == bt_h_push_E) {
			i->fn = fast_push64;
			return;
		}
		if (i->fn == bt_h_pop_E) {
			i->fn = fast_pop64;
			return;
		}
	}
	if (i->flags & BI_MEM) {
		if (i->fn == bt_h_mov_GE)
			i->fn = PICK(fast_load4, fast_load8);
		else if (i->fn == bt_h_mov_EG)
			i->fn = PICK(fast_store4, fast_store8);
		return;
	}
	PICK_ALU(add)
	PICK_ALU(or)
	PICK_ALU(adc)
	PICK_ALU(and)
	PICK_ALU(sub)
	PICK_ALU(xor)
	PICK_ALU(cmp)
	if (i->fn == bt_h_test_EG)
		i->fn = PICK(fast_test_EG4, fast_test_EG8);
	else if (i->fn == bt_h_test_EI)
		i->fn = PICK(fast_test_EI4, fast_test_EI8);
	else if (i->fn == bt_h_inc)
		i->fn = PICK(fast_inc4, fast_inc8);
	else if (i->fn == bt_h_dec)
		i->fn = PICK(fast_dec4, fast_dec8);
	else if (i->fn == bt_h_mov_EG)
		i->fn = PICK(fast_mov_EG4, fast_mov_EG8);
	else if (i->fn == bt_h_mov_GE)
		i->fn = PICK(fast_mov_GE4, fast_mov_GE8);
	else if (i->imm & (i->opsize * 8 - 1)) {	/* shifts by a nonzero count */
		if (i->fn == bt_h_shl_I)
			i->fn = PICK(fast_shl4, fast_shl8);
		else if (i->fn == bt_h_shr_I)
			i->fn = PICK(fast_shr4, fast_shr8);
		else if (i->fn == bt_h_sar_I)
			i->fn = PICK(fast_sar4, fast_sar8);
	}
}
