/* bt engine exceptions and interrupts: raising faults from handlers, delivering events through
 * the IVT (real mode), the IDT with 8-byte gates (protected mode, with a TSS stack switch on a
 * privilege change) or 16-byte gates (IA-32e: IST, 16-byte aligned frame), and IRET.
 *
 * Task gates and IRET with NT=1 switch tasks (task.c). Not supported (the vCPU stops with a
 * message): IRET to virtual-8086 mode. Delivery *from* v86 mode to a ring-0 handler works.
 * #DF escalation lives in the run loop (engine.c), which sees a fault raised during delivery.
 */
#include <stdio.h>

#include "engine/bt/sys/btsys.h"
#include "util/log.h"
#include "vm.h"

static bool has_error_code(int vector)
{
	return vector == EXC_DF || (vector >= EXC_TS && vector <= EXC_PF) || vector == EXC_AC;
}

_Noreturn void bt_raise(struct bt_cpu *cpu, int vector, uint32_t error_code)
{
	cpu->pending_vector = vector;
	cpu->pending_has_error = has_error_code(vector);
	cpu->pending_error = cpu->pending_has_error ? error_code : 0;
	longjmp(cpu->fault_jmp, 1);
}

_Noreturn void bt_raise_noerr(struct bt_cpu *cpu, int vector)
{
	bt_raise(cpu, vector, 0);
}

_Noreturn void bt_shutdown(struct bt_cpu *cpu, const char *why)
{
	vmon_log("vcpu %d: %s (rip %#llx)", cpu->vcpu ? cpu->vcpu->id : 0, why,
		(unsigned long long)cpu->s.rip);
	cpu->pending_vector = BT_VEC_SHUTDOWN;
	longjmp(cpu->fault_jmp, 1);
}

int bt_exc_class(int vector)
{
	switch (vector) {
	case EXC_DE: case EXC_TS: case EXC_NP: case EXC_SS: case EXC_GP:
		return BT_EXC_CONTRIBUTORY;
	case EXC_PF:
		return BT_EXC_PF;
	case EXC_DF:
		return BT_EXC_DF;
	default:
		return BT_EXC_BENIGN;
	}
}

int bt_fault_during_delivery(int first_class, int vector)
{
	int second = bt_exc_class(vector);

	if (first_class == BT_EXC_DF)
		return BT_VEC_SHUTDOWN;
	if ((first_class == BT_EXC_CONTRIBUTORY && second == BT_EXC_CONTRIBUTORY) ||
	    (first_class == BT_EXC_PF && (second == BT_EXC_CONTRIBUTORY || second == BT_EXC_PF)))
		return EXC_DF;
	return vector;
}

/* ---- Stack helpers -------------------------------------------------------------------------- */

uint64_t bt_stack_mask(unsigned stack_size)
{
	return stack_size == 8 ? ~0ull : stack_size == 4 ? 0xffffffffull : 0xffffull;
}

uint64_t bt_stack_peek(struct bt_cpu *cpu, uint64_t rsp, unsigned off, unsigned size)
{
	uint64_t a = (rsp + off) & bt_stack_mask(cpu->stack_size);
	return bt_read_lin(cpu, bt_linear(cpu, S_SS, a, size, BT_READ), size, bt_cur_tlb(cpu));
}

void bt_set_rsp(struct bt_cpu *cpu, uint64_t rsp)
{
	uint64_t m = bt_stack_mask(cpu->stack_size);
	cpu->s.gpr[R_RSP] = m == 0xffff ? (cpu->s.gpr[R_RSP] & ~m) | (rsp & m) : rsp & m;
}

/* An interrupt frame being built on the handler's stack: values are written (and may fault)
 * before any register changes. */
struct frame {
	const struct seg_reg *ss;
	uint64_t sp;
	unsigned stack_size;	/* 2, 4 or 8 */
	unsigned slot;		/* bytes per pushed value */
	int tlb;
	uint16_t fault_sel;	/* error code of #SS */
};

static void frame_push(struct bt_cpu *cpu, struct frame *f, uint64_t val)
{
	uint64_t m = bt_stack_mask(f->stack_size);
	uint64_t off = (f->sp - f->slot) & m;
	uint64_t lin;

	if (f->stack_size == 8) {
		lin = off;
		if (!bt_canonical(lin) || !bt_canonical(lin + f->slot - 1))
			bt_raise(cpu, EXC_SS, f->fault_sel);
	} else if (cpu->s.cr0 & CR0_PE && !(cpu->mode == BT_MODE_V86 && f->ss == &cpu->s.seg[S_SS])) {
		if (!bt_seg_ok(f->ss, off, f->slot, BT_WRITE))
			bt_raise(cpu, EXC_SS, f->fault_sel);
		lin = (f->ss->base + off) & 0xffffffffull;
	} else {
		if (off + f->slot - 1 > f->ss->limit)
			bt_raise(cpu, EXC_SS, 0);
		lin = (f->ss->base + off) & 0xffffffffull;
	}
	bt_write_lin(cpu, lin, f->slot, val, f->tlb);
	f->sp = off;
}

/* ---- Delivery ------------------------------------------------------------------------------ */

static void deliver_real(struct bt_cpu *cpu, int vector, uint64_t ret_ip)
{
	struct cpu_state *s = &cpu->s;

	if ((uint32_t)vector * 4 + 3 > s->idt.limit)
		bt_raise(cpu, EXC_GP, (uint32_t)vector * 8 + 2);
	uint32_t v = (uint32_t)bt_read_lin(cpu, (s->idt.base + (uint32_t)vector * 4) & 0xffffffffull,
					   4, BT_TLB_SUP);
	uint64_t flags = bt_get_rflags(cpu);
	struct frame f = { .ss = &s->seg[S_SS], .sp = s->gpr[R_RSP],
			   .stack_size = cpu->stack_size, .slot = 2, .tlb = BT_TLB_SUP };

	frame_push(cpu, &f, flags);
	frame_push(cpu, &f, s->seg[S_CS].sel);
	frame_push(cpu, &f, ret_ip);
	bt_set_rsp(cpu, f.sp);
	bt_set_rflags(cpu, flags & ~(RFLAGS_IF | RFLAGS_TF | RFLAGS_AC | RFLAGS_RF));
	bt_load_seg(cpu, S_CS, (uint16_t)(v >> 16));
	s->rip = v & 0xffff;
}

/* Target code segment of a gate: #GP(sel) / #NP(sel) per the SDM's INT pseudo-code. */
static uint64_t gate_target(struct bt_cpu *cpu, uint16_t sel, uint64_t *lin)
{
	if (!(sel & 0xfffc))
		bt_raise(cpu, EXC_GP, 0);
	uint64_t d = bt_read_desc(cpu, sel, lin);
	uint32_t attr = bt_desc_attr(d);
	if (!(attr & SEG_S) || !(SEG_TYPE(attr) & 8) || SEG_DPL(attr) > cpu->cpl)
		bt_raise(cpu, EXC_GP, sel & 0xfffc);
	if (!(attr & SEG_P))
		bt_raise(cpu, EXC_NP, sel & 0xfffc);
	return d;
}

/* TSS field at off (size bytes) with the TR limit check: #TS(TR). */
static uint64_t tss_read(struct bt_cpu *cpu, unsigned off, unsigned size)
{
	const struct seg_reg *tr = &cpu->s.seg[S_TR];

	if ((tr->attr & SEG_UNUSABLE) || off + size - 1 > tr->limit)
		bt_raise(cpu, EXC_TS, tr->sel & 0xfffc);
	uint64_t lin = tr->base + off;
	if (!(cpu->s.efer & EFER_LMA))
		lin &= 0xffffffffull;
	return bt_read_lin(cpu, lin, size, BT_TLB_SUP);
}

static void deliver_prot(struct bt_cpu *cpu, int vector, bool has_error, uint32_t error,
			 int soft, uint64_t ret_ip, uint64_t rf)
{
	struct cpu_state *s = &cpu->s;
	uint32_t gate_err = (uint32_t)vector * 8 + 2;

	if ((uint32_t)vector * 8 + 7 > s->idt.limit)
		bt_raise(cpu, EXC_GP, gate_err);
	uint64_t gate = bt_read_lin(cpu, (s->idt.base + (uint32_t)vector * 8) & 0xffffffffull, 8,
				    BT_TLB_SUP);
	unsigned type = (gate >> 40) & 0x1f;
	if (type != 0x5 && type != 0x6 && type != 0x7 && type != 0xe && type != 0xf)
		bt_raise(cpu, EXC_GP, gate_err);
	if (soft == BT_DELIVER_SOFT && ((gate >> 45) & 3) < cpu->cpl)
		bt_raise(cpu, EXC_GP, gate_err);
	if (!(gate & (1ull << 47)))
		bt_raise(cpu, EXC_NP, gate_err);
	if (type == 0x5) {
		bt_task_switch(cpu, (uint16_t)(gate >> 16), BT_TASK_INT, ret_ip, has_error, error);
		return;
	}

	bool gate32 = type & 8;
	uint16_t sel = (uint16_t)(gate >> 16);
	uint64_t target = (gate & 0xffff) | (gate32 ? (gate >> 32) & 0xffff0000 : 0);
	uint64_t dlin;
	uint64_t d = gate_target(cpu, sel, &dlin);
	uint32_t attr = bt_desc_attr(d);
	bool conforming = SEG_TYPE(attr) & 4;
	unsigned new_cpl = conforming ? cpu->cpl : SEG_DPL(attr);
	bool v86 = cpu->mode == BT_MODE_V86;

	if (v86 && new_cpl != 0)
		bt_raise(cpu, EXC_GP, sel & 0xfffc);

	uint64_t flags = bt_get_rflags(cpu);
	struct seg_reg new_ss = s->seg[S_SS];
	struct frame f = { .ss = &new_ss, .sp = s->gpr[R_RSP], .stack_size = cpu->stack_size,
			   .slot = gate32 ? 4 : 2, .tlb = new_cpl == 3 ? BT_TLB_USER : BT_TLB_SUP };
	bool switch_stack = new_cpl < cpu->cpl;

	if (switch_stack) {
		bool tss32 = (SEG_TYPE(s->seg[S_TR].attr) & 8);
		uint64_t sp = tss32 ? tss_read(cpu, 4 + new_cpl * 8, 4) : tss_read(cpu, 2 + new_cpl * 4, 2);
		uint16_t ss_sel = (uint16_t)(tss32 ? tss_read(cpu, 8 + new_cpl * 8, 2)
						   : tss_read(cpu, 4 + new_cpl * 4, 2));
		if (!(ss_sel & 0xfffc))
			bt_raise(cpu, EXC_TS, 0);
		uint64_t sslin;
		uint64_t ssd = bt_read_desc(cpu, ss_sel, &sslin);
		uint32_t ssa = bt_desc_attr(ssd);
		if ((ss_sel & 3) != new_cpl || SEG_DPL(ssa) != new_cpl || !(ssa & SEG_S) ||
		    (SEG_TYPE(ssa) & 0xa) != 0x2)
			bt_raise(cpu, EXC_TS, ss_sel & 0xfffc);
		if (!(ssa & SEG_P))
			bt_raise(cpu, EXC_SS, ss_sel & 0xfffc);
		bt_desc_to_seg(&new_ss, ss_sel, ssd | (1ull << 40));
		f.sp = sp;
		f.stack_size = (ssa & SEG_DB) ? 4 : 2;
		f.fault_sel = ss_sel & 0xfffc;
		if (v86) {
			frame_push(cpu, &f, s->seg[S_GS].sel);
			frame_push(cpu, &f, s->seg[S_FS].sel);
			frame_push(cpu, &f, s->seg[S_DS].sel);
			frame_push(cpu, &f, s->seg[S_ES].sel);
		}
		frame_push(cpu, &f, s->seg[S_SS].sel);
		frame_push(cpu, &f, s->gpr[R_RSP]);
	}
	frame_push(cpu, &f, flags | rf);
	frame_push(cpu, &f, s->seg[S_CS].sel);
	frame_push(cpu, &f, ret_ip);
	if (has_error)
		frame_push(cpu, &f, error);

	/* Committed: nothing below faults except the accessed-bit write, done first. */
	bt_desc_set_accessed(cpu, dlin, d);
	if (switch_stack) {
		if (v86) {
			static const int segs[] = { S_ES, S_DS, S_FS, S_GS };
			for (unsigned k = 0; k < 4; k++) {
				s->seg[segs[k]].sel = 0;
				s->seg[segs[k]].attr = SEG_UNUSABLE;
			}
		}
		s->seg[S_SS] = new_ss;
	}
	flags &= ~(RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM);
	if (!(type & 1))
		flags &= ~RFLAGS_IF;
	bt_set_rflags(cpu, flags);
	bt_load_cs(cpu, sel, d, new_cpl);
	bt_set_rsp(cpu, f.sp);
	s->rip = target;
}

static void deliver_long(struct bt_cpu *cpu, int vector, bool has_error, uint32_t error,
			 int soft, uint64_t ret_ip, uint64_t rf)
{
	struct cpu_state *s = &cpu->s;
	uint32_t gate_err = (uint32_t)vector * 8 + 2;

	if ((uint32_t)vector * 16 + 15 > s->idt.limit)
		bt_raise(cpu, EXC_GP, gate_err);
	uint64_t lo = bt_read_lin(cpu, s->idt.base + (uint32_t)vector * 16, 8, BT_TLB_SUP);
	uint64_t hi = bt_read_lin(cpu, s->idt.base + (uint32_t)vector * 16 + 8, 8, BT_TLB_SUP);
	unsigned type = (lo >> 40) & 0x1f;
	if (type != 0xe && type != 0xf)
		bt_raise(cpu, EXC_GP, gate_err);
	if (soft == BT_DELIVER_SOFT && ((lo >> 45) & 3) < cpu->cpl)
		bt_raise(cpu, EXC_GP, gate_err);
	if (!(lo & (1ull << 47)))
		bt_raise(cpu, EXC_NP, gate_err);

	uint16_t sel = (uint16_t)(lo >> 16);
	uint64_t target = (lo & 0xffff) | ((lo >> 32) & 0xffff0000) | (hi << 32);
	unsigned ist = (lo >> 32) & 7;
	uint64_t dlin;
	uint64_t d = gate_target(cpu, sel, &dlin);
	uint32_t attr = bt_desc_attr(d);
	if (!(attr & SEG_L) || (attr & SEG_DB))
		bt_raise(cpu, EXC_GP, sel & 0xfffc);
	unsigned new_cpl = (SEG_TYPE(attr) & 4) ? cpu->cpl : SEG_DPL(attr);
	if (!bt_canonical(target))
		bt_raise(cpu, EXC_GP, 0);

	uint64_t rsp = s->gpr[R_RSP];
	if (ist)
		rsp = tss_read(cpu, 0x24 + (ist - 1) * 8, 8);
	else if (new_cpl < cpu->cpl)
		rsp = tss_read(cpu, 4 + new_cpl * 8, 8);

	uint64_t flags = bt_get_rflags(cpu);
	struct frame f = { .ss = &s->seg[S_SS], .sp = rsp & ~0xfull, .stack_size = 8, .slot = 8,
			   .tlb = new_cpl == 3 ? BT_TLB_USER : BT_TLB_SUP };
	frame_push(cpu, &f, s->seg[S_SS].sel);
	frame_push(cpu, &f, s->gpr[R_RSP]);
	frame_push(cpu, &f, flags | rf);
	frame_push(cpu, &f, s->seg[S_CS].sel);
	frame_push(cpu, &f, ret_ip);
	if (has_error)
		frame_push(cpu, &f, error);

	bt_desc_set_accessed(cpu, dlin, d);
	if (new_cpl < cpu->cpl) {
		/* 64-bit mode loads a null SS with RPL = new CPL on a privilege change. */
		s->seg[S_SS].sel = (uint16_t)new_cpl;
		s->seg[S_SS].base = 0;
		s->seg[S_SS].limit = 0;
		s->seg[S_SS].attr = SEG_UNUSABLE | (new_cpl << 5);
	}
	flags &= ~(RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM);
	if (!(type & 1))
		flags &= ~RFLAGS_IF;
	bt_set_rflags(cpu, flags);
	bt_load_cs(cpu, sel, d, new_cpl);
	s->gpr[R_RSP] = f.sp;
	s->rip = target;
}

/* Faults (not traps, aborts, #DB or interrupts) push RFLAGS with RF set, so that the
 * handler's IRET re-runs the instruction without its instruction breakpoint firing again
 * (SDM vol. 3, 6.13 and 17.3.1.1). Real mode pushes only FLAGS. */
static bool is_fault(int vector)
{
	switch (vector) {
	case EXC_DE: case EXC_BR: case EXC_UD: case EXC_NM: case EXC_TS: case EXC_NP:
	case EXC_SS: case EXC_GP: case EXC_PF: case EXC_MF: case EXC_AC: case EXC_XM:
		return true;
	default:
		return false;
	}
}

void bt_deliver(struct bt_cpu *cpu, int vector, bool has_error, uint32_t error, int soft)
{
	bool after = soft == BT_DELIVER_SOFT || soft == BT_DELIVER_ICEBP;
	uint64_t ret_ip = after ? cpu->next_rip : cpu->s.rip;
	uint64_t rf = soft == BT_DELIVER_EXC && is_fault(vector) ? RFLAGS_RF : 0;

	cpu->s.halted = false;
	if (cpu->mode == BT_MODE_REAL)
		deliver_real(cpu, vector, ret_ip);
	else if (cpu->s.efer & EFER_LMA)
		deliver_long(cpu, vector, has_error, error, soft, ret_ip, rf);
	else
		deliver_prot(cpu, vector, has_error, error, soft, ret_ip, rf);
	/* From a handler (INT n) the interpreter commits next_rip after we return. */
	cpu->next_rip = cpu->s.rip;
	cpu->inhibit_irq = cpu->inhibit_db = false;
	cpu->end_block = true;
}

/* ---- IRET ------------------------------------------------------------------------------------ */

static void iret_real(struct bt_cpu *cpu, unsigned size)
{
	struct cpu_state *s = &cpu->s;
	uint64_t rsp = s->gpr[R_RSP];
	uint64_t ip = bt_stack_peek(cpu, rsp, 0, size);
	uint16_t cs = (uint16_t)bt_stack_peek(cpu, rsp, size, size);
	uint64_t fl = bt_stack_peek(cpu, rsp, 2 * size, size);

	if (ip > s->seg[S_CS].limit && cpu->mode == BT_MODE_REAL && size == 4)
		bt_raise(cpu, EXC_GP, 0);
	uint64_t cur = bt_get_rflags(cpu);
	uint64_t nf = bt_merge_rflags(cpu, cur, fl, size);
	if (size == 4)
		nf = (nf & ~RFLAGS_RF) | (fl & RFLAGS_RF);
	bt_load_seg(cpu, S_CS, cs);
	bt_set_rsp(cpu, rsp + 3 * size);
	bool if_opened = !(cur & RFLAGS_IF) && (nf & RFLAGS_IF);
	bt_set_rflags(cpu, nf);
	cpu->next_rip = ip & (size == 2 ? 0xffff : 0xffffffff);
	if (if_opened)
		bt_irq_window_opened(cpu);
}

static void iret_prot(struct bt_cpu *cpu, unsigned size)
{
	struct cpu_state *s = &cpu->s;
	uint64_t rsp = s->gpr[R_RSP];
	bool long64 = cpu->mode == BT_MODE_LONG;
	uint64_t cur = bt_get_rflags(cpu);

	if (cur & RFLAGS_NT) {
		if (s->efer & EFER_LMA)
			bt_raise(cpu, EXC_GP, 0);
		/* Back to the task in the back link of the current TSS. */
		bt_task_switch(cpu, (uint16_t)tss_read(cpu, 0, 2), BT_TASK_IRET, cpu->next_rip, false, 0);
		return;
	}
	uint64_t ip = bt_stack_peek(cpu, rsp, 0, size);
	uint16_t cs = (uint16_t)bt_stack_peek(cpu, rsp, size, size);
	uint64_t fl = bt_stack_peek(cpu, rsp, 2 * size, size);
	if (!long64 && size == 4 && (fl & RFLAGS_VM) && cpu->cpl == 0)
		bt_shutdown(cpu, "IRET to virtual-8086 mode is not supported");

	uint64_t dlin;
	uint64_t d = bt_check_ret_cs(cpu, cs, &dlin);
	unsigned rpl = cs & 3;
	bool to64 = (s->efer & EFER_LMA) && (bt_desc_attr(d) & SEG_L);

	uint64_t new_rsp = rsp + 3 * size;
	uint16_t ss = 0;
	uint64_t ssd = 0, sslin = 0;
	bool load_ss = long64 || rpl > cpu->cpl;
	if (load_ss) {
		new_rsp = bt_stack_peek(cpu, rsp, 3 * size, size);
		ss = (uint16_t)bt_stack_peek(cpu, rsp, 4 * size, size);
		ssd = bt_check_ret_ss(cpu, ss, rpl, to64, &sslin);
	}
	if (to64) {
		if (!bt_canonical(ip))
			bt_raise(cpu, EXC_GP, 0);
	} else {
		ip &= size == 2 ? 0xffff : 0xffffffff;
		struct seg_reg ncs;
		bt_desc_to_seg(&ncs, cs, d);
		if (ip > ncs.limit)
			bt_raise(cpu, EXC_GP, 0);
	}

	/* Commit. RFLAGS privilege rules use the CPL of the IRET itself. */
	uint64_t nf = bt_merge_rflags(cpu, cur, fl, size);
	if (size >= 4)
		nf = (nf & ~RFLAGS_RF) | (fl & RFLAGS_RF);
	if (ssd)
		bt_desc_set_accessed(cpu, sslin, ssd);
	bt_desc_set_accessed(cpu, dlin, d);
	bool if_opened = !(cur & RFLAGS_IF) && (nf & RFLAGS_IF);
	bt_set_rflags(cpu, nf);
	unsigned old_cpl = cpu->cpl;
	bt_load_cs(cpu, cs, d, rpl);
	if (load_ss)
		bt_set_ss(cpu, ss, ssd, rpl);
	bt_set_rsp(cpu, new_rsp);
	if (rpl > old_cpl)
		bt_null_outer_segs(cpu);
	cpu->next_rip = ip;
	if (if_opened)
		bt_irq_window_opened(cpu);
}

void bt_op_iret(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = i->opsize;

	/* IRET ends NMI blocking, even when it then faults (SDM 6.7.1; VMX's "NMI unblocking
	 * due to IRET" reports that case). An NMI latched meanwhile comes right after it: the
	 * kick sends the run loop to look. */
	if (cpu->nmi_blocked) {
		cpu->nmi_blocked = false;
		atomic_store(&cpu->kick, true);
	}
	if (cpu->mode == BT_MODE_REAL) {
		iret_real(cpu, size);
	} else if (cpu->mode == BT_MODE_V86) {
		if (bt_iopl(cpu) < 3)
			bt_raise(cpu, EXC_GP, 0);
		iret_real(cpu, size);
	} else {
		iret_prot(cpu, size);
	}
	cpu->end_block = true;
}

/* ---- Software interrupts -------------------------------------------------------------------- */

void bt_op_int_n(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (cpu->mode == BT_MODE_V86 && bt_iopl(cpu) < 3)
		bt_raise(cpu, EXC_GP, 0);
	bt_deliver(cpu, (int)(i->imm & 0xff), false, 0, BT_DELIVER_SOFT);
}

void bt_op_int3(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_deliver(cpu, EXC_BP, false, 0, BT_DELIVER_SOFT);
}

void bt_op_into(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (bt_get_rflags(cpu) & RFLAGS_OF)
		bt_deliver(cpu, EXC_OF, false, 0, BT_DELIVER_SOFT);
}

void bt_op_int1(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_deliver(cpu, EXC_DB, false, 0, BT_DELIVER_ICEBP);
}
