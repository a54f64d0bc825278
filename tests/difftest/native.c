/* Native side of the differential tester: one traced child maps the code and data pages at fixed
 * addresses and stops; for each case the parent writes the pages through /proc/PID/mem, loads the
 * registers with PTRACE_SETREGS and lets it run until the signal that ends the sequence. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu_state.h"
#include "difftest.h"

struct dt_native {
	pid_t pid;
	int mem_fd;
};

static void child(void)
{
	void *code = mmap((void *)DT_CODE_VA, DT_PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	void *data = mmap((void *)DT_DATA_VA, DT_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (code == MAP_FAILED || data == MAP_FAILED)
		_exit(99);
	ptrace(PTRACE_TRACEME, 0, 0, 0);
	raise(SIGSTOP);
	_exit(98);
}

struct dt_native *dt_native_start(void)
{
	struct dt_native *n = calloc(1, sizeof(*n));
	int status;
	char path[64];

	if (!n)
		return NULL;
	n->pid = fork();
	if (n->pid == 0)
		child();
	if (n->pid < 0 || waitpid(n->pid, &status, 0) != n->pid || !WIFSTOPPED(status)) {
		free(n);
		return NULL;
	}
	ptrace(PTRACE_SETOPTIONS, n->pid, 0, PTRACE_O_EXITKILL);
	snprintf(path, sizeof(path), "/proc/%d/mem", n->pid);
	n->mem_fd = open(path, O_RDWR | O_CLOEXEC);
	if (n->mem_fd < 0) {
		dt_native_stop(n);
		return NULL;
	}
	return n;
}

void dt_native_stop(struct dt_native *n)
{
	if (!n)
		return;
	kill(n->pid, SIGKILL);
	waitpid(n->pid, NULL, 0);
	if (n->mem_fd >= 0)
		close(n->mem_fd);
	free(n);
}

static unsigned long long *ureg(struct user_regs_struct *u, int r)
{
	switch (r) {
	case R_RAX: return &u->rax;
	case R_RCX: return &u->rcx;
	case R_RDX: return &u->rdx;
	case R_RBX: return &u->rbx;
	case R_RSP: return &u->rsp;
	case R_RBP: return &u->rbp;
	case R_RSI: return &u->rsi;
	case R_RDI: return &u->rdi;
	case R_R8: return &u->r8;
	case R_R9: return &u->r9;
	case R_R10: return &u->r10;
	case R_R11: return &u->r11;
	case R_R12: return &u->r12;
	case R_R13: return &u->r13;
	case R_R14: return &u->r14;
	default: return &u->r15;
	}
}

/* The exception vector a signal stands for. */
static int signal_vector(int sig, const siginfo_t *si)
{
	switch (sig) {
	case SIGFPE: return 0;
	case SIGILL: return 6;
	case SIGTRAP: return 3;
	case SIGBUS: return 13;
	case SIGSEGV: return si->si_code == SI_KERNEL ? 13 : 14;
	default: return -sig;
	}
}

int dt_native_run(struct dt_native *n, const struct dt_case *c, struct dt_result *r)
{
	struct user_regs_struct u;
	siginfo_t si;
	int status;

	if (pwrite(n->mem_fd, c->code, DT_PAGE, DT_CODE_VA) != DT_PAGE ||
	    pwrite(n->mem_fd, c->data, DT_PAGE, DT_DATA_VA) != DT_PAGE)
		return -1;
	if (ptrace(PTRACE_GETREGS, n->pid, 0, &u) < 0)
		return -1;
	for (int i = 0; i < 16; i++)
		*ureg(&u, i) = c->gpr[i];
	u.rip = DT_CODE_VA;
	u.eflags = c->rflags;
	u.fs_base = u.gs_base = 0;
	if (ptrace(PTRACE_SETREGS, n->pid, 0, &u) < 0 ||
	    ptrace(PTRACE_CONT, n->pid, 0, 0) < 0 ||
	    waitpid(n->pid, &status, 0) != n->pid || !WIFSTOPPED(status))
		return -1;
	if (ptrace(PTRACE_GETSIGINFO, n->pid, 0, &si) < 0 ||
	    ptrace(PTRACE_GETREGS, n->pid, 0, &u) < 0)
		return -1;
	r->vector = signal_vector(WSTOPSIG(status), &si);
	for (int i = 0; i < 16; i++)
		r->gpr[i] = *ureg(&u, i);
	r->rip = u.rip;
	r->rflags = u.eflags;
	if (pread(n->mem_fd, r->data, DT_PAGE, DT_DATA_VA) != DT_PAGE)
		return -1;
	return 0;
}
