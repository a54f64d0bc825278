/* x86 instruction decoder: prefixes, REX, ModRM/SIB, displacement and immediates into a
 * struct bt_insn whose fn is the handler. Opcode properties come from the two tables below;
 * the few opcodes whose meaning depends on more than ModRM.reg are special-cased.
 */
#include <string.h>

#include "engine/bt/cpu/ops.h"

enum {
	F_M		= 1 << 0,	/* has ModRM */
	F_B		= 1 << 1,	/* byte operands */
	F_D64		= 1 << 2,	/* 64-bit default operand size in 64-bit mode */
	F_F64		= 1 << 3,	/* 64-bit operand size forced in 64-bit mode */
	F_I64		= 1 << 4,	/* invalid in 64-bit mode */
	F_LOCK		= 1 << 5,	/* LOCK allowed (with a memory destination) */
	F_END		= 1 << 6,	/* ends the decoded block (conditional branches do not:
					 * the interpreter leaves a block at any taken jump) */
	F_SSE		= 1 << 7,	/* 66/F2/F3 select the instruction (mandatory prefix) */
	F_MEMONLY	= 1 << 8,	/* ModRM.mod == 3 is #UD */
	F_RMREG		= 1 << 9,	/* register in opcode bits 0-2 (+REX.B) -> rm */
	F_ACC		= 1 << 10,	/* accumulator operand -> rm = rAX */
	F_MODREG	= 1 << 11,	/* ModRM.mod ignored, always registers (MOV CR/DR) */
	F_ONE		= 1 << 12,	/* shift count 1 (D0/D1) -> imm = 1 */
	F_O32		= 1 << 13,	/* 32-bit operand size outside 64-bit mode whatever 66 says */
	F_GRP		= 1 << 14,	/* ModRM.reg selects from grp */
	F_UD		= 1 << 15,	/* invalid opcode */
	F_IMM_SHIFT	= 16,
};

enum { I_NONE, I_B, I_BS, I_W, I_Z, I_V, I_WB, I_AP, I_O };
#define IMM(t)	((uint32_t)(t) << F_IMM_SHIFT)

struct opdesc {
	bt_handler fn;
	uint32_t fmt;
	const struct opdesc *grp;
};

#define H(name)	bt_h_##name
#define S(name)	bt_op_##name
#define E(h, f)	{ .fn = (h), .fmt = (f) }
#define G(f, g)	{ .fmt = (f), .grp = (g) }
#define UD	{ .fmt = F_UD }

/* ---- Groups (indexed by ModRM.reg) -------------------------------------------------------- */

static const struct opdesc grp1[8] = {
	E(H(add_EI), F_LOCK), E(H(or_EI), F_LOCK), E(H(adc_EI), F_LOCK), E(H(sbb_EI), F_LOCK),
	E(H(and_EI), F_LOCK), E(H(sub_EI), F_LOCK), E(H(xor_EI), F_LOCK), E(H(cmp_EI), 0),
};

static const struct opdesc grp2_i[8] = {
	E(H(rol_I), 0), E(H(ror_I), 0), E(H(rcl_I), 0), E(H(rcr_I), 0),
	E(H(shl_I), 0), E(H(shr_I), 0), E(H(shl_I), 0), E(H(sar_I), 0),
};

static const struct opdesc grp2_cl[8] = {
	E(H(rol_CL), 0), E(H(ror_CL), 0), E(H(rcl_CL), 0), E(H(rcr_CL), 0),
	E(H(shl_CL), 0), E(H(shr_CL), 0), E(H(shl_CL), 0), E(H(sar_CL), 0),
};

static const struct opdesc grp3b[8] = {
	E(H(test_EI), IMM(I_B)), E(H(test_EI), IMM(I_B)), E(H(not), F_LOCK), E(H(neg), F_LOCK),
	E(H(mul), 0), E(H(imul1), 0), E(H(div), 0), E(H(idiv), 0),
};

static const struct opdesc grp3v[8] = {
	E(H(test_EI), IMM(I_Z)), E(H(test_EI), IMM(I_Z)), E(H(not), F_LOCK), E(H(neg), F_LOCK),
	E(H(mul), 0), E(H(imul1), 0), E(H(div), 0), E(H(idiv), 0),
};

static const struct opdesc grp4[8] = {
	E(H(inc), F_LOCK), E(H(dec), F_LOCK), UD, UD, UD, UD, UD, UD,
};

static const struct opdesc grp5[8] = {
	E(H(inc), F_LOCK), E(H(dec), F_LOCK),
	E(H(call_E), F_F64 | F_END), E(S(call_far), F_MEMONLY | F_END),
	E(H(jmp_E), F_F64 | F_END), E(S(jmp_far), F_MEMONLY | F_END),
	E(H(push_E), F_D64), UD,
};

static const struct opdesc grp1a[8] = { E(H(pop_E), F_D64), UD, UD, UD, UD, UD, UD, UD };
static const struct opdesc grp11[8] = { E(H(mov_EI), 0), UD, UD, UD, UD, UD, UD, UD };

static const struct opdesc grp6[8] = {
	E(S(sldt), 0), E(S(str), 0), E(S(lldt), 0), E(S(ltr), 0), E(S(verr), 0), E(S(verw), 0), UD, UD,
};

static const struct opdesc grp8[8] = {
	UD, UD, UD, UD,
	E(H(bt_I), 0), E(H(bts_I), F_LOCK), E(H(btr_I), F_LOCK), E(H(btc_I), F_LOCK),
};

static const struct opdesc grp9[8] = {
	UD, E(H(cmpxchg8b), F_MEMONLY | F_LOCK), UD, UD, UD, UD, UD, UD,
};

/* 0F 01 with a memory operand; the register forms are decoded in group7_reg(). */
static const struct opdesc grp7_mem[8] = {
	E(S(sgdt), 0), E(S(sidt), 0), E(S(lgdt), 0), E(S(lidt), 0),
	E(S(smsw), 0), UD, E(S(lmsw), F_END), E(S(invlpg), F_END),
};

/* 0F AE with a memory operand; register forms are the fences. */
static const struct opdesc grp15_mem[8] = {
	E(H(fxsave), 0), E(H(fxrstor), 0), E(H(ldmxcsr), 0), E(H(stmxcsr), 0),
	UD, UD, UD, E(S(clflush), 0),
};

/* 66 0F 71/72/73: shifts by immediate; ModRM.reg is the operation, decoded in the handler. */
#define SSE_SHIFT	E(H(sse_shift_imm), F_M | F_SSE | IMM(I_B))

/* ---- One-byte map --------------------------------------------------------------------------- */

#define ALU_ROW(name) \
	E(H(name##_EG), F_M | F_B | F_LOCK), E(H(name##_EG), F_M | F_LOCK), \
	E(H(name##_GE), F_M | F_B), E(H(name##_GE), F_M), \
	E(H(name##_EI), F_B | F_ACC | IMM(I_B)), E(H(name##_EI), F_ACC | IMM(I_Z))

#define CMP_ROW \
	E(H(cmp_EG), F_M | F_B), E(H(cmp_EG), F_M), E(H(cmp_GE), F_M | F_B), E(H(cmp_GE), F_M), \
	E(H(cmp_EI), F_B | F_ACC | IMM(I_B)), E(H(cmp_EI), F_ACC | IMM(I_Z))

#define X8(...)		__VA_ARGS__, __VA_ARGS__, __VA_ARGS__, __VA_ARGS__, \
			__VA_ARGS__, __VA_ARGS__, __VA_ARGS__, __VA_ARGS__
#define X16(...)	X8(__VA_ARGS__), X8(__VA_ARGS__)

#define PREFIX	UD	/* never looked up: consumed by the prefix loop */

static const struct opdesc map1[256] = {
	ALU_ROW(add), E(S(push_sreg), F_I64), E(S(pop_sreg), F_I64),
	ALU_ROW(or), E(S(push_sreg), F_I64), UD,
	ALU_ROW(adc), E(S(push_sreg), F_I64), E(S(pop_sreg), F_I64 | F_END),
	ALU_ROW(sbb), E(S(push_sreg), F_I64), E(S(pop_sreg), F_I64),
	ALU_ROW(and), PREFIX, E(H(daa), F_I64),
	ALU_ROW(sub), PREFIX, E(H(das), F_I64),
	ALU_ROW(xor), PREFIX, E(H(aaa), F_I64),
	CMP_ROW, PREFIX, E(H(aas), F_I64),
	/* 0x40 */
	X8(E(H(inc), F_RMREG | F_I64)), X8(E(H(dec), F_RMREG | F_I64)),
	X8(E(H(push_E), F_RMREG | F_D64)), X8(E(H(pop_E), F_RMREG | F_D64)),
	/* 0x60 */
	E(H(pusha), F_I64), E(H(popa), F_I64), E(H(bound), F_M | F_I64 | F_MEMONLY), UD,
	PREFIX, PREFIX, PREFIX, PREFIX,
	E(H(push_I), F_D64 | IMM(I_Z)), E(H(imul_GEI), F_M | IMM(I_Z)),
	E(H(push_I), F_D64 | IMM(I_BS)), E(H(imul_GEI), F_M | IMM(I_BS)),
	E(S(ins), F_B), E(S(ins), 0), E(S(outs), F_B), E(S(outs), 0),
	/* 0x70 */
	X16(E(H(jcc), F_F64 | IMM(I_BS))),
	/* 0x80 */
	G(F_M | F_B | F_GRP | IMM(I_B), grp1), G(F_M | F_GRP | IMM(I_Z), grp1),
	G(F_M | F_B | F_GRP | F_I64 | IMM(I_B), grp1), G(F_M | F_GRP | IMM(I_BS), grp1),
	E(H(test_EG), F_M | F_B), E(H(test_EG), F_M),
	E(H(xchg), F_M | F_B | F_LOCK), E(H(xchg), F_M | F_LOCK),
	E(H(mov_EG), F_M | F_B), E(H(mov_EG), F_M), E(H(mov_GE), F_M | F_B), E(H(mov_GE), F_M),
	E(S(mov_from_sreg), F_M), E(H(lea), F_M | F_MEMONLY), E(S(mov_to_sreg), F_M | F_END),
	G(F_M | F_GRP, grp1a),
	/* 0x90 */
	X8(E(H(xchg), F_RMREG)),
	E(H(cbw), 0), E(H(cwd), 0), E(S(call_far), F_I64 | F_END | IMM(I_AP)), E(H(fwait), 0),
	E(S(pushf), F_D64), E(S(popf), F_D64 | F_END), E(H(sahf), 0), E(H(lahf), 0),
	/* 0xa0 */
	E(H(mov_load_moffs), F_B | IMM(I_O)), E(H(mov_load_moffs), IMM(I_O)),
	E(H(mov_store_moffs), F_B | IMM(I_O)), E(H(mov_store_moffs), IMM(I_O)),
	E(H(movs), F_B), E(H(movs), 0), E(H(cmps), F_B), E(H(cmps), 0),
	E(H(test_EI), F_B | F_ACC | IMM(I_B)), E(H(test_EI), F_ACC | IMM(I_Z)),
	E(H(stos), F_B), E(H(stos), 0), E(H(lods), F_B), E(H(lods), 0), E(H(scas), F_B), E(H(scas), 0),
	/* 0xb0 */
	X8(E(H(mov_EI), F_B | F_RMREG | IMM(I_B))), X8(E(H(mov_EI), F_RMREG | IMM(I_V))),
	/* 0xc0 */
	G(F_M | F_B | F_GRP | IMM(I_B), grp2_i), G(F_M | F_GRP | IMM(I_B), grp2_i),
	E(H(ret), F_F64 | F_END | IMM(I_W)), E(H(ret), F_F64 | F_END),
	E(S(load_far_ptr), F_M | F_I64 | F_MEMONLY), E(S(load_far_ptr), F_M | F_I64 | F_MEMONLY),
	G(F_M | F_B | F_GRP | IMM(I_B), grp11), G(F_M | F_GRP | IMM(I_Z), grp11),
	E(H(enter), F_D64 | IMM(I_WB)), E(H(leave), F_D64),
	E(S(ret_far), F_END | IMM(I_W)), E(S(ret_far), F_END),
	E(S(int3), F_END), E(S(int_n), F_END | IMM(I_B)), E(S(into), F_I64 | F_END),
	E(S(iret), F_END),
	/* 0xd0 */
	G(F_M | F_B | F_GRP | F_ONE, grp2_i), G(F_M | F_GRP | F_ONE, grp2_i),
	G(F_M | F_B | F_GRP, grp2_cl), G(F_M | F_GRP, grp2_cl),
	E(H(aam), F_I64 | IMM(I_B)), E(H(aad), F_I64 | IMM(I_B)), UD, E(H(xlat), F_B),
	E(H(x87_d8), F_M), E(H(x87_d9), F_M), E(H(x87_da), F_M), E(H(x87_db), F_M),
	E(H(x87_dc), F_M), E(H(x87_dd), F_M), E(H(x87_de), F_M), E(H(x87_df), F_M),
	/* 0xe0 */
	E(H(loopne), F_F64 | IMM(I_BS)), E(H(loope), F_F64 | IMM(I_BS)),
	E(H(loop), F_F64 | IMM(I_BS)), E(H(jrcxz), F_F64 | IMM(I_BS)),
	E(S(in), F_B | IMM(I_B)), E(S(in), IMM(I_B)), E(S(out), F_B | IMM(I_B)), E(S(out), IMM(I_B)),
	E(H(call_rel), F_F64 | F_END | IMM(I_Z)), E(H(jmp_rel), F_F64 | F_END | IMM(I_Z)),
	E(S(jmp_far), F_I64 | F_END | IMM(I_AP)), E(H(jmp_rel), F_F64 | F_END | IMM(I_BS)),
	E(S(in), F_B), E(S(in), 0), E(S(out), F_B), E(S(out), 0),
	/* 0xf0 */
	PREFIX, E(S(int1), F_END), PREFIX, PREFIX, E(S(hlt), F_END), E(H(cmc), 0),
	G(F_M | F_B | F_GRP, grp3b), G(F_M | F_GRP, grp3v),
	E(H(clc), 0), E(H(stc), 0), E(S(cli), F_END), E(S(sti), F_END), E(H(cld), 0), E(H(std), 0),
	G(F_M | F_B | F_GRP, grp4), G(F_M | F_GRP, grp5),
};

/* ---- Two-byte map (0F xx) -------------------------------------------------------------------- */

#define SSE(h)		E(H(h), F_M | F_SSE)
#define SSE_I(h)	E(H(h), F_M | F_SSE | IMM(I_B))

static const struct opdesc map2[256] = {
	[0x00] = G(F_M | F_GRP, grp6), [0x01] = E(NULL, F_M),	/* group 7: special-cased */
	[0x02] = E(S(lar), F_M), [0x03] = E(S(lsl), F_M),
	[0x04] = UD,
	[0x05] = E(S(syscall), F_END), [0x06] = E(S(clts), F_END), [0x07] = E(S(sysret), F_END),
	[0x08] = E(S(invd), 0), [0x09] = E(S(wbinvd), 0), [0x0a] = UD, [0x0b] = UD, [0x0c] = UD,
	[0x0d] = E(H(nop), F_M), [0x0e] = UD, [0x0f] = UD,
	[0x10] = SSE(sse_mov), [0x11] = SSE(sse_mov_store),
	[0x12] = SSE(sse_movlh), [0x13] = SSE(sse_movlh_store),
	[0x14] = SSE(sse_unpck), [0x15] = SSE(sse_unpck),
	[0x16] = SSE(sse_movlh), [0x17] = SSE(sse_movlh_store),
	[0x18] = E(H(nop), F_M), [0x19] = E(H(nop), F_M), [0x1a] = E(H(nop), F_M),
	[0x1b] = E(H(nop), F_M), [0x1c] = E(H(nop), F_M), [0x1d] = E(H(nop), F_M),
	[0x1e] = E(H(nop), F_M), [0x1f] = E(H(nop), F_M),
	[0x20] = E(S(mov_from_cr), F_M | F_MODREG | F_F64 | F_O32),
	[0x21] = E(S(mov_from_dr), F_M | F_MODREG | F_F64 | F_O32),
	[0x22] = E(S(mov_to_cr), F_M | F_MODREG | F_F64 | F_O32 | F_END),
	[0x23] = E(S(mov_to_dr), F_M | F_MODREG | F_F64 | F_O32 | F_END),
	[0x24] = UD, [0x25] = UD, [0x26] = UD, [0x27] = UD,
	[0x28] = SSE(sse_mov), [0x29] = SSE(sse_mov_store),
	[0x2a] = SSE(sse_cvt_si2f), [0x2b] = SSE(sse_mov_store),
	[0x2c] = SSE(sse_cvt_f2si), [0x2d] = SSE(sse_cvt_f2si),
	[0x2e] = SSE(sse_comis), [0x2f] = SSE(sse_comis),
	[0x30] = E(S(wrmsr), F_END), [0x31] = E(S(rdtsc), 0), [0x32] = E(S(rdmsr), 0),
	[0x33] = E(S(rdpmc), 0), [0x34] = E(S(sysenter), F_END), [0x35] = E(S(sysexit), F_END),
	[0x36] = UD, [0x37] = UD, [0x38] = UD, [0x39] = UD, [0x3a] = UD, [0x3b] = UD,
	[0x3c] = UD, [0x3d] = UD, [0x3e] = UD, [0x3f] = UD,
	[0x40] = X16(E(H(cmov), F_M)),
	[0x50] = SSE(sse_movmsk), [0x51] = SSE(sse_arith), [0x52] = SSE(sse_arith),
	[0x53] = SSE(sse_arith), [0x54] = SSE(sse_logic), [0x55] = SSE(sse_logic),
	[0x56] = SSE(sse_logic), [0x57] = SSE(sse_logic), [0x58] = SSE(sse_arith),
	[0x59] = SSE(sse_arith), [0x5a] = SSE(sse_cvt_ff), [0x5b] = SSE(sse_cvt_ff),
	[0x5c] = SSE(sse_arith), [0x5d] = SSE(sse_arith), [0x5e] = SSE(sse_arith),
	[0x5f] = SSE(sse_arith),
	[0x60] = SSE(sse_int), [0x61] = SSE(sse_int), [0x62] = SSE(sse_int), [0x63] = SSE(sse_int),
	[0x64] = SSE(sse_int), [0x65] = SSE(sse_int), [0x66] = SSE(sse_int), [0x67] = SSE(sse_int),
	[0x68] = SSE(sse_int), [0x69] = SSE(sse_int), [0x6a] = SSE(sse_int), [0x6b] = SSE(sse_int),
	[0x6c] = SSE(sse_int), [0x6d] = SSE(sse_int),
	[0x6e] = SSE(sse_movd_load), [0x6f] = SSE(sse_mov),
	[0x70] = SSE_I(sse_pshuf), [0x71] = SSE_SHIFT, [0x72] = SSE_SHIFT, [0x73] = SSE_SHIFT,
	[0x74] = SSE(sse_int), [0x75] = SSE(sse_int), [0x76] = SSE(sse_int), [0x77] = E(H(emms), 0),
	[0x78] = UD, [0x79] = UD, [0x7a] = UD, [0x7b] = UD, [0x7c] = UD, [0x7d] = UD,
	[0x7e] = SSE(sse_movd_store), [0x7f] = SSE(sse_mov_store),
	[0x80] = X16(E(H(jcc), F_F64 | IMM(I_Z))),
	[0x90] = X16(E(H(setcc), F_M | F_B)),
	[0xa0] = E(S(push_sreg), F_D64), [0xa1] = E(S(pop_sreg), F_D64), [0xa2] = E(S(cpuid), 0),
	[0xa3] = E(H(bt_G), F_M), [0xa4] = E(H(shld_I), F_M | IMM(I_B)),
	[0xa5] = E(H(shld_CL), F_M), [0xa6] = UD, [0xa7] = UD,
	[0xa8] = E(S(push_sreg), F_D64), [0xa9] = E(S(pop_sreg), F_D64), [0xaa] = UD,
	[0xab] = E(H(bts_G), F_M | F_LOCK), [0xac] = E(H(shrd_I), F_M | IMM(I_B)),
	[0xad] = E(H(shrd_CL), F_M), [0xae] = E(NULL, F_M),	/* group 15: special-cased */
	[0xaf] = E(H(imul_GE), F_M),
	[0xb0] = E(H(cmpxchg), F_M | F_B | F_LOCK), [0xb1] = E(H(cmpxchg), F_M | F_LOCK),
	[0xb2] = E(S(load_far_ptr), F_M | F_MEMONLY), [0xb3] = E(H(btr_G), F_M | F_LOCK),
	[0xb4] = E(S(load_far_ptr), F_M | F_MEMONLY), [0xb5] = E(S(load_far_ptr), F_M | F_MEMONLY),
	[0xb6] = E(H(movzx_b), F_M), [0xb7] = E(H(movzx_w), F_M),
	[0xb8] = UD,	/* POPCNT is not advertised */
	[0xb9] = UD, [0xba] = G(F_M | F_GRP | IMM(I_B), grp8),
	[0xbb] = E(H(btc_G), F_M | F_LOCK),
	[0xbc] = E(H(bsf), F_M), [0xbd] = E(H(bsr), F_M),	/* F3 (TZCNT/LZCNT) is ignored */
	[0xbe] = E(H(movsx_b), F_M), [0xbf] = E(H(movsx_w), F_M),
	[0xc0] = E(H(xadd), F_M | F_B | F_LOCK), [0xc1] = E(H(xadd), F_M | F_LOCK),
	[0xc2] = SSE_I(sse_cmp), [0xc3] = E(H(sse_movnti), F_M | F_MEMONLY),
	[0xc4] = SSE_I(sse_pinsrw), [0xc5] = SSE_I(sse_pextrw), [0xc6] = SSE_I(sse_shuf),
	[0xc7] = G(F_M | F_GRP, grp9),
	[0xc8] = X8(E(H(bswap), F_RMREG)),
	[0xd0] = UD, [0xd1] = SSE(sse_int), [0xd2] = SSE(sse_int), [0xd3] = SSE(sse_int),
	[0xd4] = SSE(sse_int), [0xd5] = SSE(sse_int), [0xd6] = SSE(sse_movq_store),
	[0xd7] = SSE(sse_pmovmskb),
	[0xd8] = SSE(sse_int), [0xd9] = SSE(sse_int), [0xda] = SSE(sse_int), [0xdb] = SSE(sse_int),
	[0xdc] = SSE(sse_int), [0xdd] = SSE(sse_int), [0xde] = SSE(sse_int), [0xdf] = SSE(sse_int),
	[0xe0] = SSE(sse_int), [0xe1] = SSE(sse_int), [0xe2] = SSE(sse_int), [0xe3] = SSE(sse_int),
	[0xe4] = SSE(sse_int), [0xe5] = SSE(sse_int), [0xe6] = SSE(sse_cvt_ff),
	[0xe7] = SSE(sse_mov_store),
	[0xe8] = SSE(sse_int), [0xe9] = SSE(sse_int), [0xea] = SSE(sse_int), [0xeb] = SSE(sse_int),
	[0xec] = SSE(sse_int), [0xed] = SSE(sse_int), [0xee] = SSE(sse_int), [0xef] = SSE(sse_int),
	[0xf0] = UD, [0xf1] = SSE(sse_int), [0xf2] = SSE(sse_int), [0xf3] = SSE(sse_int),
	[0xf4] = SSE(sse_int), [0xf5] = SSE(sse_int), [0xf6] = SSE(sse_int),
	[0xf7] = SSE(sse_maskmov),
	[0xf8] = SSE(sse_int), [0xf9] = SSE(sse_int), [0xfa] = SSE(sse_int), [0xfb] = SSE(sse_int),
	[0xfc] = SSE(sse_int), [0xfd] = SSE(sse_int), [0xfe] = SSE(sse_int), [0xff] = UD,
};

/* ---- Byte cursor ----------------------------------------------------------------------------- */

struct cursor {
	const uint8_t *buf;
	unsigned avail, pos;
	int err;		/* first enum bt_decode_status hit, or 1 */
};

static uint64_t take(struct cursor *c, unsigned n)
{
	uint64_t v = 0;

	if (c->pos + n > 15) {
		if (c->err == 1)
			c->err = c->avail < 15 && c->pos + n > c->avail ? BT_DEC_MORE : BT_DEC_GP;
		return 0;
	}
	if (c->pos + n > c->avail) {
		if (c->err == 1)
			c->err = BT_DEC_MORE;
		return 0;
	}
	for (unsigned k = 0; k < n; k++)
		v |= (uint64_t)c->buf[c->pos + k] << (8 * k);
	c->pos += n;
	return v;
}

static int64_t take_signed(struct cursor *c, unsigned n)
{
	return sext(take(c, n), n);
}

/* ---- ModRM ------------------------------------------------------------------------------------ */

static const uint8_t modrm16_base[8] = { R_RBX, R_RBX, R_RBP, R_RBP, BT_NOREG, BT_NOREG, R_RBP, R_RBX };
static const uint8_t modrm16_index[8] = { R_RSI, R_RDI, R_RSI, R_RDI, R_RSI, R_RDI, BT_NOREG, BT_NOREG };

/* Memory operand addressing; sets base/index/scale/disp and the default segment. */
static void decode_mem(struct cursor *c, struct bt_insn *i, unsigned mod, unsigned rm, unsigned rex,
		       unsigned code_size)
{
	i->flags |= BI_MEM;
	if (i->addrsize == 2) {
		if (mod == 0 && rm == 6) {
			i->disp = (int32_t)take_signed(c, 2);
		} else {
			i->base = modrm16_base[rm];
			i->index = modrm16_index[rm];
			if (mod == 1)
				i->disp = (int32_t)take_signed(c, 1);
			else if (mod == 2)
				i->disp = (int32_t)take_signed(c, 2);
		}
		i->seg = i->base == R_RBP ? S_SS : S_DS;
		return;
	}

	if (rm == 4) {
		unsigned sib = (unsigned)take(c, 1);
		unsigned idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
		unsigned base = (sib & 7) | ((rex & 1) << 3);

		i->scale = sib >> 6;
		i->index = idx == R_RSP ? BT_NOREG : idx;
		if ((sib & 7) == 5 && mod == 0)
			i->disp = (int32_t)take_signed(c, 4);
		else
			i->base = base;
	} else if (rm == 5 && mod == 0) {
		i->disp = (int32_t)take_signed(c, 4);
		if (code_size == 8)
			i->flags |= BI_RIPREL;
	} else {
		i->base = rm | ((rex & 1) << 3);
	}
	if (mod == 1)
		i->disp = (int32_t)take_signed(c, 1);
	else if (mod == 2)
		i->disp = (int32_t)take_signed(c, 4);
	i->seg = i->base == R_RSP || i->base == R_RBP ? S_SS : S_DS;
}

/* 0F 01 with ModRM.mod == 3. */
static const struct opdesc *group7_reg(unsigned reg, unsigned rm, unsigned code_size)
{
	static const struct opdesc vmcall = E(S(vmcall), F_END), smsw = E(S(smsw), 0),
		lmsw = E(S(lmsw), F_END), swapgs = E(S(swapgs), F_END), rdtscp = E(S(rdtscp), 0),
		ud = E(S(ud), F_END), invalid = UD;

	switch (reg) {
	case 0: return rm == 1 ? &vmcall : &invalid;
	case 3: return rm == 1 ? &vmcall : &invalid;	/* VMMCALL: KVM takes it on Intel too */
	case 1: return rm <= 1 ? &ud : &invalid;	/* MONITOR / MWAIT: not advertised */
	case 2: return rm <= 1 ? &ud : &invalid;	/* XGETBV / XSETBV: no XSAVE */
	case 4: return &smsw;
	case 6: return &lmsw;
	case 7:
		if (rm == 0)
			return code_size == 8 ? &swapgs : &invalid;
		return rm == 1 ? &rdtscp : &invalid;
	default: return &invalid;
	}
}

/* 0F AE with ModRM.mod == 3: LFENCE / MFENCE / SFENCE (the emulator is sequentially consistent
 * at instruction granularity, so they need no work). */
static const struct opdesc *group15_reg(unsigned reg)
{
	static const struct opdesc fence = E(H(nop), 0), invalid = UD;
	return reg >= 5 ? &fence : &invalid;
}

static const uint8_t seg_of_prefix[8] = {
	[0] = S_ES, [1] = S_CS, [2] = S_SS, [3] = S_DS, [4] = S_FS, [5] = S_GS,
};

/* 0F opcodes that are MMX instructions when no 66/F2/F3 prefix selects their SSE form. */
static bool mmx_opcode(unsigned op)
{
	unsigned o = op & 0xff;

	if ((op >> 8) != 1)
		return false;
	return (o >= 0x60 && o <= 0x6b) || o == 0x6e || o == 0x6f || (o >= 0x70 && o <= 0x76) ||
	       o == 0x7e || o == 0x7f || o == 0xc4 || o == 0xc5 || (o >= 0xd1 && o <= 0xd5) ||
	       (o >= 0xd7 && o <= 0xe5) || (o >= 0xe7 && o <= 0xef) || (o >= 0xf1 && o <= 0xfe);
}

int bt_decode_bytes(const uint8_t *buf, unsigned avail, unsigned code_size, struct bt_insn *i)
{
	struct cursor c = { buf, avail, 0, 1 };
	unsigned rex = 0, b, op, rep = 0, seg = S_NR;
	bool opsz = false, adsz = false, lock = false;
	const struct opdesc *d;
	uint32_t fmt;

	memset(i, 0, sizeof(*i));
	i->base = i->index = BT_NOREG;
	i->rm = BT_NOREG;

	for (;;) {
		b = (unsigned)take(&c, 1);
		if (c.err != 1)
			return c.err;
		switch (b) {
		case 0x26: case 0x2e: case 0x36: case 0x3e:
			/* ES/CS/SS/DS overrides do nothing in 64-bit mode */
			if (code_size != 8)
				seg = seg_of_prefix[(b >> 3) & 3];
			rex = 0;
			continue;
		case 0x64: case 0x65:
			seg = seg_of_prefix[b - 0x60];
			rex = 0;
			continue;
		case 0x66: opsz = true; rex = 0; continue;
		case 0x67: adsz = true; rex = 0; continue;
		case 0xf0: lock = true; rex = 0; continue;
		case 0xf2: case 0xf3: rep = b; rex = 0; continue;
		}
		if (code_size == 8 && (b & 0xf0) == 0x40) {
			rex = b;	/* only counts if the opcode follows directly */
			continue;
		}
		break;
	}

	if (rex)
		i->flags |= BI_REX;
	op = b;
	if (b == 0x0f) {
		b = (unsigned)take(&c, 1);
		op = 0x100 | b;
		d = &map2[b];
	} else {
		d = &map1[b];
	}
	if (c.err != 1)
		return c.err;
	i->op = (uint16_t)op;
	fmt = d->fmt;

	/* Opcodes whose meaning depends on the mode or on prefixes. */
	if (op == 0x63) {
		static const struct opdesc movsxd = E(H(movsxd), F_M), arpl = E(S(arpl), F_M);
		d = code_size == 8 ? &movsxd : &arpl;
		fmt = d->fmt;
	} else if (op == 0x90 && !(rex & 1)) {
		static const struct opdesc nop = E(H(nop), 0);
		d = &nop;	/* also PAUSE (F3 90); XCHG eAX,eAX must not zero-extend */
		fmt = d->fmt;
	} else if (op == 0xc4 || op == 0xc5) {
		if (code_size == 8)
			return BT_DEC_UD;	/* VEX: AVX is not advertised */
	}

	if ((fmt & F_I64) && code_size == 8)
		return BT_DEC_UD;

	unsigned mod = 3, reg = 0, rm = 0;
	if (fmt & F_M) {
		unsigned modrm = (unsigned)take(&c, 1);
		if (c.err != 1)
			return c.err;
		mod = modrm >> 6;
		reg = (modrm >> 3) & 7;
		rm = modrm & 7;
		if (fmt & F_MODREG)
			mod = 3;
		if (fmt & F_GRP) {
			d = &d->grp[reg];
			fmt = (fmt & ~F_GRP) | d->fmt;
		} else if (op == 0x101) {
			d = mod == 3 ? group7_reg(reg, rm, code_size) : &grp7_mem[reg];
			fmt |= d->fmt;
		} else if (op == 0x1ae) {
			d = mod == 3 ? group15_reg(reg) : &grp15_mem[reg];
			fmt |= d->fmt;
		}
		if ((fmt & F_MEMONLY) && mod == 3)
			return BT_DEC_UD;
	}
	if ((fmt & F_UD) || !d->fn)	/* table holes are invalid opcodes too */
		return BT_DEC_UD;

	/* Sizes. */
	unsigned w = rex & 8;
	if (fmt & F_SSE) {
		i->mandatory = (uint8_t)(rep ? rep : opsz ? 0x66 : 0);
		if (rep)
			rep = 0;
		else
			opsz = false;
	}
	if (code_size == 8) {
		i->addrsize = adsz ? 4 : 8;
		if (w || (fmt & F_F64))
			i->opsize = 8;
		else if (fmt & F_D64)
			i->opsize = opsz ? 2 : 8;
		else
			i->opsize = opsz ? 2 : 4;
	} else {
		i->addrsize = (uint8_t)((code_size == 2) != adsz ? 2 : 4);
		i->opsize = (uint8_t)((code_size == 2) != opsz ? 2 : 4);
		if (fmt & F_O32)
			i->opsize = 4;
	}
	if (fmt & F_B)
		i->opsize = 1;
	if (fmt & F_SSE)
		i->opsize = w ? 8 : 4;

	/* Operands. */
	i->seg = S_DS;
	if (fmt & F_M) {
		i->reg = (uint8_t)(reg | ((rex & 4) << 1));
		if (mod == 3)
			i->rm = (uint8_t)(rm | ((rex & 1) << 3));
		else
			decode_mem(&c, i, mod, rm, rex, code_size);
	} else if (fmt & F_RMREG) {
		i->rm = (uint8_t)((op & 7) | ((rex & 1) << 3));
	} else if (fmt & F_ACC) {
		i->rm = R_RAX;
	}
	if (seg != S_NR)
		i->seg = (uint8_t)seg;

	switch (fmt >> F_IMM_SHIFT) {
	case I_B: i->imm = take(&c, 1); break;
	case I_BS: i->imm = (uint64_t)take_signed(&c, 1); break;
	case I_W: i->imm = take(&c, 2); break;
	case I_Z: i->imm = (uint64_t)take_signed(&c, i->opsize == 2 ? 2 : 4); break;
	case I_V: i->imm = take(&c, i->opsize); break;
	case I_WB: i->imm = take(&c, 2); i->imm2 = take(&c, 1); break;
	case I_AP: i->imm = take(&c, i->opsize == 2 ? 2 : 4); i->imm2 = take(&c, 2); break;
	case I_O: i->imm = take(&c, i->addrsize); break;
	}
	if (fmt & F_ONE)
		i->imm = 1;
	if (c.err != 1)
		return c.err;

	if (lock) {
		if (!(fmt & F_LOCK) || !(i->flags & BI_MEM))
			return BT_DEC_UD;
		i->flags |= BI_LOCK;
	}
	if (rep == 0xf3)
		i->flags |= BI_REP;
	else if (rep == 0xf2)
		i->flags |= BI_REPNE;
	if (fmt & F_END)
		i->flags |= BI_ENDS_BLOCK;
	i->fn = (fmt & F_SSE) && !i->mandatory && mmx_opcode(op) ? bt_h_mmx : d->fn;
	i->len = (uint8_t)c.pos;
	return (int)c.pos;
}

int bt_decode(struct bt_cpu *cpu, uint64_t lin, struct bt_insn *i)
{
	uint8_t buf[15];
	uint64_t gpa;
	unsigned off = lin & (BT_PAGE - 1), n = BT_PAGE - off < 15 ? BT_PAGE - off : 15;
	const uint8_t *page = bt_fetch_page(cpu, lin, &gpa);
	int r;

	memcpy(buf, page + off, n);
	r = bt_decode_bytes(buf, n, cpu->code_size, i);
	if (r == BT_DEC_MORE) {
		uint64_t next = lin + n;
		if (cpu->mode != BT_MODE_LONG)
			next &= 0xffffffffull;
		page = bt_fetch_page(cpu, next, &gpa);
		memcpy(buf + n, page, 15 - n);
		r = bt_decode_bytes(buf, 15, cpu->code_size, i);
	}
	if (r == BT_DEC_GP)
		bt_raise(cpu, EXC_GP, 0);
	if (r <= 0)
		bt_raise_noerr(cpu, EXC_UD);
	return r;
}
