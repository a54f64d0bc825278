/* Random SSE/SSE2, x87 and MMX sequences, mixed with the integer generators of gen.c.
 *
 * XMM0-15 start with a mix of float, double and integer patterns, the data page with the same
 * (the special values: signed zeros, denormals, infinities, quiet and signalling NaNs with
 * payloads, integer-conversion limits), MXCSR with all exceptions masked but a random rounding
 * mode, FTZ, DAZ and sticky flags. Memory operands are [rbp + disp8], 16-byte aligned for the
 * aligned forms (a rare misaligned one must #GP on both sides).
 *
 * The x87 stack starts empty (FNINIT); the generator tracks its depth so it neither overflows
 * nor underflows, and loads its values from the data page or the constants. FLDCW switches
 * rounding modes (exceptions stay masked, precision extended).
 *
 * MMX sequences load MM0-7 from the data page or GPRs, run the packed-integer instructions on
 * them and store them back; FLD1 / FLDZ and EMMS in between exercise the aliasing with the x87
 * stack (TOP, tags, the exponent field an MMX write sets). */
#include <string.h>

#include "cpu_state.h"
#include "difftest.h"
#include "gen.h"

static const uint32_t special_f32[] = {
	0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x3fc00000, 0x40200000, 0xc0500000,
	0x3f000000, 0x7f7fffff, 0xff7fffff, 0x00800000, 0x80800000, 0x00000001, 0x007fffff,
	0x80400000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7fc12345, 0x7f800001,
	0x7fa00000, 0xffb00001, 0x4f000000, 0xcf000000, 0x4effffff, 0x5f000000, 0xdf000000,
	0x4b800001, 0x3eaaaaab, 0x0c000000, 0x72000000,
};

static const uint64_t special_f64[] = {
	0x0000000000000000, 0x8000000000000000, 0x3ff0000000000000, 0xbff0000000000000,
	0x3fe0000000000000, 0x4004000000000000, 0xc00a000000000000, 0x7fefffffffffffff,
	0x0010000000000000, 0x8010000000000000, 0x0000000000000001, 0x000fffffffffffff,
	0x8008000000000000, 0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000,
	0xfff8000000000000, 0x7ff8000012345678, 0x7ff0000000000001, 0x7ff4000000000000,
	0xfff4000000000abc, 0x41e0000000000000, 0xc1e0000000000000, 0x41dfffffffe00000,
	0x41dfffffffc00000, 0xc1e0000000100000, 0x43e0000000000000, 0xc3e0000000000000,
	0x3fd5555555555555, 0x4340000000000001, 0x3810000000000000, 0x47f0000000000000,
};

/* A float: special, "ordinary" (exponent near 1, integers, halves) or any bits. */
static uint32_t rand_f32(struct gen *g)
{
	switch (pick(g, 5)) {
	case 0: case 1:
		return special_f32[pick(g, sizeof(special_f32) / sizeof(special_f32[0]))];
	case 2:
		return ((uint32_t)rnd(g) & 0x80000000u) | (uint32_t)(127 - 24 + pick(g, 56)) << 23 |
		       ((uint32_t)rnd(g) & 0x7fffffu & (pick(g, 2) ? 0x7fffffu : 0x7f0000u));
	case 3: {
		float f = (float)((int)pick(g, 2001) - 1000) / (float)(1 << pick(g, 3));
		uint32_t b;
		memcpy(&b, &f, 4);
		return b;
	}
	default:
		return (uint32_t)rnd(g);
	}
}

static uint64_t rand_f64(struct gen *g)
{
	switch (pick(g, 5)) {
	case 0: case 1:
		return special_f64[pick(g, sizeof(special_f64) / sizeof(special_f64[0]))];
	case 2:
		return (rnd(g) & 0x8000000000000000ull) | (uint64_t)(1023 - 60 + pick(g, 120)) << 52 |
		       (rnd(g) & 0xfffffffffffffull & (pick(g, 2) ? ~0ull : 0xffff000000000ull));
	case 3: {
		double d = (double)((int)pick(g, 200001) - 100000) / (double)(1 << pick(g, 3));
		uint64_t b;
		memcpy(&b, &d, 8);
		return b;
	}
	default:
		return rnd(g);
	}
}

/* 16 bytes of floats, doubles or integers. */
static void rand_vec(struct gen *g, uint8_t *p)
{
	switch (pick(g, 4)) {
	case 0:
		for (int k = 0; k < 4; k++) {
			uint32_t v = rand_f32(g);
			memcpy(p + 4 * k, &v, 4);
		}
		break;
	case 1:
		for (int k = 0; k < 2; k++) {
			uint64_t v = rand_f64(g);
			memcpy(p + 8 * k, &v, 8);
		}
		break;
	default:
		for (int k = 0; k < 2; k++) {
			uint64_t v = pick(g, 3) ? rnd(g) : rnd(g) & 0x00ff00ff80017fffull;
			memcpy(p + 8 * k, &v, 8);
		}
		break;
	}
}

/* ---- Encoding ------------------------------------------------------------------------------- */

struct xop {
	bool mem;
	int reg;		/* XMM (or GPR) number when !mem */
	int8_t disp;
};

/* A memory operand of size bytes; aligned to 16 for the aligned forms, rarely not. */
static struct xop xmem(struct gen *g, int size)
{
	struct xop o = { .mem = true };
	int d = (int)pick(g, 240) - 120;

	d &= ~(size - 1);
	if (size == 16 && pick(g, 64) == 0)
		d += 8;		/* a misaligned MOVAPS & co must #GP */
	o.disp = (int8_t)d;
	return o;
}

static struct xop xrm(struct gen *g, int size)
{
	if (pick(g, 3) == 0)
		return xmem(g, size);
	return (struct xop){ .reg = (int)pick(g, 16) };
}

/* [pfx] [REX] 0F op ModRM [disp8]: reg and rm.reg are XMM or GPR numbers. */
static void emit_sse(struct gen *g, uint8_t pfx, bool w, uint8_t op, int reg, struct xop rm)
{
	uint8_t rex = (uint8_t)(0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) |
				(!rm.mem && (rm.reg & 8) ? 1 : 0));
	if (pfx)
		emit(g, pfx);
	if (rex != 0x40 || pick(g, 8) == 0)
		emit(g, rex);
	emit(g, 0x0f);
	emit(g, op);
	if (rm.mem) {
		emit(g, (uint8_t)(0x45 | ((reg & 7) << 3)));
		emit(g, (uint8_t)rm.disp);
	} else {
		emit(g, (uint8_t)(0xc0 | ((reg & 7) << 3) | (rm.reg & 7)));
	}
}

static int xreg(struct gen *g) { return (int)pick(g, 16); }

/* ---- SSE2 integer --------------------------------------------------------------------------- */

static const uint8_t pint_ops[] = {
	0xef, 0xeb, 0xdb, 0xdf, 0xfc, 0xfd, 0xfe, 0xd4, 0xf8, 0xf9, 0xfa, 0xfb, 0x74, 0x75,
	0x76, 0x64, 0x65, 0x66, 0x60, 0x61, 0x62, 0x6c, 0x68, 0x69, 0x6a, 0x6d, 0x63, 0x67,
	0x6b, 0xda, 0xde, 0xea, 0xee, 0xe0, 0xe3, 0xd5, 0xe5, 0xe4, 0xf4, 0xf5, 0xf6, 0xdc,
	0xdd, 0xd8, 0xd9, 0xec, 0xed, 0xe8, 0xe9,
	0xd1, 0xd2, 0xd3, 0xe1, 0xe2, 0xf1, 0xf2, 0xf3,		/* shifts by an XMM count */
};

static void gen_sse_int(struct gen *g)
{
	uint8_t op = pint_ops[pick(g, sizeof(pint_ops) / sizeof(pint_ops[0]))];
	bool shift = (op & 0x0f) >= 1 && (op & 0x0f) <= 3 && op >= 0xd1;
	struct xop rm = xrm(g, 16);

	if (shift && !rm.mem && pick(g, 4)) {
		/* a small count: mov eax, n; movd xmm(rm), eax */
		emit(g, 0xb8);
		emit_imm(g, pick(g, 70), 4);
		mark(g);
		emit_sse(g, 0x66, false, 0x6e, rm.reg, (struct xop){ .reg = R_RAX });
		mark(g);
	}
	emit_sse(g, 0x66, false, op, xreg(g), rm);
}

static void gen_sse_int_misc(struct gen *g)
{
	switch (pick(g, 9)) {
	case 0:		/* pmovmskb r32, xmm */
		emit_sse(g, 0x66, pick(g, 2), 0xd7, dest_reg(g), (struct xop){ .reg = xreg(g) });
		break;
	case 1: {	/* pshufd / pshufhw / pshuflw */
		static const uint8_t pfx[] = { 0x66, 0xf3, 0xf2 };
		emit_sse(g, pfx[pick(g, 3)], false, 0x70, xreg(g), xrm(g, 16));
		emit(g, (uint8_t)rnd(g));
		break;
	}
	case 2: {	/* psrlw/d/q, psraw/d, psllw/d/q, psrldq, pslldq by an immediate */
		static const uint8_t forms[][2] = { { 0x71, 2 }, { 0x71, 4 }, { 0x71, 6 },
			{ 0x72, 2 }, { 0x72, 4 }, { 0x72, 6 }, { 0x73, 2 }, { 0x73, 6 },
			{ 0x73, 3 }, { 0x73, 7 } };
		int f = (int)pick(g, 10);
		emit_sse(g, 0x66, false, forms[f][0], forms[f][1], (struct xop){ .reg = xreg(g) });
		emit(g, (uint8_t)(pick(g, 4) ? pick(g, 20) : pick(g, 4) ? pick(g, 70) : rnd(g)));
		break;
	}
	case 3:		/* movd/movq xmm, r/m32/64 */
		emit_sse(g, 0x66, pick(g, 2), 0x6e, xreg(g),
			 pick(g, 3) ? (struct xop){ .reg = dest_reg(g) } : xmem(g, 8));
		break;
	case 4:		/* movd/movq r/m32/64, xmm */
		emit_sse(g, 0x66, pick(g, 2), 0x7e, xreg(g),
			 pick(g, 3) ? (struct xop){ .reg = dest_reg(g) } : xmem(g, 8));
		break;
	case 5:		/* movq xmm, xmm/m64 (F3 0F 7E) and movq xmm/m64, xmm (66 0F D6) */
		if (pick(g, 2))
			emit_sse(g, 0xf3, false, 0x7e, xreg(g), xrm(g, 8));
		else
			emit_sse(g, 0x66, false, 0xd6, xreg(g), xrm(g, 8));
		break;
	case 6:		/* movdqa / movdqu, load or store */
		emit_sse(g, pick(g, 2) ? 0x66 : 0xf3, false, pick(g, 2) ? 0x6f : 0x7f, xreg(g),
			 xrm(g, 16));
		break;
	case 7:		/* pinsrw xmm, r32/m16, imm8 */
		emit_sse(g, 0x66, false, 0xc4, xreg(g),
			 pick(g, 2) ? (struct xop){ .reg = dest_reg(g) } : xmem(g, 2));
		emit(g, (uint8_t)rnd(g));
		break;
	default:	/* pextrw r32, xmm, imm8 */
		emit_sse(g, 0x66, false, 0xc5, dest_reg(g), (struct xop){ .reg = xreg(g) });
		emit(g, (uint8_t)rnd(g));
		break;
	}
}

/* ---- SSE/SSE2 float ------------------------------------------------------------------------- */

static const uint8_t fp_pfx[] = { 0, 0x66, 0xf3, 0xf2 };	/* ps, pd, ss, sd */
static int fp_size(uint8_t pfx) { return pfx == 0xf3 ? 4 : pfx == 0xf2 ? 8 : 16; }

static void gen_sse_arith(struct gen *g)
{
	static const uint8_t ops[] = { 0x58, 0x59, 0x5c, 0x5d, 0x5e, 0x5f, 0x51 };
	uint8_t pfx = fp_pfx[pick(g, 4)];
	emit_sse(g, pfx, false, ops[pick(g, sizeof(ops))], xreg(g), xrm(g, fp_size(pfx)));
}

static void gen_sse_cmp(struct gen *g)
{
	if (pick(g, 3) == 0) {		/* ucomiss/comiss/ucomisd/comisd */
		bool d = pick(g, 2);
		emit_sse(g, d ? 0x66 : 0, false, (uint8_t)(0x2e + pick(g, 2)), xreg(g), xrm(g, d ? 8 : 4));
		sets(g, ALL, 0);
		return;
	}
	uint8_t pfx = fp_pfx[pick(g, 4)];
	emit_sse(g, pfx, false, 0xc2, xreg(g), xrm(g, fp_size(pfx)));
	emit(g, (uint8_t)pick(g, 8));
}

static void gen_sse_cvt(struct gen *g)
{
	switch (pick(g, 4)) {
	case 0: {	/* cvtsi2ss / cvtsi2sd from r/m32/64 */
		bool w = pick(g, 2);
		emit_sse(g, pick(g, 2) ? 0xf3 : 0xf2, w, 0x2a, xreg(g),
			 pick(g, 3) ? (struct xop){ .reg = dest_reg(g) } : xmem(g, w ? 8 : 4));
		break;
	}
	case 1: {	/* cvt(t)ss2si / cvt(t)sd2si to r32/64 */
		bool d = pick(g, 2);
		emit_sse(g, d ? 0xf2 : 0xf3, pick(g, 2), (uint8_t)(0x2c + pick(g, 2)), dest_reg(g),
			 xrm(g, d ? 8 : 4));
		break;
	}
	case 2: {	/* cvtps2pd cvtpd2ps cvtss2sd cvtsd2ss */
		uint8_t pfx = fp_pfx[pick(g, 4)];
		emit_sse(g, pfx, false, 0x5a, xreg(g), xrm(g, pfx == 0 ? 8 : fp_size(pfx)));
		break;
	}
	default: {	/* cvtdq2ps cvtps2dq cvttps2dq; cvtdq2pd cvttpd2dq cvtpd2dq */
		static const uint8_t forms[][2] = { { 0, 0x5b }, { 0x66, 0x5b }, { 0xf3, 0x5b },
			{ 0xf3, 0xe6 }, { 0x66, 0xe6 }, { 0xf2, 0xe6 } };
		int f = (int)pick(g, 6);
		emit_sse(g, forms[f][0], false, forms[f][1], xreg(g), xrm(g, f == 3 ? 8 : 16));
		break;
	}
	}
}

static void gen_sse_move(struct gen *g)
{
	switch (pick(g, 8)) {
	case 0: {	/* movss / movsd, load or store */
		uint8_t pfx = pick(g, 2) ? 0xf3 : 0xf2;
		emit_sse(g, pfx, false, (uint8_t)(0x10 + pick(g, 2)), xreg(g), xrm(g, fp_size(pfx)));
		break;
	}
	case 1:		/* movaps/movapd/movups/movupd, load or store */
		emit_sse(g, pick(g, 2) ? 0x66 : 0, false,
			 (uint8_t)((pick(g, 2) ? 0x28 : 0x10) + pick(g, 2)), xreg(g), xrm(g, 16));
		break;
	case 2:		/* movhlps / movlhps */
		emit_sse(g, 0, false, pick(g, 2) ? 0x12 : 0x16, xreg(g), (struct xop){ .reg = xreg(g) });
		break;
	case 3:		/* movlps/movhps/movlpd/movhpd load and store */
		emit_sse(g, pick(g, 2) ? 0x66 : 0, false, (uint8_t)(0x12 + 4 * pick(g, 2) + pick(g, 2)),
			 xreg(g), xmem(g, 8));
		break;
	case 4:		/* andps andnps orps xorps (+pd) */
		emit_sse(g, pick(g, 2) ? 0x66 : 0, false, (uint8_t)(0x54 + pick(g, 4)), xreg(g),
			 xrm(g, 16));
		break;
	case 5:		/* shufps / shufpd */
		emit_sse(g, pick(g, 2) ? 0x66 : 0, false, 0xc6, xreg(g), xrm(g, 16));
		emit(g, (uint8_t)rnd(g));
		break;
	case 6:		/* unpcklps unpckhps unpcklpd unpckhpd */
		emit_sse(g, pick(g, 2) ? 0x66 : 0, false, (uint8_t)(0x14 + pick(g, 2)), xreg(g),
			 xrm(g, 16));
		break;
	default:	/* movmskps / movmskpd */
		emit_sse(g, pick(g, 2) ? 0x66 : 0, false, 0x50, dest_reg(g),
			 (struct xop){ .reg = xreg(g) });
		break;
	}
}

/* ---- x87 ------------------------------------------------------------------------------------ */

static void emit_x87_mem(struct gen *g, uint8_t op, int digit, int size)
{
	struct xop m = xmem(g, size);
	emit(g, op);
	emit(g, (uint8_t)(0x45 | (digit << 3)));
	emit(g, (uint8_t)m.disp);
}

static void emit2(struct gen *g, uint8_t a, uint8_t b) { emit(g, a); emit(g, b); }

/* Something onto the stack: FLD m32/m64, FILD m16/m32/m64, FLD1, FLDZ, FLD ST(i). */
static void x87_push(struct gen *g)
{
	switch (pick(g, 8)) {
	case 0: case 1: emit_x87_mem(g, 0xd9, 0, 4); break;
	case 2: case 3: emit_x87_mem(g, 0xdd, 0, 8); break;
	case 4: {
		static const uint8_t fild[][2] = { { 0xdf, 0 }, { 0xdb, 0 }, { 0xdf, 5 } };
		int f = (int)pick(g, 3);
		emit_x87_mem(g, fild[f][0], fild[f][1], f == 0 ? 2 : f == 1 ? 4 : 8);
		break;
	}
	case 5: emit2(g, 0xd9, 0xe8); break;
	case 6: emit2(g, 0xd9, 0xee); break;
	default:
		if (g->x87_depth == 0) {
			emit2(g, 0xd9, 0xe8);
			break;
		}
		emit2(g, 0xd9, (uint8_t)(0xc0 + pick(g, (unsigned)g->x87_depth)));
		break;
	}
	g->x87_depth++;
}

/* FADD FMUL FSUB FSUBR FDIV FDIVR (digits 0 1 4 5 6 7) in their memory, ST(0)/ST(i), ST(i)/ST(0)
 * and popping forms, and FIADD & co. */
static void x87_arith(struct gen *g)
{
	static const int digits[] = { 0, 1, 4, 5, 6, 7 };
	int d = digits[pick(g, 6)], i = (int)pick(g, (unsigned)g->x87_depth);

	switch (pick(g, 6)) {
	case 0: emit_x87_mem(g, 0xd8, d, 4); break;
	case 1: emit_x87_mem(g, 0xdc, d, 8); break;
	case 2: emit_x87_mem(g, pick(g, 2) ? 0xda : 0xde, d, 4); break;	/* FIxxx m32 / m16 */
	case 3: emit2(g, 0xd8, (uint8_t)(0xc0 | d << 3 | i)); break;
	case 4: emit2(g, 0xdc, (uint8_t)(0xc0 | d << 3 | i)); break;
	default:
		if (g->x87_depth < 2) {
			emit2(g, 0xd8, (uint8_t)(0xc0 | d << 3 | i));
			break;
		}
		emit2(g, 0xde, (uint8_t)(0xc0 | d << 3 | (1 + pick(g, (unsigned)g->x87_depth - 1))));
		g->x87_depth--;
		break;
	}
}

/* FCOM/FCOMP/FUCOM/FUCOMP/FCOMPP/FUCOMPP (then often FNSTSW AX) and FCOMI/FUCOMI(P). */
static void x87_compare(struct gen *g)
{
	int i = (int)pick(g, (unsigned)g->x87_depth);

	switch (pick(g, 7)) {
	case 0: {						/* fcom(p) m32/m64 */
		int pop = (int)pick(g, 2);
		emit_x87_mem(g, pick(g, 2) ? 0xd8 : 0xdc, 2 + pop, 8);
		g->x87_depth -= pop;
		break;
	}
	case 1: emit2(g, 0xd8, (uint8_t)(0xd0 + i)); break;			/* fcom st(i) */
	case 2: emit2(g, 0xdd, (uint8_t)(0xe0 + i)); break;			/* fucom st(i) */
	case 3:
		if (g->x87_depth >= 2) {
			if (pick(g, 2))
				emit2(g, 0xde, 0xd9);				/* fcompp */
			else
				emit2(g, 0xda, 0xe9);				/* fucompp */
			g->x87_depth -= 2;
		} else {
			emit2(g, 0xd9, 0xe4);					/* ftst */
		}
		break;
	case 4: emit2(g, 0xd9, 0xe5); break;					/* fxam */
	default: {
		static const uint8_t forms[][2] = { { 0xdb, 0xf0 }, { 0xdb, 0xe8 }, { 0xdf, 0xf0 },
						    { 0xdf, 0xe8 } };
		int f = (int)pick(g, 4);
		emit2(g, forms[f][0], (uint8_t)(forms[f][1] + i));
		g->x87_depth -= f >= 2;
		sets(g, ALL, 0);
		return;
	}
	}
	if (pick(g, 2)) {
		mark(g);
		emit2(g, 0xdf, 0xe0);					/* fnstsw ax */
	}
}

/* Stores: FST/FSTP m32/m64, FSTP m80 (then FLD m80 of it), FIST m16/m32, FISTP m16/m32/m64. */
static void x87_store(struct gen *g)
{
	switch (pick(g, 5)) {
	case 0: {
		bool pop = pick(g, 2);
		emit_x87_mem(g, pick(g, 2) ? 0xd9 : 0xdd, pop ? 3 : 2, 8);
		g->x87_depth -= pop;
		break;
	}
	case 1: {		/* fstp m80; fld m80 */
		struct xop m = xmem(g, 16);
		emit(g, 0xdb); emit(g, 0x7d); emit(g, (uint8_t)m.disp);
		mark(g);
		emit(g, 0xdb); emit(g, 0x6d); emit(g, (uint8_t)m.disp);
		break;
	}
	case 2:
		emit_x87_mem(g, pick(g, 2) ? 0xdf : 0xdb, 2, 4);		/* fist m16/m32 */
		break;
	default: {
		static const uint8_t fistp[][2] = { { 0xdf, 3 }, { 0xdb, 3 }, { 0xdf, 7 } };
		int f = (int)pick(g, 3);
		emit_x87_mem(g, fistp[f][0], fistp[f][1], 8);
		g->x87_depth--;
		break;
	}
	}
}

/* FXCH, FCHS, FABS, FSQRT, FRNDINT; FLDCW of a rounding mode; FNSTCW. */
static void x87_misc(struct gen *g)
{
	switch (pick(g, 7)) {
	case 0: emit2(g, 0xd9, (uint8_t)(0xc8 + pick(g, (unsigned)g->x87_depth))); break;
	case 1: emit2(g, 0xd9, 0xe0); break;
	case 2: emit2(g, 0xd9, 0xe1); break;
	case 3: emit2(g, 0xd9, 0xfa); break;
	case 4: emit2(g, 0xd9, 0xfc); break;
	case 5: {		/* mov word [rbp+d], cw; fldcw [rbp+d]: rounding, precision and
				 * sometimes an exception unmasked (#MF at the next one) */
		static const uint8_t pc[] = { 0, 2, 3, 3 };	/* single, double, extended */
		struct xop m = xmem(g, 2);
		unsigned unmask = pick(g, 8) ? 0 : 1u << pick(g, 6);
		emit(g, 0x66); emit(g, 0xc7); emit(g, 0x45); emit(g, (uint8_t)m.disp);
		emit_imm(g, (0x7f & ~unmask) | pc[pick(g, 4)] << 8 | pick(g, 4) << 10, 2);
		mark(g);
		emit(g, 0xd9); emit(g, 0x6d); emit(g, (uint8_t)m.disp);
		break;
	}
	default:
		emit_x87_mem(g, 0xd9, 7, 2);		/* fnstcw */
		break;
	}
}

/* The transcendental and other D9 E0-FF operations, FCMOVcc, FFREE, FNCLEX, FISTTP, FBSTP,
 * FLD m80 of raw data (pseudo-NaNs, unnormals, pseudo-denormals) and FNSTSW m16. The stack depth
 * bookkeeping is approximate: FFREE leaves a hole, and underflow is compared too. */
static void x87_special(struct gen *g)
{
	static const struct { uint8_t op; int depth; } d9[] = {
		{ 0xf0, 0 }, { 0xf1, -1 }, { 0xf2, 1 }, { 0xf3, -1 }, { 0xf4, 1 }, { 0xf5, 0 },
		{ 0xf8, 0 }, { 0xf9, -1 }, { 0xfb, 1 }, { 0xfd, 0 }, { 0xfe, 0 }, { 0xff, 0 },
	};
	int i = (int)pick(g, (unsigned)g->x87_depth);

	switch (pick(g, 8)) {
	case 0: case 1: case 2: {
		int k = (int)pick(g, sizeof(d9) / sizeof(d9[0]));
		emit2(g, 0xd9, d9[k].op);
		g->x87_depth += d9[k].depth;
		break;
	}
	case 3:
		need_flags(g, CF | PF | ZF);
		emit2(g, pick(g, 2) ? 0xda : 0xdb, (uint8_t)(0xc0 + pick(g, 32)));	/* fcmov */
		break;
	case 4:
		if (pick(g, 2))
			emit2(g, 0xdd, (uint8_t)(0xc0 + i));				/* ffree */
		else
			emit2(g, 0xdb, 0xe2);						/* fnclex */
		break;
	case 5: {
		static const uint8_t fisttp[][2] = { { 0xdf, 2 }, { 0xdb, 4 }, { 0xdd, 8 } };
		int f = (int)pick(g, 3);
		emit_x87_mem(g, fisttp[f][0], 1, fisttp[f][1]);
		g->x87_depth--;
		break;
	}
	case 6:
		emit_x87_mem(g, 0xdf, 6, 16);						/* fbstp */
		g->x87_depth--;
		break;
	default:
		if (pick(g, 2)) {
			emit_x87_mem(g, 0xdd, 7, 2);					/* fnstsw */
		} else {
			emit_x87_mem(g, 0xdb, 5, 16);					/* fld m80 */
			g->x87_depth++;
		}
		break;
	}
	if (g->x87_depth < 0)
		g->x87_depth = 0;
	if (g->x87_depth > 8)
		g->x87_depth = 8;
}

static void gen_x87(struct gen *g)
{
	if (g->x87_depth == 0 || (g->x87_depth < 8 && pick(g, 3) == 0)) {
		x87_push(g);
		return;
	}
	switch (pick(g, 6)) {
	case 0: case 1: x87_arith(g); break;
	case 2: x87_compare(g); break;
	case 3: x87_store(g); break;
	case 4: x87_misc(g); break;
	default: x87_special(g); break;
	}
}

/* ---- MMX ------------------------------------------------------------------------------------- */

/* MM0-7 (REX bits do not extend them) or an 8-byte memory operand. */
static struct xop mrm(struct gen *g)
{
	if (pick(g, 3) == 0)
		return xmem(g, 8);
	return (struct xop){ .reg = (int)pick(g, 8) };
}

static int mreg(struct gen *g) { return (int)pick(g, 8); }

static void gen_mmx(struct gen *g)
{
	switch (pick(g, 14)) {
	case 0:		/* movq mm, mm/m64 */
		emit_sse(g, 0, false, 0x6f, mreg(g), mrm(g));
		break;
	case 1:		/* movq mm/m64, mm */
		emit_sse(g, 0, false, 0x7f, mreg(g), mrm(g));
		break;
	case 2:		/* movd/movq mm, r/m32/64 */
		emit_sse(g, 0, pick(g, 2), 0x6e, mreg(g),
			 pick(g, 3) ? (struct xop){ .reg = dest_reg(g) } : xmem(g, 8));
		break;
	case 3:		/* movd/movq r/m32/64, mm */
		emit_sse(g, 0, pick(g, 2), 0x7e, mreg(g),
			 pick(g, 3) ? (struct xop){ .reg = dest_reg(g) } : xmem(g, 8));
		break;
	case 4: {	/* psrlw/d/q, psraw/d, psllw/d/q by an immediate */
		static const uint8_t forms[][2] = { { 0x71, 2 }, { 0x71, 4 }, { 0x71, 6 },
			{ 0x72, 2 }, { 0x72, 4 }, { 0x72, 6 }, { 0x73, 2 }, { 0x73, 6 } };
		int f = (int)pick(g, 8);
		emit_sse(g, 0, false, forms[f][0], forms[f][1], (struct xop){ .reg = mreg(g) });
		emit(g, (uint8_t)(pick(g, 4) ? pick(g, 20) : pick(g, 4) ? pick(g, 70) : rnd(g)));
		break;
	}
	case 5:		/* pshufw mm, mm/m64, imm8 */
		emit_sse(g, 0, false, 0x70, mreg(g), mrm(g));
		emit(g, (uint8_t)rnd(g));
		break;
	case 6:		/* pinsrw mm, r32/m16, imm8 */
		emit_sse(g, 0, false, 0xc4, mreg(g),
			 pick(g, 2) ? (struct xop){ .reg = dest_reg(g) } : xmem(g, 2));
		emit(g, (uint8_t)rnd(g));
		break;
	case 7:		/* pextrw r32, mm, imm8 or pmovmskb r32, mm */
		if (pick(g, 2)) {
			emit_sse(g, 0, false, 0xc5, dest_reg(g), (struct xop){ .reg = mreg(g) });
			emit(g, (uint8_t)rnd(g));
		} else {
			emit_sse(g, 0, pick(g, 2), 0xd7, dest_reg(g), (struct xop){ .reg = mreg(g) });
		}
		break;
	case 8:		/* emms, or fld1 / fldz onto whatever MMX left */
		if (pick(g, 2)) {
			emit(g, 0x0f);
			emit(g, 0x77);
		} else {
			emit(g, 0xd9);
			emit(g, pick(g, 2) ? 0xe8 : 0xee);
		}
		break;
	case 9:
		gen_int_insn(g);
		break;
	default: {	/* the packed-integer opcodes (not PUNPCKLQDQ / PUNPCKHQDQ: SSE2 only) */
		uint8_t op;
		do
			op = pint_ops[pick(g, sizeof(pint_ops) / sizeof(pint_ops[0]))];
		while (op == 0x6c || op == 0x6d);
		emit_sse(g, 0, false, op, mreg(g), mrm(g));
		break;
	}
	}
}

void dt_generate_fp(struct dt_case *c, uint64_t seed, int ninsns, enum dt_fp_kind kind)
{
	static void (*const sse_gens[])(struct gen *) = {
		gen_sse_int, gen_sse_int, gen_sse_int_misc, gen_sse_arith, gen_sse_arith,
		gen_sse_cmp, gen_sse_cvt, gen_sse_move, gen_int_insn,
	};
	static void (*const x87_gens[])(struct gen *) = {
		gen_x87, gen_x87, gen_x87, gen_sse_arith, gen_sse_cvt, gen_int_insn,
	};
	struct gen g;
	uint32_t mxcsr = 0x1f80;

	gen_begin(&g, c, ~seed);
	for (int i = 0; i < DT_PAGE; i += 16)
		if (pick(&g, 4))
			rand_vec(&g, c->data + i);
	for (int x = 0; x < 16; x++)
		rand_vec(&g, c->fx + DT_FX_XMM + 16 * x);
	if (pick(&g, 2))
		mxcsr |= (uint32_t)pick(&g, 4) << 13;		/* rounding control */
	if (pick(&g, 4) == 0)
		mxcsr |= 0x8000;				/* FTZ */
	if (pick(&g, 4) == 0)
		mxcsr |= 0x40;					/* DAZ */
	if (pick(&g, 4) == 0)
		mxcsr |= (uint32_t)pick(&g, 64);		/* sticky flags already set */
	memcpy(c->fx + DT_FX_MXCSR, &mxcsr, 4);
	if (kind == DT_X87 && pick(&g, 4) == 0) {
		uint16_t fsw = (uint16_t)pick(&g, 64);		/* sticky x87 flags, all masked */
		memcpy(c->fx + DT_FX_FSW, &fsw, 2);
	}

	for (c->ninsns = 0; c->ninsns < ninsns && c->code_len < DT_CODE_MAX - 256; c->ninsns++) {
		mark(&g);
		if (kind == DT_X87)
			x87_gens[pick(&g, sizeof(x87_gens) / sizeof(x87_gens[0]))](&g);
		else if (kind == DT_MMX)
			gen_mmx(&g);
		else
			sse_gens[pick(&g, sizeof(sse_gens) / sizeof(sse_gens[0]))](&g);
	}
	gen_end(&g);
}
