/* Shared harness helpers (fuzz.h). */
#include "fuzz.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

int fuzz_memfd_set(int fd, const void *data, size_t len)
{
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, len, 0) != (ssize_t)len)
		return -1;
	return 0;
}

int fuzz_memfd(const char *name, const void *data, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd >= 0 && fuzz_memfd_set(fd, data, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}
