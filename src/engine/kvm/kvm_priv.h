/* kvm engine internals: per-VM and per-vCPU state, and the pure conversions between vmon's
 * struct cpu_state and the KVM ioctl structures (kept apart from the ioctls so they can be
 * unit-tested on hosts without /dev/kvm).
 */
#ifndef VMON_KVM_PRIV_H
#define VMON_KVM_PRIV_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu_state.h"
#include "engine/engine.h"

/* Exit reasons we count individually; anything above lands in the last bucket. */
#define KVM_EXIT_COUNTED	40

/* Upper bound of the MSRs vmon saves (kvm_msr_select() never returns more). */
#define KVM_MSR_MAX		48

struct kvm_vm_priv {
	int sys_fd;			/* /dev/kvm */
	int vm_fd;
	size_t run_size;		/* KVM_GET_VCPU_MMAP_SIZE */
	struct kvm_cpuid2 *supported;	/* KVM_GET_SUPPORTED_CPUID, unfiltered */
	uint32_t msr[KVM_MSR_MAX];	/* MSRs get_state/set_state transfer */
	int nr_msrs;
	bool has_debugregs, has_xcrs, has_vcpu_events, has_xsave;
	/* KVM on AMD re-initialises a vCPU at a shutdown intercept (the VMCB is undefined after
	 * one, APM Vol. 2, 15.9): the registers of the fault are gone by KVM_EXIT_SHUTDOWN. */
	bool shutdown_resets;
	/* VMON_KVM_TEST_FALLBACK (fallback.c): after every exit of this reason (0: none), the
	 * next test_fallback_insns instructions run in the fallback interpreter. */
	uint32_t test_fallback_exit;
	unsigned test_fallback_insns;
	/* What the host's KVM cannot do (probe.h), hidden from the guest's CPUID. */
	uint32_t hidden_pv_features;
	bool hide_cx16;
};

/* KVM PV features whose operation is a hypercall (Documentation/virt/kvm/x86/cpuid.rst):
 * PV_UNHALT, PV_SEND_IPI, PV_SCHED_YIELD, HC_MAP_GPA_RANGE. */
#define KVM_PV_HYPERCALL_FEATURES	((1u << 7) | (1u << 11) | (1u << 13) | (1u << 16))

/* Distinct instructions the fallback counts by name, per vCPU (more share the last slot). */
#define KVM_FALLBACK_NAMES	16

struct kvm_fallback_count {
	char name[48];
	uint64_t count;
};

struct kvm_vcpu_priv {
	int fd;
	struct kvm_run *run;		/* shared page(s) of KVM_RUN */
	size_t run_size;

	/* kick() signals the thread only while it is inside vcpu_run(). */
	pthread_mutex_t lock;
	pthread_t thread;
	bool in_run;

	/* The last exit (IO / MMIO) still owes KVM a re-entry to retire the instruction. */
	bool io_pending;
	/* A shutdown reset the vCPU (shutdown_resets): its registers are not the guest's. */
	bool state_lost;

	uint64_t exits[KVM_EXIT_COUNTED + 1];

	/* fallback.c: the interpreter (made on first use) and what it ran, by instruction. */
	struct bt_emulator *emulator;
	struct kvm_fallback_count fallbacks[KVM_FALLBACK_NAMES];
};

/* cpuid.c: turn KVM's supported CPUID into what vCPU vcpu_id of nr_cpus should see. */
void kvm_cpuid_filter(struct kvm_cpuid_entry2 *e, int nent, int vcpu_id, int nr_cpus);
/* Clears KVM PV features pv_features (leaf 0x40000001 EAX bits) and, if cx16, CMPXCHG16B. */
void kvm_cpuid_hide(struct kvm_cpuid_entry2 *e, int nent, uint32_t pv_features, bool cx16);
/* Whether leaf 0 names an AMD-architecture vendor (AMD, Hygon): KVM runs on SVM there. */
bool kvm_cpuid_vendor_amd(const struct kvm_cpuid_entry2 *e, int nent);

/* regs.c: register-file conversions. */
void kvm_seg_from_state(struct kvm_segment *k, const struct seg_reg *s);
void kvm_seg_to_state(struct seg_reg *s, const struct kvm_segment *k);
void kvm_regs_from_state(struct kvm_regs *k, const struct cpu_state *s);
void kvm_regs_to_state(struct cpu_state *s, const struct kvm_regs *k);
/* Only the fields cpu_state owns; interrupt_bitmap is left as the caller read it. */
void kvm_sregs_from_state(struct kvm_sregs *k, const struct cpu_state *s);
void kvm_sregs_to_state(struct cpu_state *s, const struct kvm_sregs *k);
void kvm_fpu_from_fxsave(struct kvm_fpu *k, const uint8_t fxsave[512]);
void kvm_fpu_to_fxsave(uint8_t fxsave[512], const struct kvm_fpu *k);

/* msr.c: which MSRs are transferred and how they map onto cpu_state. */
int kvm_msr_select(const uint32_t *supported, int nr_supported, uint32_t out[KVM_MSR_MAX]);
void kvm_msrs_from_state(struct kvm_msr_entry *e, const uint32_t *idx, int n,
			 const struct cpu_state *s);
void kvm_msrs_to_state(struct cpu_state *s, const struct kvm_msr_entry *e, int n);
/* Power-on values (as kvmtool/Firecracker set them) for those of idx[] that have one. */
int kvm_msrs_boot(struct kvm_msr_entry *e, const uint32_t *idx, int n);

/* engine.c / vcpu.c / state.c, shared between the files of the engine. */
int kvm_vcpu_create(struct vcpu *v);
void kvm_vcpu_destroy(struct vcpu *v);
enum vcpu_exit kvm_vcpu_run(struct vcpu *v);
void kvm_vcpu_kick(struct vcpu *v);
int kvm_get_state(struct vcpu *v, struct cpu_state *s);
int kvm_set_state(struct vcpu *v, const struct cpu_state *s);

/* fallback.c: instructions KVM cannot emulate, run by the bt engine's interpreter. */
/* Reads VMON_KVM_TEST_FALLBACK into kp: 0, or -1 after one line on stderr. */
int kvm_fallback_config(struct kvm_vm_priv *kp);
/* Runs up to max instructions from the vCPU's RIP in the interpreter and puts the state back.
 * -1 to go on running, else the vcpu_exit to return (v->error set for VCPU_EXIT_ERROR). */
int kvm_fallback(struct vcpu *v, unsigned max);
/* The instruction at the vCPU's RIP, decoded, appended to v->error (an unrecoverable exit). */
void kvm_fallback_describe_error(struct vcpu *v);
void kvm_fallback_free(struct kvm_vcpu_priv *kv);
/* Fallback counts summed over the VM's vCPUs: fn once per instruction name. */
void kvm_fallback_totals(struct vm *vm, void (*fn)(void *opaque, const char *name, uint64_t n),
			 void *opaque);

/* save.c: the snapshot sections of the in-kernel devices and clock, and of one vCPU beyond
 * struct cpu_state. Return 0, or -1 if the VM's table of states is full. */
int kvm_register_vm_state(struct vm *vm);
int kvm_register_vcpu_state(struct vcpu *v);
/* The checks on values read from a snapshot before KVM gets them (false: refuse). */
struct state_in;
struct state_out;
bool kvm_pic_state_valid(const struct kvm_pic_state *p);
bool kvm_pit_channel_valid(const struct kvm_pit_channel_state *c);
bool kvm_mp_state_valid(uint32_t mp_state);
void kvm_events_save(const struct kvm_vcpu_events *e, struct state_out *o);
/* Reads what kvm_events_save wrote, with the flags KVM_SET_VCPU_EVENTS needs; false for values
 * no CPU can be in. */
bool kvm_events_load(struct kvm_vcpu_events *e, struct state_in *in);

#endif
