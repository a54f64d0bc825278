/* Random instruction sequences from an encoding table of the integer ISA.
 *
 * Memory operands address the data page through RBP (set to its middle, never a destination), RSP
 * points into the same page for PUSH/POP, and string instructions get RSI/RDI/RCX set up right
 * before them. The generator tracks which arithmetic flags are architecturally undefined, keeps
 * instructions that read flags from seeing undefined ones (a CMP defines them first), and reports
 * what is still undefined at the end so the comparison skips it.
 *
 * Besides straight-line code there are forward branches (Jcc, JMP, LOOPcc, JrCXZ) over short
 * bodies, CALL/RET and ENTER/LEAVE around bodies, PUSHF/POPF, and BT with register offsets into
 * memory; undef_at is kept per instruction (mark()) so faults inside those chunks compare the
 * right flags. */
#include <string.h>

#include "cpu_state.h"
#include "difftest.h"
#include "gen.h"

uint64_t rnd(struct gen *g)
{
	/* xorshift64*: deterministic per seed, so a seed is a reproducer. */
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return g->rng * 0x2545f4914f6cdd1dull;
}

unsigned pick(struct gen *g, unsigned n) { return (unsigned)(rnd(g) % n); }

void emit(struct gen *g, uint8_t b)
{
	if (g->c->code_len < DT_CODE_MAX)
		g->c->code[g->c->code_len++] = b;
}

void emit_imm(struct gen *g, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		emit(g, (uint8_t)(v >> (8 * i)));
}

/* A register we may overwrite: not RSP (stack) or RBP (data base). */
int dest_reg(struct gen *g)
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

static struct operand mem_operand(struct gen *g, int size)
{
	struct operand o = { .mem = true };
	int d = (int)pick(g, 240) - 120;
	o.disp = (int8_t)(d & ~(size - 1));
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

/* An instruction starts at the current position: the bytes since the previous mark belong to
 * instructions that saw mark_undef (a fault there leaves exactly those flags undefined). A chunk
 * of several instructions marks each one, so undef_at stays exact inside it. */
void mark(struct gen *g)
{
	for (size_t o = g->mark_pos; o < g->c->code_len; o++)
		g->c->undef_at[o] = (uint16_t)g->mark_undef;
	g->mark_pos = g->c->code_len;
	g->mark_undef = g->undef;
}

/* Make the flags an instruction reads defined first. */
void need_flags(struct gen *g, uint32_t reads)
{
	if (g->undef & reads) {
		mark(g);
		emit(g, 0x39);		/* cmp eax, eax -> defines all six */
		emit(g, 0xc0);
		g->undef = 0;
		mark(g);
	}
}

void sets(struct gen *g, uint32_t defined, uint32_t undefined)
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

	if (kind == 4 && g->in_body)
		kind = 0;

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
	mark(g);
	bool down = pick(g, 2);		/* DF=1: the copy runs towards lower addresses */
	if (down)
		emit(g, 0xfd);		/* std */
	if (rep)
		emit(g, rep == 1 ? 0xf3 : 0xf2);
	if ((op & 1) && pick(g, 3) == 0)
		emit(g, pick(g, 2) ? 0x66 : 0x48);
	emit(g, op);
	if (down)
		emit(g, 0xfc);		/* cld: the code after the sequence expects DF=0 */
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

/* ---- Wider coverage: forms the generators above do not produce -------------------------- */

/* MOVSXD (63 /r): sign-extends with REX.W, a plain 32-bit move (zero-extending) without. */
static void gen_movsxd(struct gen *g)
{
	int size = pick(g, 3) ? 8 : 4;
	bool rex8 = false;
	struct operand rm = rm_operand(g, 4, &rex8);
	uint8_t opc = 0x63;
	emit_modrm(g, size, &opc, 1, dest_reg(g), rm, false);
}

/* XCHG rAX, r (90+r; 90 without REX.B is NOP even for 32 bits, 66 90 / 48 90 too). */
static void gen_xchg_acc(struct gen *g)
{
	int size = rand_size_nb(g), r = dest_reg(g);
	if (size == 2)
		emit(g, 0x66);
	if (size == 8 || (r & 8) || pick(g, 4) == 0)
		emit(g, (uint8_t)(0x40 | (size == 8 ? 8 : 0) | ((r & 8) ? 1 : 0)));
	emit(g, (uint8_t)(0x90 + (r & 7)));
}

/* CBW/CWDE/CDQE and CWD/CDQ/CQO under prefix combinations: REX.W beats 66, but a REX not
 * immediately before the opcode is ignored. */
static void gen_convert(struct gen *g)
{
	static const uint8_t pfx[][2] = { { 0x66, 0 }, { 0x48, 0 }, { 0x66, 0x48 }, { 0x48, 0x66 },
					   { 0x66, 0x66 }, { 0x40, 0 } };
	int w = (int)pick(g, 7);
	if (w < 6) {
		emit(g, pfx[w][0]);
		if (pfx[w][1])
			emit(g, pfx[w][1]);
	}
	emit(g, (uint8_t)(0x98 + pick(g, 2)));
}

/* A signed bit offset in a register, bounded so the addressed word stays in the data page
 * whatever RBP-based frame (ENTER) we are in: +-1000 bits is +-125 bytes. */
static int bit_offset_reg(struct gen *g)
{
	int r = dest_reg(g);
	int32_t off = (int32_t)pick(g, 2001) - 1000;
	emit(g, (uint8_t)(0x48 | ((r & 8) ? 1 : 0)));	/* mov r64, simm32 */
	emit(g, 0xc7);
	emit(g, (uint8_t)(0xc0 | (r & 7)));
	emit_imm(g, (uint32_t)off, 4);
	mark(g);
	return r;
}

/* BT/BTS/BTR/BTC m, r: the register's offset reaches words outside the operand itself. */
static void gen_bt_mem_reg(struct gen *g)
{
	int size = rand_size_nb(g), op = (int)pick(g, 4), r = bit_offset_reg(g);
	struct operand rm = mem_operand(g, size);
	uint8_t opc[] = { 0x0f, (uint8_t)(0xa3 + op * 8) };
	if (op && pick(g, 2))
		emit(g, 0xf0);	/* LOCK */
	emit_modrm(g, size, opc, 2, r, rm, false);
	sets(g, CF, OF | SF | AF | PF);
}

/* Assorted forms: MOV imm (B8+r incl. imm64, C6/C7), TEST, accumulator-immediate ALU forms,
 * LOCKed ALU/NOT/NEG/INC/DEC on memory, PUSH imm / PUSH m / POP m pairs. */
static void gen_misc(struct gen *g)
{
	bool rex8 = false;
	int size = rand_size(g);

	switch (pick(g, 7)) {
	case 0: {	/* mov r, imm (64-bit immediate with REX.W) */
		int r = dest_reg(g);
		if (size == 1 && !(r & 8))
			r &= 3;	/* AL..BL: without REX, 4-7 would be AH..BH (SPL.. with one) */
		if (size == 2)
			emit(g, 0x66);
		if (size == 8 || (r & 8))
			emit(g, (uint8_t)(0x40 | (size == 8 ? 8 : 0) | ((r & 8) ? 1 : 0)));
		emit(g, (uint8_t)((size == 1 ? 0xb0 : 0xb8) + (r & 7)));
		emit_imm(g, rnd(g), size == 8 ? 8 : size);
		break;
	}
	case 1: {	/* mov r/m, imm */
		struct operand rm = rm_operand(g, size, &rex8);
		uint8_t opc = size == 1 ? 0xc6 : 0xc7;
		emit_modrm(g, size, &opc, 1, 0, rm, rex8);
		emit_imm(g, rnd(g), size == 1 ? 1 : size == 2 ? 2 : 4);
		break;
	}
	case 2: {	/* test r/m, r / r/m, imm / acc, imm */
		int form = (int)pick(g, 3);
		if (form == 2) {
			if (size == 2)
				emit(g, 0x66);
			if (size == 8)
				emit(g, 0x48);
			emit(g, size == 1 ? 0xa8 : 0xa9);
			emit_imm(g, rnd(g), size == 1 ? 1 : size == 2 ? 2 : 4);
		} else {
			struct operand rm = rm_operand(g, size, &rex8);
			uint8_t opc = form ? (size == 1 ? 0xf6 : 0xf7) : (size == 1 ? 0x84 : 0x85);
			emit_modrm(g, size, &opc, 1, form ? 0 : reg_field_for(g, size, &rex8), rm, rex8);
			if (form)
				emit_imm(g, rnd(g), size == 1 ? 1 : size == 2 ? 2 : 4);
		}
		sets(g, ALL, AF);
		break;
	}
	case 3: {	/* add/or/adc/sbb/and/sub/xor/cmp al/ax/eax/rax, imm */
		int op = (int)pick(g, 8);
		if (op == 2 || op == 3)
			need_flags(g, CF);
		if (size == 2)
			emit(g, 0x66);
		if (size == 8)
			emit(g, 0x48);
		emit(g, (uint8_t)(op * 8 + (size == 1 ? 4 : 5)));
		emit_imm(g, rnd(g), size == 1 ? 1 : size == 2 ? 2 : 4);
		sets(g, ALL, (op == 1 || op == 4 || op == 6) ? AF : 0);
		break;
	}
	case 4: {	/* LOCK op m, r / LOCK op m, imm (no CMP: it cannot be locked) */
		int op = (int)pick(g, 7);
		struct operand rm = mem_operand(g, size);
		if (op == 2 || op == 3)
			need_flags(g, CF);
		emit(g, 0xf0);
		if (pick(g, 2)) {
			uint8_t opc = (uint8_t)(op * 8 + (size == 1 ? 0 : 1));
			emit_modrm(g, size, &opc, 1, reg_field_for(g, size, &rex8), rm, rex8);
		} else {
			uint8_t opc = size == 1 ? 0x80 : 0x81;
			emit_modrm(g, size, &opc, 1, op, rm, rex8);
			emit_imm(g, rnd(g), size == 1 ? 1 : size == 2 ? 2 : 4);
		}
		sets(g, ALL, (op == 1 || op == 4 || op == 6) ? AF : 0);
		break;
	}
	case 5: {	/* LOCK not/neg/inc/dec m */
		struct operand rm = mem_operand(g, size);
		int w = (int)pick(g, 4);
		uint8_t opc = w < 2 ? (size == 1 ? 0xf6 : 0xf7) : (size == 1 ? 0xfe : 0xff);
		emit(g, 0xf0);
		emit_modrm(g, size, &opc, 1, w < 2 ? 2 + w : w - 2, rm, rex8);
		if (w == 1)
			sets(g, ALL, 0);
		else if (w >= 2)
			sets(g, ALL & ~CF, 0);
		break;
	}
	default: {	/* push imm8/imm32 or push m, then pop m or pop r: balanced */
		struct operand rm = mem_operand(g, 8);
		uint8_t op;
		switch (pick(g, 3)) {
		case 0: emit(g, 0x6a); emit_imm(g, rnd(g), 1); break;
		case 1: emit(g, 0x68); emit_imm(g, rnd(g), 4); break;
		default:
			op = 0xff;
			emit_modrm(g, 4, &op, 1, 6, rm, false);	/* 64-bit by default */
			break;
		}
		mark(g);
		rm = rm_operand(g, 8, &rex8);
		op = 0x8f;
		emit_modrm(g, 4, &op, 1, 0, rm, false);
		break;
	}
	}
}

/* PUSHF, and POPF of the current flags with some bits flipped: at CPL3 with IOPL 0, IF and
 * IOPL stay as they are; ID, DF and the arithmetic flags change. TF (single-step), AC
 * (alignment checks, on under Linux's CR0.AM) and NT (see DT_SYS_FLAGS) are left alone. */
static void gen_pushf(struct gen *g)
{
	need_flags(g, ALL);	/* PUSHF stores them to memory */
	if (g->in_body || pick(g, 2)) {
		uint32_t flip = (uint32_t)rnd(g) & (ALL | RFLAGS_DF | RFLAGS_IF | RFLAGS_IOPL |
						    RFLAGS_ID);
		if (pick(g, 4) == 0)
			flip &= ~(uint32_t)RFLAGS_DF;
		emit(g, 0x9c);					/* pushfq */
		mark(g);
		emit(g, 0x48); emit(g, 0x81); emit(g, 0x34); emit(g, 0x24);	/* xor qword [rsp], imm32 */
		emit_imm(g, flip, 4);
		mark(g);
		emit(g, 0x9d);					/* popfq */
		sets(g, ALL, 0);
		return;
	}
	if (pick(g, 4) == 0)
		emit(g, 0x66);	/* 16-bit PUSHF */
	emit(g, 0x9c);
}

/* XLAT: AL = [RBX + AL], with RBX pointed into the data page. */
static void gen_xlat(struct gen *g)
{
	emit(g, 0x48); emit(g, 0x8d); emit(g, 0x5d); emit(g, (uint8_t)(pick(g, 240) - 120));
	mark(g);
	if (pick(g, 3) == 0)
		emit(g, 0x48);
	emit(g, 0xd7);
}

static void gen_body_insn(struct gen *g);

/* A body of one to three instructions from the simple generators; returns its length. */
static size_t gen_body(struct gen *g)
{
	size_t start = g->c->code_len;
	bool outer = g->in_body;
	int n = 1 + (int)pick(g, 3);

	g->in_body = true;
	for (int k = 0; k < n; k++) {
		mark(g);
		gen_body_insn(g);
	}
	mark(g);
	g->in_body = outer;
	return g->c->code_len - start;
}

/* Forward branches over a body (so every sequence still ends): Jcc rel8/rel32, JMP rel8/rel32,
 * LOOP/LOOPE/LOOPNE, JRCXZ/JECXZ (ECX with 67). Bodies are at most three instructions of at
 * most ~20 bytes, well inside rel8. The flags after the join are undefined if either path left
 * them so. */
static void gen_branch(struct gen *g)
{
	int kind = (int)pick(g, 4);
	size_t disp_at, len;
	bool rel32 = false;
	uint32_t before;

	if (kind >= 2 && pick(g, 2)) {	/* a small ECX so loops and JRCXZ go both ways */
		emit(g, 0xb9);
		emit_imm(g, pick(g, 3), 4);
		mark(g);
	}
	switch (kind) {
	case 0:
		need_flags(g, ALL);
		if (pick(g, 3) == 0) {
			emit(g, 0x0f);
			emit(g, (uint8_t)(0x80 + pick(g, 16)));
			rel32 = true;
		} else {
			emit(g, (uint8_t)(0x70 + pick(g, 16)));
		}
		break;
	case 1:
		rel32 = pick(g, 2);
		emit(g, rel32 ? 0xe9 : 0xeb);
		break;
	case 2: {
		int op = (int)pick(g, 3);	/* loopne, loope, loop */
		if (op < 2)
			need_flags(g, ZF);
		if (pick(g, 2))
			emit(g, 0x67);
		emit(g, (uint8_t)(0xe0 + op));
		break;
	}
	default:
		if (pick(g, 2))
			emit(g, 0x67);
		emit(g, 0xe3);
		break;
	}
	before = g->undef;
	disp_at = g->c->code_len;
	emit_imm(g, 0, rel32 ? 4 : 1);
	len = gen_body(g);
	for (int b = 0; b < (rel32 ? 4 : 1); b++)
		g->c->code[disp_at + b] = (uint8_t)(len >> (8 * b));
	g->undef |= before;
}

/* CALL/RET through a body placed before the call site:
 *	jmp L0; L1: body; ret [imm16]; L0: call L1; ...
 * Execution order (call, body, ret) matches generation order except for the CALL itself,
 * which runs with the flags from before the body. */
static void gen_call(struct gen *g)
{
	size_t jmp_at, l1;
	uint32_t before;
	int32_t rel;

	mark(g);
	before = g->undef;
	emit(g, 0xe9);
	jmp_at = g->c->code_len;
	emit_imm(g, 0, 4);
	l1 = g->c->code_len;
	gen_body(g);
	if (pick(g, 4) == 0) {
		emit(g, 0xc2);		/* ret imm16: pops 8 more bytes */
		emit_imm(g, 8, 2);
	} else {
		emit(g, 0xc3);
	}
	rel = (int32_t)(g->c->code_len - (jmp_at + 4));
	for (int b = 0; b < 4; b++)
		g->c->code[jmp_at + b] = (uint8_t)((uint32_t)rel >> (8 * b));
	mark(g);
	g->mark_undef = before;
	emit(g, 0xe8);
	rel = (int32_t)l1 - (int32_t)(g->c->code_len + 4);
	emit_imm(g, (uint32_t)rel, 4);
	mark(g);
}

/* ENTER size, level ... LEAVE: RBP moves into the stack area for the body, which keeps
 * addressing memory through it. */
static void gen_enter(struct gen *g)
{
	mark(g);
	emit(g, 0xc8);
	emit_imm(g, pick(g, 9) * 8 + (pick(g, 4) == 0 ? pick(g, 8) : 0), 2);
	emit_imm(g, pick(g, 4) ? 0 : pick(g, 4), 1);
	gen_body(g);
	emit(g, 0xc9);
}

/* What a body may hold: no nested bodies, no unbalanced stack moves. */
static void gen_body_insn(struct gen *g)
{
	static void (*const gens[])(struct gen *) = {
		gen_alu, gen_alu_imm, gen_shift, gen_unary, gen_incdec, gen_imul, gen_bitops,
		gen_bsf, gen_cond, gen_mov, gen_string, gen_movsxd, gen_xchg_acc, gen_convert,
		gen_bt_mem_reg, gen_misc, gen_pushf, gen_xlat,
	};
	gens[pick(g, sizeof(gens) / sizeof(gens[0]))](g);
}

/* The FNINIT x87 state (empty stack) and the given MXCSR; XMM registers zero. */
void dt_fx_init(struct dt_case *c, uint32_t mxcsr)
{
	const uint16_t fcw = 0x37f;

	memset(c->fx, 0, sizeof(c->fx));
	memcpy(c->fx + DT_FX_FCW, &fcw, 2);
	memcpy(c->fx + DT_FX_MXCSR, &mxcsr, 4);
}

/* The integer generators, weighted; also what the SSE/x87 generator mixes in. */
static void (*const int_gens[])(struct gen *) = {
	gen_alu, gen_alu, gen_alu_imm, gen_alu_imm, gen_shift, gen_shift, gen_unary,
	gen_incdec, gen_imul, gen_bitops, gen_bsf, gen_cond, gen_cond, gen_mov, gen_mov,
	gen_mov, gen_string, gen_movsxd, gen_xchg_acc, gen_convert, gen_bt_mem_reg,
	gen_misc, gen_misc, gen_pushf, gen_xlat, gen_branch, gen_branch, gen_call, gen_enter,
};

void gen_int_insn(struct gen *g)
{
	int_gens[pick(g, sizeof(int_gens) / sizeof(int_gens[0]))](g);
}

/* Initial registers, flags and data page; the x87/SSE state in its FNINIT / default form. */
void gen_begin(struct gen *g, struct dt_case *c, uint64_t seed)
{
	*g = (struct gen){ .c = c, .rng = seed * 0x9e3779b97f4a7c15ull + 1 };
	memset(c, 0, sizeof(*c));
	dt_fx_init(c, 0x1f80);
	for (int i = 0; i < 16; i++)
		c->gpr[i] = pick(g, 4) == 0 ? pick(g, 256) : rnd(g) >> (pick(g, 4) * 16);
	c->gpr[R_RBP] = DT_DATA_VA + DT_PAGE / 2;
	c->gpr[R_RSP] = DT_DATA_VA + DT_PAGE - 256;
	c->rflags = 0x202 | (rnd(g) & (DT_ARITH_FLAGS | (pick(g, 4) == 0 ? DT_DF : 0)));
	/* ID starts either way (native.c sets it with a POPF: ptrace cannot); NT stays 0. */
	if (pick(g, 2))
		c->rflags |= RFLAGS_ID;
	for (int i = 0; i < DT_PAGE; i += 8) {
		uint64_t v = rnd(g);
		memcpy(&c->data[i], &v, 8);
	}
}

/* The final HLT (#GP at CPL3 ends the run) and what is undefined there. */
void gen_end(struct gen *g)
{
	struct dt_case *c = g->c;

	mark(g);
	c->undef_at[c->code_len] = (uint16_t)g->undef;
	c->code[c->code_len++] = 0xf4;
}

void dt_generate(struct dt_case *c, uint64_t seed, int ninsns)
{
	struct gen g;

	gen_begin(&g, c, seed);
	for (c->ninsns = 0; c->ninsns <= ninsns && c->code_len < DT_CODE_MAX - 256; c->ninsns++) {
		mark(&g);
		if (c->ninsns < ninsns)
			gen_int_insn(&g);
		else if (pick(&g, 8) == 0)
			gen_fault(&g);
	}
	gen_end(&g);
}
