/* bt engine MMU: page walks in the three paging forms, A/D bits, #PF error codes, soft-TLB
 * invalidation, shadow page tables (address-space switches, write protection of page tables,
 * global entries), MMIO and page-straddling slow paths, segmentation limits. */
#include "bt_fixture.h"
#include "test.h"

#define PML4	0x10000ull
#define PDPT	0x11000ull
#define PD	0x12000ull
#define PT	0x13000ull
#define PTE_A	0x20ull
#define PTE_D	0x40ull
#define NX	(1ull << 63)

/* 4-level tables: lin 0x20000 + k * 4K per PT slot below, 2M page at lin 0x200000 -> gpa
 * 0x400000, 1G page at lin 0x40000000 -> gpa 0, PD[2] points at a "table" in the MMIO hole. */
static struct bt_test *paged64(unsigned cpl)
{
	struct bt_test *t = bt_test_new();

	bt_test_put(t, PML4, 8, PDPT | 7);
	bt_test_put(t, PDPT, 8, PD | 7);
	bt_test_put(t, PDPT + 8, 8, 0 | 0x87);
	bt_test_put(t, PD, 8, PT | 7);
	bt_test_put(t, PD + 8, 8, 0x400000 | 0x87);
	bt_test_put(t, PD + 16, 8, BT_TEST_MMIO | 7);
	bt_test_put(t, PT + 0x20 * 8, 8, 0x30000 | 7);		/* user RW */
	bt_test_put(t, PT + 0x21 * 8, 8, 0x31000 | 5);		/* user RO */
	bt_test_put(t, PT + 0x22 * 8, 8, 0x32000 | 3);		/* supervisor RW */
	bt_test_put(t, PT + 0x23 * 8, 8, 0x33000 | 7 | NX);	/* no-execute */
	bt_test_put(t, PT + 0x25 * 8, 8, 0x35000 | 7 | 1ull << 51);	/* reserved bit */
	bt_test_put(t, PT + 0x26 * 8, 8, BT_TEST_MMIO | 7);
	bt_test_put(t, PT + 0x27 * 8, 8, (BT_TEST_MMIO + 0x1000) | 7);
	bt_test_put(t, PT + 0x28 * 8, 8, 0x38000 | 7 | 0x100);	/* global */
	bt_test_long64(t, cpl, PML4);
	return t;
}

TEST(mmu_walk4_sets_accessed_then_dirty)
{
	struct bt_test *t = paged64(0);
	struct bt_cpu *cpu = t->cpu;
	uint64_t v = 0;
	int vec;

	bt_test_put(t, 0x30010, 8, 0x1122334455667788ull);
	vec = bt_test_read(t, 0x20010, 8, BT_TLB_SUP, &v);
	CHECK_EQ(vec, -1);
	CHECK_EQ(v, 0x1122334455667788ull);
	CHECK(bt_test_get(t, PML4, 8) & PTE_A);
	CHECK(bt_test_get(t, PDPT, 8) & PTE_A);
	CHECK(bt_test_get(t, PD, 8) & PTE_A);
	CHECK(bt_test_get(t, PT + 0x20 * 8, 8) & PTE_A);
	CHECK(!(bt_test_get(t, PT + 0x20 * 8, 8) & PTE_D));
	CHECK_EQ(cpu->stats.page_walks, 1);

	/* A hit needs no walk; the first write walks again to set D. */
	vec = bt_test_read(t, 0x20018, 4, BT_TLB_SUP, &v);
	CHECK_EQ(cpu->stats.page_walks, 1);
	vec = bt_test_write(t, 0x20010, 2, 0xbeef, BT_TLB_SUP);
	CHECK_EQ(vec, -1);
	CHECK(bt_test_get(t, PT + 0x20 * 8, 8) & PTE_D);
	CHECK_EQ(bt_test_get(t, 0x30010, 2), 0xbeef);
	CHECK_EQ(cpu->stats.page_walks, 2);
	bt_test_free(t);
}

TEST(mmu_shadow_serves_conflict_misses)
{
	struct bt_test *t = paged64(0);
	struct bt_cpu *cpu = t->cpu;
	uint64_t v = 0;

	/* 0x20000 and 0x40020000 (the 1 GiB page: gpa 0x20000) share a first-level TLB slot
	 * for any TLB of up to 2^18 entries. */
	bt_test_put(t, 0x30000, 4, 0x1234);
	bt_test_put(t, 0x20000, 4, 0x5678);
	CHECK_EQ(bt_test_read(t, 0x20000, 4, BT_TLB_SUP, &v), -1);
	CHECK_EQ(bt_test_read(t, 0x40020000, 4, BT_TLB_SUP, &v), -1);
	CHECK_EQ(v, 0x5678);
	CHECK_EQ(bt_test_read(t, 0x20000, 4, BT_TLB_SUP, &v), -1);
	CHECK_EQ(v, 0x1234);
	CHECK_EQ(cpu->stats.page_walks, 2);
	CHECK_EQ(cpu->stats.shadow_hits, 1);

	/* A write to a clean page is not served by the shadow: it walks to set D. */
	CHECK_EQ(bt_test_write(t, 0x40020000, 4, 1, BT_TLB_SUP), -1);
	CHECK_EQ(cpu->stats.page_walks, 3);
	CHECK(bt_test_get(t, PDPT + 8, 8) & PTE_D);

	/* The shadow obeys the user/supervisor split. */
	CHECK_EQ(bt_test_read(t, 0x22000, 4, BT_TLB_SUP, &v), -1);
	CHECK_EQ(bt_test_read(t, 0x122000, 4, BT_TLB_SUP, &v), EXC_PF);
	CHECK_EQ(bt_test_read(t, 0x22000, 4, BT_TLB_USER, &v), EXC_PF);
	CHECK_EQ(cpu->pending_error, 5);
	bt_test_free(t);
}

TEST(mmu_large_pages_2m_1g)
{
	struct bt_test *t = paged64(0);
	uint64_t v = 0;
	int vec;

	bt_test_put(t, 0x401234, 4, 0xcafe0001);
	vec = bt_test_read(t, 0x201234, 4, BT_TLB_SUP, &v);
	CHECK_EQ(vec, -1);
	CHECK_EQ(v, 0xcafe0001);
	CHECK(bt_test_get(t, PD + 8, 8) & PTE_A);

	bt_test_put(t, 0x30020, 4, 0xcafe0002);
	vec = bt_test_read(t, 0x40030020, 4, BT_TLB_SUP, &v);
	CHECK_EQ(vec, -1);
	CHECK_EQ(v, 0xcafe0002);
	vec = bt_test_write(t, 0x40030020, 4, 7, BT_TLB_SUP);
	CHECK(bt_test_get(t, PDPT + 8, 8) & PTE_D);
	bt_test_free(t);
}

/* Vector and error code of an access, CR2 in *cr2. */
static int fault_of(struct bt_test *t, uint64_t lin, enum bt_access acc, int tlb, uint32_t *err)
{
	t->cpu->s.cr2 = 0;
	t->cpu->pending_error = 0;
	int vec = bt_test_translate(t, lin, acc, tlb);
	*err = t->cpu->pending_error;
	return vec;
}

TEST(mmu_page_fault_error_codes)
{
	struct bt_test *t = paged64(0);
	struct bt_cpu *cpu = t->cpu;
	uint32_t err;

	CHECK_EQ(fault_of(t, 0x24008, BT_READ, BT_TLB_SUP, &err), EXC_PF);
	CHECK_EQ(err, 0);
	CHECK_EQ(cpu->s.cr2, 0x24008);
	CHECK_EQ(fault_of(t, 0x24000, BT_WRITE, BT_TLB_USER, &err), EXC_PF);
	CHECK_EQ(err, 6);
	CHECK_EQ(fault_of(t, 0x21000, BT_WRITE, BT_TLB_USER, &err), EXC_PF);
	CHECK_EQ(err, 7);
	CHECK_EQ(fault_of(t, 0x22004, BT_READ, BT_TLB_USER, &err), EXC_PF);
	CHECK_EQ(err, 5);
	CHECK_EQ(cpu->s.cr2, 0x22004);

	/* WP=0: the supervisor writes read-only pages; WP=1: it faults. */
	CHECK_EQ(fault_of(t, 0x21000, BT_WRITE, BT_TLB_SUP, &err), -1);
	cpu->s.cr0 |= CR0_WP;
	bt_tlb_flush(cpu, true);
	CHECK_EQ(fault_of(t, 0x21000, BT_WRITE, BT_TLB_SUP, &err), EXC_PF);
	CHECK_EQ(err, 3);

	/* NX: a reserved bit while EFER.NXE=0, an instruction-fetch fault with it. */
	CHECK_EQ(fault_of(t, 0x23000, BT_READ, BT_TLB_SUP, &err), EXC_PF);
	CHECK_EQ(err, 9);
	cpu->s.efer |= EFER_NXE;
	CHECK_EQ(fault_of(t, 0x23000, BT_READ, BT_TLB_SUP, &err), -1);
	CHECK_EQ(fault_of(t, 0x23000, BT_EXEC, BT_TLB_SUP, &err), EXC_PF);
	CHECK_EQ(err, 0x11);
	CHECK_EQ(fault_of(t, 0x23000, BT_EXEC, BT_TLB_USER, &err), EXC_PF);
	CHECK_EQ(err, 0x15);

	/* Reserved physical-address bit; paging structure outside RAM. */
	CHECK_EQ(fault_of(t, 0x25000, BT_READ, BT_TLB_SUP, &err), EXC_PF);
	CHECK_EQ(err, 9);
	CHECK_EQ(fault_of(t, 0x400000, BT_WRITE, BT_TLB_SUP, &err), EXC_PF);
	CHECK_EQ(err, 0xb);
	bt_test_free(t);
}

static void mov_cr3(struct bt_test *t, uint64_t val)
{
	struct bt_insn i = { .reg = 3, .rm = R_RAX, .opsize = 8 };
	t->cpu->s.gpr[R_RAX] = val;
	bt_op_mov_to_cr(t->cpu, &i);
}

static void invlpg(struct bt_test *t, uint64_t lin)
{
	struct bt_insn i = { .flags = BI_MEM, .base = BT_NOREG, .index = BT_NOREG,
			     .disp = (int32_t)lin, .addrsize = 8, .seg = S_DS };
	bt_op_invlpg(t->cpu, &i);
}

TEST(mmu_tlb_cr3_write_and_invlpg)
{
	struct bt_test *t = paged64(0);
	struct bt_cpu *cpu = t->cpu;

	bt_test_put(t, 0x30000, 4, 0xaaaa);
	bt_test_put(t, 0x31000, 4, 0xbbbb);
	bt_test_put(t, 0x38000, 4, 0xcccc);
	CHECK_EQ(bt_read_lin(cpu, 0x20000, 4, BT_TLB_SUP), 0xaaaa);

	/* The guest remaps without flushing: the stale translation stays until CR3 is written. */
	bt_test_put(t, PT + 0x20 * 8, 8, 0x31000 | 7);
	CHECK_EQ(bt_read_lin(cpu, 0x20000, 4, BT_TLB_SUP), 0xaaaa);
	mov_cr3(t, PML4);
	CHECK_EQ(bt_read_lin(cpu, 0x20000, 4, BT_TLB_SUP), 0xbbbb);

	/* Global pages (CR4.PGE) survive a CR3 write; INVLPG drops them. */
	cpu->s.cr4 |= CR4_PGE;
	CHECK_EQ(bt_read_lin(cpu, 0x28000, 4, BT_TLB_SUP), 0xcccc);
	bt_test_put(t, PT + 0x28 * 8, 8, 0x31000 | 7 | 0x100);
	mov_cr3(t, PML4);
	CHECK_EQ(bt_read_lin(cpu, 0x28000, 4, BT_TLB_SUP), 0xcccc);
	invlpg(t, 0x28000);
	CHECK_EQ(bt_read_lin(cpu, 0x28000, 4, BT_TLB_SUP), 0xbbbb);

	/* INVLPG anywhere in a large page drops all of its 4 KiB entries. */
	bt_test_put(t, 0x401000, 4, 0x1111);
	bt_test_put(t, 0x601000, 4, 0x2222);
	CHECK_EQ(bt_read_lin(cpu, 0x201000, 4, BT_TLB_SUP), 0x1111);
	bt_test_put(t, PD + 8, 8, 0x600000 | 0x87);
	invlpg(t, 0x3ff000);
	CHECK_EQ(bt_read_lin(cpu, 0x201000, 4, BT_TLB_SUP), 0x2222);
	bt_test_free(t);
}

/* A second address space: PML4 0x14000 -> PDPT 0x15000 -> PD 0x16000 -> PT 0x17000, with
 * lin 0x20000 -> 0x31000 and global lin 0x28000 -> 0x31000, and the same 1 GiB page at lin
 * 0x40000000 (the page tables of both are visible at 0x40000000 + gpa). */
#define PML4B	0x14000ull
static void second_space(struct bt_test *t)
{
	bt_test_put(t, PML4B, 8, 0x15000 | 7);
	bt_test_put(t, 0x15000, 8, 0x16000 | 7);
	bt_test_put(t, 0x15008, 8, 0 | 0x87);
	bt_test_put(t, 0x16000, 8, 0x17000 | 7);
	bt_test_put(t, 0x17000 + 0x20 * 8, 8, 0x31000 | 7);
	bt_test_put(t, 0x17000 + 0x28 * 8, 8, 0x31000 | 7 | 0x100);
	bt_test_put(t, 0x30000, 4, 0xaaaa);
	bt_test_put(t, 0x31000, 4, 0xbbbb);
	bt_test_put(t, 0x32000, 4, 0xdddd);
	bt_test_put(t, 0x38000, 4, 0xcccc);
}

TEST(mmu_shadow_survives_address_space_switches)
{
	struct bt_test *t = paged64(0);
	struct bt_cpu *cpu = t->cpu;
	uint64_t walks;

	second_space(t);
	CHECK_EQ(bt_read_lin(cpu, 0x20000, 4, BT_TLB_SUP), 0xaaaa);
	CHECK_EQ(bt_read_lin(cpu, 0x201000, 4, BT_TLB_SUP), 0);
	mov_cr3(t, PML4B);
	CHECK_EQ(bt_read_lin(cpu, 0x20000, 4, BT_TLB_SUP), 0xbbbb);
	CHECK_EQ(cpu->stats.shadow_roots_created, 2);

	/* Back and forth: the soft TLB is flushed each time, the shadows are found again. */
	walks = cpu->stats.page_walks;
	mov_cr3(t, PML4);
	CHECK_EQ(bt_read_lin(cpu, 0x20000, 4, BT_TLB_SUP), 0xaaaa);
	mov_cr3(t, PML4B);
	CHECK_EQ(bt_read_lin(cpu, 0x20000, 4, BT_TLB_SUP), 0xbbbb);
	CHECK_EQ(cpu->stats.page_walks, walks);
	CHECK_EQ(cpu->stats.shadow_hits, 2);
	CHECK_EQ(cpu->stats.shadow_roots_created, 2);

	/* The guest, running on B, remaps lin 0x20000 of A through B's view of A's page table:
	 * a write-protect trap, and A sees the new mapping when it runs again. */
	CHECK_EQ(bt_test_write(t, 0x40000000 + PT + 0x20 * 8, 8, 0x32000 | 7, BT_TLB_SUP), -1);
	CHECK_EQ(cpu->stats.pt_write_traps, 1);
	mov_cr3(t, PML4);
	walks = cpu->stats.page_walks;
	CHECK_EQ(bt_read_lin(cpu, 0x20000, 4, BT_TLB_SUP), 0xdddd);
	CHECK_EQ(cpu->stats.page_walks, walks + 1);
	CHECK_EQ(cpu->stats.shadow_stale, 1);
	/* Only what was read through that page table is gone: the 2 MiB page is still shadowed. */
	CHECK_EQ(bt_read_lin(cpu, 0x201000, 4, BT_TLB_SUP), 0);
	CHECK_EQ(cpu->stats.page_walks, walks + 1);

	/* Sixteen more address spaces evict the least recently used. */
	for (uint64_t k = 0; k < BT_SHADOW_ROOTS; k++) {
		mov_cr3(t, PML4 | (k + 1) << 3);	/* PWT/PCD bits: another CR3, same tables */
		CHECK_EQ(bt_read_lin(cpu, 0x20000, 4, BT_TLB_SUP), 0xdddd);
	}
	CHECK_EQ(cpu->stats.shadow_roots_evicted, 2);
	bt_test_free(t);
}

TEST(mmu_shadow_write_protects_page_tables)
{
	struct bt_test *t = paged64(0);
	struct bt_cpu *cpu = t->cpu;
	const struct bt_tlb_entry *e = &cpu->tlb[BT_TLB_SUP][bt_tlb_index(0x40013000)];
	void *p = NULL;

	/* A fast write entry to the page-table page, made before anything walked through it... */
	CHECK_EQ(bt_test_write(t, 0x40013800, 8, 0, BT_TLB_SUP), -1);
	CHECK_EQ(e->tag_write, 0x40013000);
	CHECK(!bt_shadow_watched(&t->bvm, PT));
	/* ...is made slow by the first walk that reads it. */
	CHECK_EQ(bt_read_lin(cpu, 0x20000, 4, BT_TLB_SUP), 0);
	CHECK(bt_shadow_watched(&t->bvm, PT));
	CHECK(!bt_shadow_watched(&t->bvm, 0x30000));
	CHECK_EQ(e->tag_write, 0x40013000 | TLB_SLOW);
	CHECK_EQ(cpu->stats.pt_watched, 4);
	/* No host pointer for a locked read-modify-write of a page table either. */
	CHECK_EQ(bt_test_rmw_ptr(t, S_DS, 0x40013100, 8, &p), -1);
	CHECK(p == NULL);

	/* Written over and over with no walk reading it, it is no page table any more. */
	for (unsigned k = 0; k < 2048; k++)
		CHECK_EQ(bt_test_write(t, 0x40013800, 8, k, BT_TLB_SUP), -1);
	CHECK_EQ(cpu->stats.pt_released, 1);
	CHECK(!bt_shadow_watched(&t->bvm, PT));
	CHECK_EQ(bt_test_write(t, 0x40013800, 8, 1, BT_TLB_SUP), -1);
	CHECK_EQ(e->tag_write, 0x40013000);
	/* What was read through it is forgotten; the next walk protects it again. */
	bt_test_put(t, 0x30000, 4, 0x600d);
	mov_cr3(t, PML4);
	uint64_t walks = cpu->stats.page_walks;
	CHECK_EQ(bt_read_lin(cpu, 0x20000, 4, BT_TLB_SUP), 0x600d);
	CHECK_EQ(cpu->stats.page_walks, walks + 1);
	CHECK(bt_shadow_watched(&t->bvm, PT));
	bt_test_free(t);
}

TEST(mmu_shadow_global_entries)
{
	struct bt_test *t = paged64(0);
	struct bt_cpu *cpu = t->cpu;

	second_space(t);
	cpu->s.cr4 |= CR4_PGE;
	bt_tlb_flush(cpu, true);
	CHECK_EQ(bt_read_lin(cpu, 0x28000, 4, BT_TLB_SUP), 0xcccc);
	/* B maps 0x28000 elsewhere, but A's global translation may stay cached (as in a TLB),
	 * even after the soft TLB lost it (0x40028000 takes its slot). */
	mov_cr3(t, PML4B);
	CHECK_EQ(bt_read_lin(cpu, 0x28000, 4, BT_TLB_SUP), 0xcccc);
	CHECK_EQ(bt_read_lin(cpu, 0x40028000, 4, BT_TLB_SUP), 0);
	uint64_t walks = cpu->stats.page_walks;
	CHECK_EQ(bt_read_lin(cpu, 0x28000, 4, BT_TLB_SUP), 0xcccc);
	CHECK_EQ(cpu->stats.page_walks, walks);
	/* Toggling CR4.PGE flushes global translations: B's own mapping now. */
	cpu->s.cr4 &= ~CR4_PGE;
	bt_tlb_flush(cpu, true);
	cpu->s.cr4 |= CR4_PGE;
	bt_tlb_flush(cpu, true);
	CHECK_EQ(bt_read_lin(cpu, 0x28000, 4, BT_TLB_SUP), 0xbbbb);
	/* INVLPG drops a global translation in the shadow too. */
	mov_cr3(t, PML4);
	CHECK_EQ(bt_read_lin(cpu, 0x28000, 4, BT_TLB_SUP), 0xbbbb);
	invlpg(t, 0x28000);
	CHECK_EQ(bt_read_lin(cpu, 0x28000, 4, BT_TLB_SUP), 0xcccc);
	bt_test_free(t);
}

TEST(mmu_mmio_and_straddling_accesses)
{
	struct bt_test *t = paged64(0);
	struct bt_cpu *cpu = t->cpu;
	uint64_t v = 0;
	int vec;

	vec = bt_test_read(t, 0x26010, 4, BT_TLB_SUP, &v);
	CHECK_EQ(vec, -1);
	CHECK_EQ(v, 0x13121110);
	CHECK_EQ(t->mmio_off, 0x10);
	CHECK_EQ(t->mmio_size, 4);
	/* MMIO pages stay on the slow path. */
	CHECK(cpu->tlb[BT_TLB_SUP][bt_tlb_index(0x26000)].tag_read & TLB_SLOW);

	/* Across the two MMIO pages: split into parts, bytes in order. */
	vec = bt_test_read(t, 0x26ffc, 8, BT_TLB_SUP, &v);
	CHECK_EQ(v, 0x03020100fffefdfcull);
	vec = bt_test_write(t, 0x26ffe, 4, 0xddccbbaa, BT_TLB_SUP);
	CHECK_EQ(t->mmio_off, 0x1000);
	CHECK_EQ(t->mmio_val, 0xddcc);

	/* RAM page then a not-present page: the fault comes first, nothing is written. */
	bt_test_put(t, 0x33ffc, 4, 0x12345678);
	cpu->s.efer |= EFER_NXE;
	vec = bt_test_write(t, 0x23ffc, 8, ~0ull, BT_TLB_SUP);
	CHECK_EQ(vec, EXC_PF);
	CHECK_EQ(cpu->s.cr2, 0x24000);
	CHECK_EQ(bt_test_get(t, 0x33ffc, 4), 0x12345678);

	/* Straddling RAM pages. */
	bt_test_put(t, 0x30ffe, 2, 0x2211);
	bt_test_put(t, 0x31000, 2, 0x4433);
	vec = bt_test_read(t, 0x20ffe, 4, BT_TLB_SUP, &v);
	CHECK_EQ(v, 0x44332211);
	bt_test_free(t);
}

TEST(mmu_code_page_writes_invalidate)
{
	struct bt_test *t = paged64(0);
	struct bt_cpu *cpu = t->cpu;

	uint64_t v;

	atomic_store(&t->bvm.page_gen[0x30], 1);
	CHECK_EQ(bt_test_read(t, 0x20000, 4, BT_TLB_SUP, &v), -1);
	CHECK_EQ(bt_test_write(t, 0x20000, 4, 0x90909090, BT_TLB_SUP), -1);
	CHECK(cpu->tlb[BT_TLB_SUP][bt_tlb_index(0x20000)].tag_write & TLB_SLOW);
	CHECK_EQ(atomic_load(&t->bvm.page_gen[0x30]), 2);
	CHECK(cpu->end_block);
	CHECK_EQ(bt_test_get(t, 0x30000, 4), 0x90909090);
	/* No host pointer for a locked RMW on it either. */
	void *p = (void *)1;
	CHECK_EQ(bt_test_rmw_ptr(t, S_DS, 0x20000, 4, &p), -1);
	CHECK(p == NULL);
	CHECK_EQ(bt_test_rmw_ptr(t, S_DS, 0x22000, 4, &p), -1);
	CHECK(p != NULL);
	bt_test_free(t);
}

TEST(mmu_walk_32bit_pse_and_pae)
{
	struct bt_test *t = bt_test_new();
	struct bt_cpu *cpu = t->cpu;
	uint64_t v = 0;
	uint32_t err;

	bt_test_prot32(t, 0);
	bt_test_put(t, 0x30000, 4, 0x600df00d);
	bt_test_put(t, 0x400010, 4, 0x4444);
	bt_test_put(t, 0x50000, 4, 0x51000 | 7);
	bt_test_put(t, 0x50004, 4, 0x400000 | 0x87);
	bt_test_put(t, 0x50008, 4, 0x800000 | 0x87 | 1u << 13);
	bt_test_put(t, 0x51000 + 5 * 4, 4, 0x30000 | 7);
	cpu->s.cr3 = 0x50000;
	cpu->s.cr4 |= CR4_PSE;
	cpu->s.cr0 |= CR0_PG;
	bt_tlb_flush(cpu, true);
	CHECK_EQ(bt_test_read(t, 0x5000, 4, BT_TLB_SUP, &v), -1);
	CHECK_EQ(v, 0x600df00d);
	CHECK(bt_test_get(t, 0x50000, 4) & PTE_A);
	CHECK_EQ(bt_test_read(t, 0x400010, 4, BT_TLB_SUP, &v), -1);
	CHECK_EQ(v, 0x4444);
	CHECK_EQ(fault_of(t, 0x800000, BT_READ, BT_TLB_SUP, &err), EXC_PF);
	CHECK_EQ(err, 9);

	/* PAE: 4 PDPTEs at CR3, 2 MiB pages. */
	bt_test_put(t, 0x60000, 8, 0x61000 | 1);
	bt_test_put(t, 0x61000, 8, 0x62000 | 7);
	bt_test_put(t, 0x61008, 8, 0x400000 | 0x87);
	bt_test_put(t, 0x62000 + 5 * 8, 8, 0x30000 | 7);
	cpu->s.cr4 |= CR4_PAE;
	cpu->s.cr3 = 0x60000;
	bt_tlb_flush(cpu, true);
	CHECK_EQ(bt_test_read(t, 0x5000, 4, BT_TLB_SUP, &v), -1);
	CHECK_EQ(v, 0x600df00d);
	CHECK_EQ(bt_test_read(t, 0x200010, 4, BT_TLB_SUP, &v), -1);
	CHECK_EQ(v, 0x4444);
	CHECK_EQ(fault_of(t, 0x40000000, BT_READ, BT_TLB_SUP, &err), EXC_PF);
	CHECK_EQ(err, 0);
	bt_test_free(t);
}

static int linear_fault(struct bt_test *t, int seg, uint64_t off, unsigned size, enum bt_access acc,
			uint64_t *lin)
{
	return bt_test_linear(t, seg, off, size, acc, lin);
}

TEST(mmu_linear_segment_checks)
{
	struct bt_test *t = bt_test_new();
	struct cpu_state *s = &t->cpu->s;
	uint64_t lin = 0;

	/* Real mode: base + offset, 64 KiB limit, #SS for SS. */
	s->seg[S_DS].base = 0x1000;
	CHECK_EQ(linear_fault(t, S_DS, 0x10, 2, BT_READ, &lin), -1);
	CHECK_EQ(lin, 0x1010);
	CHECK_EQ(linear_fault(t, S_DS, 0xffff, 2, BT_READ, &lin), EXC_GP);
	CHECK_EQ(linear_fault(t, S_SS, 0xffff, 2, BT_WRITE, &lin), EXC_SS);

	/* Protected mode: expand-down, read-only, execute-only, null. */
	bt_test_prot32(t, 0);
	s->seg[S_ES].attr = SEG_P | SEG_S | 0x7 | SEG_DB;	/* expand-down RW */
	s->seg[S_ES].limit = 0xfff;
	CHECK_EQ(linear_fault(t, S_ES, 0x800, 4, BT_READ, &lin), EXC_GP);
	CHECK_EQ(linear_fault(t, S_ES, 0x1000, 4, BT_WRITE, &lin), -1);
	s->seg[S_FS].attr = SEG_P | SEG_S | 0x1;		/* read-only */
	CHECK_EQ(linear_fault(t, S_FS, 0, 4, BT_READ, &lin), -1);
	CHECK_EQ(linear_fault(t, S_FS, 0, 4, BT_WRITE, &lin), EXC_GP);
	s->seg[S_CS].attr = SEG_P | SEG_S | 0x9 | SEG_DB;	/* execute-only */
	CHECK_EQ(linear_fault(t, S_CS, 0, 4, BT_READ, &lin), EXC_GP);
	CHECK_EQ(linear_fault(t, S_CS, 0, 4, BT_EXEC, &lin), -1);
	s->seg[S_GS].attr = SEG_UNUSABLE;
	CHECK_EQ(linear_fault(t, S_GS, 0, 1, BT_READ, &lin), EXC_GP);
	s->seg[S_SS].limit = 0xffff;
	CHECK_EQ(linear_fault(t, S_SS, 0xfffe, 4, BT_READ, &lin), EXC_SS);

	/* 64-bit mode: only FS/GS bases, canonical addresses. */
	bt_test_long64(t, 0, PML4);
	s->seg[S_DS].base = 0x5000;
	s->seg[S_FS].base = 0x7000;
	CHECK_EQ(linear_fault(t, S_DS, 0x10, 8, BT_READ, &lin), -1);
	CHECK_EQ(lin, 0x10);
	CHECK_EQ(linear_fault(t, S_FS, 0x10, 8, BT_READ, &lin), -1);
	CHECK_EQ(lin, 0x7010);
	CHECK_EQ(linear_fault(t, S_DS, 0x0000800000000000ull, 1, BT_READ, &lin), EXC_GP);
	CHECK_EQ(linear_fault(t, S_SS, 0x00007ffffffffffcull, 8, BT_WRITE, &lin), EXC_SS);
	bt_test_free(t);
}
