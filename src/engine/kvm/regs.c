/* cpu_state <-> struct kvm_regs / kvm_sregs / kvm_fpu.
 *
 * Segment limits are byte granular on both sides; attributes are VMX access-rights bits in
 * cpu_state and one byte per field in struct kvm_segment.
 */
#include <stddef.h>
#include <string.h>

#include "engine/kvm/kvm_priv.h"

void kvm_seg_from_state(struct kvm_segment *k, const struct seg_reg *s)
{
	memset(k, 0, sizeof(*k));
	k->base = s->base;
	k->limit = s->limit;
	k->selector = s->sel;
	k->type = SEG_TYPE(s->attr);
	k->s = !!(s->attr & SEG_S);
	k->dpl = SEG_DPL(s->attr);
	k->present = !!(s->attr & SEG_P);
	k->avl = !!(s->attr & SEG_AVL);
	k->l = !!(s->attr & SEG_L);
	k->db = !!(s->attr & SEG_DB);
	k->g = !!(s->attr & SEG_G);
	k->unusable = !!(s->attr & SEG_UNUSABLE);
}

void kvm_seg_to_state(struct seg_reg *s, const struct kvm_segment *k)
{
	s->base = k->base;
	s->limit = k->limit;
	s->sel = k->selector;
	s->attr = (k->type & 0xfu) | (k->dpl & 3u) << 5;
	if (k->s)
		s->attr |= SEG_S;
	if (k->present)
		s->attr |= SEG_P;
	if (k->avl)
		s->attr |= SEG_AVL;
	if (k->l)
		s->attr |= SEG_L;
	if (k->db)
		s->attr |= SEG_DB;
	if (k->g)
		s->attr |= SEG_G;
	if (k->unusable)
		s->attr |= SEG_UNUSABLE;
}

void kvm_regs_from_state(struct kvm_regs *k, const struct cpu_state *s)
{
	memset(k, 0, sizeof(*k));
	k->rax = s->gpr[R_RAX];
	k->rcx = s->gpr[R_RCX];
	k->rdx = s->gpr[R_RDX];
	k->rbx = s->gpr[R_RBX];
	k->rsp = s->gpr[R_RSP];
	k->rbp = s->gpr[R_RBP];
	k->rsi = s->gpr[R_RSI];
	k->rdi = s->gpr[R_RDI];
	k->r8 = s->gpr[R_R8];
	k->r9 = s->gpr[R_R9];
	k->r10 = s->gpr[R_R10];
	k->r11 = s->gpr[R_R11];
	k->r12 = s->gpr[R_R12];
	k->r13 = s->gpr[R_R13];
	k->r14 = s->gpr[R_R14];
	k->r15 = s->gpr[R_R15];
	k->rip = s->rip;
	k->rflags = s->rflags;
}

void kvm_regs_to_state(struct cpu_state *s, const struct kvm_regs *k)
{
	s->gpr[R_RAX] = k->rax;
	s->gpr[R_RCX] = k->rcx;
	s->gpr[R_RDX] = k->rdx;
	s->gpr[R_RBX] = k->rbx;
	s->gpr[R_RSP] = k->rsp;
	s->gpr[R_RBP] = k->rbp;
	s->gpr[R_RSI] = k->rsi;
	s->gpr[R_RDI] = k->rdi;
	s->gpr[R_R8] = k->r8;
	s->gpr[R_R9] = k->r9;
	s->gpr[R_R10] = k->r10;
	s->gpr[R_R11] = k->r11;
	s->gpr[R_R12] = k->r12;
	s->gpr[R_R13] = k->r13;
	s->gpr[R_R14] = k->r14;
	s->gpr[R_R15] = k->r15;
	s->rip = k->rip;
	s->rflags = k->rflags;
}

/* kvm_sregs names its segments; cpu_state indexes them by enum sreg. */
static const size_t sregs_seg_off[S_NR] = {
	[S_ES] = offsetof(struct kvm_sregs, es),
	[S_CS] = offsetof(struct kvm_sregs, cs),
	[S_SS] = offsetof(struct kvm_sregs, ss),
	[S_DS] = offsetof(struct kvm_sregs, ds),
	[S_FS] = offsetof(struct kvm_sregs, fs),
	[S_GS] = offsetof(struct kvm_sregs, gs),
	[S_LDTR] = offsetof(struct kvm_sregs, ldt),
	[S_TR] = offsetof(struct kvm_sregs, tr),
};

void kvm_sregs_from_state(struct kvm_sregs *k, const struct cpu_state *s)
{
	for (int i = 0; i < S_NR; i++)
		kvm_seg_from_state((struct kvm_segment *)((char *)k + sregs_seg_off[i]),
				   &s->seg[i]);
	memset(&k->gdt, 0, sizeof(k->gdt));
	memset(&k->idt, 0, sizeof(k->idt));
	k->gdt.base = s->gdt.base;
	k->gdt.limit = s->gdt.limit;
	k->idt.base = s->idt.base;
	k->idt.limit = s->idt.limit;
	k->cr0 = s->cr0;
	k->cr2 = s->cr2;
	k->cr3 = s->cr3;
	k->cr4 = s->cr4;
	k->cr8 = s->cr8;
	k->efer = s->efer;
	k->apic_base = s->apic_base;
}

void kvm_sregs_to_state(struct cpu_state *s, const struct kvm_sregs *k)
{
	for (int i = 0; i < S_NR; i++)
		kvm_seg_to_state(&s->seg[i], (const struct kvm_segment *)
				 ((const char *)k + sregs_seg_off[i]));
	s->gdt.base = k->gdt.base;
	s->gdt.limit = k->gdt.limit;
	s->idt.base = k->idt.base;
	s->idt.limit = k->idt.limit;
	s->cr0 = k->cr0;
	s->cr2 = k->cr2;
	s->cr3 = k->cr3;
	s->cr4 = k->cr4;
	s->cr8 = k->cr8;
	s->efer = k->efer;
	s->apic_base = k->apic_base;
}

/* FXSAVE (64-bit format) offsets, Intel SDM Vol. 1, Table 10-2. */
#define FX_FCW		0
#define FX_FSW		2
#define FX_FTW		4	/* abridged tag byte, as kvm_fpu.ftwx */
#define FX_FOP		6
#define FX_FIP		8
#define FX_FDP		16
#define FX_MXCSR	24
#define FX_ST0		32
#define FX_XMM0		160

void kvm_fpu_from_fxsave(struct kvm_fpu *k, const uint8_t fxsave[512])
{
	memset(k, 0, sizeof(*k));
	memcpy(&k->fcw, fxsave + FX_FCW, 2);
	memcpy(&k->fsw, fxsave + FX_FSW, 2);
	k->ftwx = fxsave[FX_FTW];
	memcpy(&k->last_opcode, fxsave + FX_FOP, 2);
	memcpy(&k->last_ip, fxsave + FX_FIP, 8);
	memcpy(&k->last_dp, fxsave + FX_FDP, 8);
	memcpy(&k->mxcsr, fxsave + FX_MXCSR, 4);
	memcpy(k->fpr, fxsave + FX_ST0, sizeof(k->fpr));
	memcpy(k->xmm, fxsave + FX_XMM0, sizeof(k->xmm));
}

/* MXCSR_MASK is not part of kvm_fpu; it stays 0, which FXSAVE readers take as the default
 * mask (SDM Vol. 1, 11.6.6). */
void kvm_fpu_to_fxsave(uint8_t fxsave[512], const struct kvm_fpu *k)
{
	memset(fxsave, 0, 512);
	memcpy(fxsave + FX_FCW, &k->fcw, 2);
	memcpy(fxsave + FX_FSW, &k->fsw, 2);
	fxsave[FX_FTW] = k->ftwx;
	memcpy(fxsave + FX_FOP, &k->last_opcode, 2);
	memcpy(fxsave + FX_FIP, &k->last_ip, 8);
	memcpy(fxsave + FX_FDP, &k->last_dp, 8);
	memcpy(fxsave + FX_MXCSR, &k->mxcsr, 4);
	memcpy(fxsave + FX_ST0, k->fpr, sizeof(k->fpr));
	memcpy(fxsave + FX_XMM0, k->xmm, sizeof(k->xmm));
}
