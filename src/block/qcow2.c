/* qcow2 images (versions 2 and 3), read and write, as QEMU's specification describes the format
 * (docs/interop/qcow2.txt): a two-level table (L1 -> L2 -> data cluster) maps guest clusters to
 * host clusters; refcounts count the references to every host cluster; a v3 L2 entry can say
 * "reads as zeros"; an entry can point at deflate-compressed data; clusters never written read
 * from the backing file, if there is one.
 *
 * The file is hostile input: every offset and size from it is checked before use, and all of
 * its tables are checked when it is opened, so that an image pointing outside itself is refused
 * with one message instead of failing later in the guest.
 *
 * Writes allocate clusters at the end of the file, write-through and in the order that keeps
 * the image consistent at every step (data, then its refcount, then the L2 entry, then the L1
 * entry), so that `qemu-img check` finds it clean after vmon wrote it. Not supported for writing
 * (the image opens read-only or not at all): internal snapshots, dirty or corrupt images,
 * external data files, extended L2 entries, encryption, compression other than deflate.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "block/block.h"
#include "util/bytes.h"
#include "util/log.h"

#define V2_HEADER_LEN		72
#define V3_HEADER_LEN		104
#define MIN_CLUSTER_BITS	9
#define MAX_CLUSTER_BITS	21
#define MAX_L1_BYTES		(32u << 20)	/* as QEMU: bounds the table we keep in memory */
#define MAX_REFTABLE_BYTES	(8u << 20)
#define MAX_VIRTUAL_SIZE	(1ull << 60)
#define BACKING_NAME_MAX	1023

#define INCOMPAT_DIRTY		(1ull << 0)
#define INCOMPAT_CORRUPT	(1ull << 1)
#define INCOMPAT_COMPRESSION	(1ull << 3)	/* the header's compression_type field is valid */
#define INCOMPAT_KNOWN		(INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION)

#define EXT_END			0x00000000u
#define EXT_DATA_FILE		0x44415441u

#define OFFSET_MASK		0x00fffffffffffe00ull	/* bits 9-55 of table entries */
#define COPIED			(1ull << 63)		/* refcount is exactly 1 */
#define COMPRESSED		(1ull << 62)
#define ZERO			(1ull << 0)		/* v3 standard L2 entry: reads as zeros */
#define L1_RESERVED		0x7f000000000001ffull
#define L2_RESERVED		0x3f000000000001feull	/* standard entries */
#define RT_RESERVED		0x00000000000001ffull

#define L2_CACHE		8

struct qcow2 {
	struct blk blk;			/* first: blk_alloc() */
	int fd;
	struct blk *backing;		/* or NULL */
	unsigned version, cluster_bits, refcount_bits;
	uint64_t cs;			/* cluster size */
	uint64_t l2_entries;		/* per L2 table */
	uint64_t rb_entries;		/* refcounts per refcount block */
	unsigned csize_shift;		/* compressed entries: where the sector count starts */
	uint64_t csize_mask;
	uint64_t *l1;			/* host byte order */
	uint64_t l1_size, l1_offset;
	uint64_t *rt;			/* refcount table, host byte order */
	uint64_t rt_entries, rt_offset;
	uint64_t file_size;		/* grows with the clusters allocated */
	uint64_t alloc_next;		/* where the search for a free cluster starts */
	struct l2_slot {
		uint64_t off;		/* 0: empty */
		uint64_t used;		/* LRU tick */
		uint64_t *t;		/* big-endian entries */
	} l2[L2_CACHE];
	uint64_t tick;
	uint8_t *cluster_buf;		/* copy-on-write of one cluster */
	uint8_t *zeros;			/* one cluster of zeros, for new metadata clusters (an
					 * allocation can happen while cluster_buf holds data) */
	uint8_t *zin;			/* compressed bytes of one cluster */
	uint8_t *zout;			/* the last cluster decompressed, for entry zout_entry */
	uint64_t zout_entry;
	bool reported;			/* a corruption found while running was reported */
};

static struct qcow2 *q_of(struct blk *b)
{
	return (struct qcow2 *)b;
}

/* A corruption found while the guest runs: the request fails; the first one is reported. */
static int corrupt(struct qcow2 *q, const char *what, uint64_t val)
{
	if (!q->reported)
		vmon_log("%s: corrupt qcow2 image: %s (%#llx)", q->blk.path, what,
			(unsigned long long)val);
	q->reported = true;
	return -1;
}

/* --- L2 tables ----------------------------------------------------------------------------- */

/* The L2 table at host offset off (checked at open or allocated since), from the cache. */
static uint64_t *l2_table(struct qcow2 *q, uint64_t off)
{
	struct l2_slot *victim = &q->l2[0];

	for (int i = 0; i < L2_CACHE; i++) {
		struct l2_slot *s = &q->l2[i];
		if (s->off == off && s->t) {
			s->used = ++q->tick;
			return s->t;
		}
		if (s->used < victim->used)
			victim = s;
	}
	if (!victim->t && !(victim->t = malloc(q->cs)))
		return NULL;
	victim->off = 0;
	if (pread_full(q->fd, victim->t, q->cs, off) < 0)
		return NULL;
	victim->off = off;
	victim->used = ++q->tick;
	return victim->t;
}

/* Guest offset -> its L2 entry (0 where no L2 table is allocated); -1 on error. */
static int l2_entry(struct qcow2 *q, uint64_t gofs, uint64_t *entry)
{
	uint64_t l1i = gofs >> q->cluster_bits >> (q->cluster_bits - 3);
	uint64_t l2i = (gofs >> q->cluster_bits) & (q->l2_entries - 1);

	if (l1i >= q->l1_size)
		return corrupt(q, "guest offset beyond the L1 table", gofs);
	uint64_t l2off = q->l1[l1i] & OFFSET_MASK;
	if (!l2off) {
		*entry = 0;
		return 0;
	}
	uint64_t *t = l2_table(q, l2off);
	if (!t)
		return corrupt(q, "cannot read the L2 table", l2off);
	*entry = get_be64((const uint8_t *)&t[l2i]);
	return 0;
}

/* --- reading ------------------------------------------------------------------------------- */

/* Compressed entry -> where its bytes lie in the file. */
static void compressed_range(const struct qcow2 *q, uint64_t e, uint64_t *off, uint64_t *len)
{
	uint64_t sectors = ((e >> q->csize_shift) & q->csize_mask) + 1;
	*off = e & ((1ull << q->csize_shift) - 1);
	*len = sectors * 512 - (*off & 511);
}

static int decompress(struct qcow2 *q, uint64_t e)
{
	uint64_t off, len;
	z_stream z = { 0 };

	if (q->zout_entry == e && e)
		return 0;
	compressed_range(q, e, &off, &len);
	if (off >= q->file_size)
		return corrupt(q, "compressed cluster outside the file", off);
	if (len > q->file_size - off)
		len = q->file_size - off;
	if (pread_full(q->fd, q->zin, len, off) < 0)
		return corrupt(q, "cannot read a compressed cluster", off);
	/* Raw deflate (no zlib header), window up to 32 KiB. */
	if (inflateInit2(&z, -15) != Z_OK)
		return -1;
	z.next_in = q->zin;
	z.avail_in = (uInt)len;
	z.next_out = q->zout;
	z.avail_out = (uInt)q->cs;
	int rc = inflate(&z, Z_FINISH);
	bool full = z.avail_out == 0;
	inflateEnd(&z);
	q->zout_entry = 0;
	if (!full || (rc != Z_STREAM_END && rc != Z_BUF_ERROR && rc != Z_OK))
		return corrupt(q, "compressed cluster does not inflate to a cluster", off);
	q->zout_entry = e;
	return 0;
}

/* Reads [gofs, gofs + len) inside one guest cluster. */
static int read_in_cluster(struct qcow2 *q, uint64_t gofs, uint8_t *buf, size_t len)
{
	uint64_t e, in = gofs & (q->cs - 1);

	if (l2_entry(q, gofs, &e) < 0)
		return -1;
	if (e & COMPRESSED) {
		if (decompress(q, e) < 0)
			return -1;
		memcpy(buf, q->zout + in, len);
		return 0;
	}
	if (e & ZERO) {
		memset(buf, 0, len);
		return 0;
	}
	uint64_t host = e & OFFSET_MASK;
	if (host) {
		if (host >= q->file_size)
			return corrupt(q, "data cluster outside the file", host);
		return pread_full(q->fd, buf, len, host + in);
	}
	/* Never written: the backing file's bytes, zeros past its end. */
	size_t from_backing = 0;
	if (q->backing && gofs < q->backing->size)
		from_backing = q->backing->size - gofs < len ? (size_t)(q->backing->size - gofs) : len;
	if (from_backing && blk_pread(q->backing, gofs, buf, from_backing) < 0)
		return -1;
	memset(buf + from_backing, 0, len - from_backing);
	return 0;
}

/* Calls fn on each piece of the iovec, split at guest cluster boundaries. */
static int for_each_piece(struct qcow2 *q, uint64_t off, const struct iovec *iov, int n,
			  int (*fn)(struct qcow2 *, uint64_t, uint8_t *, size_t))
{
	for (int k = 0; k < n; k++) {
		uint8_t *p = iov[k].iov_base;
		size_t left = iov[k].iov_len;
		while (left) {
			size_t room = (size_t)(q->cs - (off & (q->cs - 1)));
			size_t take = left < room ? left : room;
			if (fn(q, off, p, take) < 0)
				return -1;
			p += take;
			off += take;
			left -= take;
		}
	}
	return 0;
}

static int qcow2_readv(struct blk *b, uint64_t off, const struct iovec *iov, int n)
{
	return for_each_piece(q_of(b), off, iov, n, read_in_cluster);
}

/* --- refcounts and allocation -------------------------------------------------------------- */

/* The refcount of host cluster ci lives at *where (file offset of the bytes holding it) and
 * *shift (bit position, for refcounts narrower than a byte); 0 if its refcount block exists,
 * 1 if it does not, -1 if ci lies beyond the refcount table. */
static int refcount_place(struct qcow2 *q, uint64_t ci, uint64_t *where, unsigned *shift)
{
	uint64_t rti = ci / q->rb_entries, i = ci % q->rb_entries;

	if (rti >= q->rt_entries)
		return -1;
	uint64_t rb = q->rt[rti] & ~RT_RESERVED;
	if (!rb)
		return 1;
	uint64_t bit = i * q->refcount_bits;
	*where = rb + bit / 8;
	*shift = (unsigned)(bit % 8);
	return 0;
}

static int refcount_get(struct qcow2 *q, uint64_t ci, uint64_t *val)
{
	uint64_t where;
	unsigned shift, bytes = q->refcount_bits < 8 ? 1 : q->refcount_bits / 8;
	uint8_t raw[8];
	int rc = refcount_place(q, ci, &where, &shift);

	if (rc != 0) {
		*val = 0;
		return rc < 0 ? -1 : 0;
	}
	if (pread_full(q->fd, raw, bytes, where) < 0)
		return -1;
	uint64_t v = 0;
	for (unsigned k = 0; k < bytes; k++)
		v = v << 8 | raw[k];
	if (q->refcount_bits < 8)
		v = v >> shift & ((1u << q->refcount_bits) - 1);
	*val = v;
	return 0;
}

/* Sets an existing refcount block's entry. */
static int refcount_set(struct qcow2 *q, uint64_t ci, uint64_t val)
{
	uint64_t where;
	unsigned shift, bytes = q->refcount_bits < 8 ? 1 : q->refcount_bits / 8;
	uint8_t raw[8];

	if (refcount_place(q, ci, &where, &shift) != 0)
		return -1;
	if (q->refcount_bits < 8) {
		unsigned mask = ((1u << q->refcount_bits) - 1) << shift;
		if (pread_full(q->fd, raw, 1, where) < 0)
			return -1;
		raw[0] = (uint8_t)((raw[0] & ~mask) | ((unsigned)val << shift & mask));
	} else {
		for (int k = (int)bytes - 1; k >= 0; k--, val >>= 8)
			raw[k] = (uint8_t)val;
	}
	return pwrite_full(q->fd, raw, bytes, where);
}

/* A new refcount block for the clusters around ci, placed at ci itself (it counts itself). */
static int add_refcount_block(struct qcow2 *q, uint64_t ci)
{
	uint64_t off = ci << q->cluster_bits, rti = ci / q->rb_entries;
	uint8_t entry[8];

	if (pwrite_full(q->fd, q->zeros, q->cs, off) < 0)
		return -1;
	if (off + q->cs > q->file_size)
		q->file_size = off + q->cs;
	q->rt[rti] = off;
	if (refcount_set(q, ci, 1) < 0)
		return -1;
	put_be64(entry, off);
	return pwrite_full(q->fd, entry, 8, q->rt_offset + rti * 8);
}

/* Drops one reference from each host cluster of [off, off + len). */
static int release(struct qcow2 *q, uint64_t off, uint64_t len)
{
	for (uint64_t ci = off >> q->cluster_bits; ci <= (off + len - 1) >> q->cluster_bits; ci++) {
		uint64_t rc;
		if (refcount_get(q, ci, &rc) < 0)
			return -1;
		if (rc && refcount_set(q, ci, rc - 1) < 0)
			return -1;
	}
	return 0;
}

/* The refcount table covers too few clusters for ci: a larger copy goes at the end of the file
 * with the refcount blocks that count its own clusters, the header then names it in one write,
 * and the old table's clusters are released. Until that write the image is the old one, intact
 * (the new clusters are only leaked if vmon stops in between). */
static int grow_refcount_table(struct qcow2 *q, uint64_t ci)
{
	uint64_t per_cluster = q->cs / 8;
	uint64_t want = ci / q->rb_entries + 1 > 2 * q->rt_entries ? ci / q->rb_entries + 1
								   : 2 * q->rt_entries;
	uint64_t clusters = (want + per_cluster - 1) / per_cluster;
	uint64_t entries = clusters * per_cluster, start = q->alloc_next >> q->cluster_bits;
	uint64_t end = start + clusters;	/* first cluster after the new table and blocks */
	uint64_t *old = q->rt, old_entries = q->rt_entries, old_off = q->rt_offset;
	uint8_t hdr[12];

	if (clusters << q->cluster_bits > MAX_REFTABLE_BYTES)
		return corrupt(q, "refcount table would exceed 8 MiB", entries);
	uint64_t *rt = calloc(entries, 8), *disk = calloc(entries, 8);
	if (!rt || !disk) {
		free(rt);
		free(disk);
		return -1;
	}
	memcpy(rt, old, old_entries * 8);
	/* Refcount blocks for every new cluster that has none, each placed at the end (it then
	 * counts itself when it covers its own place). */
	for (uint64_t c = start; c < end; c++) {
		if (c / q->rb_entries >= entries)
			goto fail;
		if (!rt[c / q->rb_entries])
			rt[c / q->rb_entries] = end++ << q->cluster_bits;
	}
	for (uint64_t i = 0; i < entries; i++)
		if (rt[i] && (i >= old_entries || !old[i]) &&
		    pwrite_full(q->fd, q->zeros, q->cs, rt[i]) < 0)
			goto fail;
	q->rt = rt;
	q->rt_entries = entries;
	for (uint64_t c = start; c < end; c++)
		if (refcount_set(q, c, 1) < 0)
			goto restore;
	for (uint64_t i = 0; i < entries; i++)
		put_be64((uint8_t *)&disk[i], rt[i]);
	if (pwrite_full(q->fd, disk, entries * 8, start << q->cluster_bits) < 0)
		goto restore;
	put_be64(hdr, start << q->cluster_bits);
	put_be32(hdr + 8, (uint32_t)clusters);
	if (fdatasync(q->fd) < 0 || pwrite_full(q->fd, hdr, sizeof(hdr), 48) < 0)
		goto restore;
	q->rt_offset = start << q->cluster_bits;
	q->alloc_next = end << q->cluster_bits;
	if (q->alloc_next > q->file_size)
		q->file_size = q->alloc_next;
	free(old);
	free(disk);
	return release(q, old_off, (old_entries * 8 + q->cs - 1) & ~(q->cs - 1));
restore:
	q->rt = old;
	q->rt_entries = old_entries;
fail:
	free(rt);
	free(disk);
	return corrupt(q, "cannot grow the refcount table", entries);
}

/* A free host cluster, its refcount set to 1; 0 if none can be had. Clusters are taken from
 * the end of the file, so nothing the image references is ever handed out again. */
static uint64_t alloc_cluster(struct qcow2 *q)
{
	for (;;) {
		uint64_t ci = q->alloc_next >> q->cluster_bits, rc;
		uint64_t where;
		unsigned shift;
		int placed = refcount_place(q, ci, &where, &shift);

		if (placed < 0) {
			if (grow_refcount_table(q, ci) < 0)
				return 0;
			continue;
		}
		q->alloc_next += q->cs;
		if (placed == 1) {
			if (add_refcount_block(q, ci) < 0)
				return 0;
			continue;
		}
		if (refcount_get(q, ci, &rc) < 0)
			return 0;
		if (rc)
			continue;
		if (refcount_set(q, ci, 1) < 0)
			return 0;
		return ci << q->cluster_bits;
	}
}

/* A new cluster holding data (cs bytes); its offset, or 0. */
static uint64_t write_new_cluster(struct qcow2 *q, const void *data)
{
	uint64_t off = alloc_cluster(q);

	if (!off)
		return 0;
	if (pwrite_full(q->fd, data, q->cs, off) < 0)
		return 0;
	if (off + q->cs > q->file_size)
		q->file_size = off + q->cs;
	return off;
}

/* --- writing ------------------------------------------------------------------------------- */

/* The L2 table for guest offset gofs, allocated (or copied, if shared) as needed. */
static uint64_t *writable_l2(struct qcow2 *q, uint64_t gofs, uint64_t *l2off)
{
	uint64_t l1i = gofs >> q->cluster_bits >> (q->cluster_bits - 3);
	uint64_t old = q->l1[l1i] & OFFSET_MASK;
	uint8_t entry[8];

	if (old && (q->l1[l1i] & COPIED)) {
		*l2off = old;
		return l2_table(q, old);
	}
	/* A new table: zeros, or the shared one's copy; written before the L1 entry names it. */
	if (old) {
		uint64_t *t = l2_table(q, old);
		if (!t)
			return NULL;
		memcpy(q->cluster_buf, t, q->cs);
	} else {
		memset(q->cluster_buf, 0, q->cs);
	}
	uint64_t off = write_new_cluster(q, q->cluster_buf);
	if (!off)
		return NULL;
	put_be64(entry, off | COPIED);
	if (pwrite_full(q->fd, entry, 8, q->l1_offset + l1i * 8) < 0)
		return NULL;
	q->l1[l1i] = off | COPIED;
	if (old && release(q, old, q->cs) < 0)
		return NULL;
	*l2off = off;
	return l2_table(q, off);
}

static int write_in_cluster(struct qcow2 *q, uint64_t gofs, uint8_t *buf, size_t len)
{
	uint64_t l2off, in = gofs & (q->cs - 1), l2i = (gofs >> q->cluster_bits) & (q->l2_entries - 1);
	uint64_t *t = writable_l2(q, gofs, &l2off);
	uint8_t entry[8];

	if (!t)
		return -1;
	uint64_t e = get_be64((const uint8_t *)&t[l2i]), host = e & OFFSET_MASK;
	bool compressed = e & COMPRESSED;

	if (!compressed && host && host >= q->file_size)
		return corrupt(q, "data cluster outside the file", host);
	/* Our own cluster, holding data: write in place. */
	if (!compressed && host && (e & COPIED) && !(e & ZERO))
		return pwrite_full(q->fd, buf, len, host + in);

	/* The cluster's new content: the old one (zeros, backing, decompressed) with buf on it. */
	if (len < q->cs) {
		uint64_t base = gofs - in;
		if (!compressed && (e & ZERO))
			memset(q->cluster_buf, 0, q->cs);
		else if (read_in_cluster(q, base, q->cluster_buf, (size_t)q->cs) < 0)
			return -1;
	}
	memcpy(q->cluster_buf + in, buf, len);

	uint64_t new_host;
	if (!compressed && host && (e & COPIED)) {
		/* A zero cluster with its own space (preallocated): fill it. */
		if (pwrite_full(q->fd, q->cluster_buf, q->cs, host) < 0)
			return -1;
		new_host = host;
	} else {
		new_host = write_new_cluster(q, q->cluster_buf);
		if (!new_host)
			return -1;
	}
	put_be64(entry, new_host | COPIED);
	if (pwrite_full(q->fd, entry, 8, l2off + l2i * 8) < 0)
		return -1;
	memcpy(&t[l2i], entry, 8);
	/* The old cluster loses this reference only once nothing points at it. */
	if (compressed) {
		uint64_t coff, clen;
		compressed_range(q, e, &coff, &clen);
		if (q->zout_entry == e)
			q->zout_entry = 0;
		return release(q, coff, clen);
	}
	if (host && host != new_host)
		return release(q, host, q->cs);
	return 0;
}

static int qcow2_writev(struct blk *b, uint64_t off, const struct iovec *iov, int n)
{
	return for_each_piece(q_of(b), off, iov, n, write_in_cluster);
}

static int qcow2_flush(struct blk *b)
{
	return fdatasync(q_of(b)->fd);
}

static void qcow2_close(struct blk *b)
{
	struct qcow2 *q = q_of(b);

	blk_close(q->backing);
	for (int i = 0; i < L2_CACHE; i++)
		free(q->l2[i].t);
	free(q->l1);
	free(q->rt);
	free(q->cluster_buf);
	free(q->zeros);
	free(q->zin);
	free(q->zout);
	close(q->fd);
	free(q);
}

static const struct blk_ops qcow2_ops = {
	.readv = qcow2_readv, .writev = qcow2_writev, .flush = qcow2_flush, .close = qcow2_close,
};

/* --- opening ------------------------------------------------------------------------------- */

/* Each entry of a table read from the file: an offset that must be cluster-aligned and lie in
 * the file. */
static bool in_file(const struct qcow2 *q, uint64_t off, uint64_t len)
{
	return off <= q->file_size && len <= q->file_size - off;
}

/* Checks every L2 table named by the L1 table, and the refcount table, before the guest runs. */
static const char *check_tables(struct qcow2 *q, uint64_t *bad)
{
	uint64_t *t = (uint64_t *)q->cluster_buf;

	for (uint64_t i = 0; i < q->rt_entries; i++) {
		uint64_t rb = q->rt[i] & ~RT_RESERVED;
		*bad = q->rt[i];
		if (q->rt[i] & RT_RESERVED || rb & (q->cs - 1))
			return "refcount table entry not cluster-aligned";
		if (rb && !in_file(q, rb, q->cs))
			return "refcount block outside the file";
	}
	for (uint64_t i = 0; i < q->l1_size; i++) {
		uint64_t l2 = q->l1[i] & OFFSET_MASK;
		*bad = q->l1[i];
		if (q->l1[i] & L1_RESERVED || l2 & (q->cs - 1))
			return "L1 entry with reserved bits set or not cluster-aligned";
		if (!l2)
			continue;
		if (!in_file(q, l2, q->cs))
			return "L2 table outside the file";
		if (pread_full(q->fd, t, q->cs, l2) < 0)
			return "cannot read an L2 table";
		for (uint64_t k = 0; k < q->l2_entries; k++) {
			uint64_t e = get_be64((const uint8_t *)&t[k]), off, len;
			*bad = e;
			if (e & COMPRESSED) {
				compressed_range(q, e, &off, &len);
				if (off >= q->file_size)
					return "compressed cluster outside the file";
				continue;
			}
			off = e & OFFSET_MASK;
			if (e & L2_RESERVED || off & (q->cs - 1) || (q->version < 3 && (e & ZERO)))
				return "L2 entry with reserved bits set or not cluster-aligned";
			if (off && off >= q->file_size)
				return "data cluster outside the file";
		}
	}
	return NULL;
}

/* The header extensions: only an external data file matters (unsupported). */
static const char *check_extensions(const uint8_t *h, uint64_t start, uint64_t end)
{
	while (start + 8 <= end) {
		uint32_t type = get_be32(h + start), len = get_be32(h + start + 4);
		if (type == EXT_END)
			return NULL;
		if (type == EXT_DATA_FILE)
			return "external data files are not supported";
		uint64_t padded = ((uint64_t)len + 7) & ~7ull;
		if (padded > end - start - 8)
			return "header extension runs past the header";
		start += 8 + padded;
	}
	return NULL;
}

/* The backing file's path: as written, or relative to the image's directory. */
static const char *backing_path(const char *image, const uint8_t *name, uint32_t len, char *out,
				size_t size)
{
	if (memchr(name, 0, len))
		return "backing file name contains a NUL byte";
	const char *slash = strrchr(image, '/');
	int dir = name[0] == '/' || !slash ? 0 : (int)(slash - image + 1);
	if ((size_t)snprintf(out, size, "%.*s%.*s", dir, image, (int)len, (const char *)name) >= size)
		return "backing file name too long";
	return NULL;
}

static const char *parse_header(struct qcow2 *q, const uint8_t *h, uint64_t hlen, bool readonly,
				uint64_t *backing_off, uint32_t *backing_len)
{
	q->version = get_be32(h + 4);
	if (q->version != 2 && q->version != 3)
		return "qcow2 version is neither 2 nor 3";
	*backing_off = get_be64(h + 8);
	*backing_len = get_be32(h + 16);
	q->cluster_bits = get_be32(h + 20);
	q->blk.size = get_be64(h + 24);
	uint32_t crypt = get_be32(h + 32);
	q->l1_size = get_be32(h + 36);
	q->l1_offset = get_be64(h + 40);
	q->rt_offset = get_be64(h + 48);
	uint64_t rt_clusters = get_be32(h + 56);
	uint32_t snapshots = get_be32(h + 60);
	uint64_t incompat = 0, autoclear = 0;
	uint32_t refcount_order = 4, header_len = V2_HEADER_LEN;

	if (q->cluster_bits < MIN_CLUSTER_BITS || q->cluster_bits > MAX_CLUSTER_BITS)
		return "cluster size out of range (512 bytes to 2 MiB)";
	q->cs = 1ull << q->cluster_bits;
	if (q->version == 3) {
		if (hlen < V3_HEADER_LEN)
			return "file too short for a qcow2 v3 header";
		incompat = get_be64(h + 72);
		autoclear = get_be64(h + 88);
		refcount_order = get_be32(h + 96);
		header_len = get_be32(h + 100);
		if (header_len < V3_HEADER_LEN || header_len % 8 || header_len > q->cs ||
		    header_len > hlen)
			return "bad header length";
	}
	if (incompat & ~INCOMPAT_KNOWN)
		return "image uses incompatible features vmon does not know";
	if ((incompat & INCOMPAT_COMPRESSION) && (header_len <= V3_HEADER_LEN || h[104] != 0))
		return "compression other than deflate";
	if (!readonly && (incompat & (INCOMPAT_DIRTY | INCOMPAT_CORRUPT)))
		return "image is marked dirty or corrupt (repair it with qemu-img check -r all, or open it ,ro)";
	if (crypt)
		return "encrypted images are not supported";
	if (refcount_order > 6)
		return "refcount width over 64 bits";
	if (!readonly && snapshots)
		return "image has internal snapshots; vmon opens such images read-only only (,ro)";
	q->refcount_bits = 1u << refcount_order;
	q->l2_entries = q->cs / 8;
	q->rb_entries = q->cs * 8 / q->refcount_bits;
	q->csize_shift = 62 - (q->cluster_bits - 8);
	q->csize_mask = (1ull << (q->cluster_bits - 8)) - 1;

	if (q->blk.size % 512 || q->blk.size > MAX_VIRTUAL_SIZE)
		return "virtual size not a multiple of 512 or too large";
	uint64_t span = q->l2_entries * q->cs;	/* guest bytes per L1 entry */
	if (q->l1_size > MAX_L1_BYTES / 8 || q->l1_size < (q->blk.size + span - 1) / span)
		return "L1 table size does not match the virtual size";
	if (q->l1_offset & (q->cs - 1) || !in_file(q, q->l1_offset, q->l1_size * 8))
		return "L1 table outside the file or not cluster-aligned";
	if (!rt_clusters || rt_clusters > MAX_REFTABLE_BYTES >> q->cluster_bits ||
	    q->rt_offset & (q->cs - 1) || !in_file(q, q->rt_offset, rt_clusters << q->cluster_bits))
		return "refcount table outside the file, empty or not cluster-aligned";
	q->rt_entries = (rt_clusters << q->cluster_bits) / 8;

	uint64_t ext_end = hlen < q->cs ? hlen : q->cs;
	if (*backing_off) {
		if (!*backing_len || *backing_len > BACKING_NAME_MAX ||
		    *backing_off > ext_end || *backing_len > ext_end - *backing_off)
			return "backing file name outside the first cluster or too long";
		ext_end = *backing_off;
	}
	const char *why = check_extensions(h, header_len, ext_end);
	if (why)
		return why;
	/* Auto-clear bits describe data a writer that does not know them invalidates. */
	if (!readonly && autoclear) {
		uint8_t zero[8] = { 0 };
		if (pwrite_full(q->fd, zero, 8, 88) < 0)
			return "cannot clear the auto-clear feature bits";
	}
	return NULL;
}

static const char *load_tables(struct qcow2 *q)
{
	q->l1 = malloc(q->l1_size * 8 + 8);
	q->rt = malloc(q->rt_entries * 8);
	q->cluster_buf = malloc(q->cs);
	q->zeros = calloc(1, q->cs);
	q->zin = malloc(2 * q->cs);
	q->zout = malloc(q->cs);
	if (!q->l1 || !q->rt || !q->cluster_buf || !q->zeros || !q->zin || !q->zout)
		return "out of memory";
	if (pread_full(q->fd, q->l1, q->l1_size * 8, q->l1_offset) < 0 ||
	    pread_full(q->fd, q->rt, q->rt_entries * 8, q->rt_offset) < 0)
		return "cannot read the L1 or refcount table";
	for (uint64_t i = 0; i < q->l1_size; i++)
		q->l1[i] = get_be64((const uint8_t *)&q->l1[i]);
	for (uint64_t i = 0; i < q->rt_entries; i++)
		q->rt[i] = get_be64((const uint8_t *)&q->rt[i]);
	return NULL;
}

struct blk *qcow2_open(int fd, const char *path, bool readonly, uint64_t file_size,
		       struct blk_chain *chain, char *err)
{
	struct qcow2 *q = blk_alloc(sizeof(*q), path);
	uint8_t *h = malloc(1u << MAX_CLUSTER_BITS);
	uint64_t hlen = file_size < (1u << MAX_CLUSTER_BITS) ? file_size : 1u << MAX_CLUSTER_BITS;
	uint64_t backing_off = 0, bad = 0;
	uint32_t backing_len = 0;
	const char *why;

	if (!q || !h) {
		free(h);
		free(q);
		close(fd);
		snprintf(err, BLK_ERR_LEN, "%s: %s", path, strerror(ENOMEM));
		return NULL;
	}
	q->fd = fd;
	q->file_size = file_size;
	q->blk.ops = &qcow2_ops;
	q->blk.readonly = readonly;
	q->blk.format = "qcow2";
	if (hlen < V2_HEADER_LEN)
		why = "file too short for a qcow2 header";
	else if (pread_full(fd, h, hlen, 0) < 0)
		why = strerror(errno);
	else
		why = parse_header(q, h, hlen, readonly, &backing_off, &backing_len);
	if (!why)
		why = load_tables(q);
	if (!why && (why = check_tables(q, &bad))) {
		snprintf(err, BLK_ERR_LEN, "%s: corrupt qcow2 image: %s (%#llx)", path, why,
			 (unsigned long long)bad);
		goto fail;
	}
	if (!why && backing_off) {
		char name[PATH_MAX];
		why = backing_path(path, h + backing_off, backing_len, name, sizeof(name));
		if (!why && !(q->backing = blk_open_chain(name, chain, err)))
			goto fail;
	}
	if (why) {
		snprintf(err, BLK_ERR_LEN, "%s: %s", path, why);
		goto fail;
	}
	free(h);
	q->alloc_next = (file_size + q->cs - 1) & ~(q->cs - 1);
	return &q->blk;
fail:
	free(h);
	qcow2_close(&q->blk);
	return NULL;
}
