/* The migration stream as the target parses it (snapshot_open_stream + snapshot_load over a
 * pipe): a stream made by the source's writers loads exactly; truncated, corrupted and hostile
 * streams (RAM records outside RAM, absurd lengths, bad encodings, missing or repeated
 * sections) are refused without a crash or a write outside guest RAM. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot_fixture.h"
#include "dirty.h"
#include "hw/clock.h"
#include "hw/irqchip.h"
#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "test.h"
#include "vm.h"

#define MiB	(1ull << 20)
#define PAGE	4096u

struct feed {
	int fd;
	const uint8_t *buf;
	size_t len;
};

static void *feeder(void *arg)
{
	struct feed *f = arg;
	size_t done = 0;

	while (done < f->len) {
		ssize_t n = write(f->fd, f->buf + done, f->len - done);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(f->fd);
	return NULL;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Loads buf as a migration stream into vm (built for 2 MiB, no vCPUs): 0 if accepted. */
static int load(struct vm *vm, const uint8_t *buf, size_t len)
{
	int p[2];
	struct vm_config cfg = { 0 };

	if (pipe(p) < 0)
		return -2;
	struct feed f = { .fd = p[1], .buf = buf, .len = len };
	pthread_t t;
	pthread_create(&t, NULL, feeder, &f);
	struct snapshot_reader *r = snapshot_open_stream(fdopen(p[0], "rb"), "test", &cfg);
	int ret = -1;
	if (r && cfg.mem_size == vm->mem.size)
		ret = snapshot_load(r, vm);
	snapshot_close(r);		/* closes the read end: the feeder stops */
	pthread_join(t, NULL);
	return ret;
}

/* The stream a source sends for vm: config, device set, every non-zero page, the pages in
 * dirty again, sync, clock, end (no vCPUs, no device states). */
static uint8_t *stream_of(struct vm *vm, const uint64_t *dirty, size_t *len)
{
	char *mem = NULL;
	FILE *f = open_memstream(&mem, len);
	struct snap_writer w;
	uint64_t pages = 0;

	snap_writer_start(&w, f);
	snapshot_write_config(vm, &w);
	snapshot_write_device_set(vm, &w);
	snapshot_write_ram(vm, &w, NULL, false, &pages);
	snapshot_write_ram(vm, &w, dirty, true, &pages);
	snap_write_section(&w, "sync", NULL, 0);
	snapshot_write_clock(vm, &w);
	snap_writer_end(&w);
	fclose(f);
	return (uint8_t *)mem;
}

/* A hand-made stream: config for 2 MiB, no devices, one "ram" section of rec_len bytes, clock,
 * end. */
static uint8_t *stream_with_record(const uint8_t *rec, uint32_t rec_len, size_t *len)
{
	char *mem = NULL;
	FILE *f = open_memstream(&mem, len);
	struct snap_writer w;
	uint8_t config[15], clock[16];
	struct vm_clock running = { 0 };	/* never paused: CLOCK_MONOTONIC */

	put_le(config, 2 * MiB, 8);
	put_le(config + 8, 1, 4);
	config[12] = 2;
	memcpy(config + 13, "bt", 2);
	put_le(clock, vm_clock_now_ns(&running), 8);
	put_le(clock + 8, guest_tsc_epoch_ns(), 8);
	snap_writer_start(&w, f);
	snap_write_section(&w, "config", config, sizeof(config));
	snap_write_section(&w, "devices", "\0\0\0", 3);	/* no disks, no rng, no net */
	snap_write_section(&w, "ram", rec, rec_len);
	snap_write_section(&w, "clock", clock, sizeof(clock));
	snap_writer_end(&w);
	fclose(f);
	return (uint8_t *)mem;
}

/* The target prints one line per refused stream: keep the test output readable. */
static int quiet_begin(void)
{
	int saved = dup(2);
	FILE *null = fopen("/dev/null", "w");

	dup2(fileno(null), 2);
	fclose(null);
	return saved;
}

static void quiet_end(int saved)
{
	dup2(saved, 2);
	close(saved);
}

TEST(migrate_stream_round_trip)
{
	struct vm *src = boot_test_vm(2 * MiB, 1), *dst = boot_test_vm(2 * MiB, 1);
	uint64_t dirty[dirty_words(2 * MiB / PAGE)];
	uint8_t *s = src->mem.base, *d = dst->mem.base;
	size_t len;

	src->nr_cpus = 1;			/* "config" says one vCPU, ... */
	dst->nr_cpus = 0;			/* ... which the target does not ask for */
	src->engine = &bt_engine;		/* "config" names it, ... */
	dst->engine = &kvm_engine;		/* ... and another engine does not take it */
	memset(dirty, 0, sizeof(dirty));
	memset(s + 3 * PAGE, 0x5a, 2 * PAGE);			/* round 0: pages 3, 4 */
	memset(s + 100 * PAGE, 0xa5, PAGE);
	memset(d + 7 * PAGE, 0x77, PAGE);			/* stale on the target */
	dirty[0] = 1ull << 7 | 1ull << 8;			/* page 7: now zero */
	memset(s + 8 * PAGE, 0x11, PAGE);
	uint8_t *buf = stream_of(src, dirty, &len);
	int q = quiet_begin();
	CHECK(load(dst, buf, len) != 0);
	quiet_end(q);
	dst->engine = &bt_engine;
	CHECK(load(dst, buf, len) == 0);
	CHECK(memcmp(s, d, 2 * MiB) == 0);			/* zero record cleared page 7 */

	/* The same bytes as a regular file are not a snapshot: "sync" and a late clock are
	 * stream-only. */
	char *path = boot_test_file(buf, len);
	struct vm_config cfg;
	q = quiet_begin();
	CHECK(snapshot_open(path, &cfg) == NULL);
	quiet_end(q);
	boot_test_file_free(path);

	/* Every truncation and every flipped byte is refused, and nothing outside RAM is
	 * written (ASan watches). */
	q = quiet_begin();
	for (size_t n = 0; n < len; n += n < 64 ? 1 : 61)
		CHECK(load(dst, buf, n) != 0);
	uint8_t *bad = malloc(len);
	for (size_t i = 0; i < len; i += i < 64 ? 1 : 97) {
		memcpy(bad, buf, len);
		bad[i] ^= 0x40;
		CHECK(load(dst, bad, len) != 0);
	}
	/* A stream that ends without "clock" (the source never paused) is not a VM. */
	size_t cut = len - (SNAP_SECTION_HEADER + 4) - (SNAP_SECTION_HEADER + 16);
	memcpy(bad, buf, len);
	CHECK(load(dst, bad, cut) != 0);
	quiet_end(q);
	free(bad);
	free(buf);
	boot_test_vm_free(src);
	boot_test_vm_free(dst);
}

TEST(migrate_stream_hostile_ram_records)
{
	struct vm *dst = boot_test_vm(2 * MiB, 1);
	uint8_t rec[16 + 2 * PAGE];
	size_t len;
	struct {
		uint64_t gpa;
		uint32_t pages, enc, data;
		int ok;
	} cases[] = {
		{ 0x1000, 1, 0, PAGE, 0 },		/* good raw page */
		{ 0x2000, 2, 2, 0, 0 },			/* good zero run */
		{ 2 * MiB - PAGE, 1, 0, PAGE, 0 },	/* the last page */
		{ 2 * MiB, 1, 0, PAGE, -1 },		/* just past RAM */
		{ 2 * MiB - PAGE, 2, 2, 0, -1 },	/* straddles the end */
		{ MEM_HOLE_START, 1, 2, 0, -1 },	/* the MMIO hole */
		{ UINT64_MAX - PAGE + 1, 2, 2, 0, -1 },	/* wraps */
		{ 0x1800, 1, 0, PAGE, -1 },		/* not page aligned */
		{ 0x1000, 0, 0, 0, -1 },		/* no pages */
		{ 0x1000, 257, 2, 0, -1 },		/* over the run limit */
		{ 0x1000, 0x100000, 2, 0, -1 },		/* absurd */
		{ 0x1000, 1, 0, PAGE - 1, -1 },		/* short raw data */
		{ 0x1000, 1, 0, 2 * PAGE, -1 },		/* raw data too long */
		{ 0x1000, 1, 2, 8, -1 },		/* a zero record with data */
		{ 0x1000, 1, 1, 100, -1 },		/* zstd garbage */
		{ 0x1000, 1, 3, PAGE, -1 },		/* unknown encoding */
	};

	dst->nr_cpus = 0;
	dst->engine = &bt_engine;		/* the stream's "config" names bt */
	memset(rec + 16, 0xee, sizeof(rec) - 16);
	int q = quiet_begin();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put_le(rec, cases[i].gpa, 8);
		put_le(rec + 8, cases[i].pages, 4);
		put_le(rec + 12, cases[i].enc, 4);
		uint8_t *buf = stream_with_record(rec, 16 + cases[i].data, &len);
		int ret = load(dst, buf, len);
		if ((ret == 0) != (cases[i].ok == 0))
			fprintf(stderr, "  case %zu: load %d\n", i, ret);
		CHECK((ret == 0) == (cases[i].ok == 0));
		free(buf);
	}
	/* A record header shorter than 16 bytes. */
	uint8_t *buf = stream_with_record(rec, 10, &len);
	CHECK(load(dst, buf, len) != 0);
	free(buf);
	/* A section that claims more than any reader allocates: refused before reading it. */
	buf = stream_with_record(rec, 16 + PAGE, &len);
	put_le(buf + SNAP_HEADER_SIZE + 2 * SNAP_SECTION_HEADER + 15 + 3 + SNAP_NAME_LEN,
	       SNAP_MAX_SECTION + 1, 4);
	CHECK(load(dst, buf, len) != 0);
	/* Not a vmon stream at all. */
	memcpy(buf, "GET / HTTP/1.1\r\n", 16);
	CHECK(load(dst, buf, len) != 0);
	quiet_end(q);
	free(buf);
	CHECK(dst->mem.base[0x1000] == 0xee && dst->mem.base[0x2000] == 0);
	boot_test_vm_free(dst);
}
