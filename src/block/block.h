/* Disk images behind one interface: virtio-blk reads and writes guest bytes through a
 * struct blk, whatever the file's format. blk_open() detects the format by its magic: qcow2
 * (src/block/qcow2.c), raw otherwise (src/block/raw.c).
 */
#ifndef VMON_BLOCK_H
#define VMON_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Room for one error message: "PATH: what is wrong". */
#define BLK_ERR_LEN	(4096 + 256)

struct blk;

struct blk_ops {
	/* Bytes [off, off + total of iov) of the disk; 0, or -1 on an I/O error or a corrupt
	 * image (the guest sees an I/O error). Callers keep the range inside blk->size. */
	int (*readv)(struct blk *b, uint64_t off, const struct iovec *iov, int n);
	int (*writev)(struct blk *b, uint64_t off, const struct iovec *iov, int n);
	int (*flush)(struct blk *b);
	void (*close)(struct blk *b);
};

struct blk {
	const struct blk_ops *ops;
	uint64_t size;			/* the disk's size in bytes, as the guest sees it */
	bool readonly;
	const char *format;		/* "raw", "qcow2" */
	const char *path;		/* for messages */
};

/* Opens path as a disk (read-only, or for writing). NULL with the reason in err ("PATH: ...")
 * if the file cannot be opened or is not a well-formed image. */
struct blk *blk_open(const char *path, bool readonly, char *err);
void blk_close(struct blk *b);

static inline int blk_readv(struct blk *b, uint64_t off, const struct iovec *iov, int n)
{
	return b->ops->readv(b, off, iov, n);
}

static inline int blk_writev(struct blk *b, uint64_t off, const struct iovec *iov, int n)
{
	return b->readonly ? -1 : b->ops->writev(b, off, iov, n);
}

static inline int blk_flush(struct blk *b)
{
	return b->readonly ? 0 : b->ops->flush(b);
}

/* One buffer instead of an iovec. */
int blk_pread(struct blk *b, uint64_t off, void *buf, size_t len);
int blk_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len);

/* --- for the format drivers ---------------------------------------------------------------- */

/* Where a backing chain is being opened: the files already in it, to refuse loops. */
struct blk_chain {
	int depth;
	dev_t dev[16];
	ino_t ino[16];
};
#define BLK_CHAIN_MAX	16

/* blk_open() for a file that backs another one (always read-only). */
struct blk *blk_open_chain(const char *path, struct blk_chain *chain, char *err);

/* pread/pwrite of exactly len bytes, retrying short transfers and EINTR. pread_full fills what
 * lies beyond the end of the file with zeros. Return 0, or -1. */
int pread_full(int fd, void *buf, size_t len, uint64_t off);
int pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/* Allocates a driver's state of size bytes, which starts with its struct blk, with room for
 * path (set in it); zeroed; NULL if out of memory. */
void *blk_alloc(size_t size, const char *path);

/* The drivers: fd is open on path (O_RDWR unless readonly), its size is file_size. Ownership of
 * fd passes to the driver, which closes it on failure too. */
struct blk *raw_open(int fd, const char *path, bool readonly, uint64_t file_size, char *err);
struct blk *qcow2_open(int fd, const char *path, bool readonly, uint64_t file_size,
		       struct blk_chain *chain, char *err);

#define QCOW2_MAGIC	0x514649fbu	/* "QFI\xfb", big-endian */

#endif
