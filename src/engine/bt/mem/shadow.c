/* Shadow page tables of the bt engine: guest linear pages -> guest-physical pages, per guest
 * address space, kept coherent with the guest's page tables by write-protecting them.
 *
 * What is shadowed: the result of a guest page walk (mmu.c's walk: linear page -> guest-physical
 * page, the combined U/W/X of all levels, the leaf's D and G) together with the list of
 * paging-structure pages the walk read and each one's write generation at the time. An entry
 * serves a soft-TLB miss while all those generations are unchanged: it is then exactly what a
 * walk would find now (its A bits are already set). The soft TLB (cpu->tlb) stays the first
 * level and keeps hardware TLB semantics (CR3 writes, INVLPG, global pages); this is the second.
 *
 * Roots: one shadow per address space, keyed by CR3 and the paging-mode bits that change what a
 * walk finds or allows (CR0.PG/WP, CR4.PAE/PSE/PGE, EFER.LMA/NXE; PCID, LA57, SMEP and SMAP are
 * not offered to guests). The BT_SHADOW_ROOTS most recently used are kept per vCPU, so a
 * process switch finds its translations again and a CR3 write costs a soft-TLB flush, not walks.
 * The entries of all roots share one hashed table per vCPU (index: linear page and root id,
 * large pages in a second table): evicting a root costs nothing, its id is never used again and
 * its entries are overwritten in time. Global translations (G with CR4.PGE) belong to a global
 * set that every root looks up, as a hardware TLB keeps them across CR3 writes; a flush of global
 * entries that comes with a paging-mode change (CR4.PGE toggled, CR0.PG, ...) starts a new set.
 *
 * Coherence by write protection: a walk marks each page it reads as a paging-structure page
 * (BT_PT_WATCHED in bvm->pt_state). The soft TLB never gives such a page a fast write entry
 * (tag_write carries TLB_SLOW, as for code pages), so every guest store to it reaches
 * mmu.c's write_part, which bumps the page's generation after the store. Precision is one
 * table: a PTE store drops (lazily, at their next use) the translations read through that one
 * page table, at most the 512 pages of its 2 MiB, never whole shadows; a PML4E/PDPTE/PDE store
 * drops what lies below that table. Walks read a page's generation before its entry (acquire) and
 * stores bump it after the data: an entry that still validates was read after the last
 * completed store. The walk's own A/D updates do not bump generations (an entry records D as
 * the walk left it; one made before D was set only lacks write permission and walks again).
 *
 * Other writers of guest RAM:
 * - other vCPUs: the generations are shared, so a store by any vCPU invalidates the entries of
 *   all vCPUs (shadows are per vCPU and lookups take no lock). A page newly marked bumps
 *   bvm->tlb_gen so every other vCPU drops its fast write entries before its next block (the
 *   window until then is the one code pages already have); the marking vCPU drops its own
 *   at once (bt_tlb_drop_gpa).
 * - devices (DMA), kvmclock, any host-side store while the guest runs: they report the page
 *   with bt_code_written(), which also calls bt_shadow_page_written() here.
 * - boot loaders write before any walk; bt_set_state resets the vCPU's shadow.
 *
 * Release: Linux frees page tables and reuses the pages for data. A watched page written
 * PT_RELEASE_STREAK times with no walk reading it in between, or cleared by a bulk store,
 * loses its protection: its generation is bumped (nothing read through it validates any more)
 * and writes to it go fast again once the soft-TLB entries are refilled, until a walk reads it
 * again. Releasing is always safe, only a matter of cost: a walk re-protects a page before
 * it reads an entry.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/bt/direct/direct.h"
#include "engine/bt/sys/btsys.h"

/* bvm->pt_state per page: BT_PT_WATCHED (bit 63), a run of trapped stores since the last walk
 * read the page (bits 62:48), and the write generation (bits 47:0; entries keep its low 32). */
#define PT_STREAK_SHIFT		48
#define PT_STREAK_ONE		(1ull << PT_STREAK_SHIFT)
#define PT_STREAK_MASK		(0x7fffull << PT_STREAK_SHIFT)
#define PT_GEN_MASK		(PT_STREAK_ONE - 1)
/* More stores than a page table's 512 entries take to fill, clear and refill. */
#define PT_RELEASE_STREAK	2048
/* A bulk store (REP STOS / MOVS) of half a page or more: the page is being cleared or filled
 * with other data (clear_page of a page being reused), no walk can use what it held. */
#define PT_RELEASE_BULK		2048

_Static_assert(BT_MAXPHYADDR - 12 <= 32, "page frame numbers are kept in 32 bits");

int bt_shadow_vm_init(struct bt_vm *bvm)
{
	pthread_mutexattr_t a;

	bvm->pt_state = calloc(bvm->nr_pages ? bvm->nr_pages : 1, sizeof(*bvm->pt_state));
	if (!bvm->pt_state)
		return -1;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&bvm->atomic_lock, &a);
	pthread_mutexattr_destroy(&a);
	return 0;
}

void bt_shadow_vm_free(struct bt_vm *bvm)
{
	pthread_mutex_destroy(&bvm->atomic_lock);
	free((void *)bvm->pt_state);
	bvm->pt_state = NULL;
}

/* ---- Write protection ------------------------------------------------------------------ */

uint32_t bt_shadow_watch(struct bt_cpu *cpu, uint64_t pfn)
{
	struct bt_vm *bvm = cpu->bvm;
	_Atomic uint64_t *st = &bvm->pt_state[pfn];
	uint64_t s = atomic_load_explicit(st, memory_order_acquire);

	/* Watched with no store since the last walk: the common case, read only. */
	while (!(s & BT_PT_WATCHED) || (s & PT_STREAK_MASK)) {
		uint64_t n = (s | BT_PT_WATCHED) & ~PT_STREAK_MASK;
		if (atomic_compare_exchange_weak(st, &s, n)) {
			if (!(s & BT_PT_WATCHED)) {
				stat_add(&cpu->stats.pt_watched, 1);
				bt_direct_page_protected(bvm, pfn << 12);
				if (bvm->nr_cpus > 1)
					atomic_fetch_add(&bvm->tlb_gen, 1);
				bt_tlb_drop_gpa(cpu, pfn << 12, false);
			}
			s = n;
			break;
		}
	}
	return (uint32_t)s;
}

void bt_shadow_write_trap(struct bt_cpu *cpu, uint64_t gpa_page, unsigned len)
{
	_Atomic uint64_t *st = &cpu->bvm->pt_state[gpa_page >> 12];
	uint64_t s = atomic_load(st), n;

	stat_add(&cpu->stats.pt_write_traps, 1);
	do {
		n = ((s + 1) & PT_GEN_MASK) | (s & ~PT_GEN_MASK);
		if (!(s & BT_PT_WATCHED))
			continue;	/* released meanwhile: the bump alone is harmless */
		if (len >= PT_RELEASE_BULK ||
		    ((s & PT_STREAK_MASK) >> PT_STREAK_SHIFT) + 1 >= PT_RELEASE_STREAK)
			n &= PT_GEN_MASK;
		else
			n += PT_STREAK_ONE;
	} while (!atomic_compare_exchange_weak(st, &s, n));
	if ((s & BT_PT_WATCHED) && !(n & BT_PT_WATCHED)) {
		stat_add(&cpu->stats.pt_released, 1);
		bt_tlb_drop_gpa(cpu, gpa_page, true);
	}
}

void bt_shadow_page_written(struct bt_vm *bvm, uint64_t gpa_page)
{
	uint64_t pfn = gpa_page >> 12;

	/* The generation cannot reach bit 48 (2^48 stores to one page). */
	if (pfn < bvm->nr_pages)
		atomic_fetch_add(&bvm->pt_state[pfn], 1);
}

/* ---- Roots ------------------------------------------------------------------------------ */

/* The paging-mode bits of a root's key (the CR3 value is the other half). */
static uint64_t paging_key(const struct cpu_state *s)
{
	return (s->cr0 & (CR0_PG | CR0_WP)) | (s->cr4 & (CR4_PAE | CR4_PSE | CR4_PGE)) |
	       (s->efer & (EFER_LMA | EFER_NXE)) << 32;
}

static uint64_t switch_root(struct bt_cpu *cpu, struct bt_shadow *sh, uint64_t key)
{
	struct bt_shadow_root *r, *victim = NULL;

	if (!sh->global_id || key != sh->global_key) {
		sh->global_id = ++sh->next_id;
		sh->global_key = key;
	}
	for (unsigned k = 0; k < BT_SHADOW_ROOTS; k++) {
		r = &sh->root[k];
		if (r->id && r->cr3 == cpu->s.cr3 && r->key == key)
			goto found;
		if (!victim || (victim->id && (!r->id || r->last_used < victim->last_used)))
			victim = r;
	}
	r = victim;
	if (r->id)
		stat_add(&cpu->stats.shadow_roots_evicted, 1);
	stat_add(&cpu->stats.shadow_roots_created, 1);
	*r = (struct bt_shadow_root){ .cr3 = cpu->s.cr3, .key = key, .id = ++sh->next_id };
found:
	r->last_used = ++sh->clock;
	sh->cur_cr3 = r->cr3;
	sh->cur_key = key;
	sh->cur_id = r->id;
	return r->id;
}

/* Id of the root of the current CR3 and paging mode (made or found again on a change). */
static uint64_t cur_root(struct bt_cpu *cpu, struct bt_shadow *sh)
{
	uint64_t key = paging_key(&cpu->s);

	if (sh->cur_id && sh->cur_cr3 == cpu->s.cr3 && sh->cur_key == key)
		return sh->cur_id;
	return switch_root(cpu, sh, key);
}

void bt_shadow_flush_global(struct bt_cpu *cpu)
{
	struct bt_shadow *sh = &bt_vcpu_of(cpu)->shadow;
	uint64_t key = paging_key(&cpu->s);

	/* The flushes the interpreter makes to drop fast write entries keep the mode. */
	if (sh->global_id && key == sh->global_key)
		return;
	sh->global_id = ++sh->next_id;
	sh->global_key = key;
}

void bt_shadow_reset(struct bt_cpu *cpu)
{
	struct bt_shadow *sh = &bt_vcpu_of(cpu)->shadow;
	uint64_t next = sh->next_id;

	memset(sh, 0, sizeof(*sh));
	sh->next_id = next;	/* ids stay unique: stale entries could not match anyway */
}

/* ---- Entries ---------------------------------------------------------------------------- */

/* The slot of (lin's page of size 1 << shift, owner), and *tag its hash for the tag array. */
static struct bt_shadow_entry *slot(struct bt_shadow *sh, uint64_t lin, unsigned shift,
				   uint64_t owner, uint64_t **tag)
{
	uint64_t h = ((lin >> shift) ^ shift) + owner * 0x9e3779b97f4a7c15ull;

	if (shift == 12) {
		h &= (1u << BT_SHADOW_BITS) - 1;
		*tag = &sh->small_tag[h];
		return &sh->small[h];
	}
	h &= (1u << BT_SHADOW_LARGE_BITS) - 1;
	*tag = &sh->large_tag[h];
	return &sh->large[h];
}

static uint64_t tag_of(uint64_t lin, unsigned shift, uint64_t owner)
{
	return ((lin >> shift) << 6 | shift) ^ owner * 0xc2b2ae3d27d4eb4full;
}

/* Whether every table the entry was read through is still as it was. */
static bool tables_unchanged(const struct bt_vm *bvm, const struct bt_shadow_entry *e)
{
	for (unsigned k = 0; k < e->nr_tables; k++) {
		uint64_t s = atomic_load_explicit(&bvm->pt_state[e->pfn[k]], memory_order_acquire);
		if (!(s & BT_PT_WATCHED) || (uint32_t)s != e->gen[k])
			return false;
	}
	return true;
}

static const struct bt_shadow_entry *probe(struct bt_cpu *cpu, uint64_t lin, unsigned shift,
					   uint64_t owner)
{
	uint64_t *tag;
	struct bt_shadow_entry *e = slot(&bt_vcpu_of(cpu)->shadow, lin, shift, owner, &tag);

	if (*tag != tag_of(lin, shift, owner))
		return NULL;
	if (e->owner != owner || e->shift != shift || e->lin != (lin & ~((1ull << shift) - 1)))
		return NULL;
	if (!tables_unchanged(cpu->bvm, e)) {
		stat_add(&cpu->stats.shadow_stale, 1);
		e->owner = 0;
		*tag = 0;
		return NULL;
	}
	return e;
}

bool bt_walk_allows(const struct bt_walk *w, enum bt_access acc, bool user, bool wp)
{
	if (user && !w->user)
		return false;
	switch (acc) {
	case BT_WRITE:
		return (w->write || (!user && !wp)) && w->dirty;
	case BT_EXEC:
		return w->exec;
	default:
		return true;
	}
}

bool bt_shadow_lookup(struct bt_cpu *cpu, uint64_t lin, enum bt_access acc, int tlb,
		      struct bt_walk *w)
{
	struct bt_shadow *sh = &bt_vcpu_of(cpu)->shadow;
	uint64_t root = cur_root(cpu, sh), glob = sh->global_id;
	/* Large pages: 2 MiB (4 MiB without PAE), 1 GiB in IA-32e mode. */
	unsigned mid = (cpu->s.cr4 & CR4_PAE) ? 21 : 22;
	bool huge = cpu->s.efer & EFER_LMA;
	/* Kernels map their half global (and mostly with large pages): look there first. */
	uint64_t first = (lin >> 63) ? glob : root, second = (lin >> 63) ? root : glob;
	const struct bt_shadow_entry *e;

	if (!(e = probe(cpu, lin, 12, first)) && !(e = probe(cpu, lin, mid, first)) &&
	    !(huge && (e = probe(cpu, lin, 30, first))) && !(e = probe(cpu, lin, 12, second)) &&
	    !(e = probe(cpu, lin, mid, second)) && !(huge && (e = probe(cpu, lin, 30, second))))
		return false;
	*w = (struct bt_walk){ .gpa = e->gpa + ((lin - e->lin) & BT_PAGE_MASK), .user = e->user,
			       .write = e->write, .exec = e->exec, .dirty = e->dirty,
			       .global = e->global, .shift = e->shift };
	/* Not allowed: the walk raises the fault (or sets D for a first write). */
	if (!bt_walk_allows(w, acc, tlb == BT_TLB_USER, cpu->s.cr0 & CR0_WP))
		return false;
	stat_add(&cpu->stats.shadow_hits, 1);
	return true;
}

void bt_shadow_store(struct bt_cpu *cpu, uint64_t lin, const struct bt_walk *w)
{
	struct bt_shadow *sh = &bt_vcpu_of(cpu)->shadow;
	uint64_t root = cur_root(cpu, sh);
	uint64_t owner = w->global ? sh->global_id : root;
	uint64_t size_mask = (1ull << w->shift) - 1, *tag;
	struct bt_shadow_entry *e = slot(sh, lin, w->shift, owner, &tag);

	*e = (struct bt_shadow_entry){ .lin = lin & ~size_mask,
				       .gpa = w->gpa - ((lin & size_mask) & BT_PAGE_MASK),
				       .owner = owner, .nr_tables = w->nr_tables,
				       .shift = w->shift, .user = w->user, .write = w->write,
				       .exec = w->exec, .dirty = w->dirty, .global = w->global };
	memcpy(e->pfn, w->pfn, sizeof(e->pfn));
	memcpy(e->gen, w->gen, sizeof(e->gen));
	*tag = tag_of(lin, w->shift, owner);
}

void bt_shadow_invalidate_lin(struct bt_cpu *cpu, uint64_t lin)
{
	struct bt_shadow *sh = &bt_vcpu_of(cpu)->shadow;
	uint64_t owners[2] = { cur_root(cpu, sh), sh->global_id };
	static const unsigned shifts[] = { 12, 21, 22, 30 };

	for (unsigned o = 0; o < 2; o++)
		for (unsigned k = 0; k < sizeof(shifts) / sizeof(shifts[0]); k++) {
			uint64_t *tag;
			struct bt_shadow_entry *e = slot(sh, lin, shifts[k], owners[o], &tag);
			if (e->owner == owners[o] && e->shift == shifts[k] &&
			    e->lin == (lin & ~((1ull << shifts[k]) - 1)))
				e->owner = *tag = 0;
		}
}
