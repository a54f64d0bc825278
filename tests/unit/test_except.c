/* bt engine exceptions: delivery through the IVT, 32-bit and 64-bit IDTs (frames, stack
 * switches, IST, alignment, gate DPL), IRET back, and the double-fault rules. */
#include "bt_fixture.h"
#include "test.h"

#define IDT	0x3000ull
#define TSS	0x5000ull

static void gate64(struct bt_test *t, int vector, uint64_t target, uint16_t sel, unsigned ist,
		   unsigned dpl)
{
	uint64_t lo = (target & 0xffff) | (uint64_t)sel << 16 | (uint64_t)ist << 32 |
		      (0x8eull | dpl << 5) << 40 | ((target >> 16) & 0xffff) << 48;
	bt_test_put(t, IDT + 16 * (uint64_t)vector, 8, lo);
	bt_test_put(t, IDT + 16 * (uint64_t)vector + 8, 8, target >> 32);
}

/* 64-bit mode, identity-mapped 8 MiB, IDT and 64-bit TSS (RSP0 0xa000, IST1 0x9008). */
static struct bt_test *long_mode(unsigned cpl)
{
	struct bt_test *t = bt_test_new();
	struct cpu_state *s = &t->cpu->s;

	bt_test_put(t, 0x10000, 8, 0x11000 | 7);
	bt_test_put(t, 0x11000, 8, 0x12000 | 7);
	for (uint64_t k = 0; k < 4; k++)
		bt_test_put(t, 0x12000 + 8 * k, 8, (k << 21) | 0x87);
	bt_test_long64(t, cpl, 0x10000);
	s->idt.base = IDT;
	s->idt.limit = 256 * 16 - 1;
	s->seg[S_TR] = (struct seg_reg){ .sel = 0x38, .base = TSS, .limit = 0x67, .attr = 0x8b };
	bt_test_put(t, TSS + 4, 8, 0xa000);
	bt_test_put(t, TSS + 0x24, 8, 0x9008);
	s->gpr[R_RSP] = 0x7000;
	s->rip = 0x1111;
	s->rflags |= RFLAGS_IF;
	return t;
}

TEST(except_real_mode_ivt_frame)
{
	struct bt_test *t = bt_test_new();
	struct cpu_state *s = &t->cpu->s;

	bt_test_put(t, 0x10 * 4, 4, 0x12345678);	/* vector 0x10 -> 1234:5678 */
	s->seg[S_CS].sel = 0x700;
	s->seg[S_CS].base = 0x7000;
	s->rip = 0x0042;
	s->gpr[R_RSP] = 0x8000;
	bt_set_rflags(t->cpu, RFLAGS_FIXED | RFLAGS_IF | RFLAGS_CF);
	CHECK_EQ(bt_test_deliver(t, 0x10, false, 0, BT_DELIVER_HW), -1);
	CHECK_EQ(s->seg[S_CS].sel, 0x1234);
	CHECK_EQ(s->seg[S_CS].base, 0x12340);
	CHECK_EQ(s->rip, 0x5678);
	CHECK_EQ(s->gpr[R_RSP], 0x7ffa);
	CHECK_EQ(bt_test_get(t, 0x7ffa, 2), 0x0042);
	CHECK_EQ(bt_test_get(t, 0x7ffc, 2), 0x700);
	CHECK_EQ(bt_test_get(t, 0x7ffe, 2), RFLAGS_FIXED | RFLAGS_IF | RFLAGS_CF);
	CHECK(!(bt_get_rflags(t->cpu) & RFLAGS_IF));

	/* IRET returns: 16-bit pops of IP, CS, FLAGS. */
	struct bt_insn iret = { .opsize = 2, .len = 1 };
	CHECK_EQ(bt_test_op(t, bt_op_iret, &iret), -1);
	CHECK_EQ(s->rip, 0x42);
	CHECK_EQ(s->seg[S_CS].base, 0x7000);
	CHECK_EQ(s->gpr[R_RSP], 0x8000);
	CHECK(bt_get_rflags(t->cpu) & RFLAGS_IF);
	bt_test_free(t);
}

TEST(except_long_mode_ist_frame_aligned)
{
	struct bt_test *t = long_mode(0);
	struct cpu_state *s = &t->cpu->s;
	uint64_t flags = bt_get_rflags(t->cpu);

	gate64(t, EXC_PF, 0xabcdef, 0x08, 1, 0);
	CHECK_EQ(bt_test_deliver(t, EXC_PF, true, 6, BT_DELIVER_HW), -1);
	CHECK_EQ(s->rip, 0xabcdef);
	CHECK_EQ(s->gpr[R_RSP], 0x9000 - 48);		/* IST 0x9008 aligned down to 16 */
	CHECK_EQ(bt_test_get(t, 0x8fd0, 8), 6);		/* error code */
	CHECK_EQ(bt_test_get(t, 0x8fd8, 8), 0x1111);	/* rip */
	CHECK_EQ(bt_test_get(t, 0x8fe0, 8), 0x08);	/* cs */
	CHECK_EQ(bt_test_get(t, 0x8fe8, 8), flags);	/* rflags */
	CHECK_EQ(bt_test_get(t, 0x8ff0, 8), 0x7000);	/* rsp */
	CHECK_EQ(bt_test_get(t, 0x8ff8, 8), 0x10);	/* ss */
	CHECK(!(bt_get_rflags(t->cpu) & RFLAGS_IF));	/* interrupt gate */
	bt_test_free(t);
}

TEST(except_long_mode_privilege_change_and_iretq)
{
	struct bt_test *t = long_mode(3);
	struct bt_cpu *cpu = t->cpu;
	struct cpu_state *s = &cpu->s;

	gate64(t, 0x80, 0x4000, 0x08, 0, 3);
	gate64(t, 0x81, 0x4000, 0x08, 0, 0);
	s->gpr[R_RSP] = 0x7008;

	/* INT n through a DPL 0 gate from ring 3: #GP(vector * 8 + 2). */
	struct bt_insn intn = { .imm = 0x81, .len = 2 };
	CHECK_EQ(bt_test_op(t, bt_op_int_n, &intn), EXC_GP);
	CHECK_EQ(cpu->pending_error, 0x81 * 8 + 2);

	intn.imm = 0x80;
	CHECK_EQ(bt_test_op(t, bt_op_int_n, &intn), -1);
	CHECK_EQ(cpu->cpl, 0);
	CHECK_EQ(s->rip, 0x4000);
	CHECK_EQ(s->seg[S_CS].sel, 0x08);
	CHECK_EQ(s->seg[S_SS].sel, 0);			/* null SS, RPL = new CPL */
	CHECK_EQ(s->gpr[R_RSP], 0xa000 - 40);		/* RSP0, no error code */
	CHECK_EQ(bt_test_get(t, 0xa000 - 40, 8), 0x1113);	/* return after INT n */
	CHECK_EQ(bt_test_get(t, 0xa000 - 32, 8), 0x2b);
	CHECK_EQ(bt_test_get(t, 0xa000 - 16, 8), 0x7008);
	CHECK_EQ(bt_test_get(t, 0xa000 - 8, 8), 0x23);

	struct bt_insn iretq = { .opsize = 8, .len = 2 };
	CHECK_EQ(bt_test_op(t, bt_op_iret, &iretq), -1);
	CHECK_EQ(cpu->cpl, 3);
	CHECK_EQ(cpu->mode, BT_MODE_LONG);
	CHECK_EQ(s->rip, 0x1113);
	CHECK_EQ(s->gpr[R_RSP], 0x7008);
	CHECK_EQ(s->seg[S_SS].sel, 0x23);
	CHECK(bt_get_rflags(cpu) & RFLAGS_IF);
	bt_test_free(t);
}

TEST(except_long_mode_bad_gates)
{
	struct bt_test *t = long_mode(0);
	struct bt_cpu *cpu = t->cpu;

	/* Beyond the IDT limit, a not-present gate, a target that is not 64-bit code. */
	cpu->s.idt.limit = 16 * 0x20 - 1;
	CHECK_EQ(bt_test_deliver(t, 0x20, false, 0, BT_DELIVER_HW), EXC_GP);
	CHECK_EQ(cpu->pending_error, 0x20 * 8 + 2);
	cpu->s.idt.limit = 256 * 16 - 1;
	CHECK_EQ(bt_test_deliver(t, 0x21, false, 0, BT_DELIVER_HW), EXC_GP);	/* type 0 */
	CHECK_EQ(cpu->pending_error, 0x21 * 8 + 2);
	gate64(t, 0x21, 0x4000, 0x08, 0, 0);
	bt_test_put(t, IDT + 16 * 0x21 + 5, 1, 0x0e);				/* P = 0 */
	CHECK_EQ(bt_test_deliver(t, 0x21, false, 0, BT_DELIVER_HW), EXC_NP);
	CHECK_EQ(cpu->pending_error, 0x21 * 8 + 2);
	gate64(t, 0x22, 0x4000, 0x18, 0, 0);
	CHECK_EQ(bt_test_deliver(t, 0x22, false, 0, BT_DELIVER_HW), EXC_GP);
	CHECK_EQ(cpu->pending_error, 0x18);
	/* Nothing changed. */
	CHECK_EQ(cpu->s.rip, 0x1111);
	CHECK_EQ(cpu->s.gpr[R_RSP], 0x7000);
	bt_test_free(t);
}

TEST(except_protected_mode_stack_switch)
{
	struct bt_test *t = bt_test_new();
	struct bt_cpu *cpu = t->cpu;
	struct cpu_state *s = &cpu->s;

	bt_test_prot32(t, 3);
	s->idt.base = IDT;
	s->idt.limit = 256 * 8 - 1;
	/* 32-bit interrupt gate 0x20 -> 0x18:0x4000; 32-bit TSS with ESP0 0x9000, SS0 0x10. */
	bt_test_put(t, IDT + 0x20 * 8, 8, 0x00008e0000184000ull);
	s->seg[S_TR] = (struct seg_reg){ .sel = 0x38, .base = TSS, .limit = 0x67, .attr = 0x8b };
	bt_test_put(t, TSS + 4, 4, 0x9000);
	bt_test_put(t, TSS + 8, 2, 0x10);
	s->gpr[R_RSP] = 0x7000;
	s->rip = 0x2222;
	uint64_t flags = bt_get_rflags(cpu);

	CHECK_EQ(bt_test_deliver(t, 0x20, false, 0, BT_DELIVER_HW), -1);
	CHECK_EQ(cpu->cpl, 0);
	CHECK_EQ(s->seg[S_SS].sel, 0x10);
	CHECK_EQ(s->gpr[R_RSP], 0x9000 - 20);
	CHECK_EQ(bt_test_get(t, 0x9000 - 20, 4), 0x2222);
	CHECK_EQ(bt_test_get(t, 0x9000 - 16, 4), 0x33);
	CHECK_EQ(bt_test_get(t, 0x9000 - 12, 4), flags);
	CHECK_EQ(bt_test_get(t, 0x9000 - 8, 4), 0x7000);
	CHECK_EQ(bt_test_get(t, 0x9000 - 4, 4), 0x23);
	CHECK_EQ(s->rip, 0x4000);

	/* IRET to ring 3 reloads SS:ESP from the frame. */
	struct bt_insn iret = { .opsize = 4, .len = 1 };
	CHECK_EQ(bt_test_op(t, bt_op_iret, &iret), -1);
	CHECK_EQ(cpu->cpl, 3);
	CHECK_EQ(s->gpr[R_RSP], 0x7000);
	CHECK_EQ(s->seg[S_SS].sel, 0x23);
	CHECK_EQ(s->rip, 0x2222);
	bt_test_free(t);
}

TEST(except_double_fault_rules)
{
	CHECK_EQ(bt_fault_during_delivery(BT_EXC_BENIGN, EXC_GP), EXC_GP);
	CHECK_EQ(bt_fault_during_delivery(BT_EXC_CONTRIBUTORY, EXC_GP), EXC_DF);
	CHECK_EQ(bt_fault_during_delivery(BT_EXC_CONTRIBUTORY, EXC_NP), EXC_DF);
	CHECK_EQ(bt_fault_during_delivery(BT_EXC_CONTRIBUTORY, EXC_PF), EXC_PF);
	CHECK_EQ(bt_fault_during_delivery(BT_EXC_PF, EXC_PF), EXC_DF);
	CHECK_EQ(bt_fault_during_delivery(BT_EXC_PF, EXC_SS), EXC_DF);
	CHECK_EQ(bt_fault_during_delivery(BT_EXC_PF, EXC_UD), EXC_UD);
	CHECK_EQ(bt_fault_during_delivery(BT_EXC_DF, EXC_GP), BT_VEC_SHUTDOWN);
	CHECK_EQ(bt_exc_class(EXC_DE), BT_EXC_CONTRIBUTORY);
	CHECK_EQ(bt_exc_class(EXC_BP), BT_EXC_BENIGN);
}
