/* Decimal adjust instructions (legacy modes only; the decoder rejects them in 64-bit code).
 * Flags the SDM leaves undefined (OF, and SF/ZF/PF for AAA/AAS) are cleared. */
#include "engine/bt/cpu/ops.h"

static uint64_t szp(uint8_t v)
{
	return (v ? 0 : RFLAGS_ZF) | ((v & 0x80) ? RFLAGS_SF : 0) |
	       (__builtin_parity(v) ? 0 : RFLAGS_PF);
}

static uint8_t al(const struct bt_cpu *cpu) { return (uint8_t)cpu->s.gpr[R_RAX]; }
static void set_al(struct bt_cpu *cpu, uint8_t v) { reg_set(cpu, R_RAX, 1, true, v); }

void bt_h_daa(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint8_t a = al(cpu), old = a;
	bool cf = bt_cf(cpu), af = bt_get_rflags(cpu) & RFLAGS_AF, ncf = false;

	if ((a & 0xf) > 9 || af) {
		ncf = cf || a > 0xf9;
		a += 6;
		af = true;
	}
	if (old > 0x99 || cf) {
		a += 0x60;
		ncf = true;
	} else {
		ncf = false;
	}
	set_al(cpu, a);
	bt_flags_update(cpu, RFLAGS_ARITH, szp(a) | (af ? RFLAGS_AF : 0) | (ncf ? RFLAGS_CF : 0));
}

void bt_h_das(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint8_t a = al(cpu), old = a;
	bool cf = bt_cf(cpu), af = bt_get_rflags(cpu) & RFLAGS_AF, ncf = false;

	if ((a & 0xf) > 9 || af) {
		ncf = cf || a < 6;
		a -= 6;
		af = true;
	}
	if (old > 0x99 || cf) {
		a -= 0x60;
		ncf = true;
	}
	set_al(cpu, a);
	bt_flags_update(cpu, RFLAGS_ARITH, szp(a) | (af ? RFLAGS_AF : 0) | (ncf ? RFLAGS_CF : 0));
}

static void ascii_adjust(struct bt_cpu *cpu, bool sub)
{
	uint64_t ax = cpu->s.gpr[R_RAX] & 0xffff;
	bool adj = (ax & 0xf) > 9 || (bt_get_rflags(cpu) & RFLAGS_AF);

	if (adj)
		ax = sub ? ((ax - 6) & 0xff) | (((ax >> 8) - 1) & 0xff) << 8 : ax + 0x106;
	ax &= 0xff0f;
	reg_set(cpu, R_RAX, 2, true, ax);
	bt_flags_update(cpu, RFLAGS_ARITH, adj ? RFLAGS_AF | RFLAGS_CF : 0);
}

void bt_h_aaa(struct bt_cpu *cpu, const struct bt_insn *i) { ascii_adjust(cpu, false); }
void bt_h_aas(struct bt_cpu *cpu, const struct bt_insn *i) { ascii_adjust(cpu, true); }

void bt_h_aam(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint8_t base = (uint8_t)i->imm, a = al(cpu);

	if (!base)
		bt_raise_noerr(cpu, EXC_DE);
	reg_set(cpu, R_RAX, 2, true, (uint64_t)(a / base) << 8 | (a % base));
	bt_flags_update(cpu, RFLAGS_ARITH, szp(a % base));
}

void bt_h_aad(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint8_t a = (uint8_t)(al(cpu) + ((cpu->s.gpr[R_RAX] >> 8) & 0xff) * (uint8_t)i->imm);

	reg_set(cpu, R_RAX, 2, true, a);
	bt_flags_update(cpu, RFLAGS_ARITH, szp(a));
}
