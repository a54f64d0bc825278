/* x86-64 encoder (Intel SDM Vol. 2, 2.1-2.2: prefixes, REX, ModRM, SIB). */
#include <string.h>

#include "engine/bt/jit/emit.h"

void em_byte(struct emit *e, uint8_t b)
{
	*e->p++ = b;
}

void em_u32(struct emit *e, uint32_t v)
{
	memcpy(e->p, &v, 4);
	e->p += 4;
}

static void em_u64(struct emit *e, uint64_t v)
{
	memcpy(e->p, &v, 8);
	e->p += 8;
}

static bool fits8(int32_t v) { return v >= -128 && v <= 127; }

/* ModRM (+ SIB + displacement) for reg and rm, low 3 bits only (REX carries the rest). */
static void modrm(struct emit *e, int reg, struct em_rm rm)
{
	unsigned r = (unsigned)reg & 7;

	if (rm.reg >= 0) {
		em_byte(e, (uint8_t)(0xc0 | r << 3 | (rm.reg & 7)));
		return;
	}
	if (rm.base < 0) {		/* [index * s + disp32] or [disp32]: SIB with no base */
		unsigned idx = rm.index < 0 ? 4 : (unsigned)rm.index & 7;
		em_byte(e, (uint8_t)(r << 3 | 4));
		em_byte(e, (uint8_t)(rm.scale << 6 | idx << 3 | 5));
		em_u32(e, (uint32_t)rm.disp);
		return;
	}
	unsigned base = (unsigned)rm.base & 7;
	/* [rbp]/[r13] have no mod 00 form: they take a zero disp8. */
	unsigned mod = rm.disp == 0 && base != 5 ? 0 : fits8(rm.disp) ? 1 : 2;
	if (rm.index >= 0 || base == 4) {	/* rsp/r12 as base need a SIB */
		unsigned idx = rm.index < 0 ? 4 : (unsigned)rm.index & 7;
		em_byte(e, (uint8_t)(mod << 6 | r << 3 | 4));
		em_byte(e, (uint8_t)(rm.scale << 6 | idx << 3 | base));
	} else {
		em_byte(e, (uint8_t)(mod << 6 | r << 3 | base));
	}
	if (mod == 1)
		em_byte(e, (uint8_t)rm.disp);
	else if (mod == 2)
		em_u32(e, (uint32_t)rm.disp);
}

static void prefixes(struct emit *e, unsigned size, int reg, struct em_rm rm)
{
	unsigned rex = 0;

	if (size == 2)
		em_byte(e, 0x66);
	if (size == 8)
		rex |= 8;
	if (reg >= 8)
		rex |= 4;
	if (rm.index >= 8)
		rex |= 2;
	if ((rm.reg >= 0 ? rm.reg : rm.base) >= 8)
		rex |= 1;
	/* Byte registers 4-7 are SPL..DIL only with a REX prefix (else AH..BH). */
	if (size == 1 && ((reg >= 4 && reg < 8) || (rm.reg >= 4 && rm.reg < 8)))
		rex |= 0x40;
	if (rex)
		em_byte(e, (uint8_t)(0x40 | rex));
}

static void opcode_bytes(struct emit *e, uint32_t opcode)
{
	if (opcode > 0xffff)
		em_byte(e, (uint8_t)(opcode >> 16));
	if (opcode > 0xff)
		em_byte(e, (uint8_t)(opcode >> 8));
	em_byte(e, (uint8_t)opcode);
}

void em_op(struct emit *e, unsigned size, uint32_t opcode, int reg, struct em_rm rm)
{
	prefixes(e, size, reg, rm);
	opcode_bytes(e, opcode);
	modrm(e, reg, rm);
}

/* Group opcodes: ModRM.reg is an opcode extension, never a (byte) register. */
static void op_digit(struct emit *e, unsigned size, uint32_t opcode, unsigned digit,
		     struct em_rm rm)
{
	prefixes(e, size, H_NONE, rm);
	opcode_bytes(e, opcode);
	modrm(e, (int)digit, rm);
}

void em_mov_imm(struct emit *e, int reg, uint64_t imm)
{
	if (imm <= 0xffffffffull) {		/* mov r32, imm32 zero-extends */
		if (reg >= 8)
			em_byte(e, 0x41);
		em_byte(e, (uint8_t)(0xb8 + (reg & 7)));
		em_u32(e, (uint32_t)imm);
	} else if ((uint64_t)(int64_t)(int32_t)imm == imm) {
		op_digit(e, 8, 0xc7, 0, em_r(reg));
		em_u32(e, (uint32_t)imm);
	} else {
		em_mov_imm64(e, reg, imm);
	}
}

void em_mov_imm64(struct emit *e, int reg, uint64_t imm)
{
	em_byte(e, reg >= 8 ? 0x49 : 0x48);
	em_byte(e, (uint8_t)(0xb8 + (reg & 7)));
	em_u64(e, imm);
}

void em_alu_imm(struct emit *e, unsigned size, unsigned op, struct em_rm rm, int32_t imm)
{
	if (size == 1) {
		op_digit(e, 1, 0x80, op, rm);
		em_byte(e, (uint8_t)imm);
	} else if (fits8(imm)) {
		op_digit(e, size, 0x83, op, rm);
		em_byte(e, (uint8_t)imm);
	} else {
		op_digit(e, size, 0x81, op, rm);
		if (size == 2) {
			em_byte(e, (uint8_t)imm);
			em_byte(e, (uint8_t)(imm >> 8));
		} else {
			em_u32(e, (uint32_t)imm);
		}
	}
}

void em_shift_imm(struct emit *e, unsigned size, unsigned op, struct em_rm rm, uint8_t count)
{
	op_digit(e, size, size == 1 ? 0xc0 : 0xc1, op, rm);
	em_byte(e, count);
}

void em_store_imm(struct emit *e, unsigned size, struct em_rm rm, int32_t imm)
{
	op_digit(e, size, 0xc7, 0, rm);
	em_u32(e, (uint32_t)imm);
}

void em_push(struct emit *e, int reg)
{
	if (reg >= 8)
		em_byte(e, 0x41);
	em_byte(e, (uint8_t)(0x50 + (reg & 7)));
}

void em_pop(struct emit *e, int reg)
{
	if (reg >= 8)
		em_byte(e, 0x41);
	em_byte(e, (uint8_t)(0x58 + (reg & 7)));
}

void em_ret(struct emit *e)
{
	em_byte(e, 0xc3);
}

void em_call(struct emit *e, const void *fn)
{
	em_mov_imm(e, H_RAX, (uint64_t)(uintptr_t)fn);
	em_byte(e, 0xff);			/* call rax */
	em_byte(e, 0xd0);
}

void em_setcc(struct emit *e, unsigned cc, int reg)
{
	em_byte(e, 0x0f);
	em_byte(e, (uint8_t)(0x90 | cc));
	em_byte(e, (uint8_t)(0xc0 | (reg & 3)));
}

void em_setcc_zx(struct emit *e, unsigned cc, int reg)
{
	em_setcc(e, cc, reg);
	em_op(e, 4, 0x0fb6, reg, em_r(reg));
}

uint8_t *em_jcc(struct emit *e, unsigned cc)
{
	em_byte(e, 0x0f);
	em_byte(e, (uint8_t)(0x80 | cc));
	em_u32(e, 0);
	return e->p - 4;
}

uint8_t *em_jmp(struct emit *e)
{
	em_byte(e, 0xe9);
	em_u32(e, 0);
	return e->p - 4;
}

void em_patch(uint8_t *rel32, const uint8_t *target)
{
	int32_t rel = (int32_t)(target - (rel32 + 4));

	memcpy(rel32, &rel, 4);
}

void em_jmp_to(struct emit *e, const uint8_t *target)
{
	em_patch(em_jmp(e), target);
}

void em_jcc_to(struct emit *e, unsigned cc, const uint8_t *target)
{
	em_patch(em_jcc(e, cc), target);
}
