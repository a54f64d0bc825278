/* bt engine segmentation: execution modes and segment-register loads with the protected-mode
 * and 64-bit-mode checks. */
#include "bt_fixture.h"
#include "test.h"

/* Extra GDT entries after the fixture's: 0x38 data DPL0 not present, 0x40 execute-only code,
 * 0x48 read-only data, 0x50 data DPL0 with the accessed bit clear. */
static struct bt_test *prot(unsigned cpl)
{
	struct bt_test *t = bt_test_new();

	bt_test_prot32(t, cpl);
	bt_test_put(t, 0x1038, 8, 0x00cf13000000ffffull);
	bt_test_put(t, 0x1040, 8, 0x00cf99000000ffffull);
	bt_test_put(t, 0x1048, 8, 0x00cf91000000ffffull);
	bt_test_put(t, 0x1050, 8, 0x00cf92345678ffffull);
	t->cpu->s.gdt.limit = 0x57;
	return t;
}

TEST(seg_update_mode)
{
	struct bt_test *t = bt_test_new();
	struct bt_cpu *cpu = t->cpu;

	CHECK_EQ(cpu->mode, BT_MODE_REAL);
	CHECK_EQ(cpu->cpl, 0);
	CHECK_EQ(cpu->code_size, 2);
	bt_test_prot32(t, 3);
	CHECK_EQ(cpu->mode, BT_MODE_PROT);
	CHECK_EQ(cpu->cpl, 3);
	CHECK_EQ(cpu->code_size, 4);
	CHECK_EQ(cpu->stack_size, 4);
	cpu->s.rflags |= RFLAGS_VM;
	bt_update_mode(cpu);
	CHECK_EQ(cpu->mode, BT_MODE_V86);
	CHECK_EQ(cpu->code_size, 2);
	cpu->s.rflags &= ~RFLAGS_VM;
	bt_test_long64(t, 0, 0x10000);
	CHECK_EQ(cpu->mode, BT_MODE_LONG);
	CHECK_EQ(cpu->code_size, 8);
	CHECK_EQ(cpu->cpl, 0);
	/* A 32-bit CS under EFER.LMA: compatibility mode. */
	bt_desc_to_seg(&cpu->s.seg[S_CS], 0x18, bt_test_get(t, 0x1018, 8));
	bt_update_mode(cpu);
	CHECK_EQ(cpu->mode, BT_MODE_COMPAT);
	CHECK_EQ(cpu->code_size, 4);
	bt_test_free(t);
}

TEST(seg_load_data_and_accessed_bit)
{
	struct bt_test *t = prot(0);
	struct cpu_state *s = &t->cpu->s;

	CHECK_EQ(bt_test_load_seg(t, S_DS, 0x50), -1);
	CHECK_EQ(s->seg[S_DS].sel, 0x50);
	CHECK_EQ(s->seg[S_DS].base, 0x345678);
	CHECK_EQ(s->seg[S_DS].limit, 0xffffffff);
	CHECK_EQ(s->seg[S_DS].attr, 0xc093);
	CHECK(bt_test_get(t, 0x1050, 8) & (1ull << 40));

	/* A null selector makes DS unusable; a use then faults. */
	CHECK_EQ(bt_test_load_seg(t, S_DS, 0), -1);
	CHECK(s->seg[S_DS].attr & SEG_UNUSABLE);
	uint64_t lin;
	CHECK_EQ(bt_test_linear(t, S_DS, 0, 1, BT_READ, &lin), EXC_GP);

	/* Readable code is fine in a data register; execute-only code is not. */
	CHECK_EQ(bt_test_load_seg(t, S_ES, 0x18), -1);
	CHECK_EQ(bt_test_load_seg(t, S_ES, 0x40), EXC_GP);
	CHECK_EQ(t->cpu->pending_error, 0x40);
	bt_test_free(t);
}

TEST(seg_load_protection_checks)
{
	struct bt_test *t = prot(0);
	struct bt_cpu *cpu = t->cpu;

	CHECK_EQ(bt_test_load_seg(t, S_DS, 0x38), EXC_NP);
	CHECK_EQ(cpu->pending_error, 0x38);
	CHECK_EQ(bt_test_load_seg(t, S_DS, 0x58), EXC_GP);	/* past the GDT limit */
	CHECK_EQ(cpu->pending_error, 0x58);
	CHECK_EQ(bt_test_load_seg(t, S_DS, 0x0c), EXC_GP);	/* LDT selector, no LDT */
	CHECK_EQ(cpu->pending_error, 0x0c);

	/* SS: writable data at CPL = RPL = DPL only; never null outside 64-bit mode. */
	CHECK_EQ(bt_test_load_seg(t, S_SS, 0), EXC_GP);
	CHECK_EQ(bt_test_load_seg(t, S_SS, 0x48), EXC_GP);
	CHECK_EQ(bt_test_load_seg(t, S_SS, 0x18), EXC_GP);
	CHECK_EQ(bt_test_load_seg(t, S_SS, 0x23), EXC_GP);
	bt_test_put(t, 0x1038, 8, 0x00cf12000000ffffull);
	CHECK_EQ(bt_test_load_seg(t, S_SS, 0x38), EXC_SS);
	CHECK_EQ(bt_test_load_seg(t, S_SS, 0x10), -1);
	CHECK_EQ(cpu->s.seg[S_SS].sel, 0x10);
	bt_test_free(t);

	/* CPL 3 cannot load a DPL 0 data segment, nor use RPL 0 tricks to do it. */
	t = prot(3);
	cpu = t->cpu;
	CHECK_EQ(bt_test_load_seg(t, S_DS, 0x10), EXC_GP);
	CHECK_EQ(cpu->pending_error, 0x10);
	CHECK_EQ(bt_test_load_seg(t, S_DS, 0x23), -1);
	CHECK_EQ(bt_test_load_seg(t, S_DS, 0x20), -1);	/* RPL 0 <= DPL 3 */
	CHECK_EQ(bt_test_load_seg(t, S_SS, 0x20), EXC_GP);	/* RPL != CPL */
	CHECK_EQ(bt_test_load_seg(t, S_SS, 0x23), -1);
	bt_test_free(t);
}

TEST(seg_long_mode_null_ss)
{
	struct bt_test *t = bt_test_new();

	bt_test_long64(t, 0, 0x10000);
	/* 64-bit tables are not needed: segment loads only read the GDT (paging off here). */
	t->cpu->s.cr0 &= ~CR0_PG;
	CHECK_EQ(bt_test_load_seg(t, S_SS, 0), -1);
	CHECK(t->cpu->s.seg[S_SS].attr & SEG_UNUSABLE);
	CHECK_EQ(bt_test_load_seg(t, S_SS, 3), EXC_GP);		/* RPL != CPL */
	bt_test_free(t);

	t = bt_test_new();
	bt_test_long64(t, 3, 0x10000);
	t->cpu->s.cr0 &= ~CR0_PG;
	CHECK_EQ(bt_test_load_seg(t, S_SS, 3), EXC_GP);
	bt_test_free(t);
}

TEST(seg_real_mode_keeps_cached_limit)
{
	struct bt_test *t = bt_test_new();
	struct cpu_state *s = &t->cpu->s;

	s->seg[S_FS].limit = 0xffffffff;	/* "unreal" mode */
	CHECK_EQ(bt_test_load_seg(t, S_FS, 0x1234), -1);
	CHECK_EQ(s->seg[S_FS].base, 0x12340);
	CHECK_EQ(s->seg[S_FS].limit, 0xffffffff);
	uint64_t lin;
	CHECK_EQ(bt_test_linear(t, S_FS, 0x100000, 4, BT_READ, &lin), -1);
	CHECK_EQ(lin, 0x112340);
	bt_test_free(t);
}
