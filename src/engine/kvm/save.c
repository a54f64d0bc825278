/* The kvm engine's snapshot sections: what lives in the kernel besides struct cpu_state.
 *
 *   "kvm-pic"      both in-kernel 8259As (KVM_GET/SET_IRQCHIP)
 *   "kvm-ioapic"   the in-kernel IOAPIC (KVM_GET/SET_IRQCHIP)
 *   "kvm-pit"      the in-kernel PIT (KVM_GET/SET_PIT2); KVM restarts each counter from the
 *                  saved count when it is set
 *   "kvm-clock"    kvmclock (KVM_GET/SET_CLOCK): like the TSC (an MSR of cpu_state) it
 *                  continues from the paused source, so the guest sees no jump
 *   "kvm-cpu<N>"   per vCPU: the LAPIC page, pending exception/interrupt/NMI and SIPI vector
 *                  (KVM_GET/SET_VCPU_EVENTS), MP state (halted, an AP waiting for INIT/SIPI),
 *                  the TSC-deadline MSR (after the LAPIC: KVM ignores it unless the LVT timer
 *                  is in deadline mode) and the XSAVE area (AVX and later state)
 *
 * The kernel structures go field by field; the LAPIC page and the XSAVE area are hardware
 * formats and go as bytes. Everything is checked before KVM sees it (values KVM's models switch
 * on or index with); what only KVM can judge (XSAVE feature bits) makes its ioctl fail, which
 * refuses the section. Loaded in file order after the "cpu<N>" sections (SREGS set the APIC
 * base before the LAPIC page arrives).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "engine/kvm/kvm_priv.h"
#include "snapshot/state.h"
#include "util/log.h"
#include "vm.h"

#define MSR_IA32_TSC_DEADLINE	0x6e0
#define KVM_XSAVE_BYTES		((uint32_t)sizeof(struct kvm_xsave))
#define PIT_MODE_UNSET		0xff	/* a channel the guest never programmed (KVM's reset) */
#define PIT_RW_STATE_MAX	4	/* RW_STATE_WORD1 */
#define PIT_FLAGS_KNOWN		0x3u	/* HPET_LEGACY, SPEAKER_DATA_ON */

/* Why a save could not read its state: one line on stderr, and the snapshot fails. */
static void save_failed(struct state_out *o, const char *what)
{
	o->err = errno ? errno : EIO;
	vmon_log("kvm: %s: %s", what, strerror(o->err));
}

static int load_failed(const char *what)
{
	vmon_log("kvm: %s: %s", what, strerror(errno));
	return -1;
}

/* ---- PIC pair ------------------------------------------------------------------------------ */

/* Every field of struct kvm_pic_state but elcr_mask (the chipset's, never the file's). */
#define PIC_FIELDS(X) \
	X(last_irr) X(irr) X(imr) X(isr) X(priority_add) X(irq_base) X(read_reg_select) \
	X(poll) X(special_mask) X(init_state) X(auto_eoi) X(rotate_on_auto_eoi) \
	X(special_fully_nested_mode) X(init4) X(elcr)

static int get_chip(int vm_fd, uint32_t id, struct kvm_irqchip *chip)
{
	memset(chip, 0, sizeof(*chip));
	chip->chip_id = id;
	return ioctl(vm_fd, KVM_GET_IRQCHIP, chip);
}

static void pic_save(void *opaque, struct state_out *o)
{
	struct kvm_vm_priv *kp = opaque;
	struct kvm_irqchip chip;

	for (uint32_t id = KVM_IRQCHIP_PIC_MASTER; id <= KVM_IRQCHIP_PIC_SLAVE; id++) {
		if (get_chip(kp->vm_fd, id, &chip) < 0) {
			save_failed(o, "KVM_GET_IRQCHIP");
			return;
		}
#define PUT(f) state_put_u8(o, chip.chip.pic.f);
		PIC_FIELDS(PUT)
#undef PUT
	}
}

bool kvm_pic_state_valid(const struct kvm_pic_state *p)
{
	const uint8_t flags[] = { p->read_reg_select, p->poll, p->special_mask, p->auto_eoi,
				  p->rotate_on_auto_eoi, p->special_fully_nested_mode, p->init4 };

	for (size_t i = 0; i < sizeof(flags); i++)
		if (flags[i] > 1)
			return false;
	/* init_state counts ICW2..ICW4 still expected; irq_base is ICW2's vector base. */
	return p->priority_add <= 7 && p->init_state <= 3 && (p->irq_base & 7) == 0;
}

static int pic_load(void *opaque, struct state_in *in)
{
	struct kvm_vm_priv *kp = opaque;
	struct kvm_irqchip chip[2];

	for (uint32_t id = KVM_IRQCHIP_PIC_MASTER; id <= KVM_IRQCHIP_PIC_SLAVE; id++) {
		struct kvm_pic_state *p = &chip[id].chip.pic;

		if (get_chip(kp->vm_fd, id, &chip[id]) < 0)
			return load_failed("KVM_GET_IRQCHIP");
#define GET(f) p->f = state_get_u8(in);
		PIC_FIELDS(GET)
#undef GET
		p->elcr &= p->elcr_mask;
		if (!kvm_pic_state_valid(p))
			return -1;
	}
	if (!state_in_ok(in))
		return -1;
	for (int i = 0; i < 2; i++)
		if (ioctl(kp->vm_fd, KVM_SET_IRQCHIP, &chip[i]) < 0)
			return load_failed("KVM_SET_IRQCHIP");
	return 0;
}

/* ---- IOAPIC -------------------------------------------------------------------------------- */

static void ioapic_save(void *opaque, struct state_out *o)
{
	struct kvm_vm_priv *kp = opaque;
	struct kvm_irqchip chip;

	if (get_chip(kp->vm_fd, KVM_IRQCHIP_IOAPIC, &chip) < 0) {
		save_failed(o, "KVM_GET_IRQCHIP");
		return;
	}
	state_put_u32(o, chip.chip.ioapic.ioregsel);
	state_put_u32(o, chip.chip.ioapic.id);
	state_put_u32(o, chip.chip.ioapic.irr);
	for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		state_put_u64(o, chip.chip.ioapic.redirtbl[i].bits);
}

static int ioapic_load(void *opaque, struct state_in *in)
{
	struct kvm_vm_priv *kp = opaque;
	struct kvm_irqchip chip;
	struct kvm_ioapic_state *s = &chip.chip.ioapic;

	/* The base address is the machine's, not the file's. */
	if (get_chip(kp->vm_fd, KVM_IRQCHIP_IOAPIC, &chip) < 0)
		return load_failed("KVM_GET_IRQCHIP");
	s->ioregsel = state_get_u32(in);
	s->id = state_get_u32(in);
	s->irr = state_get_u32(in);
	for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		s->redirtbl[i].bits = state_get_u64(in);
	/* IOREGSEL and the ID are 8-bit registers; one IRR bit per pin. */
	if (!state_in_ok(in) || s->ioregsel > 0xff || s->id > 0xff ||
	    s->irr >> KVM_IOAPIC_NUM_PINS)
		return -1;
	if (ioctl(kp->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
		return load_failed("KVM_SET_IRQCHIP");
	return 0;
}

/* ---- PIT ----------------------------------------------------------------------------------- */

/* The u8 fields of struct kvm_pit_channel_state; count_load_time is the host's clock, which
 * KVM resets when it loads the counts. */
#define PIT_U8_FIELDS(X) \
	X(count_latched) X(status_latched) X(status) X(read_state) X(write_state) \
	X(write_latch) X(rw_mode) X(mode) X(bcd) X(gate)

static void pit_save(void *opaque, struct state_out *o)
{
	struct kvm_vm_priv *kp = opaque;
	struct kvm_pit_state2 pit;

	if (ioctl(kp->vm_fd, KVM_GET_PIT2, &pit) < 0) {
		save_failed(o, "KVM_GET_PIT2");
		return;
	}
	for (int i = 0; i < 3; i++) {
		const struct kvm_pit_channel_state *c = &pit.channels[i];

		state_put_u32(o, c->count);
		state_put_u16(o, c->latched_count);
#define PUT(f) state_put_u8(o, c->f);
		PIT_U8_FIELDS(PUT)
#undef PUT
	}
	state_put_u32(o, pit.flags);
}

bool kvm_pit_channel_valid(const struct kvm_pit_channel_state *c)
{
	return c->count <= 0x10000 && c->count_latched <= PIT_RW_STATE_MAX &&
	       c->status_latched <= 1 && c->read_state <= PIT_RW_STATE_MAX &&
	       c->write_state <= PIT_RW_STATE_MAX && c->rw_mode <= 3 &&
	       (c->mode <= 5 || c->mode == PIT_MODE_UNSET) && c->bcd <= 1 && c->gate <= 1;
}

static int pit_load(void *opaque, struct state_in *in)
{
	struct kvm_vm_priv *kp = opaque;
	struct kvm_pit_state2 pit;

	memset(&pit, 0, sizeof(pit));
	for (int i = 0; i < 3; i++) {
		struct kvm_pit_channel_state *c = &pit.channels[i];

		c->count = state_get_u32(in);
		c->latched_count = state_get_u16(in);
#define GET(f) c->f = state_get_u8(in);
		PIT_U8_FIELDS(GET)
#undef GET
		if (!kvm_pit_channel_valid(c))
			return -1;
	}
	pit.flags = state_get_u32(in);
	if (!state_in_ok(in) || pit.flags & ~PIT_FLAGS_KNOWN)
		return -1;
	if (ioctl(kp->vm_fd, KVM_SET_PIT2, &pit) < 0)
		return load_failed("KVM_SET_PIT2");
	return 0;
}

/* ---- kvmclock ------------------------------------------------------------------------------ */

static void clock_save(void *opaque, struct state_out *o)
{
	struct kvm_vm_priv *kp = opaque;
	struct kvm_clock_data clock;

	memset(&clock, 0, sizeof(clock));
	if (ioctl(kp->vm_fd, KVM_GET_CLOCK, &clock) < 0) {
		save_failed(o, "KVM_GET_CLOCK");
		return;
	}
	state_put_u64(o, clock.clock);
}

static int clock_load(void *opaque, struct state_in *in)
{
	struct kvm_vm_priv *kp = opaque;
	struct kvm_clock_data clock;

	memset(&clock, 0, sizeof(clock));
	clock.clock = state_get_u64(in);
	if (!state_in_ok(in))
		return -1;
	if (ioctl(kp->vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return load_failed("KVM_SET_CLOCK");
	return 0;
}

/* ---- per vCPU ------------------------------------------------------------------------------ */

void kvm_events_save(const struct kvm_vcpu_events *e, struct state_out *o)
{
	const uint8_t b[] = {
		e->exception.injected, e->exception.nr, e->exception.has_error_code,
		e->exception.pending, e->interrupt.injected, e->interrupt.nr, e->interrupt.soft,
		e->interrupt.shadow, e->nmi.injected, e->nmi.pending, e->nmi.masked,
	};

	state_put(o, b, sizeof(b));
	state_put_u32(o, e->exception.error_code);
	state_put_u32(o, e->sipi_vector);
}

bool kvm_events_load(struct kvm_vcpu_events *e, struct state_in *in)
{
	uint8_t b[11];			/* as kvm_events_save lists them */

	state_get(in, b, sizeof(b));
	memset(e, 0, sizeof(*e));
	e->exception.injected = b[0];
	e->exception.nr = b[1];
	e->exception.has_error_code = b[2];
	e->exception.pending = b[3];
	e->interrupt.injected = b[4];
	e->interrupt.nr = b[5];
	e->interrupt.soft = b[6];
	e->interrupt.shadow = b[7];
	e->nmi.injected = b[8];
	e->nmi.pending = b[9];
	e->nmi.masked = b[10];
	e->exception.error_code = state_get_u32(in);
	e->sipi_vector = state_get_u32(in);
	/* The SMM state is left as KVM has it (vmon guests never enter SMM). */
	e->flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
		   KVM_VCPUEVENT_VALID_SHADOW;
	const uint8_t flags[] = { e->exception.injected, e->exception.has_error_code,
				  e->exception.pending, e->interrupt.injected, e->interrupt.soft,
				  e->nmi.injected, e->nmi.masked };
	for (size_t i = 0; i < sizeof(flags); i++)
		if (flags[i] > 1)
			return false;
	return e->exception.nr < 32 && e->interrupt.shadow <= 3 && e->sipi_vector <= 0xff;
}

bool kvm_mp_state_valid(uint32_t s)
{
	return s == KVM_MP_STATE_RUNNABLE || s == KVM_MP_STATE_UNINITIALIZED ||
	       s == KVM_MP_STATE_INIT_RECEIVED || s == KVM_MP_STATE_HALTED ||
	       s == KVM_MP_STATE_SIPI_RECEIVED;
}

static int tsc_deadline(int fd, unsigned long req, uint64_t *val)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = 1;
	m.e.index = MSR_IA32_TSC_DEADLINE;
	m.e.data = *val;
	int done = ioctl(fd, req, &m);

	if (done != 1) {
		if (done >= 0)
			errno = EINVAL;	/* KVM refused the MSR */
		return -1;
	}
	*val = m.e.data;
	return 0;
}

/* The kernel's per-vCPU state besides cpu_state. */
struct kvm_vcpu_extra {
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	struct kvm_mp_state mp;
	struct kvm_xsave xsave;
	uint64_t deadline;
};

/* Returns NULL, or the ioctl that failed. */
static const char *vcpu_read(const struct kvm_vm_priv *kp, int fd, struct kvm_vcpu_extra *x)
{
	memset(x, 0, sizeof(*x));
	if (ioctl(fd, KVM_GET_LAPIC, &x->lapic) < 0)
		return "KVM_GET_LAPIC";
	if (ioctl(fd, KVM_GET_MP_STATE, &x->mp) < 0)
		return "KVM_GET_MP_STATE";
	if (kp->has_vcpu_events && ioctl(fd, KVM_GET_VCPU_EVENTS, &x->ev) < 0)
		return "KVM_GET_VCPU_EVENTS";
	if (tsc_deadline(fd, KVM_GET_MSRS, &x->deadline) < 0)
		return "KVM_GET_MSRS (TSC deadline)";
	if (kp->has_xsave && ioctl(fd, KVM_GET_XSAVE, &x->xsave) < 0)
		return "KVM_GET_XSAVE";
	return NULL;
}

static void vcpu_save(void *opaque, struct state_out *o)
{
	struct vcpu *v = opaque;
	const struct kvm_vm_priv *kp = v->vm->engine_priv;
	const struct kvm_vcpu_priv *kv = v->engine_priv;
	struct kvm_vcpu_extra x;
	const char *failed = vcpu_read(kp, kv->fd, &x);

	if (failed) {
		save_failed(o, failed);
		return;
	}
	state_put(o, x.lapic.regs, sizeof(x.lapic.regs));
	state_put_u32(o, x.mp.mp_state);
	kvm_events_save(&x.ev, o);
	state_put_u64(o, x.deadline);
	state_put_u32(o, kp->has_xsave ? KVM_XSAVE_BYTES : 0);
	if (kp->has_xsave)
		state_put(o, x.xsave.region, sizeof(x.xsave.region));
}

static int vcpu_load(void *opaque, struct state_in *in)
{
	struct vcpu *v = opaque;
	const struct kvm_vm_priv *kp = v->vm->engine_priv;
	const struct kvm_vcpu_priv *kv = v->engine_priv;
	struct kvm_vcpu_extra x;

	memset(&x, 0, sizeof(x));
	state_get(in, x.lapic.regs, sizeof(x.lapic.regs));
	x.mp.mp_state = state_get_u32(in);
	bool events_ok = kvm_events_load(&x.ev, in);
	x.deadline = state_get_u64(in);
	/* This host's XSAVE support must be the snapshot's. */
	if (state_get_u32(in) != (kp->has_xsave ? KVM_XSAVE_BYTES : 0))
		return -1;
	if (kp->has_xsave)
		state_get(in, x.xsave.region, sizeof(x.xsave.region));
	if (!state_in_ok(in) || !events_ok || !kvm_mp_state_valid(x.mp.mp_state))
		return -1;

	if (ioctl(kv->fd, KVM_SET_LAPIC, &x.lapic) < 0)
		return load_failed("KVM_SET_LAPIC");
	if (kp->has_xsave && ioctl(kv->fd, KVM_SET_XSAVE, &x.xsave) < 0)
		return load_failed("KVM_SET_XSAVE");
	if (kp->has_vcpu_events && ioctl(kv->fd, KVM_SET_VCPU_EVENTS, &x.ev) < 0)
		return load_failed("KVM_SET_VCPU_EVENTS");
	if (ioctl(kv->fd, KVM_SET_MP_STATE, &x.mp) < 0)
		return load_failed("KVM_SET_MP_STATE");
	if (tsc_deadline(kv->fd, KVM_SET_MSRS, &x.deadline) < 0)
		return load_failed("KVM_SET_MSRS (TSC deadline)");
	return 0;
}

int kvm_register_vm_state(struct vm *vm)
{
	struct kvm_vm_priv *kp = vm->engine_priv;

	if (vm_register_state(vm, "kvm-pic", pic_save, pic_load, kp) < 0 ||
	    vm_register_state(vm, "kvm-ioapic", ioapic_save, ioapic_load, kp) < 0 ||
	    vm_register_state(vm, "kvm-pit", pit_save, pit_load, kp) < 0 ||
	    vm_register_state(vm, "kvm-clock", clock_save, clock_load, kp) < 0)
		return -1;
	return 0;
}

int kvm_register_vcpu_state(struct vcpu *v)
{
	char name[VM_STATE_NAME_LEN];

	snprintf(name, sizeof(name), "kvm-cpu%u", (uint8_t)v->id);
	return vm_register_state(v->vm, name, vcpu_save, vcpu_load, v);
}
