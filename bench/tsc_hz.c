/* The host's TSC rate in Hz, measured against CLOCK_MONOTONIC over 200 ms: QEMU TCG's guest
 * RDTSC counts host TSC ticks, so bench/interp.sh needs it to turn QEMU's figures into time. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int main(void)
{
	struct timespec nap = { 0, 200000000 };
	uint64_t t0 = now_ns(), c0 = __rdtsc();

	nanosleep(&nap, NULL);
	uint64_t c1 = __rdtsc(), t1 = now_ns();
	printf("%.0f\n", (double)(c1 - c0) * 1e9 / (double)(t1 - t0));
	return 0;
}
