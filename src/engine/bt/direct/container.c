/* The container of direct execution: a forked host process that holds nothing but guest pages
 * and one gadget page, traced by its vCPU's thread.
 *
 * Made at vCPU creation, before vmon's sandbox, by fork(): the child closes every descriptor
 * but the guest-RAM memfd, maps the gadget, turns on CPUID faulting (ARCH_SET_CPUID) and RDTSC
 * faulting (PR_SET_TSC), sets no_new_privs and its parent-death signal, and stops itself. The
 * vCPU thread attaches (PTRACE_SEIZE with EXITKILL: the container dies with its tracer) and,
 * through the gadget, installs the container's own seccomp filter and unmaps every other
 * mapping it inherited (vmon's code, heap, stacks, vDSO, the guest-RAM mapping).
 *
 * Guest code never makes a system call: it runs under PTRACE_SYSEMU, which stops every system
 * call at entry and skips it (seccomp is not even consulted). The filter is defense in depth
 * for the only other way in, vmon resuming it with PTRACE_CONT to inject a call: it allows
 * mmap/munmap/mprotect from the gadget's address only, kills the process for anything else,
 * and traps (SIGSYS, a stop the engine handles) the legacy vsyscall page's emulation, which
 * the host kernel runs through seccomp but not through ptrace.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/rseq.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/bt/direct/container.h"
#include "sandbox.h"


/* Exit statuses of a child that could not set itself up, for the message. */
#ifndef RSEQ_SIG
#define RSEQ_SIG	0x53053053	/* x86's, as glibc registers it */
#endif
#define RSEQ_FLAG_UNREGISTER	1

enum { CHILD_PARENT_GONE = 100, CHILD_GADGET, CHILD_CPUID, CHILD_TSC, CHILD_PRIVS };

#define LO32(v)	((uint32_t)(v))
#define HI32(v)	((uint32_t)((uint64_t)(v) >> 32))

/* The container's filter (built before fork: the child reads it at vmon's address). */
static struct sock_filter filter_code[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	/* From the gadget: the calls vmon injects. */
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer) + 4),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, HI32(DX_GADGET_RET), 0, 8),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, LO32(DX_GADGET_RET), 0, 6),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 2, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_munmap, 1, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	/* From anywhere else only the vsyscall emulation gets here: a stop for the engine. */
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
};
static const struct sock_fprog filter_prog = {
	.len = sizeof(filter_code) / sizeof(filter_code[0]),
	.filter = filter_code,
};

/* In the forked child: raw system calls only (vmon may be multithreaded). */
static _Noreturn void child_main(int memfd, pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(CHILD_PARENT_GONE);
	/* Nothing of vmon's thread may be used once its memory is gone: the kernel would write
	 * the rseq area on a reschedule (a SIGSEGV at a random point), and handlers would run on
	 * unmapped code. */
	if (__rseq_size)
		for (unsigned len = 32; len >= 20; len -= 12)
			if (syscall(SYS_rseq, (char *)__builtin_thread_pointer() + __rseq_offset, len,
				    RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == 0)
				break;
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if (memfd > 0)
		syscall(SYS_close_range, 0, (unsigned)memfd - 1, 0);
	syscall(SYS_close_range, (unsigned)memfd + 1, ~0u, 0);

	uint8_t *g = mmap((void *)DX_GADGET, 2 * 4096, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (g != (uint8_t *)DX_GADGET)
		_exit(CHILD_GADGET);
	memset(g, 0xcc, 4096);
	g[4093] = 0x0f;		/* syscall */
	g[4094] = 0x05;
	if (mprotect(g, 4096, PROT_READ | PROT_EXEC) < 0 || munmap(g + 4096, 4096) < 0)
		_exit(CHILD_GADGET);
	if (syscall(SYS_arch_prctl, DX_ARCH_SET_CPUID, 0) < 0)
		_exit(CHILD_CPUID);
	if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV) < 0)
		_exit(CHILD_TSC);
	/* no_new_privs lets an unprivileged vmon install the filter; dumpable lets it attach. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 1) < 0)
		_exit(CHILD_PRIVS);
	kill(getpid(), SIGSTOP);
	_exit(0);	/* continued by anyone but its tracer */
}

int dx_container_create(struct dx_container *c, int memfd, char *err, size_t len)
{
	pid_t parent = getpid();
	int st;

	*c = (struct dx_container){ .pinned_cpu = -1 };
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, len, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		child_main(memfd, parent);
	if (waitpid(pid, &st, WUNTRACED) != pid || !WIFSTOPPED(st)) {
		static const char *const why[] = {
			[CHILD_PARENT_GONE - CHILD_PARENT_GONE] = "parent gone",
			[CHILD_GADGET - CHILD_PARENT_GONE] = "cannot map the gadget page",
			[CHILD_CPUID - CHILD_PARENT_GONE] = "no CPUID faulting (arch_prctl ARCH_SET_CPUID)",
			[CHILD_TSC - CHILD_PARENT_GONE] = "no RDTSC faulting (PR_SET_TSC)",
			[CHILD_PRIVS - CHILD_PARENT_GONE] = "prctl no_new_privs/dumpable failed",
		};
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		snprintf(err, len, "container process: %s",
			 code >= CHILD_PARENT_GONE && code <= CHILD_PRIVS ?
			 why[code - CHILD_PARENT_GONE] : "did not start");
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return -1;
	}
	c->pid = pid;
	sandbox_add_tracee(pid);
	return 0;
}

int dx_wait_stop(struct dx_container *c, bool interruptible)
{
	int st;

	for (;;) {
		pid_t r = waitpid(c->pid, &st, __WALL);
		if (r == c->pid) {
			if (WIFSTOPPED(st))
				return st;
			/* reaped: never signal that pid again (bt_direct_kick reads it) */
			__atomic_store_n(&c->pid, -c->pid, __ATOMIC_RELAXED);
			errno = ESRCH;
			return -1;
		}
		if (r < 0 && (errno != EINTR || interruptible))
			return -1;
	}
}

long dx_inject(struct dx_container *c, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
	       uint64_t a3, uint64_t a4, uint64_t a5, bool *kicked)
{
	struct user_regs_struct r = c->base;

	r.rip = DX_GADGET_SYSCALL;
	r.rax = (uint64_t)nr;
	r.orig_rax = ~0ull;
	r.rdi = a0;
	r.rsi = a1;
	r.rdx = a2;
	r.r10 = a3;
	r.r8 = a4;
	r.r9 = a5;
	r.eflags = 0x202;
	if (ptrace(PTRACE_SETREGS, c->pid, 0, &r) < 0)
		return -ESRCH;
	int sig = 0;
	for (;;) {
		if (ptrace(PTRACE_CONT, c->pid, 0, sig) < 0)
			return -ESRCH;
		int st = dx_wait_stop(c, false);
		if (st < 0)
			return -ESRCH;
		sig = 0;
		if (WSTOPSIG(st) == SIGTRAP && st >> 16 == 0)
			break;		/* the int3 after the syscall */
		if (WSTOPSIG(st) == DX_KICK_SIGNAL && kicked)
			*kicked = true;
		/* any other stop (a group stop) is passed over */
	}
	if (ptrace(PTRACE_GETREGS, c->pid, 0, &r) < 0)
		return -ESRCH;
	if (r.rip != DX_GADGET_RET + 1)
		return -EFAULT;
	return (long)r.rax;
}

int dx_container_attach(struct dx_container *c, char *err, size_t len)
{
	if (ptrace(PTRACE_SEIZE, c->pid, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD) < 0) {
		snprintf(err, len, "ptrace(PTRACE_SEIZE): %s", strerror(errno));
		return -1;
	}
	/* It stopped itself, or its last tracer left it stopped: attaching turns that into a
	 * trace stop. */
	if (dx_wait_stop(c, false) < 0) {
		snprintf(err, len, "container process did not stop");
		return -1;
	}
	if (c->attached)
		return 0;
	if (ptrace(PTRACE_GETREGS, c->pid, 0, &c->base) < 0) {
		snprintf(err, len, "container process did not stop");
		return -1;
	}
	long r = dx_inject(c, SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0,
			   (uint64_t)(uintptr_t)&filter_prog, 0, 0, 0, NULL);
	if (r == 0)
		r = dx_inject(c, SYS_munmap, 0, DX_GADGET, 0, 0, 0, 0, NULL);
	if (r == 0)
		r = dx_inject(c, SYS_munmap, DX_GADGET_END, DX_USER_TOP - DX_GADGET_END,
			      0, 0, 0, 0, NULL);
	if (r != 0) {
		snprintf(err, len, "container set-up: %s", strerror((int)-r));
		return -1;
	}
	c->attached = true;
	return 0;
}

void dx_container_detach(struct dx_container *c)
{
	if (c->pid > 0)
		ptrace(PTRACE_DETACH, c->pid, 0, SIGSTOP);
}

void dx_container_destroy(struct dx_container *c)
{
	int st;

	if (c->pid <= 0) {
		c->pid = 0;
		return;
	}
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, &st, __WALL) < 0 && errno == EINTR)
		;
	c->pid = 0;
}

void dx_container_follow(struct dx_container *c)
{
	int cpu = sched_getcpu();

	if (cpu < 0 || cpu == c->pinned_cpu)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(c->pid, sizeof(set), &set) == 0)
		c->pinned_cpu = cpu;
}
