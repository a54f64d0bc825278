/* The dirty-page bitmap and the VM-level dirty log (dirty.h). */
#include <stdlib.h>

#include "dirty.h"
#include "vm.h"

int dirty_bitmap_init(struct dirty_bitmap *b, uint64_t nr_pages)
{
	b->nr_pages = nr_pages;
	atomic_init(&b->logging, false);
	b->words = calloc(dirty_words(nr_pages) ? dirty_words(nr_pages) : 1, sizeof(*b->words));
	return b->words ? 0 : -1;
}

void dirty_bitmap_free(struct dirty_bitmap *b)
{
	free((void *)b->words);
	b->words = NULL;
	b->nr_pages = 0;
}

void dirty_bitmap_start(struct dirty_bitmap *b)
{
	for (uint64_t i = 0; i < dirty_words(b->nr_pages); i++)
		atomic_store_explicit(&b->words[i], 0, memory_order_relaxed);
	atomic_store_explicit(&b->logging, true, memory_order_release);
}

void dirty_bitmap_stop(struct dirty_bitmap *b)
{
	atomic_store_explicit(&b->logging, false, memory_order_release);
}

void dirty_bitmap_mark(struct dirty_bitmap *b, uint64_t first, uint64_t count)
{
	if (!dirty_bitmap_logging(b) || first >= b->nr_pages)
		return;
	if (count > b->nr_pages - first)
		count = b->nr_pages - first;
	for (uint64_t p = first; p < first + count; p++) {
		_Atomic uint64_t *w = &b->words[p / 64];
		uint64_t bit = 1ull << (p % 64);
		/* A plain load first: a page written again and again stays one shared cache
		 * line instead of a contended read-modify-write. */
		if (!(atomic_load_explicit(w, memory_order_relaxed) & bit))
			atomic_fetch_or_explicit(w, bit, memory_order_release);
	}
}

uint64_t dirty_bitmap_fetch(struct dirty_bitmap *b, uint64_t *out)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < dirty_words(b->nr_pages); i++) {
		if (!atomic_load_explicit(&b->words[i], memory_order_relaxed))
			continue;
		uint64_t w = atomic_exchange_explicit(&b->words[i], 0, memory_order_acq_rel);
		out[i] |= w;
		n += (uint64_t)__builtin_popcountll(w);
	}
	return n;
}

uint64_t dirty_count(const uint64_t *bits, uint64_t nr_pages)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < dirty_words(nr_pages); i++)
		n += (uint64_t)__builtin_popcountll(bits[i]);
	return n;
}

int vm_dirty_log_start(struct vm *vm)
{
	if (!vm->engine->dirty_log_start)
		return -1;
	return vm->engine->dirty_log_start(vm);
}

int vm_dirty_log_fetch(struct vm *vm, uint64_t *bitmap)
{
	return vm->engine->dirty_log_fetch(vm, bitmap);
}

void vm_dirty_log_stop(struct vm *vm)
{
	if (vm->engine->dirty_log_stop)
		vm->engine->dirty_log_stop(vm);
}
