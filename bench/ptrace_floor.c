/* The floor under direct execution's transition cost: a bare PTRACE_SYSEMU round trip between a
 * tracer and a tracee that makes system calls in a loop (waitpid, GETREGS, SETREGS, SYSEMU), the
 * tracee kept on the tracer's CPU as vmon keeps its containers. Prints ns per round trip. Used by
 * bench/direct.sh; not part of vmon. */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000, st, last = -1;
	struct user_regs_struct r;
	pid_t c = fork();

	if (c < 0)
		return 1;
	if (c == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		for (;;)
			syscall(SYS_getppid);
	}
	waitpid(c, &st, 0);
	ptrace(PTRACE_SYSEMU, c, 0, 0);
	double t0 = now();
	for (int i = 0; i < n; i++) {
		waitpid(c, &st, 0);
		ptrace(PTRACE_GETREGS, c, 0, &r);
		r.rax = 0;
		ptrace(PTRACE_SETREGS, c, 0, &r);
		int cpu = sched_getcpu();
		if (cpu != last) {
			cpu_set_t s;
			CPU_ZERO(&s);
			CPU_SET(cpu, &s);
			sched_setaffinity(c, sizeof(s), &s);
			last = cpu;
		}
		ptrace(PTRACE_SYSEMU, c, 0, 0);
	}
	printf("%.0f\n", (now() - t0) / n * 1e9);
	kill(c, SIGKILL);
	waitpid(c, &st, 0);
	return 0;
}
