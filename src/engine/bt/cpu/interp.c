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
 *
 * Hot blocks of 64-bit code (run jit_threshold times) are translated to host code (translate.c)
 * kept in the vCPU's translation cache. A translation belongs to its struct block: re-decoding
 * the block (its page was written) drops it, and the translation cache is emptied together with
 * the block cache, so no translation outlives the decoded insns it was made from.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/bt/cpu/ops.h"
#include "engine/bt/jit/translate.h"
#include "mem.h"
#include "util/log.h"

#define BLOCK_MAX	64
#define CACHE_BLOCKS	32768
#define CACHE_INSNS	(CACHE_BLOCKS * 16)
#define INSNS_POPULATE	((2u << 20) / sizeof(struct bt_insn))
#define HASH_BITS	15
#define JC_BITS		12
/* Runs of a block before it is translated (VMON_BT_JIT_THRESHOLD; 0 = never translate). */
#define JIT_THRESHOLD	16

_Static_assert(BLOCK_MAX <= BT_TB_MAX_INSNS, "blocks longer than the translator takes");

struct block {
	uint64_t key;			/* gpa of the first byte */
	uint64_t gpa2;			/* second page of a straddling insn, else 0 */
	uint32_t gen, gen2;
	uint8_t code_size;
	uint16_t n;
	uint8_t tb_tlb;			/* the soft TLB tb was made for */
	uint32_t runs;			/* interpreted runs, while not translated */
	bt_tb_fn tb;			/* the translation, or NULL */
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
	struct bt_insn *insns_populated;	/* insns[] before it have host pages */
	/* A block of a page whose generation cannot be tracked: decoded for one run. */
	struct block scratch;
	struct bt_insn scratch_insns[BLOCK_MAX];
	struct bt_tcache tc;
	unsigned jit_threshold;
};

/* VMON_BT_JIT_THRESHOLD=N: translate a block when it is about to run for the Nth time (1 = at
 * first sight, 0 = interpreter only). A test and tuning knob (docs/configuration.md). */
static int jit_threshold(unsigned *out)
{
	const char *env = getenv("VMON_BT_JIT_THRESHOLD");
	char *end;
	unsigned long v;

	*out = JIT_THRESHOLD;
	if (!env)
		return 0;
	v = strtoul(env, &end, 10);
	if (!*env || *end || v > 1000000) {
		vmon_log("VMON_BT_JIT_THRESHOLD=%s: must be a number 0..1000000", env);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

int bt_block_cache_init(struct bt_cpu *cpu, bool jit)
{
	struct block_cache *bc = calloc(1, sizeof(struct block_cache));

	if (!bc)
		return -1;
	/* The lookup tables and the block array are all used within a boot (insns[] after them
	 * fills on demand, insns_reserve). */
	host_populate(bc, offsetof(struct block_cache, insns));
	if (!jit)
		bc->jit_threshold = 0;
	else if (jit_threshold(&bc->jit_threshold) < 0 ||
		 (bc->jit_threshold && bt_tcache_init(&bc->tc, BT_TCACHE_SIZE) < 0)) {
		free(bc);
		return -1;
	}
	bc->insns_populated = bc->insns;
	cpu->block_cache = bc;
	return 0;
}

void bt_block_cache_free(struct bt_cpu *cpu)
{
	struct block_cache *bc = cpu->block_cache;

	if (bc)
		bt_tcache_free(&bc->tc);
	free(bc);
	cpu->block_cache = NULL;
}

/* Decoded instructions fill insns[] front to back: their host pages come 2 MiB at a time
 * (host_populate; a Linux boot decodes ~20 MiB of them, 5 000 page faults otherwise). */
static void insns_reserve(struct block_cache *bc, unsigned upto)
{
	const struct bt_insn *end = bc->insns + CACHE_INSNS;

	while (bc->insns_populated < bc->insns + upto) {
		size_t n = (size_t)(end - bc->insns_populated);
		n = n < INSNS_POPULATE ? n : INSNS_POPULATE;
		host_populate(bc->insns_populated, n * sizeof(struct bt_insn));
		bc->insns_populated += n;
	}
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

/* Empty the block cache and with it the translation cache. */
static void cache_clear(struct bt_cpu *cpu, struct block_cache *bc)
{
	memset(bc->jc, 0, sizeof(bc->jc));
	memset(bc->hash, 0, sizeof(bc->hash));
	bc->nr_blocks = 0;
	bc->nr_insns = 0;
	cpu->tb_exit = NULL;
	if (bc->tc.cur != bc->tc.start) {
		bt_tcache_reset(&bc->tc);
		stat_add(&cpu->stats.tb_flushes, 1);
	}
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
	/* 0 means "no code here" and must stay so: only watch_page makes a code page, because only
	 * it makes every vCPU drop its fast write entries to the page. A code page's generation
	 * skips 0 when it wraps. */
	uint32_t old = atomic_load_explicit(g, memory_order_relaxed);
	while (old && !atomic_compare_exchange_weak(g, &old, old == UINT32_MAX ? 1 : old + 1))
		;
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
	b->tb = NULL;
	b->runs = 0;
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
	stat_add(&cpu->stats.blocks_decoded, 1);
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
		stat_add(&cpu->stats.block_cache_hits, 1);
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
			stat_add(&cpu->stats.block_cache_hits, 1);
			jc->lin = lin;
			jc->b = b;
			return b;
		}
		/* Stale: decode again into fresh arena space, keeping the hash slot. */
		stat_add(&cpu->stats.blocks_invalidated, 1);
		break;
	}
	stat_add(&cpu->stats.block_cache_misses, 1);

	if (bc->nr_insns + BLOCK_MAX > CACHE_INSNS || (!b && bc->nr_blocks == CACHE_BLOCKS)) {
		cache_clear(cpu, bc);
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
	insns_reserve(bc, bc->nr_insns + BLOCK_MAX);
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

/* For perf: the code from start on is rip's translation. */
static void name_translation(struct bt_tcache *tc, const uint8_t *start, uint64_t rip)
{
	char name[32];

	if (tc->perf_map_fd < 0)
		return;
	snprintf(name, sizeof(name), "guest_%" PRIx64, rip);
	bt_tcache_name(tc, start, tc->cur, name);
}

/* The translation of b if it may run now; translates b when it has become hot. */
static bt_tb_fn hot_code(struct bt_cpu *cpu, struct block *b)
{
	struct block_cache *bc = cpu->block_cache;
	int tlb = bt_cur_tlb(cpu);

	if (cpu->dbg_armed)
		return NULL;	/* breakpoints are checked by the interpreter only */
	if (b->tb)
		return b->tb_tlb == tlb ? b->tb : NULL;
	if (!bc->jit_threshold || b == &bc->scratch || b->code_size != 8 ||
	    ++b->runs < bc->jit_threshold)
		return NULL;
	if ((size_t)(bc->tc.end - bc->tc.cur) < bt_translate_max_size(b->n)) {
		/* Full: start over. b's insns stay readable for this one interpreted run. */
		cache_clear(cpu, bc);
		return NULL;
	}
	bt_tcache_reserve(&bc->tc, bt_translate_max_size(b->n));
	uint8_t *start = bc->tc.cur;
	b->tb = bt_translate_block(cpu, &bc->tc, b->insns, b->n, tlb, b->key);
	if (!b->tb)
		return NULL;	/* out of host memory: interpreted, tried again next run */
	b->tb_tlb = (uint8_t)tlb;
	name_translation(&bc->tc, start, cpu->s.rip);
	stat_add(&cpu->stats.tb_blocks, 1);
	stat_add(&cpu->stats.tb_insns, b->n);
	stat_add(&cpu->stats.tb_bytes, (uint64_t)(bc->tc.cur - start));
	return b->tb;
}

/* Armed instruction breakpoints in the first max instructions of b: one at the next
 * instruction raises #DB unless RF suppresses it; one further on limits the run to the
 * instructions before it. */
static unsigned breakpoint_limit(struct bt_cpu *cpu, const struct block *b, unsigned max, bool rf)
{
	uint64_t base = cpu->mode == BT_MODE_LONG ? 0 : cpu->s.seg[S_CS].base;
	uint64_t ip = cpu->s.rip, mask = sz_mask(cpu->code_size);

	for (unsigned k = 0; k < max && k < b->n; k++) {
		uint8_t hit = bt_dbg_exec_hit(cpu, base + ip);
		if (hit && k > 0)
			return k;
		if (hit && !rf)
			bt_dbg_exec_fault(cpu, hit);
		ip = (ip + b->insns[k].len) & mask;
	}
	return max;
}

/* Instructions that may have run before a translated block is entered by chaining, so that
 * the whole chain stays within the budget (none in an interrupt shadow). */
static uint64_t chain_limit(uint64_t left, bool shadow)
{
	if (shadow || left <= BLOCK_MAX)
		return 0;
	left -= BLOCK_MAX;
	return left < (1u << 30) ? left : 1u << 30;
}

uint64_t bt_interp_run(struct bt_cpu *cpu, uint64_t budget)
{
	struct block_cache *bc = cpu->block_cache;
	uint64_t done = 0;

	cpu->tb_exit = NULL;

	while (done < budget && !cpu->s.halted &&
	       !atomic_load_explicit(&cpu->kick, memory_order_relaxed)) {
		bool shadow = cpu->inhibit_irq;
		/* RF (from an IRET) exempts one instruction from its instruction breakpoint and is
		 * cleared as that instruction runs; a fault in it pushes RF set again. */
		bool rf = cpu->s.rflags & RFLAGS_RF;
		uint64_t left = budget - done;
		unsigned max = shadow || rf ? 1 : left < BLOCK_MAX ? (unsigned)left : BLOCK_MAX;
		unsigned ran;

		sync_tlb(cpu);
		struct block *b = find_block(cpu);
		if (__builtin_expect(cpu->dbg_exec, 0))
			max = breakpoint_limit(cpu, b, max, rf);
		cpu->s.rflags &= ~RFLAGS_RF;
		bt_tb_fn tb = hot_code(cpu, b);
		if (tb && b->n <= max) {
			/* the last translated block left for this one: chain them */
			if (!b->gpa2) {
				if (cpu->tb_exit)
					bt_tb_link(cpu, &bc->tc, cpu->tb_exit, tb, b->key, b->gen,
						   b->tb_tlb);
				bt_ibtc_insert(cpu, &bc->tc, cpu->s.rip, tb, b->key, b->gen, b->tb_tlb);
			}
			uint64_t chained = cpu->stats.insns;
			cpu->tb_exit = NULL;
			cpu->end_block = false;
			ran = tb(cpu, chain_limit(left, shadow || rf));
			/* blocks left for chained ones were counted by the chain guards */
			done += cpu->stats.insns - chained;
			stat_add(&cpu->stats.tb_runs, 1);
		} else {
			cpu->tb_exit = NULL;
			ran = run_block(cpu, b, max);
			stat_add(&cpu->stats.interp_runs, 1);
		}
		done += ran;
		stat_add(&cpu->stats.insns, ran);
		if (shadow) {
			/* The instruction after STI / MOV SS has run: let the caller look at
			 * interrupts again. */
			cpu->inhibit_irq = cpu->inhibit_db = false;
			break;
		}
		if (cpu->s.rflags & RFLAGS_TF)
			break;		/* the caller single-steps from here */
		if (cpu->dbg_hit)
			break;		/* the caller delivers the data / I/O breakpoint's #DB */
	}
	return done;
}
