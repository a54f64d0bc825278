/* The seccomp filter's cost per system call: rounds alternate between a child process inside
 * vmon's sandbox (the policy with --api-sock and --net user: the longest filter) and one
 * without (a filter cannot be unloaded), each timing the same two calls; the medians of the
 * rounds are printed. Built and run by bench/sandbox.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

#define CALLS	200000
#define ROUNDS	9

/* Nanoseconds per call of syscall nr (getpid, or a pread64 on fd -1 that fails early). */
static double per_call(long nr)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < CALLS; i++)
		syscall(nr, -1, NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / CALLS;
}

/* One round in a child process, inside the sandbox or not: its two figures, or -1. */
static int round_in_child(bool sandboxed, double v[2])
{
	int fds[2];

	if (pipe(fds) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		struct sandbox_policy policy = { .api = true, .net = true };
		if (sandboxed && sandbox_enter(&policy) < 0)
			_exit(1);
		double r[2] = { per_call(SYS_getpid), per_call(SYS_pread64) };
		_exit(write(fds[1], r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(fds[1]);
	ssize_t n = pid < 0 ? -1 : read(fds[0], v, 2 * sizeof(double));
	close(fds[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return n == (ssize_t)(2 * sizeof(double)) ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v)
{
	qsort(v, ROUNDS, sizeof(v[0]), cmp_double);
	return v[ROUNDS / 2];
}

int main(void)
{
	double getpid_ns[2][ROUNDS], pread_ns[2][ROUNDS], v[2];

	for (int r = 0; r < ROUNDS; r++) {
		for (int side = 0; side < 2; side++) {
			if (round_in_child(side, v) < 0) {
				fprintf(stderr, "sandbox_syscall: a round failed\n");
				return 1;
			}
			getpid_ns[side][r] = v[0];
			pread_ns[side][r] = v[1];
		}
	}
	printf("syscall cost, median of %d interleaved rounds of %d calls: getpid %.0f ns without "
	       "the filter, %.0f ns with it; pread64 (fd -1) %.0f ns, %.0f ns\n", ROUNDS, CALLS,
	       median(getpid_ns[0]), median(getpid_ns[1]), median(pread_ns[0]),
	       median(pread_ns[1]));
	return 0;
}
