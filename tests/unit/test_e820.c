#include "boot/e820.h"
#include "mem.h"
#include "test.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

TEST(e820_below_hole)
{
	struct e820_entry map[E820_MAX];
	int n = e820_build(256 * MiB, map);

	CHECK_EQ(n, 3);
	CHECK_EQ(map[0].addr, 0);
	CHECK_EQ(map[0].size, 0x9fc00);
	CHECK_EQ(map[0].type, E820_RAM);
	CHECK_EQ(map[1].addr, 0x9fc00);
	CHECK_EQ(map[1].addr + map[1].size, 0x100000);
	CHECK_EQ(map[1].type, E820_RESERVED);
	CHECK_EQ(map[2].addr, 0x100000);
	CHECK_EQ(map[2].addr + map[2].size, 256 * MiB);
	CHECK_EQ(map[2].type, E820_RAM);
	CHECK_EQ(e820_low_ram_end(256 * MiB), 256 * MiB);
}

TEST(e820_exactly_hole)
{
	struct e820_entry map[E820_MAX];
	int n = e820_build(MEM_HOLE_START, map);

	CHECK_EQ(n, 3);
	CHECK_EQ(map[2].addr + map[2].size, MEM_HOLE_START);
}

TEST(e820_above_hole)
{
	struct e820_entry map[E820_MAX];
	int n = e820_build(5 * GiB, map);

	CHECK_EQ(n, 4);
	CHECK_EQ(map[2].addr + map[2].size, MEM_HOLE_START);
	CHECK_EQ(map[3].addr, MEM_HOLE_END);
	CHECK_EQ(map[3].size, 5 * GiB - MEM_HOLE_START);
	CHECK_EQ(map[3].type, E820_RAM);
	CHECK_EQ(e820_low_ram_end(5 * GiB), MEM_HOLE_START);
}

TEST(e820_minimum_memory)
{
	struct e820_entry map[E820_MAX];
	int n = e820_build(MEM_MIN, map);

	/* 1 MiB: conventional memory and the reserved BIOS area, nothing above. */
	CHECK_EQ(n, 2);
	CHECK_EQ(map[0].size, 0x9fc00);
	CHECK_EQ(map[1].type, E820_RESERVED);
	CHECK_EQ(map[1].addr + map[1].size, 0x100000);
}
