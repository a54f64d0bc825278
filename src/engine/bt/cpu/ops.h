/* bt engine, CPU side: helpers shared by the decoder and the instruction handlers
 * (lazy flags, operand sizes, locked read-modify-write) and the handler declarations.
 */
#ifndef VMON_BT_OPS_H
#define VMON_BT_OPS_H

#include "engine/bt/bt.h"

/* ---- Operand sizes ----------------------------------------------------------------------- */

static inline uint64_t sz_mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static inline unsigned sz_bits(unsigned size) { return size * 8; }

static inline uint64_t sz_sign(unsigned size) { return 1ull << (size * 8 - 1); }

/* Sign-extend the low size bytes of v to 64 bits. */
static inline int64_t sext(uint64_t v, unsigned size)
{
	uint64_t m = sz_sign(size);
	v &= sz_mask(size);
	return (int64_t)((v ^ m) - m);
}

/* ---- Lazy flags (flags.c) ---------------------------------------------------------------- */

/* cc_op = kind << 2 | log2(operand size). cc_dst is the result; cc_src2 / cc_src the first /
 * second operand (all masked to the size), except where noted. */
enum cc_kind {
	CC_EFLAGS,	/* s.rflags holds the flags */
	CC_ADD, CC_ADC, CC_SUB, CC_SBB,
	CC_LOGIC,	/* CF = OF = AF = 0 */
	CC_INC, CC_DEC,	/* cc_src = the preserved CF */
	CC_SHIFT,	/* cc_src = CF, cc_src2 = OF */
	CC_MUL,		/* cc_src = CF = OF */
};

#define RFLAGS_ARITH	(RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF)

/* Flags computed by a handler, committed only after its last faulting access. */
struct bt_cc {
	uint32_t op;
	uint64_t dst, src, src2;
};

static inline unsigned cc_kind(const struct bt_cpu *cpu) { return cpu->cc_op >> 2; }

static inline unsigned cc_size_log(unsigned size) { return (unsigned)__builtin_ctz(size); }

static inline struct bt_cc cc_make(unsigned kind, unsigned size, uint64_t dst, uint64_t src,
				   uint64_t src2)
{
	return (struct bt_cc){ kind << 2 | cc_size_log(size), dst, src, src2 };
}

/* All flags explicitly: mask's bits from bits, the rest as they are now (cc->dst = RFLAGS). */
static inline struct bt_cc cc_eflags(struct bt_cpu *cpu, uint64_t mask, uint64_t bits)
{
	return (struct bt_cc){ CC_EFLAGS << 2, (bt_get_rflags(cpu) & ~mask) | (bits & mask), 0, 0 };
}

static inline void cc_commit(struct bt_cpu *cpu, const struct bt_cc *cc)
{
	if (cc->op == CC_EFLAGS << 2)
		cpu->s.rflags = cc->dst;
	cpu->cc_op = cc->op;
	cpu->cc_dst = cc->dst;
	cpu->cc_src = cc->src;
	cpu->cc_src2 = cc->src2;
}

bool bt_cf(const struct bt_cpu *cpu);
bool bt_zf(const struct bt_cpu *cpu);
bool bt_sf(const struct bt_cpu *cpu);
bool bt_of(const struct bt_cpu *cpu);
bool bt_pf(const struct bt_cpu *cpu);
/* Condition code cc (the low nibble of Jcc/SETcc/CMOVcc) evaluated on the lazy flags. */
bool bt_cond(const struct bt_cpu *cpu, unsigned cc);
/* Replace the flags in mask with bits (everything materialized first). */
void bt_flags_update(struct bt_cpu *cpu, uint64_t mask, uint64_t bits);

/* ---- Registers: inline forms of bt_reg_get/bt_reg_set for the handlers' fast paths ----------- */

static inline uint64_t reg_get(const struct bt_cpu *cpu, int reg, unsigned size, bool rex)
{
	switch (size) {
	case 1:
		if (!rex && reg >= 4 && reg < 8)	/* AH, CH, DH, BH */
			return (cpu->s.gpr[reg - 4] >> 8) & 0xff;
		return cpu->s.gpr[reg] & 0xff;
	case 2:
		return cpu->s.gpr[reg] & 0xffff;
	case 4:
		return cpu->s.gpr[reg] & 0xffffffff;
	default:
		return cpu->s.gpr[reg];
	}
}

static inline void reg_set(struct bt_cpu *cpu, int reg, unsigned size, bool rex, uint64_t val)
{
	uint64_t *r = &cpu->s.gpr[reg];

	switch (size) {
	case 1:
		if (!rex && reg >= 4 && reg < 8) {
			r = &cpu->s.gpr[reg - 4];
			*r = (*r & ~0xff00ull) | (val & 0xff) << 8;
		} else {
			*r = (*r & ~0xffull) | (val & 0xff);
		}
		return;
	case 2:
		*r = (*r & ~0xffffull) | (val & 0xffff);
		return;
	case 4:			/* 32-bit results zero-extend */
		*r = val & 0xffffffff;
		return;
	default:
		*r = val;
	}
}

static inline uint64_t rm_get(struct bt_cpu *cpu, const struct bt_insn *i, unsigned size)
{
	if (i->flags & BI_MEM)
		return bt_read(cpu, i->seg, bt_ea(cpu, i), size);
	return reg_get(cpu, i->rm, size, i->flags & BI_REX);
}

static inline void rm_set(struct bt_cpu *cpu, const struct bt_insn *i, unsigned size, uint64_t val)
{
	if (i->flags & BI_MEM)
		bt_write(cpu, i->seg, bt_ea(cpu, i), size, val);
	else
		reg_set(cpu, i->rm, size, i->flags & BI_REX, val);
}

/* ---- Addresses ---------------------------------------------------------------------------- */

/* Jump target: masked to the operand size outside 64-bit code. */
static inline uint64_t ip_mask(const struct bt_cpu *cpu, uint64_t ip, unsigned opsize)
{
	return cpu->code_size == 8 ? ip : ip & sz_mask(opsize);
}

/* Stack pointer width: 2, 4 or 8. */
static inline unsigned sp_size(const struct bt_cpu *cpu)
{
	return cpu->code_size == 8 ? 8 : cpu->stack_size;
}


/* ---- Read-modify-write of a memory operand (operand.c) ------------------------------------- */

/* Operands of a read-modify-write besides the old value. */
struct bt_rmw_arg {
	uint64_t src;
	unsigned size;
	unsigned op;		/* which operation, for callbacks that serve several */
	uint64_t src2;		/* a second source (SHLD/SHRD count, CMPXCHG comparand) */
};

/* new = fn(cpu, old, arg, cc): computes the result and its flags (not committed). */
typedef uint64_t (*bt_rmw_fn)(struct bt_cpu *cpu, uint64_t old, const struct bt_rmw_arg *arg,
			      struct bt_cc *cc);

/* Atomic form for LOCK / XCHG: returns the old value; *cc holds the flags of the final try. */
uint64_t bt_locked_rmw(struct bt_cpu *cpu, int seg, uint64_t off, unsigned size,
		       bt_rmw_fn fn, const struct bt_rmw_arg *arg, struct bt_cc *cc);

/* Read-modify-write of i's r/m operand (register or memory; atomic if LOCK or locked), then
 * commit the flags fn computed into cc (callers that leave the flags alone set cc->op to
 * UINT32_MAX). Returns the old value. */
static inline uint64_t bt_rm_rmw(struct bt_cpu *cpu, const struct bt_insn *i, bt_rmw_fn fn,
				 const struct bt_rmw_arg *arg, bool locked)
{
	struct bt_cc cc = { UINT32_MAX, 0, 0, 0 };
	unsigned size = arg->size;
	uint64_t old;

	if (!(i->flags & BI_MEM)) {
		old = reg_get(cpu, i->rm, size, i->flags & BI_REX);
		reg_set(cpu, i->rm, size, i->flags & BI_REX, fn(cpu, old, arg, &cc));
	} else if (locked || (i->flags & BI_LOCK)) {
		old = bt_locked_rmw(cpu, i->seg, bt_ea(cpu, i), size, fn, arg, &cc);
	} else {
		uint64_t off = bt_ea(cpu, i);
		old = bt_read(cpu, i->seg, off, size);
		bt_write(cpu, i->seg, off, size, fn(cpu, old, arg, &cc));
	}
	if (cc.op != UINT32_MAX)
		cc_commit(cpu, &cc);
	return old;
}

/* ---- FPU / SSE state access ----------------------------------------------------------------- */

/* #NM / #UD checks before an SSE instruction (x87 has its own in x87.c). */
void bt_sse_check(struct bt_cpu *cpu);

/* A 128-bit packed value (XMM register or operand); MMX uses the low 64 bits. */
typedef union {
	uint8_t b[16];
	int8_t sb[16];
	uint16_t w[8];
	int16_t sw[8];
	uint32_t d[4];
	int32_t sd[4];
	uint64_t q[2];
	float f[4];
	double g[2];
} xmm_t;

/* sse.c: the packed-integer operation of 0F opcode op (PADD*, PCMP*, PUNPCK*, shifts by a
 * register, ...) on 16 bytes: *r = d op s. False if op is not one of them. */
bool bt_packed_int(unsigned op, xmm_t *r, const xmm_t *d, const xmm_t *s);
/* Shift each lane-byte lane of d by count: dir < 0 left, > 0 logical right, 0 arithmetic. */
void bt_shift_lanes(xmm_t *d, unsigned lane, uint64_t count, int dir);

/* x87.c: the MMX view of the x87 registers. bt_mmx_check raises what an MMX instruction must
 * (#UD with CR0.EM, #NM with CR0.TS, #MF for a pending x87 exception); bt_mm reads MMn;
 * bt_mmx_enter makes the transition every MMX instruction but EMMS does (TOP = 0, all tags
 * valid), after the instruction's last possible fault; bt_set_mm then writes MMn. bt_emms:
 * TOP 0, all registers empty. */
void bt_mmx_check(struct bt_cpu *cpu);
uint64_t bt_mm(struct bt_cpu *cpu, unsigned n);
void bt_mmx_enter(struct bt_cpu *cpu);
void bt_set_mm(struct bt_cpu *cpu, unsigned n, uint64_t v);
void bt_emms(struct bt_cpu *cpu);

/* ---- Decoder -------------------------------------------------------------------------------- */

enum bt_decode_status {
	BT_DEC_MORE = 0,	/* the bytes end before the instruction does */
	BT_DEC_UD = -1,		/* invalid opcode or LOCK misuse: #UD */
	BT_DEC_GP = -2,		/* longer than 15 bytes: #GP(0) */
};

/* Decode one instruction from buf (avail bytes, at most 15 are looked at) for code of the given
 * default size (2, 4, 8). Returns its length, or an enum bt_decode_status. Pure: no guest
 * access, so it is also the test and differential-tester entry point. */
int bt_decode_bytes(const uint8_t *buf, unsigned avail, unsigned code_size, struct bt_insn *i);
/* Replace i->fn by a handler specialised for i's operand forms where one exists (fastpath.c).
 * The block decoder applies it; bt_decode_bytes itself always leaves the generic handler. */
void bt_specialize(struct bt_insn *i, unsigned code_size);

/* ---- Handlers (besides BT_SYS_HANDLERS) ---------------------------------------------------- */

#define BT_ALU_OPS(X) X(add) X(or) X(adc) X(sbb) X(and) X(sub) X(xor) X(cmp)
#define BT_SHIFT_OPS(X) X(rol) X(ror) X(rcl) X(rcr) X(shl) X(shr) X(sar)

#define BT_ALU_DECL(op) \
	void bt_h_##op##_EG(struct bt_cpu *, const struct bt_insn *); \
	void bt_h_##op##_GE(struct bt_cpu *, const struct bt_insn *); \
	void bt_h_##op##_EI(struct bt_cpu *, const struct bt_insn *);
BT_ALU_OPS(BT_ALU_DECL)

#define BT_SHIFT_DECL(op) \
	void bt_h_##op##_I(struct bt_cpu *, const struct bt_insn *); \
	void bt_h_##op##_CL(struct bt_cpu *, const struct bt_insn *);
BT_SHIFT_OPS(BT_SHIFT_DECL)

#define BT_CPU_HANDLERS(X) \
	/* alu.c */ X(test_EG) X(test_EI) X(inc) X(dec) X(not) X(neg) \
	/* bcd.c */ X(daa) X(das) X(aaa) X(aas) X(aam) X(aad) \
	/* shift.c */ X(shld_I) X(shld_CL) X(shrd_I) X(shrd_CL) \
	/* muldiv.c */ X(mul) X(imul1) X(div) X(idiv) X(imul_GE) X(imul_GEI) \
	/* bitops.c */ X(bt_G) X(bts_G) X(btr_G) X(btc_G) X(bt_I) X(bts_I) X(btr_I) X(btc_I) \
	X(bsf) X(bsr) \
	/* string.c */ X(movs) X(cmps) X(stos) X(lods) X(scas) \
	/* control.c */ X(jmp_rel) X(jcc) X(call_rel) X(ret) X(jmp_E) X(call_E) X(loop) \
	X(loope) X(loopne) X(jrcxz) X(enter) X(leave) \
	/* movs.c */ X(mov_EG) X(mov_GE) X(mov_EI) X(mov_load_moffs) X(mov_store_moffs) \
	X(movzx_b) X(movzx_w) X(movsx_b) X(movsx_w) X(movsxd) X(lea) X(xchg) X(cmpxchg) \
	X(cmpxchg8b) X(xadd) X(bswap) X(cmov) X(setcc) X(push_E) X(push_I) X(pop_E) \
	X(pusha) X(popa) X(cbw) X(cwd) X(xlat) X(bound) X(nop) \
	/* flags.c */ X(clc) X(stc) X(cmc) X(cld) X(std) X(lahf) X(sahf) \
	/* x87.c */ X(x87_d8) X(x87_d9) X(x87_da) X(x87_db) X(x87_dc) X(x87_dd) X(x87_de) \
	X(x87_df) X(fwait) \
	/* sse.c */ X(fxsave) X(fxrstor) X(ldmxcsr) X(stmxcsr) X(sse_mov) X(sse_mov_store) \
	X(sse_movlh) X(sse_movlh_store) X(sse_unpck) X(sse_movmsk) X(sse_logic) X(sse_arith) \
	X(sse_cvt_si2f) X(sse_cvt_f2si) X(sse_cvt_ff) X(sse_comis) X(sse_cmp) X(sse_shuf) \
	X(sse_movd_load) X(sse_movd_store) X(sse_movq_store) X(sse_int) X(sse_shift_imm) \
	X(sse_pshuf) X(sse_pmovmskb) X(sse_pinsrw) X(sse_pextrw) X(sse_maskmov) X(sse_movnti) \
	/* mmx.c */ X(mmx) X(emms)

#define BT_DECLARE_CPU_HANDLER(name) void bt_h_##name(struct bt_cpu *, const struct bt_insn *);
BT_CPU_HANDLERS(BT_DECLARE_CPU_HANDLER)

#endif
