/* Lazy arithmetic flags: handlers record the last flag-setting operation (cc_op and its operands)
 * and the flags are computed only when something looks at them. Single conditions (Jcc, SETcc,
 * CMOVcc) are evaluated straight from the operands without building RFLAGS.
 */
#include "engine/bt/cpu/ops.h"

static inline unsigned cc_size(const struct bt_cpu *cpu) { return 1u << (cpu->cc_op & 3); }

bool bt_cf(const struct bt_cpu *cpu)
{
	uint64_t res = cpu->cc_dst, a = cpu->cc_src2, b = cpu->cc_src;
	uint64_t m = sz_mask(cc_size(cpu));

	switch (cc_kind(cpu)) {
	case CC_ADD:
		return res < a;
	case CC_ADC:	/* the carry-in is whatever makes res = a + b + c */
		return ((res - a - b) & m) ? res <= a : res < a;
	case CC_SUB:
		return a < b;
	case CC_SBB:
		return ((a - b - res) & m) ? a <= b : a < b;
	case CC_LOGIC:
		return false;
	case CC_INC:
	case CC_DEC:
	case CC_SHIFT:
	case CC_MUL:
		return b & 1;
	default:
		return cpu->s.rflags & RFLAGS_CF;
	}
}

bool bt_zf(const struct bt_cpu *cpu)
{
	if (cc_kind(cpu) == CC_EFLAGS)
		return cpu->s.rflags & RFLAGS_ZF;
	return cpu->cc_dst == 0;
}

bool bt_sf(const struct bt_cpu *cpu)
{
	if (cc_kind(cpu) == CC_EFLAGS)
		return cpu->s.rflags & RFLAGS_SF;
	return cpu->cc_dst & sz_sign(cc_size(cpu));
}

bool bt_pf(const struct bt_cpu *cpu)
{
	if (cc_kind(cpu) == CC_EFLAGS)
		return cpu->s.rflags & RFLAGS_PF;
	return !__builtin_parity((unsigned)(cpu->cc_dst & 0xff));
}

bool bt_of(const struct bt_cpu *cpu)
{
	uint64_t res = cpu->cc_dst, a = cpu->cc_src2, b = cpu->cc_src;
	uint64_t sign = sz_sign(cc_size(cpu));

	switch (cc_kind(cpu)) {
	case CC_ADD:
	case CC_ADC:
		return (a ^ res) & (b ^ res) & sign;
	case CC_SUB:
	case CC_SBB:
		return (a ^ b) & (a ^ res) & sign;
	case CC_LOGIC:
		return false;
	case CC_INC:
		return res == sign;
	case CC_DEC:
		return res == sign - 1;
	case CC_SHIFT:
		return a & 1;
	case CC_MUL:
		return b & 1;
	default:
		return cpu->s.rflags & RFLAGS_OF;
	}
}

static bool cc_af(const struct bt_cpu *cpu)
{
	uint64_t res = cpu->cc_dst;

	switch (cc_kind(cpu)) {
	case CC_ADD:
	case CC_ADC:
	case CC_SUB:
	case CC_SBB:
		return (cpu->cc_src2 ^ cpu->cc_src ^ res) & 0x10;
	case CC_INC:
		return (res & 0xf) == 0;
	case CC_DEC:
		return (res & 0xf) == 0xf;
	case CC_EFLAGS:
		return cpu->s.rflags & RFLAGS_AF;
	default:
		return false;
	}
}

bool bt_cond(const struct bt_cpu *cpu, unsigned cc)
{
	bool r;

	if (cc_kind(cpu) == CC_SUB) {	/* CMP: compare the operands directly */
		uint64_t a = cpu->cc_src2, b = cpu->cc_src;
		unsigned size = cc_size(cpu);
		switch ((cc >> 1) & 7) {
		case 1: r = a < b; break;
		case 2: r = a == b; break;
		case 3: r = a <= b; break;
		case 6: r = sext(a, size) < sext(b, size); break;
		case 7: r = sext(a, size) <= sext(b, size); break;
		case 0: r = bt_of(cpu); break;
		case 4: r = bt_sf(cpu); break;
		default: r = bt_pf(cpu); break;
		}
		return r ^ (cc & 1);
	}
	switch ((cc >> 1) & 7) {
	case 0: r = bt_of(cpu); break;
	case 1: r = bt_cf(cpu); break;
	case 2: r = bt_zf(cpu); break;
	case 3: r = bt_cf(cpu) || bt_zf(cpu); break;
	case 4: r = bt_sf(cpu); break;
	case 5: r = bt_pf(cpu); break;
	case 6: r = bt_sf(cpu) != bt_of(cpu); break;
	default: r = bt_zf(cpu) || bt_sf(cpu) != bt_of(cpu); break;
	}
	return r ^ (cc & 1);
}

uint64_t bt_get_rflags(struct bt_cpu *cpu)
{
	if (cc_kind(cpu) != CC_EFLAGS) {
		uint64_t f = cpu->s.rflags & ~RFLAGS_ARITH;
		f |= bt_cf(cpu) ? RFLAGS_CF : 0;
		f |= bt_pf(cpu) ? RFLAGS_PF : 0;
		f |= cc_af(cpu) ? RFLAGS_AF : 0;
		f |= bt_zf(cpu) ? RFLAGS_ZF : 0;
		f |= bt_sf(cpu) ? RFLAGS_SF : 0;
		f |= bt_of(cpu) ? RFLAGS_OF : 0;
		cpu->s.rflags = f;
		cpu->cc_op = CC_EFLAGS << 2;
	}
	return cpu->s.rflags | RFLAGS_FIXED;
}

/* Bits 3, 5, 15 and 22-63 are reserved (read as 0), bit 1 reads as 1. */
#define RFLAGS_DEFINED	0x3f7fd5ull

void bt_set_rflags(struct bt_cpu *cpu, uint64_t rflags)
{
	cpu->s.rflags = (rflags & RFLAGS_DEFINED) | RFLAGS_FIXED;
	cpu->cc_op = CC_EFLAGS << 2;
}

void bt_flags_update(struct bt_cpu *cpu, uint64_t mask, uint64_t bits)
{
	bt_set_rflags(cpu, (bt_get_rflags(cpu) & ~mask) | (bits & mask));
}

void bt_h_clc(struct bt_cpu *cpu, const struct bt_insn *i) { bt_flags_update(cpu, RFLAGS_CF, 0); }
void bt_h_stc(struct bt_cpu *cpu, const struct bt_insn *i) { bt_flags_update(cpu, RFLAGS_CF, RFLAGS_CF); }
void bt_h_cmc(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_flags_update(cpu, RFLAGS_CF, bt_cf(cpu) ? 0 : RFLAGS_CF);
}
void bt_h_cld(struct bt_cpu *cpu, const struct bt_insn *i) { cpu->s.rflags &= ~RFLAGS_DF; }
void bt_h_std(struct bt_cpu *cpu, const struct bt_insn *i) { cpu->s.rflags |= RFLAGS_DF; }

/* LAHF/SAHF: SF ZF 0 AF 0 PF 1 CF in AH. */
#define AH_FLAGS (RFLAGS_SF | RFLAGS_ZF | RFLAGS_AF | RFLAGS_PF | RFLAGS_CF)

void bt_h_lahf(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t ah = (bt_get_rflags(cpu) & AH_FLAGS) | RFLAGS_FIXED;
	cpu->s.gpr[R_RAX] = (cpu->s.gpr[R_RAX] & ~0xff00ull) | ah << 8;
}

void bt_h_sahf(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_flags_update(cpu, AH_FLAGS, (cpu->s.gpr[R_RAX] >> 8) & 0xff);
}
