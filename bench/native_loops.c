/* Native speed of the interpreter benchmark's loops: prints "NAME INSNS NANOSECONDS" per loop. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

uint64_t loop_tight(void *buf);
uint64_t loop_alu(void *buf);
uint64_t loop_mem(void *buf);

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int main(void)
{
	static const struct { const char *name; uint64_t (*fn)(void *); } loops[] = {
		{ "tight", loop_tight }, { "alu", loop_alu }, { "mem", loop_mem },
	};
	void *buf = calloc(1, 2 << 20);

	if (!buf)
		return 1;
	for (size_t i = 0; i < sizeof(loops) / sizeof(loops[0]); i++) {
		uint64_t t0 = now_ns(), n = loops[i].fn(buf), t1 = now_ns();
		printf("%s %llu %llu\n", loops[i].name, (unsigned long long)n,
		       (unsigned long long)(t1 - t0));
	}
	free(buf);
	return 0;
}
