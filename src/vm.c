/* The machine: create (RAM, buses, devices, loader, engine, vCPUs), run (one thread per vCPU),
 * pause, stop, destroy; and the device-access entry points engines use. The host side above it
 * (console, event thread, API, where the guest comes from) is src/runner.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot/firmware.h"
#include "hw/acpi_pm.h"
#include "hw/devices.h"
#include "hw/clock.h"
#include "hw/irqchip.h"
#include "hw/pci.h"
#include "host_file.h"
#include "hw/serial8250.h"
#include "reset.h"
#include "util/log.h"
#include "virtio/devices.h"
#include "vm.h"

/* What struct vm does not show the engines and devices. */
struct vm_host {
	struct vm vm;
	struct rtc *rtc;
	struct i8042 *kbd;
	struct pci_bus *pci;
	struct virtio_blk *blk[VM_MAX_DISKS];
	struct virtio_rng *rng;
	struct virtio_net *net;

	/* vCPU threads wait for `go` so that every thread handle exists before any guest code
	 * runs (and so can be kicked). */
	pthread_mutex_t start_lock;
	pthread_cond_t start_cond;
	bool go;
};

static struct vm_host *host_of(struct vm *vm)
{
	return (struct vm_host *)((char *)vm - offsetof(struct vm_host, vm));
}

/* ---- Device access from engines ----------------------------------------------------------- */

/* The first exit of the VM's life: how long start-up took until the guest ran (--stats). */
static void note_first_exit(struct vm *vm)
{
	if (__builtin_expect(!atomic_load_explicit(&vm->first_exit_ns, memory_order_relaxed), 0)) {
		uint64_t none = 0;
		atomic_compare_exchange_strong(&vm->first_exit_ns, &none, stats_now_ns());
	}
}

bool vm_pio(struct vcpu *v, uint16_t port, unsigned size, bool write, uint64_t *val)
{
	note_first_exit(v->vm);
	bool claimed = bus_access(&v->vm->pio, port, size, write, val);

	stat_add(&v->stats.count[claimed ? stat_pio_kind(port) : STAT_PIO_UNCLAIMED], 1);
	return claimed;
}

bool vm_mmio(struct vcpu *v, uint64_t gpa, unsigned size, bool write, uint64_t *val)
{
	note_first_exit(v->vm);
	bool claimed = bus_access(&v->vm->mmio, gpa, size, write, val);

	stat_add(&v->stats.count[claimed ? STAT_MMIO : STAT_MMIO_UNCLAIMED], 1);
	return claimed;
}

void vm_irq_line(struct vm *vm, unsigned gsi, int level)
{
	/* vm->engine is set once the engine's VM exists; devices are quiet before that. */
	if (vm->engine && vm->engine->irq_line)
		vm->engine->irq_line(vm, gsi, level);
}

void vm_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	if (vm->engine && vm->engine->msi)
		vm->engine->msi(vm, addr, data);
}

void vm_ram_written(struct vm *vm, uint64_t gpa, uint64_t len)
{
	mem_mark_dirty(&vm->mem, gpa, len);	/* migration sends it again */
	if (len && vm->engine && vm->engine->ram_written)
		vm->engine->ram_written(vm, gpa, len);
}

int vm_dma_write(struct vm *vm, uint64_t gpa, const void *src, uint64_t len)
{
	if (mem_write(&vm->mem, gpa, src, len) < 0)
		return -1;
	vm_ram_written(vm, gpa, len);
	return 0;
}

/* Makes every vCPU thread leave its loop; kick: make a running one notice now. */
static void stop_vcpus(struct vm *vm, bool kick)
{
	atomic_store(&vm->stop_requested, true);
	if (kick && vm->engine && vm->engine->kick)
		for (int i = 0; i < vm->nr_cpus; i++)
			vm->engine->kick(vm->vcpu[i]);
	/* Parked vCPUs and a waiting vm_pause() must see the stop too. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

/* Returns true for the caller whose status won. */
static bool stop_vm(struct vm *vm, int status)
{
	int unset = -1;
	bool first = atomic_compare_exchange_strong(&vm->exit_status, &unset, status);

	stop_vcpus(vm, first);
	return first;
}

void vm_request_stop(struct vm *vm, int status)
{
	stop_vm(vm, status);
}

/* ---- Pause ---------------------------------------------------------------------------------- */

int vm_pause(struct vm *vm)
{
	int ret = 0;

	pthread_mutex_lock(&vm->pause_lock);
	if (vm->paused || atomic_load(&vm->stop_requested)) {
		ret = -1;
		goto out;
	}
	atomic_store(&vm->pause_requested, true);
	for (int i = 0; i < vm->nr_cpus; i++)
		vm->engine->kick(vm->vcpu[i]);
	while (vm->parked < vm->nr_cpus && !atomic_load(&vm->stop_requested))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	if (atomic_load(&vm->stop_requested)) {
		atomic_store(&vm->pause_requested, false);
		ret = -1;
		goto out;
	}
	vm_clock_freeze(&vm->clock);
	vm->paused = true;
out:
	pthread_mutex_unlock(&vm->pause_lock);
	return ret;
}

int vm_resume(struct vm *vm)
{
	int ret = -1;

	pthread_mutex_lock(&vm->pause_lock);
	if (vm->paused) {
		vm_clock_thaw(&vm->clock);
		vm->paused = false;
		atomic_store(&vm->pause_requested, false);
		pthread_cond_broadcast(&vm->pause_cond);
		ret = 0;
	}
	pthread_mutex_unlock(&vm->pause_lock);
	return ret;
}

bool vm_is_paused(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	bool paused = vm->paused;
	pthread_mutex_unlock(&vm->pause_lock);
	return paused;
}

bool vm_hold_unpaused(struct vm *vm)
{
	/* pause_requested changes under pause_lock: held, it stays false. */
	pthread_mutex_lock(&vm->pause_lock);
	if (!atomic_load(&vm->pause_requested))
		return true;
	pthread_mutex_unlock(&vm->pause_lock);
	return false;
}

void vm_release_unpaused(struct vm *vm)
{
	pthread_mutex_unlock(&vm->pause_lock);
}

/* A vCPU thread waits here, between two vcpu_run() calls, while the VM is paused. */
static void park(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_requested) && !atomic_load(&vm->stop_requested))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

/* The BIOS data area's reset flag: 0x1234 asks firmware for a warm boot (no memory test). */
#define BDA_RESET_FLAG_ADDR	0x472
#define BDA_RESET_FLAG_WARM	0x1234

void vm_guest_reset(struct vm *vm)
{
	uint8_t flag[2];

	if (mem_read(&vm->mem, BDA_RESET_FLAG_ADDR, flag, sizeof(flag)) == 0 &&
	    (flag[0] | flag[1] << 8) == BDA_RESET_FLAG_WARM) {
		if (stop_vm(vm, EXIT_STATUS_GUEST_FAULT))
			vmon_log("guest kernel panic (reset with the warm-boot flag "
				"set; the panic message is on the console)");
		return;
	}
	if (vm->reset_fd < 0) {
		stop_vm(vm, EXIT_STATUS_OK);
		return;
	}
	/* vm_run() resets the machine once every vCPU thread has ended. */
	atomic_store(&vm->reset_requested, true);
	stop_vcpus(vm, true);
}

/* ---- Creation ------------------------------------------------------------------------------ */

static int create_devices(struct vm_host *h)
{
	struct vm *vm = &h->vm;

	vm->com1 = serial8250_create(vm, COM1_BASE, COM1_IRQ, vm->console_out_fd);
	h->kbd = i8042_create(vm);
	h->rtc = rtc_create(vm);
	if (!vm->com1 || !h->kbd || !h->rtc || debugexit_init(vm) < 0) {
		vmon_log("cannot create the PC devices");
		return -1;
	}
	vm->acpi_pm = acpi_pm_create(vm);
	if (!vm->acpi_pm) {
		vmon_log("cannot register the ACPI PM ports");
		return -1;
	}
	return 0;
}

/* The PCI bus and the virtio devices asked for. A disk that cannot be used is bad input. */
static int create_pci(struct vm_host *h)
{
	struct vm *vm = &h->vm;

	h->pci = pci_create(vm);
	if (!h->pci) {
		vmon_log("cannot create the PCI bus");
		return EXIT_STATUS_HOST;
	}
	for (int i = 0; i < vm->cfg.nr_disks; i++) {
		h->blk[i] = virtio_blk_create(vm, h->pci, &vm->cfg.disk[i], i);
		if (!h->blk[i])
			return EXIT_STATUS_USAGE;
		vm->cfg.disk[i].bytes = virtio_blk_bytes(h->blk[i]);
	}
	if (vm->cfg.rng) {
		h->rng = virtio_rng_create(vm, h->pci);
		if (!h->rng)
			return EXIT_STATUS_HOST;
	}
	if (vm->cfg.net_user) {
		h->net = virtio_net_create(vm, h->pci, vm->cfg.net_backend);
		if (!h->net)
			return EXIT_STATUS_HOST;
	}
	return 0;
}

static int create_vcpus(struct vm *vm, const struct engine_ops *engine)
{
	for (int i = 0; i < vm->cfg.cpus; i++) {
		struct vcpu *v = calloc(1, sizeof(*v));
		if (!v) {
			vmon_log("vcpu %d: %s", i, strerror(ENOMEM));
			return -1;
		}
		v->vm = vm;
		v->id = i;
		if (engine->vcpu_create(v) < 0) {
			vmon_log("vcpu %d: %s", i, v->error[0] ? v->error : "cannot create");
			free(v);
			return -1;
		}
		vm->vcpu[vm->nr_cpus++] = v;
		/* Only the BSP starts from the loader's state; APs wait for INIT/SIPI. */
		if (i == 0 && engine->set_state(v, &vm->boot_state) < 0) {
			vmon_log("vcpu 0: cannot set the boot state%s%s",
				v->error[0] ? ": " : "", v->error);
			return -1;
		}
	}
	return 0;
}

/* The machine from cfg; from_snapshot leaves guest RAM and the boot state to snapshot_load(). */
static int build_vm(struct vm_host *h, const struct vm_config *cfg,
		    const struct engine_ops *engine, bool from_snapshot)
{
	struct vm *vm = &h->vm;
	/* Guest time (the TSC, the API's uptime_ms) starts with the VM, whatever the engine: it
	 * starts on first use otherwise, and under kvm nothing uses it before the API asks. */
	guest_tsc_epoch_ns();
	int err = mem_init(&vm->mem, cfg->mem_size);
	if (err < 0) {
		vmon_log("guest RAM (%llu bytes): %s",
			(unsigned long long)cfg->mem_size, strerror(-err));
		return EXIT_STATUS_HOST;
	}
	if (engine->lazy_ram)
		mem_populate_off(&vm->mem);

	if (create_devices(h) < 0)
		return EXIT_STATUS_HOST;
	int status = create_pci(h);
	if (status)
		return status;

	cpu_state_reset(&vm->boot_state);
	/* RAM (firmware tables included) comes from the loader or the snapshot. */
	if (!from_snapshot && boot_load(vm) < 0)
		return EXIT_STATUS_USAGE;

	if (engine->vm_create(vm) < 0) {
		vmon_log("engine %s: cannot create the VM", engine->name);
		return EXIT_STATUS_HOST;
	}
	vm->engine = engine;
	if (create_vcpus(vm, engine) < 0)
		return EXIT_STATUS_HOST;
	return 0;
}

int vm_create(const struct vm_config *cfg, const struct engine_ops *engine, int console_out_fd,
	      bool from_snapshot, struct vm **out)
{
	*out = NULL;
	struct vm_host *h = calloc(1, sizeof(*h));
	if (!h) {
		vmon_log("%s", strerror(ENOMEM));
		return EXIT_STATUS_HOST;
	}
	struct vm *vm = &h->vm;
	vm->cfg = *cfg;
	vm->mem.fd = -1;
	vm->console_out_fd = console_out_fd;
	atomic_init(&vm->stop_requested, false);
	atomic_init(&vm->exit_status, -1);
	atomic_init(&vm->reset_requested, false);
	vm->reset_fd = -1;
	pthread_mutex_init(&h->start_lock, NULL);
	pthread_cond_init(&h->start_cond, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);

	int status = build_vm(h, cfg, engine, from_snapshot);
	if (!status && !from_snapshot && !cfg->reboot_exit && reset_image_create(vm) < 0)
		status = EXIT_STATUS_HOST;
	if (status) {
		vm_destroy(vm);
		return status;
	}
	*out = vm;
	return 0;
}

/* ---- Running ------------------------------------------------------------------------------- */

static void dump_seg(FILE *f, const char *name, const struct seg_reg *s)
{
	fprintf(f, "  %-4s sel=%04x base=%016llx limit=%08x attr=%05x\n", name, s->sel,
		(unsigned long long)s->base, s->limit, s->attr);
}

/* One screen of state after a shutdown (triple fault) or an engine error, whose line is
 * printed first. */
static void dump_registers(struct vcpu *v)
{
	static const char *const gpr_names[16] = {
		"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
	};
	static const char *const seg_names[S_NR] = { "es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr" };
	struct cpu_state s;
	FILE *f = stderr;

	if (v->vm->engine->get_state(v, &s) < 0) {
		fprintf(f, "  (registers unavailable)\n");
		return;
	}
	for (int i = 0; i < 16; i++)
		fprintf(f, "  %-3s=%016llx%s", gpr_names[i], (unsigned long long)s.gpr[i],
			i % 4 == 3 ? "\n" : "");
	fprintf(f, "  rip=%016llx  rflags=%016llx\n", (unsigned long long)s.rip,
		(unsigned long long)s.rflags);
	for (int i = 0; i < S_NR; i++)
		dump_seg(f, seg_names[i], &s.seg[i]);
	fprintf(f, "  gdt=%016llx/%04x  idt=%016llx/%04x\n", (unsigned long long)s.gdt.base,
		s.gdt.limit, (unsigned long long)s.idt.base, s.idt.limit);
	fprintf(f, "  cr0=%016llx  cr2=%016llx  cr3=%016llx\n", (unsigned long long)s.cr0,
		(unsigned long long)s.cr2, (unsigned long long)s.cr3);
	fprintf(f, "  cr4=%016llx  cr8=%016llx  efer=%016llx\n", (unsigned long long)s.cr4,
		(unsigned long long)s.cr8, (unsigned long long)s.efer);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	struct vm_host *h = host_of(vm);

	pthread_mutex_lock(&h->start_lock);
	while (!h->go)
		pthread_cond_wait(&h->start_cond, &h->start_lock);
	pthread_mutex_unlock(&h->start_lock);

	while (!atomic_load(&vm->stop_requested)) {
		if (atomic_load(&vm->pause_requested)) {
			park(vm);
			continue;
		}
		switch (vm->engine->vcpu_run(v)) {
		case VCPU_EXIT_STOP:
			break;
		case VCPU_EXIT_SHUTDOWN:
			stat_add(&v->stats.count[STAT_SHUTDOWN], 1);
			if (stop_vm(vm, EXIT_STATUS_GUEST_FAULT)) {
				vmon_log("vcpu %d: shutdown (triple fault or unrecoverable guest "
					 "state)", v->id);
				dump_registers(v);
			}
			break;
		case VCPU_EXIT_ERROR:
			if (stop_vm(vm, EXIT_STATUS_GUEST_FAULT)) {
				vmon_log("vcpu %d: %s", v->id, v->error);
				dump_registers(v);
			}
			break;
		}
	}
	return NULL;
}

static void release_vcpus(struct vm_host *h)
{
	pthread_mutex_lock(&h->start_lock);
	h->go = true;
	pthread_cond_broadcast(&h->start_cond);
	pthread_mutex_unlock(&h->start_lock);
}

int vm_run(struct vm *vm)
{
	struct vm_host *h = host_of(vm);
	int started;

	for (;;) {
		for (started = 0; started < vm->nr_cpus; started++) {
			int err = pthread_create(&vm->vcpu[started]->thread, NULL, vcpu_thread,
						 vm->vcpu[started]);
			if (err) {
				vmon_log("vcpu thread: %s", strerror(err));
				/* nr_cpus bounds the kicks: never kick a thread that does not exist. */
				vm->nr_cpus = started;
				stop_vm(vm, EXIT_STATUS_HOST);
				break;
			}
		}
		release_vcpus(h);
		for (int i = 0; i < started; i++)
			pthread_join(vm->vcpu[i]->thread, NULL);
		/* A reset, unless something else ended the VM meanwhile: boot again. */
		if (atomic_load(&vm->exit_status) >= 0 || !atomic_load(&vm->reset_requested))
			break;
		if (reset_machine(vm) < 0)
			stop_vm(vm, EXIT_STATUS_HOST);
		/* A stop during the reset set exit_status before the stop flag that the reset
		 * cleared: seen here. */
		if (atomic_load(&vm->exit_status) >= 0)
			break;
	}
	return atomic_load(&vm->exit_status);
}

/* The teardown order, for the machine's threads besides the vCPUs (vm_run joined those): each
 * is stopped and joined here, before anything it uses (RAM, interrupt controllers, the engine,
 * devices) is freed. The runner's threads (event loop, migration sender) have ended before. */
static void stop_device_threads(struct vm_host *h)
{
	virtio_net_stop(h->net);		/* frames from the network backend */
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	struct vm_host *h = host_of(vm);

	stop_device_threads(h);
	for (int i = 0; i < VM_MAX_CPUS; i++) {
		if (!vm->vcpu[i])
			continue;
		vm->engine->vcpu_destroy(vm->vcpu[i]);
		free(vm->vcpu[i]);
	}
	if (vm->engine)
		vm->engine->vm_destroy(vm);
	acpi_pm_destroy(vm->acpi_pm);
	firmware_destroy(vm->firmware);
	serial8250_destroy(vm->com1);
	i8042_destroy(h->kbd);
	rtc_destroy(h->rtc);
	for (int i = 0; i < VM_MAX_DISKS; i++)
		virtio_blk_destroy(h->blk[i]);
	virtio_rng_destroy(h->rng);
	virtio_net_destroy(h->net);
	pci_destroy(h->pci);
	if (vm->reset_fd >= 0)
		close(vm->reset_fd);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	mem_destroy(&vm->mem);
	pthread_cond_destroy(&h->start_cond);
	pthread_mutex_destroy(&h->start_lock);
	pthread_cond_destroy(&vm->pause_cond);
	pthread_mutex_destroy(&vm->pause_lock);
	free(h);
}
