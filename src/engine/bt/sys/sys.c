/* bt engine privileged and sensitive instructions: control and debug registers, RFLAGS
 * (CLI/STI/PUSHF/POPF), HLT, TSC, cache control and the instructions vmon turns into #UD
 * (VMCALL is in hypercall.c).
 *
 * Debug registers: MOV to and from them here, the breakpoints they arm in debug.c. PCID, SMEP, SMAP, UMIP, FSGSBASE, OSXSAVE are not advertised, so
 * setting their CR4 bits faults.
 */
#include "engine/bt/sys/btsys.h"
#include "hw/irqchip.h"
#include "vm.h"

void bt_require_cpl0(struct bt_cpu *cpu)
{
	if (cpu->cpl != 0)
		bt_raise(cpu, EXC_GP, 0);
}

/* ---- Control registers --------------------------------------------------------------------- */

#define CR4_SUPPORTED	(CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | CR4_PCE | \
			 CR4_OSFXSR | CR4_OSXMMEXCPT)

static void write_cr0(struct bt_cpu *cpu, uint64_t val)
{
	struct cpu_state *s = &cpu->s;

	if (val >> 32)
		bt_raise(cpu, EXC_GP, 0);
	if (((val & CR0_PG) && !(val & CR0_PE)) || ((val & CR0_NW) && !(val & CR0_CD)))
		bt_raise(cpu, EXC_GP, 0);
	val |= CR0_ET;
	uint64_t efer = s->efer;
	if ((val & CR0_PG) && !(s->cr0 & CR0_PG) && (efer & EFER_LME)) {
		/* Entering IA-32e mode: needs PAE and must not run from a 64-bit CS. */
		if (!(s->cr4 & CR4_PAE) || (s->seg[S_CS].attr & SEG_L))
			bt_raise(cpu, EXC_GP, 0);
		efer |= EFER_LMA;
	} else if (!(val & CR0_PG) && (s->cr0 & CR0_PG) && (efer & EFER_LMA)) {
		if (cpu->mode == BT_MODE_LONG)
			bt_raise(cpu, EXC_GP, 0);
		efer &= ~EFER_LMA;
	}
	uint64_t changed = s->cr0 ^ val;
	s->cr0 = val;
	s->efer = efer;
	if (changed & (CR0_PG | CR0_WP | CR0_PE))
		bt_tlb_flush(cpu, true);
	bt_update_mode(cpu);
	cpu->end_block = true;
}

static void write_cr3(struct bt_cpu *cpu, uint64_t val)
{
	if (cpu->s.efer & EFER_LMA) {
		if (val & ~BT_PHYS_MASK)
			bt_raise(cpu, EXC_GP, 0);
	} else {
		val &= 0xffffffffull;
	}
	cpu->s.cr3 = val;
	bt_tlb_flush(cpu, false);
	cpu->end_block = true;
}

static void write_cr4(struct bt_cpu *cpu, uint64_t val)
{
	struct cpu_state *s = &cpu->s;

	if (val & ~CR4_SUPPORTED)
		bt_raise(cpu, EXC_GP, 0);
	if ((s->efer & EFER_LMA) && !(val & CR4_PAE))
		bt_raise(cpu, EXC_GP, 0);
	uint64_t changed = s->cr4 ^ val;
	s->cr4 = val;
	if (changed & CR4_DE)
		bt_dbg_update(cpu);	/* I/O breakpoints exist only with DE */
	if (changed & (CR4_PAE | CR4_PSE | CR4_PGE))
		bt_tlb_flush(cpu, true);
	cpu->end_block = true;
}

static void check_mov_cr(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned cr = i->reg;

	if (cr != 0 && cr != 2 && cr != 3 && cr != 4 && !(cr == 8 && cpu->mode == BT_MODE_LONG))
		bt_raise_noerr(cpu, EXC_UD);
	if (cpu->mode == BT_MODE_V86)
		bt_raise(cpu, EXC_GP, 0);
	bt_require_cpl0(cpu);
}

void bt_op_mov_to_cr(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t val = bt_reg_get(cpu, i->rm, i->opsize, true);

	check_mov_cr(cpu, i);
	stat_add(&cpu->stats.trap_cr, 1);
	switch (i->reg) {
	case 0: write_cr0(cpu, val); break;
	case 2: cpu->s.cr2 = val; break;
	case 3: write_cr3(cpu, val); break;
	case 4: write_cr4(cpu, val); break;
	default:
		if (val & ~0xfull)
			bt_raise(cpu, EXC_GP, 0);
		cpu->s.cr8 = val;
		if (bt_lapic(cpu))
			lapic_set_tpr(bt_lapic(cpu), (uint8_t)val);
		/* A lower TPR may unmask a pending interrupt. */
		atomic_store(&cpu->kick, true);
		break;
	}
}

void bt_op_mov_from_cr(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t val;

	check_mov_cr(cpu, i);
	stat_add(&cpu->stats.trap_cr, 1);
	switch (i->reg) {
	case 0: val = cpu->s.cr0; break;
	case 2: val = cpu->s.cr2; break;
	case 3: val = cpu->s.cr3; break;
	case 4: val = cpu->s.cr4; break;
	default:
		val = bt_lapic(cpu) ? lapic_get_tpr(bt_lapic(cpu)) : cpu->s.cr8;
		break;
	}
	bt_reg_set(cpu, i->rm, i->opsize, true, val);
}

void bt_op_clts(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_require_cpl0(cpu);
	stat_add(&cpu->stats.trap_cr, 1);
	cpu->s.cr0 &= ~CR0_TS;
}

void bt_op_lmsw(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t val = bt_rm_get(cpu, i, 2);

	bt_require_cpl0(cpu);
	stat_add(&cpu->stats.trap_cr, 1);
	/* Loads PE, MP, EM, TS; PE can be set but not cleared. */
	uint64_t cr0 = (cpu->s.cr0 & ~0xeull) | (val & 0xf) | (cpu->s.cr0 & CR0_PE);
	write_cr0(cpu, cr0);
}

void bt_op_smsw(struct bt_cpu *cpu, const struct bt_insn *i)
{
	stat_add(&cpu->stats.trap_cr, 1);
	if (i->flags & BI_MEM)
		bt_rm_set(cpu, i, 2, cpu->s.cr0 & 0xffff);
	else
		bt_rm_set(cpu, i, i->opsize, cpu->s.cr0);
}

/* ---- Debug registers -------------------------------------------------------------------------- */

static unsigned check_mov_dr(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned dr = i->reg;

	if (dr > 7)
		bt_raise_noerr(cpu, EXC_UD);
	if (cpu->mode == BT_MODE_V86)
		bt_raise(cpu, EXC_GP, 0);
	bt_require_cpl0(cpu);
	bt_dbg_check_gd(cpu);
	if (dr == 4 || dr == 5) {
		if (cpu->s.cr4 & CR4_DE)
			bt_raise_noerr(cpu, EXC_UD);
		dr += 2;
	}
	stat_add(&cpu->stats.trap_other, 1);
	return dr;
}

void bt_op_mov_to_dr(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t val = bt_reg_get(cpu, i->rm, i->opsize, true);
	unsigned dr = check_mov_dr(cpu, i);

	if (dr >= 6 && (val >> 32))
		bt_raise(cpu, EXC_GP, 0);
	if (dr == 6)
		val = (val & 0x1e00f) | 0xffff0ff0;
	else if (dr == 7)
		val = (val & 0xffff2fff) | 0x400;
	cpu->s.dr[dr] = val;
	if (dr != 6)
		bt_dbg_update(cpu);
}

void bt_op_mov_from_dr(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned dr = check_mov_dr(cpu, i);

	bt_reg_set(cpu, i->rm, i->opsize, true, cpu->s.dr[dr]);
}

void bt_op_invlpg(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (!(i->flags & BI_MEM))
		bt_raise_noerr(cpu, EXC_UD);
	bt_require_cpl0(cpu);
	stat_add(&cpu->stats.trap_other, 1);
	uint64_t off = bt_ea(cpu, i);
	uint64_t lin = cpu->mode == BT_MODE_LONG ?
		       off + (i->seg >= S_FS ? cpu->s.seg[i->seg].base : 0) :
		       (cpu->s.seg[i->seg].base + off) & 0xffffffffull;
	bt_tlb_flush_page(cpu, lin);
	cpu->end_block = true;
}

/* ---- RFLAGS ----------------------------------------------------------------------------------- */

uint64_t bt_merge_rflags(struct bt_cpu *cpu, uint64_t cur, uint64_t val, unsigned opsize)
{
	uint64_t mask = RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_TF |
			RFLAGS_DF | RFLAGS_OF | RFLAGS_NT | RFLAGS_AC | RFLAGS_ID;

	if (cpu->cpl <= bt_iopl(cpu))
		mask |= RFLAGS_IF;
	if (cpu->cpl == 0 && cpu->mode != BT_MODE_V86)
		mask |= RFLAGS_IOPL;
	if (opsize == 2)
		mask &= 0xffff;
	return ((cur & ~mask) | (val & mask) | RFLAGS_FIXED) & ~RFLAGS_RF;
}

/* CLI/STI/PUSHF/POPF in v86 mode need IOPL 3 (no VME); CLI/STI in protected mode CPL <= IOPL. */
static void check_iopl(struct bt_cpu *cpu)
{
	if ((cpu->mode == BT_MODE_V86 && bt_iopl(cpu) < 3) ||
	    (cpu->mode != BT_MODE_REAL && cpu->cpl > bt_iopl(cpu)))
		bt_raise(cpu, EXC_GP, 0);
}

void bt_op_cli(struct bt_cpu *cpu, const struct bt_insn *i)
{
	check_iopl(cpu);
	cpu->s.rflags &= ~RFLAGS_IF;
}

void bt_op_sti(struct bt_cpu *cpu, const struct bt_insn *i)
{
	check_iopl(cpu);
	if (!(cpu->s.rflags & RFLAGS_IF)) {
		cpu->s.rflags |= RFLAGS_IF;
		cpu->inhibit_irq = true;
		bt_irq_window_opened(cpu);
	}
}

void bt_op_pushf(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (cpu->mode == BT_MODE_V86 && bt_iopl(cpu) < 3)
		bt_raise(cpu, EXC_GP, 0);
	bt_push(cpu, i->opsize, bt_get_rflags(cpu) & ~(RFLAGS_VM | RFLAGS_RF));
}

void bt_op_popf(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (cpu->mode == BT_MODE_V86 && bt_iopl(cpu) < 3)
		bt_raise(cpu, EXC_GP, 0);
	uint64_t cur = bt_get_rflags(cpu);
	uint64_t val = bt_pop(cpu, i->opsize);
	uint64_t nf = bt_merge_rflags(cpu, cur, val, i->opsize);

	bt_set_rflags(cpu, nf);
	if (!(cur & RFLAGS_IF) && (nf & RFLAGS_IF))
		bt_irq_window_opened(cpu);
	cpu->end_block = true;
}

/* ---- HLT, TSC, caches, #UD instructions ------------------------------------------------------ */

void bt_op_hlt(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_require_cpl0(cpu);
	stat_add(&cpu->stats.trap_hlt, 1);
	stat_add(&cpu->vcpu->stats.count[STAT_HLT], 1);
	cpu->s.halted = true;
	cpu->end_block = true;
}

static void check_tsd(struct bt_cpu *cpu)
{
	if ((cpu->s.cr4 & CR4_TSD) && cpu->cpl != 0)
		bt_raise(cpu, EXC_GP, 0);
}

static void set_edx_eax(struct bt_cpu *cpu, uint64_t v)
{
	cpu->s.gpr[R_RAX] = v & 0xffffffffull;
	cpu->s.gpr[R_RDX] = v >> 32;
}

void bt_op_rdtsc(struct bt_cpu *cpu, const struct bt_insn *i)
{
	check_tsd(cpu);
	stat_add(&cpu->stats.trap_other, 1);
	set_edx_eax(cpu, bt_guest_tsc(cpu));
}

void bt_op_rdtscp(struct bt_cpu *cpu, const struct bt_insn *i)
{
	check_tsd(cpu);
	stat_add(&cpu->stats.trap_other, 1);
	set_edx_eax(cpu, bt_guest_tsc(cpu));
	cpu->s.gpr[R_RCX] = cpu->s.tsc_aux & 0xffffffffull;
}

/* No performance counters are advertised (no CPUID leaf 0xa). */
void bt_op_rdpmc(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_raise(cpu, EXC_GP, 0);
}

void bt_op_wbinvd(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_require_cpl0(cpu);
	stat_add(&cpu->stats.trap_other, 1);
}

void bt_op_invd(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_require_cpl0(cpu);
	stat_add(&cpu->stats.trap_other, 1);
}

/* Caches are coherent: only the address checks of a byte read remain. */
void bt_op_clflush(struct bt_cpu *cpu, const struct bt_insn *i)
{
	if (!(i->flags & BI_MEM))
		bt_raise_noerr(cpu, EXC_UD);
	uint64_t lin = bt_linear(cpu, i->seg, bt_ea(cpu, i), 1, BT_READ);
	bt_translate(cpu, lin, BT_READ, bt_cur_tlb(cpu));
}

void bt_op_ud(struct bt_cpu *cpu, const struct bt_insn *i)
{
	bt_raise_noerr(cpu, EXC_UD);
}
