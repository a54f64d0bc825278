/* CPUID seen by a guest vCPU: KVM's supported set with our topology written in.
 *
 * vmon presents nr_cpus single-threaded cores in one package, x2APIC ID = APIC ID = vcpu id,
 * in Intel's leaves (1, 4, 0xB, 0x1F) and, on AMD hosts, in AMD's (0x80000001 CmpLegacy,
 * 0x80000008 core count, 0x8000001D caches, 0x8000001E IDs): left as KVM reports them, they
 * describe the host's topology, and Linux splits the vCPUs into packages of the host's size.
 * Features a VMM cannot back safely (MONITOR/MWAIT, nested VMX/SVM) are hidden, and the
 * HYPERVISOR bit is set so guests pick their paravirtual paths.
 */
#include <string.h>

#include "engine/kvm/kvm_priv.h"

#define CPUID1_ECX_MONITOR	(1u << 3)
#define CPUID1_ECX_VMX		(1u << 5)
#define CPUID1_ECX_CX16		(1u << 13)
#define CPUID1_ECX_OSXSAVE	(1u << 27)	/* mirrors CR4.OSXSAVE; KVM keeps it current */
#define CPUID1_ECX_HYPERVISOR	(1u << 31)
#define CPUID1_EDX_HTT		(1u << 28)
#define CPUID81_ECX_CMP_LEGACY	(1u << 1)	/* AMD: leaf 1's logical count counts cores */
#define CPUID81_ECX_SVM		(1u << 2)
#define CPUID88_ECX_NC		0xffu		/* AMD: cores per package - 1 */
#define CPUID88_ECX_APIC_ID_SIZE (0xfu << 12)	/* AMD: APIC ID bits that number the core */

/* Leaf 0xB / 0x1F level types (ECX[15:8]). */
#define TOPO_LEVEL_SMT		1u
#define TOPO_LEVEL_CORE		2u

static unsigned int ceil_log2(unsigned int n)
{
	unsigned int bits = 0;

	while (bits < 31 && (1u << bits) < n)
		bits++;
	return bits;
}

static void filter_leaf1(struct kvm_cpuid_entry2 *e, unsigned int id, unsigned int cpus)
{
	/* EBX: [31:24] initial APIC ID, [23:16] addressable logical IDs, [15:8] CLFLUSH size. */
	e->ebx = (e->ebx & 0x0000ff00u) | (cpus << 16) | (id << 24);
	e->ecx &= ~(CPUID1_ECX_MONITOR | CPUID1_ECX_VMX | CPUID1_ECX_OSXSAVE);
	e->ecx |= CPUID1_ECX_HYPERVISOR;
	if (cpus > 1)
		e->edx |= CPUID1_EDX_HTT;
	else
		e->edx &= ~CPUID1_EDX_HTT;
}

/* Who shares a cache (EAX[25:14] of leaf 4 and of AMD's 0x8000001D): one thread per core, so
 * L1/L2 are private and the last level is package-wide. EAX[4:0] = 0 ends the list. */
static void filter_cache_sharing(struct kvm_cpuid_entry2 *e, unsigned int cpus)
{
	unsigned int level = (e->eax >> 5) & 7;

	if ((e->eax & 0x1f) == 0)
		return;
	e->eax &= ~(0xfffu << 14);
	if (level >= 3)
		e->eax |= (cpus - 1) << 14;
}

/* Deterministic cache parameters: cores per package too. */
static void filter_leaf4(struct kvm_cpuid_entry2 *e, unsigned int cpus)
{
	if ((e->eax & 0x1f) == 0)	/* no more caches */
		return;
	e->eax &= ~(0x3fu << 26);
	e->eax |= (cpus - 1) << 26;
	filter_cache_sharing(e, cpus);
}

static void filter_amd_ext81(struct kvm_cpuid_entry2 *e, unsigned int cpus)
{
	if (cpus > 1)
		e->ecx |= CPUID81_ECX_CMP_LEGACY;
	else
		e->ecx &= ~CPUID81_ECX_CMP_LEGACY;
}

static void filter_amd_ext88(struct kvm_cpuid_entry2 *e, unsigned int cpus)
{
	e->ecx &= ~(CPUID88_ECX_NC | CPUID88_ECX_APIC_ID_SIZE);
	e->ecx |= (cpus - 1) | ceil_log2(cpus) << 12;
}

/* Extended APIC ID, compute unit = core (one thread each), node 0 of one. */
static void filter_amd_ids(struct kvm_cpuid_entry2 *e, unsigned int id)
{
	e->eax = id;
	e->ebx = id;
	e->ecx = 0;
	e->edx = 0;
}

/* Extended topology: SMT level of one thread, core level of all vCPUs. */
static void filter_topology(struct kvm_cpuid_entry2 *e, unsigned int id, unsigned int cpus)
{
	switch (e->index) {
	case 0:
		e->eax = 0;
		e->ebx = 1;
		e->ecx = TOPO_LEVEL_SMT << 8;
		break;
	case 1:
		e->eax = ceil_log2(cpus);
		e->ebx = cpus;
		e->ecx = TOPO_LEVEL_CORE << 8 | 1;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index & 0xff;	/* level type 0: end of the list */
		break;
	}
	e->edx = id;
}

bool kvm_cpuid_vendor_amd(const struct kvm_cpuid_entry2 *e, int nent)
{
	char vendor[12];

	for (int i = 0; i < nent; i++) {
		if (e[i].function != 0)
			continue;
		/* The vendor string is EBX, EDX, ECX. */
		memcpy(vendor, &e[i].ebx, 4);
		memcpy(vendor + 4, &e[i].edx, 4);
		memcpy(vendor + 8, &e[i].ecx, 4);
		return memcmp(vendor, "AuthenticAMD", 12) == 0 ||
		       memcmp(vendor, "HygonGenuine", 12) == 0;
	}
	return false;
}

void kvm_cpuid_filter(struct kvm_cpuid_entry2 *e, int nent, int vcpu_id, int nr_cpus)
{
	unsigned int id = (unsigned int)vcpu_id & 0xff;
	unsigned int cpus = nr_cpus < 1 ? 1 : nr_cpus > 64 ? 64 : (unsigned int)nr_cpus;
	bool amd = kvm_cpuid_vendor_amd(e, nent);

	for (int i = 0; i < nent; i++) {
		switch (e[i].function) {
		case 1:
			filter_leaf1(&e[i], id, cpus);
			break;
		case 4:
			filter_leaf4(&e[i], cpus);
			break;
		case 5:		/* MONITOR/MWAIT parameters, meaningless once hidden */
			e[i].eax = e[i].ebx = e[i].ecx = e[i].edx = 0;
			break;
		case 0xb:
		case 0x1f:
			filter_topology(&e[i], id, cpus);
			break;
		case 0x80000001:
			e[i].ecx &= ~CPUID81_ECX_SVM;
			if (amd)
				filter_amd_ext81(&e[i], cpus);
			break;
		case 0x80000008:
			if (amd)
				filter_amd_ext88(&e[i], cpus);
			break;
		case 0x8000000a:	/* SVM revision and features, likewise */
			e[i].eax = e[i].ebx = e[i].ecx = e[i].edx = 0;
			break;
		case 0x8000001d:
			if (amd)
				filter_cache_sharing(&e[i], cpus);
			break;
		case 0x8000001e:
			if (amd)
				filter_amd_ids(&e[i], id);
			break;
		default:	/* includes KVM's 0x40000000/0x40000001, kept as reported */
			break;
		}
	}
}

void kvm_cpuid_hide(struct kvm_cpuid_entry2 *e, int nent, uint32_t pv_features, bool cx16)
{
	for (int i = 0; i < nent; i++) {
		if (e[i].function == 0x40000001)
			e[i].eax &= ~pv_features;
		if (e[i].function == 1 && cx16)
			e[i].ecx &= ~CPUID1_ECX_CX16;
	}
}
