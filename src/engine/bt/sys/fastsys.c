/* bt engine fast system calls: SYSCALL/SYSRET (IA-32e, Intel semantics: #UD outside 64-bit
 * mode), SYSENTER/SYSEXIT and SWAPGS. These load flat segments without reading descriptors,
 * exactly as the SDM describes.
 */
#include "engine/bt/sys/btsys.h"

#define ATTR_CODE64	(SEG_P | SEG_S | 0xb | SEG_L | SEG_G)
#define ATTR_CODE32	(SEG_P | SEG_S | 0xb | SEG_DB | SEG_G)
#define ATTR_DATA	(SEG_P | SEG_S | 0x3 | SEG_DB | SEG_G)

static void flat(struct seg_reg *s, uint16_t sel, uint32_t attr, unsigned dpl)
{
	s->sel = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->attr = attr | dpl << 5;
}

static void switched(struct bt_cpu *cpu, uint64_t rip)
{
	bt_update_mode(cpu);
	cpu->next_rip = rip;
	cpu->end_block = true;
}

void bt_op_syscall(struct bt_cpu *cpu, const struct bt_insn *i)
{
	struct cpu_state *s = &cpu->s;

	if (!(s->efer & EFER_SCE) || cpu->mode != BT_MODE_LONG)
		bt_raise_noerr(cpu, EXC_UD);
	uint16_t sel = (uint16_t)(s->star >> 32);
	uint64_t flags = bt_get_rflags(cpu);

	s->gpr[R_RCX] = cpu->next_rip;
	s->gpr[R_R11] = flags & ~RFLAGS_RF;
	flat(&s->seg[S_CS], sel & 0xfffc, ATTR_CODE64, 0);
	flat(&s->seg[S_SS], (uint16_t)((sel + 8) & 0xfffc), ATTR_DATA, 0);
	bt_set_rflags(cpu, (flags & ~(s->sfmask | RFLAGS_RF)) | RFLAGS_FIXED);
	switched(cpu, s->lstar);
}

void bt_op_sysret(struct bt_cpu *cpu, const struct bt_insn *i)
{
	struct cpu_state *s = &cpu->s;

	if (!(s->efer & EFER_SCE) || cpu->mode != BT_MODE_LONG)
		bt_raise_noerr(cpu, EXC_UD);
	bt_require_cpl0(cpu);
	uint16_t sel = (uint16_t)(s->star >> 48);
	uint64_t rip;

	if (i->opsize == 8) {
		rip = s->gpr[R_RCX];
		if (!bt_canonical(rip))
			bt_raise(cpu, EXC_GP, 0);
		flat(&s->seg[S_CS], (uint16_t)((sel + 16) | 3), ATTR_CODE64, 3);
	} else {
		rip = s->gpr[R_RCX] & 0xffffffffull;
		flat(&s->seg[S_CS], (uint16_t)(sel | 3), ATTR_CODE32, 3);
	}
	flat(&s->seg[S_SS], (uint16_t)((sel + 8) | 3), ATTR_DATA, 3);
	uint64_t cur = bt_get_rflags(cpu);
	uint64_t nf = (s->gpr[R_R11] & 0x3c7fd7ull) | RFLAGS_FIXED;
	bt_set_rflags(cpu, nf);
	switched(cpu, rip);
	if (!(cur & RFLAGS_IF) && (nf & RFLAGS_IF))
		bt_irq_window_opened(cpu);
}

void bt_op_sysenter(struct bt_cpu *cpu, const struct bt_insn *i)
{
	struct cpu_state *s = &cpu->s;
	uint16_t sel = (uint16_t)s->sysenter_cs;

	if (cpu->mode == BT_MODE_REAL || !(sel & 0xfffc))
		bt_raise(cpu, EXC_GP, 0);
	bool lma = s->efer & EFER_LMA;

	flat(&s->seg[S_CS], sel & 0xfffc, lma ? ATTR_CODE64 : ATTR_CODE32, 0);
	flat(&s->seg[S_SS], (uint16_t)((sel + 8) & 0xfffc), ATTR_DATA, 0);
	bt_set_rflags(cpu, bt_get_rflags(cpu) & ~(RFLAGS_VM | RFLAGS_IF | RFLAGS_RF));
	s->gpr[R_RSP] = lma ? s->sysenter_esp : s->sysenter_esp & 0xffffffffull;
	switched(cpu, lma ? s->sysenter_eip : s->sysenter_eip & 0xffffffffull);
}

void bt_op_sysexit(struct bt_cpu *cpu, const struct bt_insn *i)
{
	struct cpu_state *s = &cpu->s;
	uint16_t sel = (uint16_t)s->sysenter_cs;

	if (cpu->mode == BT_MODE_REAL || cpu->mode == BT_MODE_V86 || !(sel & 0xfffc))
		bt_raise(cpu, EXC_GP, 0);
	bt_require_cpl0(cpu);
	uint64_t rip, rsp;

	if (i->opsize == 8) {
		rip = s->gpr[R_RDX];
		rsp = s->gpr[R_RCX];
		if (!bt_canonical(rip) || !bt_canonical(rsp))
			bt_raise(cpu, EXC_GP, 0);
		flat(&s->seg[S_CS], (uint16_t)((sel + 32) | 3), ATTR_CODE64, 3);
		flat(&s->seg[S_SS], (uint16_t)((sel + 40) | 3), ATTR_DATA, 3);
	} else {
		rip = s->gpr[R_RDX] & 0xffffffffull;
		rsp = s->gpr[R_RCX] & 0xffffffffull;
		flat(&s->seg[S_CS], (uint16_t)((sel + 16) | 3), ATTR_CODE32, 3);
		flat(&s->seg[S_SS], (uint16_t)((sel + 24) | 3), ATTR_DATA, 3);
	}
	s->gpr[R_RSP] = rsp;
	switched(cpu, rip);
}

void bt_op_swapgs(struct bt_cpu *cpu, const struct bt_insn *i)
{
	struct cpu_state *s = &cpu->s;

	if (cpu->mode != BT_MODE_LONG)
		bt_raise_noerr(cpu, EXC_UD);
	bt_require_cpl0(cpu);
	uint64_t t = s->seg[S_GS].base;
	s->seg[S_GS].base = s->kernel_gs_base;
	s->kernel_gs_base = t;
}
