/* bt engine: the dirty-page log (engine.h dirty_log_*), kept out of the MMU and the
 * interpreter except for the hook calls.
 *
 * Guest stores reach RAM either through a fast-path write entry of a vCPU's soft TLB or
 * through bt_translate (every slow-path write translates, hitting or filling an entry). So
 * while logging, a page is marked when an entry that allows writing it is filled, and a read
 * miss fills no write permission (the first store comes back to bt_translate to mark). To
 * start a round, the log is swapped with every vCPU parked and bvm->tlb_gen bumped: each vCPU
 * drops its whole TLB before its next block, so no write entry filled before the swap (whose
 * mark the swap took) survives into the new round. Parking costs a kick and a wait for each
 * vCPU to finish its current block, once per round.
 *
 * The engine's other stores into guest RAM, page-walk A/D bits and kvmclock areas, are marked
 * where they happen (bt_dirty_host, mem_mark_dirty).
 */
#include "engine/bt/direct/direct.h"
#include "engine/bt/sys/btsys.h"
#include "vm.h"

void bt_dirty_fill(struct bt_cpu *cpu, struct bt_tlb_entry *e, enum bt_access acc)
{
	struct guest_mem *m = &cpu->vm->mem;

	if (!dirty_bitmap_logging(m->dirty))
		return;
	if (acc == BT_WRITE)
		mem_mark_dirty(m, e->gpa_page, BT_PAGE);
	else
		e->tag_write = TLB_INVALID;
}

void bt_dirty_host(struct bt_cpu *cpu, const void *hva)
{
	struct guest_mem *m = &cpu->vm->mem;
	uint64_t off = (uint64_t)((const uint8_t *)hva - m->base);

	dirty_bitmap_mark(m->dirty, off >> DIRTY_PAGE_SHIFT, 1);
}

/* fn(b, out) with no vCPU running guest code, then a TLB flush on every vCPU. */
static int with_vcpus_parked(struct vm *vm, void (*fn)(struct dirty_bitmap *b, uint64_t *out),
			     uint64_t *out)
{
	struct bt_vm *bvm = vm->engine_priv;
	bool was_paused = vm_is_paused(vm);

	if (!was_paused && vm_pause(vm) < 0)
		return -1;
	fn(vm->mem.dirty, out);
	atomic_fetch_add_explicit(&bvm->tlb_gen, 1, memory_order_release);
	/* Containers of direct execution hold writable pages the log would not see written. */
	bt_direct_page_protected(bvm, UINT64_MAX);
	if (!was_paused)
		vm_resume(vm);
	return 0;
}

static void start(struct dirty_bitmap *b, uint64_t *out)
{
	dirty_bitmap_start(b);
}

static void fetch(struct dirty_bitmap *b, uint64_t *out)
{
	dirty_bitmap_fetch(b, out);
}

int bt_dirty_log_start(struct vm *vm)
{
	return with_vcpus_parked(vm, start, NULL);
}

int bt_dirty_log_fetch(struct vm *vm, uint64_t *bitmap)
{
	return with_vcpus_parked(vm, fetch, bitmap);
}

/* Write entries filled from now on are not marked; those filled meanwhile stay valid. */
void bt_dirty_log_stop(struct vm *vm)
{
	dirty_bitmap_stop(vm->mem.dirty);
}
