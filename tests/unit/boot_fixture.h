/* A minimal VM for loader tests (RAM and buses, no engine) and throwaway input files. */
#ifndef VMON_TEST_BOOT_FIXTURE_H
#define VMON_TEST_BOOT_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/* NULL if guest RAM cannot be created. */
struct vm *boot_test_vm(uint64_t mem_size, int cpus);
/* Undoes boot_test_vm() and whatever boot_load() registered. */
void boot_test_vm_free(struct vm *vm);

/* Writes data to a new temporary file; returns its malloc'ed path (NULL on failure). */
char *boot_test_file(const void *data, size_t len);
/* Removes and frees a boot_test_file() path. */
void boot_test_file_free(char *path);

#endif
