/* The functional probe of the host's KVM: what it gets wrong, found by running it.
 *
 * A software KVM (PVM: KVM implemented in the host kernel without hardware virtualization, for
 * cloud VMs without nested virtualization) runs guest ring 3 natively and emulates ring 0,
 * and its emulator lacks or mishandles some instructions. Throw-away VMs try each of them;
 * the results are cached with the engine probe's figures (autoselect.h), per host boot,
 * /dev/kvm instance and vmon binary. From them the kvm engine hides what cannot work (PV
 * hypercall features when hypercalls livelock, CX16 when CMPXCHG16B fails even with the
 * fallback), and tests skip naming the missing behaviour. docs/kvm.md lists the checks.
 */
#ifndef VMON_KVM_PROBE_H
#define VMON_KVM_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kvm_check {
	KVM_CHECK_INT3,			/* INT3 at CPL 0, 64-bit, through the IDT */
	KVM_CHECK_IRETD,		/* IRETD at CPL 0 in 32-bit protected mode */
	KVM_CHECK_PAGING32,		/* MOV CR0 turning on non-PAE paging (CR4.PSE) */
	KVM_CHECK_SYSCALL,		/* SYSCALL from ring 3 */
	KVM_CHECK_INT_GATE_DPL,		/* INT 0x81 from ring 3, DPL 0 gate: #GP(0x40a) */
	KVM_CHECK_REAL_IDT_LIMIT,	/* real-mode INT3 past the IDT limit: triple fault */
	KVM_CHECK_VMCALL,		/* VMCALL at CPL 0 returns (-KVM_ENOSYS) */
	KVM_CHECK_VMMCALL,		/* VMMCALL likewise */
	KVM_CHECK_CX16,			/* LOCK CMPXCHG16B */
	KVM_CHECK_NR
};

enum kvm_check_result {
	KVM_CHECK_UNKNOWN,
	KVM_CHECK_WORKS,
	KVM_CHECK_EMULATED,	/* KVM fails it, vmon's fallback (kvm/fallback.c) runs it */
	KVM_CHECK_WRONG,	/* runs, with the wrong result (a fault, no fault, ...) */
	KVM_CHECK_LIVELOCK,	/* never leaves KVM_RUN until kicked, RIP unchanged */
};

struct kvm_host_checks {
	uint8_t result[KVM_CHECK_NR];	/* enum kvm_check_result */
	bool cached;
};

/* The checks for this host, from the cache or by running them (about a second on a software
 * KVM). 0, or -1 with why set when kvm is unusable or a probe VM cannot be made. */
int kvm_host_checks(struct kvm_host_checks *c, char *why, size_t len);

/* The check's short name (`vmon probe`, tests' `; kvm-needs:` headers), e.g. "iretd-cpl0",
 * and a result's ("livelock"). */
const char *kvm_check_name(enum kvm_check k);
const char *kvm_check_result_name(enum kvm_check_result r);

/* "software KVM: emulated by vmon: INT3 at CPL 0, ...; wrong: ...; livelock: ...; PV
 * hypercalls hidden" in buf, or "" when every check works. */
#define KVM_CHECKS_DESCRIBE_MAX	320
void kvm_host_checks_describe(const struct kvm_host_checks *c, char *buf, size_t len);

/* kvm_host_checks for the VMs this process makes from now on: the kvm engine hides from their
 * CPUID what cannot work, and --stats says why. Before any VM is made (the probe's own VMs
 * run with nothing hidden). 0, or -1 with why set. */
int kvm_install_host_checks(char *why, size_t len);
/* What kvm_install_host_checks found, or NULL. */
const struct kvm_host_checks *kvm_installed_checks(void);

/* What the kvm engine hides from the guest's CPUID because of c. */
bool kvm_checks_hide_pv_hypercalls(const struct kvm_host_checks *c);
bool kvm_checks_hide_cx16(const struct kvm_host_checks *c);

/* Packing into the cache's kvm_checks number (never 0 for a probed host) and back (-1: not a
 * value pack wrote). */
uint64_t kvm_checks_pack(const struct kvm_host_checks *c);
int kvm_checks_unpack(uint64_t v, struct kvm_host_checks *c);

/* `vmon probe`: one line per check, "NAME RESULT", then "ring0-speed works|slow kvm N bt M
 * insns/s" (--engine auto's figures: slow when kvm runs ring 0 slower than bt). Exit status
 * 0, or 1 without kvm. */
int kvm_probe_main(void);

#endif
