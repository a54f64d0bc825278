/* The bt engine's interpreter for another engine: run a few instructions on a struct cpu_state
 * against the VM's own RAM and devices.
 *
 * The kvm engine calls it where KVM cannot emulate an instruction (software KVMs such as PVM
 * fail at INT3 or IRETD at CPL 0, CMPXCHG16B, ...): it takes the vCPU's state, interprets the
 * instruction here and puts the state back. This is the whole interface; nothing of the bt
 * engine's internals shows through it.
 */
#ifndef VMON_BT_EMULATE_H
#define VMON_BT_EMULATE_H

#include <stddef.h>

#include "cpu_state.h"

struct vcpu;
struct bt_emulator;

/* An interpreter for vCPU v of a VM run by another engine: guest accesses go to v->vm's RAM
 * and buses. Creating one costs a few MiB (soft TLB, page-walk cache): do it on first use.
 * NULL if out of memory. */
struct bt_emulator *bt_emulator_create(struct vcpu *v);
void bt_emulator_destroy(struct bt_emulator *e);

enum bt_emulate_result {
	BT_EMULATE_DONE,	/* s holds the state after the instructions (or after the
				 * delivery of the exception one of them raised) */
	BT_EMULATE_SHUTDOWN,	/* triple fault or a state the interpreter refuses (said on
				 * stderr); s is unchanged */
};

/* Runs up to max instructions (at least one) from s, stopping early at HLT, at a fault (which
 * is delivered through the guest's IDT) or after an instruction that changes the interrupt
 * shadow. Nothing is cached between calls: the other engine ran the guest meanwhile. The
 * guest TSC in s keeps running. */
enum bt_emulate_result bt_emulate(struct bt_emulator *e, struct cpu_state *s, unsigned max);

/* The instruction at s's CS:RIP as text, e.g. bytes "48 0f c7 4d 20" and name "cmpxchg16b"
 * (empty when the interpreter has no name for it). -1 if it cannot be fetched or decoded:
 * bytes then says why. */
struct bt_insn_text {
	char bytes[48];
	char name[16];
};
int bt_emulator_describe(struct bt_emulator *e, const struct cpu_state *s, struct bt_insn_text *t);

#endif
