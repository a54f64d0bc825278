/* bt engine model-specific registers: RDMSR/WRMSR and the guest TSC.
 *
 * MSRs of features vmon's CPUID does not advertise fault with #GP(0), as on such a CPU.
 * MTRRs and PAT are stored only (all guest memory is write-back to the interpreter).
 * The KVM paravirtual clock MSRs are kvmclock.c's.
 */
#include "engine/bt/sys/btsys.h"
#include "hw/irqchip.h"

#define MSR_IA32_PLATFORM_ID	0x17
#define MSR_IA32_UCODE_REV	0x8b
/* Machine-check architecture with no banks: nothing can report an error, MCG_STATUS stays 0. */
#define MSR_IA32_MCG_CAP	0x179
#define MSR_IA32_MCG_STATUS	0x17a
#define MSR_IA32_ARCH_CAPABILITIES	0x10a
/* The interpreter executes nothing speculatively and has no fill buffers, store buffers,
 * branch predictors or microcode assists to leak from: RDCL_NO, SSB_NO, MDS_NO, PSCHANGE_MC_NO,
 * TAA_NO, SBDR_SSDP_NO, FBSDP_NO, PSDP_NO, BHI_NO, PBRSB_NO, GDS_NO, RFDS_NO, ITS_NO. So Linux
 * needs neither page-table isolation (a CR3 write per kernel entry) nor return thunks. */
#define ARCH_CAP_VALUE	((1ull << 0) | (1ull << 4) | (1ull << 5) | (1ull << 6) | (1ull << 8) | \
			 (1ull << 13) | (1ull << 14) | (1ull << 15) | (1ull << 20) | \
			 (1ull << 24) | (1ull << 26) | (1ull << 27) | (1ull << 62))
#define MTRR_CAP_VALUE		(MTRR_VAR_COUNT | 1u << 8 | 1u << 10)	/* fixed, WC */

uint64_t bt_guest_tsc(struct bt_cpu *cpu)
{
	return guest_tsc_from_ns(bt_vm_clock_now(cpu)) + (uint64_t)bt_vcpu_of(cpu)->tsc_offset;
}

/* The LAPIC counts TSC deadlines on the process-wide TSC (clock.c); this vCPU's TSC is offset
 * from it (its start, WRMSR TSC). 0 stays "disarmed"; a deadline before the process-wide TSC's
 * zero is already due. */
static uint64_t deadline_to_lapic(struct bt_cpu *cpu, uint64_t guest_tsc)
{
	int64_t off = bt_vcpu_of(cpu)->tsc_offset;
	uint64_t t = guest_tsc - (uint64_t)off;

	if (!guest_tsc)
		return 0;
	if (off > 0 && guest_tsc <= (uint64_t)off)
		return 1;		/* before the process-wide zero: due now */
	if (off < 0 && t < guest_tsc)
		return UINT64_MAX;	/* beyond the process-wide TSC's range: never */
	return t;
}

static uint64_t deadline_from_lapic(struct bt_cpu *cpu, uint64_t tsc)
{
	return tsc ? tsc + (uint64_t)bt_vcpu_of(cpu)->tsc_offset : 0;
}

/* Index into cpu_state.mtrr_fixed for the fixed-range MTRR msr, or -1. */
static int mtrr_fixed_index(uint32_t msr)
{
	if (msr == MSR_MTRRfix64K_00000)
		return 0;
	if (msr == MSR_MTRRfix16K_80000 || msr == MSR_MTRRfix16K_A0000)
		return 1 + (int)(msr - MSR_MTRRfix16K_80000);
	if (msr >= MSR_MTRRfix4K_C0000 && msr < MSR_MTRRfix4K_C0000 + 8)
		return 3 + (int)(msr - MSR_MTRRfix4K_C0000);
	return -1;
}

static bool valid_mem_type(unsigned t)
{
	return t == 0 || t == 1 || t == 4 || t == 5 || t == 6;
}

bool bt_msr_read(struct bt_cpu *cpu, uint32_t msr, uint64_t *val)
{
	struct cpu_state *s = &cpu->s;
	int k = mtrr_fixed_index(msr);

	if (k >= 0) {
		*val = s->mtrr_fixed[k];
		return true;
	}
	if (msr >= MSR_MTRRphysBase0 && msr < MSR_MTRRphysBase0 + 2 * MTRR_VAR_COUNT) {
		*val = s->mtrr_var[msr - MSR_MTRRphysBase0];
		return true;
	}
	if (msr >= 0x800 && msr <= 0x8ff)
		return bt_lapic(cpu) && lapic_msr_read(bt_lapic(cpu), msr, val);

	switch (msr) {
	case MSR_IA32_TSC:		*val = bt_guest_tsc(cpu); break;
	case MSR_IA32_PLATFORM_ID:	*val = 0; break;
	case MSR_IA32_UCODE_REV:	*val = 0; break;
	case MSR_IA32_MCG_CAP:		*val = 0; break;
	case MSR_IA32_MCG_STATUS:	*val = 0; break;
	case MSR_IA32_ARCH_CAPABILITIES: *val = ARCH_CAP_VALUE; break;
	case MSR_IA32_APIC_BASE:	*val = bt_lapic(cpu) ? lapic_get_base_msr(bt_lapic(cpu)) : s->apic_base; break;
	case MSR_IA32_FEATURE_CONTROL:	*val = 1; break;	/* locked, no VMX */
	case MSR_IA32_SYSENTER_CS:	*val = s->sysenter_cs; break;
	case MSR_IA32_SYSENTER_ESP:	*val = s->sysenter_esp; break;
	case MSR_IA32_SYSENTER_EIP:	*val = s->sysenter_eip; break;
	case MSR_IA32_MISC_ENABLE:	*val = s->misc_enable; break;
	case MSR_MTRRcap:		*val = MTRR_CAP_VALUE; break;
	case MSR_IA32_CR_PAT:		*val = s->pat; break;
	case MSR_MTRRdefType:		*val = s->mtrr_def_type; break;
	case MSR_IA32_TSC_DEADLINE:
		*val = bt_lapic(cpu) ? deadline_from_lapic(cpu, lapic_get_tsc_deadline(bt_lapic(cpu))) : 0;
		break;
	case MSR_EFER:			*val = s->efer; break;
	case MSR_STAR:			*val = s->star; break;
	case MSR_LSTAR:			*val = s->lstar; break;
	case MSR_CSTAR:			*val = s->cstar; break;
	case MSR_SFMASK:		*val = s->sfmask; break;
	case MSR_FS_BASE:		*val = s->seg[S_FS].base; break;
	case MSR_GS_BASE:		*val = s->seg[S_GS].base; break;
	case MSR_KERNEL_GS_BASE:	*val = s->kernel_gs_base; break;
	case MSR_TSC_AUX:		*val = s->tsc_aux; break;
	case MSR_KVM_WALL_CLOCK_NEW:	*val = s->kvm_wall_clock; break;
	case MSR_KVM_SYSTEM_TIME_NEW:	*val = s->kvm_system_time; break;
	default:
		return false;
	}
	return true;
}

void bt_apic_moved(struct bt_cpu *cpu)
{
	struct lapic *l = bt_lapic(cpu);
	uint64_t base = l ? lapic_get_base_msr(l) : 0;
	uint64_t page = (base & (1u << 11)) && !(base & (1u << 10)) ? base & BT_PHYS_MASK & ~0xfffull : 0;
	struct bt_vcpu *bv = bt_vcpu_of(cpu);

	page = page == LAPIC_DEFAULT_BASE ? 0 : page;
	if (page != bv->apic_page) {
		bv->apic_page = page;
		bt_tlb_flush(cpu, true);	/* RAM entries of the page must go through MMIO */
	}
}

static bool write_efer(struct bt_cpu *cpu, uint64_t val)
{
	struct cpu_state *s = &cpu->s;

	if (val & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE))
		return false;
	/* LME cannot change while paging is on; LMA is read-only (kept as is). */
	if ((s->cr0 & CR0_PG) && ((val ^ s->efer) & EFER_LME))
		return false;
	val = (val & ~EFER_LMA) | (s->efer & EFER_LMA);
	bool nxe_changed = (val ^ s->efer) & EFER_NXE;
	s->efer = val;
	if (nxe_changed)
		bt_tlb_flush(cpu, true);
	return true;
}

bool bt_msr_write(struct bt_cpu *cpu, uint32_t msr, uint64_t val)
{
	struct cpu_state *s = &cpu->s;
	int k = mtrr_fixed_index(msr);

	if (k >= 0) {
		for (unsigned b = 0; b < 64; b += 8)
			if (!valid_mem_type((val >> b) & 0xff))
				return false;
		s->mtrr_fixed[k] = val;
		return true;
	}
	if (msr >= MSR_MTRRphysBase0 && msr < MSR_MTRRphysBase0 + 2 * MTRR_VAR_COUNT) {
		bool is_mask = (msr - MSR_MTRRphysBase0) & 1;
		uint64_t rsvd = ~BT_PHYS_MASK | (is_mask ? 0x7ff : 0xf00);
		if ((val & rsvd) || (!is_mask && !valid_mem_type(val & 0xff)))
			return false;
		s->mtrr_var[msr - MSR_MTRRphysBase0] = val;
		return true;
	}
	if (msr >= 0x800 && msr <= 0x8ff)
		return bt_lapic(cpu) && lapic_msr_write(bt_lapic(cpu), msr, val);

	switch (msr) {
	case MSR_IA32_TSC:
		bt_vcpu_of(cpu)->tsc_offset = (int64_t)(val - guest_tsc_from_ns(bt_vm_clock_now(cpu)));
		bt_kvmclock_publish(cpu);
		return true;
	case MSR_IA32_UCODE_REV:
		return true;
	case MSR_IA32_APIC_BASE:
		/* x2APIC is offered (CPUID.1:ECX bit 21). */
		if ((val >> BT_MAXPHYADDR) ||
		    !lapic_base_msr_valid(bt_lapic(cpu) ? lapic_get_base_msr(bt_lapic(cpu)) : s->apic_base,
					  val, true))
			return false;
		if (bt_lapic(cpu))
			lapic_set_base_msr(bt_lapic(cpu), val);
		s->apic_base = val;
		bt_apic_moved(cpu);
		return true;
	case MSR_IA32_SYSENTER_CS:	s->sysenter_cs = val & 0xffff; return true;
	case MSR_IA32_SYSENTER_ESP:
	case MSR_IA32_SYSENTER_EIP:
	case MSR_LSTAR:
	case MSR_CSTAR:
	case MSR_KERNEL_GS_BASE:
		if (!bt_canonical(val))
			return false;
		switch (msr) {
		case MSR_IA32_SYSENTER_ESP:	s->sysenter_esp = val; break;
		case MSR_IA32_SYSENTER_EIP:	s->sysenter_eip = val; break;
		case MSR_LSTAR:			s->lstar = val; break;
		case MSR_CSTAR:			s->cstar = val; break;
		default:			s->kernel_gs_base = val; break;
		}
		return true;
	case MSR_FS_BASE:
	case MSR_GS_BASE:
		if (!bt_canonical(val))
			return false;
		s->seg[msr == MSR_FS_BASE ? S_FS : S_GS].base = val;
		return true;
	case MSR_IA32_MISC_ENABLE:	s->misc_enable = val; return true;
	case MSR_IA32_MCG_STATUS:	return val == 0;	/* no machine check in progress */
	case MSR_IA32_CR_PAT:
		for (unsigned b = 0; b < 64; b += 8)
			if (((val >> b) & 0xff) > 7 || ((val >> b) & 0xff) == 2 || ((val >> b) & 0xff) == 3)
				return false;
		s->pat = val;
		return true;
	case MSR_MTRRdefType:
		if ((val & ~0xcffull) || !valid_mem_type(val & 0xff))
			return false;
		s->mtrr_def_type = val;
		return true;
	case MSR_IA32_TSC_DEADLINE:
		if (bt_lapic(cpu))
			lapic_set_tsc_deadline(bt_lapic(cpu), deadline_to_lapic(cpu, val));
		return true;
	case MSR_EFER:			return write_efer(cpu, val);
	case MSR_STAR:			s->star = val; return true;
	case MSR_SFMASK:		s->sfmask = val & 0xffffffffull; return true;
	case MSR_TSC_AUX:
		if (val >> 32)
			return false;
		s->tsc_aux = val;
		return true;
	case MSR_KVM_WALL_CLOCK_NEW:	bt_kvmclock_set_wall_clock(cpu, val); return true;
	case MSR_KVM_SYSTEM_TIME_NEW:	bt_kvmclock_set_system_time(cpu, val); return true;
	default:
		return false;
	}
}

void bt_op_rdmsr(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t val;

	bt_require_cpl0(cpu);
	stat_add(&cpu->stats.trap_msr, 1);
	if (!bt_msr_read(cpu, (uint32_t)cpu->s.gpr[R_RCX], &val))
		bt_raise(cpu, EXC_GP, 0);
	cpu->s.gpr[R_RAX] = val & 0xffffffffull;
	cpu->s.gpr[R_RDX] = val >> 32;
}

void bt_op_wrmsr(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t val = (cpu->s.gpr[R_RDX] << 32) | (cpu->s.gpr[R_RAX] & 0xffffffffull);

	bt_require_cpl0(cpu);
	stat_add(&cpu->stats.trap_msr, 1);
	if (!bt_msr_write(cpu, (uint32_t)cpu->s.gpr[R_RCX], val))
		bt_raise(cpu, EXC_GP, 0);
	cpu->end_block = true;
}
