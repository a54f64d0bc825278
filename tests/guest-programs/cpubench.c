/* cpubench: CPU-bound user code, timed from inside whatever runs it.
 *
 * Three kernels that stress different parts of a CPU (or of whatever emulates one): integer sort
 * (branches, loads and stores in a 16 MiB array), hashing (a dependent chain of multiplies,
 * shifts and xors), and memory streaming (memset and a copy-and-sum over 128 MiB). Each prints
 * one line "NAME SECONDS CHECKSUM": the checksum proves that the work was done and done right
 * (bench/guest-cpu.sh compares it with the host's), the seconds come from CLOCK_MONOTONIC around
 * the kernel alone, so a VM's boot is never part of the figure.
 *
 *   cpubench [sort|hash|stream]...     (default: all three)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* xorshift64*: the same pseudo-random sequence on every machine. */
static uint64_t next_random(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dULL;
}

static int compare_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static uint64_t bench_sort(void)
{
	size_t n = 4u << 20;	/* 4 M keys, 16 MiB */
	uint32_t *keys = malloc(n * sizeof(*keys));
	uint64_t state = 42, sum = 0;

	for (size_t i = 0; i < n; i++)
		keys[i] = (uint32_t)next_random(&state);
	qsort(keys, n, sizeof(*keys), compare_u32);
	for (size_t i = 0; i < n; i += 4096)
		sum = sum * 31 + keys[i];
	free(keys);
	return sum;
}

static uint64_t bench_hash(void)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (uint64_t i = 0; i < 100000000; i++) {
		h ^= i;
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h;
}

static uint64_t bench_stream(void)
{
	size_t len = 128u << 20;
	uint64_t *a = malloc(len), *b = malloc(len), sum = 0;
	size_t words = len / sizeof(*a);

	for (int round = 0; round < 2; round++) {
		memset(a, round + 1, len);
		memcpy(b, a, len);
		for (size_t i = 0; i < words; i += 8)
			sum += b[i] + (uint64_t)round;
	}
	free(a);
	free(b);
	return sum;
}

static const struct {
	const char *name;
	uint64_t (*run)(void);
} kernels[] = {
	{ "sort", bench_sort },
	{ "hash", bench_hash },
	{ "stream", bench_stream },
};

int main(int argc, char **argv)
{
	for (size_t k = 0; k < sizeof(kernels) / sizeof(kernels[0]); k++) {
		int wanted = argc == 1;

		for (int i = 1; i < argc; i++)
			wanted |= strcmp(argv[i], kernels[k].name) == 0;
		if (!wanted)
			continue;
		double start = now();
		uint64_t check = kernels[k].run();
		printf("%s %.3f %016llx\n", kernels[k].name, now() - start, (unsigned long long)check);
		fflush(stdout);
	}
	return 0;
}
