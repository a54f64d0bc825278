/* x87 FPU. The registers live in cpu_state's FXSAVE image (so both engines and snapshots see the
 * same state): ST(i) at byte 32 + 16 * i, FCW/FSW/abridged FTW at 0/2/4.
 *
 * Every arithmetic, compare, convert, load/store and stack instruction runs on the host's own
 * x87 unit: a stub loads the guest's registers, FSW and FCW with FRSTOR, executes the very same
 * instruction (memory operands redirected to a bounce buffer) and reads everything back with
 * FNSAVE. Results, rounding and precision control, condition codes, exception flags, NaN and
 * unsupported-encoding handling are therefore the hardware's. An exception the guest unmasked
 * leaves the state as hardware does (no result, ES and B set); FNSAVE is a no-wait instruction
 * and reinitializes the host unit, so the pending exception never reaches the host. The guest
 * takes it as #MF on its next waiting x87 instruction when CR0.NE is set; with CR0.NE clear
 * (the legacy FERR#/IRQ 13 scheme) it is ignored, as if IGNNE# were asserted.
 *
 * The environment instructions (FLDENV, FNSTENV, FRSTOR, FNSAVE, FLDCW, FNSTCW, FNSTSW, FNCLEX,
 * FNINIT) are emulated, since their memory layout depends on the guest's operand size. FIP, FDP
 * and FOP are not tracked (FNSTENV and FNSAVE store them as 0).
 */
#include <string.h>

#include "engine/bt/cpu/ops.h"

enum {
	FSW_IE = 1 << 0, FSW_DE = 1 << 1, FSW_ZE = 1 << 2, FSW_OE = 1 << 3, FSW_UE = 1 << 4,
	FSW_EXC = 0x3f,			/* IE DE ZE OE UE PE */
	FSW_ES = 1 << 7, FSW_B = 1 << 15,
};

static uint8_t *fx(struct bt_cpu *cpu) { return cpu->s.fxsave; }

static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

static uint16_t fcw(struct bt_cpu *cpu) { return get16(fx(cpu)); }
static uint16_t fsw(struct bt_cpu *cpu) { return get16(fx(cpu) + 2); }
static void set_fsw(struct bt_cpu *cpu, uint16_t v) { put16(fx(cpu) + 2, v); }
static unsigned top(struct bt_cpu *cpu) { return (fsw(cpu) >> 11) & 7; }

/* ES and B summarize the exception flags the FCW leaves unmasked: hardware recomputes them
 * whenever either word changes (FLDCW, FLDENV, FNSTENV's masking). */
static void sync_es(struct bt_cpu *cpu)
{
	uint16_t sw = fsw(cpu) & (uint16_t)~(FSW_ES | FSW_B);

	if (sw & ~fcw(cpu) & FSW_EXC)
		sw |= FSW_ES | FSW_B;
	set_fsw(cpu, sw);
}

static void fninit(struct bt_cpu *cpu)
{
	uint8_t *f = fx(cpu);
	put16(f, 0x37f);
	put16(f + 2, 0);
	f[4] = 0;
	memset(f + 6, 0, 18);		/* FOP, FIP, FDP */
}

/* The 2-bit tag hardware derives from a non-empty register's encoding: 0 valid, 1 zero,
 * 2 special (NaN, infinity, denormal, unnormal and pseudo encodings). */
static unsigned reg_tag(const uint8_t *r)
{
	unsigned exp = get16(r + 8) & 0x7fff;
	uint64_t man;

	memcpy(&man, r, 8);
	if (exp == 0x7fff)
		return 2;
	if (exp == 0)
		return man ? 2 : 1;
	return man >> 63 ? 0 : 2;
}

/* The full tag word, from the abridged one and the register contents. */
static uint16_t full_tags(struct bt_cpu *cpu)
{
	uint16_t tw = 0;

	for (unsigned p = 0; p < 8; p++) {
		unsigned t = 3;
		if (fx(cpu)[4] & (1u << p))
			t = reg_tag(fx(cpu) + 32 + 16 * ((p - top(cpu)) & 7));
		tw |= (uint16_t)(t << (2 * p));
	}
	return tw;
}

static uint8_t abridged_tags(uint16_t tw)
{
	uint8_t ab = 0;

	for (unsigned p = 0; p < 8; p++)
		if (((tw >> (2 * p)) & 3) != 3)
			ab |= (uint8_t)(1u << p);
	return ab;
}

/* #NM when the FPU is off (EM) or its state belongs to another task (TS). */
static void fpu_check(struct bt_cpu *cpu)
{
	if (cpu->s.cr0 & (CR0_EM | CR0_TS))
		bt_raise_noerr(cpu, EXC_NM);
}

/* A waiting instruction first delivers a pending unmasked exception (#MF with CR0.NE). */
static void fpu_wait(struct bt_cpu *cpu)
{
	if ((fsw(cpu) & ~fcw(cpu) & FSW_EXC) && (cpu->s.cr0 & CR0_NE))
		bt_raise_noerr(cpu, EXC_MF);
}

/* ---- The host x87 unit ---------------------------------------------------------------------- */

/* One 16-byte stub per instruction: 512 register forms (D8-DF with ModRM C0-FF) and then the 64
 * memory forms (D8-DF /digit) addressing [rsi]. A stub takes the FNSAVE image in rdi, the
 * memory operand in rsi and the CF/PF/ZF to run with in rdx, and returns the resulting RFLAGS.
 * endbr64 keeps it a valid indirect-branch target on CET hosts. */
typedef uint64_t (*x87_stub)(uint8_t *image, uint8_t *mem, uint64_t rflags);
extern void vmon_x87_stubs(void);

__asm__(".pushsection .text\n"
	".balign 16\n"
	".globl vmon_x87_stubs\n"
	".hidden vmon_x87_stubs\n"
	".type vmon_x87_stubs, @function\n"
	"vmon_x87_stubs:\n"
	".set vmon_x87_n, 0\n"
	".rept 576\n"
	".balign 16, 0xcc\n"
	"endbr64\n"
	"push %rdx\n"
	"popfq\n"
	"frstor (%rdi)\n"
	".if vmon_x87_n < 512\n"
	".byte 0xd8 + (vmon_x87_n >> 6), 0xc0 + (vmon_x87_n & 63)\n"
	".else\n"
	".byte 0xd8 + ((vmon_x87_n - 512) >> 3), (((vmon_x87_n - 512) & 7) << 3) | 6\n"
	".endif\n"
	"fnsave (%rdi)\n"
	"pushfq\n"
	"pop %rax\n"
	"ret\n"
	".set vmon_x87_n, vmon_x87_n + 1\n"
	".endr\n"
	".size vmon_x87_stubs, . - vmon_x87_stubs\n"
	".popsection\n");

enum { STUB_SIZE = 16, STUB_MEM = 512 };

/* The 32-bit protected-mode FNSAVE/FRSTOR image the stubs use. */
enum { IMG_FCW = 0, IMG_FSW = 4, IMG_FTW = 8, IMG_ST = 28, IMG_SIZE = 108 };

struct host_run {
	uint8_t image[IMG_SIZE];
	uint16_t cw;		/* the FCW the host ran with */
	uint64_t rflags;
};

/* Run stub number n on the guest's state; nothing of the guest is changed yet. Exception flags
 * that are already set run masked: they were delivered before (fpu_wait) or are being ignored,
 * and must not make the host unit trap. */
static void host_run(struct bt_cpu *cpu, unsigned n, uint8_t *mem, struct host_run *r)
{
	x87_stub stub = (x87_stub)((uintptr_t)vmon_x87_stubs + STUB_SIZE * n);
	uint16_t sw = fsw(cpu), host_cw;
	uint64_t in = bt_get_rflags(cpu) & (RFLAGS_CF | RFLAGS_PF | RFLAGS_ZF);

	memset(r->image, 0, sizeof(r->image));
	r->cw = (uint16_t)(fcw(cpu) | (sw & FSW_EXC));
	put16(r->image + IMG_FCW, r->cw);
	put16(r->image + IMG_FSW, (uint16_t)(sw & ~(FSW_ES | FSW_B)));
	put16(r->image + IMG_FTW, full_tags(cpu));
	for (unsigned k = 0; k < 8; k++)
		memcpy(r->image + IMG_ST + 10 * k, fx(cpu) + 32 + 16 * k, 10);

	/* the stub's FNSAVE leaves the host FCW at its FNINIT value; restore the ABI's */
	__asm__ volatile("fnstcw %0" : "=m"(host_cw));
	r->rflags = stub(r->image, mem, in | 2);
	__asm__ volatile("fldcw %0" : : "m"(host_cw));
}

/* A new exception that the guest has unmasked (beyond PE, whose result is still stored). */
static bool host_faulted(const struct host_run *r)
{
	return get16(r->image + IMG_FSW) & ~r->cw & (FSW_IE | FSW_DE | FSW_ZE | FSW_OE | FSW_UE);
}

static void host_commit(struct bt_cpu *cpu, const struct host_run *r)
{
	set_fsw(cpu, get16(r->image + IMG_FSW));
	sync_es(cpu);		/* against the guest's FCW, not the one the host ran with */
	fx(cpu)[4] = abridged_tags(get16(r->image + IMG_FTW));
	for (unsigned k = 0; k < 8; k++) {
		memcpy(fx(cpu) + 32 + 16 * k, r->image + IMG_ST + 10 * k, 10);
		memset(fx(cpu) + 32 + 16 * k + 10, 0, 6);
	}
}

/* ---- Memory forms --------------------------------------------------------------------------- */

enum { M_UD, M_ENV, M_LOAD, M_STORE };

/* What D8-DF /digit does with its memory operand, and its size. */
static const struct { uint8_t kind, size; } mem_forms[8][8] = {
	/* D8: FADD..FDIVR m32fp */
	{ { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 },
	  { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 } },
	/* D9: FLD m32fp, -, FST(P) m32fp, FLDENV, FLDCW, FNSTENV, FNSTCW */
	{ { M_LOAD, 4 }, { M_UD, 0 }, { M_STORE, 4 }, { M_STORE, 4 },
	  { M_ENV, 0 }, { M_ENV, 0 }, { M_ENV, 0 }, { M_ENV, 0 } },
	/* DA: FIADD..FIDIVR m32int */
	{ { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 },
	  { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 }, { M_LOAD, 4 } },
	/* DB: FILD, FISTTP, FIST, FISTP m32int, -, FLD m80fp, -, FSTP m80fp */
	{ { M_LOAD, 4 }, { M_STORE, 4 }, { M_STORE, 4 }, { M_STORE, 4 },
	  { M_UD, 0 }, { M_LOAD, 10 }, { M_UD, 0 }, { M_STORE, 10 } },
	/* DC: FADD..FDIVR m64fp */
	{ { M_LOAD, 8 }, { M_LOAD, 8 }, { M_LOAD, 8 }, { M_LOAD, 8 },
	  { M_LOAD, 8 }, { M_LOAD, 8 }, { M_LOAD, 8 }, { M_LOAD, 8 } },
	/* DD: FLD m64fp, FISTTP m64int, FST(P) m64fp, FRSTOR, -, FNSAVE, FNSTSW */
	{ { M_LOAD, 8 }, { M_STORE, 8 }, { M_STORE, 8 }, { M_STORE, 8 },
	  { M_ENV, 0 }, { M_UD, 0 }, { M_ENV, 0 }, { M_ENV, 0 } },
	/* DE: FIADD..FIDIVR m16int */
	{ { M_LOAD, 2 }, { M_LOAD, 2 }, { M_LOAD, 2 }, { M_LOAD, 2 },
	  { M_LOAD, 2 }, { M_LOAD, 2 }, { M_LOAD, 2 }, { M_LOAD, 2 } },
	/* DF: FILD, FISTTP, FIST, FISTP m16int, FBLD m80bcd, FILD m64int, FBSTP m80bcd,
	 * FISTP m64int */
	{ { M_LOAD, 2 }, { M_STORE, 2 }, { M_STORE, 2 }, { M_STORE, 2 },
	  { M_LOAD, 10 }, { M_LOAD, 8 }, { M_STORE, 10 }, { M_STORE, 8 } },
};

static uint64_t ea(struct bt_cpu *cpu, const struct bt_insn *i) { return bt_ea(cpu, i); }

/* The memory operand in or out of the bounce buffer; 10-byte operands as 8 + 2, the high part
 * stored first so that a fault there leaves memory untouched. */
static void mem_read(struct bt_cpu *cpu, const struct bt_insn *i, uint8_t *buf, unsigned size)
{
	uint64_t off = ea(cpu, i), lo;

	if (size < 10) {
		lo = bt_read(cpu, i->seg, off, size);
		memcpy(buf, &lo, size);
		return;
	}
	lo = bt_read(cpu, i->seg, off, 8);
	put16(buf + 8, (uint16_t)bt_read(cpu, i->seg, (off + 8) & sz_mask(i->addrsize), 2));
	memcpy(buf, &lo, 8);
}

static void mem_write(struct bt_cpu *cpu, const struct bt_insn *i, const uint8_t *buf,
		      unsigned size)
{
	uint64_t off = ea(cpu, i), lo = 0;

	if (size == 10) {
		bt_write(cpu, i->seg, (off + 8) & sz_mask(i->addrsize), 2, get16(buf + 8));
		size = 8;
	}
	memcpy(&lo, buf, size);
	bt_write(cpu, i->seg, off, size, lo);
}

/* ---- Environment: FLDENV/FNSTENV/FRSTOR/FNSAVE ---------------------------------------------- */

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

	put16(fx(cpu), cw);
	set_fsw(cpu, sw);
	sync_es(cpu);
	fx(cpu)[4] = abridged_tags(tw);
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
	for (unsigned k = 0; k < 8; k++) {
		memcpy(fx(cpu) + 32 + 16 * k, regs + 10 * k, 10);
		memset(fx(cpu) + 32 + 16 * k + 10, 0, 6);
	}
}

/* D9 /4-/7 and DD /4, /6, /7; only the FN (no-wait) ones skip the pending-exception check. */
static void mem_env(struct bt_cpu *cpu, const struct bt_insn *i, unsigned op)
{
	switch ((op == 1 ? 0 : 8) | (i->reg & 7)) {
	case 4:						/* FLDENV */
		fpu_wait(cpu);
		fldenv(cpu, i, ea(cpu, i));
		return;
	case 5:						/* FLDCW */
		fpu_wait(cpu);
		put16(fx(cpu), (uint16_t)bt_read(cpu, i->seg, ea(cpu, i), 2));
		sync_es(cpu);
		return;
	case 6:						/* FNSTENV, which then masks everything */
		fstenv(cpu, i, ea(cpu, i));
		put16(fx(cpu), fcw(cpu) | 0x3f);
		sync_es(cpu);
		return;
	case 7:						/* FNSTCW */
		bt_write(cpu, i->seg, ea(cpu, i), 2, fcw(cpu));
		return;
	case 8 | 4:					/* FRSTOR */
		fpu_wait(cpu);
		frstor(cpu, i);
		return;
	case 8 | 6:					/* FNSAVE */
		fnsave(cpu, i);
		return;
	default:					/* FNSTSW m16 */
		bt_write(cpu, i->seg, ea(cpu, i), 2, fsw(cpu));
		return;
	}
}

static void mem_form(struct bt_cpu *cpu, const struct bt_insn *i, unsigned op)
{
	unsigned digit = i->reg & 7, size = mem_forms[op][digit].size;
	uint8_t buf[16] = { 0 };
	struct host_run r;

	switch (mem_forms[op][digit].kind) {
	case M_UD:
		bt_raise_noerr(cpu, EXC_UD);
		return;
	case M_ENV:
		mem_env(cpu, i, op);
		return;
	case M_LOAD:
		fpu_wait(cpu);
		mem_read(cpu, i, buf, size);
		host_run(cpu, STUB_MEM + 8 * op + digit, buf, &r);
		host_commit(cpu, &r);
		return;
	default:
		fpu_wait(cpu);
		host_run(cpu, STUB_MEM + 8 * op + digit, buf, &r);
		/* memory first: a fault there leaves the FPU state as it was */
		if (!host_faulted(&r))
			mem_write(cpu, i, buf, size);
		host_commit(cpu, &r);
		return;
	}
}

/* ---- Register forms ------------------------------------------------------------------------- */

/* The no-wait control forms DB E0-E4 and DF E0; false if m (ModRM & 0x3f) is not one. */
static bool reg_control(struct bt_cpu *cpu, unsigned op, unsigned m)
{
	if (op == 7 && m == 0x20) {			/* FNSTSW AX */
		reg_set(cpu, R_RAX, 2, true, fsw(cpu));
		return true;
	}
	if (op != 3 || m < 0x20 || m > 0x24)
		return false;
	if (m == 0x22)					/* FNCLEX */
		set_fsw(cpu, fsw(cpu) & 0x7f00);
	else if (m == 0x23)				/* FNINIT */
		fninit(cpu);
	/* FENI, FDISI, FSETPM: no-ops since the 387 */
	return true;
}

/* The documented register forms (and DC D0-DF, FCOM/FCOMP ST(i), which every x87 accepts); the
 * rest of the space is #UD here rather than some model's alias. */
static bool reg_form_valid(unsigned op, unsigned m)
{
	unsigned d = m >> 3, r = m & 7;

	switch (op) {
	case 0: case 4:					/* D8, DC: arithmetic, FCOM(P) */
		return true;
	case 1:						/* D9 */
		switch (d) {
		case 0: case 1: return true;				/* FLD, FXCH */
		case 2: return r == 0;					/* FNOP */
		case 3: return false;
		case 4: return r == 0 || r == 1 || r == 4 || r == 5;	/* FCHS FABS FTST FXAM */
		case 5: return r < 7;					/* constants */
		default: return true;					/* F2XM1 ... FCOS */
		}
	case 2:						/* DA: FCMOVcc, FUCOMPP */
		return d < 4 || m == 0x29;
	case 3:						/* DB: FCMOVNcc, FUCOMI, FCOMI */
		return d < 4 || d == 5 || d == 6;
	case 5:						/* DD: FFREE, FST(P), FUCOM(P) */
		return d == 0 || (d >= 2 && d <= 5);
	case 6:						/* DE: arithmetic-and-pop, FCOMPP */
		return d != 2 && (d != 3 || r == 1);
	default:					/* DF: FUCOMIP, FCOMIP */
		return d == 5 || d == 6;
	}
}

static void reg_form(struct bt_cpu *cpu, const struct bt_insn *i, unsigned op)
{
	unsigned m = (i->reg & 7) << 3 | (i->rm & 7);	/* REX.R and REX.B are ignored */
	struct host_run r;

	if (reg_control(cpu, op, m))
		return;
	if (!reg_form_valid(op, m))
		bt_raise_noerr(cpu, EXC_UD);
	fpu_wait(cpu);
	host_run(cpu, 64 * op + m, NULL, &r);
	host_commit(cpu, &r);
	if ((op == 3 || op == 7) && (m >> 3 == 5 || m >> 3 == 6))	/* F(U)COMI(P) */
		bt_flags_update(cpu, RFLAGS_ARITH, r.rflags & RFLAGS_ARITH);
}

static void x87(struct bt_cpu *cpu, const struct bt_insn *i, unsigned op)
{
	fpu_check(cpu);
	if (i->flags & BI_MEM)
		mem_form(cpu, i, op);
	else
		reg_form(cpu, i, op);
}

void bt_h_x87_d8(struct bt_cpu *cpu, const struct bt_insn *i) { x87(cpu, i, 0); }
void bt_h_x87_d9(struct bt_cpu *cpu, const struct bt_insn *i) { x87(cpu, i, 1); }
void bt_h_x87_da(struct bt_cpu *cpu, const struct bt_insn *i) { x87(cpu, i, 2); }
void bt_h_x87_db(struct bt_cpu *cpu, const struct bt_insn *i) { x87(cpu, i, 3); }
void bt_h_x87_dc(struct bt_cpu *cpu, const struct bt_insn *i) { x87(cpu, i, 4); }
void bt_h_x87_dd(struct bt_cpu *cpu, const struct bt_insn *i) { x87(cpu, i, 5); }
void bt_h_x87_de(struct bt_cpu *cpu, const struct bt_insn *i) { x87(cpu, i, 6); }
void bt_h_x87_df(struct bt_cpu *cpu, const struct bt_insn *i) { x87(cpu, i, 7); }

/* FWAIT: #NM only if both MP and TS are set; then any pending exception. */
void bt_h_fwait(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if ((cpu->s.cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))
		bt_raise_noerr(cpu, EXC_NM);
	fpu_wait(cpu);
}

/* ---- MMX: MMn is the mantissa of physical register Rn -------------------------------------- */

/* ST(i) lives in slot i of the image, so physical register n is slot (n - TOP) & 7. */
static uint8_t *mm_slot(struct bt_cpu *cpu, unsigned n)
{
	return fx(cpu) + 32 + 16 * ((n - top(cpu)) & 7);
}

void bt_mmx_check(struct bt_cpu *cpu)
{
	if (cpu->s.cr0 & CR0_EM)
		bt_raise_noerr(cpu, EXC_UD);
	fpu_check(cpu);
	fpu_wait(cpu);
}

uint64_t bt_mm(struct bt_cpu *cpu, unsigned n)
{
	uint64_t v;

	memcpy(&v, mm_slot(cpu, n & 7), 8);
	return v;
}

void bt_mmx_enter(struct bt_cpu *cpu)
{
	unsigned t = top(cpu);

	if (t) {
		/* TOP becomes 0: slot i then holds Ri. */
		uint8_t regs[128];
		for (unsigned n = 0; n < 8; n++)
			memcpy(regs + 16 * n, mm_slot(cpu, n), 16);
		memcpy(fx(cpu) + 32, regs, sizeof(regs));
		set_fsw(cpu, fsw(cpu) & (uint16_t)~(7u << 11));
	}
	fx(cpu)[4] = 0xff;
}

/* A write also sets the register's exponent and sign to all ones (SDM Vol. 1, 9.5.1). */
void bt_set_mm(struct bt_cpu *cpu, unsigned n, uint64_t v)
{
	uint8_t *r = mm_slot(cpu, n & 7);

	memcpy(r, &v, 8);
	put16(r + 8, 0xffff);
}

/* EMMS: TOP 0 too, and every register empty (SDM Vol. 1, Table 9-3). */
void bt_emms(struct bt_cpu *cpu)
{
	bt_mmx_enter(cpu);
	fx(cpu)[4] = 0;
}
