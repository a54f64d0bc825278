/* x87 FPU on the host's 80-bit long double, with the registers kept in cpu_state's FXSAVE
 * image (so both engines and snapshots see the same state): ST(i) lives at byte 32 + 16 * i,
 * FCW/FSW/abridged FTW at 0/2/4. Push and pop rotate the eight slots.
 *
 * Exceptions are reported in FSW but never delivered (#MF): every guest vmon targets runs with
 * them masked. Precision control is ignored (results are always extended precision); rounding
 * control applies to FIST/FRNDINT. Packed BCD (FBLD/FBSTP) is not implemented (#UD).
 */
#include <math.h>
#include <string.h>

#include "engine/bt/ops.h"

enum {
	FSW_IE = 1 << 0, FSW_DE = 1 << 1, FSW_ZE = 1 << 2, FSW_SF = 1 << 6, FSW_ES = 1 << 7,
	FSW_C0 = 1 << 8, FSW_C1 = 1 << 9, FSW_C2 = 1 << 10, FSW_C3 = 1 << 14,
	FSW_CC = FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3,
};

#define FP_INDEFINITE	(-__builtin_nanl(""))

static uint8_t *fx(struct bt_cpu *cpu) { return cpu->s.fxsave; }

static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

static uint16_t fcw(struct bt_cpu *cpu) { return get16(fx(cpu)); }
static uint16_t fsw(struct bt_cpu *cpu) { return get16(fx(cpu) + 2); }
static void set_fsw(struct bt_cpu *cpu, uint16_t v) { put16(fx(cpu) + 2, v); }
static unsigned top(struct bt_cpu *cpu) { return (fsw(cpu) >> 11) & 7; }

static void set_top(struct bt_cpu *cpu, unsigned t)
{
	set_fsw(cpu, (uint16_t)((fsw(cpu) & ~(7u << 11)) | (t & 7) << 11));
}

static void fsw_or(struct bt_cpu *cpu, uint16_t bits) { set_fsw(cpu, fsw(cpu) | bits); }

static void set_cc(struct bt_cpu *cpu, uint16_t cc)
{
	set_fsw(cpu, (uint16_t)((fsw(cpu) & ~FSW_CC) | cc));
}

static bool tag_valid(struct bt_cpu *cpu, unsigned phys) { return fx(cpu)[4] & (1u << phys); }

static void set_tag(struct bt_cpu *cpu, unsigned phys, bool valid)
{
	if (valid)
		fx(cpu)[4] |= (uint8_t)(1u << phys);
	else
		fx(cpu)[4] &= (uint8_t)~(1u << phys);
}

static long double load80(const uint8_t *p)
{
	long double v = 0;
	memcpy(&v, p, 10);
	return v;
}

static void store80(uint8_t *p, long double v)
{
	memcpy(p, &v, 10);
	memset(p + 10, 0, 6);
}

static bool st_valid(struct bt_cpu *cpu, unsigned i) { return tag_valid(cpu, (top(cpu) + i) & 7); }

/* ST(i); an empty register is a stack underflow and reads as the indefinite NaN. */
static long double st(struct bt_cpu *cpu, unsigned i)
{
	if (!st_valid(cpu, i)) {
		fsw_or(cpu, FSW_IE | FSW_SF);
		return FP_INDEFINITE;
	}
	return load80(fx(cpu) + 32 + 16 * i);
}

static void set_st(struct bt_cpu *cpu, unsigned i, long double v)
{
	store80(fx(cpu) + 32 + 16 * i, v);
	set_tag(cpu, (top(cpu) + i) & 7, true);
}

static void fpush(struct bt_cpu *cpu, long double v)
{
	uint8_t *r = fx(cpu) + 32, last[16];
	unsigned t = (top(cpu) - 1) & 7;

	if (tag_valid(cpu, t)) {		/* overflow */
		fsw_or(cpu, FSW_IE | FSW_SF | FSW_C1);
		v = FP_INDEFINITE;
	}
	memcpy(last, r + 112, 16);
	memmove(r + 16, r, 112);
	memcpy(r, last, 16);
	set_top(cpu, t);
	set_st(cpu, 0, v);
}

static void fpop(struct bt_cpu *cpu)
{
	uint8_t *r = fx(cpu) + 32, first[16];

	set_tag(cpu, top(cpu), false);
	memcpy(first, r, 16);
	memmove(r, r + 16, 112);
	memcpy(r + 112, first, 16);
	set_top(cpu, top(cpu) + 1);
}

static void fninit(struct bt_cpu *cpu)
{
	uint8_t *f = fx(cpu);
	put16(f, 0x37f);
	put16(f + 2, 0);
	f[4] = 0;
	memset(f + 6, 0, 18);		/* FOP, FIP, FDP */
}

/* #NM when the FPU is off (EM) or its state belongs to another task (TS). */
static void fpu_check(struct bt_cpu *cpu)
{
	if (cpu->s.cr0 & (CR0_EM | CR0_TS))
		bt_raise_noerr(cpu, EXC_NM);
}

/* ---- Memory operands ------------------------------------------------------------------------ */

static uint64_t ea(struct bt_cpu *cpu, const struct bt_insn *i) { return bt_ea(cpu, i); }

static long double read_f32(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint32_t b = (uint32_t)bt_read(cpu, i->seg, ea(cpu, i), 4);
	float f;
	memcpy(&f, &b, 4);
	return f;
}

static long double read_f64(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t b = bt_read(cpu, i->seg, ea(cpu, i), 8);
	double d;
	memcpy(&d, &b, 8);
	return d;
}

static long double read_f80(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t off = ea(cpu, i);
	uint8_t b[10];
	uint64_t lo = bt_read(cpu, i->seg, off, 8);
	uint16_t hi = (uint16_t)bt_read(cpu, i->seg, (off + 8) & sz_mask(i->addrsize), 2);
	memcpy(b, &lo, 8);
	memcpy(b + 8, &hi, 2);
	return load80(b);
}

static void write_f32(struct bt_cpu *cpu, const struct bt_insn *i, long double v)
{
	float f = (float)v;
	uint32_t b;
	memcpy(&b, &f, 4);
	bt_write(cpu, i->seg, ea(cpu, i), 4, b);
}

static void write_f64(struct bt_cpu *cpu, const struct bt_insn *i, long double v)
{
	double d = (double)v;
	uint64_t b;
	memcpy(&b, &d, 8);
	bt_write(cpu, i->seg, ea(cpu, i), 8, b);
}

static void write_f80(struct bt_cpu *cpu, const struct bt_insn *i, long double v)
{
	uint64_t off = ea(cpu, i), lo;
	uint8_t b[16];
	uint16_t hi;

	store80(b, v);
	memcpy(&lo, b, 8);
	memcpy(&hi, b + 8, 2);
	/* the high part first: if it faults, nothing was written */
	bt_write(cpu, i->seg, (off + 8) & sz_mask(i->addrsize), 2, hi);
	bt_write(cpu, i->seg, off, 8, lo);
}

static long double read_int(struct bt_cpu *cpu, const struct bt_insn *i, unsigned size)
{
	return (long double)sext(bt_read(cpu, i->seg, ea(cpu, i), size), size);
}

static long double round_rc(struct bt_cpu *cpu, long double v)
{
	switch ((fcw(cpu) >> 10) & 3) {
	case 0: return nearbyintl(v);	/* the host runs round-to-nearest */
	case 1: return floorl(v);
	case 2: return ceill(v);
	default: return truncl(v);
	}
}

/* FIST/FISTP/FISTTP: out-of-range and NaN store the integer indefinite. */
static void write_int(struct bt_cpu *cpu, const struct bt_insn *i, unsigned size, long double v,
		      bool truncate)
{
	long double r = truncate ? truncl(v) : round_rc(cpu, v);
	long double lim = ldexpl(1.0L, (int)sz_bits(size) - 1);
	uint64_t out;

	if (isnan(r) || r >= lim || r < -lim) {
		fsw_or(cpu, FSW_IE);
		out = sz_sign(size);
	} else {
		out = (uint64_t)(int64_t)r;
	}
	bt_write(cpu, i->seg, ea(cpu, i), size, out);
}

/* ---- Arithmetic and compares ------------------------------------------------------------------ */

enum { A_ADD, A_MUL, A_COM, A_COMP, A_SUB, A_SUBR, A_DIV, A_DIVR };

static long double arith(struct bt_cpu *cpu, unsigned op, long double a, long double b)
{
	switch (op) {
	case A_ADD: return a + b;
	case A_MUL: return a * b;
	case A_SUB: return a - b;
	case A_SUBR: return b - a;
	case A_DIV:
		if (b == 0 && !isnan(a))
			fsw_or(cpu, a == 0 ? FSW_IE : FSW_ZE);
		return a / b;
	default:
		if (a == 0 && !isnan(b))
			fsw_or(cpu, b == 0 ? FSW_IE : FSW_ZE);
		return b / a;
	}
}

/* FCOM-family result in C3/C2/C0. */
static void fcom(struct bt_cpu *cpu, long double a, long double b)
{
	if (isunordered(a, b)) {
		set_cc(cpu, FSW_C3 | FSW_C2 | FSW_C0);
		fsw_or(cpu, FSW_IE);
	} else {
		set_cc(cpu, a < b ? FSW_C0 : a == b ? FSW_C3 : 0);
	}
}

/* FCOMI-family result in ZF/PF/CF. */
static void fcomi(struct bt_cpu *cpu, long double a, long double b)
{
	uint64_t f;

	if (isunordered(a, b))
		f = RFLAGS_ZF | RFLAGS_PF | RFLAGS_CF;
	else
		f = a < b ? RFLAGS_CF : a == b ? RFLAGS_ZF : 0;
	set_cc(cpu, 0);
	bt_flags_update(cpu, RFLAGS_ARITH, f);
}

/* ST(0) op= m (D8, DC, DA, DE memory forms). */
static void arith_mem(struct bt_cpu *cpu, const struct bt_insn *i, long double m)
{
	unsigned op = i->reg & 7;
	long double a = st(cpu, 0);

	if (op == A_COM || op == A_COMP) {
		fcom(cpu, a, m);
		if (op == A_COMP)
			fpop(cpu);
		return;
	}
	set_st(cpu, 0, arith(cpu, op, a, m));
}

static unsigned sti(const struct bt_insn *i) { return i->rm & 7; }
static unsigned digit(const struct bt_insn *i) { return i->reg & 7; }	/* REX.R is ignored */

void bt_h_x87_d8(struct bt_cpu *cpu, const struct bt_insn *i)
{
	fpu_check(cpu);
	if (i->flags & BI_MEM)
		arith_mem(cpu, i, read_f32(cpu, i));
	else
		arith_mem(cpu, i, st(cpu, sti(i)));
}

void bt_h_x87_dc(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned op = i->reg & 7;

	fpu_check(cpu);
	if (i->flags & BI_MEM) {
		arith_mem(cpu, i, read_f64(cpu, i));
		return;
	}
	/* ST(i) op= ST(0); the SUB/SUBR and DIV/DIVR encodings are swapped here (Intel SDM FSUBR:
	 * DC E0+i is ST(i) = ST(0) - ST(i)) */
	if (op == A_COM || op == A_COMP) {
		fcom(cpu, st(cpu, 0), st(cpu, sti(i)));
		if (op == A_COMP)
			fpop(cpu);
		return;
	}
	static const uint8_t rev[8] = { A_ADD, A_MUL, 0, 0, A_SUBR, A_SUB, A_DIVR, A_DIV };
	set_st(cpu, sti(i), arith(cpu, rev[op], st(cpu, sti(i)), st(cpu, 0)));
}

void bt_h_x87_de(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned op = i->reg & 7;

	fpu_check(cpu);
	if (i->flags & BI_MEM) {
		arith_mem(cpu, i, read_int(cpu, i, 2));
		return;
	}
	if (op == A_COMP) {		/* DE D9: FCOMPP */
		if (sti(i) != 1)
			bt_raise_noerr(cpu, EXC_UD);
		fcom(cpu, st(cpu, 0), st(cpu, 1));
		fpop(cpu);
		fpop(cpu);
		return;
	}
	if (op == A_COM)
		bt_raise_noerr(cpu, EXC_UD);
	static const uint8_t rev[8] = { A_ADD, A_MUL, 0, 0, A_SUBR, A_SUB, A_DIVR, A_DIV };
	set_st(cpu, sti(i), arith(cpu, rev[op], st(cpu, sti(i)), st(cpu, 0)));
	fpop(cpu);
}

/* FCMOVcc conditions: B, E, BE, U (DA) and their negations (DB). */
static bool fcmov_cond(struct bt_cpu *cpu, unsigned reg)
{
	switch (reg & 3) {
	case 0: return bt_cf(cpu);
	case 1: return bt_zf(cpu);
	case 2: return bt_cf(cpu) || bt_zf(cpu);
	default: return bt_pf(cpu);
	}
}

void bt_h_x87_da(struct bt_cpu *cpu, const struct bt_insn *i)
{
	fpu_check(cpu);
	if (i->flags & BI_MEM) {
		arith_mem(cpu, i, read_int(cpu, i, 4));
		return;
	}
	if (digit(i) < 4) {
		if (fcmov_cond(cpu, digit(i)))
			set_st(cpu, 0, st(cpu, sti(i)));
		return;
	}
	if (digit(i) == 5 && sti(i) == 1) {	/* FUCOMPP */
		long double a = st(cpu, 0), b = st(cpu, 1);
		if (isunordered(a, b))
			set_cc(cpu, FSW_C3 | FSW_C2 | FSW_C0);
		else
			fcom(cpu, a, b);
		fpop(cpu);
		fpop(cpu);
		return;
	}
	bt_raise_noerr(cpu, EXC_UD);
}

/* FXAM class in C3/C2/C0, sign in C1. */
static void fxam(struct bt_cpu *cpu)
{
	long double v = load80(fx(cpu) + 32);
	uint16_t cc = signbit(v) ? FSW_C1 : 0;

	if (!st_valid(cpu, 0))
		cc |= FSW_C3 | FSW_C0;
	else switch (fpclassify(v)) {
	case FP_NAN: cc |= FSW_C0; break;
	case FP_INFINITE: cc |= FSW_C2 | FSW_C0; break;
	case FP_ZERO: cc |= FSW_C3; break;
	case FP_SUBNORMAL: cc |= FSW_C3 | FSW_C2; break;
	default: cc |= FSW_C2; break;
	}
	set_cc(cpu, cc);
}

/* FPREM / FPREM1: the remainder is exact, so one step always completes (C2 = 0); C0/C3/C1
 * get the low quotient bits. */
static void fprem(struct bt_cpu *cpu, bool ieee)
{
	long double a = st(cpu, 0), b = st(cpu, 1);
	long double r = ieee ? remainderl(a, b) : fmodl(a, b);
	long double q = ieee ? nearbyintl(a / b) : truncl(a / b);
	uint64_t qi = isfinite(q) ? (uint64_t)fabsl(fmodl(q, 8.0L)) : 0;

	set_st(cpu, 0, r);
	set_cc(cpu, ((qi & 4) ? FSW_C0 : 0) | ((qi & 2) ? FSW_C3 : 0) | ((qi & 1) ? FSW_C1 : 0));
}

/* D9 with a register operand. */
static void d9_reg(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned r = sti(i);
	long double a;

	switch (digit(i)) {
	case 0:				/* FLD ST(i) */
		fpush(cpu, st(cpu, r));
		return;
	case 1: {			/* FXCH */
		long double x = st(cpu, 0), y = st(cpu, r);
		set_st(cpu, 0, y);
		set_st(cpu, r, x);
		return;
	}
	case 2:
		if (r == 0)		/* FNOP */
			return;
		break;
	case 4:
		switch (r) {
		case 0: set_st(cpu, 0, -st(cpu, 0)); return;			/* FCHS */
		case 1: set_st(cpu, 0, fabsl(st(cpu, 0))); return;		/* FABS */
		case 4: fcom(cpu, st(cpu, 0), 0.0L); return;			/* FTST */
		case 5: fxam(cpu); return;
		}
		break;
	case 5: {
		static const long double k[7] = {
			1.0L, 3.321928094887362347870319429489390175864831393L,
			1.442695040888963407359924681001892137426645954L,
			3.141592653589793238462643383279502884197169399L,
			0.301029995663981195213738894724493026768189881L,
			0.693147180559945309417232121458176568075500134L, 0.0L,
		};
		if (r < 7) {
			fpush(cpu, k[r]);
			return;
		}
		break;
	}
	case 6:
		switch (r) {
		case 0: set_st(cpu, 0, exp2l(st(cpu, 0)) - 1.0L); return;	/* F2XM1 */
		case 1:								/* FYL2X */
			set_st(cpu, 1, st(cpu, 1) * log2l(st(cpu, 0)));
			fpop(cpu);
			return;
		case 2:								/* FPTAN */
			set_st(cpu, 0, tanl(st(cpu, 0)));
			fpush(cpu, 1.0L);
			set_cc(cpu, fsw(cpu) & FSW_C1);
			return;
		case 3:								/* FPATAN */
			set_st(cpu, 1, atan2l(st(cpu, 1), st(cpu, 0)));
			fpop(cpu);
			return;
		case 4: {							/* FXTRACT */
			a = st(cpu, 0);
			long double e = logbl(a);
			set_st(cpu, 0, e);
			fpush(cpu, a == 0 || !isfinite(a) ? a : scalbnl(a, -(int)e));
			return;
		}
		case 5: fprem(cpu, true); return;
		case 6: set_top(cpu, top(cpu) - 1); return;			/* FDECSTP */
		case 7: set_top(cpu, top(cpu) + 1); return;			/* FINCSTP */
		}
		break;
	case 7:
		switch (r) {
		case 0: fprem(cpu, false); return;
		case 1:								/* FYL2XP1 */
			set_st(cpu, 1, st(cpu, 1) * log1pl(st(cpu, 0)) / 0.693147180559945309417232121458176568L);
			fpop(cpu);
			return;
		case 2: set_st(cpu, 0, sqrtl(st(cpu, 0))); return;		/* FSQRT */
		case 3:								/* FSINCOS */
			a = st(cpu, 0);
			set_st(cpu, 0, sinl(a));
			fpush(cpu, cosl(a));
			set_cc(cpu, 0);
			return;
		case 4: set_st(cpu, 0, round_rc(cpu, st(cpu, 0))); return;	/* FRNDINT */
		case 5: {							/* FSCALE */
			long double s = truncl(st(cpu, 1));
			int e = s > 65536 ? 65536 : s < -65536 ? -65536 : (int)s;
			set_st(cpu, 0, scalbnl(st(cpu, 0), e));
			return;
		}
		case 6: set_st(cpu, 0, sinl(st(cpu, 0))); set_cc(cpu, 0); return;
		case 7: set_st(cpu, 0, cosl(st(cpu, 0))); set_cc(cpu, 0); return;
		}
		break;
	}
	bt_raise_noerr(cpu, EXC_UD);
}

/* ---- Environment: FLDENV/FNSTENV/FRSTOR/FNSAVE ---------------------------------------------- */

/* The full 2-bit tag word, derived from the abridged one and the register contents. */
static uint16_t full_tags(struct bt_cpu *cpu)
{
	uint16_t tw = 0;

	for (unsigned p = 0; p < 8; p++) {
		unsigned t;
		if (!tag_valid(cpu, p)) {
			t = 3;
		} else {
			long double v = load80(fx(cpu) + 32 + 16 * ((p - top(cpu)) & 7));
			int c = fpclassify(v);
			t = c == FP_ZERO ? 1 : c == FP_NORMAL ? 0 : 2;
		}
		tw |= (uint16_t)(t << (2 * p));
	}
	return tw;
}

/* Environment layout: 7 fields of 2 (16-bit operand size) or 4 bytes. */
static unsigned env_size(const struct bt_insn *i) { return i->opsize == 2 ? 14 : 28; }

static void fstenv(struct bt_cpu *cpu, const struct bt_insn *i, uint64_t off)
{
	unsigned w = i->opsize == 2 ? 2 : 4;
	uint64_t fields[7] = { fcw(cpu) | (w == 4 ? 0xffff0000u : 0),
			       fsw(cpu) | (w == 4 ? 0xffff0000u : 0),
			       full_tags(cpu) | (w == 4 ? 0xffff0000u : 0), 0, 0, 0, 0 };
	uint64_t m = sz_mask(i->addrsize);

	/* the last byte first, so a fault leaves memory untouched */
	bt_write(cpu, i->seg, (off + 6 * w) & m, w, fields[6]);
	for (unsigned k = 0; k < 7; k++)
		bt_write(cpu, i->seg, (off + k * w) & m, w, fields[k]);
}

static void fldenv(struct bt_cpu *cpu, const struct bt_insn *i, uint64_t off)
{
	unsigned w = i->opsize == 2 ? 2 : 4;
	uint64_t m = sz_mask(i->addrsize);
	uint16_t cw = (uint16_t)bt_read(cpu, i->seg, off, 2);
	uint16_t sw = (uint16_t)bt_read(cpu, i->seg, (off + w) & m, 2);
	uint16_t tw = (uint16_t)bt_read(cpu, i->seg, (off + 2 * w) & m, 2);
	uint8_t ab = 0;

	for (unsigned p = 0; p < 8; p++)
		if (((tw >> (2 * p)) & 3) != 3)
			ab |= (uint8_t)(1u << p);
	put16(fx(cpu), cw);
	set_fsw(cpu, sw);
	fx(cpu)[4] = ab;
}

static void fnsave(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t off = ea(cpu, i), m = sz_mask(i->addrsize);
	unsigned base = env_size(i);

	/* probe the far end before storing anything */
	bt_write(cpu, i->seg, (off + base + 79) & m, 1, bt_read(cpu, i->seg, (off + base + 79) & m, 1));
	fstenv(cpu, i, off);
	for (unsigned k = 0; k < 8; k++) {
		const uint8_t *r = fx(cpu) + 32 + 16 * k;
		for (unsigned b = 0; b < 10; b++)
			bt_write(cpu, i->seg, (off + base + 10 * k + b) & m, 1, r[b]);
	}
	fninit(cpu);
}

static void frstor(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t off = ea(cpu, i), m = sz_mask(i->addrsize);
	unsigned base = env_size(i);
	uint8_t regs[80];

	for (unsigned b = 0; b < 80; b++)
		regs[b] = (uint8_t)bt_read(cpu, i->seg, (off + base + b) & m, 1);
	fldenv(cpu, i, off);
	for (unsigned k = 0; k < 8; k++)
		store80(fx(cpu) + 32 + 16 * k, load80(regs + 10 * k));
}

void bt_h_x87_d9(struct bt_cpu *cpu, const struct bt_insn *i)
{
	fpu_check(cpu);
	if (!(i->flags & BI_MEM)) {
		d9_reg(cpu, i);
		return;
	}
	switch (digit(i)) {
	case 0: fpush(cpu, read_f32(cpu, i)); return;
	case 2: write_f32(cpu, i, st(cpu, 0)); return;
	case 3: write_f32(cpu, i, st(cpu, 0)); fpop(cpu); return;
	case 4: fldenv(cpu, i, ea(cpu, i)); return;
	case 5: put16(fx(cpu), (uint16_t)bt_read(cpu, i->seg, ea(cpu, i), 2)); return;	/* FLDCW */
	case 6:								/* FNSTENV */
		fstenv(cpu, i, ea(cpu, i));
		put16(fx(cpu), fcw(cpu) | 0x3f);	/* then masks all exceptions */
		return;
	case 7: bt_write(cpu, i->seg, ea(cpu, i), 2, fcw(cpu)); return;		/* FNSTCW */
	}
	bt_raise_noerr(cpu, EXC_UD);
}

void bt_h_x87_db(struct bt_cpu *cpu, const struct bt_insn *i)
{
	fpu_check(cpu);
	if (i->flags & BI_MEM) {
		switch (digit(i)) {
		case 0: fpush(cpu, read_int(cpu, i, 4)); return;
		case 1: write_int(cpu, i, 4, st(cpu, 0), true); fpop(cpu); return;
		case 2: write_int(cpu, i, 4, st(cpu, 0), false); return;
		case 3: write_int(cpu, i, 4, st(cpu, 0), false); fpop(cpu); return;
		case 5: fpush(cpu, read_f80(cpu, i)); return;
		case 7: write_f80(cpu, i, st(cpu, 0)); fpop(cpu); return;
		}
		bt_raise_noerr(cpu, EXC_UD);
	}
	switch (digit(i)) {
	case 0: case 1: case 2: case 3:		/* FCMOVNcc */
		if (!fcmov_cond(cpu, digit(i)))
			set_st(cpu, 0, st(cpu, sti(i)));
		return;
	case 4:
		if (sti(i) == 2) {		/* FNCLEX */
			set_fsw(cpu, fsw(cpu) & 0x7f00);
			return;
		}
		if (sti(i) == 3) {		/* FNINIT */
			fninit(cpu);
			return;
		}
		if (sti(i) < 2 || sti(i) == 4)	/* FENI/FDISI/FSETPM: no-ops since the 387 */
			return;
		break;
	case 5: fcomi(cpu, st(cpu, 0), st(cpu, sti(i))); return;	/* FUCOMI */
	case 6: fcomi(cpu, st(cpu, 0), st(cpu, sti(i))); return;	/* FCOMI */
	}
	bt_raise_noerr(cpu, EXC_UD);
}

void bt_h_x87_dd(struct bt_cpu *cpu, const struct bt_insn *i)
{
	fpu_check(cpu);
	if (i->flags & BI_MEM) {
		switch (digit(i)) {
		case 0: fpush(cpu, read_f64(cpu, i)); return;
		case 1: write_int(cpu, i, 8, st(cpu, 0), true); fpop(cpu); return;
		case 2: write_f64(cpu, i, st(cpu, 0)); return;
		case 3: write_f64(cpu, i, st(cpu, 0)); fpop(cpu); return;
		case 4: frstor(cpu, i); return;
		case 6: fnsave(cpu, i); return;
		case 7: bt_write(cpu, i->seg, ea(cpu, i), 2, fsw(cpu)); return;	/* FNSTSW m16 */
		}
		bt_raise_noerr(cpu, EXC_UD);
	}
	switch (digit(i)) {
	case 0: set_tag(cpu, (top(cpu) + sti(i)) & 7, false); return;		/* FFREE */
	case 2: set_st(cpu, sti(i), st(cpu, 0)); return;			/* FST ST(i) */
	case 3: set_st(cpu, sti(i), st(cpu, 0)); fpop(cpu); return;		/* FSTP ST(i) */
	case 4: fcom(cpu, st(cpu, 0), st(cpu, sti(i))); return;		/* FUCOM */
	case 5: fcom(cpu, st(cpu, 0), st(cpu, sti(i))); fpop(cpu); return;	/* FUCOMP */
	}
	bt_raise_noerr(cpu, EXC_UD);
}

void bt_h_x87_df(struct bt_cpu *cpu, const struct bt_insn *i)
{
	fpu_check(cpu);
	if (i->flags & BI_MEM) {
		switch (digit(i)) {
		case 0: fpush(cpu, read_int(cpu, i, 2)); return;
		case 1: write_int(cpu, i, 2, st(cpu, 0), true); fpop(cpu); return;
		case 2: write_int(cpu, i, 2, st(cpu, 0), false); return;
		case 3: write_int(cpu, i, 2, st(cpu, 0), false); fpop(cpu); return;
		case 5: fpush(cpu, read_int(cpu, i, 8)); return;
		case 7: write_int(cpu, i, 8, st(cpu, 0), false); fpop(cpu); return;
		}
		bt_raise_noerr(cpu, EXC_UD);	/* FBLD / FBSTP */
	}
	switch (digit(i)) {
	case 4:
		if (sti(i) == 0) {		/* FNSTSW AX */
			reg_set(cpu, R_RAX, 2, true, fsw(cpu));
			return;
		}
		break;
	case 5: fcomi(cpu, st(cpu, 0), st(cpu, sti(i))); fpop(cpu); return;	/* FUCOMIP */
	case 6: fcomi(cpu, st(cpu, 0), st(cpu, sti(i))); fpop(cpu); return;	/* FCOMIP */
	}
	bt_raise_noerr(cpu, EXC_UD);
}

/* FWAIT: #NM only if both MP and TS are set. */
void bt_h_fwait(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if ((cpu->s.cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))
		bt_raise_noerr(cpu, EXC_NM);
}
