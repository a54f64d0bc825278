/* bt engine: KVM hypercalls (Documentation/virt/kvm/x86/hypercalls.rst) through VMCALL, or
 * VMMCALL as KVM accepts either.
 *
 * Number in RAX, arguments in RBX, RCX, RDX, RSI, result in RAX; outside 64-bit mode only the low
 * 32 bits of each count. Ring 3 gets -KVM_EPERM, numbers vmon does not implement -KVM_ENOSYS.
 * Implemented: KVM_HC_KICK_CPU, KVM_HC_SEND_IPI and KVM_HC_SCHED_YIELD (PV_UNHALT, PV_SEND_IPI,
 * PV_SCHED_YIELD in CPUID 0x40000001). With PV_UNHALT Linux's paravirtual spinlocks halt a
 * waiting vCPU and kick it when the lock is its turn, instead of spinning while the holder's
 * thread may not even be running.
 */
#include <sched.h>

#include "engine/bt/sys/btsys.h"
#include "hw/irqchip.h"
#include "vm.h"

#define KVM_EPERM	1
#define KVM_EINVAL	22
#define KVM_ENOSYS	1000

/* Bits of the ICR value KVM_HC_SEND_IPI takes (xAPIC ICR low word). */
#define ICR_VECTOR	0xffu
#define ICR_MODE	(7u << 8)
#define ICR_MODE_FIXED	(0u << 8)
#define ICR_MODE_NMI	(4u << 8)
#define ICR_LOGICAL	(1u << 11)
#define ICR_SHORTHAND	(3u << 18)

/* KVM_HC_SEND_IPI: fixed IPI or NMI to APIC IDs min + n for each bit n of the 2 * width-bit
 * bitmap (low, high). Returns how many CPUs took it. */
static int64_t send_ipi(struct bt_cpu *cpu, uint64_t low, uint64_t high, uint32_t min,
			uint64_t icr, unsigned width)
{
	struct irqchip *chip = cpu->bvm->irqchip;
	uint64_t bitmap[2] = { low, high };
	int64_t sent = 0;

	if (!chip || (icr & (ICR_LOGICAL | ICR_SHORTHAND)) ||
	    ((icr & ICR_MODE) != ICR_MODE_FIXED && (icr & ICR_MODE) != ICR_MODE_NMI))
		return -KVM_EINVAL;
	bool nmi = (icr & ICR_MODE) == ICR_MODE_NMI;
	if (!nmi && (icr & ICR_VECTOR) < 16)
		return -KVM_EINVAL;
	for (unsigned half = 0; half < 2; half++) {
		for (uint64_t b = bitmap[half]; b; b &= b - 1) {
			uint64_t id = (uint64_t)min + half * width + (unsigned)__builtin_ctzll(b);
			if (id <= UINT32_MAX &&
			    irqchip_send_ipi(chip, cpu->vcpu->id, (uint32_t)id, nmi, (uint8_t)icr))
				sent++;
		}
	}
	return sent;
}

/* KVM_HC_SCHED_YIELD: the caller waits for the vCPU with APIC ID dest; give the host CPU away
 * so that vCPU's thread can run. */
static int64_t sched_yield_to(struct bt_cpu *cpu, uint64_t dest)
{
	if (dest >= (uint64_t)cpu->bvm->nr_cpus)
		return -KVM_EINVAL;
	sched_yield();
	return 0;
}

/* KVM_HC_KICK_CPU(flags, apic_id): wake that vCPU from its HLT and, as KVM does, give it this
 * host CPU. APIC ID = vCPU id in vmon. Always 0, as in KVM. */
static int64_t kick_cpu(struct bt_cpu *cpu, uint64_t apic_id)
{
	bt_pv_unhalt(cpu->bvm, apic_id);
	sched_yield();
	return 0;
}

void bt_op_vmcall(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t *r = cpu->s.gpr;
	bool wide = cpu->mode == BT_MODE_LONG;
	uint64_t mask = wide ? UINT64_MAX : UINT32_MAX;
	uint64_t nr = r[R_RAX] & mask;
	uint64_t a0 = r[R_RBX] & mask, a1 = r[R_RCX] & mask, a2 = r[R_RDX] & mask;
	uint64_t a3 = r[R_RSI] & mask;
	int64_t ret;

	cpu->stats.trap_other++;
	cpu->vcpu->stats.count[STAT_HYPERCALL]++;
	cpu->stats.hypercalls[nr < BT_HC_COUNTED ? nr : BT_HC_COUNTED]++;
	if (cpu->cpl != 0)
		ret = -KVM_EPERM;
	else if (nr == KVM_HC_KICK_CPU)
		ret = kick_cpu(cpu, a1);
	else if (nr == KVM_HC_SEND_IPI)
		ret = send_ipi(cpu, a0, a1, (uint32_t)a2, a3, wide ? 64 : 32);
	else if (nr == KVM_HC_SCHED_YIELD)
		ret = sched_yield_to(cpu, a0);
	else
		ret = -KVM_ENOSYS;
	r[R_RAX] = (uint64_t)ret & mask;
}
