/* Guest RAM: one memfd mapped once; low RAM below the 3 GiB hole, the rest from 4 GiB. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem.h"

int mem_init(struct guest_mem *m, uint64_t size)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (size < MEM_MIN || size > MEM_MAX)
		return -EINVAL;

	int fd = memfd_create("vmon-ram", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	size_t chunks = (size_t)((size + (1ull << MEM_CHUNK_SHIFT) - 1) >> MEM_CHUNK_SHIFT);
	atomic_uchar *populated = calloc(chunks, sizeof(*populated));
	void *p = populated ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
				   fd, 0) : MAP_FAILED;
	if (p == MAP_FAILED) {
		int err = populated ? errno : ENOMEM;
		free(populated);
		close(fd);
		return -err;
	}
	/* Only a hint: fewer TLB misses for the guest when THP is enabled for shmem. */
	madvise(p, size, MADV_HUGEPAGE);
	m->dirty = malloc(sizeof(*m->dirty));
	if (!m->dirty || dirty_bitmap_init(m->dirty, size >> DIRTY_PAGE_SHIFT) < 0) {
		free(m->dirty);
		m->dirty = NULL;
		munmap(p, size);
		close(fd);
		return -ENOMEM;
	}

	m->fd = fd;
	m->base = p;
	m->populated = populated;
	m->size = size;

	uint64_t low = size < MEM_HOLE_START ? size : MEM_HOLE_START;
	m->region[0] = (struct mem_region){ .gpa = 0, .size = low, .hva = m->base };
	m->nr_regions = 1;
	if (size > low) {
		m->region[1] = (struct mem_region){
			.gpa = MEM_HOLE_END, .size = size - low, .hva = m->base + low,
		};
		m->nr_regions = 2;
	}
	return 0;
}

void mem_destroy(struct guest_mem *m)
{
	if (m->base)
		munmap(m->base, m->size);
	if (m->fd >= 0)
		close(m->fd);
	if (m->dirty) {
		dirty_bitmap_free(m->dirty);
		free(m->dirty);
	}
	free(m->populated);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

void host_populate(void *p, size_t len)
{
	uintptr_t start = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
	uintptr_t end = ((uintptr_t)p + len) & ~(uintptr_t)4095;

	if (end > start)
		madvise((void *)start, end - start, MADV_POPULATE_WRITE);
}

/* Only a hint: a kernel without MADV_POPULATE_WRITE (before 5.14) faults pages in one by one
 * as before. Several threads may populate one chunk at once; the second call finds the pages. */
void mem_populate_chunk(const struct guest_mem *m, size_t chunk)
{
	uint64_t off = (uint64_t)chunk << MEM_CHUNK_SHIFT;
	uint64_t len = m->size - off < (1ull << MEM_CHUNK_SHIFT) ? m->size - off :
		       1ull << MEM_CHUNK_SHIFT;

	madvise(m->base + off, len, MADV_POPULATE_WRITE);
	atomic_store_explicit(&m->populated[chunk], 1, memory_order_relaxed);
}

void mem_populate_off(struct guest_mem *m)
{
	size_t chunks = (size_t)((m->size + (1ull << MEM_CHUNK_SHIFT) - 1) >> MEM_CHUNK_SHIFT);

	for (size_t i = 0; i < chunks; i++)
		atomic_store_explicit(&m->populated[i], 1, memory_order_relaxed);
}

void mem_populate_range(const struct guest_mem *m, const uint8_t *hva, uint64_t len)
{
	if (!len)
		return;
	for (uint64_t done = 0; done < len; done += 1ull << MEM_CHUNK_SHIFT)
		mem_populate(m, hva + done);
	mem_populate(m, hva + len - 1);	/* hva need not start a chunk */
}

/* A range may span both regions only if it crosses the hole, which is not RAM: so one
 * gpa_to_hva() lookup decides. */
int mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len)
{
	if (len == 0)
		return 0;
	uint8_t *p = gpa_to_hva(m, gpa, len);
	if (!p)
		return -1;
	mem_populate_range(m, p, len);
	memcpy(p, src, len);
	mem_mark_dirty(m, gpa, len);
	return 0;
}

void mem_mark_dirty(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	const uint8_t *p = len ? gpa_to_hva(m, gpa, len) : NULL;

	if (!p || !m->dirty)
		return;
	uint64_t off = (uint64_t)(p - m->base);
	uint64_t first = off >> DIRTY_PAGE_SHIFT;
	uint64_t last = (off + len - 1) >> DIRTY_PAGE_SHIFT;

	dirty_bitmap_mark(m->dirty, first, last - first + 1);
}

int mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
	if (len == 0)
		return 0;
	const uint8_t *p = gpa_to_hva(m, gpa, len);
	if (!p)
		return -1;
	memcpy(dst, p, len);
	return 0;
}
