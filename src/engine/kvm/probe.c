/* The functional probe of the host's KVM (probe.h): one throw-away VM per check, each a few
 * instructions that report through port 0x80 (the value says which path the guest took).
 *
 * Outcomes: the expected report without a fallback (works), with one (emulated: kvm_fallback
 * counted it), another report or a shutdown (wrong), or nothing before the cap with RIP still
 * at the instruction (livelock: the kick that ends the run is what gets the vCPU out).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/entry.h"
#include "engine/autoselect.h"
#include "engine/kvm/kvm_priv.h"
#include "engine/kvm/probe.h"
#include "engine/probe_vm.h"
#include "vm.h"
#include "util/log.h"

#define CHECK_RAM		(4ull << 20)
#define CHECK_PORT		0x80
#define CODE			0x100000u	/* the check's code */
#define HANDLER			0x100100u	/* reports 0x5a: the expected path */
#define GP_HANDLER		0x100200u	/* reports the low byte of #GP's error code */
#define TO_RING3		0x100300u	/* IRETQ to CODE at CPL 3 */
#define SYSCALL_ENTRY		0x100400u	/* a kernel's first steps, then reports 0x5a */
#define GDT			0x3000u
#define TSS			0x1000u
#define IDT			0x2000u
#define REAL_CODE		0x8000u
#define DATA			0x200000u
#define STACK_TOP		0x300000u
#define USER_PML4		0x380000u	/* then PDPT and PD: 4 MiB, user-accessible */
#define PD32			0x384000u	/* non-PAE page directory, 4 MiB pages */

#define REPORT_OK		0x5a
#define REPORT_SKIPPED		0xa5		/* the instruction did nothing */
/* Wall time a check may take; one that ran out of it runs again for longer before it counts
 * (a loaded host may not schedule the vCPU thread at once). */
#define CHECK_CAP_NS		250000000ull
#define CHECK_RETRY_CAP_NS	2000000000ull

struct check_def {
	const char *name, *what;
	const uint8_t *code;
	size_t code_len;
	unsigned insn_off;	/* the instruction probed, from the start of the code */
	uint8_t want;		/* the report that means "works"; 0: a shutdown does */
};

/* The code of each check (nasm syntax in the comments). */
static const uint8_t int3_code[] = {
	0xcc,				/* int3			; handler: reports REPORT_OK */
	0xb0, REPORT_SKIPPED, 0xe6, CHECK_PORT, 0xf4,	/* mov al, 0xa5; out 0x80, al; hlt */
};
static const uint8_t iretd_code[] = {
	0x9c,				/* pushfd */
	0x0e,				/* push cs */
	0x68, (CODE + 8) & 0xff, ((CODE + 8) >> 8) & 0xff, ((CODE + 8) >> 16) & 0xff, 0,
					/* push dword CODE + 8 */
	0xcf,				/* iretd */
	0xb0, REPORT_OK, 0xe6, CHECK_PORT, 0xf4,	/* mov al, 0x5a; out 0x80, al; hlt */
};
static const uint8_t paging32_code[] = {
	0x0f, 0x22, 0xc0,		/* mov cr0, eax		; eax: CR0 | PG */
	0xb0, REPORT_OK, 0xe6, CHECK_PORT, 0xf4,
};
static const uint8_t syscall_code[] = {
	0x0f, 0x05,			/* syscall		; LSTAR: handler */
	0xb0, REPORT_SKIPPED, 0xe6, CHECK_PORT, 0xf4,
};
static const uint8_t int81_code[] = {
	0xcd, 0x81,			/* int 0x81		; #GP(0x40a): GP_HANDLER */
	0xb0, REPORT_SKIPPED, 0xe6, CHECK_PORT, 0xf4,
};
static const uint8_t vmcall_code[] = {
	0xb8, 0xff, 0xff, 0x00, 0x00,	/* mov eax, 0xffff	; no such hypercall */
	0x0f, 0x01, 0xc1,		/* vmcall */
	0xb0, REPORT_OK, 0xe6, CHECK_PORT, 0xf4,
};
static const uint8_t vmmcall_code[] = {
	0xb8, 0xff, 0xff, 0x00, 0x00,
	0x0f, 0x01, 0xd9,		/* vmmcall */
	0xb0, REPORT_OK, 0xe6, CHECK_PORT, 0xf4,
};
static const uint8_t cx16_code[] = {
	0x31, 0xc0, 0x31, 0xd2,		/* xor eax, eax; xor edx, edx */
	0x31, 0xdb, 0x31, 0xc9,		/* xor ebx, ebx; xor ecx, ecx */
	0xf0, 0x48, 0x0f, 0xc7, 0x0f,	/* lock cmpxchg16b [rdi] */
	0xb0, REPORT_OK, 0xe6, CHECK_PORT, 0xf4,
};
#define USER_RSP	(STACK_TOP - 0x1000)
#define IMM32(v)	(v) & 0xff, ((v) >> 8) & 0xff, ((v) >> 16) & 0xff, ((v) >> 24) & 0xff
/* SYSCALL set up and ring 3 entered as an OS does it, by WRMSR and IRETQ. */
static const uint8_t to_ring3_code[] = {
	0xb9, IMM32(MSR_EFER),		/* mov ecx, MSR_EFER */
	0x0f, 0x32,			/* rdmsr */
	0x83, 0xc8, 0x01,		/* or eax, EFER_SCE */
	0x0f, 0x30,			/* wrmsr */
	0xb9, IMM32(MSR_LSTAR),		/* mov ecx, MSR_LSTAR */
	0xb8, IMM32(SYSCALL_ENTRY),	/* mov eax, SYSCALL_ENTRY */
	0x31, 0xd2,			/* xor edx, edx */
	0x0f, 0x30,			/* wrmsr */
	0xb9, IMM32(MSR_STAR),		/* mov ecx, MSR_STAR */
	0x31, 0xc0,			/* xor eax, eax */
	0xba, IMM32(BOOT_SEL_CODE64),	/* mov edx, BOOT_SEL_CODE64	; SYSCALL's CS */
	0x0f, 0x30,			/* wrmsr */
	0x6a, 0x23,			/* push 0x23		; SS: user data */
	0x68, IMM32(USER_RSP),		/* push USER_RSP */
	0x6a, 0x02,			/* push 2		; RFLAGS */
	0x6a, 0x2b,			/* push 0x2b		; CS: user code */
	0x68, IMM32(CODE),		/* push CODE */
	0x48, 0xcf,			/* iretq */
};
static const uint8_t syscall_entry_code[] = {
	0x48, 0x89, 0x27,		/* mov [rdi], rsp	; the user's RSP */
	0xbc, IMM32(STACK_TOP),		/* mov esp, STACK_TOP */
	0x51,				/* push rcx */
	0x41, 0x53,			/* push r11 */
	0x66, 0xba, 0xfd, 0x03,		/* mov dx, 0x3fd	; privileged: CPL 0 */
	0xec,				/* in al, dx */
	0xb0, REPORT_OK, 0xe6, CHECK_PORT, 0xf4,
};
static const uint8_t handler_code[] = { 0xb0, REPORT_OK, 0xe6, CHECK_PORT, 0xf4 };
static const uint8_t gp_handler_code[] = {
	0x58,				/* pop rax		; the error code */
	0xe6, CHECK_PORT, 0xf4,		/* out 0x80, al; hlt */
};

#define CODE_OF(c) c, sizeof(c)
static const struct check_def checks[KVM_CHECK_NR] = {
	[KVM_CHECK_INT3] = { "int3-cpl0", "INT3 at CPL 0", CODE_OF(int3_code), 0, REPORT_OK },
	[KVM_CHECK_IRETD] = { "iretd-cpl0", "IRETD at CPL 0", CODE_OF(iretd_code), 7, REPORT_OK },
	[KVM_CHECK_PAGING32] = { "paging32", "non-PAE paging", CODE_OF(paging32_code), 0,
				 REPORT_OK },
	[KVM_CHECK_SYSCALL] = { "syscall-ring3", "SYSCALL from ring 3", CODE_OF(syscall_code), 0,
				REPORT_OK },
	[KVM_CHECK_INT_GATE_DPL] = { "int-gate-dpl", "INT n via a DPL 0 gate",
				     CODE_OF(int81_code), 0, (0x81 * 8 + 2) & 0xff },
	[KVM_CHECK_REAL_IDT_LIMIT] = { "realmode-idt-limit", "real-mode IDT limit",
				       CODE_OF(int3_code), 0, 0 },
	[KVM_CHECK_VMCALL] = { "vmcall", "VMCALL", CODE_OF(vmcall_code), 5, REPORT_OK },
	[KVM_CHECK_VMMCALL] = { "vmmcall", "VMMCALL", CODE_OF(vmmcall_code), 5, REPORT_OK },
	[KVM_CHECK_CX16] = { "cmpxchg16b", "CMPXCHG16B", CODE_OF(cx16_code), 8, REPORT_OK },
};

const char *kvm_check_name(enum kvm_check k)
{
	return checks[k].name;
}

const char *kvm_check_result_name(enum kvm_check_result r)
{
	static const char *const names[] = {
		[KVM_CHECK_UNKNOWN] = "unknown", [KVM_CHECK_WORKS] = "works",
		[KVM_CHECK_EMULATED] = "emulated", [KVM_CHECK_WRONG] = "wrong",
		[KVM_CHECK_LIVELOCK] = "livelock",
	};
	return r <= KVM_CHECK_LIVELOCK ? names[r] : "unknown";
}

/* ---- One check ---------------------------------------------------------------------------- */

struct check_run {
	struct probe_vm pv;
	int report;		/* -1: none (written by the vCPU thread, read after the join) */
};

static void report_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct check_run *r = opaque;

	if (r->report < 0)
		r->report = (int)(val & 0xff);
	vm_request_stop(&r->pv.vm, EXIT_STATUS_OK);
}

static const struct io_ops report_ops = { .write = report_write };

static void put64(struct guest_mem *m, uint64_t gpa, uint64_t v)
{
	mem_write(m, gpa, &v, sizeof(v));
}

/* A 64-bit interrupt gate to handler, code selector BOOT_SEL_CODE64. */
static void put_gate(struct guest_mem *m, unsigned vector, uint32_t handler, unsigned dpl)
{
	uint64_t lo = (handler & 0xffffull) | (uint64_t)BOOT_SEL_CODE64 << 16 |
		      (uint64_t)(0x8e | dpl << 5) << 40 | (uint64_t)(handler >> 16) << 48;

	put64(m, IDT + vector * 16, lo);
	put64(m, IDT + vector * 16 + 8, 0);
}

/* Long mode at CPL 0 about to IRETQ to CODE at CPL 3, on user-accessible page tables, with a
 * GDT holding user segments and a TSS with RSP0. */
static void user_state(struct guest_mem *m, struct cpu_state *s)
{
	static const uint64_t gdt[] = {
		0, 0x00cf9b000000ffffull, 0x00af9b000000ffffull, 0x00cf93000000ffffull,
		0x00cff3000000ffffull,		/* 0x23: user data */
		0x00affb000000ffffull,		/* 0x2b: user code, 64-bit */
		0x0000890000000067ull | (uint64_t)TSS << 16, 0,	/* 0x30: TSS */
	};

	mem_write(m, GDT, gdt, sizeof(gdt));
	mem_write(m, TO_RING3, to_ring3_code, sizeof(to_ring3_code));
	mem_write(m, SYSCALL_ENTRY, syscall_entry_code, sizeof(syscall_entry_code));
	put64(m, USER_PML4, (USER_PML4 + 0x1000) | 7);
	put64(m, USER_PML4 + 0x1000, (USER_PML4 + 0x2000) | 7);
	put64(m, USER_PML4 + 0x2000, 0x000000 | 0x87);	/* 2 MiB pages: P, RW, U, PS */
	put64(m, USER_PML4 + 0x2008, 0x200000 | 0x87);
	put64(m, TSS + 4, STACK_TOP);			/* RSP0 */
	s->gdt = (struct dtable){ .base = GDT, .limit = sizeof(gdt) - 1 };
	s->cr3 = USER_PML4;
	s->seg[S_TR] = (struct seg_reg){ .sel = 0x30, .base = TSS, .limit = 0x67,
					 .attr = SEG_P | 0xb };
	s->rip = TO_RING3;
}

/* The state and memory of check k beyond its code. */
static void lay_out(enum kvm_check k, struct guest_mem *m, struct cpu_state *s)
{
	uint64_t code = k == KVM_CHECK_REAL_IDT_LIMIT ? REAL_CODE : CODE;

	mem_write(m, code, checks[k].code, checks[k].code_len);
	mem_write(m, HANDLER, handler_code, sizeof(handler_code));
	mem_write(m, GP_HANDLER, gp_handler_code, sizeof(gp_handler_code));
	switch (k) {
	case KVM_CHECK_IRETD:
		boot_state_protected(s, CODE);
		break;
	case KVM_CHECK_PAGING32:
		boot_state_protected(s, CODE);
		put64(m, PD32, 0x00000083ull | (0x00400083ull << 32));	/* P, RW, PS */
		s->cr3 = PD32;
		s->cr4 |= CR4_PSE;
		s->gpr[R_RAX] = s->cr0 | CR0_PG;
		break;
	case KVM_CHECK_REAL_IDT_LIMIT:
		cpu_state_reset(s);
		s->seg[S_CS].sel = 0;
		s->seg[S_CS].base = 0;
		s->rip = REAL_CODE;
		s->gpr[R_RSP] = 0x7000;
		s->idt.base = 0;
		s->idt.limit = 0;
		break;
	default:
		boot_state_long(s, CODE);
		s->idt = (struct dtable){ .base = IDT, .limit = 0xfff };
		put_gate(m, 3, HANDLER, 0);
		put_gate(m, 0x81, HANDLER, 0);
		put_gate(m, 13, GP_HANDLER, 0);
		s->gpr[R_RDI] = DATA;
		if (k == KVM_CHECK_SYSCALL || k == KVM_CHECK_INT_GATE_DPL)
			user_state(m, s);
		break;
	}
	if (!s->gpr[R_RSP])
		s->gpr[R_RSP] = STACK_TOP;
}

static uint64_t fallbacks(const struct probe_vm *pv)
{
	const struct kvm_vcpu_priv *kv = pv->vcpu.engine_priv;
	uint64_t n = 0;

	for (int k = 0; k < KVM_FALLBACK_NAMES; k++)
		n += kv->fallbacks[k].count;
	return n;
}

/* Result of check k, or -1 with why set if its VM could not be made. *timed_out: the cap
 * ended the run. */
static int run_check(enum kvm_check k, uint64_t cap_ns, bool *timed_out, char *why, size_t len)
{
	struct check_run *r = calloc(1, sizeof(*r));
	const struct check_def *d = &checks[k];
	struct cpu_state s;
	int result = -1;

	if (!r) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	r->report = -1;
	memset(&s, 0, sizeof(s));
	if (probe_vm_create(&r->pv, &kvm_engine, CHECK_RAM, CHECK_PORT, &report_ops, r, why,
			    len) < 0)
		goto out;
	lay_out(k, &r->pv.vm.mem, &s);
	uint64_t insn = (k == KVM_CHECK_REAL_IDT_LIMIT ? REAL_CODE : CODE) + d->insn_off;
	if (probe_vm_set_state(&r->pv, &s, why, len) < 0 ||
	    probe_vm_run(&r->pv, cap_ns, why, len) < 0)
		goto out;
	if (r->report >= 0 && d->want && r->report == d->want)
		result = fallbacks(&r->pv) ? KVM_CHECK_EMULATED : KVM_CHECK_WORKS;
	else if (!d->want && r->pv.failed && r->pv.failed_exit == VCPU_EXIT_SHUTDOWN)
		result = KVM_CHECK_WORKS;
	else if (r->pv.timed_out && r->report < 0 &&
		 kvm_engine.get_state(&r->pv.vcpu, &s) == 0 && s.seg[S_CS].base + s.rip == insn)
		result = KVM_CHECK_LIVELOCK;
	else
		result = KVM_CHECK_WRONG;
	*timed_out = r->pv.timed_out;
out:
	probe_vm_destroy(&r->pv);
	free(r);
	return result;
}

static int run_checks(struct kvm_host_checks *c, char *why, size_t len)
{
	for (int k = 0; k < KVM_CHECK_NR; k++) {
		bool timed_out = false;
		int res = run_check(k, CHECK_CAP_NS, &timed_out, why, len);

		if (res >= 0 && timed_out)
			res = run_check(k, CHECK_RETRY_CAP_NS, &timed_out, why, len);
		if (res < 0)
			return -1;
		c->result[k] = (uint8_t)res;
	}
	return 0;
}

/* ---- Results ------------------------------------------------------------------------------ */

#define PACK_BITS	3
#define PACK_PROBED	(1ull << 63)

uint64_t kvm_checks_pack(const struct kvm_host_checks *c)
{
	uint64_t v = PACK_PROBED;

	for (int k = 0; k < KVM_CHECK_NR; k++)
		v |= (uint64_t)(c->result[k] & 7) << (k * PACK_BITS);
	return v;
}

int kvm_checks_unpack(uint64_t v, struct kvm_host_checks *c)
{
	memset(c, 0, sizeof(*c));
	if (!(v & PACK_PROBED) || (v & ~PACK_PROBED) >> (KVM_CHECK_NR * PACK_BITS))
		return -1;
	for (int k = 0; k < KVM_CHECK_NR; k++) {
		unsigned r = (v >> (k * PACK_BITS)) & 7;
		if (r == KVM_CHECK_UNKNOWN || r > KVM_CHECK_LIVELOCK)
			return -1;
		c->result[k] = (uint8_t)r;
	}
	return 0;
}

/* kvm_install_host_checks's: the process's VMs are made with these. */
static struct kvm_host_checks installed;
static bool have_installed;

int kvm_host_checks(struct kvm_host_checks *c, char *why, size_t len)
{
	struct probe_cache pc;

	memset(c, 0, sizeof(*c));
	if (kvm_engine.probe(why, len) < 0)
		return -1;
	if (have_installed) {
		*c = installed;
		return 0;
	}
	if (probe_cache_lookup(&pc) == 0 && kvm_checks_unpack(pc.kvm_checks, c) == 0) {
		c->cached = true;
		return 0;
	}
	if (run_checks(c, why, len) < 0)
		return -1;
	pc.kvm_checks = kvm_checks_pack(c);
	probe_cache_save(&pc);
	return 0;
}

int kvm_install_host_checks(char *why, size_t len)
{
	if (kvm_host_checks(&installed, why, len) < 0)
		return -1;
	have_installed = true;
	return 0;
}

bool kvm_checks_hide_pv_hypercalls(const struct kvm_host_checks *c)
{
	return c->result[KVM_CHECK_VMCALL] == KVM_CHECK_LIVELOCK ||
	       c->result[KVM_CHECK_VMCALL] == KVM_CHECK_WRONG ||
	       c->result[KVM_CHECK_VMMCALL] == KVM_CHECK_LIVELOCK ||
	       c->result[KVM_CHECK_VMMCALL] == KVM_CHECK_WRONG;
}

bool kvm_checks_hide_cx16(const struct kvm_host_checks *c)
{
	return c->result[KVM_CHECK_CX16] == KVM_CHECK_WRONG ||
	       c->result[KVM_CHECK_CX16] == KVM_CHECK_LIVELOCK;
}

/* ", WHAT" for each check with result r, after "; LABEL: " for the first. */
static size_t describe_group(const struct kvm_host_checks *c, unsigned r, const char *label,
			    char *buf, size_t len, size_t n)
{
	bool first = true;

	for (int k = 0; k < KVM_CHECK_NR && n < len; k++) {
		if (c->result[k] != r)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s%s", first ? (n ? "; " : "") : ", ",
				      first ? label : "", checks[k].what);
		first = false;
	}
	return n;
}

void kvm_host_checks_describe(const struct kvm_host_checks *c, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	n = describe_group(c, KVM_CHECK_EMULATED, "emulated by vmon: ", buf, len, n);
	n = describe_group(c, KVM_CHECK_WRONG, "wrong: ", buf, len, n);
	n = describe_group(c, KVM_CHECK_LIVELOCK, "livelock: ", buf, len, n);
	if (n && n < len && kvm_checks_hide_pv_hypercalls(c))
		n += (size_t)snprintf(buf + n, len - n, "; PV hypercalls hidden");
	if (n && n < len && kvm_checks_hide_cx16(c))
		n += (size_t)snprintf(buf + n, len - n, "; CX16 hidden");
	if (n && n < len) {
		/* The label goes in front. */
		char body[KVM_CHECKS_DESCRIBE_MAX];
		snprintf(body, sizeof(body), "%s", buf);
		snprintf(buf, len, "software KVM: %s", body);
	}
}

const struct kvm_host_checks *kvm_installed_checks(void)
{
	return have_installed ? &installed : NULL;
}

int kvm_probe_main(void)
{
	struct kvm_host_checks c;
	char why[KVM_CHECKS_DESCRIBE_MAX];

	if (kvm_host_checks(&c, why, sizeof(why)) < 0) {
		vmon_log("kvm: %s", why);
		return 1;
	}
	for (int k = 0; k < KVM_CHECK_NR; k++)
		printf("%s %s\n", checks[k].name, kvm_check_result_name(c.result[k]));
	/* Ring 0 slower than the bt engine's: ring 0 is emulated (tests skip heavy guests). */
	struct probe_figures f;
	if (autoselect_figures(&f, why, sizeof(why)) == 0)
		printf("ring0-speed %s kvm %" PRIu64 " bt %" PRIu64 " insns/s\n",
		       f.kvm_ips >= f.bt_ips ? "works" : "slow", f.kvm_ips, f.bt_ips);
	kvm_host_checks_describe(&c, why, sizeof(why));
	vmon_log("kvm: %s%s", why[0] ? why : "every check works", c.cached ? " (cached)" : "");
	return 0;
}
