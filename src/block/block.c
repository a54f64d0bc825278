/* Opening a disk image: the format by its magic, backing chains without loops, and the
 * full-length pread/pwrite the drivers share. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"

int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t got = pread(fd, p, len, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		if (got == 0) {		/* past the end of the file: reads as zeros */
			memset(p, 0, len);
			return 0;
		}
		p += got;
		len -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t done = pwrite(fd, p, len, (off_t)off);
		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0)
			return -1;
		p += done;
		len -= (size_t)done;
		off += (uint64_t)done;
	}
	return 0;
}

int blk_pread(struct blk *b, uint64_t off, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	return blk_readv(b, off, &iov, 1);
}

int blk_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	return blk_writev(b, off, &iov, 1);
}

void *blk_alloc(size_t size, const char *path)
{
	struct blk *b = calloc(1, size + strlen(path) + 1);
	if (b)
		b->path = strcpy((char *)b + size, path);
	return b;
}

static struct blk *open_image(const char *path, bool readonly, struct blk_chain *chain, char *err)
{
	int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	struct stat st;
	uint8_t magic[4];

	if (fd < 0) {
		snprintf(err, BLK_ERR_LEN, "%s: %s", path, strerror(errno));
		return NULL;
	}
	off_t end = fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		    ? lseek(fd, 0, SEEK_END) : -1;
	if (end < 0) {
		snprintf(err, BLK_ERR_LEN, "%s: not a regular file or block device", path);
		close(fd);
		return NULL;
	}
	for (int i = 0; i < chain->depth; i++) {
		if (chain->dev[i] == st.st_dev && chain->ino[i] == st.st_ino) {
			snprintf(err, BLK_ERR_LEN, "%s: backing file loop (the file backs itself)",
				 path);
			close(fd);
			return NULL;
		}
	}
	if (chain->depth == BLK_CHAIN_MAX) {
		snprintf(err, BLK_ERR_LEN, "%s: backing chain longer than %d files", path,
			 BLK_CHAIN_MAX);
		close(fd);
		return NULL;
	}
	chain->dev[chain->depth] = st.st_dev;
	chain->ino[chain->depth++] = st.st_ino;

	if (end >= 4 && pread_full(fd, magic, 4, 0) == 0 &&
	    ((uint32_t)magic[0] << 24 | (uint32_t)magic[1] << 16 | (uint32_t)magic[2] << 8 |
	     magic[3]) == QCOW2_MAGIC)
		return qcow2_open(fd, path, readonly, (uint64_t)end, chain, err);
	return raw_open(fd, path, readonly, (uint64_t)end, err);
}

struct blk *blk_open(const char *path, bool readonly, char *err)
{
	struct blk_chain chain = { 0 };
	return open_image(path, readonly, &chain, err);
}

struct blk *blk_open_chain(const char *path, struct blk_chain *chain, char *err)
{
	return open_image(path, true, chain, err);
}

void blk_close(struct blk *b)
{
	if (b)
		b->ops->close(b);
}
