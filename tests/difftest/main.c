/* vmon-difftest: compare the bt engine with the host CPU on random instruction sequences.
 *
 *   difftest [--seed S] [--count N] [--insns K] [--seconds T] [--repro DIR] [-v]
 *
 * Runs N cases (or until T seconds pass), prints one line per mismatch and a summary
 * "difftest: N passed, N failed"; with --repro, writes DIR/case-SEED.txt for each mismatch
 * (seed, code bytes, initial state and the differences: `--seed SEED --count 1` replays it). */
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
	return diffs;
}

static void write_repro(const char *dir, uint64_t seed, const struct dt_case *c,
			const struct dt_result *n, const struct dt_result *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/case-%" PRIu64 ".txt", dir, seed);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "difftest: %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(f, "replay: difftest --seed %" PRIu64 " --count 1 --insns %d\n", seed, c->ninsns);
	fprintf(f, "code (%zu bytes, at %#llx; objdump -D -b binary -mi386:x86-64):\n", c->code_len,
		(unsigned long long)DT_CODE_VA);
	for (size_t i = 0; i < c->code_len; i++)
		fprintf(f, "%02x%s", c->code[i], (i % 32 == 31) ? "\n" : " ");
	fprintf(f, "\ninitial rflags %#" PRIx64 "\n", c->rflags);
	for (int i = 0; i < 16; i++)
		fprintf(f, "initial %s %#" PRIx64 "\n", reg_names[i], c->gpr[i]);
	fprintf(f, "differences:\n");
	compare(f, c, n, b);
	fclose(f);
}

int main(int argc, char **argv)
{
	uint64_t seed = 1, count = 1000;
	int insns = 24, verbose = 0;
	double seconds = 0;
	const char *repro = NULL;
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
			printf("mismatch: seed %" PRIu64 "\n", s);
			compare(stdout, c, rn, rb);
		}
		if (repro)
			write_repro(repro, s, c, rn, rb);
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
