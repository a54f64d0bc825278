/* The block layer on images qemu-img makes (qemu-utils): qcow2 read against the raw data it was
 * converted from (plain, compressed, zero clusters, v2, 1- and 64-bit refcounts), writes that
 * read back and leave `qemu-img check` clean and `qemu-img convert` equal to a reference,
 * backing files (reads fall through, writes stay in the overlay, loops refused), images whose
 * tables point outside the file refused at open, and mutated headers and tables that must be
 * refused or served without a crash (ASan/UBSan build). */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/block.h"
#include "util/bytes.h"
#include "test.h"

#define DISK		(1u << 20)	/* 1 MiB images */
#define CLUSTER		4096		/* small clusters: several L2 tables and refcount blocks */

static char dir[64];

/* Runs a shell command (output discarded); its exit status. */
static int sh(const char *fmt, ...)
{
	char cmd[1024], line[1024 + 32];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "(%s) >/dev/null 2>&1", cmd);
	int st = system(line);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A path in the test's directory; each test takes at most 8. */
static const char *tmp(const char *name)
{
	static char paths[8][128];
	static int next;
	char *p = paths[next++ % 8];
	if (!dir[0]) {
		strcpy(dir, "/tmp/vmon-qcow2-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	snprintf(p, 128, "%s/%s", dir, name);
	return p;
}

static void cleanup(void)
{
	if (dir[0])
		sh("rm -rf %s", dir);
	dir[0] = 0;
}

/* Deterministic pattern: mostly random bytes, some runs (so compression has work to do). */
static uint8_t *pattern(unsigned seed)
{
	uint8_t *p = malloc(DISK);
	for (size_t i = 0; i < DISK; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (i / 8192) % 3 == 0 ? (uint8_t)(i / 8192) : (uint8_t)(seed >> 16);
	}
	return p;
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t done = fwrite(data, 1, len, f);
	return fclose(f) == 0 && done == len ? 0 : -1;
}

static uint8_t *read_disk(struct blk *b)
{
	uint8_t *p = malloc(b->size ? b->size : 1);
	if (blk_pread(b, 0, p, b->size) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

static struct blk *open_ok(const char *path, bool ro)
{
	char err[BLK_ERR_LEN];
	struct blk *b = blk_open(path, ro, err);
	if (!b)
		fprintf(stderr, "  %s\n", err);
	return b;
}

/* Whether the disk path opens read-only and holds exactly data. */
static bool reads_as(const char *path, const uint8_t *data)
{
	struct blk *b = open_ok(path, true);
	uint8_t *got = b ? read_disk(b) : NULL;
	bool same = got && memcmp(got, data, DISK) == 0;

	free(got);
	blk_close(b);
	return same;
}

/* The bytes of a qemu-img convert of path to raw. */
static uint8_t *as_raw(const char *path)
{
	char raw[128];
	FILE *f;
	snprintf(raw, sizeof(raw), "%s/as-raw", dir);
	uint8_t *p = malloc(DISK);
	if (sh("qemu-img convert -O raw %s %s", path, raw) != 0 || !(f = fopen(raw, "rb")) ||
	    fread(p, 1, DISK, f) != DISK) {
		free(p);
		return NULL;
	}
	fclose(f);
	return p;
}

TEST(qcow2_reads_what_qemu_img_wrote)
{
	static const char *const variants[] = {
		"-O qcow2 -o cluster_size=4096",
		"-O qcow2 -o cluster_size=65536",
		"-c -O qcow2 -o cluster_size=4096",		/* compressed */
		"-c -O qcow2 -o cluster_size=2097152",
		"-O qcow2 -o compat=0.10,cluster_size=4096",	/* version 2 */
		"-O qcow2 -o refcount_bits=1,cluster_size=4096",
		"-O qcow2 -o refcount_bits=64,cluster_size=4096",
	};
	uint8_t *data = pattern(1);
	const char *raw = tmp("src.raw"), *img = tmp("img.qcow2");

	CHECK(write_file(raw, data, DISK) == 0);
	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		CHECK_EQ(sh("qemu-img convert %s %s %s", variants[v], raw, img), 0);
		struct blk *b = open_ok(img, true);
		CHECK(b != NULL);
		if (!b)
			continue;
		CHECK(strcmp(b->format, "qcow2") == 0);
		CHECK_EQ(b->size, DISK);
		uint8_t *got = read_disk(b);
		CHECK(got && memcmp(got, data, DISK) == 0);
		if (got && memcmp(got, data, DISK))
			fprintf(stderr, "  variant %s differs\n", variants[v]);
		free(got);
		blk_close(b);
	}
	/* Zero clusters (v3 flag) over data, and an unaligned read across clusters. */
	CHECK_EQ(sh("qemu-img convert -O qcow2 -o cluster_size=4096 %s %s", raw, img), 0);
	CHECK_EQ(sh("qemu-io -c 'write -z 8192 16384' %s", img), 0);
	memset(data + 8192, 0, 16384);
	struct blk *b = open_ok(img, true);
	CHECK(b != NULL);
	if (b) {
		uint8_t *got = read_disk(b), piece[10000];
		CHECK(got && memcmp(got, data, DISK) == 0);
		CHECK(blk_pread(b, 4000, piece, sizeof(piece)) == 0);
		CHECK(memcmp(piece, data + 4000, sizeof(piece)) == 0);
		free(got);
		blk_close(b);
	}
	free(data);
	cleanup();
}

/* Writes at scattered offsets and sizes; the image must read back, convert to the same bytes
 * and pass qemu-img check. */
static void write_and_verify(int *failed_, const char *img, uint8_t *ref, unsigned seed)
{
	struct blk *b = open_ok(img, false);
	CHECK(b != NULL);
	if (!b)
		return;
	uint8_t buf[3 * CLUSTER];
	for (int i = 0; i < 200; i++) {
		seed = seed * 1103515245 + 12345;
		uint64_t off = (seed >> 8) % (DISK / 512) * 512;
		size_t len = ((seed >> 3) % 24 + 1) * 512;
		if (off + len > DISK)
			len = DISK - off;
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)(seed + k * 7);
		CHECK(blk_pwrite(b, off, buf, len) == 0);
		memcpy(ref + off, buf, len);
	}
	CHECK(blk_flush(b) == 0);
	uint8_t *got = read_disk(b);
	CHECK(got && memcmp(got, ref, DISK) == 0);
	free(got);
	blk_close(b);
	CHECK_EQ(sh("qemu-img check %s", img), 0);
	got = as_raw(img);
	CHECK(got && memcmp(got, ref, DISK) == 0);
	free(got);
}

TEST(qcow2_writes_stay_clean)
{
	static const char *const variants[] = {
		"-O qcow2 -o cluster_size=4096",
		"-c -O qcow2 -o cluster_size=4096",		/* rewrites compressed clusters */
		"-O qcow2 -o compat=0.10,cluster_size=4096",
		"-O qcow2 -o refcount_bits=1,cluster_size=4096",
		"-O qcow2 -o refcount_bits=64,cluster_size=512",
		"-O qcow2",
	};
	const char *raw = tmp("src.raw"), *img = tmp("img.qcow2");
	uint8_t *data = pattern(2);

	CHECK(write_file(raw, data, DISK) == 0);
	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		uint8_t *ref = pattern(2);
		CHECK_EQ(sh("qemu-img convert %s %s %s", variants[v], raw, img), 0);
		int before = *failed_;
		write_and_verify(failed_, img, ref, (unsigned)v + 7);
		if (*failed_ != before)
			fprintf(stderr, "  variant %s\n", variants[v]);
		free(ref);
	}
	/* An empty image (no L2 tables yet), and one with zero clusters being overwritten. */
	uint8_t *ref = calloc(1, DISK);
	CHECK_EQ(sh("qemu-img create -f qcow2 -o cluster_size=4096 %s 1M", img), 0);
	write_and_verify(failed_, img, ref, 99);
	CHECK_EQ(sh("qemu-io -c 'write -z 0 1M' %s", img), 0);
	memset(ref, 0, DISK);
	write_and_verify(failed_, img, ref, 5);
	CHECK_EQ(sh("qemu-io -c 'write -z 0 512k' -c 'write -z -u 512k 512k' %s", img), 0);
	memset(ref, 0, DISK);
	write_and_verify(failed_, img, ref, 6);
	free(ref);
	free(data);
	cleanup();
}

/* The header's refcount_table_clusters (big-endian, at 56). */
static uint32_t refcount_table_clusters(const char *img)
{
	uint8_t be[4] = { 0 };
	FILE *f = fopen(img, "rb");
	if (f) {
		if (fseek(f, 56, SEEK_SET) != 0 || fread(be, 1, 4, f) != 4)
			memset(be, 0, 4);
		fclose(f);
	}
	return get_be32(be);
}

/* 512-byte clusters: qemu-img's refcount table covers 8 MiB of file; writing 24 MiB makes vmon
 * add refcount blocks while data waits to be written and grow the table (twice), and the image
 * must still check clean and hold the data. */
TEST(qcow2_refcount_table_grows)
{
	const char *img = tmp("small-clusters.qcow2"), *raw = tmp("small-clusters.raw");
	size_t chunk = 64 << 10, total = 24 << 20;
	uint8_t *buf = malloc(chunk), *back = malloc(chunk);

	CHECK_EQ(sh("qemu-img create -f qcow2 -o cluster_size=512 %s 32M", img), 0);
	uint32_t table_clusters = refcount_table_clusters(img);
	struct blk *b = open_ok(img, false);
	CHECK(b != NULL);
	if (b) {
		for (size_t off = 0; off < total; off += chunk) {
			memset(buf, (int)(off / chunk + 1), chunk);
			CHECK(blk_pwrite(b, off, buf, chunk) == 0);
		}
		blk_close(b);
	}
	CHECK(refcount_table_clusters(img) > table_clusters);
	CHECK_EQ(sh("qemu-img check %s", img), 0);
	CHECK_EQ(sh("qemu-img convert -O raw %s %s", img, raw), 0);
	FILE *f = fopen(raw, "rb");
	CHECK(f != NULL);
	bool same = f != NULL;
	for (size_t off = 0; f && same && off < total; off += chunk) {
		memset(buf, (int)(off / chunk + 1), chunk);
		same = fread(back, 1, chunk, f) == chunk && memcmp(back, buf, chunk) == 0;
		if (!same)
			fprintf(stderr, "  the 64 KiB at %zu differ\n", off);
	}
	CHECK(same);
	if (f)
		fclose(f);
	free(buf);
	free(back);
	cleanup();
}

TEST(qcow2_backing_file)
{
	const char *raw = tmp("base.raw"), *base = tmp("base.qcow2"), *top = tmp("top.qcow2");
	uint8_t *data = pattern(3);

	CHECK(write_file(raw, data, DISK) == 0);
	CHECK_EQ(sh("qemu-img convert -O qcow2 %s %s", raw, base), 0);
	/* A relative name: resolved against the overlay's directory. */
	CHECK_EQ(sh("cd %s && qemu-img create -f qcow2 -o cluster_size=4096 -b base.qcow2 -F qcow2 top.qcow2",
		    dir), 0);
	CHECK(reads_as(top, data));
	uint8_t *ref = pattern(3);
	write_and_verify(failed_, top, ref, 11);
	uint8_t *base_now = as_raw(base);
	CHECK(base_now && memcmp(base_now, data, DISK) == 0);	/* the base is never written */
	free(base_now);
	/* A raw backing file works too; a chain of three as well. */
	CHECK_EQ(sh("qemu-img create -f qcow2 -b %s -F raw %s", raw, base), 0);
	CHECK_EQ(sh("qemu-img create -f qcow2 -b %s -F qcow2 %s", base, top), 0);
	CHECK(reads_as(top, data));
	/* Loops: an image that backs itself, and two that back each other. */
	char err[BLK_ERR_LEN];
	CHECK_EQ(sh("qemu-img rebase -u -b %s -F qcow2 %s", top, top), 0);
	CHECK(blk_open(top, true, err) == NULL && strstr(err, "backing file loop"));
	CHECK_EQ(sh("qemu-img create -f qcow2 %s 1M && qemu-img create -f qcow2 -b %s -F qcow2 %s && "
		    "qemu-img rebase -u -b %s -F qcow2 %s", base, base, top, top, base), 0);
	CHECK(blk_open(top, false, err) == NULL && strstr(err, "backing file loop"));
	free(ref);
	free(data);
	cleanup();
}

/* --- hostile images ------------------------------------------------------------------------ */

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	uint8_t *p = malloc(*len);
	if (fread(p, 1, *len, f) != *len) {
		free(p);
		p = NULL;
	}
	fclose(f);
	return p;
}

/* An image with data (some clusters compressed); its bytes, and where its first L2 table and
 * refcount table lie. */
static uint8_t *sample(const char *img, size_t *len, uint64_t *l2, uint64_t *rt)
{
	const char *raw = tmp("s.raw");
	uint8_t *data = pattern(4);
	write_file(raw, data, DISK);
	free(data);
	if (sh("qemu-img convert -c -O qcow2 -o cluster_size=4096 %s %s && "
	       "qemu-io -c 'write -P 0x5a 0 64k' -c 'write -z 128k 64k' %s", raw, img, img) != 0)
		return NULL;
	uint8_t *p = slurp(img, len);
	if (p) {
		*l2 = get_be64(p + get_be64(p + 40)) & 0x00fffffffffffe00ull;
		*rt = get_be64(p + 48);
	}
	return p;
}

TEST(qcow2_pointers_outside_the_file_refused)
{
	const char *img = tmp("bad.qcow2");
	size_t len;
	uint64_t l2, rt;
	uint8_t *good = sample(img, &len, &l2, &rt);
	char err[BLK_ERR_LEN];

	CHECK(good && l2 && l2 < len && rt < len);
	if (!good)
		return;
	uint8_t *p = malloc(len);
	/* An L2 entry for a data cluster far past the end. */
	memcpy(p, good, len);
	put_be64(p + l2 + 8, (1ull << 63) | (len + (1u << 20)));
	CHECK(write_file(img, p, len) == 0);
	CHECK(blk_open(img, true, err) == NULL && strstr(err, "data cluster outside the file"));
	/* A refcount block past the end. */
	memcpy(p, good, len);
	put_be64(p + rt, (len + 40960) & ~4095ull);
	CHECK(write_file(img, p, len) == 0);
	CHECK(blk_open(img, false, err) == NULL && strstr(err, "refcount block outside the file"));
	/* An L1 table larger than the file. */
	memcpy(p, good, len);
	p[36] = 0x00, p[37] = 0x10;
	CHECK(write_file(img, p, len) == 0);
	CHECK(blk_open(img, true, err) == NULL && strstr(err, "L1 table"));
	/* Not qcow2 at all: raw, as long as it is a multiple of 512 bytes. */
	memcpy(p, good, len);
	p[0] = 'X';
	CHECK(write_file(img, p, len) == 0);
	struct blk *b = blk_open(img, true, err);
	CHECK(b && strcmp(b->format, "raw") == 0);
	blk_close(b);
	free(p);
	free(good);
	cleanup();
}

/* Random bytes in the header, the L1, L2 and refcount tables: each image is opened, read whole
 * and written here and there; whatever happens, nothing may crash or run out of bounds. */
TEST(qcow2_mutated_images_never_crash)
{
	const char *img = tmp("fuzz.qcow2");
	size_t len;
	uint64_t l2, rt;
	uint8_t *good = sample(img, &len, &l2, &rt);
	unsigned seed = 12345, opened = 0;

	CHECK(good != NULL);
	if (!good)
		return;
	uint8_t *p = malloc(len), buf[8192];
	uint64_t l1 = get_be64(good + 40);
	uint64_t regions[] = { 0, l1, l2, rt };
	int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, 2);		/* the corruptions reported while serving requests */
	for (int iter = 0; iter < 1500; iter++) {
		memcpy(p, good, len);
		for (int m = 0; m < 1 + iter % 4; m++) {
			seed = seed * 1103515245 + 12345;
			uint64_t base = regions[(seed >> 4) % 4];
			uint64_t at = base + (seed >> 8) % (base ? 4096 : 112);
			if (at < len)
				p[at] = (seed >> 20) % 3 == 0 ? 0xff : (uint8_t)(seed >> 12);
		}
		write_file(img, p, len);
		char err[BLK_ERR_LEN];
		struct blk *b = blk_open(img, iter % 2, err);
		if (!b)
			continue;
		opened++;
		for (uint64_t off = 0; off + sizeof(buf) <= b->size && off < (4u << 20);
		     off += sizeof(buf) * 3)
			blk_pread(b, off, buf, sizeof(buf));
		for (int w = 0; w < 8 && b->size >= sizeof(buf); w++) {
			seed = seed * 1103515245 + 12345;
			blk_pwrite(b, (seed >> 8) % (b->size / 512 - sizeof(buf) / 512 + 1) * 512,
				   buf, sizeof(buf));
		}
		blk_close(b);
	}
	dup2(saved, 2);
	close(saved);
	close(devnull);
	CHECK(opened > 100);		/* the mutations left many images usable */
	free(p);
	free(good);
	cleanup();
}
