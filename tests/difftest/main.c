/* vmon-difftest: compare the bt engine with the host CPU on random instruction sequences.
 *
 *   difftest [--seed S] [--count N] [--insns K] [--kind int|sse|x87|mmx|all] [--seconds T]
 *            [--repro DIR] [-v]
 *
 * Runs N seeds (or until T seconds pass); each seed makes an integer case (gen.c), an SSE case,
 * an x87 case and an MMX case (gen_fp.c), or with --kind only one of them. Prints one line per mismatch and
 * a summary "difftest: N passed, N failed"; with --repro, writes DIR/case-KIND-SEED.txt for each
 * mismatch (seed, code bytes, initial state and the differences: `--seed SEED --count 1 --kind
 * KIND` replays it). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cpu_state.h"
#include "difftest.h"

static const char *const reg_names[16] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

static void say(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(FILE *out, const char *fmt, ...)
{
	va_list ap;

	if (!out)
		return;
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
}

static uint64_t fx_get(const uint8_t *fx, unsigned off, unsigned size)
{
	uint64_t v = 0;
	memcpy(&v, fx + off, size);
	return v;
}

/* The x87/SSE state: XMM0-15 and MXCSR exactly (its exception flags included), FCW, FSW, the
 * abridged tag word, and the ST registers that hold a value (empty ones are don't-care). */
static int compare_fx(FILE *out, const uint8_t *n, const uint8_t *b)
{
	static const struct { const char *name; unsigned off, size; } words[] = {
		{ "fcw", DT_FX_FCW, 2 }, { "fsw", DT_FX_FSW, 2 }, { "ftw", DT_FX_FTW, 1 },
		{ "mxcsr", DT_FX_MXCSR, 4 },
	};
	int diffs = 0;
	unsigned top = (unsigned)(fx_get(n, DT_FX_FSW, 2) >> 11) & 7;

	for (unsigned k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
		uint64_t vn = fx_get(n, words[k].off, words[k].size);
		uint64_t vb = fx_get(b, words[k].off, words[k].size);
		if (vn != vb) {
			say(out, "  %s: native %#" PRIx64 ", bt %#" PRIx64 "\n", words[k].name, vn, vb);
			diffs++;
		}
	}
	for (unsigned i = 0; i < 8; i++) {
		unsigned off = DT_FX_ST + 16 * i;
		if (!(n[DT_FX_FTW] & (1u << ((top + i) & 7))) || !memcmp(n + off, b + off, 10))
			continue;
		say(out, "  st%u: native %04" PRIx64 ":%016" PRIx64 ", bt %04" PRIx64 ":%016" PRIx64 "\n",
		    i, fx_get(n, off + 8, 2), fx_get(n, off, 8), fx_get(b, off + 8, 2), fx_get(b, off, 8));
		diffs++;
	}
	for (unsigned x = 0; x < 16; x++) {
		unsigned off = DT_FX_XMM + 16 * x;
		if (!memcmp(n + off, b + off, 16))
			continue;
		say(out, "  xmm%u: native %016" PRIx64 ":%016" PRIx64 ", bt %016" PRIx64 ":%016" PRIx64 "\n",
		    x, fx_get(n, off + 8, 8), fx_get(n, off, 8), fx_get(b, off + 8, 8), fx_get(b, off, 8));
		diffs++;
	}
	return diffs;
}

/* Count the differences, describing them on out (if not NULL). */
static int compare(FILE *out, const struct dt_case *c, const struct dt_result *n,
		   const struct dt_result *b)
{
	int diffs = 0;
	uint64_t off = n->rip - DT_CODE_VA;
	uint32_t undef = off < DT_PAGE ? c->undef_at[off] : DT_ARITH_FLAGS;
	uint64_t mask = (DT_ARITH_FLAGS & ~undef) | DT_DF | DT_SYS_FLAGS;

	if (n->vector != b->vector) {
		say(out, "  exception: native %d, bt %d\n", n->vector, b->vector);
		diffs++;
	}
	if (n->rip != b->rip) {
		say(out, "  rip: native %#" PRIx64 ", bt %#" PRIx64 "\n", n->rip, b->rip);
		diffs++;
	}
	for (int i = 0; i < 16; i++)
		if (n->gpr[i] != b->gpr[i]) {
			say(out, "  %s: native %#" PRIx64 ", bt %#" PRIx64 "\n",
				reg_names[i], n->gpr[i], b->gpr[i]);
			diffs++;
		}
	if ((n->rflags ^ b->rflags) & mask) {
		say(out, "  rflags (defined bits %#" PRIx64 "): native %#" PRIx64 ", bt %#" PRIx64 "\n",
			mask, n->rflags & mask, b->rflags & mask);
		diffs++;
	}
	for (int i = 0; i < DT_PAGE; i++)
		if (n->data[i] != b->data[i]) {
			say(out, "  data[%#x]: native %#x, bt %#x\n", i, n->data[i], b->data[i]);
			diffs++;
			break;
		}
	return diffs + compare_fx(out, n->fx, b->fx);
}

static void write_repro(const char *dir, uint64_t seed, const char *kind, const struct dt_case *c,
			const struct dt_result *n, const struct dt_result *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/case-%s-%" PRIu64 ".txt", dir, kind, seed);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "difftest: %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(f, "replay: difftest --seed %" PRIu64 " --count 1 --insns %d --kind %s\n", seed,
		c->ninsns, kind);
	fprintf(f, "code (%zu bytes, at %#llx; objdump -D -b binary -mi386:x86-64):\n", c->code_len,
		(unsigned long long)DT_CODE_VA);
	for (size_t i = 0; i < c->code_len; i++)
		fprintf(f, "%02x%s", c->code[i], (i % 32 == 31) ? "\n" : " ");
	fprintf(f, "\ninitial rflags %#" PRIx64 "\n", c->rflags);
	for (int i = 0; i < 16; i++)
		fprintf(f, "initial %s %#" PRIx64 "\n", reg_names[i], c->gpr[i]);
	fprintf(f, "initial mxcsr %#" PRIx64 "\n", fx_get(c->fx, DT_FX_MXCSR, 4));
	for (unsigned x = 0; x < 16; x++)
		fprintf(f, "initial xmm%u %016" PRIx64 ":%016" PRIx64 "\n", x,
			fx_get(c->fx, DT_FX_XMM + 16 * x + 8, 8), fx_get(c->fx, DT_FX_XMM + 16 * x, 8));
	fprintf(f, "differences:\n");
	compare(f, c, n, b);
	fclose(f);
}

int main(int argc, char **argv)
{
	uint64_t seed = 1, count = 1000;
	int insns = 24, verbose = 0;
	double seconds = 0;
	const char *repro = NULL, *kind = "all";
	uint64_t passed = 0, failed = 0, errors = 0;
	struct timespec t0, t;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-v")) {
			verbose = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "difftest: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--count")) count = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--insns")) insns = atoi(v);
		else if (!strcmp(a, "--seconds")) seconds = atof(v), count = UINT64_MAX;
		else if (!strcmp(a, "--repro")) repro = v;
		else if (!strcmp(a, "--kind")) kind = v;
		else {
			fprintf(stderr, "difftest: unknown option %s\n", a);
			return 2;
		}
		i++;
	}
	if (insns < 1 || insns > 200) {
		fprintf(stderr, "difftest: --insns must be 1..200\n");
		return 2;
	}
	if (strcmp(kind, "int") && strcmp(kind, "sse") && strcmp(kind, "x87") &&
	    strcmp(kind, "mmx") && strcmp(kind, "all")) {
		fprintf(stderr, "difftest: --kind must be int, sse, x87, mmx or all\n");
		return 2;
	}
	if (repro && mkdir(repro, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "difftest: %s: %s\n", repro, strerror(errno));
		return 2;
	}

	struct dt_native *nat = dt_native_start();
	struct dt_bt *bt = dt_bt_start();
	struct dt_case *c = malloc(sizeof(*c));
	struct dt_result *rn = malloc(sizeof(*rn)), *rb = malloc(sizeof(*rb));
	if (!nat || !bt || !c || !rn || !rb) {
		fprintf(stderr, "difftest: cannot start the native child or the bt vCPU\n");
		return 2;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t i = 0; i < count; i++) {
		uint64_t s = seed + i;
		if (seconds > 0 && (i & 63) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) * 1e-9 > seconds)
				break;
		}
		static const char *const kinds[] = { "int", "sse", "x87", "mmx" };
		static const enum dt_fp_kind fp_kinds[] = { 0, DT_SSE, DT_X87, DT_MMX };
		for (int fp = 0; fp < 4; fp++) {
			const char *k = kinds[fp];
			if (strcmp(kind, "all") && strcmp(kind, k))
				continue;
			if (fp)
				dt_generate_fp(c, s, insns, fp_kinds[fp]);
			else
				dt_generate(c, s, insns);
			if (dt_native_run(nat, c, rn) < 0 || dt_bt_run(bt, c, rb) < 0) {
				errors++;
				continue;
			}
			if (compare(NULL, c, rn, rb) == 0) {
				passed++;
				continue;
			}
			failed++;
			if (failed <= 20 || verbose) {
				printf("mismatch: seed %" PRIu64 " (%s)\n", s, k);
				compare(stdout, c, rn, rb);
			}
			if (repro)
				write_repro(repro, s, k, c, rn, rb);
		}
	}
	if (errors)
		printf("difftest: %" PRIu64 " cases could not run\n", errors);
	printf("difftest: %" PRIu64 " passed, %" PRIu64 " failed\n", passed, failed);

	dt_native_stop(nat);
	dt_bt_stop(bt);
	free(c);
	free(rn);
	free(rb);
	return failed || errors ? 1 : 0;
}
