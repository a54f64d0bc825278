/* Differential tester: random x86-64 instruction sequences run natively (a ptrace'd host child at
 * user level) and in the bt engine at CPL3; registers, defined flags, data memory and the
 * exception that ended the run must match. */
#ifndef VMON_DIFFTEST_H
#define VMON_DIFFTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define DT_CODE_VA	0x10000000ull
#define DT_DATA_VA	0x10010000ull
#define DT_PAGE		4096
#define DT_CODE_MAX	(DT_PAGE - 16)

/* FXSAVE-layout offsets (Intel SDM Vol. 1, Table 10-2): the x87/SSE state of both sides. */
#define DT_FX_FCW	0
#define DT_FX_FSW	2
#define DT_FX_FTW	4	/* abridged: one valid bit per physical register */
#define DT_FX_MXCSR	24
#define DT_FX_ST	32	/* ST(i) at 32 + 16 * i, 10 bytes each */
#define DT_FX_XMM	160	/* XMMn at 160 + 16 * n */

/* Flags compared when defined. */
#define DT_ARITH_FLAGS	0x8d5u	/* OF SF ZF AF PF CF */
#define DT_DF		0x400u
/* Always compared: IF, IOPL, ID (what POPF at CPL3 may or must not change). Not NT: the native
 * side cannot hold it reliably (interrupts taken during a case were seen to set or drop it,
 * the way a Xen PV host does), so the generator never sets it. */
#define DT_SYS_FLAGS	0x203200u

struct dt_case {
	uint8_t code[DT_PAGE];
	size_t code_len;		/* ends with HLT: #GP at CPL3 ends the run */
	uint64_t gpr[16];		/* initial registers, cpu_state order */
	uint64_t rflags;
	uint8_t data[DT_PAGE];		/* initial data page */
	uint8_t fx[512];		/* initial x87/SSE state (FXSAVE layout) */
	/* Arithmetic flags architecturally undefined before the instruction at each code offset
	 * (what a fault there leaves in RFLAGS); the last entry is the HLT's. */
	uint16_t undef_at[DT_PAGE];
	int ninsns;
};

struct dt_result {
	uint64_t gpr[16];
	uint64_t rip, rflags;
	int vector;			/* exception that ended the run (13 at the final HLT) */
	uint8_t data[DT_PAGE];
	uint8_t fx[512];		/* x87/SSE state at the end (FXSAVE layout) */
};

/* gen.c: the integer ISA. */
void dt_generate(struct dt_case *c, uint64_t seed, int ninsns);
void dt_fx_init(struct dt_case *c, uint32_t mxcsr);
/* gen_fp.c: SSE/SSE2, mostly x87, or MMX, mixed with integer instructions. */
enum dt_fp_kind { DT_SSE, DT_X87, DT_MMX };
void dt_generate_fp(struct dt_case *c, uint64_t seed, int ninsns, enum dt_fp_kind kind);

/* native.c: a child process kept across cases. */
struct dt_native;
struct dt_native *dt_native_start(void);
int dt_native_run(struct dt_native *n, const struct dt_case *c, struct dt_result *r);
void dt_native_stop(struct dt_native *n);

/* bt_side.c */
struct dt_bt;
struct dt_bt *dt_bt_start(void);
int dt_bt_run(struct dt_bt *b, const struct dt_case *c, struct dt_result *r);
void dt_bt_stop(struct dt_bt *b);

#endif
