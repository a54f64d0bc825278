/* The dirty-page bitmap: marks only while logging, fetch-and-clear, bounds; vmon's own writes
 * to guest RAM (mem_write) land in the VM's log under the page's memfd index. */
#include <stdlib.h>
#include <string.h>

#include "dirty.h"
#include "mem.h"
#include "test.h"

TEST(dirty_bitmap_mark_fetch_clear)
{
	struct dirty_bitmap b;
	uint64_t out[3] = { 0 };

	CHECK(dirty_bitmap_init(&b, 130) == 0);
	dirty_bitmap_mark(&b, 5, 1);			/* not logging: dropped */
	CHECK_EQ(dirty_bitmap_fetch(&b, out), 0);
	CHECK_EQ(out[0], 0);

	dirty_bitmap_start(&b);
	dirty_bitmap_mark(&b, 5, 1);
	dirty_bitmap_mark(&b, 5, 1);			/* twice: still one page */
	dirty_bitmap_mark(&b, 62, 4);			/* across a word boundary */
	dirty_bitmap_mark(&b, 129, 1);			/* the last page */
	CHECK_EQ(dirty_bitmap_fetch(&b, out), 6);
	CHECK_EQ(out[0], (1ull << 5) | (3ull << 62));
	CHECK_EQ(out[1], 3);
	CHECK_EQ(out[2], 2);
	CHECK_EQ(dirty_count(out, 130), 6);
	CHECK(dirty_test(out, 63) && dirty_test(out, 64) && !dirty_test(out, 66));

	/* Fetched means cleared: the next fetch has only what was marked since. */
	memset(out, 0, sizeof(out));
	CHECK_EQ(dirty_bitmap_fetch(&b, out), 0);
	dirty_bitmap_mark(&b, 7, 1);
	CHECK_EQ(dirty_bitmap_fetch(&b, out), 1);
	CHECK_EQ(out[0], 1ull << 7);
	/* fetch ORs into what the caller already holds. */
	dirty_bitmap_mark(&b, 8, 1);
	CHECK_EQ(dirty_bitmap_fetch(&b, out), 1);
	CHECK_EQ(out[0], 3ull << 7);

	/* Out of range: clipped, never written past the bitmap (ASan would see it). */
	memset(out, 0, sizeof(out));
	dirty_bitmap_mark(&b, 130, 1);
	dirty_bitmap_mark(&b, UINT64_MAX, 1);
	dirty_bitmap_mark(&b, 128, UINT64_MAX);
	CHECK_EQ(dirty_bitmap_fetch(&b, out), 2);
	CHECK_EQ(out[2], 3);

	/* stop drops later marks; start again begins from a clean log. */
	dirty_bitmap_mark(&b, 1, 1);
	dirty_bitmap_stop(&b);
	dirty_bitmap_mark(&b, 2, 1);
	dirty_bitmap_start(&b);
	memset(out, 0, sizeof(out));
	CHECK_EQ(dirty_bitmap_fetch(&b, out), 0);
	dirty_bitmap_free(&b);
}

TEST(dirty_mem_write_marks_memfd_pages)
{
	struct guest_mem m;
	uint64_t pages = (4ull << 30) / 4096, *out = calloc(dirty_words(pages), 8);
	uint8_t buf[8192] = { 1 };

	/* 4 GiB: RAM above the hole starts at gpa 4 GiB but memfd page 3 GiB / 4096. */
	CHECK(mem_init(&m, 4ull << 30) == 0);
	CHECK(m.dirty && m.dirty->nr_pages == pages);
	CHECK(mem_write(&m, 0x1000, buf, 1) == 0);	/* not logging yet */
	dirty_bitmap_start(m.dirty);
	CHECK(mem_write(&m, 0x2ffe, buf, 4) == 0);	/* straddles pages 2 and 3 */
	CHECK(mem_write(&m, MEM_HOLE_END + 0x1000, buf, sizeof(buf)) == 0);
	CHECK(mem_write(&m, MEM_HOLE_START, buf, 1) < 0);	/* the hole: nothing marked */
	mem_mark_dirty(&m, MEM_HOLE_START - 4096, 8192);	/* crosses into the hole: no */
	mem_mark_dirty(&m, 0x5000, 0);				/* nothing written */
	CHECK_EQ(dirty_bitmap_fetch(m.dirty, out), 4);
	uint64_t high = MEM_HOLE_START / 4096 + 1;
	CHECK(dirty_test(out, 2) && dirty_test(out, 3) && !dirty_test(out, 1));
	CHECK(dirty_test(out, high) && dirty_test(out, high + 1) && !dirty_test(out, high + 2));
	mem_destroy(&m);
	free(out);
}
