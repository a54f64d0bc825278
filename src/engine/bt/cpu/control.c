/* Near control transfers: JMP, Jcc, CALL, RET, LOOP/LOOPcc, JrCXZ, and ENTER/LEAVE. */
#include "engine/bt/cpu/ops.h"

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* The target must be canonical (64-bit code) or within CS's limit: #GP(0) at the branch. */
static void check_target(struct bt_cpu *cpu, uint64_t target)
{
	if (cpu->code_size == 8 ? !canonical(target) : target > cpu->s.seg[S_CS].limit)
		bt_raise(cpu, EXC_GP, 0);
}

static void jump(struct bt_cpu *cpu, const struct bt_insn *i, uint64_t target)
{
	target = ip_mask(cpu, target, i->opsize);
	check_target(cpu, target);
	cpu->next_rip = target;
}

static void jump_rel(struct bt_cpu *cpu, const struct bt_insn *i)
{
	jump(cpu, i, cpu->next_rip + i->imm);
}

void bt_h_jmp_rel(struct bt_cpu *cpu, const struct bt_insn *i) { jump_rel(cpu, i); }

void bt_h_jcc(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (bt_cond(cpu, i->op & 0xf))
		jump_rel(cpu, i);
}

void bt_h_call_rel(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t target = ip_mask(cpu, cpu->next_rip + i->imm, i->opsize);

	check_target(cpu, target);
	bt_push(cpu, i->opsize, cpu->next_rip);
	cpu->next_rip = target;
}

void bt_h_jmp_E(struct bt_cpu *cpu, const struct bt_insn *i)
{
	jump(cpu, i, rm_get(cpu, i, i->opsize));
}

void bt_h_call_E(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t target = ip_mask(cpu, rm_get(cpu, i, i->opsize), i->opsize);

	check_target(cpu, target);
	bt_push(cpu, i->opsize, cpu->next_rip);
	cpu->next_rip = target;
}

/* RET / RET imm16: the target is checked before RSP moves. */
void bt_h_ret(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned ss = sp_size(cpu);
	uint64_t sp = cpu->s.gpr[R_RSP] & sz_mask(ss);
	uint64_t target = ip_mask(cpu, bt_read(cpu, S_SS, sp, i->opsize), i->opsize);

	check_target(cpu, target);
	reg_set(cpu, R_RSP, ss, true, sp + i->opsize + i->imm);
	cpu->next_rip = target;
}

static void loop(struct bt_cpu *cpu, const struct bt_insn *i, int zf_cond)
{
	unsigned as = i->addrsize;
	uint64_t c = (cpu->s.gpr[R_RCX] - 1) & sz_mask(as);
	bool take = c != 0;

	if (zf_cond >= 0)
		take = take && bt_zf(cpu) == zf_cond;
	if (take) {
		uint64_t target = ip_mask(cpu, cpu->next_rip + i->imm, i->opsize);
		check_target(cpu, target);
		cpu->next_rip = target;
	}
	reg_set(cpu, R_RCX, as, true, c);
}

void bt_h_loop(struct bt_cpu *cpu, const struct bt_insn *i) { loop(cpu, i, -1); }
void bt_h_loope(struct bt_cpu *cpu, const struct bt_insn *i) { loop(cpu, i, 1); }
void bt_h_loopne(struct bt_cpu *cpu, const struct bt_insn *i) { loop(cpu, i, 0); }

void bt_h_jrcxz(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (!(cpu->s.gpr[R_RCX] & sz_mask(i->addrsize)))
		jump_rel(cpu, i);
}

/* ENTER: all stores go to a shadow stack pointer, committed at the end, so a fault leaves
 * RSP and RBP as they were. */
void bt_h_enter(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = i->opsize, ss = sp_size(cpu), level = (unsigned)i->imm2 & 31;
	uint64_t sm = sz_mask(ss);
	uint64_t sp = (cpu->s.gpr[R_RSP] - size) & sm, bp = cpu->s.gpr[R_RBP];
	uint64_t frame;

	bt_write(cpu, S_SS, sp, size, bp);
	frame = sp;
	if (level) {
		for (unsigned k = 1; k < level; k++) {
			bp = (bp - size) & sm;
			uint64_t v = bt_read(cpu, S_SS, bp, size);
			sp = (sp - size) & sm;
			bt_write(cpu, S_SS, sp, size, v);
		}
		sp = (sp - size) & sm;
		bt_write(cpu, S_SS, sp, size, frame);
	}
	sp = (sp - i->imm) & sm;
	/* the final stack top must be writable too (SDM: #SS/#PF if it is not) */
	bt_linear(cpu, S_SS, sp, 1, BT_WRITE);
	reg_set(cpu, R_RBP, size, true, frame);
	reg_set(cpu, R_RSP, ss, true, sp);
}

void bt_h_leave(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned ss = sp_size(cpu);
	uint64_t sp = cpu->s.gpr[R_RBP] & sz_mask(ss);
	uint64_t v = bt_read(cpu, S_SS, sp, i->opsize);

	reg_set(cpu, R_RSP, ss, true, sp + i->opsize);
	reg_set(cpu, R_RBP, i->opsize, true, v);
}
