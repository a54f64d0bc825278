/* The kvm engine: vCPUs run on /dev/kvm with the in-kernel LAPIC/IOAPIC/PIC and PIT.
 *
 * This file holds the VM-wide part (probe, VM fd, memory slots, interrupt lines, stats);
 * vcpu.c sets vCPUs up, run.c runs them, state.c moves their architectural state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "engine/kvm/kvm_priv.h"
#include "engine/kvm/probe.h"
#include "util/log.h"
#include "vm.h"

#define KVM_TSS_ADDR		0xfffbd000ul	/* three pages, VMX real-mode emulation */
#define KVM_IDENTITY_MAP_ADDR	0xfffbc000ull	/* one page, VMX unpaged protected mode */
#define KVM_CPUID_MAX_ENTRIES	4096
#define KVM_PAGE_SIZE		4096ull

struct kvm_cap_name {
	int cap;
	const char *name;
};

static const struct kvm_cap_name required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
	/* kick() relies on it to close the signal-before-KVM_RUN race. */
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
};

static int check_kvm(int sys_fd, char *why, size_t len)
{
	int version = ioctl(sys_fd, KVM_GET_API_VERSION, 0);

	if (version != KVM_API_VERSION) {
		snprintf(why, len, "/dev/kvm: API version %d, need %d", version, KVM_API_VERSION);
		return -1;
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (ioctl(sys_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			snprintf(why, len, "/dev/kvm: %s not supported", required_caps[i].name);
			return -1;
		}
	}
	return 0;
}

static int kvm_probe(char *why, size_t len)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int ret;

	if (fd < 0) {
		snprintf(why, len, "/dev/kvm: %s", strerror(errno));
		return -1;
	}
	ret = check_kvm(fd, why, len);
	close(fd);
	return ret;
}

static bool has_cap(int fd, int cap)
{
	return ioctl(fd, KVM_CHECK_EXTENSION, cap) > 0;
}

/* KVM_GET_SUPPORTED_CPUID says E2BIG until the array is large enough. */
static struct kvm_cpuid2 *get_supported_cpuid(int sys_fd)
{
	for (int nent = 64; nent <= KVM_CPUID_MAX_ENTRIES; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

		if (!c)
			return NULL;
		c->nent = nent;
		if (ioctl(sys_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			return NULL;
	}
	errno = E2BIG;
	return NULL;
}

/* The MSRs KVM saves, narrowed to those cpu_state has room for. */
static int select_msrs(struct kvm_vm_priv *kp)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *list;

	/* An empty probe buffer gets E2BIG and the real count. */
	if (ioctl(kp->sys_fd, KVM_GET_MSR_INDEX_LIST, &probe) == 0) {
		kp->nr_msrs = kvm_msr_select(NULL, 0, kp->msr);
		return 0;
	}
	if (errno != E2BIG)
		return -1;
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(list->indices[0]));
	if (!list)
		return -1;
	list->nmsrs = probe.nmsrs;
	if (ioctl(kp->sys_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		free(list);
		return -1;
	}
	kp->nr_msrs = kvm_msr_select(list->indices, (int)list->nmsrs, kp->msr);
	free(list);
	return 0;
}

/* One slot per RAM region (slot i = region i); flags 0 or KVM_MEM_LOG_DIRTY_PAGES. Setting a
 * slot again with other flags changes only its flags. */
static int set_memory(struct vm *vm, struct kvm_vm_priv *kp, uint32_t flags)
{
	for (int i = 0; i < vm->mem.nr_regions; i++) {
		const struct mem_region *r = &vm->mem.region[i];
		/* Slots are page granular; a ragged tail stays unmapped and faults as MMIO. */
		struct kvm_userspace_memory_region slot = {
			.slot = (uint32_t)i,
			.flags = flags,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size & ~(KVM_PAGE_SIZE - 1),
			.userspace_addr = (uint64_t)(uintptr_t)r->hva,
		};

		if (!slot.memory_size)
			continue;
		if (ioctl(kp->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return -1;
	}
	/* The firmware ROM (mem.h): the slot after RAM's, read-only, so that writes exit to its
	 * MMIO handler; never dirty. */
	if (vm->mem.rom) {
		struct kvm_userspace_memory_region slot = {
			.slot = (uint32_t)vm->mem.nr_regions,
			.flags = KVM_MEM_READONLY,
			.guest_phys_addr = vm->mem.rom_gpa,
			.memory_size = vm->mem.rom_size,
			.userspace_addr = (uint64_t)(uintptr_t)vm->mem.rom,
		};
		if (ioctl(kp->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return -1;
	}
	return 0;
}

static void free_vm_priv(struct kvm_vm_priv *kp)
{
	if (kp->vm_fd >= 0)
		close(kp->vm_fd);
	if (kp->sys_fd >= 0)
		close(kp->sys_fd);
	free(kp->supported);
	free(kp);
}

/* One step of kvm_vm_create; on failure names the step and the errno. */
#define VM_STEP(cond, what) do {					\
	if (!(cond)) {							\
		vmon_log("kvm: %s: %s", what, strerror(errno)); \
		goto fail;						\
	}								\
} while (0)

static int kvm_vm_create(struct vm *vm)
{
	struct kvm_vm_priv *kp = calloc(1, sizeof(*kp));
	struct kvm_pit_config pit = { .flags = 0 };
	uint64_t identity_map = KVM_IDENTITY_MAP_ADDR;
	char why[128];
	int size;

	if (!kp) {
		vmon_log("kvm: out of memory");
		return -1;
	}
	kp->vm_fd = -1;
	kp->sys_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	VM_STEP(kp->sys_fd >= 0, "/dev/kvm");
	if (kvm_fallback_config(kp) < 0)
		goto fail;
	const struct kvm_host_checks *checks = kvm_installed_checks();
	if (checks) {
		kp->hidden_pv_features = kvm_checks_hide_pv_hypercalls(checks) ?
					 KVM_PV_HYPERCALL_FEATURES : 0;
		kp->hide_cx16 = kvm_checks_hide_cx16(checks);
	}
	if (check_kvm(kp->sys_fd, why, sizeof(why)) < 0) {
		vmon_log("%s", why);
		goto fail;
	}
	size = ioctl(kp->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	VM_STEP(size >= (int)sizeof(struct kvm_run), "KVM_GET_VCPU_MMAP_SIZE");
	kp->run_size = (size_t)size;
	kp->supported = get_supported_cpuid(kp->sys_fd);
	VM_STEP(kp->supported, "KVM_GET_SUPPORTED_CPUID");
	kp->shutdown_resets = kvm_cpuid_vendor_amd(kp->supported->entries, (int)kp->supported->nent);
	VM_STEP(select_msrs(kp) == 0, "KVM_GET_MSR_INDEX_LIST");

	do
		kp->vm_fd = ioctl(kp->sys_fd, KVM_CREATE_VM, 0);
	while (kp->vm_fd < 0 && errno == EINTR);
	VM_STEP(kp->vm_fd >= 0, "KVM_CREATE_VM");
	kp->has_debugregs = has_cap(kp->vm_fd, KVM_CAP_DEBUGREGS);
	kp->has_xcrs = has_cap(kp->vm_fd, KVM_CAP_XCRS);
	kp->has_vcpu_events = has_cap(kp->vm_fd, KVM_CAP_VCPU_EVENTS);
	kp->has_xsave = has_cap(kp->vm_fd, KVM_CAP_XSAVE);

	VM_STEP(ioctl(kp->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) == 0, "KVM_SET_TSS_ADDR");
	if (has_cap(kp->vm_fd, KVM_CAP_SET_IDENTITY_MAP_ADDR))
		VM_STEP(ioctl(kp->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity_map) == 0,
			"KVM_SET_IDENTITY_MAP_ADDR");
	VM_STEP(ioctl(kp->vm_fd, KVM_CREATE_IRQCHIP, 0) == 0, "KVM_CREATE_IRQCHIP");
	VM_STEP(ioctl(kp->vm_fd, KVM_CREATE_PIT2, &pit) == 0, "KVM_CREATE_PIT2");
	VM_STEP(set_memory(vm, kp, 0) == 0, "KVM_SET_USER_MEMORY_REGION");

	vm->engine_priv = kp;
	if (kvm_register_vm_state(vm) < 0) {
		vmon_log("kvm: too many snapshot sections");
		vm->engine_priv = NULL;
		goto fail;
	}
	return 0;
fail:
	free_vm_priv(kp);
	return -1;
}

static void kvm_vm_destroy(struct vm *vm)
{
	if (!vm->engine_priv)
		return;
	free_vm_priv(vm->engine_priv);
	vm->engine_priv = NULL;
}

/* ---- Dirty-page log: KVM_MEM_LOG_DIRTY_PAGES on the slots, KVM_GET_DIRTY_LOG ---------------- */

static int kvm_dirty_log_start(struct vm *vm)
{
	dirty_bitmap_start(vm->mem.dirty);
	if (set_memory(vm, vm->engine_priv, KVM_MEM_LOG_DIRTY_PAGES) < 0) {
		dirty_bitmap_stop(vm->mem.dirty);
		return -1;
	}
	return 0;
}

/* KVM_GET_DIRTY_LOG returns a slot's bitmap (bit n: page n of the slot, 64-bit words) and
 * clears and write-protects those pages again; the in-kernel writes (kvmclock, ...) are in it. */
static int kvm_dirty_log_fetch(struct vm *vm, uint64_t *bitmap)
{
	struct kvm_vm_priv *kp = vm->engine_priv;

	for (int i = 0; i < vm->mem.nr_regions; i++) {
		const struct mem_region *r = &vm->mem.region[i];
		uint64_t pages = (r->size & ~(KVM_PAGE_SIZE - 1)) / KVM_PAGE_SIZE;
		uint64_t first = (uint64_t)(r->hva - vm->mem.base) / KVM_PAGE_SIZE;
		uint64_t *slot_bits = calloc(dirty_words(pages) ? dirty_words(pages) : 1, 8);
		struct kvm_dirty_log log = { .slot = (uint32_t)i, .dirty_bitmap = slot_bits };

		if (!slot_bits)
			return -1;
		if (pages && ioctl(kp->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
			free(slot_bits);
			return -1;
		}
		for (uint64_t w = 0; w < dirty_words(pages); w++)
			for (uint64_t bits = slot_bits[w]; bits; bits &= bits - 1) {
				uint64_t page = first + w * 64 + (uint64_t)__builtin_ctzll(bits);
				bitmap[page / 64] |= 1ull << (page % 64);
			}
		free(slot_bits);
	}
	dirty_bitmap_fetch(vm->mem.dirty, bitmap);
	return 0;
}

static void kvm_dirty_log_stop(struct vm *vm)
{
	dirty_bitmap_stop(vm->mem.dirty);
	set_memory(vm, vm->engine_priv, 0);
}

static void kvm_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_vm_priv *kp = vm->engine_priv;
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};

	/* The in-kernel LAPICs take it; 0 (guest masked it) and errors are nothing we can act on. */
	if (kp)
		ioctl(kp->vm_fd, KVM_SIGNAL_MSI, &msi);
}

static void kvm_irq_line(struct vm *vm, unsigned gsi, int level)
{
	struct kvm_vm_priv *kp = vm->engine_priv;
	struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };

	/* Only fails for a GSI outside the in-kernel IOAPIC: a device wiring bug, not fatal. */
	if (kp)
		ioctl(kp->vm_fd, KVM_IRQ_LINE, &irq);
}

static const char *const exit_names[KVM_EXIT_COUNTED + 1] = {
	[KVM_EXIT_UNKNOWN] = "unknown",
	[KVM_EXIT_EXCEPTION] = "exception",
	[KVM_EXIT_IO] = "io",
	[KVM_EXIT_HYPERCALL] = "hypercall",
	[KVM_EXIT_DEBUG] = "debug",
	[KVM_EXIT_HLT] = "hlt",
	[KVM_EXIT_MMIO] = "mmio",
	[KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
	[KVM_EXIT_SHUTDOWN] = "shutdown",
	[KVM_EXIT_FAIL_ENTRY] = "fail_entry",
	[KVM_EXIT_INTR] = "intr",
	[KVM_EXIT_SET_TPR] = "set_tpr",
	[KVM_EXIT_TPR_ACCESS] = "tpr_access",
	[KVM_EXIT_NMI] = "nmi",
	[KVM_EXIT_INTERNAL_ERROR] = "internal_error",
	[KVM_EXIT_SYSTEM_EVENT] = "system_event",
	[KVM_EXIT_IOAPIC_EOI] = "ioapic_eoi",
	[KVM_EXIT_X86_RDMSR] = "x86_rdmsr",
	[KVM_EXIT_X86_WRMSR] = "x86_wrmsr",
	[KVM_EXIT_X86_BUS_LOCK] = "x86_bus_lock",
	[KVM_EXIT_NOTIFY] = "notify",
	[KVM_EXIT_COUNTED] = "other",
};

/* A counter of the bt interpreter's fallbacks as "fallback_INSN" (engine/kvm/fallback.c). */
struct prefixed_counter {
	void (*fn)(void *opaque, const char *name, uint64_t val);
	void *opaque;
};

static void fallback_counter(void *opaque, const char *insn, uint64_t n)
{
	const struct prefixed_counter *pc = opaque;
	char name[48];

	snprintf(name, sizeof(name), "fallback_%s", insn);
	pc->fn(pc->opaque, name, n);
}

/* Exits to vmon by reason, summed over the vCPUs: "exit_REASON" (or "exit_N") when not 0, then
 * the instructions run in the bt interpreter where KVM could not emulate them. Relaxed atomic
 * loads: the API thread reads them while the vCPUs count. */
static void kvm_counters(struct vm *vm, void (*fn)(void *opaque, const char *name, uint64_t val),
			 void *opaque)
{
	uint64_t total[KVM_EXIT_COUNTED + 1] = { 0 };
	char name[32];

	for (int i = 0; i < vm->nr_cpus; i++) {
		const struct kvm_vcpu_priv *kv = vm->vcpu[i] ? vm->vcpu[i]->engine_priv : NULL;

		for (int r = 0; kv && r <= KVM_EXIT_COUNTED; r++)
			total[r] += __atomic_load_n(&kv->exits[r], __ATOMIC_RELAXED);
	}
	for (int r = 0; r <= KVM_EXIT_COUNTED; r++) {
		if (!total[r])
			continue;
		if (exit_names[r])
			snprintf(name, sizeof(name), "exit_%s", exit_names[r]);
		else
			snprintf(name, sizeof(name), "exit_%d", r);
		fn(opaque, name, total[r]);
	}
	struct prefixed_counter pc = { fn, opaque };
	kvm_fallback_totals(vm, fallback_counter, &pc);
}

const struct engine_ops kvm_engine = {
	.name = "kvm",
	.probe = kvm_probe,
	.vm_create = kvm_vm_create,
	.vm_destroy = kvm_vm_destroy,
	.vcpu_create = kvm_vcpu_create,
	.vcpu_destroy = kvm_vcpu_destroy,
	.vcpu_run = kvm_vcpu_run,
	.get_state = kvm_get_state,
	.set_state = kvm_set_state,
	.irq_line = kvm_irq_line,
	.msi = kvm_msi,
	.kick = kvm_vcpu_kick,
	.counters = kvm_counters,
	.dirty_log_start = kvm_dirty_log_start,
	.dirty_log_fetch = kvm_dirty_log_fetch,
	.dirty_log_stop = kvm_dirty_log_stop,
	.lazy_ram = true,
};
