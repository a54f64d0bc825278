/* Input files of the loaders (kernel, initrd, boot sector). Every function prints its own
 * one-line error ("vmon: PATH: reason") and returns -1. */
#ifndef VMON_BOOT_FILE_H
#define VMON_BOOT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"

struct boot_file {
	const char *path;
	int fd;
	uint64_t size;
};

int boot_file_open(struct boot_file *f, const char *path);
void boot_file_close(struct boot_file *f);

/* Exactly len bytes at file offset off. */
int boot_file_read(const struct boot_file *f, uint64_t off, void *dst, uint64_t len);

/* The whole file into guest RAM at gpa (the caller checked that it fits). */
int boot_file_read_to_guest(const struct boot_file *f, const struct guest_mem *m, uint64_t gpa);

/* The whole file into a new buffer; files larger than max are refused. */
int boot_file_slurp(const char *path, uint64_t max, uint8_t **buf, size_t *len);

#endif
