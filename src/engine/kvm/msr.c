/* The MSRs that belong to struct cpu_state, as KVM_GET_MSRS / KVM_SET_MSRS entries.
 *
 * EFER, APIC_BASE and the FS/GS bases travel in kvm_sregs instead; everything here is
 * transferred only if the host KVM saves it (KVM_GET_MSR_INDEX_LIST), except the MTRRs,
 * which KVM always emulates but does not list.
 */
#include <stddef.h>
#include <string.h>

#include "engine/kvm/kvm_priv.h"

struct msr_field {
	uint32_t index;
	size_t off;		/* of a uint64_t in struct cpu_state */
	bool unlisted;		/* emulated by KVM without being in the index list */
};

#define FIELD(idx, member)	{ idx, offsetof(struct cpu_state, member), false }
#define MTRR(idx, member)	{ idx, offsetof(struct cpu_state, member), true }

static const struct msr_field msr_fields[] = {
	FIELD(MSR_IA32_SYSENTER_CS, sysenter_cs),
	FIELD(MSR_IA32_SYSENTER_ESP, sysenter_esp),
	FIELD(MSR_IA32_SYSENTER_EIP, sysenter_eip),
	FIELD(MSR_STAR, star),
	FIELD(MSR_LSTAR, lstar),
	FIELD(MSR_CSTAR, cstar),
	FIELD(MSR_SFMASK, sfmask),
	FIELD(MSR_KERNEL_GS_BASE, kernel_gs_base),
	FIELD(MSR_IA32_TSC, tsc),
	FIELD(MSR_TSC_AUX, tsc_aux),
	FIELD(MSR_IA32_CR_PAT, pat),
	FIELD(MSR_IA32_MISC_ENABLE, misc_enable),
	FIELD(MSR_KVM_SYSTEM_TIME_NEW, kvm_system_time),
	FIELD(MSR_KVM_WALL_CLOCK_NEW, kvm_wall_clock),
	MTRR(MSR_MTRRdefType, mtrr_def_type),
	MTRR(MSR_MTRRfix64K_00000, mtrr_fixed[0]),
	MTRR(MSR_MTRRfix16K_80000, mtrr_fixed[1]),
	MTRR(MSR_MTRRfix16K_A0000, mtrr_fixed[2]),
	MTRR(MSR_MTRRfix4K_C0000 + 0, mtrr_fixed[3]),
	MTRR(MSR_MTRRfix4K_C0000 + 1, mtrr_fixed[4]),
	MTRR(MSR_MTRRfix4K_C0000 + 2, mtrr_fixed[5]),
	MTRR(MSR_MTRRfix4K_C0000 + 3, mtrr_fixed[6]),
	MTRR(MSR_MTRRfix4K_C0000 + 4, mtrr_fixed[7]),
	MTRR(MSR_MTRRfix4K_C0000 + 5, mtrr_fixed[8]),
	MTRR(MSR_MTRRfix4K_C0000 + 6, mtrr_fixed[9]),
	MTRR(MSR_MTRRfix4K_C0000 + 7, mtrr_fixed[10]),
	MTRR(MSR_MTRRphysBase0 + 0, mtrr_var[0]),
	MTRR(MSR_MTRRphysBase0 + 1, mtrr_var[1]),
	MTRR(MSR_MTRRphysBase0 + 2, mtrr_var[2]),
	MTRR(MSR_MTRRphysBase0 + 3, mtrr_var[3]),
	MTRR(MSR_MTRRphysBase0 + 4, mtrr_var[4]),
	MTRR(MSR_MTRRphysBase0 + 5, mtrr_var[5]),
	MTRR(MSR_MTRRphysBase0 + 6, mtrr_var[6]),
	MTRR(MSR_MTRRphysBase0 + 7, mtrr_var[7]),
	MTRR(MSR_MTRRphysBase0 + 8, mtrr_var[8]),
	MTRR(MSR_MTRRphysBase0 + 9, mtrr_var[9]),
	MTRR(MSR_MTRRphysBase0 + 10, mtrr_var[10]),
	MTRR(MSR_MTRRphysBase0 + 11, mtrr_var[11]),
	MTRR(MSR_MTRRphysBase0 + 12, mtrr_var[12]),
	MTRR(MSR_MTRRphysBase0 + 13, mtrr_var[13]),
	MTRR(MSR_MTRRphysBase0 + 14, mtrr_var[14]),
	MTRR(MSR_MTRRphysBase0 + 15, mtrr_var[15]),
};

#define NR_FIELDS ((int)(sizeof(msr_fields) / sizeof(msr_fields[0])))

_Static_assert(sizeof(msr_fields) / sizeof(msr_fields[0]) <= KVM_MSR_MAX,
	       "KVM_MSR_MAX too small for the cpu_state MSRs");

/* IA32_MISC_ENABLE fast strings; MTRRs enabled, default type write-back. */
#define MISC_ENABLE_FAST_STRING	1ull
#define MTRR_DEF_ENABLE_WB	0x806ull

static const struct kvm_msr_entry boot_values[] = {
	{ .index = MSR_IA32_SYSENTER_CS },
	{ .index = MSR_IA32_SYSENTER_ESP },
	{ .index = MSR_IA32_SYSENTER_EIP },
	{ .index = MSR_STAR },
	{ .index = MSR_LSTAR },
	{ .index = MSR_CSTAR },
	{ .index = MSR_SFMASK },
	{ .index = MSR_KERNEL_GS_BASE },
	{ .index = MSR_IA32_TSC },
	{ .index = MSR_IA32_MISC_ENABLE, .data = MISC_ENABLE_FAST_STRING },
	{ .index = MSR_MTRRdefType, .data = MTRR_DEF_ENABLE_WB },
};

static const struct msr_field *field_of(uint32_t index)
{
	for (int i = 0; i < NR_FIELDS; i++)
		if (msr_fields[i].index == index)
			return &msr_fields[i];
	return NULL;
}

int kvm_msr_select(const uint32_t *supported, int nr_supported, uint32_t out[KVM_MSR_MAX])
{
	int n = 0;

	for (int i = 0; i < NR_FIELDS; i++) {
		bool ok = msr_fields[i].unlisted;

		for (int j = 0; j < nr_supported && !ok; j++)
			ok = supported[j] == msr_fields[i].index;
		if (ok)
			out[n++] = msr_fields[i].index;
	}
	return n;
}

void kvm_msrs_from_state(struct kvm_msr_entry *e, const uint32_t *idx, int n,
			 const struct cpu_state *s)
{
	for (int i = 0; i < n; i++) {
		const struct msr_field *f = field_of(idx[i]);

		memset(&e[i], 0, sizeof(e[i]));
		e[i].index = idx[i];
		if (f)
			memcpy(&e[i].data, (const char *)s + f->off, sizeof(e[i].data));
	}
}

void kvm_msrs_to_state(struct cpu_state *s, const struct kvm_msr_entry *e, int n)
{
	for (int i = 0; i < n; i++) {
		const struct msr_field *f = field_of(e[i].index);

		if (f)
			memcpy((char *)s + f->off, &e[i].data, sizeof(e[i].data));
	}
}

int kvm_msrs_boot(struct kvm_msr_entry *e, const uint32_t *idx, int n)
{
	int nr = 0;

	for (size_t b = 0; b < sizeof(boot_values) / sizeof(boot_values[0]); b++)
		for (int i = 0; i < n; i++)
			if (idx[i] == boot_values[b].index)
				e[nr++] = boot_values[b];
	return nr;
}
