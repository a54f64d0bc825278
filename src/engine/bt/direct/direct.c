/* Direct execution of guest user mode: the run, the stops, and the container as a tagged TLB.
 *
 * Exactness by re-execution: native execution stops at a fault, trap, system call, kick or
 * timer. Only one stop is finished here: a host page fault on a page whose guest translation
 * allows the access (the engine's own soft-TLB fill decides, so A/D bits, the dirty log and the
 * write protection of code and page-table pages apply unchanged): the page is mapped and the
 * container resumes. Every other stop is rewound to the instruction that caused it (a system
 * call stop to rip - 2, int3/int1 by the byte before rip) and returned to the engine, which runs
 * that instruction itself: it raises the exception with the right CR2 and error code, or
 * performs SYSCALL / INT n through the guest's MSRs and IDT, exactly as it would have without
 * direct execution. A kick or timer stops at an instruction boundary and nothing is rewound.
 *
 * Coherence (the container is a TLB for one address space): every guest TLB operation drops
 * what the architecture drops (CR3/CR0/CR4/EFER writes: everything; INVLPG: the page), applied
 * before the next resume. Pages the engine write-protects (decoded code, paging structures) are
 * never mapped writable; when a page becomes one while some container may have it writable, all
 * containers drop everything before they next resume (wp_gen, with a kick), and the pages a
 * container had writable are reported written (bt_code_written), so decoded code and shadow
 * translations read from them are dropped. The dirty log does the same when it starts or is
 * harvested: a page is only mapped writable through a soft-TLB fill for a write, which marks it.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <elf.h>
#include <time.h>
#include <unistd.h>

#include "engine/bt/direct/container.h"
#include "engine/bt/direct/direct.h"
#include "engine/bt/sys/btsys.h"
#include "hw/irqchip.h"
#include "mem.h"
#include "util/log.h"
#include "vm.h"

/* Why a vCPU at CPL 3 ran in the engine instead (counted, --stats). */
#define DX_BT_REASONS(X) \
	X(off, "direct execution unavailable on this vCPU") \
	X(mode, "not 64-bit mode (compat, virtual-8086, legacy)") \
	X(segments, "CS/SS/DS/ES/FS/GS not Linux's user selectors") \
	X(flags, "RFLAGS.TF, IF clear or IOPL > 0") \
	X(fpu, "CR0.TS/EM set or CR4.OSFXSR clear") \
	X(shadow, "interrupt shadow (STI / MOV SS)") \
	X(gadget, "guest maps the container's gadget pages") \
	X(policy, "auto: stops too frequent in this address space for now")

/* Why native execution stopped (counted, --stats). */
#define DX_STOP_REASONS(X) \
	X(syscall, "syscall") \
	X(int80, "int 0x80") \
	X(sysenter, "sysenter") \
	X(int3, "int3 / int1 / int 3") \
	X(page_mapped, "page fault, page mapped (handled natively)") \
	X(page_fault, "page fault for the guest (#PF, MMIO, protected page)") \
	X(cpuid, "cpuid (faulting)") \
	X(rdtsc, "rdtsc / rdtscp (faulting)") \
	X(gp, "other #GP / #SS / privileged instruction") \
	X(ud, "#UD") \
	X(fpe, "#DE / #MF / #XM") \
	X(bus, "#AC / bus error") \
	X(vsyscall, "legacy vsyscall page") \
	X(kick, "kick (interrupt, IPI, pause, stop request)") \
	X(timer, "timer deadline") \
	X(other, "other signal")

#define DX_ENUM(name, text) DX_##name,
enum dx_bt_reason { DX_BT_REASONS(DX_ENUM) DX_BT_NR };
#undef DX_ENUM
#define DX_ENUM(name, text) DXS_##name,
enum dx_stop_reason { DX_STOP_REASONS(DX_ENUM) DXS_NR };
#undef DX_ENUM

struct dx_stats {
	uint64_t entries;		/* native runs started */
	uint64_t native_ns;		/* time between resuming and the final stop of each run */
	uint64_t run_ns;		/* time in bt_direct_run, set-up and state copies included */
	uint64_t injected;		/* system calls injected into the container */
	uint64_t full_drops, page_drops, pages_mapped;
	uint64_t premapped;		/* pages mapped after the guest's #PF handler, before resuming */
	uint64_t policy_to_bt;		/* auto: address spaces sent to the engine for a while */
	uint64_t stops[DXS_NR];
	uint64_t bt[DX_BT_NR];
};

/* The adaptive policy of --user-mode auto, per guest address space (CR3) and vCPU: native
 * time per stop over a window of stops. A stop costs about 10 us (docs/direct-execution.md), a
 * system call or fault the translator handles about 1-2 us, and translated user code runs
 * about 5-20 times slower than native: below DX_MIN_NS_PER_STOP of native time per stop
 * (the wait for the container included) the translator is faster, and the address space runs
 * there for a back-off time, doubled each time direct execution loses again. */
#define DX_AS_SLOTS		16
#define DX_POLICY_WINDOW	256		/* stops per judgement */
#define DX_MIN_NS_PER_STOP	15000
#define DX_BACKOFF_MIN_NS	(10 * 1000000ull)
#define DX_BACKOFF_MAX_NS	(1000 * 1000000ull)

struct dx_as {
	uint64_t cr3;
	uint64_t native_ns, stops;	/* this window */
	uint64_t bt_until;		/* monotonic ns: run in the engine until then */
	uint64_t backoff;
};

/* The vCPU's side. */
struct dx_cpu {
	struct dx_container c;
	bool broken;			/* attach failed: the engine runs user mode */
	uint64_t cr3;			/* the address space mapped; ~0: nothing is */
	bool flush;			/* drop every mapping before the next resume */
	bool large;			/* a mapping came from a large guest page */
	unsigned nr_inv;
	uint64_t inv[32];		/* INVLPG pages to unmap before the next resume */
	unsigned wp_gen_seen;
	/* A page fault the guest took at this page (+1; 0: none): its handler probably mapped it,
	 * so the next entry maps it before resuming instead of taking the fault again. */
	uint64_t premap;
	unsigned nr_wr;
	uint64_t wr[1024];		/* guest-physical pages mapped writable since the last drop */
	atomic_bool running;		/* between resuming the container and taking it back */
	pid_t tracer;			/* the thread tracing the container, 0: none */
	bool timer_ok;
	timer_t timer;
	uint64_t timer_armed;		/* monotonic deadline armed, 0: none */
	void *xstate;			/* PTRACE_SETREGSET NT_X86_XSTATE buffer */
	size_t xstate_len;
	/* The FXSAVE image the container holds, valid while fx_cr3 is the address space: an
	 * entry that finds it unchanged sets no FPU state (a switch always does, resetting the
	 * extended state so nothing carries over). */
	uint64_t fx_cr3;
	uint8_t fx[512];
	struct dx_as as[DX_AS_SLOTS];	/* --user-mode auto: per address space */
	struct dx_stats st;
};

struct dx_vm {
	bool adaptive;			/* --user-mode auto: the policy below chooses per address space */
	atomic_uint wp_gen;		/* bumped: every container drops all before its next resume */
	/* Per guest page: the low byte of wp_gen when a container last mapped it writable. */
	_Atomic uint8_t *mapped_w;
	uint64_t nr_pages;
};

/* RFLAGS bits guest user code changes natively and that come back from the container. */
#define DX_USER_FLAGS	(RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_DF | \
			 RFLAGS_OF | RFLAGS_AC | RFLAGS_NT | RFLAGS_ID)
/* Linux's (and the host's) 64-bit user selectors. */
#define SEL_USER_CS	0x33
#define SEL_USER_DS	0x2b
/* The vCPU thread's timer signal: interrupts its wait for the container at a deadline. */
#define DX_TIMER_SIGNAL	SIGUSR2

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* ---- Machine and vCPU set-up ------------------------------------------------------------ */

int bt_direct_vm_init(struct bt_vm *bvm, char *err, size_t len)
{
	bvm->direct = NULL;
	if (bvm->vm->cfg.user_mode == USER_MODE_BT)
		return 0;
	struct dx_vm *x = calloc(1, sizeof(*x));
	if (!x || !(x->mapped_w = calloc(bvm->nr_pages ? bvm->nr_pages : 1, 1))) {
		free(x);
		snprintf(err, len, "out of memory");
		return -1;
	}
	x->nr_pages = bvm->nr_pages;
	x->adaptive = bvm->vm->cfg.user_mode == USER_MODE_AUTO;
	atomic_init(&x->wp_gen, 1);
	bvm->direct = x;
	return 0;
}

void bt_direct_vm_free(struct bt_vm *bvm)
{
	struct dx_vm *x = bvm->direct;

	if (!x)
		return;
	free((void *)x->mapped_w);
	free(x);
	bvm->direct = NULL;
}

int bt_direct_vcpu_init(struct bt_cpu *cpu, char *err, size_t len)
{
	cpu->direct = NULL;
	if (!cpu->bvm->direct)
		return 0;
	struct dx_cpu *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	d->cr3 = ~0ull;
	d->fx_cr3 = ~0ull;
	if (dx_container_create(&d->c, cpu->vm->mem.fd, err, len) < 0) {
		free(d);
		/* auto: this host cannot; the engine runs user mode. */
		return cpu->bvm->direct->adaptive ? 0 : -1;
	}
	cpu->direct = d;
	return 0;
}

void bt_direct_vcpu_free(struct bt_cpu *cpu)
{
	struct dx_cpu *d = cpu->direct;

	if (!d)
		return;
	dx_container_destroy(&d->c);
	if (d->timer_ok)
		timer_delete(d->timer);	/* a vCPU thread that never returned: not released */
	free(d->xstate);
	free(d);
	cpu->direct = NULL;
}

static void timer_signal(int sig)
{
	(void)sig;
}

/* On the vCPU thread that runs it (a reset starts new vCPU threads): trace the container (set
 * it up on first use), the thread's deadline timer, the xstate buffer once. */
static int attach(struct bt_cpu *cpu, struct dx_cpu *d)
{
	char err[160];
	pid_t tid = (pid_t)syscall(SYS_gettid);

	if (dx_container_attach(&d->c, err, sizeof(err)) < 0) {
		vmon_log("vcpu %d: direct execution: %s", cpu->vcpu->id, err);
		return -1;
	}
	struct sigaction sa = { .sa_handler = timer_signal };	/* no SA_RESTART: waits return */
	sigemptyset(&sa.sa_mask);
	sigaction(DX_TIMER_SIGNAL, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, DX_TIMER_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = DX_TIMER_SIGNAL };
	ev._sigev_un._tid = tid;
	if (timer_create(CLOCK_MONOTONIC, &ev, &d->timer) < 0) {
		vmon_log("vcpu %d: direct execution: timer_create: %s", cpu->vcpu->id,
			 strerror(errno));
		return -1;
	}
	d->timer_ok = true;
	d->timer_armed = 0;
	if (!d->xstate) {
		/* The full xstate image: set with only x87/SSE state present, so AVX and later
		 * components start in their initial state and never carry anything across. */
		size_t cap = 64 * 1024;
		d->xstate = calloc(1, cap);
		struct iovec iov = { d->xstate, cap };
		if (!d->xstate || ptrace(PTRACE_GETREGSET, d->c.pid, NT_X86_XSTATE, &iov) < 0) {
			vmon_log("vcpu %d: direct execution: no xstate access", cpu->vcpu->id);
			return -1;
		}
		d->xstate_len = iov.iov_len;
	}
	/* CPUID faulting is a per-thread MSR bit the host kernel rewrites on every switch between
	 * a faulting and a non-faulting thread: on a host that is itself a VM that write traps,
	 * and it tripled a transition (29 us against 9 us here). With the vCPU thread faulting
	 * too, switches between it and its container write nothing. vmon never executes CPUID
	 * after start-up (the engine emulates it); a failure only costs speed. */
	syscall(SYS_arch_prctl, DX_ARCH_SET_CPUID, 0);
	d->tracer = tid;
	return 0;
}

void bt_direct_release(struct bt_cpu *cpu)
{
	struct dx_cpu *d = cpu->direct;

	if (!d || !d->tracer)
		return;
	/* Stopped, untraced: it cannot run a single instruction until a thread attaches again
	 * (PTRACE_O_EXITKILL would kill it with this thread). */
	dx_container_detach(&d->c);
	if (d->timer_ok)
		timer_delete(d->timer);
	d->timer_ok = false;
	d->tracer = 0;
}

/* ---- The container as a TLB ------------------------------------------------------------- */

static long inject(struct dx_cpu *d, long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
		   uint64_t a4, uint64_t a5, bool *kicked)
{
	d->st.injected++;
	return dx_inject(&d->c, nr, a0, a1, a2, a3, a4, a5, kicked);
}

/* Unmap the whole user range but the gadget; the pages it had writable count as written. */
static int drop_all(struct bt_cpu *cpu, struct dx_cpu *d, bool *kicked)
{
	d->st.full_drops++;
	if (inject(d, SYS_munmap, 0, DX_GADGET, 0, 0, 0, 0, kicked) < 0 ||
	    inject(d, SYS_munmap, DX_GADGET_END, DX_USER_TOP - DX_GADGET_END, 0, 0, 0, 0, kicked) < 0)
		return -1;
	for (unsigned k = 0; k < d->nr_wr; k++)
		bt_code_written(cpu->bvm, d->wr[k]);
	d->nr_wr = 0;
	d->nr_inv = 0;
	d->large = false;
	d->flush = false;
	return 0;
}

/* Apply what the guest's TLB operations and the engine's write protection dropped. */
static int sync_mappings(struct bt_cpu *cpu, struct dx_cpu *d, bool *kicked)
{
	struct dx_vm *x = cpu->bvm->direct;
	unsigned gen = atomic_load(&x->wp_gen);

	/* INVLPG drops a large page whole: its 4 KiB pieces are not tracked, so all go. */
	if (d->cr3 != cpu->s.cr3 || d->flush || gen != d->wp_gen_seen || (d->large && d->nr_inv)) {
		if (drop_all(cpu, d, kicked) < 0)
			return -1;
		d->cr3 = cpu->s.cr3;
		d->wp_gen_seen = gen;
		return 0;
	}
	for (unsigned k = 0; k < d->nr_inv; k++) {
		d->st.page_drops++;
		if (inject(d, SYS_munmap, d->inv[k], BT_PAGE, 0, 0, 0, 0, kicked) < 0)
			return -1;
	}
	d->nr_inv = 0;
	return 0;
}

void bt_direct_tlb_flush(struct bt_cpu *cpu)
{
	if (cpu->direct)
		cpu->direct->flush = true;
}

void bt_direct_tlb_flush_page(struct bt_cpu *cpu, uint64_t lin)
{
	struct dx_cpu *d = cpu->direct;

	if (!d || lin >= DX_USER_TOP)
		return;
	if (d->nr_inv == sizeof(d->inv) / sizeof(d->inv[0]))
		d->flush = true;
	else
		d->inv[d->nr_inv++] = lin & BT_PAGE_MASK;
}

void bt_direct_kick(struct bt_cpu *cpu)
{
	struct dx_cpu *d = cpu->direct;

	/* After the kick flag is set (seq_cst): either the vCPU sees the flag before it resumes
	 * the container, or this sees it running and stops it. The pid is read once: the vCPU
	 * thread negates it when it reaps a dead container, and kill() of a negative pid would
	 * signal a process group. */
	if (!d || !atomic_load(&d->running))
		return;
	pid_t pid = __atomic_load_n(&d->c.pid, __ATOMIC_RELAXED);
	if (pid > 0)
		kill(pid, DX_KICK_SIGNAL);
}

void bt_direct_page_protected(struct bt_vm *bvm, uint64_t gpa_page)
{
	struct dx_vm *x = bvm->direct;

	if (!x)
		return;
	if (gpa_page != UINT64_MAX) {
		uint64_t pfn = gpa_page >> 12;
		uint8_t cur = (uint8_t)atomic_load(&x->wp_gen);
		if (pfn >= x->nr_pages || atomic_load(&x->mapped_w[pfn]) != cur)
			return;
	}
	atomic_fetch_add(&x->wp_gen, 1);
	for (int k = 0; k < bvm->nr_cpus; k++)
		if (bvm->cpu[k])
			bt_direct_kick(bvm->cpu[k]);
}

/* bt_translate for a user access without raising: false if the guest would fault. */
static struct bt_tlb_entry *probe(struct bt_cpu *cpu, uint64_t lin, enum bt_access acc)
{
	jmp_buf saved;
	uint64_t cr2 = cpu->s.cr2;
	struct bt_tlb_entry *volatile e = NULL;

	memcpy(saved, cpu->fault_jmp, sizeof(saved));
	if (!setjmp(cpu->fault_jmp))
		e = bt_translate(cpu, lin, acc, BT_TLB_USER);
	memcpy(cpu->fault_jmp, saved, sizeof(saved));
	cpu->s.cr2 = cr2;
	return e;
}

/* Host protection the guest page lin may be mapped with for an access acc, its memfd offset,
 * guest-physical page, and whether it comes from a large guest page; 0 if the guest faults or it is not RAM. */
static int page_prot(struct bt_cpu *cpu, uint64_t lin, enum bt_access acc, uint64_t *off,
		     uint64_t *gpa, bool *large)
{
	struct bt_tlb_entry *e = probe(cpu, lin, acc);

	if (!e)
		return 0;
	*gpa = e->gpa_page;
	*large = e->flags & BT_TLBF_LARGE;
	uint8_t *hva = gpa_to_hva(&cpu->vm->mem, e->gpa_page, BT_PAGE);
	if (!hva)
		return 0;	/* MMIO: the engine performs the access */
	*off = (uint64_t)(hva - cpu->vm->mem.base);
	int prot = PROT_READ;
	if (e->tag_exec == lin)
		prot |= PROT_EXEC;
	if (e->tag_write == lin)
		prot |= PROT_WRITE;	/* RAM, D set, not a code or page-table page, logged */
	return prot;
}

/* A host page fault at addr; mapped: the page was mapped, so the access needed more than it
 * got. Maps the page (and following ones, contiguous in the guest too) with everything the
 * guest's translation allows, if it allows the access. A fault the guest must see, or one this
 * cannot tell apart (a write or an instruction fetch near rip on a mapped page), is left to
 * the engine, which re-executes the instruction. */
static bool map_fault(struct bt_cpu *cpu, struct dx_cpu *d, uint64_t addr, uint64_t rip,
		      bool mapped, bool *kicked)
{
	struct dx_vm *x = cpu->bvm->direct;
	uint64_t page = addr & BT_PAGE_MASK;

	if (page >= DX_USER_TOP || (page >= DX_GADGET && page < DX_GADGET_END))
		return false;
	if (mapped && addr - rip < 16)
		return false;
	uint64_t off, gpa0;
	bool large;
	int prot = page_prot(cpu, page, mapped ? BT_WRITE : BT_READ, &off, &gpa0, &large);
	if (!prot || (mapped && !(prot & PROT_WRITE)))
		return false;
	/* Fault-around: the next pages while contiguous in guest-physical memory too and mapped
	 * alike (a read probe sets their A bits, as a hardware TLB fill may). */
	unsigned n = 1;
	while (n < 16) {
		uint64_t next = page + n * BT_PAGE, noff, ngpa;
		bool nlarge;
		if (next >= DX_USER_TOP || next == DX_GADGET ||
		    page_prot(cpu, next, BT_READ, &noff, &ngpa, &nlarge) != prot ||
		    noff != off + n * BT_PAGE || ngpa != gpa0 + n * BT_PAGE)
			break;
		large |= nlarge;
		n++;
	}
	if (prot & PROT_WRITE) {
		/* Publish before the last look at the engine's protection: a page made a code or
		 * page-table page concurrently is seen here, or sees this (bt_direct_page_protected). */
		uint8_t cur = (uint8_t)atomic_load(&x->wp_gen);
		for (unsigned k = 0; k < n; k++)
			if ((gpa0 >> 12) + k < x->nr_pages)
				atomic_store(&x->mapped_w[(gpa0 >> 12) + k], cur);
		for (unsigned k = 0; k < n; k++) {
			uint64_t gpa = gpa0 + k * BT_PAGE;
			if (bt_shadow_watched(cpu->bvm, gpa) ||
			    ((gpa >> 12) < cpu->bvm->nr_pages && atomic_load(&cpu->bvm->page_gen[gpa >> 12]))) {
				if (k == 0)
					return false;
				n = k;
				break;
			}
			if (d->nr_wr == sizeof(d->wr) / sizeof(d->wr[0]))
				d->flush = true;	/* too many to report one by one: drop all soon */
			else
				d->wr[d->nr_wr++] = gpa;
		}
	}
	if (inject(d, SYS_mmap, page, n * BT_PAGE, (uint64_t)prot, MAP_SHARED | MAP_FIXED,
		   (uint64_t)cpu->vm->mem.fd, off, kicked) != (long)page)
		return false;
	d->large |= large;
	d->st.pages_mapped += n;
	return true;
}

/* ---- The policy of --user-mode auto ---------------------------------------------------- */

static struct dx_as *as_slot(struct dx_cpu *d, uint64_t cr3)
{
	struct dx_as *a = &d->as[(cr3 >> 12) % DX_AS_SLOTS];

	if (a->cr3 != cr3)
		*a = (struct dx_as){ .cr3 = cr3, .backoff = DX_BACKOFF_MIN_NS };
	return a;
}

static bool policy_says_bt(struct dx_cpu *d, uint64_t cr3, uint64_t now)
{
	return now < as_slot(d, cr3)->bt_until;
}

static void policy_account(struct dx_cpu *d, uint64_t cr3, uint64_t native_ns, unsigned stops,
			   uint64_t now)
{
	struct dx_as *a = as_slot(d, cr3);

	a->native_ns += native_ns;
	a->stops += stops;
	if (a->stops < DX_POLICY_WINDOW)
		return;
	if (a->native_ns / a->stops < DX_MIN_NS_PER_STOP) {
		a->bt_until = now + a->backoff;
		a->backoff = a->backoff * 2 > DX_BACKOFF_MAX_NS ? DX_BACKOFF_MAX_NS : a->backoff * 2;
		d->st.policy_to_bt++;
	} else if (a->backoff > DX_BACKOFF_MIN_NS) {
		a->backoff /= 2;
	}
	a->native_ns = a->stops = 0;
}

/* ---- Guest state in and out ------------------------------------------------------------- */

static const char *unsuitable(struct bt_cpu *cpu, enum dx_bt_reason *why)
{
	const struct cpu_state *s = &cpu->s;
	uint64_t fl = bt_get_rflags(cpu);

	*why = DX_mode;
	if (cpu->mode != BT_MODE_LONG)
		return "mode";
	*why = DX_segments;
	if (s->seg[S_CS].sel != SEL_USER_CS || s->seg[S_SS].sel != SEL_USER_DS)
		return "segments";
	for (int k = S_ES; k <= S_GS; k++)
		if (k != S_CS && k != S_SS && s->seg[k].sel != 0 && s->seg[k].sel != SEL_USER_DS)
			return "segments";
	*why = DX_flags;
	if ((fl & (RFLAGS_TF | RFLAGS_VM | RFLAGS_IOPL)) || !(fl & RFLAGS_IF))
		return "flags";
	*why = DX_fpu;
	if ((s->cr0 & (CR0_TS | CR0_EM)) || !(s->cr4 & CR4_OSFXSR))
		return "fpu";
	*why = DX_shadow;
	if (cpu->inhibit_irq)
		return "shadow";
	*why = DX_gadget;
	uint64_t off, gpa;
	bool large;
	if (page_prot(cpu, DX_GADGET, BT_READ, &off, &gpa, &large) ||
	    page_prot(cpu, DX_GADGET + BT_PAGE, BT_READ, &off, &gpa, &large))
		return "gadget";
	return NULL;
}

static void regs_from_cpu(struct bt_cpu *cpu, struct dx_cpu *d, struct user_regs_struct *r)
{
	const struct cpu_state *s = &cpu->s;

	*r = d->c.base;
	r->rax = s->gpr[R_RAX]; r->rcx = s->gpr[R_RCX]; r->rdx = s->gpr[R_RDX];
	r->rbx = s->gpr[R_RBX]; r->rsp = s->gpr[R_RSP]; r->rbp = s->gpr[R_RBP];
	r->rsi = s->gpr[R_RSI]; r->rdi = s->gpr[R_RDI];
	r->r8 = s->gpr[R_R8]; r->r9 = s->gpr[R_R9]; r->r10 = s->gpr[R_R10]; r->r11 = s->gpr[R_R11];
	r->r12 = s->gpr[R_R12]; r->r13 = s->gpr[R_R13]; r->r14 = s->gpr[R_R14];
	r->r15 = s->gpr[R_R15];
	r->rip = s->rip;
	r->orig_rax = ~0ull;
	r->eflags = RFLAGS_IF | 2 | (bt_get_rflags(cpu) & DX_USER_FLAGS);
	r->cs = SEL_USER_CS;
	r->ss = SEL_USER_DS;
	r->ds = s->seg[S_DS].sel;
	r->es = s->seg[S_ES].sel;
	r->fs = s->seg[S_FS].sel;
	r->gs = s->seg[S_GS].sel;
	r->fs_base = s->seg[S_FS].base;
	r->gs_base = s->seg[S_GS].base;
}

static void regs_to_cpu(struct bt_cpu *cpu, const struct user_regs_struct *r)
{
	struct cpu_state *s = &cpu->s;

	s->gpr[R_RAX] = r->rax; s->gpr[R_RCX] = r->rcx; s->gpr[R_RDX] = r->rdx;
	s->gpr[R_RBX] = r->rbx; s->gpr[R_RSP] = r->rsp; s->gpr[R_RBP] = r->rbp;
	s->gpr[R_RSI] = r->rsi; s->gpr[R_RDI] = r->rdi;
	s->gpr[R_R8] = r->r8; s->gpr[R_R9] = r->r9; s->gpr[R_R10] = r->r10; s->gpr[R_R11] = r->r11;
	s->gpr[R_R12] = r->r12; s->gpr[R_R13] = r->r13; s->gpr[R_R14] = r->r14;
	s->gpr[R_R15] = r->r15;
	s->rip = r->rip;
	bt_set_rflags(cpu, (bt_get_rflags(cpu) & ~DX_USER_FLAGS) | (r->eflags & DX_USER_FLAGS));
	/* Data selectors loaded natively take the host's (Linux's) descriptor of that number:
	 * the same flat segments a Linux guest's GDT has there. */
	s->seg[S_DS].sel = (uint16_t)r->ds;
	s->seg[S_ES].sel = (uint16_t)r->es;
	s->seg[S_FS].sel = (uint16_t)r->fs;
	s->seg[S_GS].sel = (uint16_t)r->gs;
	s->seg[S_FS].base = r->fs_base;
	s->seg[S_GS].base = r->gs_base;
}

/* n bytes of guest memory at user address addr, through the translation the container ran
 * with (the soft TLB the mappings came from); false where the guest maps nothing. */
static bool peek(struct bt_cpu *cpu, uint64_t addr, uint8_t *out, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		uint64_t a = addr + k;
		struct bt_tlb_entry *e = a < DX_USER_TOP ? probe(cpu, a & BT_PAGE_MASK, BT_READ) : NULL;
		const uint8_t *p = e ? gpa_to_hva(&cpu->vm->mem, e->gpa_page, BT_PAGE) : NULL;
		if (!p)
			return false;
		out[k] = p[a & (BT_PAGE - 1)];
	}
	return true;
}

static bool bytes_at(struct bt_cpu *cpu, uint64_t addr, const uint8_t *want, unsigned n)
{
	uint8_t b[4];
	return n <= sizeof(b) && peek(cpu, addr, b, n) && memcmp(b, want, n) == 0;
}

/* ---- The run ---------------------------------------------------------------------------- */

static void arm_timer(struct bt_cpu *cpu, struct dx_cpu *d, uint64_t vm_deadline)
{
	uint64_t mono = vm_deadline == UINT64_MAX ? 0 :
			vm_clock_to_monotonic(&cpu->vm->clock, vm_deadline);

	if (mono == d->timer_armed)
		return;
	struct itimerspec its = { 0 };
	if (mono) {
		its.it_value.tv_sec = (time_t)(mono / 1000000000ull);
		its.it_value.tv_nsec = (long)(mono % 1000000000ull);
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timer_settime(d->timer, TIMER_ABSTIME, &its, NULL);
	d->timer_armed = mono;
}

/* The container is gone (killed from outside, out of memory): guest user state since the
 * last entry is lost, so the VM stops with a message rather than continue from a stale one. */
static _Noreturn void container_lost(struct bt_cpu *cpu)
{
	char why[96];

	snprintf(why, sizeof(why), "direct execution: container process %d died",
		 cpu->direct->c.pid < 0 ? -cpu->direct->c.pid : cpu->direct->c.pid);
	cpu->direct->broken = true;
	atomic_store(&cpu->direct->running, false);
	bt_shutdown(cpu, why);
}

/* Classify a stop; returns true to resume natively, false to return with *res. The rewound
 * state is left in r. */
static bool handle_stop(struct bt_cpu *cpu, struct dx_cpu *d, int st, struct user_regs_struct *r,
			enum bt_direct_result *res, bool *kicked, bool *sysenter)
{
	static const uint8_t op_syscall[] = { 0x0f, 0x05 }, op_int80[] = { 0xcd, 0x80 },
			     op_int3b[] = { 0xcd, 0x03 }, op_cpuid[] = { 0x0f, 0xa2 },
			     op_rdtsc[] = { 0x0f, 0x31 }, op_rdtscp[] = { 0x0f, 0x01, 0xf9 };
	int sig = WSTOPSIG(st);

	*res = BT_DIRECT_STOPPED;
	if (sig == (SIGTRAP | 0x80)) {
		/* System call stop (SYSEMU: it will not run): back to the instruction. */
		r->rax = r->orig_rax;
		if (bytes_at(cpu, r->rip - 2, op_syscall, 2)) {
			r->rip -= 2;
			d->st.stops[DXS_syscall]++;
		} else if (bytes_at(cpu, r->rip - 2, op_int80, 2)) {
			r->rip -= 2;
			d->st.stops[DXS_int80]++;
		} else {
			/* SYSENTER (Intel hosts) saves no return address: the engine performs it
			 * from this state. */
			*sysenter = true;
			d->st.stops[DXS_sysenter]++;
		}
		return false;
	}
	if (st >> 16 == PTRACE_EVENT_STOP)
		return true;	/* a group stop (SIGSTOP from outside): keep going */

	siginfo_t si;
	if (ptrace(PTRACE_GETSIGINFO, d->c.pid, 0, &si) < 0)
		memset(&si, 0, sizeof(si));
	switch (sig) {
	case SIGSEGV:
		if (si.si_code == SEGV_MAPERR || si.si_code == SEGV_ACCERR) {
			if (map_fault(cpu, d, (uint64_t)(uintptr_t)si.si_addr, r->rip,
				      si.si_code == SEGV_ACCERR, kicked)) {
				d->st.stops[DXS_page_mapped]++;
				return true;
			}
			d->st.stops[DXS_page_fault]++;
			d->premap = ((uint64_t)(uintptr_t)si.si_addr & BT_PAGE_MASK) + 1;
		} else if (bytes_at(cpu, r->rip, op_cpuid, 2)) {
			d->st.stops[DXS_cpuid]++;
		} else if (bytes_at(cpu, r->rip, op_rdtsc, 2) || bytes_at(cpu, r->rip, op_rdtscp, 3)) {
			d->st.stops[DXS_rdtsc]++;
		} else {
			d->st.stops[DXS_gp]++;
		}
		return false;
	case SIGTRAP: {
		uint8_t b = 0;
		if (peek(cpu, r->rip - 1, &b, 1) && (b == 0xcc || b == 0xf1))
			r->rip -= 1;
		else if (bytes_at(cpu, r->rip - 2, op_int3b, 2))
			r->rip -= 2;
		d->st.stops[DXS_int3]++;
		return false;
	}
	case SIGILL:
		d->st.stops[DXS_ud]++;
		return false;
	case SIGFPE:
		d->st.stops[DXS_fpe]++;
		return false;
	case SIGBUS:
		d->st.stops[DXS_bus]++;
		return false;
	case SIGSYS:
		/* The host emulated a vsyscall-page call up to seccomp and then "returned" from
		 * it: back to the call's target, the return address pushed again. */
		if ((uint64_t)(uintptr_t)si.si_call_addr != r->rip) {
			r->rip = (uint64_t)(uintptr_t)si.si_call_addr;
			r->rsp -= 8;
		}
		d->st.stops[DXS_vsyscall]++;
		return false;
	case DX_KICK_SIGNAL:
		*res = BT_DIRECT_KICKED;
		d->st.stops[DXS_kick]++;
		return false;
	default:
		*res = BT_DIRECT_KICKED;
		d->st.stops[DXS_other]++;
		return false;
	}
}

static int set_fpu(struct bt_cpu *cpu, struct dx_cpu *d)
{
	uint8_t *x = d->xstate;

	if (d->fx_cr3 == cpu->s.cr3 && memcmp(d->fx, cpu->s.fxsave, sizeof(d->fx)) == 0)
		return 0;
	d->fx_cr3 = ~0ull;
	memset(x, 0, d->xstate_len);
	memcpy(x, cpu->s.fxsave, 512);
	uint64_t bv = 3;		/* XSTATE_BV: x87 and SSE from the image, the rest initial */
	memcpy(x + 512, &bv, 8);
	struct iovec iov = { x, d->xstate_len };
	return (int)ptrace(PTRACE_SETREGSET, d->c.pid, NT_X86_XSTATE, &iov);
}

enum bt_direct_result bt_direct_run(struct bt_cpu *cpu, uint64_t vm_deadline)
{
	struct dx_cpu *d = cpu->direct;
	enum dx_bt_reason why;

	if (!d || d->broken) {
		if (d)
			d->st.bt[DX_off]++;
		return BT_DIRECT_NOT_NOW;
	}
	if (d->tracer != (pid_t)syscall(SYS_gettid) && attach(cpu, d) < 0) {
		d->broken = true;
		d->st.bt[DX_off]++;
		return BT_DIRECT_NOT_NOW;
	}
	if (unsuitable(cpu, &why)) {
		d->st.bt[why]++;
		return BT_DIRECT_NOT_NOW;
	}
	uint64_t t0 = now_ns();
	if (cpu->bvm->direct->adaptive && policy_says_bt(d, cpu->s.cr3, t0)) {
		d->st.bt[DX_policy]++;
		return BT_DIRECT_NOT_NOW;
	}

	bool kicked = false, sysenter = false;
	struct user_regs_struct r;
	enum bt_direct_result res;

	uint64_t cr3_before = d->cr3;
	if (sync_mappings(cpu, d, &kicked) < 0)
		container_lost(cpu);
	if (d->premap && d->cr3 == cr3_before && map_fault(cpu, d, d->premap - 1, 0, false, &kicked))
		d->st.premapped++;
	d->premap = 0;
	regs_from_cpu(cpu, d, &r);
	if (ptrace(PTRACE_SETREGS, d->c.pid, 0, &r) < 0 || set_fpu(cpu, d) < 0)
		container_lost(cpu);
	dx_container_follow(&d->c);
	arm_timer(cpu, d, vm_deadline);
	d->st.entries++;

	atomic_store(&d->running, true);
	if (kicked || atomic_load(&cpu->kick)) {
		atomic_store(&d->running, false);
		d->st.stops[DXS_kick]++;
		d->st.run_ns += now_ns() - t0;
		return BT_DIRECT_KICKED;
	}
	uint64_t t1 = now_ns();
	unsigned stops = 0;
	for (;;) {
		if (ptrace(PTRACE_SYSEMU, d->c.pid, 0, 0) < 0)
			container_lost(cpu);
		int st = dx_wait_stop(&d->c, true);
		bool timed = false;
		if (st < 0 && errno == EINTR) {
			/* The timer: stop the container at whatever boundary it is. */
			d->timer_armed = 0;
			kill(d->c.pid, DX_KICK_SIGNAL);
			st = dx_wait_stop(&d->c, false);
			timed = true;
		}
		if (st < 0)
			container_lost(cpu);
		if (ptrace(PTRACE_GETREGS, d->c.pid, 0, &r) < 0)
			container_lost(cpu);
		stops++;
		bool resume = handle_stop(cpu, d, st, &r, &res, &kicked, &sysenter);
		if (timed && WSTOPSIG(st) == DX_KICK_SIGNAL) {
			d->st.stops[DXS_kick]--;	/* the timer's kick */
			d->st.stops[DXS_timer]++;
		}
		if (resume) {
			/* Resumed after a mapped page: unless someone wants the vCPU. */
			if (kicked || atomic_load(&cpu->kick) ||
			    atomic_load(&cpu->bvm->direct->wp_gen) != d->wp_gen_seen || d->flush) {
				res = BT_DIRECT_KICKED;
				break;
			}
			if (ptrace(PTRACE_SETREGS, d->c.pid, 0, &r) < 0)
				container_lost(cpu);
			continue;
		}
		break;
	}
	atomic_store(&d->running, false);
	uint64_t t2 = now_ns();
	d->st.native_ns += t2 - t1;
	if (cpu->bvm->direct->adaptive)
		policy_account(d, cpu->s.cr3, t2 - t1, stops, t2);

	struct user_fpregs_struct fp;
	if (ptrace(PTRACE_GETFPREGS, d->c.pid, 0, &fp) < 0)
		container_lost(cpu);
	_Static_assert(sizeof(fp) == sizeof(cpu->s.fxsave), "GETFPREGS is the FXSAVE image");
	memcpy(cpu->s.fxsave, &fp, sizeof(fp));
	memcpy(d->fx, &fp, sizeof(fp));
	d->fx_cr3 = cpu->s.cr3;
	if (r.cs != SEL_USER_CS || r.ss != SEL_USER_DS)
		bt_shutdown(cpu, "direct execution: guest user code changed CS/SS natively");
	regs_to_cpu(cpu, &r);
	d->st.run_ns += now_ns() - t0;
	if (sysenter) {
		cpu->next_rip = cpu->s.rip;
		bt_op_sysenter(cpu, NULL);
		cpu->s.rip = cpu->next_rip;
		return BT_DIRECT_KICKED;
	}
	return res;
}

/* ---- --stats ---------------------------------------------------------------------------- */

static void total(struct bt_vm *bvm, struct dx_stats *t)
{
	*t = (struct dx_stats){ 0 };
	for (int k = 0; k < bvm->nr_cpus; k++) {
		const struct dx_cpu *d = bvm->cpu[k] ? bvm->cpu[k]->direct : NULL;
		if (!d)
			continue;
		const uint64_t *src = (const uint64_t *)&d->st;
		uint64_t *dst = (uint64_t *)t;
		for (size_t n = 0; n < sizeof(*t) / sizeof(uint64_t); n++)
			dst[n] += __atomic_load_n(&src[n], __ATOMIC_RELAXED);
	}
}

#define DX_NAME(name, text) #name,
static const char *const stop_name[] = { DX_STOP_REASONS(DX_NAME) };
static const char *const bt_name[] = { DX_BT_REASONS(DX_NAME) };

void bt_direct_counters(struct bt_vm *bvm, void (*fn)(void *opaque, const char *name, uint64_t val),
			void *opaque)
{
	struct dx_stats t;
	char name[48];

	if (!bvm->direct)
		return;
	total(bvm, &t);
	fn(opaque, "direct_runs", t.entries);
	fn(opaque, "direct_native_ns", t.native_ns);
	fn(opaque, "direct_run_ns", t.run_ns);
	fn(opaque, "direct_pages_mapped", t.pages_mapped);
	fn(opaque, "direct_premapped", t.premapped);
	fn(opaque, "direct_policy_to_bt", t.policy_to_bt);
	fn(opaque, "direct_full_drops", t.full_drops);
	fn(opaque, "direct_injected", t.injected);
	uint64_t stops = 0;
	for (int k = 0; k < DXS_NR; k++)
		stops += t.stops[k];
	fn(opaque, "direct_stops", stops);
	/* By reason, where not 0 (the reasons are the DX_*_REASONS lists above). */
	for (int k = 0; k < DXS_NR; k++) {
		snprintf(name, sizeof(name), "direct_stop_%s", stop_name[k]);
		if (t.stops[k])
			fn(opaque, name, t.stops[k]);
	}
	for (int k = 0; k < DX_BT_NR; k++) {
		snprintf(name, sizeof(name), "direct_bt_%s", bt_name[k]);
		if (t.bt[k])
			fn(opaque, name, t.bt[k]);
	}
}
