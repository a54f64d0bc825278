/* bt engine far control transfers: JMP/CALL ptr16:xx and m16:xx, RETF.
 * Targets are code segments (conforming or not) at the current privilege, or a TSS or task gate
 * (a task switch, task.c); call gates are not supported and fault with #GP(selector), which
 * guests that need them report.
 */
#include "engine/bt/sys/btsys.h"

static uint64_t amask(unsigned addrsize)
{
	return addrsize == 8 ? ~0ull : addrsize == 4 ? 0xffffffffull : 0xffffull;
}

/* Selector and offset of the far pointer: immediate (EA, 9A) or memory (FF /3, FF /5). */
static void far_pointer(struct bt_cpu *cpu, const struct bt_insn *i, uint16_t *sel, uint64_t *off)
{
	if (!(i->flags & BI_MEM)) {
		*off = i->imm;
		*sel = (uint16_t)i->imm2;
		return;
	}
	uint64_t ea = bt_ea(cpu, i);
	*off = bt_read(cpu, i->seg, ea, i->opsize);
	*sel = (uint16_t)bt_read(cpu, i->seg, (ea + i->opsize) & amask(i->addrsize), 2);
}

/* Check and load the new CS for JMP/CALL; returns the new rip. Real and v86 mode only check
 * the offset against the limit the loaded CS keeps. */
static uint64_t far_target(struct bt_cpu *cpu, uint16_t sel, uint64_t off, unsigned opsize,
			   uint64_t *desc)
{
	if (cpu->mode == BT_MODE_REAL || cpu->mode == BT_MODE_V86) {
		off &= opsize == 2 ? 0xffff : 0xffffffff;
		if (off > cpu->s.seg[S_CS].limit)
			bt_raise(cpu, EXC_GP, 0);
		*desc = 0;
		return off;
	}
	*desc = bt_check_far_target(cpu, sel);
	uint32_t attr = bt_desc_attr(*desc);
	if ((cpu->s.efer & EFER_LMA) && (attr & SEG_L)) {
		if (!bt_canonical(off))
			bt_raise(cpu, EXC_GP, 0);
		return off;
	}
	struct seg_reg cs;
	bt_desc_to_seg(&cs, sel, *desc);
	off &= opsize == 2 ? 0xffff : 0xffffffff;
	if (off > cs.limit)
		bt_raise(cpu, EXC_GP, 0);
	return off;
}

static void set_cs(struct bt_cpu *cpu, uint16_t sel, uint64_t desc)
{
	if (cpu->mode == BT_MODE_REAL || cpu->mode == BT_MODE_V86)
		bt_load_seg(cpu, S_CS, sel);
	else
		bt_load_cs(cpu, sel, desc, cpu->cpl);
}

void bt_op_jmp_far(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint16_t sel;
	uint64_t off, desc;

	far_pointer(cpu, i, &sel, &off);
	if (bt_task_target(cpu, sel, BT_TASK_JMP, cpu->next_rip))
		return;
	uint64_t rip = far_target(cpu, sel, off, i->opsize, &desc);
	set_cs(cpu, sel, desc);
	cpu->next_rip = rip;
	cpu->end_block = true;
}

void bt_op_call_far(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint16_t sel;
	uint64_t off, desc;
	unsigned size = i->opsize;

	far_pointer(cpu, i, &sel, &off);
	if (bt_task_target(cpu, sel, BT_TASK_CALL, cpu->next_rip))
		return;
	uint64_t rip = far_target(cpu, sel, off, size, &desc);

	/* Both pushes are written before RSP or CS change, so a fault restarts cleanly. */
	uint64_t m = bt_stack_mask(cpu->stack_size);
	uint64_t rsp = cpu->s.gpr[R_RSP];
	uint64_t a1 = (rsp - size) & m, a2 = (rsp - 2 * size) & m;
	bt_linear(cpu, S_SS, a2, size, BT_WRITE);
	bt_write(cpu, S_SS, a1, size, cpu->s.seg[S_CS].sel);
	bt_write(cpu, S_SS, a2, size, cpu->next_rip);
	bt_set_rsp(cpu, a2);
	set_cs(cpu, sel, desc);
	cpu->next_rip = rip;
	cpu->end_block = true;
}

void bt_op_ret_far(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = i->opsize;
	uint64_t imm = i->op == 0xca ? i->imm & 0xffff : 0;
	uint64_t rsp = cpu->s.gpr[R_RSP];
	uint64_t ip = bt_stack_peek(cpu, rsp, 0, size);
	uint16_t cs = (uint16_t)bt_stack_peek(cpu, rsp, size, size);

	if (cpu->mode == BT_MODE_REAL || cpu->mode == BT_MODE_V86) {
		ip &= size == 2 ? 0xffff : 0xffffffff;
		bt_load_seg(cpu, S_CS, cs);
		bt_set_rsp(cpu, rsp + 2 * size + imm);
		cpu->next_rip = ip;
		cpu->end_block = true;
		return;
	}

	uint64_t lin;
	uint64_t d = bt_check_ret_cs(cpu, cs, &lin);
	unsigned rpl = cs & 3;
	bool to64 = (cpu->s.efer & EFER_LMA) && (bt_desc_attr(d) & SEG_L);
	bool outer = rpl > cpu->cpl;
	uint64_t new_rsp = rsp + 2 * size + imm;
	uint16_t ss = 0;
	uint64_t ssd = 0, sslin = 0;

	if (outer) {
		new_rsp = bt_stack_peek(cpu, rsp, 2 * size + (unsigned)imm, size);
		ss = (uint16_t)bt_stack_peek(cpu, rsp, 3 * size + (unsigned)imm, size);
		ssd = bt_check_ret_ss(cpu, ss, rpl, to64, &sslin);
	}
	if (to64) {
		if (!bt_canonical(ip))
			bt_raise(cpu, EXC_GP, 0);
	} else {
		struct seg_reg ncs;
		bt_desc_to_seg(&ncs, cs, d);
		ip &= size == 2 ? 0xffff : 0xffffffff;
		if (ip > ncs.limit)
			bt_raise(cpu, EXC_GP, 0);
	}

	if (ssd)
		bt_desc_set_accessed(cpu, sslin, ssd);
	bt_desc_set_accessed(cpu, lin, d);
	bt_load_cs(cpu, cs, d, rpl);
	if (outer) {
		bt_set_ss(cpu, ss, ssd, rpl);
		bt_set_rsp(cpu, new_rsp + imm);
		bt_null_outer_segs(cpu);
	} else {
		bt_set_rsp(cpu, new_rsp);
	}
	cpu->next_rip = ip;
	cpu->end_block = true;
}
