/* The guest's physical memory map, as the BIOS E820 call would report it. */
#ifndef VMON_BOOT_E820_H
#define VMON_BOOT_E820_H

#include <stdint.h>

enum e820_type { E820_RAM = 1, E820_RESERVED = 2 };

struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
};

#define E820_MAX 4

/* RAM below the EBDA, the reserved EBDA/BIOS area up to 1 MiB, RAM from 1 MiB up to the MMIO
 * hole and RAM continued above 4 GiB (mem.h layout). Returns the number of entries. */
int e820_build(uint64_t mem_size, struct e820_entry map[E820_MAX]);

/* End of the RAM that starts at 0 (the part below the MMIO hole). */
uint64_t e820_low_ram_end(uint64_t mem_size);

#endif
