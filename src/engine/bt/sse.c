/* SSE and SSE2 (the x86-64 baseline): moves, packed/scalar float arithmetic, conversions,
 * compares, packed integer operations, FXSAVE/FXRSTOR and MXCSR. XMM registers live in
 * cpu_state's FXSAVE image at byte 160 + 16 * n.
 *
 * Float results come from the host's SSE arithmetic in its default mode (round to nearest,
 * exceptions masked), which is also the guest's default MXCSR; MXCSR's rounding control is
 * honoured by the rounding conversions, its exception flags are not updated and unmasked
 * exceptions (#XM) are never raised.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/bt/ops.h"

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

#define FX_MXCSR	24
#define FX_MXCSR_MASK	28
#define FX_XMM		160
#define MXCSR_VALID	0xffffu

/* #UD without OSFXSR or with EM, #NM with TS. */
void bt_sse_check(struct bt_cpu *cpu)
{
	if ((cpu->s.cr0 & CR0_EM) || !(cpu->s.cr4 & CR4_OSFXSR))
		bt_raise_noerr(cpu, EXC_UD);
	if (cpu->s.cr0 & CR0_TS)
		bt_raise_noerr(cpu, EXC_NM);
}

static xmm_t xmm(const struct bt_cpu *cpu, unsigned n)
{
	xmm_t v;
	memcpy(&v, cpu->s.fxsave + FX_XMM + 16 * (n & 15), 16);
	return v;
}

static void set_xmm(struct bt_cpu *cpu, unsigned n, const xmm_t *v)
{
	memcpy(cpu->s.fxsave + FX_XMM + 16 * (n & 15), v, 16);
}

static uint32_t mxcsr(const struct bt_cpu *cpu)
{
	uint32_t v;
	memcpy(&v, cpu->s.fxsave + FX_MXCSR, 4);
	return v;
}

static void check_align16(struct bt_cpu *cpu, uint64_t off)
{
	if (off & 15)
		bt_raise(cpu, EXC_GP, 0);
}

/* Memory operand of size 4, 8 or 16 bytes into the low bytes of a zeroed xmm_t. */
static xmm_t read_mem(struct bt_cpu *cpu, const struct bt_insn *i, unsigned size, bool aligned)
{
	uint64_t off = bt_ea(cpu, i);
	xmm_t v = { 0 };

	if (aligned && size == 16)
		check_align16(cpu, off);
	if (size == 4) {
		v.d[0] = (uint32_t)bt_read(cpu, i->seg, off, 4);
	} else {
		v.q[0] = bt_read(cpu, i->seg, off, 8);
		if (size == 16)
			v.q[1] = bt_read(cpu, i->seg, (off + 8) & sz_mask(i->addrsize), 8);
	}
	return v;
}

static void write_mem(struct bt_cpu *cpu, const struct bt_insn *i, unsigned size, const xmm_t *v,
		      bool aligned)
{
	uint64_t off = bt_ea(cpu, i);

	if (aligned && size == 16)
		check_align16(cpu, off);
	if (size == 4) {
		bt_write(cpu, i->seg, off, 4, v->d[0]);
	} else if (size == 8) {
		bt_write(cpu, i->seg, off, 8, v->q[0]);
	} else {
		/* the high half first: a fault there leaves memory untouched */
		bt_write(cpu, i->seg, (off + 8) & sz_mask(i->addrsize), 8, v->q[1]);
		bt_write(cpu, i->seg, off, 8, v->q[0]);
	}
}

/* The r/m source: an XMM register or size bytes of memory. */
static xmm_t src(struct bt_cpu *cpu, const struct bt_insn *i, unsigned size, bool aligned)
{
	if (i->flags & BI_MEM)
		return read_mem(cpu, i, size, aligned);
	return xmm(cpu, i->rm);
}

static void require_reg(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (i->flags & BI_MEM)
		bt_raise_noerr(cpu, EXC_UD);
}

static void require_mem(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (!(i->flags & BI_MEM))
		bt_raise_noerr(cpu, EXC_UD);
}

static void require_66(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (i->mandatory != 0x66)
		bt_raise_noerr(cpu, EXC_UD);
}

static unsigned op8(const struct bt_insn *i) { return i->op & 0xff; }

/* ---- Moves ------------------------------------------------------------------------------------ */

void bt_h_sse_mov(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned op = op8(i), m = i->mandatory;
	xmm_t v, d;

	bt_sse_check(cpu);
	if (op == 0x10 && (m == 0xf3 || m == 0xf2)) {		/* MOVSS / MOVSD */
		unsigned size = m == 0xf3 ? 4 : 8;
		if (i->flags & BI_MEM) {
			v = read_mem(cpu, i, size, false);	/* upper part zeroed */
		} else {
			v = xmm(cpu, i->reg);
			d = xmm(cpu, i->rm);
			memcpy(&v, &d, size);
		}
		set_xmm(cpu, i->reg, &v);
		return;
	}
	if ((op == 0x28 && m >= 0xf2) || (op == 0x6f && (m == 0 || m == 0xf2)))
		bt_raise_noerr(cpu, EXC_UD);
	bool aligned = op == 0x28 || (op == 0x6f && m == 0x66);
	v = src(cpu, i, 16, aligned);
	set_xmm(cpu, i->reg, &v);
}

void bt_h_sse_mov_store(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned op = op8(i), m = i->mandatory;
	xmm_t v = xmm(cpu, i->reg);

	bt_sse_check(cpu);
	if (op == 0x11 && (m == 0xf3 || m == 0xf2)) {		/* MOVSS / MOVSD store */
		unsigned size = m == 0xf3 ? 4 : 8;
		if (i->flags & BI_MEM) {
			write_mem(cpu, i, size, &v, false);
		} else {
			xmm_t d = xmm(cpu, i->rm);
			memcpy(&d, &v, size);
			set_xmm(cpu, i->rm, &d);
		}
		return;
	}
	bool aligned = true;
	switch (op) {
	case 0x11: aligned = false; break;
	case 0x29: if (m >= 0xf2) bt_raise_noerr(cpu, EXC_UD); break;
	case 0x2b: if (m >= 0xf2) bt_raise_noerr(cpu, EXC_UD); require_mem(cpu, i); break;
	case 0x7f:
		if (m == 0 || m == 0xf2)
			bt_raise_noerr(cpu, EXC_UD);
		aligned = m == 0x66;
		break;
	default:	/* 0xe7 MOVNTDQ */
		require_66(cpu, i);
		require_mem(cpu, i);
		break;
	}
	if (i->flags & BI_MEM)
		write_mem(cpu, i, 16, &v, aligned);
	else
		set_xmm(cpu, i->rm, &v);
}

/* 0F 12 / 0F 16: MOVLPS/MOVLPD/MOVHLPS and MOVHPS/MOVHPD/MOVLHPS. */
void bt_h_sse_movlh(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bool high = op8(i) == 0x16;
	xmm_t d, s;

	bt_sse_check(cpu);
	if (i->mandatory >= 0xf2)
		bt_raise_noerr(cpu, EXC_UD);		/* SSE3 forms are not advertised */
	if (i->mandatory == 0x66)
		require_mem(cpu, i);
	d = xmm(cpu, i->reg);
	if (i->flags & BI_MEM) {
		s = read_mem(cpu, i, 8, false);
		d.q[high] = s.q[0];
	} else {
		s = xmm(cpu, i->rm);
		d.q[high] = s.q[!high];		/* MOVHLPS: low = src high; MOVLHPS: high = src low */
	}
	set_xmm(cpu, i->reg, &d);
}

void bt_h_sse_movlh_store(struct bt_cpu *cpu, const struct bt_insn *i)
{
	xmm_t v = xmm(cpu, i->reg), o = { 0 };

	bt_sse_check(cpu);
	if (i->mandatory >= 0xf2)
		bt_raise_noerr(cpu, EXC_UD);
	require_mem(cpu, i);
	o.q[0] = v.q[op8(i) == 0x17];
	write_mem(cpu, i, 8, &o, false);
}

void bt_h_sse_unpck(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bool high = op8(i) == 0x15;
	xmm_t d, s, r;

	bt_sse_check(cpu);
	if (i->mandatory >= 0xf2)
		bt_raise_noerr(cpu, EXC_UD);
	s = src(cpu, i, 16, true);
	d = xmm(cpu, i->reg);
	if (i->mandatory == 0x66) {
		r.q[0] = d.q[high];
		r.q[1] = s.q[high];
	} else {
		unsigned k = high ? 2 : 0;
		r.d[0] = d.d[k];
		r.d[1] = s.d[k];
		r.d[2] = d.d[k + 1];
		r.d[3] = s.d[k + 1];
	}
	set_xmm(cpu, i->reg, &r);
}

void bt_h_sse_movmsk(struct bt_cpu *cpu, const struct bt_insn *i)
{
	xmm_t s;
	uint64_t mask = 0;

	bt_sse_check(cpu);
	require_reg(cpu, i);
	if (i->mandatory >= 0xf2)
		bt_raise_noerr(cpu, EXC_UD);
	s = xmm(cpu, i->rm);
	if (i->mandatory == 0x66)
		mask = (s.q[0] >> 63) | (s.q[1] >> 63) << 1;
	else
		for (unsigned k = 0; k < 4; k++)
			mask |= (uint64_t)(s.d[k] >> 31) << k;
	reg_set(cpu, i->reg, i->opsize, true, mask);
}

/* MOVD/MOVQ xmm, r/m32/64: zero-extends into the register. */
void bt_h_sse_movd_load(struct bt_cpu *cpu, const struct bt_insn *i)
{
	xmm_t v = { 0 };

	bt_sse_check(cpu);
	require_66(cpu, i);
	if (i->flags & BI_MEM)
		v.q[0] = bt_read(cpu, i->seg, bt_ea(cpu, i), i->opsize);
	else
		v.q[0] = reg_get(cpu, i->rm, i->opsize, true);
	set_xmm(cpu, i->reg, &v);
}

/* 66 0F 7E: MOVD/MOVQ r/m, xmm.  F3 0F 7E: MOVQ xmm, xmm/m64. */
void bt_h_sse_movd_store(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_sse_check(cpu);
	if (i->mandatory == 0xf3) {
		xmm_t v = src(cpu, i, 8, false), r = { 0 };
		r.q[0] = v.q[0];
		set_xmm(cpu, i->reg, &r);
		return;
	}
	require_66(cpu, i);
	rm_set(cpu, i, i->opsize, xmm(cpu, i->reg).q[0]);
}

/* 66 0F D6: MOVQ xmm/m64, xmm (a register destination gets its upper half cleared). */
void bt_h_sse_movq_store(struct bt_cpu *cpu, const struct bt_insn *i)
{
	xmm_t v = xmm(cpu, i->reg), r = { 0 };

	bt_sse_check(cpu);
	require_66(cpu, i);
	r.q[0] = v.q[0];
	if (i->flags & BI_MEM)
		write_mem(cpu, i, 8, &r, false);
	else
		set_xmm(cpu, i->rm, &r);
}

void bt_h_sse_movnti(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (i->opsize < 4)
		bt_raise_noerr(cpu, EXC_UD);
	bt_write(cpu, i->seg, bt_ea(cpu, i), i->opsize, reg_get(cpu, i->reg, i->opsize, true));
}

void bt_h_sse_maskmov(struct bt_cpu *cpu, const struct bt_insn *i)
{
	xmm_t v, m;
	uint64_t base = cpu->s.gpr[R_RDI];

	bt_sse_check(cpu);
	require_66(cpu, i);
	require_reg(cpu, i);
	v = xmm(cpu, i->reg);
	m = xmm(cpu, i->rm);
	for (unsigned k = 0; k < 16; k++)
		if (m.b[k] & 0x80)
			bt_write(cpu, i->seg, (base + k) & sz_mask(i->addrsize), 1, v.b[k]);
}

/* ---- Float arithmetic --------------------------------------------------------------------------- */

static float fop(unsigned op, float a, float b)
{
	switch (op) {
	case 0x51: return sqrtf(b);
	case 0x52: return 1.0f / sqrtf(b);
	case 0x53: return 1.0f / b;
	case 0x58: return a + b;
	case 0x59: return a * b;
	case 0x5c: return a - b;
	case 0x5d: return a < b ? a : b;	/* NaN or equal: the source */
	case 0x5e: return a / b;
	default: return a > b ? a : b;
	}
}

static double dop(unsigned op, double a, double b)
{
	switch (op) {
	case 0x51: return sqrt(b);
	case 0x58: return a + b;
	case 0x59: return a * b;
	case 0x5c: return a - b;
	case 0x5d: return a < b ? a : b;
	case 0x5e: return a / b;
	default: return a > b ? a : b;
	}
}

void bt_h_sse_arith(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned op = op8(i), m = i->mandatory;
	xmm_t d, s;

	bt_sse_check(cpu);
	if ((op == 0x52 || op == 0x53) && (m == 0x66 || m == 0xf2))
		bt_raise_noerr(cpu, EXC_UD);	/* RSQRT/RCP exist for single precision only */
	d = xmm(cpu, i->reg);
	switch (m) {
	case 0:
		s = src(cpu, i, 16, true);
		for (unsigned k = 0; k < 4; k++)
			d.f[k] = fop(op, d.f[k], s.f[k]);
		break;
	case 0x66:
		s = src(cpu, i, 16, true);
		for (unsigned k = 0; k < 2; k++)
			d.g[k] = dop(op, d.g[k], s.g[k]);
		break;
	case 0xf3:
		s = src(cpu, i, 4, false);
		d.f[0] = fop(op, d.f[0], s.f[0]);
		break;
	default:
		s = src(cpu, i, 8, false);
		d.g[0] = dop(op, d.g[0], s.g[0]);
		break;
	}
	set_xmm(cpu, i->reg, &d);
}

/* ANDPS/ANDNPS/ORPS/XORPS and the PD forms: plain bit operations. */
void bt_h_sse_logic(struct bt_cpu *cpu, const struct bt_insn *i)
{
	xmm_t d, s;

	bt_sse_check(cpu);
	if (i->mandatory >= 0xf2)
		bt_raise_noerr(cpu, EXC_UD);
	s = src(cpu, i, 16, true);
	d = xmm(cpu, i->reg);
	for (unsigned k = 0; k < 2; k++) {
		switch (op8(i)) {
		case 0x54: d.q[k] &= s.q[k]; break;
		case 0x55: d.q[k] = ~d.q[k] & s.q[k]; break;
		case 0x56: d.q[k] |= s.q[k]; break;
		default: d.q[k] ^= s.q[k]; break;
		}
	}
	set_xmm(cpu, i->reg, &d);
}

/* CMPPS/CMPPD/CMPSS/CMPSD predicates 0-7. */
static bool fcmp(unsigned pred, double a, double b)
{
	bool un = isunordered(a, b);

	switch (pred & 7) {
	case 0: return !un && a == b;
	case 1: return !un && a < b;
	case 2: return !un && a <= b;
	case 3: return un;
	case 4: return un || a != b;
	case 5: return un || !(a < b);
	case 6: return un || !(a <= b);
	default: return !un;
	}
}

void bt_h_sse_cmp(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned p = (unsigned)i->imm, m = i->mandatory;
	xmm_t d = xmm(cpu, i->reg), s;

	bt_sse_check(cpu);
	switch (m) {
	case 0:
		s = src(cpu, i, 16, true);
		for (unsigned k = 0; k < 4; k++)
			d.d[k] = fcmp(p, d.f[k], s.f[k]) ? ~0u : 0;
		break;
	case 0x66:
		s = src(cpu, i, 16, true);
		for (unsigned k = 0; k < 2; k++)
			d.q[k] = fcmp(p, d.g[k], s.g[k]) ? ~0ull : 0;
		break;
	case 0xf3:
		s = src(cpu, i, 4, false);
		d.d[0] = fcmp(p, d.f[0], s.f[0]) ? ~0u : 0;
		break;
	default:
		s = src(cpu, i, 8, false);
		d.q[0] = fcmp(p, d.g[0], s.g[0]) ? ~0ull : 0;
		break;
	}
	set_xmm(cpu, i->reg, &d);
}

/* UCOMISS/COMISS/UCOMISD/COMISD: ZF PF CF from the compare, OF SF AF cleared. */
void bt_h_sse_comis(struct bt_cpu *cpu, const struct bt_insn *i)
{
	double a, b;
	uint64_t f;

	bt_sse_check(cpu);
	if (i->mandatory >= 0xf2)
		bt_raise_noerr(cpu, EXC_UD);
	if (i->mandatory == 0x66) {
		a = xmm(cpu, i->reg).g[0];
		b = src(cpu, i, 8, false).g[0];
	} else {
		a = xmm(cpu, i->reg).f[0];
		b = src(cpu, i, 4, false).f[0];
	}
	if (isunordered(a, b))
		f = RFLAGS_ZF | RFLAGS_PF | RFLAGS_CF;
	else
		f = a < b ? RFLAGS_CF : a == b ? RFLAGS_ZF : 0;
	bt_flags_update(cpu, RFLAGS_ARITH, f);
}

void bt_h_sse_shuf(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned sel = (unsigned)i->imm;
	xmm_t d = xmm(cpu, i->reg), s, r;

	bt_sse_check(cpu);
	if (i->mandatory >= 0xf2)
		bt_raise_noerr(cpu, EXC_UD);
	s = src(cpu, i, 16, true);
	if (i->mandatory == 0x66) {
		r.q[0] = d.q[sel & 1];
		r.q[1] = s.q[(sel >> 1) & 1];
	} else {
		r.d[0] = d.d[sel & 3];
		r.d[1] = d.d[(sel >> 2) & 3];
		r.d[2] = s.d[(sel >> 4) & 3];
		r.d[3] = s.d[(sel >> 6) & 3];
	}
	set_xmm(cpu, i->reg, &r);
}

/* ---- Conversions -------------------------------------------------------------------------------- */

/* Round by MXCSR.RC (truncate for the CVTT forms). */
static double round_mx(const struct bt_cpu *cpu, double v, bool truncate)
{
	if (truncate)
		return trunc(v);
	switch ((mxcsr(cpu) >> 13) & 3) {
	case 0: return nearbyint(v);
	case 1: return floor(v);
	case 2: return ceil(v);
	default: return trunc(v);
	}
}

/* Out of range or NaN: the "integer indefinite" 0x80...0. */
static uint64_t to_int(const struct bt_cpu *cpu, double v, unsigned size, bool truncate)
{
	double r = round_mx(cpu, v, truncate);
	double lim = ldexp(1.0, (int)sz_bits(size) - 1);

	if (isnan(r) || r >= lim || r < -lim)
		return sz_sign(size);
	return (uint64_t)(int64_t)r & sz_mask(size);
}

void bt_h_sse_cvt_si2f(struct bt_cpu *cpu, const struct bt_insn *i)
{
	xmm_t d = xmm(cpu, i->reg);
	int64_t v;

	bt_sse_check(cpu);
	if (i->mandatory != 0xf3 && i->mandatory != 0xf2)
		bt_raise_noerr(cpu, EXC_UD);		/* CVTPI2PS/PD take MMX registers */
	v = sext(rm_get(cpu, i, i->opsize), i->opsize);
	if (i->mandatory == 0xf3)
		d.f[0] = (float)v;
	else
		d.g[0] = (double)v;
	set_xmm(cpu, i->reg, &d);
}

void bt_h_sse_cvt_f2si(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bool truncate = op8(i) == 0x2c;
	double v;

	bt_sse_check(cpu);
	if (i->mandatory == 0xf3)
		v = src(cpu, i, 4, false).f[0];
	else if (i->mandatory == 0xf2)
		v = src(cpu, i, 8, false).g[0];
	else
		bt_raise_noerr(cpu, EXC_UD);
	reg_set(cpu, i->reg, i->opsize, true, to_int(cpu, v, i->opsize, truncate));
}

/* 0F 5A, 0F 5B, 0F E6: conversions between float formats and packed int32. */
void bt_h_sse_cvt_ff(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned op = op8(i), m = i->mandatory;
	xmm_t d = xmm(cpu, i->reg), s, r = { 0 };

	bt_sse_check(cpu);
	if (op == 0x5a) {
		switch (m) {
		case 0:		/* CVTPS2PD */
			s = src(cpu, i, 8, false);
			r.g[0] = s.f[0];
			r.g[1] = s.f[1];
			break;
		case 0x66:	/* CVTPD2PS */
			s = src(cpu, i, 16, true);
			r.f[0] = (float)s.g[0];
			r.f[1] = (float)s.g[1];
			break;
		case 0xf3:	/* CVTSS2SD */
			r = d;
			r.g[0] = src(cpu, i, 4, false).f[0];
			break;
		default:	/* CVTSD2SS */
			r = d;
			r.f[0] = (float)src(cpu, i, 8, false).g[0];
			break;
		}
	} else if (op == 0x5b) {
		s = src(cpu, i, 16, true);
		for (unsigned k = 0; k < 4; k++) {
			if (m == 0)		/* CVTDQ2PS */
				r.f[k] = (float)s.sd[k];
			else if (m == 0x66 || m == 0xf3)	/* CVTPS2DQ / CVTTPS2DQ */
				r.d[k] = (uint32_t)to_int(cpu, s.f[k], 4, m == 0xf3);
			else
				bt_raise_noerr(cpu, EXC_UD);
		}
	} else {			/* 0xe6 */
		if (m == 0xf3) {	/* CVTDQ2PD */
			s = src(cpu, i, 8, false);
			r.g[0] = s.sd[0];
			r.g[1] = s.sd[1];
		} else if (m) {		/* CVTTPD2DQ (66) / CVTPD2DQ (F2) */
			s = src(cpu, i, 16, true);
			r.d[0] = (uint32_t)to_int(cpu, s.g[0], 4, m == 0x66);
			r.d[1] = (uint32_t)to_int(cpu, s.g[1], 4, m == 0x66);
		} else {
			bt_raise_noerr(cpu, EXC_UD);
		}
	}
	set_xmm(cpu, i->reg, &r);
}

/* ---- Packed integers (66 prefix) -------------------------------------------------------------- */

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static void shift_lanes(xmm_t *d, unsigned lane, uint64_t count, int dir)
{
	unsigned bits = lane * 8, n = 16 / lane;

	for (unsigned k = 0; k < n; k++) {
		uint64_t v = 0;
		memcpy(&v, d->b + k * lane, lane);
		if (dir < 0)		/* left */
			v = count >= bits ? 0 : v << count;
		else if (dir > 0)	/* logical right */
			v = count >= bits ? 0 : v >> count;
		else			/* arithmetic right */
			v = (uint64_t)(sext(v, lane) >> (count >= bits ? bits - 1 : count));
		memcpy(d->b + k * lane, &v, lane);
	}
}

static void byte_shift(xmm_t *d, unsigned count, bool left)
{
	xmm_t r = { 0 };
	if (count > 16)
		count = 16;
	if (left)
		memcpy(r.b + count, d->b, 16 - count);
	else
		memcpy(r.b, d->b + count, 16 - count);
	*d = r;
}

static void unpack(xmm_t *d, const xmm_t *s, unsigned lane, bool high)
{
	xmm_t r;
	unsigned n = 8 / lane, off = high ? 8 : 0;

	for (unsigned k = 0; k < n; k++) {
		memcpy(r.b + 2 * k * lane, d->b + off + k * lane, lane);
		memcpy(r.b + (2 * k + 1) * lane, s->b + off + k * lane, lane);
	}
	*d = r;
}

void bt_h_sse_int(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned op = op8(i);
	xmm_t d, s, r;

	bt_sse_check(cpu);
	require_66(cpu, i);
	s = src(cpu, i, 16, true);
	d = xmm(cpu, i->reg);
	r = d;
	switch (op) {
	case 0x60: unpack(&r, &s, 1, false); break;
	case 0x61: unpack(&r, &s, 2, false); break;
	case 0x62: unpack(&r, &s, 4, false); break;
	case 0x6c: unpack(&r, &s, 8, false); break;
	case 0x68: unpack(&r, &s, 1, true); break;
	case 0x69: unpack(&r, &s, 2, true); break;
	case 0x6a: unpack(&r, &s, 4, true); break;
	case 0x6d: unpack(&r, &s, 8, true); break;
	case 0x63:		/* PACKSSWB */
		for (unsigned k = 0; k < 8; k++) {
			r.sb[k] = (int8_t)clamp(d.sw[k], -128, 127);
			r.sb[k + 8] = (int8_t)clamp(s.sw[k], -128, 127);
		}
		break;
	case 0x67:		/* PACKUSWB */
		for (unsigned k = 0; k < 8; k++) {
			r.b[k] = (uint8_t)clamp(d.sw[k], 0, 255);
			r.b[k + 8] = (uint8_t)clamp(s.sw[k], 0, 255);
		}
		break;
	case 0x6b:		/* PACKSSDW */
		for (unsigned k = 0; k < 4; k++) {
			r.sw[k] = (int16_t)clamp(d.sd[k], -32768, 32767);
			r.sw[k + 4] = (int16_t)clamp(s.sd[k], -32768, 32767);
		}
		break;
	case 0x64: for (unsigned k = 0; k < 16; k++) r.b[k] = d.sb[k] > s.sb[k] ? 0xff : 0; break;
	case 0x65: for (unsigned k = 0; k < 8; k++) r.w[k] = d.sw[k] > s.sw[k] ? 0xffff : 0; break;
	case 0x66: for (unsigned k = 0; k < 4; k++) r.d[k] = d.sd[k] > s.sd[k] ? ~0u : 0; break;
	case 0x74: for (unsigned k = 0; k < 16; k++) r.b[k] = d.b[k] == s.b[k] ? 0xff : 0; break;
	case 0x75: for (unsigned k = 0; k < 8; k++) r.w[k] = d.w[k] == s.w[k] ? 0xffff : 0; break;
	case 0x76: for (unsigned k = 0; k < 4; k++) r.d[k] = d.d[k] == s.d[k] ? ~0u : 0; break;
	case 0xd1: shift_lanes(&r, 2, s.q[0], 1); break;
	case 0xd2: shift_lanes(&r, 4, s.q[0], 1); break;
	case 0xd3: shift_lanes(&r, 8, s.q[0], 1); break;
	case 0xe1: shift_lanes(&r, 2, s.q[0], 0); break;
	case 0xe2: shift_lanes(&r, 4, s.q[0], 0); break;
	case 0xf1: shift_lanes(&r, 2, s.q[0], -1); break;
	case 0xf2: shift_lanes(&r, 4, s.q[0], -1); break;
	case 0xf3: shift_lanes(&r, 8, s.q[0], -1); break;
	case 0xd4: for (unsigned k = 0; k < 2; k++) r.q[k] = d.q[k] + s.q[k]; break;
	case 0xfb: for (unsigned k = 0; k < 2; k++) r.q[k] = d.q[k] - s.q[k]; break;
	case 0xfc: for (unsigned k = 0; k < 16; k++) r.b[k] = (uint8_t)(d.b[k] + s.b[k]); break;
	case 0xfd: for (unsigned k = 0; k < 8; k++) r.w[k] = (uint16_t)(d.w[k] + s.w[k]); break;
	case 0xfe: for (unsigned k = 0; k < 4; k++) r.d[k] = d.d[k] + s.d[k]; break;
	case 0xf8: for (unsigned k = 0; k < 16; k++) r.b[k] = (uint8_t)(d.b[k] - s.b[k]); break;
	case 0xf9: for (unsigned k = 0; k < 8; k++) r.w[k] = (uint16_t)(d.w[k] - s.w[k]); break;
	case 0xfa: for (unsigned k = 0; k < 4; k++) r.d[k] = d.d[k] - s.d[k]; break;
	case 0xd8: for (unsigned k = 0; k < 16; k++) r.b[k] = (uint8_t)clamp(d.b[k] - s.b[k], 0, 255); break;
	case 0xd9: for (unsigned k = 0; k < 8; k++) r.w[k] = (uint16_t)clamp(d.w[k] - s.w[k], 0, 65535); break;
	case 0xdc: for (unsigned k = 0; k < 16; k++) r.b[k] = (uint8_t)clamp(d.b[k] + s.b[k], 0, 255); break;
	case 0xdd: for (unsigned k = 0; k < 8; k++) r.w[k] = (uint16_t)clamp(d.w[k] + s.w[k], 0, 65535); break;
	case 0xe8: for (unsigned k = 0; k < 16; k++) r.sb[k] = (int8_t)clamp(d.sb[k] - s.sb[k], -128, 127); break;
	case 0xe9: for (unsigned k = 0; k < 8; k++) r.sw[k] = (int16_t)clamp(d.sw[k] - s.sw[k], -32768, 32767); break;
	case 0xec: for (unsigned k = 0; k < 16; k++) r.sb[k] = (int8_t)clamp(d.sb[k] + s.sb[k], -128, 127); break;
	case 0xed: for (unsigned k = 0; k < 8; k++) r.sw[k] = (int16_t)clamp(d.sw[k] + s.sw[k], -32768, 32767); break;
	case 0xda: for (unsigned k = 0; k < 16; k++) r.b[k] = d.b[k] < s.b[k] ? d.b[k] : s.b[k]; break;
	case 0xde: for (unsigned k = 0; k < 16; k++) r.b[k] = d.b[k] > s.b[k] ? d.b[k] : s.b[k]; break;
	case 0xea: for (unsigned k = 0; k < 8; k++) r.sw[k] = d.sw[k] < s.sw[k] ? d.sw[k] : s.sw[k]; break;
	case 0xee: for (unsigned k = 0; k < 8; k++) r.sw[k] = d.sw[k] > s.sw[k] ? d.sw[k] : s.sw[k]; break;
	case 0xdb: for (unsigned k = 0; k < 2; k++) r.q[k] = d.q[k] & s.q[k]; break;
	case 0xdf: for (unsigned k = 0; k < 2; k++) r.q[k] = ~d.q[k] & s.q[k]; break;
	case 0xeb: for (unsigned k = 0; k < 2; k++) r.q[k] = d.q[k] | s.q[k]; break;
	case 0xef: for (unsigned k = 0; k < 2; k++) r.q[k] = d.q[k] ^ s.q[k]; break;
	case 0xe0: for (unsigned k = 0; k < 16; k++) r.b[k] = (uint8_t)((d.b[k] + s.b[k] + 1) >> 1); break;
	case 0xe3: for (unsigned k = 0; k < 8; k++) r.w[k] = (uint16_t)((d.w[k] + s.w[k] + 1) >> 1); break;
	case 0xd5: for (unsigned k = 0; k < 8; k++) r.w[k] = (uint16_t)((uint32_t)d.w[k] * s.w[k]); break;
	case 0xe4: for (unsigned k = 0; k < 8; k++) r.w[k] = (uint16_t)(((uint32_t)d.w[k] * s.w[k]) >> 16); break;
	case 0xe5: for (unsigned k = 0; k < 8; k++) r.w[k] = (uint16_t)(((int32_t)d.sw[k] * s.sw[k]) >> 16); break;
	case 0xf4: for (unsigned k = 0; k < 2; k++) r.q[k] = (uint64_t)d.d[2 * k] * s.d[2 * k]; break;
	case 0xf5:		/* PMADDWD */
		for (unsigned k = 0; k < 4; k++)
			r.d[k] = (uint32_t)((int64_t)d.sw[2 * k] * s.sw[2 * k] +
					    (int64_t)d.sw[2 * k + 1] * s.sw[2 * k + 1]);
		break;
	case 0xf6:		/* PSADBW */
		for (unsigned k = 0; k < 2; k++) {
			uint64_t sum = 0;
			for (unsigned b = 0; b < 8; b++)
				sum += (uint64_t)abs(d.b[8 * k + b] - s.b[8 * k + b]);
			r.q[k] = sum;
		}
		break;
	default:
		bt_raise_noerr(cpu, EXC_UD);
	}
	set_xmm(cpu, i->reg, &r);
}

/* 66 0F 71/72/73 /n ib: shifts of the register operand by an immediate. */
void bt_h_sse_shift_imm(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned op = op8(i), n = i->reg & 7, c = (unsigned)i->imm & 0xff;
	xmm_t d;

	bt_sse_check(cpu);
	require_66(cpu, i);
	require_reg(cpu, i);
	d = xmm(cpu, i->rm);
	unsigned lane = op == 0x71 ? 2 : op == 0x72 ? 4 : 8;
	if (n == 2)
		shift_lanes(&d, lane, c, 1);
	else if (n == 4 && lane != 8)
		shift_lanes(&d, lane, c, 0);
	else if (n == 6)
		shift_lanes(&d, lane, c, -1);
	else if (op == 0x73 && n == 3)
		byte_shift(&d, c, false);	/* PSRLDQ */
	else if (op == 0x73 && n == 7)
		byte_shift(&d, c, true);	/* PSLLDQ */
	else
		bt_raise_noerr(cpu, EXC_UD);
	set_xmm(cpu, i->rm, &d);
}

/* PSHUFD (66), PSHUFHW (F3), PSHUFLW (F2). */
void bt_h_sse_pshuf(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned sel = (unsigned)i->imm;
	xmm_t s, r;

	bt_sse_check(cpu);
	if (!i->mandatory)
		bt_raise_noerr(cpu, EXC_UD);		/* PSHUFW: MMX */
	s = src(cpu, i, 16, true);
	r = s;
	if (i->mandatory == 0x66) {
		for (unsigned k = 0; k < 4; k++)
			r.d[k] = s.d[(sel >> (2 * k)) & 3];
	} else {
		unsigned base = i->mandatory == 0xf3 ? 4 : 0;
		for (unsigned k = 0; k < 4; k++)
			r.w[base + k] = s.w[base + ((sel >> (2 * k)) & 3)];
	}
	set_xmm(cpu, i->reg, &r);
}

void bt_h_sse_pmovmskb(struct bt_cpu *cpu, const struct bt_insn *i)
{
	xmm_t s;
	uint64_t mask = 0;

	bt_sse_check(cpu);
	require_66(cpu, i);
	require_reg(cpu, i);
	s = xmm(cpu, i->rm);
	for (unsigned k = 0; k < 16; k++)
		mask |= (uint64_t)(s.b[k] >> 7) << k;
	reg_set(cpu, i->reg, i->opsize, true, mask);
}

void bt_h_sse_pinsrw(struct bt_cpu *cpu, const struct bt_insn *i)
{
	xmm_t d;
	uint64_t v;

	bt_sse_check(cpu);
	require_66(cpu, i);
	v = (i->flags & BI_MEM) ? bt_read(cpu, i->seg, bt_ea(cpu, i), 2)
				: reg_get(cpu, i->rm, 2, true);
	d = xmm(cpu, i->reg);
	d.w[i->imm & 7] = (uint16_t)v;
	set_xmm(cpu, i->reg, &d);
}

void bt_h_sse_pextrw(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_sse_check(cpu);
	require_66(cpu, i);
	require_reg(cpu, i);
	reg_set(cpu, i->reg, i->opsize, true, xmm(cpu, i->rm).w[i->imm & 7]);
}

/* ---- State --------------------------------------------------------------------------------------- */

/* FXSAVE/FXRSTOR need the FPU usable (#NM on TS, #UD on EM) but not OSFXSR (which only
 * decides whether the XMM part is included; vmon always includes it). */
static uint64_t fxsave_area(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t off = bt_ea(cpu, i);

	if (cpu->s.cr0 & CR0_EM)
		bt_raise_noerr(cpu, EXC_UD);
	if (cpu->s.cr0 & CR0_TS)
		bt_raise_noerr(cpu, EXC_NM);
	if (off & 15)
		bt_raise(cpu, EXC_GP, 0);
	return off;
}

void bt_h_fxsave(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t off = fxsave_area(cpu, i), m = sz_mask(i->addrsize);
	uint32_t mask = MXCSR_VALID;

	memcpy(cpu->s.fxsave + FX_MXCSR_MASK, &mask, 4);
	/* the last quadword first, so a fault leaves memory untouched */
	for (int k = 63; k >= 0; k--) {
		uint64_t q;
		memcpy(&q, cpu->s.fxsave + 8 * k, 8);
		bt_write(cpu, i->seg, (off + 8 * (unsigned)k) & m, 8, q);
	}
}

void bt_h_fxrstor(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t off = fxsave_area(cpu, i), m = sz_mask(i->addrsize);
	uint8_t img[512];
	uint32_t mx;

	for (unsigned k = 0; k < 64; k++) {
		uint64_t q = bt_read(cpu, i->seg, (off + 8 * k) & m, 8);
		memcpy(img + 8 * k, &q, 8);
	}
	memcpy(&mx, img + FX_MXCSR, 4);
	if (mx & ~MXCSR_VALID)
		bt_raise(cpu, EXC_GP, 0);
	memcpy(cpu->s.fxsave, img, 512);
}

void bt_h_ldmxcsr(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint32_t v;

	bt_sse_check(cpu);
	v = (uint32_t)bt_read(cpu, i->seg, bt_ea(cpu, i), 4);
	if (v & ~MXCSR_VALID)
		bt_raise(cpu, EXC_GP, 0);
	memcpy(cpu->s.fxsave + FX_MXCSR, &v, 4);
}

void bt_h_stmxcsr(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_sse_check(cpu);
	bt_write(cpu, i->seg, bt_ea(cpu, i), 4, mxcsr(cpu));
}
