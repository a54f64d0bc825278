/* Linux bzImage loader, 64-bit boot protocol (Documentation/arch/x86/boot.rst). */
#ifndef VMON_BOOT_LINUX_H
#define VMON_BOOT_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/e820.h"
#include "boot/file.h"

struct vm;

/* What vmon needs to know from a bzImage's setup header. */
struct linux_image {
	uint16_t version;		/* boot protocol, e.g. 0x020f */
	size_t setup_size;		/* bytes before the protected-mode kernel */
	size_t hdr_end;			/* the setup header is [0x1f1, hdr_end) */
	uint64_t kernel_size;		/* protected-mode kernel bytes (syssize) */
	uint64_t load_addr;		/* where the protected-mode kernel goes */
	uint64_t entry;			/* 64-bit entry point: load_addr + 0x200 */
	uint64_t reserved_end;		/* end of what the kernel occupies while decompressing */
	uint32_t cmdline_size;		/* longest command line, without the NUL */
	uint32_t initrd_addr_max;	/* highest address an initrd byte may have */
};

/* Only checks for the "HdrS" signature; linux_parse() does the rest. */
bool linux_is_bzimage(const uint8_t *img, size_t len);

/* Validates the header against the file and a guest of mem_size bytes and chooses the load
 * address. 0, or -1 with the reason in why. */
int linux_parse(const uint8_t *img, size_t len, uint64_t mem_size, struct linux_image *k,
		char *why, size_t why_len);

/* Page-aligned initrd address, as high as the kernel allows; -1 if it does not fit. */
int linux_place_initrd(const struct linux_image *k, uint64_t mem_size, uint64_t initrd_size,
		       uint64_t *addr);

/* Everything boot_params holds besides the copied setup header. */
struct linux_params {
	uint64_t cmdline_addr;
	uint64_t initrd_addr, initrd_size;	/* size 0: no initrd */
	uint64_t rsdp_addr;
	const struct e820_entry *e820;
	int e820_nr;
};

#define LINUX_ZEROPAGE_SIZE 4096

/* The zero page (struct boot_params) for image img, described by k. */
void linux_build_zeropage(uint8_t zp[LINUX_ZEROPAGE_SIZE], const uint8_t *img,
			  const struct linux_image *k, const struct linux_params *p);

/* Loads the kernel, initrd (may be NULL), command line and zero page into vm's RAM and sets
 * vm->boot_state. Prints one line and returns -1 on error. */
int linux_load(struct vm *vm, const char *path, const uint8_t *img, size_t len,
	       const struct boot_file *initrd);

#endif
