#include "boot/e820.h"

#include "boot/layout.h"
#include "mem.h"

uint64_t e820_low_ram_end(uint64_t mem_size)
{
	return mem_size < MEM_HOLE_START ? mem_size : MEM_HOLE_START;
}

static void add(struct e820_entry *map, int *n, uint64_t start, uint64_t end, uint32_t type)
{
	if (end <= start)
		return;
	map[*n] = (struct e820_entry){ .addr = start, .size = end - start, .type = type };
	(*n)++;
}

int e820_build(uint64_t mem_size, struct e820_entry map[E820_MAX])
{
	uint64_t low_end = e820_low_ram_end(mem_size);
	int n = 0;

	add(map, &n, 0, low_end < FW_EBDA_ADDR ? low_end : FW_EBDA_ADDR, E820_RAM);
	/* The firmware tables live here, so it is reserved even if RAM ends below 1 MiB. */
	add(map, &n, FW_EBDA_ADDR, BOOT_LOADER_END, E820_RESERVED);
	add(map, &n, BOOT_LOADER_END, low_end, E820_RAM);
	if (mem_size > MEM_HOLE_START)
		add(map, &n, MEM_HOLE_END, MEM_HOLE_END + (mem_size - MEM_HOLE_START), E820_RAM);
	return n;
}
