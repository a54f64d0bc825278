/* bt engine: the KVM paravirtual clock (kvmclock, Documentation/virt/kvm/x86/msr.rst).
 *
 * The guest names a page-internal area of its RAM through MSR_KVM_SYSTEM_TIME_NEW; vmon writes a
 * struct pvclock_vcpu_time_info there that converts the vCPU's TSC into nanoseconds since the VM
 * started. The guest TSC ticks at exactly GUEST_TSC_HZ off host CLOCK_MONOTONIC, so one
 * publication stays exact: it is redone only when the TSC <-> time relation changes (a write of
 * IA32_TSC, a set_state). "Time" is VM-wide (guest_tsc_from_ns without the vCPU's TSC offset), so
 * kvmclock agrees across vCPUs even when their TSCs do not: PVCLOCK_TSC_STABLE_BIT holds.
 *
 * MSR_KVM_WALL_CLOCK_NEW makes vmon write struct pvclock_wall_clock: the host's wall-clock time at
 * kvmclock time 0. As in KVM, an area outside RAM (or misaligned, or crossing a page) is not
 * written, but the MSR keeps the value the guest wrote.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "engine/bt/sys/btsys.h"
#include "hw/irqchip.h"
#include "vm.h"

#define KVM_SYSTEM_TIME_ENABLE	1ull
#define PVCLOCK_TSC_STABLE_BIT	(1u << 0)
#define NS_PER_SEC		1000000000ull

/* struct pvclock_vcpu_time_info (32 bytes) and struct pvclock_wall_clock (12 bytes); both start
 * with the u32 version. */
enum {
	PVTI_PAD0 = 4, PVTI_TSC_TIMESTAMP = 8, PVTI_SYSTEM_TIME = 16, PVTI_MUL = 24,
	PVTI_SHIFT = 28, PVTI_FLAGS = 29, PVTI_SIZE = 32,
};
enum { WALL_SEC = 4, WALL_NSEC = 8, WALL_SIZE = 12 };

void pvclock_scale_for(uint64_t hz, uint32_t *mul, int8_t *shift)
{
	/* ns = ((tsc << shift) * mul) >> 32: choose shift with 1e9 < hz * 2^shift <= 2e9, so that
	 * mul = 2^32 * 1e9 / (hz * 2^shift) is in [2^31, 2^32) and keeps the most precision. */
	int s = 0;
	unsigned __int128 f = hz;
	unsigned __int128 lim = 2 * NS_PER_SEC;

	while (f > lim) {		/* compare hz / 2^-s with 2e9 without losing hz's low bits */
		lim <<= 1;
		s--;
	}
	while ((f << (s > 0 ? s : 0)) <= NS_PER_SEC)
		s++;
	unsigned __int128 num = (unsigned __int128)NS_PER_SEC << 32;
	unsigned __int128 den = hz;
	if (s >= 0)
		den <<= s;
	else
		num <<= -s;
	*mul = (uint32_t)(num / den);
	*shift = (int8_t)s;
}

uint64_t pvclock_scale(uint64_t delta, uint32_t mul, int8_t shift)
{
	if (shift < 0)
		delta >>= -shift;
	else
		delta <<= shift;
	return (uint64_t)(((unsigned __int128)delta * mul) >> 32);
}

/* Host pointer to the len-byte area at gpa if the guest may have it written: in RAM, 4-byte
 * aligned, within one page. The page's decoded code (if any) is invalidated. */
static uint8_t *guest_area(struct bt_cpu *cpu, uint64_t gpa, unsigned len)
{
	if ((gpa & 3) || (gpa & (BT_PAGE - 1)) > BT_PAGE - len)
		return NULL;
	uint8_t *p = gpa_to_hva(&cpu->vm->mem, gpa, len);
	if (p) {
		bt_code_written(cpu->bvm, gpa & ~(uint64_t)(BT_PAGE - 1));
		bt_dirty_host(cpu, p);
	}
	return p;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* The guest may read the area on another vCPU meanwhile: an odd version tells it to retry. */
static uint32_t begin_update(uint8_t *p)
{
	uint32_t version;

	memcpy(&version, p, 4);
	version |= 1;
	put32(p, version);
	atomic_thread_fence(memory_order_seq_cst);
	return version;
}

static void end_update(uint8_t *p, uint32_t version)
{
	atomic_thread_fence(memory_order_seq_cst);
	put32(p, version + 1);
}

/* kvmclock time (ns) for VM-wide TSC value vm_tsc. */
static uint64_t system_time_of(uint64_t vm_tsc)
{
	uint32_t mul;
	int8_t shift;

	pvclock_scale_for(GUEST_TSC_HZ, &mul, &shift);
	return pvclock_scale(vm_tsc, mul, shift);
}

void bt_kvmclock_publish(struct bt_cpu *cpu)
{
	uint64_t msr = cpu->s.kvm_system_time;

	if (!(msr & KVM_SYSTEM_TIME_ENABLE))
		return;
	uint8_t *p = guest_area(cpu, msr & ~KVM_SYSTEM_TIME_ENABLE, PVTI_SIZE);
	if (!p)
		return;
	uint64_t vm_tsc = guest_tsc_from_ns(bt_vm_clock_now(cpu));
	uint32_t mul;
	int8_t shift;

	pvclock_scale_for(GUEST_TSC_HZ, &mul, &shift);
	uint32_t version = begin_update(p);
	put64(p + PVTI_TSC_TIMESTAMP, vm_tsc + (uint64_t)bt_vcpu_of(cpu)->tsc_offset);
	put64(p + PVTI_SYSTEM_TIME, system_time_of(vm_tsc));
	put32(p + PVTI_MUL, mul);
	p[PVTI_SHIFT] = (uint8_t)shift;
	p[PVTI_FLAGS] = PVCLOCK_TSC_STABLE_BIT;
	p[PVTI_FLAGS + 1] = p[PVTI_FLAGS + 2] = 0;
	put32(p + PVTI_PAD0, 0);
	end_update(p, version);
}

void bt_kvmclock_set_system_time(struct bt_cpu *cpu, uint64_t val)
{
	cpu->s.kvm_system_time = val;
	bt_kvmclock_publish(cpu);
}

void bt_kvmclock_set_wall_clock(struct bt_cpu *cpu, uint64_t val)
{
	cpu->s.kvm_wall_clock = val;
	uint8_t *p = guest_area(cpu, val, WALL_SIZE);
	if (!p)
		return;

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = bt_vm_clock_now(cpu);
	uint64_t wall = (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
	uint64_t since_boot = system_time_of(guest_tsc_from_ns(now));
	uint64_t boot = wall > since_boot ? wall - since_boot : 0;

	uint32_t version = begin_update(p);
	put32(p + WALL_SEC, (uint32_t)(boot / NS_PER_SEC));
	put32(p + WALL_NSEC, (uint32_t)(boot % NS_PER_SEC));
	end_update(p, version);
}
