/* bt engine hardware task switching in 32-bit protected mode (SDM vol. 3, 7.3): JMP and CALL
 * to a TSS descriptor or a task gate, an interrupt or exception through a task gate, and IRET
 * with NT set (back to the task in the back link).
 *
 * The new TSS is checked (type, busy bit, present, limit) and read before anything changes;
 * the old task's state is then written to its TSS, the busy bits and the back link updated, and
 * the new task's registers loaded; a segment selector of the new task that fails its checks
 * raises #TS(selector) (#NP, #SS for absent ones) in the new task, as hardware does.
 * 32-bit TSSs only: a 16-bit TSS stops the vCPU with a message. The TSS's debug trap bit is
 * not acted on. In IA-32e mode there is no task switching: the callers raise #GP.
 */
#include "engine/bt/sys/btsys.h"

#define TSS_MIN_LIMIT	0x67
#define TSS_LINK	0x00
#define TSS_CR3		0x1c
#define TSS_EIP		0x20
#define TSS_EFLAGS	0x24
#define TSS_GPR		0x28	/* EAX ECX EDX EBX ESP EBP ESI EDI */
#define TSS_SEG		0x48	/* ES CS SS DS FS GS, 4 bytes apart */
#define TSS_LDT		0x60

static uint64_t tss_lin(const struct seg_reg *tss, unsigned off)
{
	return (tss->base + off) & 0xffffffffull;
}

/* Sets or clears the busy bit of the TSS descriptor of sel in the GDT. */
static void set_busy(struct bt_cpu *cpu, uint16_t sel, bool busy)
{
	uint64_t lin;
	uint64_t d = bt_read_desc(cpu, sel, &lin);
	uint8_t type = (uint8_t)(d >> 40);

	bt_write_lin(cpu, lin + 5, 1, busy ? type | 2 : type & ~2, BT_TLB_SUP);
}

/* The LDT of the new task: null, or an LDT descriptor in the GDT. */
static void load_task_ldt(struct bt_cpu *cpu, uint16_t sel)
{
	struct seg_reg *ldt = &cpu->s.seg[S_LDTR];
	uint64_t lin;

	if (!(sel & 0xfffc)) {
		*ldt = (struct seg_reg){ .sel = sel, .attr = SEG_UNUSABLE };
		return;
	}
	if (sel & 4)
		bt_raise(cpu, EXC_TS, sel & 0xfffc);
	uint64_t d = bt_read_desc(cpu, sel, &lin);
	uint32_t attr = bt_desc_attr(d);
	if ((attr & SEG_S) || SEG_TYPE(attr) != 2)
		bt_raise(cpu, EXC_TS, sel & 0xfffc);
	if (!(attr & SEG_P))
		bt_raise(cpu, EXC_TS, sel & 0xfffc);
	bt_desc_to_seg(ldt, sel, d);
}

/* A code or data segment of the new task (CPL cpl): #TS(sel) for a bad one, #NP / #SS for an
 * absent one. CS and SS may not be null. */
static void load_task_seg(struct bt_cpu *cpu, int sreg, uint16_t sel, unsigned cpl)
{
	struct seg_reg *s = &cpu->s.seg[sreg];
	uint16_t err = sel & 0xfffc;
	unsigned rpl = sel & 3;
	uint64_t lin;

	if (!err) {
		if (sreg == S_CS || sreg == S_SS)
			bt_raise(cpu, EXC_TS, 0);
		*s = (struct seg_reg){ .sel = sel, .attr = SEG_UNUSABLE };
		return;
	}
	uint64_t d = bt_read_desc(cpu, sel, &lin);
	uint32_t attr = bt_desc_attr(d);
	unsigned type = SEG_TYPE(attr), dpl = SEG_DPL(attr);
	bool ok;

	if (sreg == S_CS)
		ok = (attr & SEG_S) && (type & 8) && ((type & 4) ? dpl <= rpl : dpl == rpl);
	else if (sreg == S_SS)
		ok = (attr & SEG_S) && (type & 0xa) == 0x2 && rpl == cpl && dpl == cpl;
	else
		ok = (attr & SEG_S) && (type & 0xa) != 0x8 &&
		     ((type & 0xc) == 0xc || (dpl >= cpl && dpl >= rpl));
	if (!ok)
		bt_raise(cpu, EXC_TS, err);
	if (!(attr & SEG_P))
		bt_raise(cpu, sreg == S_SS ? EXC_SS : EXC_NP, err);
	bt_desc_set_accessed(cpu, lin, d);
	if (sreg == S_CS) {
		bt_load_cs(cpu, sel, d, rpl);
	} else {
		bt_desc_to_seg(s, sel, d);
		s->attr |= 1;
	}
}

void bt_task_switch(struct bt_cpu *cpu, uint16_t sel, enum bt_task_reason reason, uint64_t ret_ip,
		    bool has_error, uint32_t error)
{
	struct cpu_state *s = &cpu->s;
	int bad = reason == BT_TASK_IRET ? EXC_TS : EXC_GP;
	uint16_t err = sel & 0xfffc;
	uint64_t dlin;

	/* The new TSS: a TSS descriptor in the GDT, busy only when IRET returns to it. */
	if (sel & 4)
		bt_raise(cpu, bad, err);
	uint64_t d = bt_read_desc(cpu, sel, &dlin);
	uint32_t attr = bt_desc_attr(d);
	unsigned type = SEG_TYPE(attr);
	if ((attr & SEG_S) || (type & 5) != 1)
		bt_raise(cpu, bad, err);
	if (!(type & 8))
		bt_shutdown(cpu, "task switch to a 16-bit TSS (not supported)");
	if (((type & 2) != 0) != (reason == BT_TASK_IRET))
		bt_raise(cpu, bad, err);
	if (!(attr & SEG_P))
		bt_raise(cpu, EXC_NP, err);
	struct seg_reg ntss;
	bt_desc_to_seg(&ntss, sel, d);
	if (ntss.limit < TSS_MIN_LIMIT)
		bt_raise(cpu, EXC_TS, err);
	const struct seg_reg otss = s->seg[S_TR];
	if ((otss.attr & SEG_UNUSABLE) || otss.limit < TSS_MIN_LIMIT)
		bt_raise(cpu, EXC_TS, otss.sel & 0xfffc);

	uint32_t n[(TSS_LDT + 4) / 4];
	for (unsigned k = 0; k < sizeof(n) / sizeof(n[0]); k++)
		n[k] = (uint32_t)bt_read_lin(cpu, tss_lin(&ntss, 4 * k), 4, BT_TLB_SUP);

	/* The old task's state, into its TSS. */
	uint64_t flags = bt_get_rflags(cpu);
	if (reason == BT_TASK_IRET)
		flags &= ~RFLAGS_NT;
	bt_write_lin(cpu, tss_lin(&otss, TSS_EIP), 4, ret_ip & 0xffffffff, BT_TLB_SUP);
	bt_write_lin(cpu, tss_lin(&otss, TSS_EFLAGS), 4, flags & 0xffffffff, BT_TLB_SUP);
	for (unsigned r = 0; r < 8; r++)
		bt_write_lin(cpu, tss_lin(&otss, TSS_GPR + 4 * r), 4, s->gpr[r] & 0xffffffff,
			     BT_TLB_SUP);
	for (unsigned g = 0; g < 6; g++)
		bt_write_lin(cpu, tss_lin(&otss, TSS_SEG + 4 * g), 2, s->seg[g].sel, BT_TLB_SUP);

	/* Busy bits and the back link. */
	if (reason == BT_TASK_JMP || reason == BT_TASK_IRET)
		set_busy(cpu, otss.sel, false);
	if (reason != BT_TASK_IRET)
		set_busy(cpu, sel, true);
	uint32_t nflags = n[TSS_EFLAGS / 4];
	if (reason == BT_TASK_CALL || reason == BT_TASK_INT) {
		bt_write_lin(cpu, tss_lin(&ntss, TSS_LINK), 2, otss.sel, BT_TLB_SUP);
		nflags |= RFLAGS_NT;
	}
	if (nflags & RFLAGS_VM)
		bt_shutdown(cpu, "task switch into virtual-8086 mode (not supported)");

	/* The new task: from here on faults belong to it. */
	s->seg[S_TR] = ntss;
	s->seg[S_TR].attr |= 2;
	s->cr0 |= CR0_TS;
	if (s->cr0 & CR0_PG) {
		s->cr3 = n[TSS_CR3 / 4];
		bt_tlb_flush(cpu, false);
	}
	s->rip = n[TSS_EIP / 4];
	cpu->next_rip = s->rip;
	for (unsigned r = 0; r < 8; r++)
		s->gpr[r] = n[TSS_GPR / 4 + r];
	bt_set_rflags(cpu, (nflags & 0xffffffffu) | RFLAGS_FIXED);
	for (unsigned g = 0; g < 6; g++)
		s->seg[g].sel = (uint16_t)n[TSS_SEG / 4 + g];
	load_task_ldt(cpu, (uint16_t)n[TSS_LDT / 4]);
	unsigned cpl = s->seg[S_CS].sel & 3;
	load_task_seg(cpu, S_CS, s->seg[S_CS].sel, cpl);
	load_task_seg(cpu, S_SS, s->seg[S_SS].sel, cpl);
	static const int data[] = { S_ES, S_DS, S_FS, S_GS };
	for (unsigned k = 0; k < 4; k++)
		load_task_seg(cpu, data[k], s->seg[data[k]].sel, cpl);
	bt_update_mode(cpu);
	if (has_error)
		bt_push(cpu, 4, error);
	cpu->end_block = true;
}

bool bt_task_target(struct bt_cpu *cpu, uint16_t sel, enum bt_task_reason reason, uint64_t ret_ip)
{
	uint64_t lin;

	if (!(sel & 0xfffc) || cpu->mode != BT_MODE_PROT)
		return false;
	uint64_t d = bt_read_desc(cpu, sel, &lin);
	uint32_t attr = bt_desc_attr(d);
	unsigned type = SEG_TYPE(attr);
	if ((attr & SEG_S) || (type != 5 && (type & 5) != 1))
		return false;
	/* JMP / CALL to a TSS or a task gate: its DPL must admit CPL and RPL. */
	if (SEG_DPL(attr) < cpu->cpl || SEG_DPL(attr) < (sel & 3u))
		bt_raise(cpu, EXC_GP, sel & 0xfffc);
	if (type == 5) {
		if (!(attr & SEG_P))
			bt_raise(cpu, EXC_NP, sel & 0xfffc);
		sel = (uint16_t)(d >> 16);
	}
	bt_task_switch(cpu, sel, reason, ret_ip, false, 0);
	return true;
}
