/* bt engine MMU: segmentation to linear (bt_linear), guest page walks in the three paging
 * forms, the soft TLB in front of the shadow page tables that keep their results (shadow.c),
 * and the slow paths (MMIO, page-straddling accesses, writes to pages that hold decoded code
 * or page tables).
 *
 * Choices where the guest is hostile or the SDM leaves room:
 * - Paging-structure memory outside guest RAM faults with #PF(RSVD), as if it read as all-ones.
 * - A leaf that maps a non-RAM frame is an MMIO page: every access takes the slow path to
 *   vm_mmio(). Executing from such a page stops the vCPU (bt_shutdown) with a message.
 * - PAE PDPTEs are walked on every TLB miss instead of being loaded at MOV CR3 time; reserved
 *   bits in them fault with #PF(RSVD) at use rather than #GP at the CR3 write.
 * - 32-bit paging without PSE-36: bits 21:13 of a 4 MiB PDE are reserved.
 */
#include <string.h>

#include "engine/bt/sys/btsys.h"
#include "hw/irqchip.h"
#include "mem.h"
#include "vm.h"

/* Page-table entry bits. */
#define PTE_P	(1ull << 0)
#define PTE_W	(1ull << 1)
#define PTE_U	(1ull << 2)
#define PTE_A	(1ull << 5)
#define PTE_D	(1ull << 6)
#define PTE_PS	(1ull << 7)
#define PTE_G	(1ull << 8)
#define PTE_NX	(1ull << 63)

/* #PF error code bits. */
#define PFEC_P		(1u << 0)
#define PFEC_W		(1u << 1)
#define PFEC_U		(1u << 2)
#define PFEC_RSVD	(1u << 3)
#define PFEC_I		(1u << 4)

/* Reserved physical-address bits of a PAE / 4-level entry (51:MAXPHYADDR). */
#define PTE_RSVD_PHYS	(0x000fffffffffffffull & ~BT_PHYS_MASK)
#define PTE_ADDR_MASK	(BT_PHYS_MASK & BT_PAGE_MASK)

/* Entry flag kept beside the tags: survives a CR3 write when CR4.PGE. */
#define TLBF_GLOBAL	1u
#define TLBF_LARGE	2u	/* from a 2M/4M/1G page: INVLPG of any address in it drops it */
#define TLBF_MMIO	4u
#define TLBF_LISTED	8u	/* in cpu->tlb_used */
#define TLBF_ROM	16u	/* with TLBF_MMIO: firmware ROM, fetched through addend (mem.h) */

static void pf(struct bt_cpu *cpu, uint64_t lin, uint32_t err)
{
	cpu->s.cr2 = lin;
	bt_raise(cpu, EXC_PF, err);
}

/* Host pointer to the paging-structure entry at gpa, or NULL when the table is not in RAM.
 * The table's page is recorded in w and write-protected from now on (shadow.c), its
 * generation read before the entry is. */
static void *pte_ptr(struct bt_cpu *cpu, struct bt_walk *w, uint64_t gpa, unsigned size)
{
	void *p = gpa_to_hva(&cpu->vm->mem, gpa, size);

	if (p) {
		w->pfn[w->nr_tables] = (uint32_t)(gpa >> 12);
		w->gen[w->nr_tables++] = bt_shadow_watch(cpu, gpa >> 12);
	}
	return p;
}

static uint64_t pte_load(void *p, unsigned size)
{
	if (size == 4)
		return __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED);
	return __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED);
}

/* Set A/D as hardware does: atomically, other vCPUs walk the same tables. Page tables are
 * write-protected, so a guest's LOCKed read-modify-write of an entry is emulated under
 * atomic_lock: take it too, or the emulation could overwrite the bits set here. */
static void pte_set(struct bt_cpu *cpu, void *p, unsigned size, uint64_t old, uint64_t bits)
{
	if ((old & bits) == bits)
		return;
	pthread_mutex_lock(&cpu->bvm->atomic_lock);
	if (size == 4)
		__atomic_fetch_or((uint32_t *)p, (uint32_t)bits, __ATOMIC_RELAXED);
	else
		__atomic_fetch_or((uint64_t *)p, bits, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&cpu->bvm->atomic_lock);
	bt_dirty_host(cpu, p);
}

/* Walk lin's translation for an access acc made with user (CPL 3) or supervisor privilege.
 * Fills *w with the permissions of the whole path (so one walk fills read, write and exec
 * tags) and the tables read, or raises #PF. Sets A on every level, and D on the leaf for a
 * write. */
static void walk(struct bt_cpu *cpu, uint64_t lin, enum bt_access acc, bool user,
		 struct bt_walk *w)
{
	const struct cpu_state *s = &cpu->s;
	bool nxe = s->efer & EFER_NXE;
	bool pae = s->cr4 & CR4_PAE;
	bool lma = s->efer & EFER_LMA;
	uint32_t err = (acc == BT_WRITE ? PFEC_W : 0) | (user ? PFEC_U : 0) |
		       (acc == BT_EXEC && nxe && pae ? PFEC_I : 0);
	unsigned esize = pae ? 8 : 4;
	uint64_t rsvd_nx = nxe ? 0 : PTE_NX;
	uint64_t table, entry = 0;
	void *leaf = NULL;
	int level, shift;

	stat_add(&cpu->stats.page_walks, 1);
	w->user = w->write = w->exec = true;
	w->global = false;
	w->nr_tables = 0;

	if (lma) {
		table = s->cr3 & PTE_ADDR_MASK;
		level = 4;
	} else if (pae) {
		/* PDPTE: 4 entries at CR3[31:5], no U/W/NX/A bits. */
		uint64_t gpa = (s->cr3 & 0xffffffe0ull) + ((lin >> 30) & 3) * 8;
		void *p = pte_ptr(cpu, w, gpa, 8);
		if (!p)
			pf(cpu, lin, err | PFEC_P | PFEC_RSVD);
		entry = pte_load(p, 8);
		if (!(entry & PTE_P))
			pf(cpu, lin, err);
		if (entry & (PTE_RSVD_PHYS | PTE_NX | 0x1e6ull))
			pf(cpu, lin, err | PFEC_P | PFEC_RSVD);
		table = entry & PTE_ADDR_MASK;
		level = 2;
	} else {
		table = s->cr3 & 0xfffff000ull;
		level = 2;
	}

	for (;; level--) {
		shift = pae ? 12 + 9 * (level - 1) : 12 + 10 * (level - 1);
		uint64_t idx = (lin >> shift) & (pae ? 0x1ff : 0x3ff);
		void *p = pte_ptr(cpu, w, table + idx * esize, esize);
		if (!p)
			pf(cpu, lin, err | PFEC_P | PFEC_RSVD);
		entry = pte_load(p, esize);
		if (!(entry & PTE_P))
			pf(cpu, lin, err);

		bool ps = level > 1 && (entry & PTE_PS);
		uint64_t rsvd = 0;
		if (pae) {
			rsvd = PTE_RSVD_PHYS | rsvd_nx;
			if (level == 4)
				rsvd |= PTE_PS;		/* no 512 GiB pages */
			else if (level == 3 && ps)
				rsvd |= 0x3fffe000ull;	/* 1 GiB page: address bits 29:13 */
			else if (level == 2 && ps)
				rsvd |= 0x1fe000ull;	/* 2 MiB page: bits 20:13 */
		} else if (level == 2 && ps && (s->cr4 & CR4_PSE)) {
			rsvd = 0x3fe000ull;		/* 4 MiB page without PSE-36 */
		}
		if (entry & rsvd)
			pf(cpu, lin, err | PFEC_P | PFEC_RSVD);
		if (!pae && level == 2 && !(s->cr4 & CR4_PSE))
			ps = false;

		w->user &= !!(entry & PTE_U);
		w->write &= !!(entry & PTE_W);
		if (nxe && pae)
			w->exec &= !(entry & PTE_NX);

		if (level == 1 || ps) {
			leaf = p;
			uint64_t size_mask = (1ull << shift) - 1;
			if (pae)
				w->gpa = (entry & PTE_ADDR_MASK & ~size_mask) | (lin & size_mask);
			else
				w->gpa = (entry & 0xfffff000ull & ~size_mask) | (lin & size_mask);
			w->gpa &= BT_PAGE_MASK;
			w->global = (entry & PTE_G) && (s->cr4 & CR4_PGE);
			w->shift = (uint8_t)shift;
			break;
		}
		pte_set(cpu, p, esize, entry, PTE_A);
		table = entry & (pae ? PTE_ADDR_MASK : 0xfffff000ull);
	}

	/* Permission checks (no SMEP/SMAP: they are not advertised). */
	bool ok;
	switch (acc) {
	case BT_WRITE:
		ok = w->write ? (!user || w->user) : (!user && !(s->cr0 & CR0_WP));
		break;
	case BT_EXEC:
		ok = w->exec && (!user || w->user);
		break;
	default:
		ok = !user || w->user;
		break;
	}
	if (!ok)
		pf(cpu, lin, err | PFEC_P);
	pte_set(cpu, leaf, esize, entry, PTE_A | (acc == BT_WRITE ? PTE_D : 0));
	/* Without D no TLB entry allows writes: the first write comes back here to set it. */
	w->dirty = acc == BT_WRITE || (entry & PTE_D);
}

static bool page_has_code(struct bt_vm *bvm, uint64_t gpa_page)
{
	uint64_t pfn = gpa_page >> 12;
	return pfn < bvm->nr_pages && atomic_load_explicit(&bvm->page_gen[pfn], memory_order_relaxed);
}

/* Stores to the page must take the slow path: it holds decoded code or page tables. */
static bool page_watched(struct bt_vm *bvm, uint64_t gpa_page)
{
	return page_has_code(bvm, gpa_page) || bt_shadow_watched(bvm, gpa_page);
}

struct bt_tlb_entry *bt_translate(struct bt_cpu *cpu, uint64_t lin, enum bt_access acc, int tlb)
{
	uint64_t page = lin & BT_PAGE_MASK;
	struct bt_tlb_entry *e = &cpu->tlb[tlb][bt_tlb_index(lin)];
	uint64_t tag = acc == BT_READ ? e->tag_read : acc == BT_WRITE ? e->tag_write : e->tag_exec;

	if ((tag & ~TLB_SLOW) == page)
		return e;

	struct bt_walk w;
	bool user = tlb == BT_TLB_USER;
	stat_add(&cpu->stats.tlb_misses, 1);
	if (!(cpu->s.cr0 & CR0_PG)) {
		w = (struct bt_walk){ .gpa = page & 0xffffffffull, .user = true, .write = true,
				      .exec = true, .dirty = true, .shift = 12 };
	} else if (!bt_shadow_lookup(cpu, lin, acc, tlb, &w)) {
		walk(cpu, lin, acc, user, &w);
		bt_shadow_store(cpu, lin, &w);
	}

	/* A relocated xAPIC page hides the RAM under it. */
	uint64_t apic = bt_vcpu_of(cpu)->apic_page;
	uint8_t *hva = apic && w.gpa == apic ? NULL : gpa_to_hva(&cpu->vm->mem, w.gpa, BT_PAGE);
	const uint8_t *rom = hva ? NULL : gpa_to_rom(&cpu->vm->mem, w.gpa, BT_PAGE);
	uint64_t slow = hva ? 0 : TLB_SLOW;
	if (hva)
		mem_populate(&cpu->vm->mem, hva);
	if (!(e->flags & TLBF_LISTED))
		cpu->tlb_used[cpu->tlb_nr_used++] = (uint16_t)(tlb << BT_TLB_BITS | bt_tlb_index(lin));
	e->gpa_page = w.gpa;
	e->flags = (w.global ? TLBF_GLOBAL : 0) | (w.shift > 12 ? TLBF_LARGE : 0) |
		   (hva ? 0 : TLBF_MMIO) | (rom ? TLBF_ROM : 0) | TLBF_LISTED;
	e->addend = hva ? (uintptr_t)hva - (uintptr_t)page : rom ? (uintptr_t)rom - (uintptr_t)page : 0;
	e->tag_read = page | slow;
	e->tag_exec = w.exec ? page | slow : TLB_INVALID;
	if (bt_walk_allows(&w, BT_WRITE, user, cpu->s.cr0 & CR0_WP))
		e->tag_write = page | slow | (page_watched(cpu->bvm, w.gpa) ? TLB_SLOW : 0);
	else
		e->tag_write = TLB_INVALID;
	if (hva && e->tag_write != TLB_INVALID)
		bt_dirty_fill(cpu, e, acc);
	if (__builtin_expect(cpu->dbg_data, 0)) {
		/* Data breakpoints in the page: its accesses take the slow path, which checks. */
		if (bt_dbg_page_watched(cpu, page, false))
			e->tag_read |= TLB_SLOW;
		if (e->tag_write != TLB_INVALID && bt_dbg_page_watched(cpu, page, true))
			e->tag_write |= TLB_SLOW;
	}
	return e;
}

/* ---- Slow paths ---------------------------------------------------------------------------- */

/* The device at gpa: this CPU's relocated xAPIC page, or the bus. */
static void mmio(struct bt_cpu *cpu, uint64_t gpa, unsigned size, bool write, uint64_t *val)
{
	uint64_t page = bt_vcpu_of(cpu)->apic_page;

	if (page && (gpa & BT_PAGE_MASK) == page &&
	    lapic_mmio_relocated(bt_lapic(cpu), gpa, size, write, val))
		return;
	vm_mmio(cpu->vcpu, gpa, size, write, val);
}

/* One part of an access that lies within one page, already translated. */
static uint64_t read_part(struct bt_cpu *cpu, const struct bt_tlb_entry *e, uint64_t lin,
			  unsigned size)
{
	uint64_t gpa = e->gpa_page | (lin & (BT_PAGE - 1));
	uint64_t v = 0;

	if (!(e->flags & TLBF_MMIO))
		return bt_host_load((const uint8_t *)(uintptr_t)(lin + e->addend), size);
	if (size == 1 || size == 2 || size == 4 || size == 8) {
		mmio(cpu, gpa, size, false, &v);
		return size == 8 ? v : v & ((1ull << (size * 8)) - 1);
	}
	for (unsigned k = 0; k < size; k++) {
		uint64_t b = 0;
		mmio(cpu, gpa + k, 1, false, &b);
		v |= (b & 0xff) << (8 * k);
	}
	return v;
}

static void write_part(struct bt_cpu *cpu, const struct bt_tlb_entry *e, uint64_t lin,
		       unsigned size, uint64_t val)
{
	uint64_t gpa = e->gpa_page | (lin & (BT_PAGE - 1));

	if (e->flags & TLBF_MMIO) {
		if (size == 1 || size == 2 || size == 4 || size == 8) {
			mmio(cpu, gpa, size, true, &val);
			return;
		}
		for (unsigned k = 0; k < size; k++) {
			uint64_t b = (val >> (8 * k)) & 0xff;
			mmio(cpu, gpa + k, 1, true, &b);
		}
		return;
	}
	bt_host_store((uint8_t *)(uintptr_t)(lin + e->addend), size, val);
	bt_page_stored(cpu, e->gpa_page, size);
}

void bt_page_stored(struct bt_cpu *cpu, uint64_t gpa_page, unsigned len)
{
	if (page_has_code(cpu->bvm, gpa_page)) {
		bt_code_written(cpu->bvm, gpa_page);
		cpu->end_block = true;
	}
	if (bt_shadow_watched(cpu->bvm, gpa_page))
		bt_shadow_write_trap(cpu, gpa_page, len);
}

uint8_t *bt_bulk_ptr(struct bt_cpu *cpu, uint64_t lin, enum bt_access acc, uint64_t *gpa_page)
{
	const struct bt_tlb_entry *e = bt_translate(cpu, lin, acc, bt_cur_tlb(cpu));

	if ((e->flags & TLBF_MMIO) ||
	    (cpu->dbg_data && bt_dbg_page_watched(cpu, lin & BT_PAGE_MASK, acc == BT_WRITE)))
		return NULL;
	if (gpa_page)
		*gpa_page = e->gpa_page;
	return (uint8_t *)(uintptr_t)(lin + e->addend);
}

uint64_t bt_read_lin_slow(struct bt_cpu *cpu, uint64_t lin, unsigned size, int tlb)
{
	unsigned first = (unsigned)(BT_PAGE - (lin & (BT_PAGE - 1)));

	stat_add(&cpu->stats.tlb_hits_slowpath, 1);
	if (cpu->dbg_data)
		bt_dbg_data_access(cpu, lin, size, false);

	if (first >= size)
		return read_part(cpu, bt_translate(cpu, lin, BT_READ, tlb), lin, size);

	/* Straddles two pages: both must translate before anything is read (MMIO reads have
	 * side effects). The second page wraps at 4 GiB outside long mode. */
	uint64_t lin2 = lin + first;
	if (cpu->mode != BT_MODE_LONG)
		lin2 &= 0xffffffffull;
	struct bt_tlb_entry *e1 = bt_translate(cpu, lin, BT_READ, tlb);
	struct bt_tlb_entry e1c = *e1;		/* e2 may evict it (same TLB index) */
	struct bt_tlb_entry *e2 = bt_translate(cpu, lin2, BT_READ, tlb);
	uint64_t lo = read_part(cpu, &e1c, lin, first);
	uint64_t hi = read_part(cpu, e2, lin2, size - first);
	return lo | hi << (8 * first);
}

void bt_write_lin_slow(struct bt_cpu *cpu, uint64_t lin, unsigned size, uint64_t val, int tlb)
{
	unsigned first = (unsigned)(BT_PAGE - (lin & (BT_PAGE - 1)));

	stat_add(&cpu->stats.tlb_hits_slowpath, 1);
	if (cpu->dbg_data)
		bt_dbg_data_access(cpu, lin, size, true);

	if (first >= size) {
		write_part(cpu, bt_translate(cpu, lin, BT_WRITE, tlb), lin, size, val);
		return;
	}
	uint64_t lin2 = lin + first;
	if (cpu->mode != BT_MODE_LONG)
		lin2 &= 0xffffffffull;
	struct bt_tlb_entry *e1 = bt_translate(cpu, lin, BT_WRITE, tlb);
	struct bt_tlb_entry e1c = *e1;
	struct bt_tlb_entry *e2 = bt_translate(cpu, lin2, BT_WRITE, tlb);
	write_part(cpu, &e1c, lin, first, val);
	write_part(cpu, e2, lin2, size - first, val >> (8 * first));
}

void *bt_rmw_ptr(struct bt_cpu *cpu, int seg, uint64_t off, unsigned size)
{
	int tlb = bt_cur_tlb(cpu);
	uint64_t lin = bt_linear(cpu, seg, off, size, BT_WRITE);
	unsigned first = (unsigned)(BT_PAGE - (lin & (BT_PAGE - 1)));

	struct bt_tlb_entry *e = bt_translate(cpu, lin, BT_WRITE, tlb);
	if (first < size) {
		/* Fault on either page before the caller's locked emulation writes anything. */
		uint64_t lin2 = lin + first;
		if (cpu->mode != BT_MODE_LONG)
			lin2 &= 0xffffffffull;
		bt_translate(cpu, lin2, BT_WRITE, tlb);
		return NULL;
	}
	/* Code and page-table pages go through bt_write_lin_slow too, which invalidates decoded
	 * blocks and shadow entries after the store rather than before it. */
	if ((e->flags & TLBF_MMIO) || page_watched(cpu->bvm, e->gpa_page) ||
	    (cpu->dbg_data && bt_dbg_page_watched(cpu, lin & BT_PAGE_MASK, true)))
		return NULL;
	return (void *)(uintptr_t)(lin + e->addend);
}

const uint8_t *bt_fetch_page(struct bt_cpu *cpu, uint64_t lin, uint64_t *gpa_page)
{
	int tlb = bt_cur_tlb(cpu);
	struct bt_tlb_entry *e = &cpu->tlb[tlb][bt_tlb_index(lin)];

	/* Called for every block the interpreter enters: the hit must stay cheap. */
	if (e->tag_exec != (lin & BT_PAGE_MASK))
		e = bt_translate(cpu, lin, BT_EXEC, tlb);
	if ((e->flags & (TLBF_MMIO | TLBF_ROM)) == TLBF_MMIO)
		bt_shutdown(cpu, "instruction fetch from a guest-physical page that is not RAM");
	*gpa_page = e->gpa_page;
	return (const uint8_t *)(uintptr_t)((lin & BT_PAGE_MASK) + e->addend);
}

/* ---- Flushes -------------------------------------------------------------------------------- */

/* Drops the translation; the entry stays in cpu->tlb_used if it was there. */
static void entry_invalidate(struct bt_tlb_entry *e)
{
	e->tag_read = e->tag_write = e->tag_exec = TLB_INVALID;
	e->flags &= TLBF_LISTED;
}

static struct bt_tlb_entry *used_entry(struct bt_cpu *cpu, unsigned k)
{
	unsigned u = cpu->tlb_used[k];

	return &cpu->tlb[u >> BT_TLB_BITS][u & (BT_TLB_SIZE - 1)];
}

void bt_tlb_init(struct bt_cpu *cpu)
{
	/* A zeroed entry's tags of 0 would match page 0. */
	for (int t = 0; t < BT_TLB_NR; t++)
		for (unsigned k = 0; k < BT_TLB_SIZE; k++) {
			entry_invalidate(&cpu->tlb[t][k]);
			cpu->tlb[t][k].flags = 0;
		}
	cpu->tlb_nr_used = 0;
}

void bt_tlb_flush(struct bt_cpu *cpu, bool include_global)
{
	unsigned kept = 0;

	stat_add(&cpu->stats.tlb_flushes, 1);
	cpu->tlb_gen_seen = atomic_load(&cpu->bvm->tlb_gen);
	/* Only entries filled since the last flush (or kept by it) can hold a translation. */
	for (unsigned k = 0; k < cpu->tlb_nr_used; k++) {
		struct bt_tlb_entry *e = used_entry(cpu, k);
		if ((e->flags & TLBF_GLOBAL) && !include_global) {
			cpu->tlb_used[kept++] = cpu->tlb_used[k];
		} else {
			entry_invalidate(e);
			e->flags = 0;
		}
	}
	cpu->tlb_nr_used = kept;
	/* The shadows need no flush: they follow the page tables. Only the global set depends
	 * on the paging mode. */
	if (include_global)
		bt_shadow_flush_global(cpu);
}

void bt_tlb_flush_page(struct bt_cpu *cpu, uint64_t lin)
{
	/* A large page is cached as many 4 KiB entries: INVLPG anywhere in it must drop them
	 * all, and the entries do not remember the page size, so drop every one. */
	for (unsigned k = 0; k < cpu->tlb_nr_used; k++) {
		struct bt_tlb_entry *e = used_entry(cpu, k);
		if (e->flags & TLBF_LARGE)
			entry_invalidate(e);
	}
	for (int t = 0; t < BT_TLB_NR; t++)
		entry_invalidate(&cpu->tlb[t][bt_tlb_index(lin)]);
	/* The shadow is coherent already; dropping lin costs little and makes INVLPG a sure way
	 * to have the tables read again. */
	if (cpu->s.cr0 & CR0_PG)
		bt_shadow_invalidate_lin(cpu, lin);
}

void bt_tlb_drop_gpa(struct bt_cpu *cpu, uint64_t gpa_page, bool release)
{
	for (unsigned k = 0; k < cpu->tlb_nr_used; k++) {
		struct bt_tlb_entry *e = used_entry(cpu, k);
		if (e->gpa_page != gpa_page || e->tag_read == TLB_INVALID)
			continue;
		if (release)
			entry_invalidate(e);
		else if (e->tag_write != TLB_INVALID)
			e->tag_write |= TLB_SLOW;
	}
}

/* ---- Segmentation ------------------------------------------------------------------------- */

_Noreturn static void seg_fault(struct bt_cpu *cpu, int seg)
{
	bt_raise(cpu, seg == S_SS ? EXC_SS : EXC_GP, 0);
}

bool bt_seg_ok(const struct seg_reg *s, uint64_t off, unsigned size, enum bt_access acc)
{
	uint32_t attr = s->attr;
	uint64_t last = off + size - 1;
	unsigned type = SEG_TYPE(attr);

	if (attr & SEG_UNUSABLE)
		return false;
	if (type & 8) {
		/* Code segment: never writable, readable only with R (fetches are always fine). */
		if (acc == BT_WRITE || (acc == BT_READ && !(type & 2)))
			return false;
	} else {
		if (acc == BT_WRITE && !(type & 2))
			return false;
		if (type & 4) {
			/* Expand-down: valid offsets are (limit, 0xffff or 0xffffffff]. */
			uint64_t upper = (attr & SEG_DB) ? 0xffffffffull : 0xffffull;
			return off > s->limit && last <= upper && last >= off;
		}
	}
	return last <= s->limit;
}

void bt_noncanonical(struct bt_cpu *cpu, int seg)
{
	seg_fault(cpu, seg);
}

uint64_t bt_linear_legacy(struct bt_cpu *cpu, int seg, uint64_t off, unsigned size,
			  enum bt_access acc)
{
	const struct seg_reg *s = &cpu->s.seg[seg];

	if (cpu->mode == BT_MODE_REAL || cpu->mode == BT_MODE_V86) {
		if (off + size - 1 > s->limit)
			seg_fault(cpu, seg);
	} else if (!bt_seg_ok(s, off, size, acc)) {
		seg_fault(cpu, seg);
	}
	return (s->base + off) & 0xffffffffull;
}
