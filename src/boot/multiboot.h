/* Multiboot v1 loader: ELF32, ELF64 (entry below 4 GiB) and a.out-kludge kernels, entered the
 * way GRUB and QEMU do (32-bit protected mode, paging off, EAX=0x2BADB002, EBX=info).
 *
 * The kernel command line is "KERNEL-PATH" or "KERNEL-PATH --cmdline", as GRUB and QEMU pass
 * it; --initrd becomes module 0, named by its path, page-aligned after the kernel's last byte
 * (bss included). Segments may load anywhere in RAM but over vmon's GDT and firmware tables;
 * the info page, command line and module name keep their addresses below 1 MiB unless the
 * kernel or module is there, and then follow them (docs/guest-memory.md).
 */
#ifndef VMON_BOOT_MULTIBOOT_H
#define VMON_BOOT_MULTIBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/file.h"

struct vm;

#define MB_HEADER_MAGIC		0x1badb002u
#define MB_BOOT_MAGIC		0x2badb002u
#define MB_SEARCH_LEN		8192
#define MB_MAX_SEGMENTS		16

/* Info flags vmon provides. */
#define MB_INFO_MEM		(1u << 0)
#define MB_INFO_CMDLINE		(1u << 2)
#define MB_INFO_MODS		(1u << 3)
#define MB_INFO_MMAP		(1u << 6)
#define MB_INFO_LOADER_NAME	(1u << 9)

/* Offsets inside the info page at BOOT_MB_INFO_ADDR. */
#define MB_PAGE_INFO		0x000
#define MB_PAGE_MMAP		0x100
#define MB_PAGE_MODS		0x200
#define MB_PAGE_LOADER_NAME	0x280
#define MB_PAGE_SIZE		4096

struct mb_segment {
	uint64_t file_off, filesz;
	uint64_t gpa, memsz;		/* memsz >= filesz; the rest is zeroed */
};

struct mb_image {
	size_t header_off;
	uint32_t flags;
	uint32_t entry;
	int nr_segs;
	struct mb_segment seg[MB_MAX_SEGMENTS];
	uint64_t end;			/* one past the highest byte the kernel occupies */
};

/* Finds and validates the header and the segments for a guest of mem_size bytes.
 * 0, or -1 with the reason in why. */
int multiboot_parse(const uint8_t *img, size_t len, uint64_t mem_size, struct mb_image *mb,
		    char *why, size_t why_len);

struct mb_info_params {
	uint64_t mem_size;
	uint32_t info_addr;		/* where the page goes (its pointers into itself) */
	uint32_t cmdline_addr;
	bool has_module;
	uint32_t mod_start, mod_end, mod_name_addr;
};

/* The info page: info struct, memory map, module list and boot loader name. */
void multiboot_build_info(uint8_t page[MB_PAGE_SIZE], const struct mb_info_params *p);

/* Loads kernel, module and info into vm's RAM and sets vm->boot_state. Prints one line and
 * returns -1 on error. */
int multiboot_load(struct vm *vm, const char *path, const uint8_t *img, size_t len,
		   const struct boot_file *initrd);

#endif
