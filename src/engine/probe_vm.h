/* A throw-away one-vCPU VM for probing an engine: RAM with the boot GDT and identity map, one
 * port for the guest to report through, and a vCPU thread run for a bounded time. It goes
 * through the engine interface only, like vm.c, so every engine is probed the same way.
 * Used by autoselect.c (speed) and the kvm engine's functional probe (kvm/probe.c).
 */
#ifndef VMON_ENGINE_PROBE_VM_H
#define VMON_ENGINE_PROBE_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm.h"

struct probe_vm {
	struct vm vm;
	struct vcpu vcpu;
	/* After probe_vm_run: how vcpu_run ended if not with VCPU_EXIT_STOP. */
	bool failed;
	enum vcpu_exit failed_exit;
	bool timed_out;		/* the cap passed: the vCPU was kicked out */
};

/* ram bytes of RAM holding the boot GDT and identity map (boot/entry.h), port handled by ops
 * (opaque), on engine e. 0, or -1 with the reason in why (probe_vm_destroy cleans up). */
int probe_vm_create(struct probe_vm *p, const struct engine_ops *e, uint64_t ram, uint16_t port,
		    const struct io_ops *ops, void *opaque, char *why, size_t len);
/* The vCPU's state: 0, or -1 with the reason in why. */
int probe_vm_set_state(struct probe_vm *p, const struct cpu_state *s, char *why, size_t len);
/* Runs the vCPU on a thread until the guest stops the VM (vm_request_stop from the port
 * handler), vcpu_run fails, or cap_ns of wall time passed (then the vCPU is kicked out). 0, or
 * -1 with the reason in why if no thread could be made. */
int probe_vm_run(struct probe_vm *p, uint64_t cap_ns, char *why, size_t len);
void probe_vm_destroy(struct probe_vm *p);

#endif
