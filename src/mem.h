/* Guest RAM: one memfd, mapped once, split around the 32-bit MMIO hole.
 *
 * The memfd lets snapshot/migration map the same pages; the hole below 4 GiB holds
 * the LAPIC, IOAPIC and PCI windows, so RAM beyond MEM_HOLE_START continues at 4 GiB.
 */
#ifndef VMON_MEM_H
#define VMON_MEM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "dirty.h"

#define MEM_HOLE_START	0xc0000000ull	/* 3 GiB: start of the 32-bit MMIO hole */
#define MEM_HOLE_END	0x100000000ull	/* 4 GiB */
#define MEM_MIN		(1ull << 20)
#define MEM_MAX		(64ull << 30)
#define MEM_CHUNK_SHIFT	21	/* populated together on first use: 2 MiB */

struct mem_region {
	uint64_t gpa;		/* guest-physical start */
	uint64_t size;
	uint8_t *hva;		/* host address of gpa */
};

struct guest_mem {
	int fd;			/* memfd backing all of guest RAM */
	uint8_t *base;		/* host mapping of the whole memfd */
	uint64_t size;		/* total RAM bytes */
	int nr_regions;
	struct mem_region region[2];
	struct dirty_bitmap *dirty;	/* pages written while logging (dirty.h) */
	/* A firmware image at [rom_gpa, rom_gpa + rom_size) (src/boot/firmware.c): readable and
	 * executable, not RAM (writes to it are dropped by its MMIO handler). */
	const uint8_t *rom;
	uint64_t rom_gpa, rom_size;
	atomic_uchar *populated;	/* per chunk of the memfd: its pages are allocated */
};

/* Returns 0, or -errno with nothing left allocated. */
int mem_init(struct guest_mem *m, uint64_t size);
void mem_destroy(struct guest_mem *m);

/* Host pointer for [gpa, gpa+len) if that range lies entirely in guest RAM, else NULL.
 * Every access the guest can steer goes through here (or the bt engine's TLB, filled from here). */
static inline uint8_t *gpa_to_hva(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < m->nr_regions; i++) {
		const struct mem_region *r = &m->region[i];
		if (gpa >= r->gpa && len <= r->size && gpa - r->gpa <= r->size - len)
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

/* Host pointer to the ROM's bytes at [gpa, gpa+len), or NULL if the range is not all ROM. For
 * the engines' instruction fetch; data accesses go through the ROM's MMIO handler. */
static inline const uint8_t *gpa_to_rom(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (m->rom && gpa >= m->rom_gpa && len <= m->rom_size && gpa - m->rom_gpa <= m->rom_size - len)
		return m->rom + (gpa - m->rom_gpa);
	return NULL;
}

void mem_populate_chunk(const struct guest_mem *m, size_t chunk);
/* Leaves the pages to the kernel's faults from now on (an engine whose guest RAM the kernel
 * faults in anyway, kvm): every chunk counts as populated. */
void mem_populate_off(struct guest_mem *m);

/* Allocates the host pages wholly inside [p, p + len) of vmon's own memory in one call: a
 * first-touch page fault costs 25-50 us on a PVM host, MADV_POPULATE_WRITE about 1-3 us a page.
 * Only a hint (kernels before 5.14 fault pages in as before). */
void host_populate(void *p, size_t len);

/* The host allocates guest RAM a page at a time on first touch, one page fault each, which
 * costs more than allocating a whole chunk in one call: whoever is about to touch RAM at hva
 * (a pointer into m->base) calls this first. */
static inline void mem_populate(const struct guest_mem *m, const uint8_t *hva)
{
	size_t chunk = (size_t)(hva - m->base) >> MEM_CHUNK_SHIFT;

	if (!atomic_load_explicit(&m->populated[chunk], memory_order_relaxed))
		mem_populate_chunk(m, chunk);
}

/* The same for [hva, hva + len), a range inside m->base. */
void mem_populate_range(const struct guest_mem *m, const uint8_t *hva, uint64_t len);

/* vmon itself wrote [gpa, gpa+len) of guest RAM (device DMA, loaders): mark it for the dirty
 * log. mem_write does it; anything writing through a gpa_to_hva pointer calls it after the
 * write. Outside RAM or while not logging: nothing. */
void mem_mark_dirty(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Copy to/from guest RAM; -1 if any byte is outside RAM (nothing copied). mem_write marks the
 * pages dirty. */
int mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len);
int mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len);

#endif
