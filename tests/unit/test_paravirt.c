/* bt engine paravirtual interface: KVM CPUID leaves, kvmclock MSRs, hypercalls. */
#include <string.h>

#include "bt_fixture.h"
#include "hw/irqchip.h"
#include "test.h"

#define KVMCLOCK_GPA	0x3000ull
#define WALL_GPA	0x3040ull

TEST(paravirt_cpuid_leaves)
{
	struct bt_test *t = bt_test_new();
	uint32_t r[4];
	char sig[13] = { 0 };

	bt_cpuid(t->cpu, 0x40000000, r);
	CHECK_EQ(r[0], 0x40000001);
	memcpy(sig, &r[1], 12);
	CHECK(memcmp(sig, "KVMKVMKVM\0\0\0", 12) == 0);
	bt_cpuid(t->cpu, 0x40000001, r);
	CHECK(r[0] & (1u << 3));	/* CLOCKSOURCE2 */
	CHECK(r[0] & (1u << 24));	/* CLOCKSOURCE_STABLE_BIT */
	CHECK(r[0] & (1u << 11));	/* PV_SEND_IPI */
	CHECK(!(r[0] & (1u << 9)));	/* no PV_UNHALT: KVM_HC_KICK_CPU is not implemented */
	bt_cpuid(t->cpu, 0x80000007, r);
	CHECK(r[3] & (1u << 8));	/* invariant TSC */
	bt_test_free(t);
}

TEST(paravirt_pvclock_scale)
{
	uint32_t mul;
	int8_t shift;

	pvclock_scale_for(2000000000ull, &mul, &shift);
	CHECK_EQ(mul, 1u << 31);
	CHECK_EQ(shift, 0);
	CHECK_EQ(pvclock_scale(2000000000ull, mul, shift), 1000000000ull);
	pvclock_scale_for(1000000000ull, &mul, &shift);
	CHECK_EQ(shift, 1);
	CHECK_EQ(pvclock_scale(12345, mul, shift), 12345);
	pvclock_scale_for(3000000000ull, &mul, &shift);
	CHECK_EQ(shift, -1);
	uint64_t ns = pvclock_scale(3000000000ull, mul, shift);
	CHECK(ns >= 999999999ull && ns <= 1000000000ull);
	pvclock_scale_for(10000000ull, &mul, &shift);	/* 10 MHz: 100 ns a tick */
	CHECK_EQ(shift, 7);
	ns = pvclock_scale(1000, mul, shift);
	CHECK(ns >= 99999 && ns <= 100000);
}

static int wrmsr(struct bt_test *t, uint32_t msr, uint64_t val)
{
	struct bt_insn i = { .len = 2 };

	t->cpu->s.gpr[R_RCX] = msr;
	t->cpu->s.gpr[R_RAX] = val & 0xffffffffull;
	t->cpu->s.gpr[R_RDX] = val >> 32;
	return bt_test_op(t, bt_op_wrmsr, &i);
}

/* The MSR's value, or ~0 if RDMSR faulted. */
static uint64_t rdmsr(struct bt_test *t, uint32_t msr)
{
	struct bt_insn i = { .len = 2 };

	t->cpu->s.gpr[R_RCX] = msr;
	if (bt_test_op(t, bt_op_rdmsr, &i) != -1)
		return ~0ull;
	return t->cpu->s.gpr[R_RAX] | t->cpu->s.gpr[R_RDX] << 32;
}

TEST(paravirt_kvmclock)
{
	struct bt_test *t = bt_test_new();

	bt_test_prot32(t, 0);
	bt_test_put(t, KVMCLOCK_GPA, 4, 6);	/* a version the guest left there */
	CHECK_EQ(wrmsr(t, MSR_KVM_SYSTEM_TIME_NEW, KVMCLOCK_GPA | 1), -1);
	CHECK_EQ(rdmsr(t, MSR_KVM_SYSTEM_TIME_NEW), KVMCLOCK_GPA | 1);
	uint32_t version = (uint32_t)bt_test_get(t, KVMCLOCK_GPA, 4);
	CHECK(version > 6 && !(version & 1));
	uint64_t tsc_ts = bt_test_get(t, KVMCLOCK_GPA + 8, 8);
	uint64_t sys = bt_test_get(t, KVMCLOCK_GPA + 16, 8);
	CHECK_EQ(bt_test_get(t, KVMCLOCK_GPA + 24, 4), 1u << 31);	/* 2 GHz TSC */
	CHECK_EQ(bt_test_get(t, KVMCLOCK_GPA + 28, 1), 0);		/* shift */
	CHECK_EQ(bt_test_get(t, KVMCLOCK_GPA + 29, 1), 1);		/* TSC_STABLE */
	/* The vCPU's TSC started at 0 at creation; kvmclock counts from the VM's start. */
	CHECK(tsc_ts <= bt_guest_tsc(t->cpu));
	CHECK(sys >= tsc_ts / 2);

	/* A TSC write changes the TSC <-> time relation: republished, time unchanged. */
	CHECK_EQ(wrmsr(t, MSR_IA32_TSC, 1ull << 40), -1);
	CHECK_EQ(bt_test_get(t, KVMCLOCK_GPA, 4), version + 2);
	CHECK(bt_test_get(t, KVMCLOCK_GPA + 8, 8) >= 1ull << 40);
	CHECK(bt_test_get(t, KVMCLOCK_GPA + 16, 8) >= sys);

	/* Disabled: the area is left alone. */
	CHECK_EQ(wrmsr(t, MSR_KVM_SYSTEM_TIME_NEW, KVMCLOCK_GPA), -1);
	CHECK_EQ(bt_test_get(t, KVMCLOCK_GPA, 4), version + 2);

	/* Hostile addresses are kept in the MSRs but never written: outside RAM, misaligned,
	 * crossing a page, in the MMIO hole. */
	static const uint64_t bad[] = { BT_TEST_RAM - 4, 0x4002, 0x4ffc, BT_TEST_MMIO,
					1ull << 39, ~1ull };
	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		CHECK_EQ(wrmsr(t, MSR_KVM_SYSTEM_TIME_NEW, bad[k] | 1), -1);
		CHECK_EQ(rdmsr(t, MSR_KVM_SYSTEM_TIME_NEW), bad[k] | 1);
		CHECK_EQ(wrmsr(t, MSR_KVM_WALL_CLOCK_NEW, bad[k]), -1);
		CHECK_EQ(rdmsr(t, MSR_KVM_WALL_CLOCK_NEW), bad[k]);
	}
	CHECK_EQ(bt_test_get(t, 0x4000, 4), 0);
	CHECK_EQ(bt_test_get(t, 0x4ffc, 4), 0);
	CHECK_EQ(bt_test_get(t, BT_TEST_RAM - 4, 4), 0);
	CHECK_EQ(t->mmio_writes, 0);
	/* 32 bytes from 0x5ff0 cross into the next page (the 12-byte wall clock would fit). */
	CHECK_EQ(wrmsr(t, MSR_KVM_SYSTEM_TIME_NEW, 0x5ff0 | 1), -1);
	CHECK_EQ(bt_test_get(t, 0x5ff0, 8), 0);

	/* Wall clock: the host's time of day at kvmclock 0 (some time after 2020). */
	CHECK_EQ(wrmsr(t, MSR_KVM_WALL_CLOCK_NEW, WALL_GPA), -1);
	CHECK_EQ(rdmsr(t, MSR_KVM_WALL_CLOCK_NEW), WALL_GPA);
	CHECK_EQ(bt_test_get(t, WALL_GPA, 4), 2);
	CHECK(bt_test_get(t, WALL_GPA + 4, 4) > 1577836800u);
	CHECK(bt_test_get(t, WALL_GPA + 8, 4) < 1000000000u);
	bt_test_free(t);
}

/* VMCALL with nr and args (RBX, RCX, RDX, RSI); returns RAX, or 0xdead if VMCALL faulted. */
static uint64_t hypercall(struct bt_test *t, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2,
			  uint64_t a3)
{
	struct bt_insn i = { .len = 3 };
	uint64_t *r = t->cpu->s.gpr;

	r[R_RAX] = nr;
	r[R_RBX] = a0;
	r[R_RCX] = a1;
	r[R_RDX] = a2;
	r[R_RSI] = a3;
	return bt_test_op(t, bt_op_vmcall, &i) == -1 ? r[R_RAX] : 0xdead;
}

TEST(paravirt_hypercalls)
{
	struct bt_test *t = bt_test_new();

	bt_test_long64(t, 0, 0);
	CHECK_EQ(hypercall(t, 9999, 0, 0, 0, 0), (uint64_t)-1000);	/* -KVM_ENOSYS */
	CHECK_EQ(hypercall(t, 1ull << 32 | KVM_HC_SCHED_YIELD, 0, 0, 0, 0), (uint64_t)-1000);
	CHECK_EQ(hypercall(t, KVM_HC_SCHED_YIELD, 0, 0, 0, 0), 0);
	CHECK_EQ(hypercall(t, KVM_HC_SCHED_YIELD, 1, 0, 0, 0), (uint64_t)-22);	/* no such CPU */
	/* No irqchip in this fixture: nobody to send an IPI to. */
	CHECK_EQ(hypercall(t, KVM_HC_SEND_IPI, 1, 0, 0, 0x30), (uint64_t)-22);
	CHECK_EQ(t->cpu->stats.hypercalls[KVM_HC_SCHED_YIELD], 2);
	CHECK_EQ(t->cpu->stats.hypercalls[BT_HC_COUNTED], 2);
	CHECK_EQ(t->vcpu.stats.count[STAT_HYPERCALL], 5);

	/* Outside 64-bit mode only the low halves count, and the result is 32 bits. */
	bt_test_prot32(t, 0);
	CHECK_EQ(hypercall(t, 1ull << 32 | KVM_HC_SCHED_YIELD, 1ull << 32, 0, 0, 0), 0);
	CHECK_EQ(hypercall(t, 12345, 0, 0, 0, 0), 0xfffffc18);

	/* Ring 3: -KVM_EPERM, whatever the number. */
	bt_test_long64(t, 3, 0);
	CHECK_EQ(hypercall(t, KVM_HC_SCHED_YIELD, 0, 0, 0, 0), (uint64_t)-1);
	bt_test_free(t);
}

static void no_kick(void *opaque, int cpu)
{
}

TEST(paravirt_send_ipi)
{
	struct bt_test *t = bt_test_new();
	struct irqchip *chip = irqchip_create(&t->vm, 3, no_kick, NULL);
	uint64_t svr = 0x1ff;

	t->bvm.irqchip = chip;
	bt_test_long64(t, 0, 0);
	for (int cpu = 1; cpu < 3; cpu++) {	/* software-enable the LAPICs of CPUs 1 and 2 */
		irqchip_set_current_cpu(cpu);
		bus_access(&t->vm.mmio, LAPIC_DEFAULT_BASE + 0xf0, 4, true, &svr);
	}
	irqchip_set_current_cpu(0);

	/* APIC IDs 1 and 2 from bits 0 and 1 with min 1; ID 1 + 64 (high half) does not exist. */
	CHECK_EQ(hypercall(t, KVM_HC_SEND_IPI, 3, 1, 1, 0x40), 2);
	CHECK_EQ(irqchip_pending(chip, 1), 0x40);
	CHECK_EQ(irqchip_pending(chip, 2), 0x40);
	/* APIC ID 0 is software-disabled: nobody takes it; min + bit past 32 bits is no CPU. */
	CHECK_EQ(hypercall(t, KVM_HC_SEND_IPI, 1, 0, 0, 0x41), 0);
	CHECK_EQ(hypercall(t, KVM_HC_SEND_IPI, 1ull << 63, 0, 0xffffffffull, 0x41), 0);
	/* Illegal vector, logical destination, shorthand, INIT: -KVM_EINVAL. */
	CHECK_EQ(hypercall(t, KVM_HC_SEND_IPI, 2, 0, 0, 0x0f), (uint64_t)-22);
	CHECK_EQ(hypercall(t, KVM_HC_SEND_IPI, 2, 0, 0, 0x800 | 0x40), (uint64_t)-22);
	CHECK_EQ(hypercall(t, KVM_HC_SEND_IPI, 2, 0, 0, 0xc0000 | 0x40), (uint64_t)-22);
	CHECK_EQ(hypercall(t, KVM_HC_SEND_IPI, 2, 0, 0, 0x500), (uint64_t)-22);
	/* NMI: the vector field is ignored. */
	CHECK_EQ(hypercall(t, KVM_HC_SEND_IPI, 2, 0, 0, 0x400), 1);
	CHECK(irqchip_take_nmi(chip, 1));

	irqchip_destroy(chip);
	bt_test_free(t);
}
