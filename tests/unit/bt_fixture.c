#include <stdlib.h>
#include <string.h>

#include "bt_fixture.h"

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
	struct bt_test *t = opaque;
	t->mmio_off = off;
	t->mmio_size = size;
	t->mmio_reads++;
	/* Each byte reads as the low byte of its offset: easy to check splits. */
	uint64_t v = 0;
	for (unsigned k = 0; k < size; k++)
		v |= ((off + k) & 0xff) << (8 * k);
	return v;
}

static void mmio_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct bt_test *t = opaque;
	t->mmio_off = off;
	t->mmio_size = size;
	t->mmio_val = val;
	t->mmio_writes++;
}

static const struct io_ops mmio_ops = { .read = mmio_read, .write = mmio_write };

struct bt_test *bt_test_new(void)
{
	struct bt_test *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (mem_init(&t->vm.mem, BT_TEST_RAM) < 0) {
		free(t);
		return NULL;
	}
	bus_register(&t->vm.mmio, BT_TEST_MMIO, 2 * BT_PAGE, &mmio_ops, t, "test");
	t->vm.cfg.cpus = 1;
	t->vm.nr_cpus = 1;
	t->vcpu.vm = &t->vm;
	t->bvm.vm = &t->vm;
	t->bvm.nr_cpus = 1;
	t->bvm.nr_pages = BT_TEST_RAM >> 12;
	t->bvm.page_gen = calloc(t->bvm.nr_pages, sizeof(*t->bvm.page_gen));
	bt_shadow_vm_init(&t->bvm);
	t->bv = aligned_alloc(64, (sizeof(*t->bv) + 63) & ~(size_t)63);
	memset(t->bv, 0, sizeof(*t->bv));
	t->cpu = &t->bv->cpu;
	t->cpu->vm = &t->vm;
	t->cpu->vcpu = &t->vcpu;
	t->cpu->bvm = &t->bvm;
	t->bvm.cpu[0] = t->cpu;
	cpu_state_reset(&t->cpu->s);
	bt_set_rflags(t->cpu, t->cpu->s.rflags);
	bt_update_mode(t->cpu);
	bt_tlb_init(t->cpu);
	bt_tlb_flush(t->cpu, true);
	return t;
}

void bt_test_free(struct bt_test *t)
{
	free(t->bv);
	free((void *)t->bvm.page_gen);
	bt_shadow_vm_free(&t->bvm);
	bus_destroy(&t->vm.mmio);
	mem_destroy(&t->vm.mem);
	free(t);
}

/* A store from outside the vCPU: reported as device DMA reports it, so the shadow page
 * tables see it. */
void bt_test_put(struct bt_test *t, uint64_t gpa, unsigned size, uint64_t val)
{
	mem_write(&t->vm.mem, gpa, &val, size);
	bt_shadow_page_written(&t->bvm, gpa & BT_PAGE_MASK);
	bt_shadow_page_written(&t->bvm, (gpa + size - 1) & BT_PAGE_MASK);
}

uint64_t bt_test_get(struct bt_test *t, uint64_t gpa, unsigned size)
{
	uint64_t v = 0;
	mem_read(&t->vm.mem, gpa, &v, size);
	return v;
}

static void fill_gdt(struct bt_test *t)
{
	static const uint64_t gdt[] = {
		0,
		0x00af9b000000ffffull,	/* 0x08 code64 DPL0 */
		0x00cf93000000ffffull,	/* 0x10 data DPL0 */
		0x00cf9b000000ffffull,	/* 0x18 code32 DPL0 */
		0x00cff3000000ffffull,	/* 0x20 data DPL3 */
		0x00affb000000ffffull,	/* 0x28 code64 DPL3 */
		0x00cffb000000ffffull,	/* 0x30 code32 DPL3 */
	};
	for (unsigned k = 0; k < sizeof(gdt) / 8; k++)
		bt_test_put(t, 0x1000 + 8 * k, 8, gdt[k]);
	t->cpu->s.gdt.base = 0x1000;
	t->cpu->s.gdt.limit = sizeof(gdt) - 1;
}

static void set_seg(struct seg_reg *s, uint16_t sel, uint64_t desc)
{
	bt_desc_to_seg(s, sel, desc | (1ull << 40));
}

void bt_test_prot32(struct bt_test *t, unsigned cpl)
{
	struct cpu_state *s = &t->cpu->s;

	fill_gdt(t);
	s->cr0 |= CR0_PE;
	set_seg(&s->seg[S_CS], cpl ? 0x33 : 0x18, bt_test_get(t, cpl ? 0x1030 : 0x1018, 8));
	for (int r = S_ES; r <= S_GS; r++)
		if (r != S_CS)
			set_seg(&s->seg[r], cpl ? 0x23 : 0x10, bt_test_get(t, cpl ? 0x1020 : 0x1010, 8));
	bt_update_mode(t->cpu);
	bt_tlb_flush(t->cpu, true);
}

void bt_test_long64(struct bt_test *t, unsigned cpl, uint64_t cr3)
{
	struct cpu_state *s = &t->cpu->s;

	bt_test_prot32(t, cpl);
	s->cr4 |= CR4_PAE;
	s->efer |= EFER_LME | EFER_LMA;
	s->cr3 = cr3;
	s->cr0 |= CR0_PG;
	set_seg(&s->seg[S_CS], cpl ? 0x2b : 0x08, bt_test_get(t, cpl ? 0x1028 : 0x1008, 8));
	bt_update_mode(t->cpu);
	bt_tlb_flush(t->cpu, true);
}

int bt_test_read(struct bt_test *t, uint64_t lin, unsigned size, int tlb, uint64_t *val)
{
	if (setjmp(t->cpu->fault_jmp))
		return t->cpu->pending_vector;
	*val = bt_read_lin(t->cpu, lin, size, tlb);
	return -1;
}

int bt_test_write(struct bt_test *t, uint64_t lin, unsigned size, uint64_t val, int tlb)
{
	if (setjmp(t->cpu->fault_jmp))
		return t->cpu->pending_vector;
	bt_write_lin(t->cpu, lin, size, val, tlb);
	return -1;
}

int bt_test_translate(struct bt_test *t, uint64_t lin, enum bt_access acc, int tlb)
{
	if (setjmp(t->cpu->fault_jmp))
		return t->cpu->pending_vector;
	bt_translate(t->cpu, lin, acc, tlb);
	return -1;
}

int bt_test_linear(struct bt_test *t, int seg, uint64_t off, unsigned size, enum bt_access acc,
		   uint64_t *lin)
{
	if (setjmp(t->cpu->fault_jmp))
		return t->cpu->pending_vector;
	*lin = bt_linear(t->cpu, seg, off, size, acc);
	return -1;
}

int bt_test_rmw_ptr(struct bt_test *t, int seg, uint64_t off, unsigned size, void **p)
{
	if (setjmp(t->cpu->fault_jmp))
		return t->cpu->pending_vector;
	*p = bt_rmw_ptr(t->cpu, seg, off, size);
	return -1;
}

int bt_test_load_seg(struct bt_test *t, int sreg, uint16_t sel)
{
	if (setjmp(t->cpu->fault_jmp))
		return t->cpu->pending_vector;
	bt_load_seg(t->cpu, sreg, sel);
	return -1;
}

int bt_test_deliver(struct bt_test *t, int vector, bool has_error, uint32_t error, int soft)
{
	if (setjmp(t->cpu->fault_jmp))
		return t->cpu->pending_vector;
	bt_deliver(t->cpu, vector, has_error, error, soft);
	return -1;
}

int bt_test_op(struct bt_test *t, bt_handler fn, const struct bt_insn *i)
{
	if (setjmp(t->cpu->fault_jmp))
		return t->cpu->pending_vector;
	t->cpu->next_rip = t->cpu->s.rip + i->len;
	fn(t->cpu, i);
	t->cpu->s.rip = t->cpu->next_rip;
	return -1;
}
