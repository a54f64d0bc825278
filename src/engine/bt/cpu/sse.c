/* SSE and SSE2 (the x86-64 baseline): moves, packed/scalar float arithmetic, conversions,
 * compares, packed integer operations, FXSAVE/FXRSTOR and MXCSR. XMM registers live in
 * cpu_state's FXSAVE image at byte 160 + 16 * n.
 *
 * Float arithmetic, compares and conversions run on the host's SSE unit under the guest's
 * MXCSR (see HOST_SSE): exact results, rounding, FTZ/DAZ and exception flags; an unmasked
 * exception raises #XM.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/bt/cpu/ops.h"

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

/* Float operations run on the host's SSE unit, register to register, under the guest's MXCSR
 * (rounding control, FTZ, DAZ) with every exception masked: results, NaN propagation (Intel
 * SDM Vol. 1, 4.8.3.5) and the exception flags are then the hardware's. mx is the MXCSR to
 * run with; the flags the instruction raised come back in it. */
typedef uint64_t v2q __attribute__((vector_size(16)));

#define HOST_SSE(insn, outc, out, inc, in, mx)						\
	do {										\
		uint32_t host_mx_;							\
		__asm__ volatile("stmxcsr %[h]\n\tldmxcsr %[m]\n\t" insn " %[s], %[d]\n\t"	\
				 "stmxcsr %[m]\n\tldmxcsr %[h]"				\
				 : [d] outc(out), [m] "+m"(mx), [h] "=m"(host_mx_)	\
				 : [s] inc(in));					\
	} while (0)
#define HOST_XX(insn, d, s, mx) HOST_SSE(insn, "+x", d, "x", s, mx)

static v2q vq(const xmm_t *v) { v2q r; memcpy(&r, v, 16); return r; }
static xmm_t xq(v2q v) { xmm_t r; memcpy(&r, &v, 16); return r; }

/* The guest's MXCSR with its flags cleared and all exceptions masked. */
static uint32_t host_mxcsr(const struct bt_cpu *cpu)
{
	return (mxcsr(cpu) & MXCSR_VALID & ~0x3fu) | 0x1f80u;
}

/* Merge the exception flags the host raised into the guest's sticky ones. An unmasked one is
 * #XM (#UD without CR4.OSXMMEXCPT) and leaves the destination as it was. Approximation: the
 * host ran masked, so a post-computation flag (OE UE PE) can be reported along with a
 * pre-computation one (IE DE ZE) that should have stopped it. */
static void mx_commit(struct bt_cpu *cpu, uint32_t ran)
{
	uint32_t m = mxcsr(cpu) | (ran & 0x3f);

	memcpy(cpu->s.fxsave + FX_MXCSR, &m, 4);
	if (ran & 0x3f & ~(m >> 7))
		bt_raise_noerr(cpu, (cpu->s.cr4 & CR4_OSXMMEXCPT) ? EXC_XM : EXC_UD);
}

#define ARITH4(o, name)								\
	case o << 8: HOST_XX(name "ps", d, s, mx); break;			\
	case o << 8 | 0x66: HOST_XX(name "pd", d, s, mx); break;		\
	case o << 8 | 0xf3: HOST_XX(name "ss", d, s, mx); break;		\
	case o << 8 | 0xf2: HOST_XX(name "sd", d, s, mx); break;

static v2q host_arith(unsigned op, unsigned m, v2q d, v2q s, uint32_t *pmx)
{
	uint32_t mx = *pmx;

	switch (op << 8 | m) {
	ARITH4(0x51, "sqrt") ARITH4(0x58, "add") ARITH4(0x59, "mul") ARITH4(0x5c, "sub")
	ARITH4(0x5d, "min") ARITH4(0x5e, "div") ARITH4(0x5f, "max")
	case 0x5200: HOST_XX("rsqrtps", d, s, mx); break;
	case 0x52f3: HOST_XX("rsqrtss", d, s, mx); break;
	case 0x5300: HOST_XX("rcpps", d, s, mx); break;
	default: HOST_XX("rcpss", d, s, mx); break;
	}
	*pmx = mx;
	return d;
}

static unsigned fp_size(unsigned m) { return m == 0xf3 ? 4 : m == 0xf2 ? 8 : 16; }

void bt_h_sse_arith(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned op = op8(i), m = i->mandatory;
	uint32_t mx;
	xmm_t d, s;

	bt_sse_check(cpu);
	if ((op == 0x52 || op == 0x53) && (m == 0x66 || m == 0xf2))
		bt_raise_noerr(cpu, EXC_UD);	/* RSQRT/RCP exist for single precision only */
	s = src(cpu, i, fp_size(m), fp_size(m) == 16);
	d = xmm(cpu, i->reg);
	mx = host_mxcsr(cpu);
	d = xq(host_arith(op, m, vq(&d), vq(&s), &mx));
	mx_commit(cpu, mx);
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

/* CMPPS/CMPPD/CMPSS/CMPSD: the predicate is an immediate of the host instruction too. */
#define CMP_PRED(p)								\
	case p << 8: HOST_XX("cmpps $" #p ",", d, s, mx); break;		\
	case p << 8 | 0x66: HOST_XX("cmppd $" #p ",", d, s, mx); break;	\
	case p << 8 | 0xf3: HOST_XX("cmpss $" #p ",", d, s, mx); break;	\
	case p << 8 | 0xf2: HOST_XX("cmpsd $" #p ",", d, s, mx); break;

static v2q host_cmp(unsigned pred, unsigned m, v2q d, v2q s, uint32_t *pmx)
{
	uint32_t mx = *pmx;

	switch ((pred & 7) << 8 | m) {
	CMP_PRED(0) CMP_PRED(1) CMP_PRED(2) CMP_PRED(3) CMP_PRED(4) CMP_PRED(5) CMP_PRED(6)
	CMP_PRED(7)
	}
	*pmx = mx;
	return d;
}

void bt_h_sse_cmp(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned m = i->mandatory;
	uint32_t mx;
	xmm_t d, s;

	bt_sse_check(cpu);
	s = src(cpu, i, fp_size(m), fp_size(m) == 16);
	d = xmm(cpu, i->reg);
	mx = host_mxcsr(cpu);
	d = xq(host_cmp((unsigned)i->imm, m, vq(&d), vq(&s), &mx));	/* imm bits 7:3 ignored */
	mx_commit(cpu, mx);
	set_xmm(cpu, i->reg, &d);
}

/* UCOMISS/COMISS/UCOMISD/COMISD: ZF PF CF from the compare, OF SF AF cleared; COMIS signals
 * invalid for QNaN operands too. */
void bt_h_sse_comis(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned key = (op8(i) == 0x2f) << 8 | i->mandatory;
	v2q a, b;
	bool zf, pf, cf;
	uint32_t mx, host;
	xmm_t d, s;

	bt_sse_check(cpu);
	if (i->mandatory >= 0xf2)
		bt_raise_noerr(cpu, EXC_UD);
	s = src(cpu, i, i->mandatory == 0x66 ? 8 : 4, false);
	d = xmm(cpu, i->reg);
	a = vq(&d);
	b = vq(&s);
	mx = host_mxcsr(cpu);
#define COMIS(insn)									\
	__asm__ volatile("stmxcsr %[h]\n\tldmxcsr %[m]\n\t" insn " %[s], %[d]\n\t"	\
			 "stmxcsr %[m]\n\tldmxcsr %[h]"					\
			 : "=@ccz"(zf), "=@ccp"(pf), "=@ccc"(cf), [m] "+m"(mx), [h] "=m"(host)	\
			 : [d] "x"(a), [s] "x"(b))
	switch (key) {
	case 0x000: COMIS("ucomiss"); break;
	case 0x066: COMIS("ucomisd"); break;
	case 0x100: COMIS("comiss"); break;
	default: COMIS("comisd"); break;
	}
#undef COMIS
	mx_commit(cpu, mx);
	bt_flags_update(cpu, RFLAGS_ARITH, (zf ? RFLAGS_ZF : 0) | (pf ? RFLAGS_PF : 0) |
					   (cf ? RFLAGS_CF : 0));
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

void bt_h_sse_cvt_si2f(struct bt_cpu *cpu, const struct bt_insn *i)
{
	xmm_t d = xmm(cpu, i->reg);
	v2q r = vq(&d);
	uint64_t v;
	uint32_t mx;

	bt_sse_check(cpu);
	if (i->mandatory != 0xf3 && i->mandatory != 0xf2)
		bt_raise_noerr(cpu, EXC_UD);		/* CVTPI2PS/PD take MMX registers */
	v = rm_get(cpu, i, i->opsize);
	mx = host_mxcsr(cpu);
	if (i->mandatory == 0xf3) {
		if (i->opsize == 8)
			HOST_SSE("cvtsi2ssq", "+x", r, "r", v, mx);
		else
			HOST_SSE("cvtsi2ssl", "+x", r, "r", (uint32_t)v, mx);
	} else {
		if (i->opsize == 8)
			HOST_SSE("cvtsi2sdq", "+x", r, "r", v, mx);
		else
			HOST_SSE("cvtsi2sdl", "+x", r, "r", (uint32_t)v, mx);
	}
	d = xq(r);
	mx_commit(cpu, mx);
	set_xmm(cpu, i->reg, &d);
}

/* CVTSS2SI CVTTSS2SI CVTSD2SI CVTTSD2SI: out of range and NaN give the integer indefinite. */
void bt_h_sse_cvt_f2si(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned key = (op8(i) == 0x2c) << 8 | i->mandatory;
	xmm_t s;
	v2q v;
	uint64_t r;
	uint32_t mx;

	bt_sse_check(cpu);
	if (i->mandatory != 0xf3 && i->mandatory != 0xf2)
		bt_raise_noerr(cpu, EXC_UD);
	s = src(cpu, i, i->mandatory == 0xf3 ? 4 : 8, false);
	v = vq(&s);
	mx = host_mxcsr(cpu);
	if (i->opsize == 8) {
		switch (key) {
		case 0x0f3: HOST_SSE("cvtss2si", "=r", r, "x", v, mx); break;
		case 0x1f3: HOST_SSE("cvttss2si", "=r", r, "x", v, mx); break;
		case 0x0f2: HOST_SSE("cvtsd2si", "=r", r, "x", v, mx); break;
		default: HOST_SSE("cvttsd2si", "=r", r, "x", v, mx); break;
		}
	} else {
		uint32_t r32;
		switch (key) {
		case 0x0f3: HOST_SSE("cvtss2si", "=r", r32, "x", v, mx); break;
		case 0x1f3: HOST_SSE("cvttss2si", "=r", r32, "x", v, mx); break;
		case 0x0f2: HOST_SSE("cvtsd2si", "=r", r32, "x", v, mx); break;
		default: HOST_SSE("cvttsd2si", "=r", r32, "x", v, mx); break;
		}
		r = r32;
	}
	mx_commit(cpu, mx);
	reg_set(cpu, i->reg, i->opsize, true, r);
}

/* 0F 5A, 0F 5B, 0F E6: conversions between float formats and packed int32. The source is
 * 8 bytes for CVTPS2PD and CVTDQ2PD, else as wide as its format. */
void bt_h_sse_cvt_ff(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned key = op8(i) << 8 | i->mandatory, size;
	xmm_t d, s;
	v2q r, v;
	uint32_t mx;

	bt_sse_check(cpu);
	switch (key) {
	case 0x5a00: case 0xe6f3: size = 8; break;
	case 0x5af3: size = 4; break;
	case 0x5af2: size = 8; break;
	case 0x5a66: case 0x5b00: case 0x5b66: case 0x5bf3: case 0xe666: case 0xe6f2: size = 16; break;
	default: bt_raise_noerr(cpu, EXC_UD);
	}
	s = src(cpu, i, size, size == 16);
	d = xmm(cpu, i->reg);
	r = vq(&d);
	v = vq(&s);
	mx = host_mxcsr(cpu);
	switch (key) {
	case 0x5a00: HOST_XX("cvtps2pd", r, v, mx); break;
	case 0x5a66: HOST_XX("cvtpd2ps", r, v, mx); break;
	case 0x5af3: HOST_XX("cvtss2sd", r, v, mx); break;
	case 0x5af2: HOST_XX("cvtsd2ss", r, v, mx); break;
	case 0x5b00: HOST_XX("cvtdq2ps", r, v, mx); break;
	case 0x5b66: HOST_XX("cvtps2dq", r, v, mx); break;
	case 0x5bf3: HOST_XX("cvttps2dq", r, v, mx); break;
	case 0xe6f3: HOST_XX("cvtdq2pd", r, v, mx); break;
	case 0xe666: HOST_XX("cvttpd2dq", r, v, mx); break;
	default: HOST_XX("cvtpd2dq", r, v, mx); break;
	}
	d = xq(r);
	mx_commit(cpu, mx);
	set_xmm(cpu, i->reg, &d);
}

/* ---- Packed integers (66 prefix) -------------------------------------------------------------- */

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

void bt_shift_lanes(xmm_t *d, unsigned lane, uint64_t count, int dir)
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

bool bt_packed_int(unsigned op, xmm_t *pr, const xmm_t *pd, const xmm_t *ps)
{
	const xmm_t d = *pd, s = *ps;
	xmm_t r = d;

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
	case 0xd1: bt_shift_lanes(&r, 2, s.q[0], 1); break;
	case 0xd2: bt_shift_lanes(&r, 4, s.q[0], 1); break;
	case 0xd3: bt_shift_lanes(&r, 8, s.q[0], 1); break;
	case 0xe1: bt_shift_lanes(&r, 2, s.q[0], 0); break;
	case 0xe2: bt_shift_lanes(&r, 4, s.q[0], 0); break;
	case 0xf1: bt_shift_lanes(&r, 2, s.q[0], -1); break;
	case 0xf2: bt_shift_lanes(&r, 4, s.q[0], -1); break;
	case 0xf3: bt_shift_lanes(&r, 8, s.q[0], -1); break;
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
		return false;
	}
	*pr = r;
	return true;
}

void bt_h_sse_int(struct bt_cpu *cpu, const struct bt_insn *i)
{
	xmm_t d, s, r;

	bt_sse_check(cpu);
	require_66(cpu, i);
	s = src(cpu, i, 16, true);
	d = xmm(cpu, i->reg);
	if (!bt_packed_int(op8(i), &r, &d, &s))
		bt_raise_noerr(cpu, EXC_UD);
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
		bt_shift_lanes(&d, lane, c, 1);
	else if (n == 4 && lane != 8)
		bt_shift_lanes(&d, lane, c, 0);
	else if (n == 6)
		bt_shift_lanes(&d, lane, c, -1);
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
