/* `--engine auto` by measurement: a throw-away one-vCPU VM per engine runs a kernel-like loop at
 * ring 0 in long mode (loads, stores, ALU, call/ret, and a port write every PROBE_INSNS_PER_REPORT
 * instructions); the port writes time it (probe_vm.h). Figures are cached in a small file, with
 * the kvm engine's functional checks (kvm/probe.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "boot/entry.h"
#include "boot/layout.h"
#include "engine/autoselect.h"
#include "engine/probe_vm.h"
#include "vm.h"

#define PROBE_RAM		(4ull << 20)
#define PROBE_CODE_GPA		BOOT_LOADER_END		/* 1 MiB; data at 2 MiB, stack below 3 MiB */
#define PROBE_PORT		0x80
#define PROBE_INSNS_PER_REPORT	(400 * 10 + 5)		/* inner loop x body (call included) + outer */
/* CPU time of the vCPU thread (guest mode included), from the first report on: decoding and
 * first entry do not count, nor do other processes that take the CPU away meanwhile. */
#define PROBE_WINDOW_NS		10000000ull
/* Wall time per engine from the vCPU thread's start: the hard limit on what the probe costs. */
#define PROBE_CAP_NS		50000000ull

#define CACHE_MAGIC		"vmon-engine-probe 2"
#define CACHE_MAX		1024

/* The probe guest, 64-bit code at PROBE_CODE_GPA (nasm syntax; rdx starts at 0). */
static const uint8_t probe_guest[] = {
	0x31, 0xdb,				/*        xor ebx, ebx		; reports */
	0xbf, 0x00, 0x00, 0x20, 0x00,		/*        mov edi, 0x200000	; data */
	0xbc, 0x00, 0x00, 0x30, 0x00,		/*        mov esp, 0x300000 */
	0xb9, 0x90, 0x01, 0x00, 0x00,		/* outer: mov ecx, 400 */
	0x48, 0x8b, 0x04, 0xcf,			/* inner: mov rax, [rdi+rcx*8] */
	0x48, 0x01, 0xc8,			/*        add rax, rcx */
	0xe8, 0x13, 0x00, 0x00, 0x00,		/*        call mix */
	0x48, 0x89, 0x04, 0xcf,			/*        mov [rdi+rcx*8], rax */
	0x48, 0x01, 0xc2,			/*        add rdx, rax */
	0xff, 0xc9,				/*        dec ecx */
	0x75, 0xe9,				/*        jnz inner */
	0xff, 0xc3,				/*        inc ebx */
	0x89, 0xd8,				/*        mov eax, ebx */
	0xe6, PROBE_PORT,			/*        out PROBE_PORT, al */
	0xeb, 0xdc,				/*        jmp outer */
	0x48, 0xc1, 0xc0, 0x03,			/* mix:   rol rax, 3 */
	0x48, 0x31, 0xd0,			/*        xor rax, rdx */
	0xc3,					/*        ret */
};

struct probe_run {
	struct probe_vm pv;
	/* Written by the vCPU thread (the port handler), read after it is joined. */
	uint64_t reports, first_ns, last_ns;
	bool wrong_report;
};

/* ---- The probe VM ---------------------------------------------------------------------- */

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Runs on the vCPU thread, for both engines. */
static void probe_port_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct probe_run *p = opaque;
	uint64_t now = thread_cpu_ns();

	/* The guest reports its count: an engine that miscomputes is not measured. */
	if ((val & 0xff) != ((p->reports + 1) & 0xff)) {
		p->wrong_report = true;
		vm_request_stop(&p->pv.vm, EXIT_STATUS_GUEST_FAULT);
		return;
	}
	if (p->reports++ == 0)
		p->first_ns = now;
	p->last_ns = now;
	if (now - p->first_ns >= PROBE_WINDOW_NS)
		vm_request_stop(&p->pv.vm, EXIT_STATUS_OK);
}

static const struct io_ops probe_port_ops = { .write = probe_port_write };

/* Runs the probe guest until the window is measured, the guest fails, or PROBE_CAP_NS passed. */
static int probe_run(struct probe_run *p, const struct engine_ops *e, char *why, size_t len)
{
	struct cpu_state s;

	if (probe_vm_create(&p->pv, e, PROBE_RAM, PROBE_PORT, &probe_port_ops, p, why, len) < 0)
		return -1;
	if (mem_write(&p->pv.vm.mem, PROBE_CODE_GPA, probe_guest, sizeof(probe_guest)) < 0) {
		snprintf(why, len, "cannot lay out the probe guest");
		return -1;
	}
	boot_state_long(&s, PROBE_CODE_GPA);
	if (probe_vm_set_state(&p->pv, &s, why, len) < 0 ||
	    probe_vm_run(&p->pv, PROBE_CAP_NS, why, len) < 0)
		return -1;
	if (p->wrong_report) {
		snprintf(why, len, "the probe guest reported a wrong count");
		return -1;
	}
	if (p->pv.failed) {
		if (p->pv.failed_exit == VCPU_EXIT_ERROR)
			snprintf(why, len, "%s", p->pv.vcpu.error);
		else
			snprintf(why, len, "the probe guest shut down");
		return -1;
	}
	return 0;
}

int autoselect_measure(const struct engine_ops *e, uint64_t *ips, char *why, size_t len)
{
	struct probe_run *p = calloc(1, sizeof(*p));
	int ret;

	if (!p) {
		snprintf(why, len, "%s", strerror(ENOMEM));
		return -1;
	}
	ret = probe_run(p, e, why, len);
	if (ret == 0) {
		double insns, ns;

		/* Fewer than two reports in PROBE_CAP_NS: at most what was seen over the cap. */
		if (p->reports >= 2) {
			insns = (double)(p->reports - 1) * PROBE_INSNS_PER_REPORT;
			ns = (double)(p->last_ns - p->first_ns);
		} else {
			insns = (double)p->reports * PROBE_INSNS_PER_REPORT;
			ns = (double)PROBE_CAP_NS;
		}
		*ips = ns > 0 ? (uint64_t)(insns * 1e9 / ns) : 0;
	}
	probe_vm_destroy(&p->pv);
	free(p);
	return ret;
}

/* ---- Decision ------------------------------------------------------------------------------ */

/* "95 M", "2.1 M", "1.4 G" */
static void format_rate(uint64_t ips, char *buf, size_t len)
{
	double m = (double)ips / 1e6;

	if (m >= 1000)
		snprintf(buf, len, "%.1f G", m / 1000);
	else if (m >= 10)
		snprintf(buf, len, "%.0f M", m);
	else
		snprintf(buf, len, "%.1f M", m);
}

const struct engine_ops *autoselect_decide(const struct probe_figures *f, char *why, size_t len)
{
	bool kvm = f->kvm_ips >= f->bt_ips;
	char win[16], lose[16];

	format_rate(kvm ? f->kvm_ips : f->bt_ips, win, sizeof(win));
	format_rate(kvm ? f->bt_ips : f->kvm_ips, lose, sizeof(lose));
	snprintf(why, len, "probe%s: %s %s guest insns/s at ring 0, %s %s/s",
		 f->cached ? ", cached" : "", kvm ? "kvm" : "bt", win, kvm ? "bt" : "kvm", lose);
	return kvm ? &kvm_engine : &bt_engine;
}

/* ---- Cache ---------------------------------------------------------------------------------- */

int probe_cache_format(const struct probe_cache *c, char *buf, size_t len)
{
	int n = snprintf(buf, len, CACHE_MAGIC "\nboot_id %s\nkvm_dev %s\nvmon_exe %s\n"
			 "bt_ips %" PRIu64 "\nkvm_ips %" PRIu64 "\nkvm_checks %" PRIu64 "\n",
			 c->boot_id, c->kvm_id, c->exe_id, c->fig.bt_ips, c->fig.kvm_ips,
			 c->kvm_checks);

	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* One "key value\n" line: value (non-empty, no control characters) into val.
 * Returns the next line, or NULL. */
static const char *parse_line(const char *p, const char *key, char *val, size_t cap)
{
	size_t k = strlen(key), n = 0;

	if (strncmp(p, key, k) != 0 || p[k] != ' ')
		return NULL;
	p += k + 1;
	while (p[n] != '\n') {
		if ((unsigned char)p[n] < 0x20 || n + 1 >= cap)
			return NULL;
		n++;
	}
	if (n == 0)
		return NULL;
	memcpy(val, p, n);
	val[n] = 0;
	return p + n + 1;
}

static const char *parse_count(const char *p, const char *key, uint64_t *out)
{
	char val[24], *end;

	p = parse_line(p, key, val, sizeof(val));
	if (!p || val[0] < '0' || val[0] > '9')
		return NULL;
	errno = 0;
	unsigned long long v = strtoull(val, &end, 10);
	if (errno || *end)
		return NULL;
	*out = v;
	return p;
}

int probe_cache_parse(const char *text, struct probe_cache *c)
{
	const char *p = text;
	size_t m = strlen(CACHE_MAGIC);

	memset(c, 0, sizeof(*c));
	if (strncmp(p, CACHE_MAGIC, m) != 0 || p[m] != '\n')
		return -1;
	p += m + 1;
	p = parse_line(p, "boot_id", c->boot_id, sizeof(c->boot_id));
	if (p)
		p = parse_line(p, "kvm_dev", c->kvm_id, sizeof(c->kvm_id));
	if (p)
		p = parse_line(p, "vmon_exe", c->exe_id, sizeof(c->exe_id));
	if (p)
		p = parse_count(p, "bt_ips", &c->fig.bt_ips);
	if (p)
		p = parse_count(p, "kvm_ips", &c->fig.kvm_ips);
	if (p)
		p = parse_count(p, "kvm_checks", &c->kvm_checks);
	if (!p || *p) {
		memset(c, 0, sizeof(*c));
		return -1;
	}
	c->fig.cached = true;
	return 0;
}

/* The host the figures hold for; an empty field means "unknown", and nothing is cached. */
static void host_key(struct probe_cache *c)
{
	struct stat st;
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	memset(c, 0, sizeof(*c));
	if (f) {
		if (fgets(c->boot_id, sizeof(c->boot_id), f))
			c->boot_id[strcspn(c->boot_id, "\n")] = 0;
		fclose(f);
	}
	/* kvm's module reloaded (another vendor module, PVM) makes a new device node. */
	if (stat("/dev/kvm", &st) == 0)
		snprintf(c->kvm_id, sizeof(c->kvm_id), "%u:%u ino %llu ctime %lld.%09ld",
			 major(st.st_rdev), minor(st.st_rdev), (unsigned long long)st.st_ino,
			 (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	/* A rebuilt vmon may run guests at another speed (the bt engine's, at least). */
	if (stat("/proc/self/exe", &st) == 0)
		snprintf(c->exe_id, sizeof(c->exe_id), "%llu ino %llu mtime %lld.%09ld size %lld",
			 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
			 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (long long)st.st_size);
}

static bool host_key_known(const struct probe_cache *c)
{
	return c->boot_id[0] && c->kvm_id[0] && c->exe_id[0];
}

static bool same_host(const struct probe_cache *a, const struct probe_cache *b)
{
	return strcmp(a->boot_id, b->boot_id) == 0 && strcmp(a->kvm_id, b->kvm_id) == 0 &&
	       strcmp(a->exe_id, b->exe_id) == 0;
}

/* $XDG_RUNTIME_DIR is per user; /tmp is shared, so the name carries the uid there. */
static int cache_path(char *buf, size_t len)
{
	const char *dir = getenv("XDG_RUNTIME_DIR");
	int n;

	if (dir && dir[0] == '/')
		n = snprintf(buf, len, "%s/vmon-engine-probe", dir);
	else
		n = snprintf(buf, len, "/tmp/vmon-engine-probe-%u", (unsigned)geteuid());
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* 0 if path holds a cache written by this user, parsed into c. */
static int cache_load(const char *path, struct probe_cache *c)
{
	char text[CACHE_MAX];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_size >= CACHE_MAX) {
		close(fd);
		return -1;
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return -1;
	text[n] = 0;
	return probe_cache_parse(text, c);
}

/* Best effort: a cache that cannot be written only means probing again next time. */
static void cache_store(const char *path, const struct probe_cache *c)
{
	char text[CACHE_MAX], tmp[4096 + 32];
	int n = probe_cache_format(c, text, sizeof(text)), fd;
	bool ok;

	if (n < 0 || snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp))
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	ok = write(fd, text, (size_t)n) == n;
	ok &= close(fd) == 0;
	if (!ok || rename(tmp, path) < 0)
		unlink(tmp);
}

/* ---- Lookup and store ---------------------------------------------------------------------- */

int probe_cache_lookup(struct probe_cache *c)
{
	struct probe_cache cached;
	char path[4096];

	host_key(c);
	if (!host_key_known(c) || cache_path(path, sizeof(path)) < 0 || cache_load(path, &cached) < 0 ||
	    !same_host(c, &cached))
		return -1;
	*c = cached;
	return 0;
}

void probe_cache_save(const struct probe_cache *c)
{
	struct probe_cache key;
	char path[4096];

	host_key(&key);
	if (host_key_known(&key) && same_host(&key, c) && cache_path(path, sizeof(path)) == 0)
		cache_store(path, c);
}

/* ---- Selection ------------------------------------------------------------------------------ */

const struct engine_ops *engine_autoselect(char *why, size_t len)
{
	struct probe_cache c;
	char reason[160];

	/* No kvm, nothing to compare. */
	if (kvm_engine.probe(reason, sizeof(reason)) < 0) {
		snprintf(why, len, "kvm unavailable: %s", reason);
		return &bt_engine;
	}
	switch (autoselect_figures(&c.fig, reason, sizeof(reason))) {
	case AUTOSELECT_KVM_FAILED:
		snprintf(why, len, "kvm probe failed: %s", reason);
		return &bt_engine;
	case AUTOSELECT_BT_FAILED:
		snprintf(why, len, "bt probe failed: %s", reason);
		return &kvm_engine;
	default:
		return autoselect_decide(&c.fig, why, len);
	}
}

int autoselect_figures(struct probe_figures *f, char *why, size_t len)
{
	struct probe_cache c;

	/* The entry may hold only the kvm engine's checks so far. */
	if (probe_cache_lookup(&c) == 0 && (c.fig.kvm_ips || c.fig.bt_ips)) {
		*f = c.fig;
		return 0;
	}
	/* An engine that cannot run the probe guest would not run the real one either. */
	if (autoselect_measure(&kvm_engine, &c.fig.kvm_ips, why, len) < 0)
		return AUTOSELECT_KVM_FAILED;
	if (autoselect_measure(&bt_engine, &c.fig.bt_ips, why, len) < 0)
		return AUTOSELECT_BT_FAILED;
	c.fig.cached = false;
	probe_cache_save(&c);
	*f = c.fig;
	return 0;
}
