/* The bt x87 on the host unit: exception flags, unmasked exceptions and #MF, precision control,
 * stores that an unmasked exception suppresses, FCOMI flags, #UD for undefined encodings. */
#include <string.h>

#include "bt_fixture.h"
#include "engine/bt/cpu/ops.h"
#include "test.h"

enum { IE = 1, ZE = 4, SF = 0x40, ES = 0x80, B = 0x8000 };

static uint16_t fx16(struct bt_test *t, unsigned off)
{
	uint16_t v;
	memcpy(&v, t->cpu->s.fxsave + off, 2);
	return v;
}

static void set_fcw(struct bt_test *t, uint16_t cw) { memcpy(t->cpu->s.fxsave, &cw, 2); }

/* One x87 register form: opcode D8 + op, ModRM C0 + m. */
static int reg_op(struct bt_test *t, unsigned op, unsigned m)
{
	static const bt_handler h[8] = { bt_h_x87_d8, bt_h_x87_d9, bt_h_x87_da, bt_h_x87_db,
					 bt_h_x87_dc, bt_h_x87_dd, bt_h_x87_de, bt_h_x87_df };
	struct bt_insn i = { .len = 2, .opsize = 4, .addrsize = 2, .reg = (uint8_t)(m >> 3),
			     .rm = (uint8_t)(m & 7), .base = BT_NOREG, .index = BT_NOREG };

	return bt_test_op(t, h[op], &i);
}

#define FLD1	1, 0x28
#define FLDZ	1, 0x2e
#define FLDL2T	1, 0x29

TEST(x87_unmasked_exception_and_mf)
{
	struct bt_test *t = bt_test_new();
	struct bt_cpu *cpu = t->cpu;

	cpu->s.cr0 |= CR0_NE;
	set_fcw(t, 0x37f & ~ZE);			/* zero-divide unmasked */
	CHECK_EQ(reg_op(t, FLD1), -1);
	CHECK_EQ(reg_op(t, FLDZ), -1);
	CHECK_EQ(reg_op(t, 6, 0x39), -1);		/* fdivp st1, st0: 1 / 0 */
	/* no result and no pop; ZE with its ES/B summary */
	CHECK_EQ(fx16(t, 2), 6 << 11 | B | ES | ZE);
	CHECK_EQ(cpu->s.fxsave[4], 0xc0);
	CHECK_EQ(fx16(t, 32 + 8), 0);			/* ST0 still +0 */
	CHECK_EQ(fx16(t, 48 + 8), 0x3fff);		/* ST1 still 1.0 */
	/* the next waiting instruction takes #MF; FNSTSW does not wait */
	CHECK_EQ(reg_op(t, FLD1), EXC_MF);
	CHECK_EQ(cpu->s.fxsave[4], 0xc0);
	CHECK_EQ(reg_op(t, 7, 0x20), -1);		/* fnstsw ax */
	CHECK_EQ(cpu->s.gpr[R_RAX] & 0xffff, 6 << 11 | B | ES | ZE);
	/* without CR0.NE the pending exception is ignored (IGNNE#) */
	cpu->s.cr0 &= ~CR0_NE;
	CHECK_EQ(reg_op(t, FLD1), -1);
	CHECK_EQ(cpu->s.fxsave[4], 0xe0);
	cpu->s.cr0 |= CR0_NE;
	CHECK_EQ(reg_op(t, 3, 0x22), -1);		/* fnclex */
	CHECK_EQ(fx16(t, 2), 5 << 11);
	CHECK_EQ(reg_op(t, FLD1), -1);
	bt_test_free(t);
}

TEST(x87_masked_results_and_precision)
{
	struct bt_test *t = bt_test_new();
	uint64_t man;

	set_fcw(t, 0x37f);
	CHECK_EQ(reg_op(t, FLD1), -1);
	CHECK_EQ(reg_op(t, FLDZ), -1);
	CHECK_EQ(reg_op(t, 6, 0x39), -1);		/* fdivp: +inf, ZE only */
	CHECK_EQ(fx16(t, 2), 7 << 11 | ZE);
	CHECK_EQ(fx16(t, 32 + 8), 0x7fff);
	/* precision control single: log2(10) rounded to 24 bits */
	set_fcw(t, 0x07f);
	CHECK_EQ(reg_op(t, 5, 0x18), -1);		/* fstp st0 */
	CHECK_EQ(reg_op(t, FLDL2T), -1);
	CHECK_EQ(reg_op(t, FLD1), -1);
	CHECK_EQ(reg_op(t, 0, 0x09), -1);		/* fmul st0, st1 */
	memcpy(&man, t->cpu->s.fxsave + 32, 8);
	CHECK_EQ(man & 0xffffffffffull, 0);
	CHECK_EQ(man >> 40, 0xd49a78);
	/* FCOMI: 1 > 0 clears ZF, PF, CF; 0 < 1 sets CF */
	set_fcw(t, 0x37f);
	CHECK_EQ(reg_op(t, FLDZ), -1);
	CHECK_EQ(reg_op(t, 3, 0x31), -1);		/* fcomi st0, st1 */
	CHECK_EQ(bt_get_rflags(t->cpu) & (RFLAGS_ZF | RFLAGS_PF | RFLAGS_CF), RFLAGS_CF);
	/* an undefined encoding is #UD, not run on the host */
	CHECK_EQ(reg_op(t, 1, 0x18), EXC_UD);		/* d9 d8 */
	bt_test_free(t);
}

TEST(x87_store_suppressed_by_unmasked_invalid)
{
	struct bt_test *t = bt_test_new();
	struct bt_insn fstp = { .len = 4, .opsize = 4, .addrsize = 2, .flags = BI_MEM, .seg = S_DS,
				.reg = 3, .base = BT_NOREG, .index = BT_NOREG, .disp = 0x2000 };

	bt_test_put(t, 0x2000, 4, 0x12345678);
	set_fcw(t, 0x37f & ~IE);
	/* fstp dword [0x2000] of an empty stack: underflow, nothing stored, nothing popped */
	CHECK_EQ(bt_test_op(t, bt_h_x87_d9, &fstp), -1);
	CHECK_EQ(bt_test_get(t, 0x2000, 4), 0x12345678);
	CHECK_EQ(fx16(t, 2), B | ES | SF | IE);
	/* masked, the same stores the single-precision indefinite and pops */
	memset(t->cpu->s.fxsave, 0, 4);
	set_fcw(t, 0x37f);
	CHECK_EQ(bt_test_op(t, bt_h_x87_d9, &fstp), -1);
	CHECK_EQ(bt_test_get(t, 0x2000, 4), 0xffc00000);
	CHECK_EQ(fx16(t, 2), 1 << 11 | SF | IE);
	bt_test_free(t);
}
