/* Creating a KVM vCPU and putting it in the state a freshly powered-on x86 CPU is in:
 * CPUID, MSRs, FPU and LAPIC LVTs as kvmtool/Firecracker set them up. vm.c then loads the
 * BSP's boot state through set_state; APs wait for INIT/SIPI in the in-kernel LAPIC.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/kvm/kvm_priv.h"
#include "vm.h"

#define APIC_LVT_LINT0		0x350
#define APIC_LVT_LINT1		0x360
#define APIC_DELIVERY_MASK	(7u << 8)
#define APIC_DELIVERY_NMI	(4u << 8)
#define APIC_DELIVERY_EXTINT	(7u << 8)

#define FPU_FCW_INIT		0x37f
#define FPU_MXCSR_INIT		0x1f80

static int setup_cpuid(struct vcpu *v, const struct kvm_vm_priv *kp, int fd)
{
	const struct kvm_cpuid2 *sup = kp->supported;
	size_t bytes = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
	struct kvm_cpuid2 *c = malloc(bytes);
	int ret;

	if (!c)
		return -1;
	memcpy(c, sup, bytes);
	/* cfg.cpus: vm->nr_cpus only counts the vCPUs created so far. */
	kvm_cpuid_filter(c->entries, (int)c->nent, v->id, v->vm->cfg.cpus);
	kvm_cpuid_hide(c->entries, (int)c->nent, kp->hidden_pv_features, kp->hide_cx16);
	ret = ioctl(fd, KVM_SET_CPUID2, c);
	free(c);
	return ret;
}

static int setup_msrs(const struct kvm_vm_priv *kp, int fd)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + KVM_MSR_MAX * sizeof(m->entries[0]));
	int n, ret;

	if (!m)
		return -1;
	n = kvm_msrs_boot(m->entries, kp->msr, kp->nr_msrs);
	m->nmsrs = (uint32_t)n;
	/* KVM_SET_MSRS returns how many it set; a short count names the one it refused. */
	ret = ioctl(fd, KVM_SET_MSRS, m);
	if (ret >= 0 && ret < n) {
		errno = EINVAL;
		ret = -1;
	}
	free(m);
	return ret < 0 ? -1 : 0;
}

static int setup_fpu(int fd)
{
	struct kvm_fpu fpu = { .fcw = FPU_FCW_INIT, .mxcsr = FPU_MXCSR_INIT };

	return ioctl(fd, KVM_SET_FPU, &fpu);
}

static void lvt_set_delivery(struct kvm_lapic_state *l, unsigned int reg, uint32_t mode)
{
	uint32_t lvt;

	memcpy(&lvt, l->regs + reg, sizeof(lvt));
	lvt = (lvt & ~APIC_DELIVERY_MASK) | mode;
	memcpy(l->regs + reg, &lvt, sizeof(lvt));
}

/* Virtual-wire mode: the PIC's INTR reaches the CPU through LINT0, NMIs through LINT1. */
static int setup_lapic(int fd)
{
	struct kvm_lapic_state lapic;

	if (ioctl(fd, KVM_GET_LAPIC, &lapic) < 0)
		return -1;
	lvt_set_delivery(&lapic, APIC_LVT_LINT0, APIC_DELIVERY_EXTINT);
	lvt_set_delivery(&lapic, APIC_LVT_LINT1, APIC_DELIVERY_NMI);
	return ioctl(fd, KVM_SET_LAPIC, &lapic);
}

static void free_vcpu_priv(struct kvm_vcpu_priv *kv)
{
	if (kv->run)
		munmap(kv->run, kv->run_size);
	if (kv->fd >= 0)
		close(kv->fd);
	pthread_mutex_destroy(&kv->lock);
	kvm_fallback_free(kv);
	free(kv);
}

#define VCPU_STEP(cond, what) do {					\
	if (!(cond)) {							\
		snprintf(v->error, sizeof(v->error), "kvm: %s: %s",		\
			 what, strerror(errno));			\
		goto fail;						\
	}								\
} while (0)

int kvm_vcpu_create(struct vcpu *v)
{
	const struct kvm_vm_priv *kp = v->vm->engine_priv;
	struct kvm_vcpu_priv *kv = calloc(1, sizeof(*kv));
	struct kvm_mp_state wait_sipi = { .mp_state = KVM_MP_STATE_UNINITIALIZED };
	void *run;

	if (!kv) {
		snprintf(v->error, sizeof(v->error), "kvm: out of memory");
		return -1;
	}
	kv->fd = -1;
	pthread_mutex_init(&kv->lock, NULL);

	kv->fd = ioctl(kp->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->id);
	VCPU_STEP(kv->fd >= 0, "KVM_CREATE_VCPU");
	run = mmap(NULL, kp->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, kv->fd, 0);
	VCPU_STEP(run != MAP_FAILED, "mmap kvm_run");
	kv->run = run;
	kv->run_size = kp->run_size;

	VCPU_STEP(setup_cpuid(v, kp, kv->fd) == 0, "KVM_SET_CPUID2");
	VCPU_STEP(setup_msrs(kp, kv->fd) == 0, "KVM_SET_MSRS");
	VCPU_STEP(setup_fpu(kv->fd) == 0, "KVM_SET_FPU");
	VCPU_STEP(setup_lapic(kv->fd) == 0, "KVM_SET_LAPIC");
	/* KVM already parks non-BSP vCPUs like this; say so rather than rely on it. */
	if (v->id != 0)
		VCPU_STEP(ioctl(kv->fd, KVM_SET_MP_STATE, &wait_sipi) == 0, "KVM_SET_MP_STATE");
	if (kvm_register_vcpu_state(v) < 0) {
		snprintf(v->error, sizeof(v->error), "kvm: too many snapshot sections");
		goto fail;
	}

	v->engine_priv = kv;
	return 0;
fail:
	free_vcpu_priv(kv);
	return -1;
}

void kvm_vcpu_destroy(struct vcpu *v)
{
	if (!v->engine_priv)
		return;
	free_vcpu_priv(v->engine_priv);
	v->engine_priv = NULL;
}
