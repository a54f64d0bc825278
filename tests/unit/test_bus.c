/* Bus dispatch: ordering, overlap rejection, unclaimed accesses, offsets. */
#include <string.h>

#include "bus.h"
#include "test.h"

struct probe {
	uint64_t last_off, last_val;
	unsigned last_size;
	int reads, writes;
};

static uint64_t probe_read(void *opaque, uint64_t off, unsigned size)
{
	struct probe *p = opaque;

	p->reads++;
	p->last_off = off;
	p->last_size = size;
	return 0x1122334455667788ull;	/* the bus masks this to the access size */
}

static void probe_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct probe *p = opaque;

	p->writes++;
	p->last_off = off;
	p->last_size = size;
	p->last_val = val;
}

static const struct io_ops probe_ops = { .read = probe_read, .write = probe_write };

TEST(bus_overlaps_rejected)
{
	struct bus b;
	struct probe p;

	memset(&b, 0, sizeof(b));
	CHECK(bus_register(&b, 0x100, 0x10, &probe_ops, &p, "a") == 0);
	CHECK(bus_register(&b, 0x10f, 1, &probe_ops, &p, "end") < 0);
	CHECK(bus_register(&b, 0xf0, 0x11, &probe_ops, &p, "start") < 0);
	CHECK(bus_register(&b, 0x0, 0x1000, &probe_ops, &p, "cover") < 0);
	CHECK(bus_register(&b, 0x104, 2, &probe_ops, &p, "inside") < 0);
	CHECK(bus_register(&b, 0x110, 0x10, &probe_ops, &p, "after") == 0);
	CHECK(bus_register(&b, 0xf0, 0x10, &probe_ops, &p, "before") == 0);
	CHECK(bus_register(&b, 0x50, 0, &probe_ops, &p, "empty") < 0);
	CHECK(bus_register(&b, ~0ull - 1, 4, &probe_ops, &p, "wraps") < 0);
	CHECK(bus_register(&b, ~0ull - 3, 4, &probe_ops, &p, "top") == 0);
	CHECK_EQ(b.nr, 4);
	for (int i = 1; i < b.nr; i++)
		CHECK(b.range[i - 1].base < b.range[i].base);
	bus_destroy(&b);
}

TEST(bus_full)
{
	struct bus b;
	struct probe p;

	memset(&b, 0, sizeof(b));
	/* Registered in descending order to exercise insertion at the front. */
	for (int i = BUS_MAX_RANGES - 1; i >= 0; i--)
		CHECK(bus_register(&b, (uint64_t)i * 16, 8, &probe_ops, &p, "r") == 0);
	CHECK(bus_register(&b, 0x10000, 8, &probe_ops, &p, "one too many") < 0);
	for (int i = 0; i < BUS_MAX_RANGES; i++)
		CHECK(bus_find(&b, (uint64_t)i * 16 + 7) == &b.range[i]);
	CHECK(bus_find(&b, 8) == NULL);
	bus_destroy(&b);
}

TEST(bus_find_edges)
{
	struct bus b;
	struct probe p;

	memset(&b, 0, sizeof(b));
	CHECK(bus_find(&b, 0) == NULL);
	CHECK(bus_register(&b, 0x3f8, 8, &probe_ops, &p, "uart") == 0);
	CHECK(bus_register(&b, 0x70, 2, &probe_ops, &p, "rtc") == 0);
	CHECK(bus_find(&b, 0x3f7) == NULL);
	CHECK(bus_find(&b, 0x3f8) != NULL);
	CHECK(strcmp(bus_find(&b, 0x3ff)->name, "uart") == 0);
	CHECK(bus_find(&b, 0x400) == NULL);
	CHECK(strcmp(bus_find(&b, 0x71)->name, "rtc") == 0);
	CHECK(bus_find(&b, 0x72) == NULL);
	CHECK(bus_find(&b, 0x6f) == NULL);
	CHECK(bus_find(&b, ~0ull) == NULL);
	bus_destroy(&b);
}

TEST(bus_unclaimed_all_ones)
{
	struct bus b;
	uint64_t v;

	memset(&b, 0, sizeof(b));
	v = 0;
	CHECK(!bus_access(&b, 0x2f0, 1, false, &v));
	CHECK_EQ(v, 0xff);
	CHECK(!bus_access(&b, 0x2f0, 2, false, &v));
	CHECK_EQ(v, 0xffff);
	CHECK(!bus_access(&b, 0x2f0, 4, false, &v));
	CHECK_EQ(v, 0xffffffff);
	CHECK(!bus_access(&b, 0xd0000000, 8, false, &v));
	CHECK_EQ(v, ~0ull);
	v = 42;
	CHECK(!bus_access(&b, 0x2f0, 1, true, &v));	/* dropped, value untouched */
	CHECK_EQ(v, 42);
}

TEST(bus_dispatch_offsets)
{
	struct bus b;
	struct probe p1, p2;
	uint64_t v;

	memset(&b, 0, sizeof(b));
	memset(&p1, 0, sizeof(p1));
	memset(&p2, 0, sizeof(p2));
	CHECK(bus_register(&b, 0xfec00000, 0x1000, &probe_ops, &p1, "ioapic") == 0);
	CHECK(bus_register(&b, 0xfee00000, 0x1000, &probe_ops, &p2, "lapic") == 0);

	CHECK(bus_access(&b, 0xfee00300, 4, false, &v));
	CHECK_EQ(p2.last_off, 0x300);
	CHECK_EQ(p2.last_size, 4);
	CHECK_EQ(v, 0x55667788);
	CHECK_EQ(p1.reads, 0);

	v = 0xdeadbeefcafef00dull;
	CHECK(bus_access(&b, 0xfec00010, 2, true, &v));
	CHECK_EQ(p1.last_off, 0x10);
	CHECK_EQ(p1.last_val, 0xf00d);	/* masked to the access size */
	CHECK_EQ(p1.writes, 1);

	CHECK(bus_access(&b, 0xfec00fff, 1, false, &v));
	CHECK_EQ(p1.last_off, 0xfff);
	CHECK_EQ(v, 0x88);
	CHECK(!bus_access(&b, 0xfec01000, 1, false, &v));
	bus_destroy(&b);
}
