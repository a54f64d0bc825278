/* Where the loaders put things in guest-physical memory below 1 MiB (docs/guest-memory.md):
 * 0x500 GDT, 0x7000 Linux zero page, 0x9000-0xefff long-mode page tables (or the multiboot info
 * page at 0x9000), 0x20000 command line, 0x30000 multiboot module name, 0xe0000 ACPI tables,
 * 0xf0000 MP table, 0xfff53 the IRET stub real-mode vectors point at (boot sectors only).
 * A bzImage loads at or above 1 MiB; a multiboot kernel may load anywhere but over the GDT and
 * the firmware tables, and its loader data then moves above the kernel (multiboot.c).
 */
#ifndef VMON_BOOT_LAYOUT_H
#define VMON_BOOT_LAYOUT_H

#define BOOT_GDT_ADDR		0x500ull
#define BOOT_GDT_ENTRIES	4
#define BOOT_ZEROPAGE_ADDR	0x7000ull
#define BOOT_PML4_ADDR		0x9000ull	/* then PDPT, then 4 page directories */
#define BOOT_CMDLINE_ADDR	0x20000ull
#define BOOT_CMDLINE_MAX	0x10000ull	/* bytes including the NUL */
#define BOOT_MB_INFO_ADDR	0x9000ull	/* one page: info, mmap, module list, loader name */
#define BOOT_MB_MODNAME_ADDR	0x30000ull
#define BOOT_MB_MODNAME_MAX	0x10000ull

#define BOOT_LOADER_END		0x100000ull	/* bzImages load at or above this */

#define FW_EBDA_ADDR		0x9fc00ull	/* start of the reserved area up to 1 MiB */
#define FW_ACPI_ADDR		0xe0000ull	/* RSDP first, then the tables */
#define FW_ACPI_SIZE		0x1000ull
#define FW_MPTABLE_ADDR		0xf0000ull
#define FW_MPTABLE_SIZE		0x1000ull
#define FW_IRET_SEG		0xf000u
#define FW_IRET_OFF		0xff53u		/* where PC BIOSes keep their dummy IRET */

#endif
