/* A tiny x86-64 encoder for the bt translator: just the instruction forms translate.c emits.
 *
 * Operands are host registers (enum hreg) or memory [base + index * 2^scale + disp32]. Every
 * emitter appends to a struct emit; the translator reserves room for a whole block first, so
 * emitters do not check the end (em_room says whether the worst case still fits).
 */
#ifndef VMON_BT_EMIT_H
#define VMON_BT_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum hreg { H_RAX, H_RCX, H_RDX, H_RBX, H_RSP, H_RBP, H_RSI, H_RDI,
	    H_R8, H_R9, H_R10, H_R11, H_R12, H_R13, H_R14, H_R15, H_NONE = -1 };

struct emit {
	uint8_t *p;		/* next byte */
	uint8_t *end;
};

/* r/m operand: a register (reg >= 0) or memory. */
struct em_rm {
	int8_t reg;
	int8_t base, index;	/* H_NONE if absent */
	uint8_t scale;		/* 0..3 */
	int32_t disp;
};

static inline struct em_rm em_r(int reg)
{
	return (struct em_rm){ .reg = (int8_t)reg, .base = H_NONE, .index = H_NONE };
}

static inline struct em_rm em_m(int base, int32_t disp)
{
	return (struct em_rm){ .reg = H_NONE, .base = (int8_t)base, .index = H_NONE, .disp = disp };
}

static inline struct em_rm em_mx(int base, int index, unsigned scale, int32_t disp)
{
	return (struct em_rm){ .reg = H_NONE, .base = (int8_t)base, .index = (int8_t)index,
			       .scale = (uint8_t)scale, .disp = disp };
}

/* Condition codes as in Jcc/SETcc/CMOVcc's low nibble. */
enum { CC_O, CC_NO, CC_B, CC_AE, CC_E, CC_NE, CC_BE, CC_A,
       CC_S, CC_NS, CC_P, CC_NP, CC_L, CC_GE, CC_LE, CC_G };

/* ALU operations as in opcodes 0x00-0x3f and group 1's /digit. */
enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

/* Shift group 2's /digit. */
enum { SH_ROL, SH_ROR, SH_RCL, SH_RCR, SH_SHL, SH_SHR, SH_SAL, SH_SAR };

static inline bool em_room(const struct emit *e, size_t n) { return (size_t)(e->end - e->p) >= n; }

void em_byte(struct emit *e, uint8_t b);
void em_u32(struct emit *e, uint32_t v);

/* Generic form: [66] [REX] opcode (1-3 bytes, e.g. 0x0fb6) ModRM [SIB] [disp] for an operand of
 * size bytes (1: byte registers, REX added for SPL..DIL; 2: 66 prefix; 8: REX.W). reg is the
 * ModRM.reg register or /digit. Immediates, if any, follow (em_byte / em_u32). */
void em_op(struct emit *e, unsigned size, uint32_t opcode, int reg, struct em_rm rm);

/* mov reg, imm (the shortest form that gives the 64-bit value). */
void em_mov_imm(struct emit *e, int reg, uint64_t imm);
/* mov reg, imm64 always in its 10-byte form (the immediate is patched later). */
void em_mov_imm64(struct emit *e, int reg, uint64_t imm);
/* op rm, imm for ALU_* (imm sign-extended to size; 8-bit form when it fits). */
void em_alu_imm(struct emit *e, unsigned size, unsigned op, struct em_rm rm, int32_t imm);
/* shift rm by an immediate count (SH_*). */
void em_shift_imm(struct emit *e, unsigned size, unsigned op, struct em_rm rm, uint8_t count);
/* mov dword/qword [mem], imm32 (sign-extended for size 8). */
void em_store_imm(struct emit *e, unsigned size, struct em_rm rm, int32_t imm);
void em_push(struct emit *e, int reg);
void em_pop(struct emit *e, int reg);
void em_ret(struct emit *e);
/* call an absolute host address (through rax: the cache is not within 2 GiB of the binary). */
void em_call(struct emit *e, const void *fn);
/* setcc reg8 (reg 0-3 only: AL..BL). */
void em_setcc(struct emit *e, unsigned cc, int reg);
/* reg (rax..rbx) = 1 if host condition cc holds, else 0: SETcc, then MOVZX of the low byte. */
void em_setcc_zx(struct emit *e, unsigned cc, int reg);

/* Forward jumps: emit with a zero rel32 and patch when the target is known. */
uint8_t *em_jcc(struct emit *e, unsigned cc);
uint8_t *em_jmp(struct emit *e);
void em_patch(uint8_t *rel32, const uint8_t *target);
/* jmp to a known (backward or forward) address. */
void em_jmp_to(struct emit *e, const uint8_t *target);
void em_jcc_to(struct emit *e, unsigned cc, const uint8_t *target);

#endif
