/* get_state / set_state: the whole struct cpu_state through the KVM vCPU ioctls.
 *
 * Failures are reported on stderr, not in vcpu->error: get_state also runs for the register
 * dump after a VCPU_EXIT_ERROR, whose reason must survive.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "engine/kvm/kvm_priv.h"
#include "util/log.h"
#include "vm.h"

#define XCR_XFEATURE_ENABLED	0	/* XCR0 */

static int fail(const struct vcpu *v, const char *what)
{
	vmon_log("kvm: vcpu %d: %s: %s", v->id, what, strerror(errno));
	return -1;
}

static struct kvm_msrs *msrs_alloc(int n)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + (size_t)n * sizeof(m->entries[0]));

	if (m)
		m->nmsrs = (uint32_t)n;
	return m;
}

/* KVM_GET_MSRS / KVM_SET_MSRS stop at the first MSR they refuse and return the count done. */
static int msrs_ioctl(const struct vcpu *v, int fd, unsigned long req, struct kvm_msrs *m)
{
	int done = ioctl(fd, req, m);

	if (done < 0)
		return fail(v, req == KVM_GET_MSRS ? "KVM_GET_MSRS" : "KVM_SET_MSRS");
	if ((uint32_t)done < m->nmsrs) {
		vmon_log("kvm: vcpu %d: %s refused MSR %#x", v->id,
			req == KVM_GET_MSRS ? "KVM_GET_MSRS" : "KVM_SET_MSRS",
			m->entries[done].index);
		return -1;
	}
	return 0;
}

static int get_msrs(const struct vcpu *v, const struct kvm_vm_priv *kp, int fd,
		    struct cpu_state *s)
{
	struct kvm_msrs *m = msrs_alloc(kp->nr_msrs);
	int ret;

	if (!m)
		return fail(v, "KVM_GET_MSRS");
	for (int i = 0; i < kp->nr_msrs; i++)
		m->entries[i].index = kp->msr[i];
	ret = msrs_ioctl(v, fd, KVM_GET_MSRS, m);
	if (ret == 0)
		kvm_msrs_to_state(s, m->entries, kp->nr_msrs);
	free(m);
	return ret;
}

static int set_msrs(const struct vcpu *v, const struct kvm_vm_priv *kp, int fd,
		    const struct cpu_state *s)
{
	struct kvm_msrs *m = msrs_alloc(kp->nr_msrs);
	int ret;

	if (!m)
		return fail(v, "KVM_SET_MSRS");
	kvm_msrs_from_state(m->entries, kp->msr, kp->nr_msrs, s);
	ret = msrs_ioctl(v, fd, KVM_SET_MSRS, m);
	free(m);
	return ret;
}

static int get_extended(const struct vcpu *v, const struct kvm_vm_priv *kp, int fd,
			struct cpu_state *s)
{
	struct kvm_debugregs dbg;
	struct kvm_xcrs xcrs;

	/* Without the ioctls the registers are at their architectural reset values. */
	s->dr[6] = 0xffff0ff0;
	s->dr[7] = 0x400;
	s->xcr0 = 1;
	if (kp->has_debugregs) {
		if (ioctl(fd, KVM_GET_DEBUGREGS, &dbg) < 0)
			return fail(v, "KVM_GET_DEBUGREGS");
		memcpy(s->dr, dbg.db, sizeof(dbg.db));
		s->dr[6] = dbg.dr6;
		s->dr[7] = dbg.dr7;
	}
	if (kp->has_xcrs) {
		if (ioctl(fd, KVM_GET_XCRS, &xcrs) < 0)
			return fail(v, "KVM_GET_XCRS");
		for (uint32_t i = 0; i < xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++)
			if (xcrs.xcrs[i].xcr == XCR_XFEATURE_ENABLED)
				s->xcr0 = xcrs.xcrs[i].value;
	}
	return 0;
}

int kvm_get_state(struct vcpu *v, struct cpu_state *s)
{
	const struct kvm_vm_priv *kp = v->vm->engine_priv;
	const struct kvm_vcpu_priv *kv = v->engine_priv;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events ev;

	memset(s, 0, sizeof(*s));
	if (kv->state_lost) {
		vmon_log("kvm: vcpu %d: registers lost: KVM on AMD resets a vCPU "
			"that shuts down", v->id);
		return -1;
	}
	if (ioctl(kv->fd, KVM_GET_REGS, &regs) < 0)
		return fail(v, "KVM_GET_REGS");
	kvm_regs_to_state(s, &regs);
	if (ioctl(kv->fd, KVM_GET_SREGS, &sregs) < 0)
		return fail(v, "KVM_GET_SREGS");
	kvm_sregs_to_state(s, &sregs);
	if (get_msrs(v, kp, kv->fd, s) < 0)
		return -1;
	if (ioctl(kv->fd, KVM_GET_FPU, &fpu) < 0)
		return fail(v, "KVM_GET_FPU");
	kvm_fpu_to_fxsave(s->fxsave, &fpu);
	if (get_extended(v, kp, kv->fd, s) < 0)
		return -1;
	if (ioctl(kv->fd, KVM_GET_MP_STATE, &mp) < 0)
		return fail(v, "KVM_GET_MP_STATE");
	s->halted = mp.mp_state == KVM_MP_STATE_HALTED;
	if (kp->has_vcpu_events) {
		if (ioctl(kv->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
			return fail(v, "KVM_GET_VCPU_EVENTS");
		s->interrupt_shadow = ev.interrupt.shadow != 0;
	}
	return 0;
}

static int set_extended(const struct vcpu *v, const struct kvm_vm_priv *kp, int fd,
			const struct cpu_state *s)
{
	if (kp->has_debugregs) {
		struct kvm_debugregs dbg;

		memset(&dbg, 0, sizeof(dbg));
		memcpy(dbg.db, s->dr, sizeof(dbg.db));
		dbg.dr6 = s->dr[6];
		dbg.dr7 = s->dr[7];
		if (ioctl(fd, KVM_SET_DEBUGREGS, &dbg) < 0)
			return fail(v, "KVM_SET_DEBUGREGS");
	}
	if (kp->has_xcrs) {
		struct kvm_xcrs xcrs;

		memset(&xcrs, 0, sizeof(xcrs));
		xcrs.nr_xcrs = 1;
		xcrs.xcrs[0].xcr = XCR_XFEATURE_ENABLED;
		xcrs.xcrs[0].value = s->xcr0;
		if (ioctl(fd, KVM_SET_XCRS, &xcrs) < 0)
			return fail(v, "KVM_SET_XCRS");
	}
	return 0;
}

/* cpu_state only knows "shadow or not". STI blocking needs IF=1 and MOV-SS blocking is
 * the other kind; neither may be combined with HLT (VM-entry checks, SDM Vol. 3, 27.3.1.5). */
static int set_interrupt_shadow(const struct vcpu *v, int fd, const struct cpu_state *s)
{
	struct kvm_vcpu_events ev;
	bool want = s->interrupt_shadow && !s->halted;

	if (ioctl(fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return fail(v, "KVM_GET_VCPU_EVENTS");
	if ((ev.interrupt.shadow != 0) == want)
		return 0;
	ev.interrupt.shadow = !want ? 0 : (s->rflags & RFLAGS_IF) ? KVM_X86_SHADOW_INT_STI
								 : KVM_X86_SHADOW_INT_MOV_SS;
	/* Everything else goes back as read; only the shadow is marked valid. */
	ev.flags = KVM_VCPUEVENT_VALID_SHADOW;
	if (ioctl(fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return fail(v, "KVM_SET_VCPU_EVENTS");
	return 0;
}

int kvm_set_state(struct vcpu *v, const struct cpu_state *s)
{
	const struct kvm_vm_priv *kp = v->vm->engine_priv;
	struct kvm_vcpu_priv *kv = v->engine_priv;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_mp_state mp = {
		.mp_state = s->halted ? KVM_MP_STATE_HALTED : KVM_MP_STATE_RUNNABLE,
	};

	/* Read first: interrupt_bitmap (an interrupt KVM has yet to inject) is not ours. */
	if (ioctl(kv->fd, KVM_GET_SREGS, &sregs) < 0)
		return fail(v, "KVM_GET_SREGS");
	kvm_sregs_from_state(&sregs, s);
	if (ioctl(kv->fd, KVM_SET_SREGS, &sregs) < 0)
		return fail(v, "KVM_SET_SREGS");
	kvm_regs_from_state(&regs, s);
	if (ioctl(kv->fd, KVM_SET_REGS, &regs) < 0)
		return fail(v, "KVM_SET_REGS");
	if (set_msrs(v, kp, kv->fd, s) < 0)
		return -1;
	kvm_fpu_from_fxsave(&fpu, s->fxsave);
	if (ioctl(kv->fd, KVM_SET_FPU, &fpu) < 0)
		return fail(v, "KVM_SET_FPU");
	if (set_extended(v, kp, kv->fd, s) < 0)
		return -1;
	if (kp->has_vcpu_events && set_interrupt_shadow(v, kv->fd, s) < 0)
		return -1;
	if (ioctl(kv->fd, KVM_SET_MP_STATE, &mp) < 0)
		return fail(v, "KVM_SET_MP_STATE");
	kv->state_lost = false;
	return 0;
}
