/* usermode: what guest user programs do to a CPU and an MMU, checked from inside the guest.
 *
 * A static program built into the test initramfs (tests/guest-programs/build.sh). Each check
 * prints one line "NAME: ok DETAIL" or "NAME: FAIL why"; the output depends only on what the
 * program computes, never on addresses, times or scheduling, so runs under every engine and
 * user mode, and a run on the host itself, print the same lines (the cpuid line aside: it shows
 * the CPU model the program runs on). tests/integration/linux_usermode.sh compares them.
 *
 *   usermode [CHECK...]     run the named checks (default: all but "touch512")
 *   usermode child-exec     what the exec check runs: exits with status 42
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

static void result(const char *name, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void result(const char *name, int ok, const char *fmt, ...)
{
	char detail[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	printf("%s: %s %s\n", name, ok ? "ok" : "FAIL", detail);
	fflush(stdout);
	if (!ok)
		failures++;
}

static long page_size(void)
{
	return sysconf(_SC_PAGESIZE);
}

/* ---- processes ------------------------------------------------------------------------------ */

static void check_fork_exec(void)
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		execl("/proc/self/exe", "usermode", "child-exec", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	result("fork-exec", WIFEXITED(status) && WEXITSTATUS(status) == 42, "child status %d",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* The parent's writes after fork stay its own, and so do the child's: copy-on-write. */
static void check_cow(void)
{
	size_t len = 64 * page_size();
	unsigned char *buf = malloc(len);
	int status = -1;
	pid_t pid;

	memset(buf, 0x5a, len);
	pid = fork();
	if (pid == 0) {
		int seen_ok = buf[0] == 0x5a && buf[len - 1] == 0x5a;

		memset(buf, 0xc3, len);
		_exit(seen_ok && buf[len / 2] == 0xc3 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	int mine = 1;
	for (size_t i = 0; i < len; i += 512)
		mine &= buf[i] == 0x5a;
	result("cow", WIFEXITED(status) && WEXITSTATUS(status) == 0 && mine,
	       "child %d, parent's copy %s", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	       mine ? "intact" : "changed");
	free(buf);
}

/* A MAP_SHARED anonymous mapping is one set of pages for parent and child. */
static void check_shared(void)
{
	volatile uint64_t *shared = mmap(NULL, page_size(), PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		for (uint64_t i = 1; i <= 1000; i++)
			shared[1] += i;
		shared[0] = 1;
		_exit(0);
	}
	waitpid(pid, &status, 0);
	result("map-shared", shared[0] == 1 && shared[1] == 500500, "sum %llu",
	       (unsigned long long)shared[1]);
	munmap((void *)shared, page_size());
}

static void check_file_mmap(void)
{
	const char *path = "/tmp/usermode.map";
	long ps = page_size();
	char *map, back[16] = "";
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int ok = fd >= 0 && ftruncate(fd, 2 * ps) == 0;

	map = ok ? mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	ok = map != MAP_FAILED;
	if (ok) {
		memcpy(map + ps, "through-mapping", 16);
		ok = msync(map, 2 * ps, MS_SYNC) == 0 && pread(fd, back, 16, ps) == 16 &&
		     memcmp(back, "through-mapping", 16) == 0;
		ok = ok && pwrite(fd, "by-write", 9, 0) == 9 && memcmp(map, "by-write", 9) == 0;
		munmap(map, 2 * ps);
	}
	if (fd >= 0)
		close(fd);
	unlink(path);
	result("file-mmap", ok, "read back '%.15s'", back);
}

/* ---- threads -------------------------------------------------------------------------------- */

#define THREADS 4
#define ROUNDS 20000

static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t start_line;
static long counter;
static __thread long tls_value;
static atomic_long tls_mismatches;

static void *counting_thread(void *arg)
{
	long id = (long)arg;

	tls_value = id * 1000;
	pthread_barrier_wait(&start_line);
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&counter_lock);
		counter++;
		pthread_mutex_unlock(&counter_lock);
		tls_value++;
	}
	if (tls_value != id * 1000 + ROUNDS)
		atomic_fetch_add(&tls_mismatches, 1);
	return NULL;
}

/* Threads contend on a mutex (futexes when they collide) and each keeps its own TLS. */
static void check_threads(void)
{
	pthread_t t[THREADS];

	counter = 0;
	tls_value = -1;
	pthread_barrier_init(&start_line, NULL, THREADS);
	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, counting_thread, (void *)(i + 1));
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start_line);
	result("threads", counter == (long)THREADS * ROUNDS, "counter %ld", counter);
	result("tls", tls_mismatches == 0 && tls_value == -1, "%ld threads saw another's TLS",
	       (long)tls_mismatches);
}

/* ---- memory protection and signals ---------------------------------------------------------- */

static char *guard_page;
static volatile int guard_faults;

/* A guard page a SIGSEGV handler repairs: the faulting store is restarted and completes. */
static void repair_guard(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	if ((char *)si->si_addr < guard_page || (char *)si->si_addr >= guard_page + page_size())
		_exit(99);
	guard_faults++;
	mprotect(guard_page, page_size(), PROT_READ | PROT_WRITE);
}

static void check_guard_page(void)
{
	struct sigaction sa = { .sa_sigaction = repair_guard, .sa_flags = SA_SIGINFO };
	struct sigaction old;
	long ps = page_size();
	char *area = mmap(NULL, 3 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			  0);

	guard_page = area + ps;
	mprotect(guard_page, ps, PROT_NONE);
	sigaction(SIGSEGV, &sa, &old);
	guard_faults = 0;
	for (long i = 0; i < 3 * ps; i += 1024)
		area[i] = (char)i;
	/* Read-only again: the next store faults once more and is repaired once more. */
	mprotect(guard_page, ps, PROT_READ);
	guard_page[7] = 7;
	sigaction(SIGSEGV, &old, NULL);
	int ok = guard_faults == 2 && guard_page[7] == 7 && area[2 * ps] == (char)(2 * ps);
	munmap(area, 3 * ps);
	result("guard-page", ok, "%d faults repaired", guard_faults);
}

static sigjmp_buf fault_jump;
static volatile int fault_signal;

static void note_fault(int sig)
{
	fault_signal = sig;
	siglongjmp(fault_jump, 1);
}

static volatile int *volatile low_address = (int *)8;

/* Runs faulting action k and returns the signal it raised (0 for none). */
static int signal_raised_by(int k, char *read_only)
{
	fault_signal = 0;
	if (sigsetjmp(fault_jump, 1))
		return fault_signal;
	switch (k) {
	case 0: *low_address = 1; break;
	case 1: __asm__ volatile("ud2"); break;
	case 2: {
		volatile int zero = 0;
		volatile int x = 5 / zero;
		(void)x;
		break;
	}
	case 3: __asm__ volatile("int3"); break;
	case 4: *(volatile char *)read_only = 1; break;
	}
	return fault_signal;
}

/* The signal each faulting instruction raises: the guest kernel's translation of the exception
 * the CPU delivered for it. */
static void check_faults(void)
{
	static const char *const names[] = { "null", "ud2", "div0", "int3", "ro" };
	static const int want[] = { SIGSEGV, SIGILL, SIGFPE, SIGTRAP, SIGSEGV };
	struct sigaction sa = { .sa_handler = note_fault, .sa_flags = SA_NODEFER };
	char *ro = mmap(NULL, page_size(), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int seen[5], ok = 1;

	for (unsigned k = 0; k < 5; k++)
		sigaction(want[k], &sa, NULL);
	for (int k = 0; k < 5; k++) {
		seen[k] = signal_raised_by(k, ro);
		ok &= seen[k] == want[k];
	}
	for (unsigned k = 0; k < 5; k++)
		signal(want[k], SIG_DFL);
	munmap(ro, page_size());
	result("faults", ok, "%s=%d %s=%d %s=%d %s=%d %s=%d", names[0], seen[0], names[1], seen[1],
	       names[2], seen[2], names[3], seen[3], names[4], seen[4]);
}

static volatile sig_atomic_t usr1_seen;
static uint64_t signal_frame_check;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
}

/* A signal handler runs on an alternate stack and sigreturn restores every register: a loop
 * keeping its state in registers across many signals must finish with the right sum. */
static void check_signals(void)
{
	stack_t ss = { .ss_size = 64 * 1024 };
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_ONSTACK };
	uint64_t sum = 0;

	ss.ss_sp = malloc(ss.ss_size);
	sigaltstack(&ss, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	usr1_seen = 0;
	for (uint64_t i = 1; i <= 200; i++) {
		kill(getpid(), SIGUSR1);
		sum += i * i;
	}
	signal_frame_check = sum;
	signal(SIGUSR1, SIG_DFL);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	free(ss.ss_sp);
	result("signals", usr1_seen == 200 && signal_frame_check == 2686700, "%d handled, sum %llu",
	       (int)usr1_seen, (unsigned long long)signal_frame_check);
}

/* ---- code ----------------------------------------------------------------------------------- */

/* A user-mode JIT: write code, make it executable, run it; rewrite it in place and run the new
 * code (the CPU, or whatever emulates it, must not keep running the old bytes). */
static void check_jit(void)
{
	static const unsigned char ret_imm[] = { 0xb8, 0, 0, 0, 0, 0xc3 };	/* mov eax, imm; ret */
	long ps = page_size();
	unsigned char *code = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				   -1, 0);
	int values[2];

	for (int round = 0; round < 2; round++) {
		uint32_t imm = 0x1234 + (uint32_t)round;

		mprotect(code, ps, PROT_READ | PROT_WRITE);
		memcpy(code, ret_imm, sizeof(ret_imm));
		memcpy(code + 1, &imm, 4);
		mprotect(code, ps, PROT_READ | PROT_EXEC);
		values[round] = ((int (*)(void))code)();
	}
	/* And writable + executable at once, modified between calls without mprotect. */
	mprotect(code, ps, PROT_READ | PROT_WRITE | PROT_EXEC);
	int sum = 0;
	for (uint32_t i = 0; i < 100; i++) {
		memcpy(code + 1, &i, 4);
		sum += ((int (*)(void))code)();
	}
	munmap(code, ps);
	result("jit", values[0] == 0x1234 && values[1] == 0x1235 && sum == 4950,
	       "returned %#x %#x, rewritten sum %d", values[0], values[1], sum);
}

/* Single-stepping with ptrace: the tracer counts the steps of a fixed instruction sequence in the
 * child, between two int3s. */
static void check_ptrace_step(void)
{
	int status;
	long steps = 0;
	pid_t pid = fork();

	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		__asm__ volatile("int3\n\t"
				 "mov $25, %%ecx\n"
				 "1:\tdec %%ecx\n\t"
				 "jnz 1b\n\t"
				 "int3" ::: "ecx", "cc");
		_exit(0);
	}
	waitpid(pid, &status, 0);	/* the first int3 */
	for (;;) {
		if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) != 0)
			break;
		waitpid(pid, &status, 0);
		if (!WIFSTOPPED(status))
			break;
		siginfo_t si;
		ptrace(PTRACE_GETSIGINFO, pid, NULL, &si);
		if (si.si_code != TRAP_TRACE)	/* the second int3 */
			break;
		steps++;
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	/* mov + 25 * (dec + jnz) + the int3 itself reported as a breakpoint, not a step */
	result("ptrace-step", steps == 51, "%ld steps", steps);
}

/* The CPU model the program sees. Under vmon this is vmon's model, not the host's. */
static void check_cpuid(void)
{
	unsigned a, b, c, d;
	char vendor[13];

	__cpuid(0, a, b, c, d);
	memcpy(vendor, &b, 4), memcpy(vendor + 4, &d, 4), memcpy(vendor + 8, &c, 4);
	vendor[12] = 0;
	__cpuid(1, a, b, c, d);
	unsigned family = ((a >> 8) & 0xf) + ((a >> 20) & 0xff);
	unsigned model = ((a >> 4) & 0xf) | ((a >> 12) & 0xf0);
	printf("cpuid: %s family %u model %#x\n", vendor, family, model);
	fflush(stdout);
}

/* A 32-bit compat-mode stretch of code inside this 64-bit process: a far jump through Linux's
 * 32-bit user code selector 0x23 and one back through 0x33. The binary is linked below 4 GiB and
 * the compat code touches no stack. The upper halves of all general registers are undefined
 * after a stay in compat mode (SDM Vol. 1, 3.4.1.1), so RSP and RBP wait in memory and every
 * other register is clobbered. Then the i386 system call gate, int 0x80. */
static uint64_t compat_saved_sp[2] __attribute__((used));

static void check_compat(void)
{
	uint32_t out;
	long pid32;

	__asm__ volatile(
		"mov %%rsp, compat_saved_sp(%%rip)\n\t"
		"mov %%rbp, compat_saved_sp+8(%%rip)\n\t"
		"sub $8, %%rsp\n\t"
		"movl $1f, (%%rsp)\n\t"
		"movl $0x23, 4(%%rsp)\n\t"
		"mov $7, %%edx\n\t"
		"ljmpl *(%%rsp)\n"
		".code32\n"
		"1:\tlea (%%edx,%%edx,4), %%edx\n\t"	/* 35, computed in compat mode */
		"inc %%edx\n\t"			/* 0x42: a REX prefix in 64-bit code */
		"ljmp $0x33, $2f\n"
		".code64\n"
		"2:\tmov compat_saved_sp(%%rip), %%rsp\n\t"
		"mov compat_saved_sp+8(%%rip), %%rbp\n\t"
		"mov %%edx, %%eax"
		: "=a"(out)
		:
		: "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
		  "r15", "memory", "cc");
	__asm__ volatile("int $0x80" : "=a"(pid32) : "a"(20) : "memory");	/* i386 getpid */
	result("compat", out == 36 && pid32 == getpid(), "compat code computed %u, int 0x80 getpid %s",
	       out, pid32 == getpid() ? "matches" : "differs");
}

/* Touch every page of 512 MiB, then read it back. */
static void check_touch512(void)
{
	size_t len = 512UL << 20;
	long ps = page_size();
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);
	uint64_t sum = 0;

	if (p == MAP_FAILED) {
		result("touch512", 0, "mmap: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < len; i += ps)
		p[i] = (unsigned char)(i / ps);
	for (size_t i = 0; i < len; i += ps)
		sum += p[i];
	munmap(p, len);
	result("touch512", sum == (len / ps / 256) * (255 * 256 / 2), "sum %llu",
	       (unsigned long long)sum);
}

struct check {
	const char *name;
	void (*fn)(void);
	int by_default;
};

static const struct check checks[] = {
	{ "fork-exec", check_fork_exec, 1 },	{ "cow", check_cow, 1 },
	{ "map-shared", check_shared, 1 },	{ "file-mmap", check_file_mmap, 1 },
	{ "threads", check_threads, 1 },	{ "guard-page", check_guard_page, 1 },
	{ "faults", check_faults, 1 },		{ "signals", check_signals, 1 },
	{ "jit", check_jit, 1 },		{ "ptrace-step", check_ptrace_step, 1 },
	{ "cpuid", check_cpuid, 1 },		{ "compat", check_compat, 1 },
	{ "touch512", check_touch512, 0 },
};

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "child-exec") == 0)
		return 42;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (const struct check *c = checks; c < checks + sizeof(checks) / sizeof(checks[0]); c++) {
		int wanted = argc == 1 ? c->by_default : 0;

		for (int i = 1; i < argc; i++)
			wanted |= strcmp(argv[i], c->name) == 0;
		if (wanted)
			c->fn();
	}
	printf("usermode: %d failed\n", failures);
	return failures ? 1 : 0;
}
