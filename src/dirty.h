/* Dirty-page log: which pages of guest RAM were written since the log was last fetched
 * (pre-copy migration sends them again).
 *
 * A bitmap has one bit per 4 KiB page of guest RAM in memfd order (page i is at
 * mem.base + i * 4096, whatever its guest-physical address), so both RAM regions and the
 * kvm engine's memory slots share one index. Bits are set with atomic ORs from any thread
 * (vCPUs, device back ends) and taken with an atomic exchange per word, so a page marked while
 * a fetch runs lands in this fetch or the next one, never in neither.
 *
 * Who marks what:
 *   - vmon's own writes to guest RAM (mem_write, loaders, device DMA) through mem_mark_dirty(),
 *   - the bt engine: the page of every write TLB entry it installs, plus its page-walk A/D
 *     updates and kvmclock areas (src/engine/bt/mem/dirty.c),
 *   - the kvm engine: KVM_GET_DIRTY_LOG on its memory slots (src/engine/kvm/engine.c).
 */
#ifndef VMON_DIRTY_H
#define VMON_DIRTY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define DIRTY_PAGE_SHIFT	12

struct dirty_bitmap {
	uint64_t nr_pages;
	atomic_bool logging;		/* marks are dropped while false */
	_Atomic uint64_t *words;
};

/* Words of a bitmap for nr_pages pages. */
static inline uint64_t dirty_words(uint64_t nr_pages)
{
	return (nr_pages + 63) / 64;
}

/* Returns 0, or -1 (out of memory) with nothing allocated. Logging starts off. */
int dirty_bitmap_init(struct dirty_bitmap *b, uint64_t nr_pages);
void dirty_bitmap_free(struct dirty_bitmap *b);
/* Logging on with every bit clear; off (later marks are dropped, the bits stay). Start runs
 * while nothing marks (the VM paused, or an engine that marks elsewhere). */
void dirty_bitmap_start(struct dirty_bitmap *b);
void dirty_bitmap_stop(struct dirty_bitmap *b);
static inline bool dirty_bitmap_logging(struct dirty_bitmap *b)
{
	return atomic_load_explicit(&b->logging, memory_order_acquire);
}

/* Mark count pages from first while logging; pages beyond nr_pages are ignored. */
void dirty_bitmap_mark(struct dirty_bitmap *b, uint64_t first, uint64_t count);
/* ORs the marked pages into out (dirty_words(nr_pages) words) and clears them; returns how
 * many were marked. */
uint64_t dirty_bitmap_fetch(struct dirty_bitmap *b, uint64_t *out);

/* Pages set in a plain bitmap of nr_pages bits. */
uint64_t dirty_count(const uint64_t *bits, uint64_t nr_pages);

static inline bool dirty_test(const uint64_t *bits, uint64_t page)
{
	return bits[page / 64] >> (page % 64) & 1;
}

struct vm;

/* The VM's dirty-page log, whichever engine runs: start marks every page written from now on
 * (by the guest or by vmon), fetch ORs the pages written since start / the previous fetch
 * into bitmap (dirty_words(vm->mem.size >> 12) words) and clears them, stop ends logging.
 * start and fetch return 0, or -1 if the engine cannot log or the VM is ending. One caller at
 * a time (the migration thread). */
int vm_dirty_log_start(struct vm *vm);
int vm_dirty_log_fetch(struct vm *vm, uint64_t *bitmap);
void vm_dirty_log_stop(struct vm *vm);

#endif
