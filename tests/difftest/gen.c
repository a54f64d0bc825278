/* Random instruction sequences from an encoding table of the integer ISA.
 *
 * Memory operands address the data page through RBP (set to its middle, never a destination), RSP
 * points into the same page for PUSH/POP, and string instructions get RSI/RDI/RCX set up right
 * before them. The generator tracks which arithmetic flags are architecturally undefined, keeps
 * instructions that read flags from seeing undefined ones (a CMP defines them first), and reports
 * what is still undefined at the end so the comparison skips it. */
#include <string.h>

#include "cpu_state.h"
#include "difftest.h"

#define CF 0x001u
#define PF 0x004u
#define AF 0x010u
#define ZF 0x040u
#define SF 0x080u
#define OF 0x800u
#define ALL (CF | PF | AF | ZF | SF | OF)

struct gen {
	struct dt_case *c;
	uint64_t rng;
	uint32_t undef;
};

static uint64_t rnd(struct gen *g)
{
	/* xorshift64*: deterministic per seed, so a seed is a reproducer. */
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return g->rng * 0x2545f4914f6cdd1dull;
}

static unsigned pick(struct gen *g, unsigned n) { return (unsigned)(rnd(g) % n); }

static void emit(struct gen *g, uint8_t b)
{
	if (g->c->code_len < DT_CODE_MAX)
		g->c->code[g->c->code_len++] = b;
}

static void emit_imm(struct gen *g, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		emit(g, (uint8_t)(v >> (8 * i)));
}

/* A register we may overwrite: not RSP (stack) or RBP (data base). */
static int dest_reg(struct gen *g)
{
	static const int regs[] = { R_RAX, R_RCX, R_RDX, R_RBX, R_RSI, R_RDI, R_R8, R_R9,
				    R_R10, R_R11, R_R12, R_R13, R_R14, R_R15 };
	return regs[pick(g, sizeof(regs) / sizeof(regs[0]))];
}

/* 8-bit registers without REX: 4-7 are AH..BH (fine); with REX 4/5 would be SPL/BPL. */
static int dest_reg8(struct gen *g, bool *need_rex)
{
	int r = (int)pick(g, 16);
	if (r == 4 || r == 5) {
		*need_rex = false;	/* AH / CH */
		return r;
	}
	if (r >= 8 || r == 6 || r == 7)
		*need_rex = pick(g, 2) || r >= 8;
	return r;
}

/* Operand size prefixes; size in bytes 1/2/4/8. For size 1 the opcode's low bit is cleared by
 * the caller. */
struct operand {
	bool mem;
	int reg;		/* when !mem */
	int8_t disp;		/* [rbp + disp] when mem */
};

static struct operand rm_operand(struct gen *g, int size, bool *rex8)
{
	struct operand o = { .mem = pick(g, 3) == 0 };
	if (o.mem) {
		int d = (int)pick(g, 240) - 120;
		o.disp = (int8_t)(d & ~(size - 1));
	} else {
		o.reg = size == 1 ? dest_reg8(g, rex8) : dest_reg(g);
	}
	return o;
}

/* prefix(es), REX, opcode bytes, ModRM (+disp8), leaving immediates to the caller. */
static void emit_modrm(struct gen *g, int size, const uint8_t *op, int oplen, int reg,
		       struct operand rm, bool rex8)
{
	uint8_t rex = 0x40;
	if (size == 2)
		emit(g, 0x66);
	if (size == 8)
		rex |= 8;
	if (reg & 8)
		rex |= 4;
	if (!rm.mem && (rm.reg & 8))
		rex |= 1;
	/* A REX prefix turns AH..BH into SPL..DIL: only emit one for 8-bit ops when allowed. */
	if (rex != 0x40 || (size == 1 && rex8))
		emit(g, rex);
	for (int i = 0; i < oplen; i++)
		emit(g, op[i]);
	if (rm.mem) {
		emit(g, (uint8_t)(0x40 | ((reg & 7) << 3) | 5));	/* [rbp + disp8] */
		emit(g, (uint8_t)rm.disp);
	} else {
		emit(g, (uint8_t)(0xc0 | ((reg & 7) << 3) | (rm.reg & 7)));
	}
}

static int rand_size(struct gen *g) { static const int s[] = { 1, 2, 4, 8 }; return s[pick(g, 4)]; }
static int rand_size_nb(struct gen *g) { static const int s[] = { 2, 4, 8 }; return s[pick(g, 3)]; }

/* Make the flags an instruction reads defined first. */
static void need_flags(struct gen *g, uint32_t reads)
{
	if (g->undef & reads) {
		emit(g, 0x39);		/* cmp eax, eax -> defines all six */
		emit(g, 0xc0);
		g->undef = 0;
	}
}

static void sets(struct gen *g, uint32_t defined, uint32_t undefined)
{
	g->undef = (g->undef & ~defined) | undefined;
}

static int reg_field_for(struct gen *g, int size, bool *rex8)
{
	return size == 1 ? dest_reg8(g, rex8) : dest_reg(g);
}

static void gen_alu(struct gen *g)
{
	int size = rand_size(g), op = (int)pick(g, 8);
	bool rex8 = false;
	struct operand rm = rm_operand(g, size, &rex8);
	int reg = reg_field_for(g, size, &rex8);
	uint8_t opc = (uint8_t)(op * 8 + (size == 1 ? 0 : 1) + (pick(g, 2) && !rm.mem ? 2 : 0));
	if (op == 2 || op == 3)
		need_flags(g, CF);
	emit_modrm(g, size, &opc, 1, reg, rm, rex8);
	sets(g, ALL, (op == 1 || op == 4 || op == 6) ? AF : 0);	/* OR/AND/XOR leave AF undefined */
}

static void gen_alu_imm(struct gen *g)
{
	int size = rand_size(g), op = (int)pick(g, 8);
	bool rex8 = false;
	struct operand rm = rm_operand(g, size, &rex8);
	bool imm8 = size != 1 && pick(g, 2);
	uint8_t opc = size == 1 ? 0x80 : imm8 ? 0x83 : 0x81;
	if (op == 2 || op == 3)
		need_flags(g, CF);
	emit_modrm(g, size, &opc, 1, op, rm, rex8);
	emit_imm(g, rnd(g), size == 1 || imm8 ? 1 : size == 2 ? 2 : 4);
	sets(g, ALL, (op == 1 || op == 4 || op == 6) ? AF : 0);
}

static void gen_shift(struct gen *g)
{
	int size = rand_size(g), op = (int)pick(g, 8), form = (int)pick(g, 3);
	bool rex8 = false;
	struct operand rm;
	uint8_t opc;
	unsigned count = 1, bits = (unsigned)size * 8;

	if (op == 6)
		op = 4;		/* SAL alias: not worth the ambiguity */
	rm = rm_operand(g, size, &rex8);
	if (op == 2 || op == 3)
		need_flags(g, CF);
	if (form == 0) {
		opc = size == 1 ? 0xd0 : 0xd1;
	} else if (form == 1) {
		opc = size == 1 ? 0xc0 : 0xc1;
		count = (unsigned)pick(g, 70);
	} else {
		opc = size == 1 ? 0xd2 : 0xd3;
	}
	emit_modrm(g, size, &opc, 1, op, rm, rex8);
	if (form == 1)
		emit_imm(g, count, 1);
	if (form == 2) {
		/* CL unknown here: only add undefinedness, never assume a flag got defined. */
		g->undef |= OF | AF | ((op == 4 || op == 5) && size <= 2 ? CF : 0);
		return;
	}
	count &= size == 8 ? 63 : 31;
	if (count == 0)			/* a masked count of 0 changes no flag */
		return;
	if (op <= 3) {			/* rotates: CF, and OF only for a count of 1 */
		sets(g, CF | (count == 1 ? OF : 0), count == 1 ? 0 : OF);
		return;
	}
	sets(g, CF | PF | ZF | SF | (count == 1 ? OF : 0), AF | (count == 1 ? 0 : OF));
	if (count >= bits && op != 7)	/* SHL/SHR past the operand: CF undefined */
		g->undef |= CF;
}

static void gen_unary(struct gen *g)
{
	/* DIV/IDIV of random operands mostly overflow (#DE): keep them rare so sequences run on. */
	static const int digit[] = { 2, 3, 4, 5, 2, 3, 4, 5, 2, 3, 4, 5, 6, 7 };	/* not neg mul imul div idiv */
	int size = rand_size(g), op = (int)pick(g, sizeof(digit) / sizeof(digit[0]));
	bool rex8 = false;
	struct operand rm = rm_operand(g, size, &rex8);
	uint8_t opc = size == 1 ? 0xf6 : 0xf7;
	emit_modrm(g, size, &opc, 1, digit[op], rm, rex8);
	if (digit[op] == 3)
		sets(g, ALL, 0);
	else if (digit[op] == 4 || digit[op] == 5)
		sets(g, CF | OF, SF | ZF | AF | PF);
	else if (digit[op] >= 6)
		sets(g, 0, ALL);
}

static void gen_incdec(struct gen *g)
{
	int size = rand_size(g);
	bool rex8 = false;
	struct operand rm = rm_operand(g, size, &rex8);
	uint8_t opc = size == 1 ? 0xfe : 0xff;
	emit_modrm(g, size, &opc, 1, (int)pick(g, 2), rm, rex8);
	sets(g, ALL & ~CF, 0);
}

static void gen_imul(struct gen *g)
{
	int size = rand_size_nb(g), form = (int)pick(g, 3);
	bool rex8 = false;
	struct operand rm = rm_operand(g, size, &rex8);
	int reg = dest_reg(g);
	if (form == 0) {
		static const uint8_t op[] = { 0x0f, 0xaf };
		emit_modrm(g, size, op, 2, reg, rm, false);
	} else {
		uint8_t op = form == 1 ? 0x6b : 0x69;
		emit_modrm(g, size, &op, 1, reg, rm, false);
		emit_imm(g, rnd(g), form == 1 ? 1 : size == 2 ? 2 : 4);
	}
	sets(g, CF | OF, SF | ZF | AF | PF);
}

static void gen_bitops(struct gen *g)
{
	int size = rand_size_nb(g), op = (int)pick(g, 4);
	bool rex8 = false;
	struct operand rm = rm_operand(g, size, &rex8);
	if (pick(g, 2) || rm.mem) {
		static const uint8_t opc[] = { 0x0f, 0xba };
		emit_modrm(g, size, opc, 2, 4 + op, rm, false);
		emit_imm(g, pick(g, 256), 1);
	} else {
		uint8_t opc[] = { 0x0f, (uint8_t)(0xa3 + op * 8) };
		emit_modrm(g, size, opc, 2, dest_reg(g), rm, false);
	}
	sets(g, CF, OF | SF | AF | PF);
}

static void gen_bsf(struct gen *g)
{
	int size = rand_size_nb(g);
	bool rex8 = false;
	struct operand rm = rm_operand(g, size, &rex8);
	uint8_t opc[] = { 0x0f, (uint8_t)(0xbc + pick(g, 2)) };
	emit_modrm(g, size, opc, 2, dest_reg(g), rm, false);
	sets(g, ZF, CF | OF | SF | AF | PF);
}

static void gen_cond(struct gen *g)
{
	int cc = (int)pick(g, 16), kind = (int)pick(g, 2);
	bool rex8 = false;
	need_flags(g, ALL);
	if (kind == 0) {
		int size = rand_size_nb(g);
		struct operand rm = rm_operand(g, size, &rex8);
		uint8_t opc[] = { 0x0f, (uint8_t)(0x40 + cc) };
		emit_modrm(g, size, opc, 2, dest_reg(g), rm, false);
	} else {
		struct operand rm = rm_operand(g, 1, &rex8);
		uint8_t opc[] = { 0x0f, (uint8_t)(0x90 + cc) };
		emit_modrm(g, 1, opc, 2, 0, rm, rex8);
	}
}

static void gen_mov(struct gen *g)
{
	int kind = (int)pick(g, 6);
	bool rex8 = false;
	int size = rand_size(g);
	struct operand rm = rm_operand(g, size, &rex8);

	switch (kind) {
	case 0: {	/* mov r/m, r and r, r/m */
		int reg = reg_field_for(g, size, &rex8);
		uint8_t opc = (uint8_t)(0x88 + (size == 1 ? 0 : 1) + (pick(g, 2) ? 2 : 0));
		emit_modrm(g, size, &opc, 1, reg, rm, rex8);
		break;
	}
	case 1: {	/* movzx / movsx */
		int dsize = rand_size_nb(g);
		uint8_t opc[] = { 0x0f, (uint8_t)((pick(g, 2) ? 0xb6 : 0xbe) + (pick(g, 2) ? 1 : 0)) };
		if (!rm.mem && !(opc[1] & 1) && (rm.reg == 4 || rm.reg == 5) && dsize == 8)
			rm.reg = 0;	/* REX.W would make SPL/BPL of AH/CH: harmless but keep it simple */
		emit_modrm(g, dsize, opc, 2, dest_reg(g), rm, false);
		break;
	}
	case 2: {	/* xchg (locked when memory) / xadd / cmpxchg */
		int reg = reg_field_for(g, size, &rex8), which = (int)pick(g, 3);
		if (which == 0) {
			uint8_t opc = size == 1 ? 0x86 : 0x87;
			emit_modrm(g, size, &opc, 1, reg, rm, rex8);
		} else {
			uint8_t opc[] = { 0x0f, (uint8_t)((which == 1 ? 0xc0 : 0xb0) + (size == 1 ? 0 : 1)) };
			if (rm.mem && pick(g, 2))
				emit(g, 0xf0);	/* LOCK */
			emit_modrm(g, size, opc, 2, reg, rm, rex8);
			sets(g, ALL, 0);
		}
		break;
	}
	case 3: {	/* bswap, cbw family, lahf/sahf, flag ops */
		static const uint8_t single[] = { 0x98, 0x99, 0xf5, 0xf8, 0xf9, 0x9e, 0x9f, 0xfc };
		int w = (int)pick(g, 10);
		if (w >= 8) {
			int r = dest_reg(g);
			emit(g, (uint8_t)(0x48 | ((r & 8) ? 1 : 0)) & (pick(g, 2) ? 0xff : 0xf7));
			emit(g, 0x0f);
			emit(g, (uint8_t)(0xc8 + (r & 7)));
			break;
		}
		if (single[w] == 0x9f || single[w] == 0xf5)
			need_flags(g, ALL);
		if (single[w] <= 0x99 && pick(g, 2))
			emit(g, pick(g, 2) ? 0x66 : 0x48);
		emit(g, single[w]);
		if (single[w] == 0x9e)
			sets(g, CF | PF | AF | ZF | SF, 0);
		if (single[w] == 0xf8 || single[w] == 0xf9)
			sets(g, CF, 0);
		break;
	}
	case 4: {	/* push / pop of a register, balanced enough for the stack room */
		int r = dest_reg(g);
		if (r & 8)
			emit(g, 0x41);
		emit(g, (uint8_t)((pick(g, 2) ? 0x50 : 0x58) + (r & 7)));
		break;
	}
	default: {	/* lea with SIB, shld/shrd */
		if (pick(g, 2)) {
			int dsize = rand_size_nb(g), reg = dest_reg(g);
			uint8_t rex = (uint8_t)(0x48 | ((reg & 8) ? 4 : 0));
			if (dsize == 2)
				emit(g, 0x66);
			if (dsize == 8 || (reg & 8))
				emit(g, dsize == 8 ? rex : (uint8_t)(rex & 0xf7));
			emit(g, 0x8d);
			emit(g, (uint8_t)(0x44 | ((reg & 7) << 3)));	/* [base + index*s + disp8] */
			emit(g, (uint8_t)((pick(g, 4) << 6) | (pick(g, 8) << 3) | pick(g, 8)));
			emit(g, (uint8_t)rnd(g));
		} else {
			int dsize = pick(g, 2) ? 4 : 8;
			struct operand o = rm_operand(g, dsize, &rex8);
			uint8_t opc[] = { 0x0f, (uint8_t)(pick(g, 2) ? 0xa4 : 0xac) };
			unsigned cnt = (unsigned)pick(g, 64) & (dsize == 8 ? 63 : 31);
			emit_modrm(g, dsize, opc, 2, dest_reg(g), o, false);
			emit_imm(g, cnt, 1);
			if (cnt)
				sets(g, CF | SF | ZF | PF | (cnt == 1 ? OF : 0), AF | (cnt == 1 ? 0 : OF));
		}
		break;
	}
	}
}

/* String instruction with RSI/RDI inside the data page and a small RCX. */
static void gen_string(struct gen *g)
{
	static const uint8_t ops[] = { 0xa4, 0xa5, 0xaa, 0xab, 0xac, 0xad, 0xa6, 0xa7, 0xae, 0xaf };
	uint8_t op = ops[pick(g, 10)];
	int rep = (int)pick(g, 3);	/* none, F3, F2 */
	/* lea rsi, [rbp + d]; lea rdi, [rbp + d]; mov ecx, n */
	emit(g, 0x48); emit(g, 0x8d); emit(g, 0x75); emit(g, (uint8_t)(pick(g, 64) - 32));
	emit(g, 0x48); emit(g, 0x8d); emit(g, 0x7d); emit(g, (uint8_t)(pick(g, 64) - 32));
	emit(g, 0xb9); emit_imm(g, pick(g, 12), 4);
	if (op == 0xa6 || op == 0xa7 || op == 0xae || op == 0xaf)
		need_flags(g, ALL);	/* REP with RCX=0 leaves the flags as they were */
	if (rep)
		emit(g, rep == 1 ? 0xf3 : 0xf2);
	if ((op & 1) && pick(g, 3) == 0)
		emit(g, pick(g, 2) ? 0x66 : 0x48);
	emit(g, op);
}

/* Things that must fault identically: #UD opcodes, division by zero and overflow. */
static void gen_fault(struct gen *g)
{
	switch (pick(g, 4)) {
	case 0: emit(g, 0x0f); emit(g, 0x0b); break;		/* ud2 */
	case 1: emit(g, (uint8_t)(pick(g, 2) ? 0x27 : 0x37)); break;	/* daa/aaa: #UD in 64-bit */
	case 2: emit(g, 0x31); emit(g, 0xc9); emit(g, 0xf7); emit(g, 0xf1); break;	/* div ecx=0 */
	default:	/* mov eax, 0x80000000; cdq; mov ecx, -1; idiv ecx: quotient overflow */
		emit(g, 0xb8); emit_imm(g, 0x80000000u, 4); emit(g, 0x99);
		emit(g, 0xb9); emit_imm(g, 0xffffffffu, 4); emit(g, 0xf7); emit(g, 0xf9);
		break;
	}
}

void dt_generate(struct dt_case *c, uint64_t seed, int ninsns)
{
	struct gen g = { .c = c, .rng = seed * 0x9e3779b97f4a7c15ull + 1 };
	static void (*const gens[])(struct gen *) = {
		gen_alu, gen_alu, gen_alu_imm, gen_alu_imm, gen_shift, gen_shift, gen_unary,
		gen_incdec, gen_imul, gen_bitops, gen_bsf, gen_cond, gen_cond, gen_mov, gen_mov,
		gen_mov, gen_string,
	};

	memset(c, 0, sizeof(*c));
	for (int i = 0; i < 16; i++)
		c->gpr[i] = pick(&g, 4) == 0 ? pick(&g, 256) : rnd(&g) >> (pick(&g, 4) * 16);
	c->gpr[R_RBP] = DT_DATA_VA + DT_PAGE / 2;
	c->gpr[R_RSP] = DT_DATA_VA + DT_PAGE - 256;
	c->rflags = 0x202 | (rnd(&g) & (DT_ARITH_FLAGS | (pick(&g, 4) == 0 ? DT_DF : 0)));
	for (int i = 0; i < DT_PAGE; i += 8) {
		uint64_t v = rnd(&g);
		memcpy(&c->data[i], &v, 8);
	}
	for (c->ninsns = 0; c->ninsns <= ninsns && c->code_len < DT_CODE_MAX - 64; c->ninsns++) {
		size_t start = c->code_len;
		uint32_t before = g.undef;
		if (c->ninsns < ninsns)
			gens[pick(&g, sizeof(gens) / sizeof(gens[0]))](&g);
		else if (pick(&g, 8) == 0)
			gen_fault(&g);
		for (size_t o = start; o < c->code_len; o++)
			c->undef_at[o] = (uint16_t)before;
	}
	c->undef_at[c->code_len] = (uint16_t)g.undef;
	c->code[c->code_len++] = 0xf4;	/* hlt: #GP at CPL3 ends the run */
}
