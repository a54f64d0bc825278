/* Guest RAM layout around the 3-4 GiB hole and gpa_to_hva bounds. */
#include <sys/mman.h>
#include <unistd.h>

#include "mem.h"
#include "test.h"

TEST(mem_small_is_one_region)
{
	struct guest_mem m;

	CHECK(mem_init(&m, 64ull << 20) == 0);
	CHECK_EQ(m.nr_regions, 1);
	CHECK_EQ(m.region[0].gpa, 0);
	CHECK_EQ(m.region[0].size, 64ull << 20);
	CHECK(gpa_to_hva(&m, 0, 1) == m.base);
	CHECK(gpa_to_hva(&m, (64ull << 20) - 8, 8) == m.base + (64ull << 20) - 8);
	CHECK(gpa_to_hva(&m, (64ull << 20) - 7, 8) == NULL);	/* straddles the end */
	CHECK(gpa_to_hva(&m, 64ull << 20, 1) == NULL);
	CHECK(gpa_to_hva(&m, 0, (64ull << 20) + 1) == NULL);
	CHECK(gpa_to_hva(&m, ~0ull, 1) == NULL);
	CHECK(gpa_to_hva(&m, ~0ull - 7, 8) == NULL);
	CHECK(gpa_to_hva(&m, 1, ~0ull) == NULL);
	CHECK(gpa_to_hva(&m, 0, ~0ull) == NULL);

	/* The memory is really there, zeroed, and shared with the memfd. */
	uint8_t buf[4] = { 1, 2, 3, 4 }, back[4] = { 0 };
	CHECK(mem_write(&m, 0x1000, buf, 4) == 0);
	CHECK(mem_read(&m, 0x1000, back, 4) == 0);
	CHECK(back[0] == 1 && back[3] == 4);
	CHECK(pread(m.fd, back, 4, 0x1000) == 4 && back[2] == 3);
	CHECK(mem_read(&m, 0x2000, back, 4) == 0 && back[0] == 0);
	CHECK(mem_write(&m, (64ull << 20) - 2, buf, 4) < 0);
	CHECK(mem_read(&m, ~0ull - 1, back, 4) < 0);
	mem_destroy(&m);
	CHECK_EQ(m.fd, -1);
}

/* Pages of [off, off + len) resident in the memfd mapping. */
static unsigned resident(const struct guest_mem *m, uint64_t off, uint64_t len)
{
	unsigned char vec[512];
	unsigned n = 0;

	if (len / 4096 > sizeof(vec) || mincore(m->base + off, len, vec) < 0)
		return ~0u;
	for (uint64_t i = 0; i < len / 4096; i++)
		n += vec[i] & 1;
	return n;
}

TEST(mem_populates_whole_chunks_on_first_use)
{
	struct guest_mem m;
	uint64_t chunk = 1ull << MEM_CHUNK_SHIFT;

	/* Not a whole number of chunks: the last one is shorter. */
	CHECK(mem_init(&m, 3 * chunk + (1ull << 20)) == 0);
	CHECK_EQ(resident(&m, 0, chunk), 0);
	/* Two bytes across the first chunk boundary bring in both chunks, nothing more. */
	uint8_t buf[2] = { 5, 6 };
	CHECK(mem_write(&m, chunk - 1, buf, 2) == 0);
	CHECK_EQ(resident(&m, 0, chunk), chunk / 4096);
	CHECK_EQ(resident(&m, chunk, chunk), chunk / 4096);
	CHECK_EQ(resident(&m, 2 * chunk, chunk), 0);
	mem_populate(&m, m.base + 3 * chunk + 4096);
	CHECK_EQ(resident(&m, 3 * chunk, 1ull << 20), (1ull << 20) / 4096);
	CHECK_EQ(resident(&m, 2 * chunk, chunk), 0);
	uint8_t back[2];
	CHECK(mem_read(&m, chunk - 1, back, 2) == 0 && back[0] == 5 && back[1] == 6);
	mem_destroy(&m);
}

TEST(mem_exactly_below_hole)
{
	struct guest_mem m;

	CHECK(mem_init(&m, MEM_HOLE_START) == 0);
	CHECK_EQ(m.nr_regions, 1);
	CHECK(gpa_to_hva(&m, MEM_HOLE_START - 1, 1) != NULL);
	CHECK(gpa_to_hva(&m, MEM_HOLE_START, 1) == NULL);
	mem_destroy(&m);
}

TEST(mem_split_around_hole)
{
	struct guest_mem m;
	uint64_t size = 4ull << 30;	/* 3 GiB low + 1 GiB from 4 GiB */

	CHECK(mem_init(&m, size) == 0);
	CHECK_EQ(m.nr_regions, 2);
	CHECK_EQ(m.region[0].gpa, 0);
	CHECK_EQ(m.region[0].size, MEM_HOLE_START);
	CHECK_EQ(m.region[1].gpa, MEM_HOLE_END);
	CHECK_EQ(m.region[1].size, size - MEM_HOLE_START);
	CHECK(gpa_to_hva(&m, MEM_HOLE_START - 4, 4) == m.base + MEM_HOLE_START - 4);
	CHECK(gpa_to_hva(&m, MEM_HOLE_START - 4, 8) == NULL);	/* runs into the hole */
	CHECK(gpa_to_hva(&m, MEM_HOLE_START, 1) == NULL);
	CHECK(gpa_to_hva(&m, 0xd0000000, 4) == NULL);
	CHECK(gpa_to_hva(&m, MEM_HOLE_END - 1, 2) == NULL);
	CHECK(gpa_to_hva(&m, MEM_HOLE_END, 1) == m.base + MEM_HOLE_START);
	CHECK(gpa_to_hva(&m, MEM_HOLE_END + (1ull << 30) - 1, 1) != NULL);
	CHECK(gpa_to_hva(&m, MEM_HOLE_END + (1ull << 30), 1) == NULL);
	CHECK(gpa_to_hva(&m, ~0ull, 1) == NULL);
	CHECK(gpa_to_hva(&m, ~0ull - 4095, 4096) == NULL);

	uint32_t v = 0x12345678, back = 0;
	CHECK(mem_write(&m, MEM_HOLE_END + 16, &v, 4) == 0);
	CHECK(pread(m.fd, &back, 4, (off_t)(MEM_HOLE_START + 16)) == 4);
	CHECK_EQ(back, 0x12345678);
	mem_destroy(&m);
}

TEST(mem_size_limits)
{
	struct guest_mem m;

	CHECK(mem_init(&m, MEM_MIN - 4096) < 0);
	CHECK_EQ(m.fd, -1);
	CHECK(mem_init(&m, MEM_MAX + 4096) < 0);
	CHECK(mem_init(&m, MEM_MIN) == 0);
	mem_destroy(&m);
}
