/* The kvm engine's snapshot checks that need no /dev/kvm: what a file may hand to
 * KVM_SET_IRQCHIP, KVM_SET_PIT2, KVM_SET_VCPU_EVENTS and KVM_SET_MP_STATE. */
#include <string.h>

#include "engine/kvm/kvm_priv.h"
#include "snapshot/state.h"
#include "test.h"

TEST(kvm_save_pic_state_checked)
{
	struct kvm_pic_state p;

	memset(&p, 0, sizeof(p));
	p.irq_base = 0x20;
	p.priority_add = 7;
	p.init_state = 3;
	p.auto_eoi = 1;
	CHECK(kvm_pic_state_valid(&p));
	p.irq_base = 0x21;				/* ICW2 keeps only bits 7:3 */
	CHECK(!kvm_pic_state_valid(&p));
	p.irq_base = 0x20;
	p.priority_add = 8;
	CHECK(!kvm_pic_state_valid(&p));
	p.priority_add = 0;
	p.init_state = 4;
	CHECK(!kvm_pic_state_valid(&p));
	p.init_state = 0;
	p.special_fully_nested_mode = 2;		/* a flag */
	CHECK(!kvm_pic_state_valid(&p));
}

TEST(kvm_save_pit_channel_checked)
{
	struct kvm_pit_channel_state c;

	memset(&c, 0, sizeof(c));
	c.count = 0x10000;
	c.mode = 2;
	c.rw_mode = 3;
	c.read_state = c.write_state = 4;
	c.gate = 1;
	CHECK(kvm_pit_channel_valid(&c));
	c.mode = 0xff;					/* never programmed */
	CHECK(kvm_pit_channel_valid(&c));
	c.mode = 6;
	CHECK(!kvm_pit_channel_valid(&c));
	c.mode = 2;
	c.count = 0x10001;
	CHECK(!kvm_pit_channel_valid(&c));
	c.count = 1;
	c.write_state = 5;
	CHECK(!kvm_pit_channel_valid(&c));
	c.write_state = 1;
	c.bcd = 2;
	CHECK(!kvm_pit_channel_valid(&c));
}

TEST(kvm_save_mp_state_checked)
{
	CHECK(kvm_mp_state_valid(KVM_MP_STATE_RUNNABLE));
	CHECK(kvm_mp_state_valid(KVM_MP_STATE_HALTED));
	CHECK(kvm_mp_state_valid(KVM_MP_STATE_INIT_RECEIVED));
	CHECK(!kvm_mp_state_valid(KVM_MP_STATE_STOPPED));	/* s390 */
	CHECK(!kvm_mp_state_valid(0xffffffffu));
}

/* kvm_events_save then kvm_events_load of e: whether it loads, into *out. */
static bool round_trip(const struct kvm_vcpu_events *e, struct kvm_vcpu_events *out)
{
	struct state_out o = { 0 };

	kvm_events_save(e, &o);
	struct state_in in = { .p = o.buf, .len = o.len };
	bool ok = kvm_events_load(out, &in) && state_in_ok(&in);
	state_out_free(&o);
	return ok;
}

TEST(kvm_save_events_round_trip)
{
	struct kvm_vcpu_events e, got;

	memset(&e, 0, sizeof(e));
	e.exception.injected = 1;
	e.exception.nr = 14;
	e.exception.has_error_code = 1;
	e.exception.error_code = 0x6;
	e.interrupt.injected = 1;
	e.interrupt.nr = 0x20;
	e.interrupt.shadow = KVM_X86_SHADOW_INT_STI;
	e.nmi.pending = 1;
	e.nmi.masked = 1;
	e.sipi_vector = 0x9a;
	CHECK(round_trip(&e, &got));
	CHECK_EQ(got.exception.nr, 14);
	CHECK_EQ(got.exception.error_code, 0x6);
	CHECK_EQ(got.interrupt.nr, 0x20);
	CHECK_EQ(got.interrupt.shadow, KVM_X86_SHADOW_INT_STI);
	CHECK_EQ(got.nmi.masked, 1);
	CHECK_EQ(got.sipi_vector, 0x9a);
	/* Only what the section carries is marked valid: the SMM state stays KVM's. */
	CHECK_EQ(got.flags, KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
			    KVM_VCPUEVENT_VALID_SHADOW);

	e.exception.nr = 32;				/* not an exception vector */
	CHECK(!round_trip(&e, &got));
	e.exception.nr = 13;
	e.interrupt.soft = 2;
	CHECK(!round_trip(&e, &got));
	e.interrupt.soft = 0;
	e.sipi_vector = 0x100;
	CHECK(!round_trip(&e, &got));
}

TEST(kvm_save_events_short_section)
{
	struct kvm_vcpu_events e;
	const uint8_t bytes[5] = { 0 };
	struct state_in in = { .p = bytes, .len = sizeof(bytes) };

	kvm_events_load(&e, &in);
	CHECK(in.bad);
}
