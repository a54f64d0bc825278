/* Direct execution of guest user mode (CPL 3) in the bt engine: the boundary between the
 * engine and src/engine/bt/direct/ (docs/direct-execution.md has the design).
 *
 * Each vCPU owns a "container": a host process, made before the sandbox is installed, whose
 * user address space mirrors the guest address space the vCPU runs (guest-RAM memfd pages mapped
 * at guest-virtual addresses with the guest PTEs' permissions: a tagged TLB) and nothing else
 * but one gadget page. The vCPU thread traces it with PTRACE_SYSEMU: no system call the guest
 * code makes ever executes, and every fault, trap or system call stops it and hands the vCPU
 * back to the engine at an exact instruction boundary; the engine then runs that instruction
 * (raising the exception, performing SYSCALL) through the guest's IDT and MSRs.
 */
#ifndef VMON_BT_DIRECT_H
#define VMON_BT_DIRECT_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

struct bt_cpu;
struct bt_vm;

/* Machine-wide: chooses the mode from vm->cfg.user_mode and checks the host (direct: fails with
 * a message in err). Returns 0 or -1. */
int bt_direct_vm_init(struct bt_vm *bvm, char *err, size_t len);
void bt_direct_vm_free(struct bt_vm *bvm);

/* Per vCPU, on the thread that builds the VM (before the sandbox): the container process.
 * Returns 0 (also when direct execution is off) or -1 with a message in err. */
int bt_direct_vcpu_init(struct bt_cpu *cpu, char *err, size_t len);
void bt_direct_vcpu_free(struct bt_cpu *cpu);

/* The vCPU thread leaves vcpu_run (it may exit: a reset starts new vCPU threads): the container
 * stays stopped and untraced until the next bt_direct_run attaches from whichever thread. */
void bt_direct_release(struct bt_cpu *cpu);

/* What bt_direct_run did. */
enum bt_direct_result {
	BT_DIRECT_NOT_NOW,	/* state or policy wants the engine: nothing ran natively */
	BT_DIRECT_STOPPED,	/* stopped before an instruction the engine must run (one, at least) */
	BT_DIRECT_KICKED,	/* stopped at a boundary for a kick, an interrupt or a timer */
};

/* Run guest user code natively from the current state (cpu->cpl == 3) until it stops; returns
 * with cpu->s at an instruction boundary. vm_deadline: the next timer (VM clock ns). A fault the
 * engine raises while handling a stop (never the case today) lands in cpu->fault_jmp. */
enum bt_direct_result bt_direct_run(struct bt_cpu *cpu, uint64_t vm_deadline);

/* Another thread wants the vCPU out of its loop: stop its container if it runs. */
void bt_direct_kick(struct bt_cpu *cpu);

/* TLB operations of the guest (CR3/CR0/CR4/EFER writes, state loads): the container drops
 * every mapping; INVLPG: the one page (lin). */
void bt_direct_tlb_flush(struct bt_cpu *cpu);
void bt_direct_tlb_flush_page(struct bt_cpu *cpu, uint64_t lin);
/* The guest-physical page became a code or paging-structure page: no container may keep it
 * writable (the engine traps stores to such pages). Also called with UINT64_MAX for "every
 * page" when the dirty log starts or is harvested. */
void bt_direct_page_protected(struct bt_vm *bvm, uint64_t gpa_page);

void bt_direct_counters(struct bt_vm *bvm, void (*fn)(void *opaque, const char *name, uint64_t val),
			void *opaque);

#endif
