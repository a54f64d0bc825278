/* Data movement: MOV and its extending forms, LEA, XCHG/CMPXCHG/XADD (atomic with LOCK),
 * BSWAP, CMOVcc/SETcc, PUSH/POP/PUSHA/POPA, CBW-family, XLAT, BOUND, NOP. */
#include "engine/bt/cpu/ops.h"

static bool rex(const struct bt_insn *i) { return i->flags & BI_REX; }

void bt_h_mov_EG(struct bt_cpu *cpu, const struct bt_insn *i)
{
	rm_set(cpu, i, i->opsize, reg_get(cpu, i->reg, i->opsize, rex(i)));
}

void bt_h_mov_GE(struct bt_cpu *cpu, const struct bt_insn *i)
{
	reg_set(cpu, i->reg, i->opsize, rex(i), rm_get(cpu, i, i->opsize));
}

void bt_h_mov_EI(struct bt_cpu *cpu, const struct bt_insn *i) { rm_set(cpu, i, i->opsize, i->imm); }

void bt_h_mov_load_moffs(struct bt_cpu *cpu, const struct bt_insn *i)
{
	reg_set(cpu, R_RAX, i->opsize, true, bt_read(cpu, i->seg, i->imm, i->opsize));
}

void bt_h_mov_store_moffs(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_write(cpu, i->seg, i->imm, i->opsize, cpu->s.gpr[R_RAX]);
}

void bt_h_movzx_b(struct bt_cpu *cpu, const struct bt_insn *i)
{
	reg_set(cpu, i->reg, i->opsize, true, rm_get(cpu, i, 1));
}

void bt_h_movzx_w(struct bt_cpu *cpu, const struct bt_insn *i)
{
	reg_set(cpu, i->reg, i->opsize, true, rm_get(cpu, i, 2));
}

void bt_h_movsx_b(struct bt_cpu *cpu, const struct bt_insn *i)
{
	reg_set(cpu, i->reg, i->opsize, true, (uint64_t)sext(rm_get(cpu, i, 1), 1));
}

void bt_h_movsx_w(struct bt_cpu *cpu, const struct bt_insn *i)
{
	reg_set(cpu, i->reg, i->opsize, true, (uint64_t)sext(rm_get(cpu, i, 2), 2));
}

/* MOVSXD: sign-extends with REX.W, otherwise an ordinary 16/32-bit move. */
void bt_h_movsxd(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned sz = i->opsize < 4 ? i->opsize : 4;
	reg_set(cpu, i->reg, i->opsize, true, (uint64_t)sext(rm_get(cpu, i, sz), sz));
}

void bt_h_lea(struct bt_cpu *cpu, const struct bt_insn *i)
{
	reg_set(cpu, i->reg, i->opsize, true, bt_ea(cpu, i));
}

static uint64_t xchg_rmw(struct bt_cpu *cpu, uint64_t old, const struct bt_rmw_arg *arg,
			 struct bt_cc *cc)
{
	return arg->src;
}

/* XCHG with memory is locked whether or not LOCK is given. */
void bt_h_xchg(struct bt_cpu *cpu, const struct bt_insn *i)
{
	struct bt_rmw_arg arg = { reg_get(cpu, i->reg, i->opsize, rex(i)), i->opsize, 0, 0 };
	uint64_t old = bt_rm_rmw(cpu, i, xchg_rmw, &arg, true);

	reg_set(cpu, i->reg, i->opsize, rex(i), old);
}

/* arg->src: new value, arg->src2: rAX (the comparand). */
static uint64_t cmpxchg_rmw(struct bt_cpu *cpu, uint64_t old, const struct bt_rmw_arg *arg,
			    struct bt_cc *cc)
{
	uint64_t m = sz_mask(arg->size), a = arg->src2 & m;

	old &= m;
	*cc = cc_make(CC_SUB, arg->size, (a - old) & m, old, a);
	return old == a ? arg->src : old;
}

void bt_h_cmpxchg(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = i->opsize;
	struct bt_rmw_arg arg = { reg_get(cpu, i->reg, size, rex(i)), size, 0,
				  cpu->s.gpr[R_RAX] };
	uint64_t old;

	if (!(i->flags & BI_MEM)) {
		/* A register destination is written only on success: a failed 32-bit compare leaves
		 * its upper half alone (only memory gets the unconditional write cycle). */
		struct bt_cc cc;
		old = reg_get(cpu, i->rm, size, rex(i));
		cmpxchg_rmw(cpu, old, &arg, &cc);
		if (old == (arg.src2 & sz_mask(size)))
			reg_set(cpu, i->rm, size, rex(i), arg.src);
		else
			reg_set(cpu, R_RAX, size, true, old);
		cc_commit(cpu, &cc);
		return;
	}
	old = bt_rm_rmw(cpu, i, cmpxchg_rmw, &arg, false) & sz_mask(size);
	if (old != (arg.src2 & sz_mask(size)))
		reg_set(cpu, R_RAX, size, true, old);
}

static uint64_t cx8_rmw(struct bt_cpu *cpu, uint64_t old, const struct bt_rmw_arg *arg,
			struct bt_cc *cc)
{
	return old == arg->src2 ? arg->src : old;
}

/* CMPXCHG8B / CMPXCHG16B (REX.W): only ZF changes. */
void bt_h_cmpxchg8b(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t off = bt_ea(cpu, i), *g = cpu->s.gpr;
	bool eq;

	if (i->opsize == 8) {
		uint64_t lo, hi;
		if (off & 15)
			bt_raise(cpu, EXC_GP, 0);
		/* Both halves lie in one page; check write access before taking the lock. */
		bt_rmw_ptr(cpu, i->seg, off, 8);
		bt_rmw_ptr(cpu, i->seg, off + 8, 8);
		pthread_mutex_lock(&cpu->bvm->atomic_lock);
		lo = bt_read(cpu, i->seg, off, 8);
		hi = bt_read(cpu, i->seg, off + 8, 8);
		eq = lo == g[R_RAX] && hi == g[R_RDX];
		bt_write(cpu, i->seg, off, 8, eq ? g[R_RBX] : lo);
		bt_write(cpu, i->seg, off + 8, 8, eq ? g[R_RCX] : hi);
		pthread_mutex_unlock(&cpu->bvm->atomic_lock);
		if (!eq) {
			g[R_RAX] = lo;
			g[R_RDX] = hi;
		}
	} else {
		uint64_t cmp = (g[R_RDX] & 0xffffffff) << 32 | (g[R_RAX] & 0xffffffff);
		struct bt_rmw_arg arg = { (g[R_RCX] & 0xffffffff) << 32 | (g[R_RBX] & 0xffffffff),
					  8, 0, cmp };
		struct bt_cc cc;
		uint64_t old;
		if (i->flags & BI_LOCK) {
			old = bt_locked_rmw(cpu, i->seg, off, 8, cx8_rmw, &arg, &cc);
		} else {
			old = bt_read(cpu, i->seg, off, 8);
			bt_write(cpu, i->seg, off, 8, cx8_rmw(cpu, old, &arg, &cc));
		}
		eq = old == cmp;
		if (!eq) {
			g[R_RAX] = old & 0xffffffff;
			g[R_RDX] = old >> 32;
		}
	}
	bt_flags_update(cpu, RFLAGS_ZF, eq ? RFLAGS_ZF : 0);
}

static uint64_t xadd_rmw(struct bt_cpu *cpu, uint64_t old, const struct bt_rmw_arg *arg,
			 struct bt_cc *cc)
{
	uint64_t m = sz_mask(arg->size), r = (old + arg->src) & m;

	*cc = cc_make(CC_ADD, arg->size, r, arg->src & m, old & m);
	return r;
}

void bt_h_xadd(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = i->opsize;
	struct bt_rmw_arg arg = { reg_get(cpu, i->reg, size, rex(i)), size, 0, 0 };

	if (!(i->flags & BI_MEM)) {
		/* SRC = DEST, then DEST = sum: the sum wins when both are one register */
		struct bt_cc cc;
		uint64_t old = reg_get(cpu, i->rm, size, rex(i));
		uint64_t sum = xadd_rmw(cpu, old, &arg, &cc);
		reg_set(cpu, i->reg, size, rex(i), old);
		reg_set(cpu, i->rm, size, rex(i), sum);
		cc_commit(cpu, &cc);
		return;
	}
	reg_set(cpu, i->reg, size, rex(i), bt_rm_rmw(cpu, i, xadd_rmw, &arg, false));
}

/* BSWAP of a 16-bit register is undefined; CPUs clear it. */
void bt_h_bswap(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t v = cpu->s.gpr[i->rm];

	if (i->opsize == 8)
		v = __builtin_bswap64(v);
	else if (i->opsize == 4)
		v = __builtin_bswap32((uint32_t)v);
	else
		v = 0;
	reg_set(cpu, i->rm, i->opsize, true, v);
}

/* The source is read (and may fault) even when the condition is false; a 32-bit CMOV always
 * zero-extends its destination. */
void bt_h_cmov(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t v = rm_get(cpu, i, i->opsize);

	if (!bt_cond(cpu, i->op & 0xf))
		v = reg_get(cpu, i->reg, i->opsize, true);
	reg_set(cpu, i->reg, i->opsize, true, v);
}

void bt_h_setcc(struct bt_cpu *cpu, const struct bt_insn *i)
{
	rm_set(cpu, i, 1, bt_cond(cpu, i->op & 0xf));
}

void bt_h_push_E(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_push(cpu, i->opsize, rm_get(cpu, i, i->opsize));
}

void bt_h_push_I(struct bt_cpu *cpu, const struct bt_insn *i) { bt_push(cpu, i->opsize, i->imm); }

/* POP r/m: a memory destination based on rSP sees the incremented rSP; POP rSP loads the
 * popped value. RSP changes only after the store succeeded. */
void bt_h_pop_E(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned ss = sp_size(cpu), size = i->opsize;
	uint64_t old_sp = cpu->s.gpr[R_RSP];
	uint64_t sp = old_sp & sz_mask(ss);
	uint64_t v = bt_read(cpu, S_SS, sp, size);

	reg_set(cpu, R_RSP, ss, true, sp + size);
	if (i->flags & BI_MEM) {
		uint64_t new_sp = cpu->s.gpr[R_RSP], off = bt_ea(cpu, i);
		cpu->s.gpr[R_RSP] = old_sp;
		bt_write(cpu, i->seg, off, size, v);
		cpu->s.gpr[R_RSP] = new_sp;
	} else {
		reg_set(cpu, i->rm, size, true, v);
	}
}

void bt_h_pusha(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned ss = sp_size(cpu), size = i->opsize;
	uint64_t sp = cpu->s.gpr[R_RSP];

	for (int r = R_RAX; r <= R_RDI; r++) {
		sp = (sp - size) & sz_mask(ss);
		bt_write(cpu, S_SS, sp, size, cpu->s.gpr[r]);	/* rSP: the value before */
	}
	reg_set(cpu, R_RSP, ss, true, sp);
}

void bt_h_popa(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned ss = sp_size(cpu), size = i->opsize;
	uint64_t sp = cpu->s.gpr[R_RSP], v[8];

	for (int r = R_RDI; r >= R_RAX; r--) {
		v[r] = bt_read(cpu, S_SS, sp & sz_mask(ss), size);
		sp += size;
	}
	for (int r = R_RAX; r <= R_RDI; r++)
		if (r != R_RSP)
			reg_set(cpu, r, size, true, v[r]);
	reg_set(cpu, R_RSP, ss, true, sp);
}

/* CBW / CWDE / CDQE */
void bt_h_cbw(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned half = i->opsize / 2;
	reg_set(cpu, R_RAX, i->opsize, true, (uint64_t)sext(cpu->s.gpr[R_RAX], half));
}

/* CWD / CDQ / CQO */
void bt_h_cwd(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bool neg = cpu->s.gpr[R_RAX] & sz_sign(i->opsize);
	reg_set(cpu, R_RDX, i->opsize, true, neg ? ~0ull : 0);
}

void bt_h_xlat(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t off = (cpu->s.gpr[R_RBX] + (cpu->s.gpr[R_RAX] & 0xff)) & sz_mask(i->addrsize);
	reg_set(cpu, R_RAX, 1, true, bt_read(cpu, i->seg, off, 1));
}

void bt_h_bound(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = i->opsize;
	uint64_t off = bt_ea(cpu, i);
	int64_t lo = sext(bt_read(cpu, i->seg, off, size), size);
	int64_t hi = sext(bt_read(cpu, i->seg, (off + size) & sz_mask(i->addrsize), size), size);
	int64_t idx = sext(reg_get(cpu, i->reg, size, true), size);

	if (idx < lo || idx > hi)
		bt_raise_noerr(cpu, EXC_BR);
}

void bt_h_nop(struct bt_cpu *cpu, const struct bt_insn *i) { }
