/* CPU state and the minimal descriptor/page tables a loader hands a kernel. */
#ifndef VMON_BOOT_ENTRY_H
#define VMON_BOOT_ENTRY_H

#include <stdint.h>

#include "cpu_state.h"
#include "mem.h"

/* Selectors of the boot GDT at BOOT_GDT_ADDR (Linux expects __BOOT_CS 0x10, __BOOT_DS 0x18). */
#define BOOT_SEL_CODE32	0x08
#define BOOT_SEL_CODE64	0x10
#define BOOT_SEL_DATA	0x18

/* Writes the boot GDT. -1 if guest RAM cannot hold it. */
int boot_write_gdt(const struct guest_mem *m);

/* Identity map of the first 4 GiB with 2 MiB pages, PML4 at BOOT_PML4_ADDR. */
int boot_write_identity_map(const struct guest_mem *m);

/* 32-bit protected mode, paging off, flat CS (BOOT_SEL_CODE32) and data segments, IF=0. */
void boot_state_protected(struct cpu_state *s, uint32_t entry);

/* 64-bit long mode on the identity map, CS BOOT_SEL_CODE64, data BOOT_SEL_DATA, IF=0. */
void boot_state_long(struct cpu_state *s, uint64_t entry);

#endif
