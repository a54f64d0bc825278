/* Architectural state of one x86-64 vCPU.
 *
 * Both engines read and write this one struct (get_state/set_state), so a VM stopped by one
 * engine can be resumed by the other and snapshots do not depend on the engine.
 */
#ifndef VMON_CPU_STATE_H
#define VMON_CPU_STATE_H

#include <stdbool.h>
#include <stdint.h>

enum gpr { R_RAX, R_RCX, R_RDX, R_RBX, R_RSP, R_RBP, R_RSI, R_RDI,
	   R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15 };

enum sreg { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, S_LDTR, S_TR, S_NR };

/* Segment attributes, packed as in VMX access rights so they map 1:1 onto descriptors. */
#define SEG_TYPE(a)	((a) & 0xf)
#define SEG_S		(1u << 4)	/* code/data (not system) */
#define SEG_DPL(a)	(((a) >> 5) & 3)
#define SEG_P		(1u << 7)
#define SEG_AVL		(1u << 12)
#define SEG_L		(1u << 13)	/* 64-bit code */
#define SEG_DB		(1u << 14)	/* default operand size 32 / big */
#define SEG_G		(1u << 15)
#define SEG_UNUSABLE	(1u << 16)	/* null selector loaded */

struct seg_reg {
	uint64_t base;
	uint32_t limit;		/* byte granular, already expanded by G */
	uint32_t attr;
	uint16_t sel;
};

struct dtable {
	uint64_t base;
	uint16_t limit;
};

/* CR0 / CR4 / EFER / RFLAGS bits used across vmon. */
#define CR0_PE	(1ull << 0)
#define CR0_MP	(1ull << 1)
#define CR0_EM	(1ull << 2)
#define CR0_TS	(1ull << 3)
#define CR0_ET	(1ull << 4)
#define CR0_NE	(1ull << 5)
#define CR0_WP	(1ull << 16)
#define CR0_AM	(1ull << 18)
#define CR0_NW	(1ull << 29)
#define CR0_CD	(1ull << 30)
#define CR0_PG	(1ull << 31)

#define CR4_VME		(1ull << 0)
#define CR4_PVI		(1ull << 1)
#define CR4_TSD		(1ull << 2)
#define CR4_DE		(1ull << 3)
#define CR4_PSE		(1ull << 4)
#define CR4_PAE		(1ull << 5)
#define CR4_MCE		(1ull << 6)
#define CR4_PGE		(1ull << 7)
#define CR4_PCE		(1ull << 8)
#define CR4_OSFXSR	(1ull << 9)
#define CR4_OSXMMEXCPT	(1ull << 10)
#define CR4_UMIP	(1ull << 11)
#define CR4_FSGSBASE	(1ull << 16)
#define CR4_PCIDE	(1ull << 17)
#define CR4_OSXSAVE	(1ull << 18)
#define CR4_SMEP	(1ull << 20)
#define CR4_SMAP	(1ull << 21)

#define EFER_SCE	(1ull << 0)
#define EFER_LME	(1ull << 8)
#define EFER_LMA	(1ull << 10)
#define EFER_NXE	(1ull << 11)

#define RFLAGS_CF	(1ull << 0)
#define RFLAGS_FIXED	(1ull << 1)	/* always 1 */
#define RFLAGS_PF	(1ull << 2)
#define RFLAGS_AF	(1ull << 4)
#define RFLAGS_ZF	(1ull << 6)
#define RFLAGS_SF	(1ull << 7)
#define RFLAGS_TF	(1ull << 8)
#define RFLAGS_IF	(1ull << 9)
#define RFLAGS_DF	(1ull << 10)
#define RFLAGS_OF	(1ull << 11)
#define RFLAGS_IOPL	(3ull << 12)
#define RFLAGS_NT	(1ull << 14)
#define RFLAGS_RF	(1ull << 16)
#define RFLAGS_VM	(1ull << 17)
#define RFLAGS_AC	(1ull << 18)
#define RFLAGS_VIF	(1ull << 19)
#define RFLAGS_VIP	(1ull << 20)
#define RFLAGS_ID	(1ull << 21)

/* MSR numbers vmon knows by name. */
#define MSR_IA32_TSC		0x10
#define MSR_IA32_APIC_BASE	0x1b
#define MSR_IA32_FEATURE_CONTROL 0x3a
#define MSR_IA32_TSC_ADJUST	0x3b
#define MSR_IA32_SYSENTER_CS	0x174
#define MSR_IA32_SYSENTER_ESP	0x175
#define MSR_IA32_SYSENTER_EIP	0x176
#define MSR_IA32_MISC_ENABLE	0x1a0
#define MSR_MTRRcap		0xfe
#define MSR_MTRRphysBase0	0x200
#define MSR_MTRRfix64K_00000	0x250
#define MSR_MTRRfix16K_80000	0x258
#define MSR_MTRRfix16K_A0000	0x259
#define MSR_MTRRfix4K_C0000	0x268
#define MSR_IA32_CR_PAT		0x277
#define MSR_MTRRdefType		0x2ff
#define MSR_IA32_TSC_DEADLINE	0x6e0
#define MSR_EFER		0xc0000080
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SFMASK		0xc0000084
#define MSR_FS_BASE		0xc0000100
#define MSR_GS_BASE		0xc0000101
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MSR_TSC_AUX		0xc0000103
/* KVM paravirtual MSRs (Documentation/virt/kvm/x86/msr.rst). */
#define MSR_KVM_WALL_CLOCK_NEW	0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW	0x4b564d01

#define MTRR_VAR_COUNT	8
#define MTRR_FIXED_COUNT 11

struct cpu_state {
	uint64_t gpr[16];
	uint64_t rip;
	uint64_t rflags;
	struct seg_reg seg[S_NR];
	struct dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8;
	uint64_t efer;
	uint64_t dr[8];			/* dr[4], dr[5] unused; dr[6], dr[7] as named */
	uint64_t xcr0;

	uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t tsc;			/* guest TSC value at the time of get_state */
	uint64_t tsc_aux;
	uint64_t apic_base;
	uint64_t pat;
	uint64_t misc_enable;
	uint64_t mtrr_def_type;
	uint64_t mtrr_fixed[MTRR_FIXED_COUNT];
	uint64_t mtrr_var[2 * MTRR_VAR_COUNT];	/* base, mask pairs */
	uint64_t kvm_system_time, kvm_wall_clock;

	/* x87 / MMX / SSE state in FXSAVE layout (Intel SDM Vol. 1, 10.5.1). */
	uint8_t fxsave[512] __attribute__((aligned(16)));

	bool halted;			/* in HLT, waiting for an interrupt */
	bool interrupt_shadow;		/* after STI / MOV SS: no interrupt before the next insn */
};

/* Initial state of an x86 CPU after RESET/INIT (Intel SDM Vol. 3, Table 9-1). */
void cpu_state_reset(struct cpu_state *s);

/* Load a flat segment (base 0, 4 GiB limit) with the given selector and attributes. */
void cpu_state_flat_seg(struct seg_reg *seg, uint16_t sel, uint32_t attr);

#endif
