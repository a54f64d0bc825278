/* The interpreter loop and its decoded-block cache.
 *
 * A block is code decoded once: it ends after an instruction flagged BI_ENDS_BLOCK (unconditional
 * control transfers, state changes), before the next guest page, or at BLOCK_MAX insns. It runs
 * through not-taken conditional branches and is left at any instruction that does not fall
 * through (a taken branch, a REP string instruction that continues later).
 * Blocks are keyed by the guest-physical address of their first byte and the code size, and
 * stay valid while the page's generation in bvm->page_gen is unchanged (stores to the page bump
 * it through bt_code_written). An instruction that straddles two pages is always a block of its
 * own, so checking the second page's mapping on entry never faults at the wrong rip.
 *
 * The cache is a fixed arena per vCPU; when it fills up it is emptied as a whole, so nothing is
 * allocated while the guest runs.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/bt/ops.h"

#define BLOCK_MAX	64
#define CACHE_BLOCKS	8192
#define CACHE_INSNS	(CACHE_BLOCKS * 16)
#define HASH_BITS	13
#define JC_BITS		12

struct block {
	uint64_t key;			/* gpa of the first byte */
	uint64_t gpa2;			/* second page of a straddling insn, else 0 */
	uint32_t gen, gen2;
	uint8_t code_size;
	uint16_t n;
	struct bt_insn *insns;
	struct block *hash_next;
};

/* Recently run blocks by linear rip: most lookups end here without walking the hash table.
 * A hit is still checked against the current translation of rip, so it needs no flushing
 * when the guest's page tables change. */
struct jc_entry {
	uint64_t lin;
	struct block *b;
};

struct block_cache {
	struct jc_entry jc[1u << JC_BITS];
	struct block *hash[1u << HASH_BITS];
	unsigned nr_blocks, nr_insns;
	struct block blocks[CACHE_BLOCKS];
	struct bt_insn insns[CACHE_INSNS];
	/* A block of a page whose generation cannot be tracked: decoded for one run. */
	struct block scratch;
	struct bt_insn scratch_insns[BLOCK_MAX];
};

int bt_block_cache_init(struct bt_cpu *cpu)
{
	cpu->block_cache = calloc(1, sizeof(struct block_cache));
	return cpu->block_cache ? 0 : -1;
}

void bt_block_cache_free(struct bt_cpu *cpu)
{
	free(cpu->block_cache);
	cpu->block_cache = NULL;
}

static unsigned hash_key(uint64_t key, unsigned code_size)
{
	uint64_t h = (key ^ code_size) * 0x9e3779b97f4a7c15ull;
	return (unsigned)(h >> (64 - HASH_BITS));
}

static unsigned jc_index(uint64_t lin)
{
	return (unsigned)(lin ^ (lin >> JC_BITS)) & ((1u << JC_BITS) - 1);
}

static void cache_clear(struct block_cache *bc)
{
	memset(bc->jc, 0, sizeof(bc->jc));
	memset(bc->hash, 0, sizeof(bc->hash));
	bc->nr_blocks = 0;
	bc->nr_insns = 0;
}

static bool page_tracked(const struct bt_vm *bvm, uint64_t gpa)
{
	return (gpa >> 12) < bvm->nr_pages;
}

static uint32_t page_gen(struct bt_vm *bvm, uint64_t gpa)
{
	return atomic_load_explicit(&bvm->page_gen[gpa >> 12], memory_order_acquire);
}

/* First decode from a page: give it a generation and make every vCPU drop fast-path write
 * entries to it, so stores reach bt_code_written. */
static uint32_t watch_page(struct bt_cpu *cpu, uint64_t gpa)
{
	uint32_t zero = 0;

	if (atomic_compare_exchange_strong(&cpu->bvm->page_gen[gpa >> 12], &zero, 1))
		atomic_fetch_add(&cpu->bvm->tlb_gen, 1);
	return page_gen(cpu->bvm, gpa);
}

void bt_code_written(struct bt_vm *bvm, uint64_t gpa_page)
{
	_Atomic uint32_t *g;

	if (!page_tracked(bvm, gpa_page))
		return;
	bt_shadow_page_written(bvm, gpa_page);
	g = &bvm->page_gen[gpa_page >> 12];
	/* Stay nonzero: 0 means "no code here". */
	if (atomic_fetch_add(g, 1) == UINT32_MAX)
		atomic_fetch_add(g, 1);
}

static uint64_t lin_wrap(const struct bt_cpu *cpu, uint64_t lin)
{
	return cpu->mode == BT_MODE_LONG ? lin : lin & 0xffffffffull;
}

/* A vCPU made a page into a code page since our last flush: drop our TLB so no fast-path
 * write entry to it survives. */
static void sync_tlb(struct bt_cpu *cpu)
{
	unsigned gen = atomic_load_explicit(&cpu->bvm->tlb_gen, memory_order_acquire);

	if (gen != cpu->tlb_gen_seen) {
		bt_tlb_flush(cpu, true);
		cpu->tlb_gen_seen = gen;
	}
}

/* Decode the block starting at lin (whose page is at host address page, gpa) into b. The
 * first instruction's #UD/#GP/#PF is raised; a later one ends the block before it, so the
 * fault is raised when it is first in its own block, with rip pointing at it. */
static void decode_block(struct bt_cpu *cpu, struct block *b, struct bt_insn *out, unsigned max,
			 uint64_t lin, const uint8_t *page, uint64_t gpa)
{
	unsigned off = lin & (BT_PAGE - 1), n = 0;

	b->gpa2 = 0;
	while (n < max && off < BT_PAGE) {
		struct bt_insn *i = &out[n];
		unsigned avail = BT_PAGE - off;
		int r = bt_decode_bytes(page + off, avail < 15 ? avail : 15, cpu->code_size, i);

		if (r == BT_DEC_MORE && n == 0) {
			uint8_t buf[15];
			uint64_t gpa2;
			const uint8_t *p2 = bt_fetch_page(cpu, lin_wrap(cpu, (lin & BT_PAGE_MASK) + BT_PAGE),
							  &gpa2);
			memcpy(buf, page + off, avail);
			memcpy(buf + avail, p2, 15 - avail);
			r = bt_decode_bytes(buf, 15, cpu->code_size, i);
			if (r > 0) {
				b->gpa2 = gpa2 | 1;	/* bit 0: present even for gpa 0 */
				b->gen2 = page_tracked(cpu->bvm, gpa2) ? watch_page(cpu, gpa2) : 0;
				n = 1;
				break;
			}
		}
		if (r <= 0) {
			if (n > 0)
				break;
			if (r == BT_DEC_GP)
				bt_raise(cpu, EXC_GP, 0);
			bt_raise_noerr(cpu, EXC_UD);
		}
		bt_specialize(i, cpu->code_size);
		n++;
		off += (unsigned)r;
		if (i->flags & BI_ENDS_BLOCK)
			break;
	}
	b->n = (uint16_t)n;
	b->insns = out;
	b->code_size = cpu->code_size;
	b->key = gpa | (lin & (BT_PAGE - 1));
	cpu->stats.blocks_decoded++;
	sync_tlb(cpu);		/* decoding may have watched a new code page */
}

static inline bool block_valid(struct bt_cpu *cpu, const struct block *b, uint64_t lin)
{
	if (page_gen(cpu->bvm, b->key) != b->gen)
		return false;
	if (b->gpa2) {
		uint64_t gpa2;
		bt_fetch_page(cpu, lin_wrap(cpu, (lin & BT_PAGE_MASK) + BT_PAGE), &gpa2);
		if ((gpa2 | 1) != b->gpa2)
			return false;
		if (page_tracked(cpu->bvm, gpa2) && page_gen(cpu->bvm, gpa2) != b->gen2)
			return false;
	}
	return true;
}

/* Linear address of rip; 64-bit code has no CS base or limit (rip is always canonical: every
 * way of loading it checks). */
static uint64_t code_lin(struct bt_cpu *cpu)
{
	if (cpu->mode == BT_MODE_LONG)
		return cpu->s.rip;
	return bt_linear(cpu, S_CS, cpu->s.rip, 1, BT_EXEC);
}

/* The code page of lin: straight from the soft TLB when it maps plain RAM for execution. */
static const uint8_t *code_page(struct bt_cpu *cpu, uint64_t lin, uint64_t *gpa)
{
	const struct bt_tlb_entry *e = &cpu->tlb[bt_cur_tlb(cpu)][bt_tlb_index(lin)];

	if (e->tag_exec == (lin & BT_PAGE_MASK)) {
		*gpa = e->gpa_page;
		return (const uint8_t *)(uintptr_t)((lin & BT_PAGE_MASK) + e->addend);
	}
	return bt_fetch_page(cpu, lin, gpa);
}

static bool block_matches(struct bt_cpu *cpu, const struct block *b, uint64_t key, uint64_t lin)
{
	return b->key == key && b->code_size == cpu->code_size && block_valid(cpu, b, lin);
}

static struct block *find_block(struct bt_cpu *cpu)
{
	struct block_cache *bc = cpu->block_cache;
	uint64_t lin = code_lin(cpu), gpa;
	const uint8_t *page = code_page(cpu, lin, &gpa);
	uint64_t key = gpa | (lin & (BT_PAGE - 1));
	struct jc_entry *jc = &bc->jc[jc_index(lin)];
	struct block *b;
	unsigned h;

	if (jc->b && jc->lin == lin && block_matches(cpu, jc->b, key, lin)) {
		cpu->stats.block_cache_hits++;
		return jc->b;
	}
	if (!page_tracked(cpu->bvm, gpa)) {
		b = &bc->scratch;
		decode_block(cpu, b, bc->scratch_insns, BLOCK_MAX, lin, page, gpa);
		return b;
	}

	h = hash_key(key, cpu->code_size);
	for (b = bc->hash[h]; b; b = b->hash_next) {
		if (b->key != key || b->code_size != cpu->code_size)
			continue;
		if (block_valid(cpu, b, lin)) {
			cpu->stats.block_cache_hits++;
			jc->lin = lin;
			jc->b = b;
			return b;
		}
		/* Stale: decode again into fresh arena space, keeping the hash slot. */
		cpu->stats.blocks_invalidated++;
		break;
	}
	cpu->stats.block_cache_misses++;

	if (bc->nr_insns + BLOCK_MAX > CACHE_INSNS || (!b && bc->nr_blocks == CACHE_BLOCKS)) {
		cache_clear(bc);
		b = NULL;
	}
	uint32_t gen = watch_page(cpu, gpa);
	if (!b) {
		b = &bc->blocks[bc->nr_blocks++];
		b->hash_next = bc->hash[h];
		bc->hash[h] = b;
	}
	b->key = key;
	b->code_size = cpu->code_size;
	b->gen = 0;	/* never matches while half built: a fault below leaves it invalid */
	b->n = 0;
	decode_block(cpu, b, &bc->insns[bc->nr_insns], BLOCK_MAX, lin, page, gpa);
	bc->nr_insns += b->n;
	b->gen = gen;
	jc->lin = lin;
	jc->b = b;
	return b;
}

/* Execute up to max instructions of b. Returns how many ran. */
static unsigned run_block(struct bt_cpu *cpu, const struct block *b, unsigned max)
{
	uint64_t mask = sz_mask(cpu->code_size), rip = cpu->s.rip;
	const struct bt_insn *i = b->insns, *end = i + (b->n < max ? b->n : max);

	cpu->end_block = false;
	while (i < end) {
		uint64_t fall = (rip + i->len) & mask;
		cpu->next_rip = fall;
		i->fn(cpu, i);
		i++;
		rip = cpu->next_rip;
		cpu->s.rip = rip;
		if (__builtin_expect(cpu->end_block | (rip != fall), 0))
			break;
	}
	return (unsigned)(i - b->insns);
}

uint64_t bt_interp_run(struct bt_cpu *cpu, uint64_t budget)
{
	uint64_t done = 0;

	while (done < budget && !cpu->s.halted &&
	       !atomic_load_explicit(&cpu->kick, memory_order_relaxed)) {
		bool shadow = cpu->inhibit_irq;
		uint64_t left = budget - done;
		unsigned max = shadow ? 1 : left < BLOCK_MAX ? (unsigned)left : BLOCK_MAX;

		sync_tlb(cpu);
		struct block *b = find_block(cpu);
		unsigned ran = run_block(cpu, b, max);
		done += ran;
		cpu->stats.insns += ran;
		if (shadow) {
			/* The instruction after STI / MOV SS has run: let the caller look at
			 * interrupts again. */
			cpu->inhibit_irq = false;
			break;
		}
		if (cpu->s.rflags & RFLAGS_TF)
			break;		/* the caller single-steps from here */
	}
	return done;
}
