/* What every fuzz harness in tests/fuzz/ provides, for libFuzzer (`make fuzz`) and for the
 * replay driver that runs seeds and regression inputs in `make check` (replay.c). */
#ifndef VMON_FUZZ_H
#define VMON_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A file descriptor with contents data (a memfd: no file left behind), or -1. Its path for the
 * loaders is /proc/self/fd/N. */
int fuzz_memfd(const char *name, const void *data, size_t len);
/* Rewrites fd with data; 0 or -1. */
int fuzz_memfd_set(int fd, const void *data, size_t len);

#endif
