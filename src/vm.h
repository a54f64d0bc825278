/* One virtual machine: guest RAM, buses, devices, vCPUs and their lifecycle (the machine only;
 * src/runner.h is the host side that runs it). */
#ifndef VMON_VM_H
#define VMON_VM_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "cpu_state.h"
#include "engine/engine.h"
#include "mem.h"
#include "net/backend.h"
#include "snapshot/state.h"
#include "stats.h"
#include "vm_clock.h"

#define VM_MAX_CPUS 64
#define VM_MAX_DISKS 8
#define VM_ENGINE_NOTE_MAX 640

enum engine_choice { ENGINE_AUTO, ENGINE_KVM, ENGINE_BT };
enum console_kind { CONSOLE_STDIO, CONSOLE_NONE, CONSOLE_FILE };

struct vm_config {
	enum engine_choice engine;
	const char *kernel;		/* bzImage or multiboot kernel */
	const char *boot_sector;	/* raw image loaded at 0x7c00 */
	const char *firmware;		/* BIOS image run from the reset vector (src/boot/firmware.c) */
	const char *initrd;
	const char *cmdline;
	uint64_t mem_size;
	int cpus;
	enum console_kind console;
	const char *console_path;	/* CONSOLE_FILE */
	bool stats;
	const char *api_sock;		/* --api-sock: JSON control socket (src/api.c), or NULL */
	const char *restore;		/* --restore: snapshot file instead of kernel/boot sector */
	const char *incoming;		/* --incoming: migration URI instead of kernel/boot sector */
	struct vm_disk {
		char path[PATH_MAX];	/* qcow2 or raw image (src/block/block.h) */
		bool readonly;
		uint64_t bytes;		/* its size, once virtio-blk opened it */
	} disk[VM_MAX_DISKS];		/* virtio-blk: /dev/vda, vdb, ... in order */
	int nr_disks;
	bool rng;			/* virtio-rng */
	bool net_user;			/* virtio-net on a user-mode network */
	enum net_backend_kind net_backend;	/* its backend process (src/net/backend.h) */
	bool no_sandbox;		/* --sandbox off: no seccomp filter (src/sandbox.h) */
	bool reboot_exit;		/* --reboot exit: a guest reset ends the VM (else it boots
					 * again, src/reset.h) */
	uint64_t start_ns;		/* CLOCK_REALTIME at start, for --stats (stats_start_ns) */
};

/* Exit statuses of `vmon run` (README "Exit status"). */
#define EXIT_STATUS_OK		0
#define EXIT_STATUS_HOST	1	/* vmon itself failed (out of memory, threads...) */
#define EXIT_STATUS_USAGE	2
#define EXIT_STATUS_GUEST_FAULT	3

struct vcpu {
	struct vm *vm;
	int id;				/* also its initial APIC ID */
	pthread_t thread;
	void *engine_priv;
	struct vcpu_stats stats;
	char error[160];		/* why VCPU_EXIT_ERROR */
};

struct serial8250;
struct acpi_pm;
struct firmware;
struct migration;

/* One registered piece of device / engine state (snapshot/state.h). */
struct vm_state_entry {
	char name[VM_STATE_NAME_LEN];
	vm_state_save_fn save;
	vm_state_load_fn load;
	void *opaque;
};
/* A few PC devices, per-vCPU engine and LAPIC state, room for PCI / virtio devices. */
#define VM_MAX_STATE	(32 + 2 * VM_MAX_CPUS)

struct vm {
	struct vm_config cfg;
	struct guest_mem mem;
	struct bus pio, mmio;
	const struct engine_ops *engine;
	void *engine_priv;

	int nr_cpus;
	struct vcpu *vcpu[VM_MAX_CPUS];
	struct cpu_state boot_state;	/* BSP state the loader produced */

	/* CLOCK_REALTIME of the first port or MMIO exit of any vCPU (0: none yet), for --stats. */
	_Atomic uint64_t first_exit_ns;

	/* Set once by whoever ends the VM; every vCPU loop polls stop_requested. */
	atomic_bool stop_requested;
	atomic_int exit_status;
	/* The guest pulled the reset line: the vCPUs stop (stop_requested, exit_status unset) and
	 * the VM boots again from its power-on state in reset_fd (-1: none, a reset ends the VM). */
	atomic_bool reset_requested;
	int reset_fd;

	/* Pause (API, snapshot): every vCPU parks at an instruction boundary while pause_requested
	 * is set; `parked` counts them (under pause_lock, pause_cond signals changes). */
	atomic_bool pause_requested;
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	int parked;
	bool paused;			/* all parked, VM clock stopped (under pause_lock) */
	struct vm_clock clock;		/* the guest's time: stops while paused */

	struct vm_state_entry state[VM_MAX_STATE];
	int nr_state;
	uint64_t restore_ns;		/* --restore: host time the whole restore took */
	char engine_note[VM_ENGINE_NOTE_MAX];	/* why this engine, what it lacks on this host */
	struct migration *migration;	/* the API's migrate command (src/migrate.c), or NULL */

	struct serial8250 *com1;
	struct acpi_pm *acpi_pm;	/* the power button and PM timer the ACPI tables describe */
	struct firmware *firmware;	/* boot_load() with --firmware; vm_destroy: firmware_destroy() */
	int console_out_fd;		/* where guest serial output goes, -1 for none */
};

/* Build the machine from cfg on engine: RAM, buses, devices, the engine's VM and vCPUs, and the
 * guest from the loader, or with from_snapshot nothing in RAM yet (snapshot_load() fills it).
 * Guest serial output goes to console_out_fd (-1: none). Returns 0, or the exit status
 * (EXIT_STATUS_USAGE for bad input, 1 for host failures) after printing one line. */
int vm_create(const struct vm_config *cfg, const struct engine_ops *engine, int console_out_fd,
	      bool from_snapshot, struct vm **out);
/* Runs every vCPU on its own thread until vm_request_stop(); returns the exit status. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Device access from an engine. val is in/out; size 1, 2, 4 (pio) or 1-8 (mmio).
 * Returns true if a device claimed it. Counted in v->stats. */
bool vm_pio(struct vcpu *v, uint16_t port, unsigned size, bool write, uint64_t *val);
bool vm_mmio(struct vcpu *v, uint64_t gpa, unsigned size, bool write, uint64_t *val);

/* Interrupt line from a device; routed by the engine's interrupt controllers. */
void vm_irq_line(struct vm *vm, unsigned gsi, int level);

/* Park every vCPU at an instruction boundary and stop the VM clock; returns once they are
 * parked (0), or -1 if the VM is ending or already paused. vm_resume undoes it (-1 if not
 * paused). Called from one control thread at a time (the API). */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);

/* For device threads other than the vCPUs (virtio-net's receive path): true, with the VM kept
 * from pausing until vm_release_unpaused(), or false (nothing held) while it is paused or being
 * paused. So no device writes guest RAM or raises an interrupt while a snapshot is written. */
bool vm_hold_unpaused(struct vm *vm);
void vm_release_unpaused(struct vm *vm);

/* Message-signalled interrupt from a device (MSI/MSI-X address and data), routed by the engine. */
void vm_msi(struct vm *vm, uint64_t addr, uint32_t data);

/* Every device write into guest RAM reports the range here (or goes through vm_dma_write), so
 * engines can drop what they derived from those bytes (the bt engine's decoded code) and the
 * dirty-page log (dirty.h) has it. */
void vm_ram_written(struct vm *vm, uint64_t gpa, uint64_t len);
/* Copy into guest RAM and report it; -1 if any byte is outside RAM (nothing copied). */
int vm_dma_write(struct vm *vm, uint64_t gpa, const void *src, uint64_t len);

/* End the VM with this exit status (first caller wins) and kick every vCPU. */
void vm_request_stop(struct vm *vm, int status);

/* The guest pulled the CPU reset line (i8042 command 0xfe, ...): the VM boots again
 * (--reboot restart, src/reset.h), or ends with status 0 (--reboot exit, and a restored or
 * migrated VM, which has no power-on state). Always EXIT_STATUS_GUEST_FAULT when the BIOS
 * warm-boot flag (0x1234 at 0x472) is set, which is how a Linux guest reports a kernel panic
 * (see src/boot/linux.c). */
void vm_guest_reset(struct vm *vm);

#endif
