/* bt engine CPUID: vmon's own CPU model. "GenuineIntel" family 6 model 0x3f so guests take
 * well-trodden paths; features limited to what the interpreter implements (x86-64 baseline with
 * SSE2, no SSE3+, no XSAVE, no x2APIC, no PCID/SMEP/SMAP). Hypervisor leaves 0x40000000+ announce
 * KVM's paravirtual interface, with only the features vmon implements (Documentation/virt/kvm/x86/
 * cpuid.rst): kvmclock (kvmclock.c) and the hypercalls of hypercall.c.
 */
#include <string.h>

#include "engine/bt/sys/btsys.h"
#include "hw/irqchip.h"
#include "vm.h"

#define CPUID_SIGNATURE	0x000306f2u	/* family 6, model 0x3f, stepping 2 */
#define MAX_BASIC_LEAF	7u
#define MAX_EXT_LEAF	0x80000008u

/* Leaf 1 EDX: FPU DE PSE TSC MSR PAE MCE CX8 APIC SEP MTRR PGE MCA CMOV PAT CLFSH MMX FXSR SSE
 * SSE2. MCE/MCA with no error-reporting banks (msr.c): without them Linux's generic kernel logs
 * "mce: Unable to init MCE device". */
#define LEAF1_EDX	((1u << 0) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | \
			 (1u << 7) | (1u << 8) | (1u << 9) | (1u << 11) | (1u << 12) | \
			 (1u << 13) | (1u << 14) | (1u << 15) | (1u << 16) | (1u << 19) | \
			 (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26))
#define LEAF1_EDX_HTT	(1u << 28)
#define LEAF1_EDX_APIC	(1u << 9)
/* Leaf 7 has subleaf 0 only (EAX = 0); other leaves have none, so ECX is ignored there. */
/* Leaf 7.0 EDX: IA32_ARCH_CAPABILITIES exists (msr.c: the interpreter does not speculate). */
#define LEAF7_EDX	(1u << 29)
/* Leaf 1 ECX: CX16, x2APIC (lapic.c's MSR interface), TSC-deadline (LAPIC timer mode),
 * hypervisor. */
#define LEAF1_ECX	((1u << 13) | (1u << 21) | (1u << 24) | (1u << 31))
/* 0x80000001: EDX SYSCALL NX Page1GB RDTSCP LM; ECX LAHF/SAHF in 64-bit mode. */
#define EXT1_EDX	((1u << 11) | (1u << 20) | (1u << 26) | (1u << 27) | (1u << 29))
#define EXT1_ECX	(1u << 0)
/* 0x40000001 EAX: NOP_IO_DELAY (port 0x80 delays are pointless here), CLOCKSOURCE2,
 * PV_UNHALT, PV_SEND_IPI, PV_SCHED_YIELD, CLOCKSOURCE_STABLE_BIT. */
#define KVM_FEATURES	((1u << 1) | (1u << 3) | (1u << 7) | (1u << 11) | (1u << 13) | \
			 (1u << 24))

static void str4(uint32_t r[], unsigned n, const char *s)
{
	memcpy(r, s, 4 * n);
}

void bt_cpuid(struct bt_cpu *cpu, uint32_t leaf, uint32_t r[4])
{
	int nr_cpus = cpu->bvm->nr_cpus;
	uint32_t apic_id = cpu->vcpu ? (uint32_t)cpu->vcpu->id : 0;

	r[0] = r[1] = r[2] = r[3] = 0;
	switch (leaf) {
	case 0:
		r[0] = MAX_BASIC_LEAF;
		str4(&r[1], 1, "Genu");
		str4(&r[3], 1, "ineI");
		str4(&r[2], 1, "ntel");
		break;
	case 1:
		r[0] = CPUID_SIGNATURE;
		r[1] = apic_id << 24 | (uint32_t)(nr_cpus & 0xff) << 16 | 8u << 8;
		r[2] = LEAF1_ECX;
		r[3] = LEAF1_EDX | (nr_cpus > 1 ? LEAF1_EDX_HTT : 0);
		/* IA32_APIC_BASE.EN clear: the APIC is gone, also from CPUID (SDM vol. 3, 10.4.3). */
		if (bt_lapic(cpu) && !(lapic_get_base_msr(bt_lapic(cpu)) & (1u << 11)))
			r[3] &= ~LEAF1_EDX_APIC;
		break;
	case 7:
		if ((uint32_t)cpu->s.gpr[R_RCX] == 0)
			r[3] = LEAF7_EDX;
		break;
	case 0x40000000:
		r[0] = 0x40000001;
		str4(&r[1], 3, "KVMKVMKVM\0\0\0");
		break;
	case 0x40000001:
		r[0] = KVM_FEATURES;
		break;
	case 0x80000000:
		r[0] = MAX_EXT_LEAF;
		break;
	case 0x80000001:
		r[2] = EXT1_ECX;
		r[3] = EXT1_EDX;
		break;
	case 0x80000002: case 0x80000003: case 0x80000004: {
		static const char brand[48] = "vmon virtual CPU";
		memcpy(r, brand + 16 * (leaf - 0x80000002), 16);
		break;
	}
	case 0x80000007:
		r[3] = 1u << 8;		/* invariant TSC: it follows host CLOCK_MONOTONIC */
		break;
	case 0x80000008:
		r[0] = 48u << 8 | BT_MAXPHYADDR;
		break;
	default:
		break;		/* leaves 2-6 and unknown leaves: all zero */
	}
}

void bt_op_cpuid(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint32_t r[4];

	stat_add(&cpu->stats.trap_cpuid, 1);
	bt_cpuid(cpu, (uint32_t)cpu->s.gpr[R_RAX], r);
	cpu->s.gpr[R_RAX] = r[0];
	cpu->s.gpr[R_RBX] = r[1];
	cpu->s.gpr[R_RCX] = r[2];
	cpu->s.gpr[R_RDX] = r[3];
}
