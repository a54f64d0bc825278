/* The kvm functional probe's results (engine/kvm/probe.h) without /dev/kvm: what the kvm engine
 * hides because of them, the one-line description, and their packing into the cache file. */
#include <string.h>

#include "engine/kvm/probe.h"
#include "test.h"

/* What a PVM host reported (docs/kvm.md). */
static const struct kvm_host_checks pvm = { .result = {
	[KVM_CHECK_INT3] = KVM_CHECK_EMULATED,
	[KVM_CHECK_IRETD] = KVM_CHECK_EMULATED,
	[KVM_CHECK_PAGING32] = KVM_CHECK_WRONG,
	[KVM_CHECK_SYSCALL] = KVM_CHECK_WRONG,
	[KVM_CHECK_INT_GATE_DPL] = KVM_CHECK_WRONG,
	[KVM_CHECK_REAL_IDT_LIMIT] = KVM_CHECK_WRONG,
	[KVM_CHECK_VMCALL] = KVM_CHECK_LIVELOCK,
	[KVM_CHECK_VMMCALL] = KVM_CHECK_LIVELOCK,
	[KVM_CHECK_CX16] = KVM_CHECK_EMULATED,
} };

static void all(struct kvm_host_checks *c, enum kvm_check_result r)
{
	memset(c, 0, sizeof(*c));
	for (int k = 0; k < KVM_CHECK_NR; k++)
		c->result[k] = (uint8_t)r;
}

TEST(kvm_probe_describes_a_software_kvm)
{
	char buf[KVM_CHECKS_DESCRIBE_MAX];

	kvm_host_checks_describe(&pvm, buf, sizeof(buf));
	CHECK(strcmp(buf, "software KVM: emulated by vmon: INT3 at CPL 0, IRETD at CPL 0, "
		     "CMPXCHG16B; wrong: non-PAE paging, SYSCALL from ring 3, INT n via a DPL 0 "
		     "gate, real-mode IDT limit; livelock: VMCALL, VMMCALL; PV hypercalls hidden") == 0);
	CHECK(kvm_checks_hide_pv_hypercalls(&pvm));
	CHECK(!kvm_checks_hide_cx16(&pvm));		/* the fallback runs it */
}

TEST(kvm_probe_says_nothing_when_everything_works)
{
	struct kvm_host_checks c;
	char buf[KVM_CHECKS_DESCRIBE_MAX];

	all(&c, KVM_CHECK_WORKS);
	kvm_host_checks_describe(&c, buf, sizeof(buf));
	CHECK_EQ(buf[0], 0);
	CHECK(!kvm_checks_hide_pv_hypercalls(&c));
	CHECK(!kvm_checks_hide_cx16(&c));
	c.result[KVM_CHECK_CX16] = KVM_CHECK_WRONG;
	c.result[KVM_CHECK_VMMCALL] = KVM_CHECK_WRONG;
	kvm_host_checks_describe(&c, buf, sizeof(buf));
	CHECK(strcmp(buf, "software KVM: wrong: VMMCALL, CMPXCHG16B; PV hypercalls hidden; "
		     "CX16 hidden") == 0);
	/* A short buffer: cut, terminated. */
	kvm_host_checks_describe(&pvm, buf, 20);
	CHECK_EQ(strlen(buf), 19);
}

TEST(kvm_probe_results_round_trip_the_cache)
{
	struct kvm_host_checks c;
	uint64_t v = kvm_checks_pack(&pvm);

	CHECK(v != 0);
	CHECK_EQ(kvm_checks_unpack(v, &c), 0);
	CHECK(memcmp(c.result, pvm.result, sizeof(c.result)) == 0);
	CHECK_EQ(kvm_checks_unpack(0, &c), -1);				/* never probed */
	CHECK_EQ(kvm_checks_unpack(v & ~7ull, &c), -1);			/* unknown result */
	CHECK_EQ(kvm_checks_unpack(v | 1ull << 40, &c), -1);		/* bits past the checks */
	CHECK_EQ(kvm_checks_unpack(v & ~(1ull << 63), &c), -1);		/* no "probed" mark */
	all(&c, 7);
	CHECK_EQ(kvm_checks_unpack(kvm_checks_pack(&c), &c), -1);	/* results out of range */
}

TEST(kvm_probe_names)
{
	CHECK(strcmp(kvm_check_name(KVM_CHECK_VMCALL), "vmcall") == 0);
	CHECK(strcmp(kvm_check_name(KVM_CHECK_SYSCALL), "syscall-ring3") == 0);
	CHECK(strcmp(kvm_check_result_name(KVM_CHECK_LIVELOCK), "livelock") == 0);
	CHECK(strcmp(kvm_check_result_name(99), "unknown") == 0);
}
