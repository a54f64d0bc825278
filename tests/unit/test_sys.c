/* bt engine privileged instructions: I/O permission bitmap, IOPL, control registers and the
 * switch into IA-32e mode, MSRs, CPUID, SYSCALL/SYSRET. */
#include <string.h>

#include "bt_fixture.h"
#include "test.h"

#define TSS	0x5000ull

TEST(sys_io_permission_bitmap)
{
	struct bt_test *t = bt_test_new();
	struct bt_cpu *cpu = t->cpu;

	bt_test_prot32(t, 3);
	cpu->s.seg[S_TR] = (struct seg_reg){ .sel = 0x38, .base = TSS, .limit = 0x68 + 0x2000,
					     .attr = 0x8b };
	bt_test_put(t, TSS + 0x66, 2, 0x68);
	bt_test_put(t, TSS + 0x68 + 0x80 / 8, 1, 1);		/* port 0x80 denied */
	cpu->s.gpr[R_RAX] = 0x41;

	struct bt_insn out = { .op = 0xe6, .opsize = 1, .len = 2, .imm = 0x80 };
	CHECK_EQ(bt_test_op(t, bt_op_out, &out), EXC_GP);
	out.imm = 0x81;
	CHECK_EQ(bt_test_op(t, bt_op_out, &out), -1);
	/* A word at 0x7f covers 0x80. */
	out.imm = 0x7f;
	out.op = 0xe7;
	out.opsize = 2;
	CHECK_EQ(bt_test_op(t, bt_op_out, &out), EXC_GP);
	/* CPL <= IOPL skips the bitmap. */
	cpu->s.rflags |= RFLAGS_IOPL;
	CHECK_EQ(bt_test_op(t, bt_op_out, &out), -1);

	/* CLI/STI need CPL <= IOPL. */
	struct bt_insn cli = { .len = 1 };
	CHECK_EQ(bt_test_op(t, bt_op_cli, &cli), -1);
	cpu->s.rflags &= ~RFLAGS_IOPL;
	CHECK_EQ(bt_test_op(t, bt_op_sti, &cli), EXC_GP);
	bt_test_free(t);
}

static int mov_cr(struct bt_test *t, unsigned cr, uint64_t val)
{
	struct bt_insn i = { .reg = (uint8_t)cr, .rm = R_RBX, .opsize = 4, .len = 3 };
	t->cpu->s.gpr[R_RBX] = val;
	return bt_test_op(t, bt_op_mov_to_cr, &i);
}

static int wrmsr(struct bt_test *t, uint32_t msr, uint64_t val)
{
	struct bt_insn i = { .len = 2 };
	t->cpu->s.gpr[R_RCX] = msr;
	t->cpu->s.gpr[R_RAX] = val & 0xffffffff;
	t->cpu->s.gpr[R_RDX] = val >> 32;
	return bt_test_op(t, bt_op_wrmsr, &i);
}

static int rdmsr(struct bt_test *t, uint32_t msr, uint64_t *val)
{
	struct bt_insn i = { .len = 2 };
	t->cpu->s.gpr[R_RCX] = msr;
	int v = bt_test_op(t, bt_op_rdmsr, &i);
	*val = t->cpu->s.gpr[R_RDX] << 32 | (t->cpu->s.gpr[R_RAX] & 0xffffffff);
	return v;
}

TEST(sys_enter_long_mode_and_msrs)
{
	struct bt_test *t = bt_test_new();
	struct bt_cpu *cpu = t->cpu;
	uint64_t v;

	bt_test_prot32(t, 0);
	CHECK_EQ(mov_cr(t, 4, CR4_PAE | CR4_SMEP), EXC_GP);	/* not advertised */
	CHECK_EQ(wrmsr(t, MSR_EFER, EFER_LME | EFER_NXE), -1);
	/* Paging with LME but without PAE: #GP. */
	CHECK_EQ(mov_cr(t, 0, cpu->s.cr0 | CR0_PG), EXC_GP);
	CHECK_EQ(mov_cr(t, 4, CR4_PAE), -1);
	CHECK_EQ(mov_cr(t, 3, 0x10000), -1);
	CHECK_EQ(mov_cr(t, 0, cpu->s.cr0 | CR0_PG), -1);
	CHECK(cpu->s.efer & EFER_LMA);
	CHECK_EQ(cpu->mode, BT_MODE_COMPAT);
	CHECK_EQ(rdmsr(t, MSR_EFER, &v), -1);
	CHECK_EQ(v, EFER_LME | EFER_LMA | EFER_NXE);
	/* LME is locked while paging is on; LMA is read-only. */
	CHECK_EQ(wrmsr(t, MSR_EFER, EFER_NXE), EXC_GP);
	CHECK_EQ(wrmsr(t, MSR_EFER, EFER_LME), -1);
	CHECK_EQ(cpu->s.efer, EFER_LME | EFER_LMA);
	CHECK_EQ(mov_cr(t, 4, 0), EXC_GP);			/* PAE stays on in IA-32e */

	CHECK_EQ(wrmsr(t, MSR_FS_BASE, 0x0000800000000000ull), EXC_GP);
	CHECK_EQ(wrmsr(t, MSR_FS_BASE, 0xffff800000001000ull), -1);
	CHECK_EQ(cpu->s.seg[S_FS].base, 0xffff800000001000ull);
	CHECK_EQ(rdmsr(t, 0x12345678, &v), EXC_GP);
	CHECK_EQ(rdmsr(t, MSR_MTRRcap, &v), -1);
	CHECK_EQ(v, 0x508);
	CHECK_EQ(rdmsr(t, 0x179, &v), -1);				/* MCG_CAP: no banks */
	CHECK_EQ(v, 0);
	CHECK_EQ(wrmsr(t, 0x17a, 0), -1);				/* MCG_STATUS */
	CHECK_EQ(wrmsr(t, 0x17a, 1), EXC_GP);
	CHECK_EQ(wrmsr(t, MSR_IA32_CR_PAT, 0x0202020202020202ull), EXC_GP);	/* type 2 */

	/* TSC writes set an offset: the next read continues from the written value. */
	CHECK_EQ(wrmsr(t, MSR_IA32_TSC, 1ull << 40), -1);
	CHECK_EQ(rdmsr(t, MSR_IA32_TSC, &v), -1);
	CHECK(v >= 1ull << 40);

	/* Ring 3 may not touch MSRs. */
	cpu->s.seg[S_CS].sel |= 3;
	bt_update_mode(cpu);
	CHECK_EQ(rdmsr(t, MSR_EFER, &v), EXC_GP);
	bt_test_free(t);
}

TEST(sys_cpuid_model)
{
	struct bt_test *t = bt_test_new();
	uint32_t r[4];
	char vendor[13] = { 0 };

	bt_cpuid(t->cpu, 0, r);
	memcpy(vendor, &r[1], 4);
	memcpy(vendor + 4, &r[3], 4);
	memcpy(vendor + 8, &r[2], 4);
	CHECK(strcmp(vendor, "GenuineIntel") == 0);
	CHECK_EQ(r[0], 7);
	bt_cpuid(t->cpu, 1, r);
	CHECK_EQ((r[0] >> 8) & 0xf, 6);
	CHECK(r[3] & (1u << 6));	/* PAE */
	CHECK(r[3] & (1u << 26));	/* SSE2 */
	CHECK(r[2] & (1u << 31));	/* hypervisor */
	CHECK(!(r[2] & 1));		/* no SSE3 */
	t->cpu->s.gpr[R_RCX] = 0;
	bt_cpuid(t->cpu, 7, r);
	CHECK_EQ(r[0] | r[1] | r[2], 0);
	CHECK_EQ(r[3], 1u << 29);	/* only IA32_ARCH_CAPABILITIES */
	t->cpu->s.gpr[R_RCX] = 1;
	bt_cpuid(t->cpu, 7, r);
	CHECK_EQ(r[0] | r[1] | r[2] | r[3], 0);
	bt_cpuid(t->cpu, 0x80000001, r);
	CHECK(r[3] & (1u << 29));	/* LM */
	CHECK(r[3] & (1u << 20));	/* NX */
	bt_cpuid(t->cpu, 0x80000008, r);
	CHECK_EQ(r[0] & 0xff, BT_MAXPHYADDR);
	CHECK_EQ((r[0] >> 8) & 0xff, 48);
	bt_test_free(t);
}

TEST(sys_syscall_sysret)
{
	struct bt_test *t = bt_test_new();
	struct bt_cpu *cpu = t->cpu;
	struct cpu_state *s = &cpu->s;

	bt_test_long64(t, 3, 0x10000);
	s->efer |= EFER_SCE;
	s->star = 0x0023000800000000ull;	/* kernel CS 0x08, user base 0x23 -> CS 0x33 */
	s->lstar = 0xffffffff81000000ull;
	s->sfmask = RFLAGS_IF | RFLAGS_DF;
	s->rip = 0x400000;
	bt_set_rflags(cpu, RFLAGS_FIXED | RFLAGS_IF | RFLAGS_DF | RFLAGS_CF);

	struct bt_insn sc = { .len = 2, .opsize = 4 };
	CHECK_EQ(bt_test_op(t, bt_op_syscall, &sc), -1);
	CHECK_EQ(cpu->cpl, 0);
	CHECK_EQ(s->rip, 0xffffffff81000000ull);
	CHECK_EQ(s->gpr[R_RCX], 0x400002);
	CHECK_EQ(s->gpr[R_R11], RFLAGS_FIXED | RFLAGS_IF | RFLAGS_DF | RFLAGS_CF);
	CHECK_EQ(bt_get_rflags(cpu), RFLAGS_FIXED | RFLAGS_CF);
	CHECK_EQ(s->seg[S_SS].sel, 0x10);

	struct bt_insn sr = { .len = 3, .opsize = 8 };
	s->gpr[R_RCX] = 0x0000800000000000ull;			/* non-canonical: #GP */
	CHECK_EQ(bt_test_op(t, bt_op_sysret, &sr), EXC_GP);
	s->gpr[R_RCX] = 0x400002;
	CHECK_EQ(bt_test_op(t, bt_op_sysret, &sr), -1);
	CHECK_EQ(cpu->cpl, 3);
	CHECK_EQ(cpu->mode, BT_MODE_LONG);
	CHECK_EQ(s->seg[S_CS].sel, 0x33);
	CHECK_EQ(s->seg[S_SS].sel, 0x2b);
	CHECK_EQ(s->rip, 0x400002);
	CHECK(bt_get_rflags(cpu) & RFLAGS_DF);
	/* SYSRET is for ring 0 only. */
	CHECK_EQ(bt_test_op(t, bt_op_sysret, &sr), EXC_GP);
	bt_test_free(t);
}
