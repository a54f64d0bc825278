/* Snapshot and restore of a VM: which sections, in which order, and how each is applied.
 *
 * RAM goes as "ram" records, each a run of up to RAM_RUN_PAGES consecutive pages:
 *   u64 guest-physical address, u32 page count, u32 encoding (0 raw, 1 zstd, 2 zero), data
 * A restored VM starts from zeroed RAM, so a snapshot leaves zero pages out. The records stand
 * alone (any order, any subset), which is what pre-copy migration (src/migrate.c) needs: every
 * non-zero page, then the dirtied pages again as more records (a page that became zero as a
 * "zero" record without data), then the rest of the state. A migration stream has "clock" after
 * the RAM, when the source is paused; a snapshot has it after "config". A stream may also hold
 * empty "sync" sections, which the reader answers on the same socket once it has loaded
 * everything before them.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "host_file.h"
#include "hw/clock.h"
#include "hw/irqchip.h"
#include "snapshot/cpu.h"
#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "util/log.h"
#include "vm.h"

#define PAGE		4096u
#define RAM_RUN_PAGES	256u		/* 1 MiB of raw data per record at most */
#define RAM_HEADER	16u
#define ENC_RAW		0u
#define ENC_ZSTD	1u
#define ENC_ZERO	2u
#define ZSTD_LEVEL	1		/* fastest: the snapshot stops the guest meanwhile */

/* ---- Saving -------------------------------------------------------------------------------- */

struct ram_writer {
	struct snap_writer *w;
	ZSTD_CCtx *zstd;		/* NULL: raw records */
	uint8_t *rec;			/* header + data of one record */
	size_t rec_cap;
	uint64_t pages;
};

static bool page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[PAGE];

	return memcmp(p, zero, PAGE) == 0;
}

/* The first page at or after page i of region r that the memfd backs with memory, and in *end
 * the end of that extent (pages); r's page count if none. Pages the guest never touched are
 * holes: skipping them saves reading (and so allocating) them. Without SEEK_DATA support the
 * whole region is one extent. */
static uint64_t next_data(const struct guest_mem *m, const struct mem_region *r, uint64_t i,
			  uint64_t *end)
{
	uint64_t n = r->size / PAGE;
	off_t base = (off_t)(r->hva - m->base);
	off_t data = lseek(m->fd, base + (off_t)(i * PAGE), SEEK_DATA);

	if (data < 0) {
		*end = n;
		return errno == ENXIO ? n : i;
	}
	off_t hole = lseek(m->fd, data, SEEK_HOLE);
	uint64_t first = (uint64_t)(data - base) / PAGE;
	uint64_t last = hole < 0 ? n : ((uint64_t)(hole - base) + PAGE - 1) / PAGE;

	*end = last < n ? last : n;
	return first < n ? first : n;
}

static void put_record_header(uint8_t *h, uint64_t gpa, uint32_t pages, uint32_t enc)
{
	struct state_out o = { .buf = h, .cap = RAM_HEADER };

	state_put_u64(&o, gpa);
	state_put_u32(&o, pages);
	state_put_u32(&o, enc);
}

static void write_run(struct ram_writer *rw, uint64_t gpa, const uint8_t *hva, uint32_t pages)
{
	size_t raw = (size_t)pages * PAGE;
	uint32_t enc = ENC_RAW;
	size_t len = raw;

	if (rw->zstd) {
		size_t z = ZSTD_compressCCtx(rw->zstd, rw->rec + RAM_HEADER,
					     rw->rec_cap - RAM_HEADER, hva, raw, ZSTD_LEVEL);
		if (!ZSTD_isError(z) && z < raw) {
			enc = ENC_ZSTD;
			len = z;
		}
	}
	if (enc == ENC_RAW)
		memcpy(rw->rec + RAM_HEADER, hva, raw);
	put_record_header(rw->rec, gpa, pages, enc);
	snap_write_section(rw->w, "ram", rw->rec, (uint32_t)(RAM_HEADER + len));
	rw->pages += pages;
}

static void write_zero_run(struct ram_writer *rw, uint64_t gpa, uint32_t pages)
{
	put_record_header(rw->rec, gpa, pages, ENC_ZERO);
	snap_write_section(rw->w, "ram", rw->rec, RAM_HEADER);
	rw->pages += pages;
}

/* Every non-zero page. */
static void write_all(struct vm *vm, struct ram_writer *rw)
{
	struct snap_writer *w = rw->w;

	for (int k = 0; k < vm->mem.nr_regions && !w->failed; k++) {
		const struct mem_region *r = &vm->mem.region[k];
		uint64_t n = r->size / PAGE, run = 0, first = 0, end = 0;

		for (uint64_t i = 0; i <= n && !w->failed; i++) {
			if (i < n && i >= end)
				i = next_data(&vm->mem, r, i, &end);
			bool data = i < n && !page_is_zero(r->hva + i * PAGE);
			if (data && run == 0)
				first = i;
			if (data)
				run++;
			if (run && (!data || run == RAM_RUN_PAGES || i + 1 == end)) {
				write_run(rw, r->gpa + first * PAGE, r->hva + first * PAGE,
					  (uint32_t)run);
				run = 0;
			}
		}
	}
}

/* Exactly the pages set in dirty: runs of consecutive pages alike (all zero or none). */
static void write_dirty(struct vm *vm, struct ram_writer *rw, const uint64_t *dirty)
{
	for (int k = 0; k < vm->mem.nr_regions && !rw->w->failed; k++) {
		const struct mem_region *r = &vm->mem.region[k];
		uint64_t base = (uint64_t)(r->hva - vm->mem.base) / PAGE, n = r->size / PAGE;

		for (uint64_t i = 0; i < n && !rw->w->failed;) {
			if (!dirty[(base + i) / 64]) {
				i += 64 - (base + i) % 64;	/* a clean word: 64 pages at once */
				continue;
			}
			if (!dirty_test(dirty, base + i)) {
				i++;
				continue;
			}
			bool zero = page_is_zero(r->hva + i * PAGE);
			uint64_t j = i + 1;
			while (j < n && j - i < RAM_RUN_PAGES && dirty_test(dirty, base + j) &&
			       page_is_zero(r->hva + j * PAGE) == zero)
				j++;
			if (zero)
				write_zero_run(rw, r->gpa + i * PAGE, (uint32_t)(j - i));
			else
				write_run(rw, r->gpa + i * PAGE, r->hva + i * PAGE, (uint32_t)(j - i));
			i = j;
		}
	}
}

int snapshot_write_ram(struct vm *vm, struct snap_writer *w, const uint64_t *dirty,
		       bool compress, uint64_t *pages)
{
	struct ram_writer rw = { .w = w };

	rw.rec_cap = RAM_HEADER + ZSTD_compressBound(RAM_RUN_PAGES * PAGE);
	rw.rec = malloc(rw.rec_cap);
	if (compress)
		rw.zstd = ZSTD_createCCtx();
	if (!rw.rec || (compress && !rw.zstd)) {
		free(rw.rec);
		ZSTD_freeCCtx(rw.zstd);
		errno = ENOMEM;
		return -1;
	}
	if (dirty)
		write_dirty(vm, &rw, dirty);
	else
		write_all(vm, &rw);
	free(rw.rec);
	ZSTD_freeCCtx(rw.zstd);
	*pages += rw.pages;
	return w->failed ? -1 : 0;
}

/* One section built in memory by fill(opaque, out). */
static int save_state(struct snap_writer *w, const char *name,
		      void (*fill)(void *opaque, struct state_out *o), void *opaque)
{
	struct state_out o = { 0 };

	fill(opaque, &o);
	if (o.oom || o.err) {
		int err = o.oom ? ENOMEM : o.err;
		state_out_free(&o);
		errno = err;
		return -1;
	}
	snap_write_section(w, name, o.buf, (uint32_t)o.len);
	state_out_free(&o);
	return 0;
}

static void fill_config(void *opaque, struct state_out *o)
{
	struct vm *vm = opaque;
	const char *engine = vm->engine->name;

	state_put_u64(o, vm->mem.size);
	state_put_u32(o, (uint32_t)vm->nr_cpus);
	state_put_u8(o, (uint8_t)strlen(engine));
	state_put(o, engine, strlen(engine));
}

/* The VM clock is frozen while paused: both values are exact. */
static void fill_clock(void *opaque, struct state_out *o)
{
	state_put_u64(o, vm_clock_now_ns(&((struct vm *)opaque)->clock));
	state_put_u64(o, guest_tsc_epoch_ns());
}

/* The device set, which a restore must be given again (files are not part of a snapshot):
 * the disks in order with their sizes and read-only flags, --rng, --net. Each device's own
 * section then carries its PCI slot and identity, checked when it is loaded. */
static void fill_devices(void *opaque, struct state_out *o)
{
	const struct vm_config *cfg = &((struct vm *)opaque)->cfg;

	state_put_u8(o, (uint8_t)cfg->nr_disks);
	for (int i = 0; i < cfg->nr_disks; i++) {
		state_put_u64(o, cfg->disk[i].bytes);
		state_put_bool(o, cfg->disk[i].readonly);
	}
	state_put_bool(o, cfg->rng);
	state_put_bool(o, cfg->net_user);
}

static void fill_cpu(void *opaque, struct state_out *o)
{
	cpu_state_save(opaque, o);
}

int snapshot_write_config(struct vm *vm, struct snap_writer *w)
{
	return save_state(w, "config", fill_config, vm);
}

int snapshot_write_device_set(struct vm *vm, struct snap_writer *w)
{
	return save_state(w, "devices", fill_devices, vm);
}

int snapshot_write_clock(struct vm *vm, struct snap_writer *w)
{
	return save_state(w, "clock", fill_clock, vm);
}

int snapshot_write_state(struct vm *vm, struct snap_writer *w, char *err, size_t errlen)
{
	int ret = 0;

	for (int i = 0; i < vm->nr_cpus && !ret; i++) {
		struct cpu_state s;
		char name[SNAP_NAME_LEN];
		if (vm->engine->get_state(vm->vcpu[i], &s) < 0) {
			snprintf(err, errlen, "vcpu %d: cannot read its state", i);
			return -1;
		}
		snprintf(name, sizeof(name), "cpu%d", i);
		ret = save_state(w, name, fill_cpu, &s);
	}
	for (int i = 0; i < vm->nr_state && !ret; i++)
		ret = save_state(w, vm->state[i].name, vm->state[i].save, vm->state[i].opaque);
	if (ret < 0 || w->failed) {
		snprintf(err, errlen, "%s", strerror(errno ? errno : EIO));
		return -1;
	}
	return 0;
}

int snapshot_write_all(struct vm *vm, struct snap_writer *w, bool compress, uint64_t *pages,
		       char *err, size_t errlen)
{
	int ret = snapshot_write_config(vm, w);
	if (!ret)
		ret = snapshot_write_clock(vm, w);
	if (!ret)
		ret = snapshot_write_device_set(vm, w);
	if (!ret)
		ret = snapshot_write_ram(vm, w, NULL, compress, pages);
	if (!ret)
		ret = snapshot_write_state(vm, w, err, errlen);
	return ret < 0 || w->failed ? -1 : 0;
}

int snapshot_save(struct vm *vm, const char *path, bool compress, struct snapshot_info *info,
		  char *err, size_t errlen)
{
	struct snap_writer w;
	char tmp[4096];

	*info = (struct snapshot_info){ .ram_bytes = vm->mem.size };
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	const char *why_open;
	if (snap_writer_open(&w, tmp, &why_open) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, why_open);
		return -1;
	}
	char why[128] = "";
	int ret = snapshot_write_all(vm, &w, compress, &info->ram_pages, why, sizeof(why));
	if (ret < 0) {
		snprintf(err, errlen, "%s: %s", tmp, why[0] ? why : strerror(errno ? errno : EIO));
		snap_writer_abort(&w);
		unlink(tmp);
		return -1;
	}
	if (snap_writer_finish(&w) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	info->bytes = w.bytes;
	return 0;
}

/* ---- Restoring ----------------------------------------------------------------------------- */

struct snapshot_reader {
	struct snap_reader r;
	const char *path;
	const char *kind;		/* "snapshot" or "migration stream", for errors */
	bool clock_pending;		/* a stream: "clock" comes after the RAM */
	bool has_clock_now;		/* a file: clock_now is for the VM snapshot_load fills */
	uint64_t clock_now;		/* the VM clock's time in the snapshot */
	bool synced;			/* a stream: "sync" seen, the source pauses next */
	ZSTD_DCtx *zstd;
	struct snapshot_load_info info;
	struct vm_config devices;	/* the snapshot's device set (disks: bytes and readonly) */
	char engine[256];		/* the engine the snapshot was taken with */
};

#define not_snapshot(sr, why) \
	vmon_log("%s: not a vmon %s (%s)", (sr)->path, (sr)->kind, why)

/* The next section, which must be called want (NULL: any). Prints why not and returns -1. */
static int next_section(struct snapshot_reader *sr, const char *want, char name[SNAP_NAME_LEN + 1],
			struct state_in *in)
{
	const uint8_t *p;
	uint32_t len;
	enum snap_error e = snap_read_section(&sr->r, name, &p, &len);

	if (e) {
		not_snapshot(sr, snap_error_str(e));
		return -1;
	}
	if (want && strcmp(name, want) != 0) {
		char why[64];
		snprintf(why, sizeof(why), "expected section \"%s\"", want);
		not_snapshot(sr, why);
		return -1;
	}
	*in = (struct state_in){ .p = p, .len = len };
	return 0;
}

static int bad_section(struct snapshot_reader *sr, const char *name)
{
	char why[64];

	snprintf(why, sizeof(why), "bad section \"%s\"", name);
	not_snapshot(sr, why);
	return -1;
}

static int read_devices(struct vm_config *d, struct state_in *in)
{
	d->nr_disks = (int)state_get_u8(in);
	if (d->nr_disks > VM_MAX_DISKS)
		return -1;
	for (int i = 0; i < d->nr_disks; i++) {
		d->disk[i].bytes = state_get_u64(in);
		d->disk[i].readonly = state_get_bool(in);
		if (d->disk[i].bytes % 512)
			return -1;
	}
	d->rng = state_get_bool(in);
	d->net_user = state_get_bool(in);
	return state_in_ok(in) ? 0 : -1;
}

static void put_size(char *buf, size_t len, uint64_t bytes)
{
	unsigned long long b = bytes;

	if (b && b % (1u << 20) == 0)
		snprintf(buf, len, "%llu MiB", b >> 20);
	else if (b && b % 1024 == 0)
		snprintf(buf, len, "%llu KiB", b >> 10);
	else
		snprintf(buf, len, "%llu bytes", b);
}

/* "2 disks (vda 64 MiB, vdb 1 MiB ro)", "no disks". */
static void describe_disks(char *buf, size_t len, const struct vm_config *c)
{
	size_t n = (size_t)snprintf(buf, len, c->nr_disks ? "%d disk%s (" : "no disks",
				    c->nr_disks, c->nr_disks == 1 ? "" : "s");

	for (int i = 0; i < c->nr_disks && n < len; i++) {
		char size[32];
		put_size(size, sizeof(size), c->disk[i].bytes);
		n += (size_t)snprintf(buf + n, len - n, "%svd%c %s%s", i ? ", " : "", 'a' + i,
				      size, c->disk[i].readonly ? " ro" : "");
	}
	if (c->nr_disks && n < len)
		snprintf(buf + n, len - n, ")");
}

static bool same_disks(const struct vm_config *a, const struct vm_config *b)
{
	if (a->nr_disks != b->nr_disks)
		return false;
	for (int i = 0; i < a->nr_disks; i++)
		if (a->disk[i].bytes != b->disk[i].bytes || a->disk[i].readonly != b->disk[i].readonly)
			return false;
	return true;
}

/* The restore must be given the devices the snapshot was taken with. */
static int check_devices(struct snapshot_reader *sr, const struct vm_config *got)
{
	const struct vm_config *want = &sr->devices;

	if (!same_disks(want, got)) {
		char w[256], g[256];
		describe_disks(w, sizeof(w), want);
		describe_disks(g, sizeof(g), got);
		vmon_log("%s: %s has %s, got %s", sr->path, sr->kind, w, g);
		return -1;
	}
	if (want->rng != got->rng || want->net_user != got->net_user) {
		bool rng = want->rng != got->rng;
		bool had = rng ? want->rng : want->net_user;
		vmon_log("%s: %s was taken with%s %s, restore with%s it",
			sr->path, sr->kind, had ? "" : "out", rng ? "--rng" : "--net user",
			had ? "" : "out");
		return -1;
	}
	return 0;
}

/* The "devices" section: the device set the VM must be built with (checked in snapshot_load). */
static int read_device_set(struct snapshot_reader *sr)
{
	char name[SNAP_NAME_LEN + 1];
	struct state_in in;

	if (next_section(sr, "devices", name, &in) < 0)
		return -1;
	return read_devices(&sr->devices, &in) < 0 ? bad_section(sr, name) : 0;
}

/* The VM clock and TSC epoch of the paused source: the clock is vm's, or (vm NULL: before the
 * VM exists) kept for snapshot_load to set. */
static int load_clock(struct snapshot_reader *sr, const char *name, struct state_in *in,
		      struct vm *vm)
{
	uint64_t now = state_get_u64(in), epoch = state_get_u64(in);

	if (!state_in_ok(in) || epoch > now)
		return bad_section(sr, name);
	guest_tsc_restore_epoch(epoch);
	if (vm) {
		vm_clock_restore(&vm->clock, now);
	} else {
		sr->clock_now = now;
		sr->has_clock_now = true;
	}
	return 0;
}

/* Header and "config" of f: a reader, or NULL after one line on stderr. */
static struct snapshot_reader *open_reader(FILE *f, const char *path, const char *kind,
					   struct vm_config *cfg)
{
	char name[SNAP_NAME_LEN + 1];
	struct state_in in;
	struct snapshot_reader *sr = calloc(1, sizeof(*sr));

	if (!sr) {
		fclose(f);
		vmon_log("%s", strerror(ENOMEM));
		return NULL;
	}
	sr->path = path;
	sr->kind = kind;
	enum snap_error e = snap_reader_open(&sr->r, f);
	if (e) {
		not_snapshot(sr, snap_error_str(e));
		goto fail;
	}
	if (next_section(sr, "config", name, &in) < 0)
		goto fail;
	uint64_t mem = state_get_u64(&in);
	uint32_t cpus = state_get_u32(&in);
	uint8_t engine_len = state_get_u8(&in);
	state_get(&in, sr->engine, engine_len);
	sr->engine[engine_len] = '\0';
	/* The name goes into error messages: a word, nothing that could break the line. */
	for (unsigned i = 0; i < engine_len; i++)
		if (!isalnum((unsigned char)sr->engine[i]))
			in.bad = true;
	if (!engine_len)
		in.bad = true;
	if (!state_in_ok(&in) || mem < MEM_MIN || mem > MEM_MAX || mem % PAGE || cpus < 1 ||
	    cpus > VM_MAX_CPUS) {
		bad_section(sr, name);
		goto fail;
	}
	cfg->mem_size = mem;
	cfg->cpus = (int)cpus;
	return sr;
fail:
	snapshot_close(sr);
	return NULL;
}

struct snapshot_reader *snapshot_open(const char *path, struct vm_config *cfg)
{
	const char *why = NULL;
	int fd = host_file_open(path, O_RDONLY, 0, false, &why);
	FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;

	if (!f) {
		vmon_log("%s: %s", path, why ? why : strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	return snapshot_open_file(f, path, cfg);
}

struct snapshot_reader *snapshot_open_file(FILE *f, const char *path, struct vm_config *cfg)
{
	char name[SNAP_NAME_LEN + 1];
	struct state_in in;
	struct snapshot_reader *sr = open_reader(f, path, "snapshot", cfg);
	/* Before any device exists: everything the VM builds sees the snapshot's TSC epoch. */
	if (sr && (next_section(sr, "clock", name, &in) < 0 ||
		   load_clock(sr, name, &in, NULL) < 0 ||
		   read_device_set(sr) < 0)) {
		snapshot_close(sr);
		return NULL;
	}
	return sr;
}

struct snapshot_reader *snapshot_open_stream(FILE *f, const char *what, struct vm_config *cfg)
{
	struct snapshot_reader *sr = open_reader(f, what, "migration stream", cfg);

	if (sr && read_device_set(sr) < 0) {
		snapshot_close(sr);
		return NULL;
	}
	if (sr)
		sr->clock_pending = true;
	return sr;
}

const struct snapshot_load_info *snapshot_info_of(struct snapshot_reader *sr)
{
	sr->info.bytes = sr->r.stream ? UINT64_MAX - sr->r.left : sr->info.bytes;
	return &sr->info;
}

static int load_ram(struct snapshot_reader *sr, struct vm *vm, struct state_in *in)
{
	uint64_t gpa = state_get_u64(in);
	uint32_t pages = state_get_u32(in);
	uint32_t enc = state_get_u32(in);
	size_t raw = (size_t)pages * PAGE;
	size_t len = in->len - in->off;
	uint8_t *hva = in->bad || pages == 0 || pages > RAM_RUN_PAGES || gpa % PAGE ? NULL :
		       gpa_to_hva(&vm->mem, gpa, raw);
	const uint8_t *data = in->p + in->off;

	if (!hva)
		return -1;
	if (enc == ENC_ZERO) {
		if (len != 0)
			return -1;
		/* Reading a page the target never wrote allocates nothing. */
		for (uint32_t i = 0; i < pages; i++)
			if (!page_is_zero(hva + (size_t)i * PAGE))
				memset(hva + (size_t)i * PAGE, 0, PAGE);
		return 0;
	}
	/* One call allocates the whole run instead of a page fault per page (several times faster
	 * where faults are expensive, e.g. in a nested VM); a kernel without it just faults. */
	madvise(hva, raw, MADV_POPULATE_WRITE);
	if (enc == ENC_RAW) {
		if (len != raw)
			return -1;
		memcpy(hva, data, raw);
		return 0;
	}
	if (enc != ENC_ZSTD)
		return -1;
	if (!sr->zstd && !(sr->zstd = ZSTD_createDCtx()))
		return -1;
	size_t got = ZSTD_decompressDCtx(sr->zstd, hva, raw, data, len);
	return ZSTD_isError(got) || got != raw ? -1 : 0;
}

static struct vm_state_entry *find_state(struct vm *vm, const char *name)
{
	for (int i = 0; i < vm->nr_state; i++)
		if (strcmp(vm->state[i].name, name) == 0)
			return &vm->state[i];
	return NULL;
}

/* "cpu<N>" with N a vCPU of this VM: N, else -1. */
static int cpu_index(const char *name, int nr_cpus)
{
	if (strncmp(name, "cpu", 3) != 0 || name[3] < '0' || name[3] > '9')
		return -1;
	char *end;
	long n = strtol(name + 3, &end, 10);
	if (*end || n >= nr_cpus || (name[3] == '0' && name[4]))
		return -1;
	return (int)n;
}

int snapshot_load(struct snapshot_reader *sr, struct vm *vm)
{
	bool cpu_seen[VM_MAX_CPUS] = { false };
	bool state_seen[VM_MAX_STATE] = { false };
	char name[SNAP_NAME_LEN + 1];
	struct state_in in;

	/* Each engine has its own interrupt controllers and timers (the bt engine's models, the
	 * kvm engine's in the kernel): their state does not convert, so neither does a VM. */
	if (strcmp(sr->engine, vm->engine->name) != 0) {
		vmon_log("%s: %s of the %s engine: %s with --engine %s", sr->path,
			sr->kind, sr->engine, sr->r.stream ? "run the target" : "restore it",
			sr->engine);
		return -1;
	}
	if (check_devices(sr, &vm->cfg) < 0)
		return -1;
	/* Before any state loads: the vCPUs' TSCs and the timers continue from the snapshot's time. */
	if (sr->has_clock_now)
		vm_clock_restore(&vm->clock, sr->clock_now);
	for (;;) {
		if (next_section(sr, NULL, name, &in) < 0)
			return -1;
		if (strcmp(name, "end") == 0)
			break;
		if (sr->r.stream && !sr->info.final_ns && (sr->synced || !strcmp(name, "clock"))) {
			/* The source has paused: from here on the target's share of downtime. */
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			sr->info.final_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		}
		if (strcmp(name, "ram") == 0) {
			if (load_ram(sr, vm, &in) < 0)
				return bad_section(sr, name);
			sr->info.ram_records++;
			continue;
		}
		if (strcmp(name, "sync") == 0 && sr->r.stream && in.len == 0) {
			/* Everything before it is loaded: tell the sender (which waits for this
			 * before pausing its VM, so the pause does not include our backlog). A
			 * sender that does not read only loses the answer. */
			send(fileno(sr->r.f), SNAPSHOT_SYNC_REPLY, strlen(SNAPSHOT_SYNC_REPLY),
			     MSG_NOSIGNAL | MSG_DONTWAIT);
			sr->synced = true;
			continue;
		}
		if (strcmp(name, "clock") == 0 && sr->clock_pending) {
			if (load_clock(sr, name, &in, vm) < 0)
				return -1;
			sr->clock_pending = false;
			continue;
		}
		int cpu = cpu_index(name, vm->nr_cpus);
		if (cpu >= 0) {
			struct cpu_state s;
			cpu_state_load(&s, &in);
			if (cpu_seen[cpu] || !state_in_ok(&in) ||
			    vm->engine->set_state(vm->vcpu[cpu], &s) < 0)
				return bad_section(sr, name);
			cpu_seen[cpu] = true;
			continue;
		}
		struct vm_state_entry *e = find_state(vm, name);
		if (!e || state_seen[e - vm->state]) {
			char why[64];
			snprintf(why, sizeof(why), "unexpected section \"%s\"", name);
			not_snapshot(sr, why);
			return -1;
		}
		state_seen[e - vm->state] = true;
		if (e->load(e->opaque, &in) < 0 || !state_in_ok(&in))
			return bad_section(sr, name);
	}
	if (sr->r.left && !sr->r.stream) {
		not_snapshot(sr, "data after the end");
		return -1;
	}
	if (sr->clock_pending) {
		not_snapshot(sr, "no section \"clock\"");
		return -1;
	}
	for (int i = 0; i < vm->nr_cpus; i++)
		if (!cpu_seen[i]) {
			snprintf(name, sizeof(name), "cpu%d", i);
			return bad_section(sr, name);
		}
	for (int i = 0; i < vm->nr_state; i++)
		if (!state_seen[i]) {
			char why[64];
			snprintf(why, sizeof(why), "no section \"%s\"", vm->state[i].name);
			not_snapshot(sr, why);
			return -1;
		}
	return 0;
}

void snapshot_close(struct snapshot_reader *sr)
{
	if (!sr)
		return;
	snap_reader_close(&sr->r);
	ZSTD_freeDCtx(sr->zstd);
	free(sr);
}
