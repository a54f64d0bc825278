/* The one narrow interface every execution engine implements.
 *
 * An engine runs vCPUs; everything else (RAM, buses, devices, loaders) belongs to the VM and is
 * shared. Engines call vm_pio()/vm_mmio() for device accesses, deliver interrupts raised through
 * vm_irq_line(), and return from vcpu_run() only for what the common loop must see.
 */
#ifndef VMON_ENGINE_H
#define VMON_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct vm;
struct vcpu;
struct cpu_state;

enum vcpu_exit {
	VCPU_EXIT_STOP,		/* vm->stop_requested (power-off, debug-exit, reset, quit) or
				 * vm->pause_requested was seen, at an instruction boundary */
	VCPU_EXIT_SHUTDOWN,	/* triple fault or an unrecoverable guest state */
	VCPU_EXIT_ERROR,	/* the engine itself failed; vcpu->error says why */
};

struct engine_ops {
	const char *name;
	/* 0 if usable on this host, else -1 with a one-line reason in why. */
	int (*probe)(char *why, size_t len);
	int (*vm_create)(struct vm *vm);		/* after RAM and devices exist */
	void (*vm_destroy)(struct vm *vm);
	int (*vcpu_create)(struct vcpu *v);
	void (*vcpu_destroy)(struct vcpu *v);
	/* Runs the vCPU on the calling thread until it must stop. */
	enum vcpu_exit (*vcpu_run)(struct vcpu *v);
	int (*get_state)(struct vcpu *v, struct cpu_state *s);
	int (*set_state)(struct vcpu *v, const struct cpu_state *s);
	/* Level of interrupt line gsi (ISA IRQs 0-15 are gsi 0-15). Any thread. */
	void (*irq_line)(struct vm *vm, unsigned gsi, int level);
	/* A message-signalled interrupt: a device's write of data to addr (0xfeexxxxx).
	 * Optional: NULL drops MSIs. Any thread. */
	void (*msi)(struct vm *vm, uint64_t addr, uint32_t data);
	/* A device wrote guest RAM [gpa, gpa+len) behind the vCPUs' backs (DMA): engines that cache
	 * anything derived from RAM (decoded code, shadow page tables) drop it. Optional. */
	void (*ram_written)(struct vm *vm, uint64_t gpa, uint64_t len);
	/* An external NMI to every CPU's LINT1 (the control API's `nmi`). Optional. */
	void (*nmi)(struct vm *vm);
	/* Make vcpu_run() on another thread notice vm->stop_requested / pause_requested soon. */
	void (*kick)(struct vcpu *v);
	/* Engine-specific counters by name, for --stats and the JSON API: calls fn once per
	 * counter (any thread; values may lag the vCPUs a little). NULL if the engine has none. */
	void (*counters)(struct vm *vm, void (*fn)(void *opaque, const char *name, uint64_t val),
			 void *opaque);
	/* Dirty-page log (src/dirty.h, vm_dirty_log_*): start logging every page the guest writes;
	 * fetch ORs the pages written since start / the last fetch into bitmap (memfd page order),
	 * together with vmon's own writes (vm->mem.dirty), and clears them; stop ends logging.
	 * start and fetch return 0 or -1. NULL start: the engine cannot log. */
	int (*dirty_log_start)(struct vm *vm);
	int (*dirty_log_fetch)(struct vm *vm, uint64_t *bitmap);
	void (*dirty_log_stop)(struct vm *vm);
	/* Guest RAM is left to the kernel's page faults: no populating 2 MiB at a time on first
	 * use (src/mem.c), which pays off only where vmon faults the pages in itself (bt) and
	 * otherwise only adds to the RSS. */
	bool lazy_ram;
};

extern const struct engine_ops kvm_engine;
extern const struct engine_ops bt_engine;

#endif
