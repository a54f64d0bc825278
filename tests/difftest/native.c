/* Native side of the differential tester: one traced child maps the code and data pages at fixed
 * addresses and stops; for each case the parent writes the pages through /proc/PID/mem, loads the
 * registers with PTRACE_SETREGS (and the x87/SSE state, FXSAVE layout, with PTRACE_SETFPREGS) and
 * lets it run until the signal that ends the sequence. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu_state.h"
#include "difftest.h"

struct dt_native {
	pid_t pid;
	int mem_fd;
};

/* mov eax, 11 (munmap); mov rdi, start; mov rsi, len; syscall */
static uint8_t *put_munmap(uint8_t *p, uint64_t start, uint64_t len)
{
	*p++ = 0xb8; *p++ = 11; *p++ = 0; *p++ = 0; *p++ = 0;
	*p++ = 0x48; *p++ = 0xbf;
	memcpy(p, &start, 8);
	p += 8;
	*p++ = 0x48; *p++ = 0xbe;
	memcpy(p, &len, 8);
	p += 8;
	*p++ = 0x0f; *p++ = 0x05;
	return p;
}

/* glibc registers an rseq area in the thread's TLS; with the TLS unmapped, the kernel's rseq
 * update on the way back to user mode would fail and kill the child with SIGSEGV. The
 * registered length is __rseq_size or, for older glibc reporting the feature size, 32. */
static void unregister_rseq(void)
{
	void *area = (char *)__builtin_thread_pointer() + __rseq_offset;

	if (!__rseq_size)
		return;
	if (syscall(SYS_rseq, area, __rseq_size, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) < 0 &&
	    syscall(SYS_rseq, area, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) < 0)
		_exit(97);
}

/* The child inherits the whole address space of this (ASan-instrumented) process: heap, libc,
 * stacks and terabytes of shadow memory. A case whose RBP or RSP got corrupted would then read
 * and write there where the bt side (which maps just the two pages) faults. So the child runs
 * a stub from its code page that unmaps everything else of the user half, then stops with
 * INT3 for the parent; it never returns to C code. */
static void child(void)
{
	const uint64_t user_top = 0x7ffffffff000ull;
	uint8_t *code = mmap((void *)DT_CODE_VA, DT_PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	void *data = mmap((void *)DT_DATA_VA, DT_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	uint8_t *p;

	if (code == MAP_FAILED || data == MAP_FAILED)
		_exit(99);
	unregister_rseq();
	p = put_munmap(code, 0, DT_CODE_VA);
	p = put_munmap(p, DT_CODE_VA + DT_PAGE, DT_DATA_VA - DT_CODE_VA - DT_PAGE);
	p = put_munmap(p, DT_DATA_VA + DT_PAGE, user_top - DT_DATA_VA - DT_PAGE);
	*p = 0xcc;
	ptrace(PTRACE_TRACEME, 0, 0, 0);
	((void (*)(void))code)();
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

/* The exception vector a signal stands for; a floating-point SIGFPE is #MF when the x87 has
 * an exception pending (FSW.ES), else #XM. */
static int signal_vector(int sig, const siginfo_t *si, uint16_t fsw)
{
	switch (sig) {
	case SIGFPE:
		if (si->si_code == FPE_INTDIV || si->si_code == FPE_INTOVF)
			return 0;
		return fsw & 0x80 ? 16 : 19;
	case SIGILL: return 6;
	case SIGTRAP: return 3;
	case SIGBUS: return si->si_code == BUS_ADRALN ? 17 : 12;	/* #AC, else #SS */
	case SIGSEGV: return si->si_code == SI_KERNEL ? 13 : 14;
	default: return -sig;
	}
}

/* PTRACE_SETREGS cannot change NT or ID (not in the kernel's user-settable mask), so they carry
 * over from the previous case's POPF: when they differ from the case's, set them with a POPF in
 * the child itself (pushfq; and [rsp], ~(NT|ID); or [rsp], want; popfq; int3), its stack in the
 * data page, which the case rewrites afterwards. */
static int set_sticky_flags(struct dt_native *n, struct user_regs_struct *u, uint64_t want)
{
	const uint64_t sticky = RFLAGS_NT | RFLAGS_ID;
	uint8_t stub[] = { 0x9c, 0x48, 0x81, 0x24, 0x24, 0, 0, 0, 0, 0x48, 0x81, 0x0c, 0x24, 0, 0, 0, 0,
			   0x9d, 0xcc };
	uint32_t and_imm = (uint32_t)~sticky, or_imm = (uint32_t)(want & sticky);
	int status;

	if (!((u->eflags ^ want) & sticky))
		return 0;
	memcpy(&stub[5], &and_imm, 4);
	memcpy(&stub[13], &or_imm, 4);
	if (pwrite(n->mem_fd, stub, sizeof(stub), DT_CODE_VA) != (ssize_t)sizeof(stub))
		return -1;
	u->rip = DT_CODE_VA;
	u->rsp = DT_DATA_VA + DT_PAGE - 64;
	if (ptrace(PTRACE_SETREGS, n->pid, 0, u) < 0 ||
	    ptrace(PTRACE_CONT, n->pid, 0, 0) < 0 ||
	    waitpid(n->pid, &status, 0) != n->pid || !WIFSTOPPED(status) ||
	    WSTOPSIG(status) != SIGTRAP || ptrace(PTRACE_GETREGS, n->pid, 0, u) < 0)
		return -1;
	return (u->eflags ^ want) & sticky ? -1 : 0;
}

int dt_native_run(struct dt_native *n, const struct dt_case *c, struct dt_result *r)
{
	struct user_regs_struct u;
	struct user_fpregs_struct fp;
	siginfo_t si;
	int status;

	_Static_assert(sizeof(fp) == sizeof(c->fx), "user_fpregs_struct is the FXSAVE image");
	if (ptrace(PTRACE_GETREGS, n->pid, 0, &u) < 0 || set_sticky_flags(n, &u, c->rflags) < 0)
		return -1;
	memcpy(&fp, c->fx, sizeof(fp));
	if (ptrace(PTRACE_SETFPREGS, n->pid, 0, &fp) < 0)
		return -1;
	if (pwrite(n->mem_fd, c->code, DT_PAGE, DT_CODE_VA) != DT_PAGE ||
	    pwrite(n->mem_fd, c->data, DT_PAGE, DT_DATA_VA) != DT_PAGE)
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
	    ptrace(PTRACE_GETREGS, n->pid, 0, &u) < 0 ||
	    ptrace(PTRACE_GETFPREGS, n->pid, 0, &fp) < 0)
		return -1;
	memcpy(r->fx, &fp, sizeof(fp));
	r->vector = signal_vector(WSTOPSIG(status), &si, fp.swd);
	for (int i = 0; i < 16; i++)
		r->gpr[i] = *ureg(&u, i);
	r->rip = u.rip;
	r->rflags = u.eflags;
	if (pread(n->mem_fd, r->data, DT_PAGE, DT_DATA_VA) != DT_PAGE)
		return -1;
	return 0;
}
