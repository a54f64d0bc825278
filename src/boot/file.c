#include "boot/file.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_file.h"

static int open_failed(struct boot_file *f, const char *why)
{
	vmon_log("%s: %s", f->path, why);
	boot_file_close(f);
	return -1;
}

int boot_file_open(struct boot_file *f, const char *path)
{
	struct stat st;
	const char *why;

	f->path = path;
	f->fd = host_file_open(path, O_RDONLY, 0, false, &why);
	if (f->fd < 0)
		return open_failed(f, why);
	if (fstat(f->fd, &st) < 0)
		return open_failed(f, strerror(errno));
	f->size = (uint64_t)st.st_size;
	return 0;
}

void boot_file_close(struct boot_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

int boot_file_read(const struct boot_file *f, uint64_t off, void *dst, uint64_t len)
{
	uint8_t *p = dst;

	while (len) {
		size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
		ssize_t n = pread(f->fd, p, chunk, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			vmon_log("%s: %s", f->path,
				n < 0 ? strerror(errno) : "file shrank while loading");
			return -1;
		}
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int boot_file_read_to_guest(const struct boot_file *f, const struct guest_mem *m, uint64_t gpa)
{
	uint8_t *dst = gpa_to_hva(m, gpa, f->size);

	if (!dst) {
		vmon_log("%s: does not fit in guest memory", f->path);
		return -1;
	}
	mem_populate_range(m, dst, f->size);
	return boot_file_read(f, 0, dst, f->size);
}

int boot_file_slurp(const char *path, uint64_t max, uint8_t **buf, size_t *len)
{
	struct boot_file f;
	int ret = -1;

	if (boot_file_open(&f, path))
		return -1;
	if (f.size > max) {
		vmon_log("%s: larger than guest memory", path);
		goto out;
	}
	*buf = malloc(f.size ? f.size : 1);
	if (!*buf) {
		vmon_log("%s: %s", path, strerror(ENOMEM));
		goto out;
	}
	host_populate(*buf, f.size);	/* megabytes of kernel: thousands of page faults */
	if (boot_file_read(&f, 0, *buf, f.size)) {
		free(*buf);
		*buf = NULL;
		goto out;
	}
	*len = f.size;
	ret = 0;
out:
	boot_file_close(&f);
	return ret;
}
