/* raw images: the file is the disk, byte for byte (a multiple of 512 bytes). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"

struct raw {
	struct blk blk;		/* first: blk_alloc() */
	int fd;
};

static struct raw *raw_of(struct blk *b)
{
	return (struct raw *)b;
}

/* preadv/pwritev until done: short transfers and EINTR are retried. */
static int transfer(int fd, bool write, const struct iovec *iov_in, int n, uint64_t off)
{
	struct iovec iov_buf[IOV_MAX], *iov = iov_buf;

	if (n > IOV_MAX)
		return -1;
	memcpy(iov_buf, iov_in, (size_t)n * sizeof(*iov));
	while (n > 0) {
		ssize_t done = write ? pwritev(fd, iov, n, (off_t)off) : preadv(fd, iov, n, (off_t)off);
		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0)
			return -1;
		off += (uint64_t)done;
		while (n > 0 && (size_t)done >= iov->iov_len) {
			done -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + done;
			iov->iov_len -= (size_t)done;
		}
	}
	return 0;
}

static int raw_readv(struct blk *b, uint64_t off, const struct iovec *iov, int n)
{
	return transfer(raw_of(b)->fd, false, iov, n, off);
}

static int raw_writev(struct blk *b, uint64_t off, const struct iovec *iov, int n)
{
	return transfer(raw_of(b)->fd, true, iov, n, off);
}

static int raw_flush(struct blk *b)
{
	return fdatasync(raw_of(b)->fd);
}

static void raw_close(struct blk *b)
{
	struct raw *r = raw_of(b);
	close(r->fd);
	free(r);
}

static const struct blk_ops raw_ops = {
	.readv = raw_readv, .writev = raw_writev, .flush = raw_flush, .close = raw_close,
};

struct blk *raw_open(int fd, const char *path, bool readonly, uint64_t file_size, char *err)
{
	if (file_size % 512) {
		snprintf(err, BLK_ERR_LEN, "%s: size %llu is not a multiple of 512 bytes", path,
			 (unsigned long long)file_size);
		close(fd);
		return NULL;
	}
	struct raw *r = blk_alloc(sizeof(*r), path);
	if (!r) {
		snprintf(err, BLK_ERR_LEN, "%s: %s", path, strerror(ENOMEM));
		close(fd);
		return NULL;
	}
	r->fd = fd;
	r->blk.ops = &raw_ops;
	r->blk.size = file_size;
	r->blk.readonly = readonly;
	r->blk.format = "raw";
	return &r->blk;
}
