/* bt engine port I/O: IN/OUT/INS/OUTS through vm_pio(), with the IOPL and TSS I/O-permission
 * bitmap checks of protected and virtual-8086 mode. String forms run a bounded number of
 * iterations per execution and restart themselves, so interrupts and stop requests get in.
 */
#include "engine/bt/sys/btsys.h"
#include "vm.h"

/* Iterations of REP INS/OUTS before the instruction restarts itself. */
#define REP_IO_CHUNK	1024

/* #GP(0) unless the port range may be accessed: always at CPL <= IOPL outside v86 mode,
 * otherwise only if the TSS I/O bitmap clears every bit of it. */
static void check_io(struct bt_cpu *cpu, uint16_t port, unsigned size)
{
	if (cpu->mode == BT_MODE_REAL || (cpu->mode != BT_MODE_V86 && cpu->cpl <= bt_iopl(cpu)))
		return;
	const struct seg_reg *tr = &cpu->s.seg[S_TR];
	unsigned type = SEG_TYPE(tr->attr);
	/* Only 32/64-bit TSSs have a bitmap; the base at offset 0x66 needs limit >= 0x67. */
	if ((tr->attr & SEG_UNUSABLE) || (type != 9 && type != 0xb) || tr->limit < 0x67)
		bt_raise(cpu, EXC_GP, 0);
	uint64_t mask_lin = cpu->s.efer & EFER_LMA ? ~0ull : 0xffffffffull;
	uint32_t base = (uint32_t)bt_read_lin(cpu, (tr->base + 0x66) & mask_lin, 2, BT_TLB_SUP);
	uint32_t off = base + port / 8;
	if (off + 1 > tr->limit)
		bt_raise(cpu, EXC_GP, 0);
	uint32_t bits = (uint32_t)bt_read_lin(cpu, (tr->base + off) & mask_lin, 2, BT_TLB_SUP);
	if ((bits >> (port & 7)) & ((1u << size) - 1))
		bt_raise(cpu, EXC_GP, 0);
}

/* Before an access to the ports: the permission check, and an I/O breakpoint (CR4.DE) met. */
static void start_io(struct bt_cpu *cpu, uint16_t port, unsigned size)
{
	check_io(cpu, port, size);
	if (cpu->dbg_io)
		bt_dbg_io(cpu, port, size);
}

static unsigned io_size(const struct bt_insn *i)
{
	return i->opsize == 1 ? 1 : i->opsize == 2 ? 2 : 4;
}

/* E4-E7 take the port from imm8, EC-EF from DX. */
static uint16_t io_port(const struct bt_cpu *cpu, const struct bt_insn *i)
{
	return (i->op & 8) ? (uint16_t)cpu->s.gpr[R_RDX] : (uint16_t)(i->imm & 0xff);
}

static void set_ax(struct bt_cpu *cpu, unsigned size, uint64_t val)
{
	if (size == 4)
		cpu->s.gpr[R_RAX] = val & 0xffffffffull;
	else
		bt_reg_set(cpu, R_RAX, size, false, val);
}

void bt_op_in(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = io_size(i);
	uint16_t port = io_port(cpu, i);
	uint64_t val = 0;

	start_io(cpu, port, size);
	stat_add(&cpu->stats.trap_io, 1);
	vm_pio(cpu->vcpu, port, size, false, &val);
	set_ax(cpu, size, val);
}

void bt_op_out(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = io_size(i);
	uint16_t port = io_port(cpu, i);
	uint64_t val = cpu->s.gpr[R_RAX] & (size == 4 ? 0xffffffffull : (1ull << (8 * size)) - 1);

	start_io(cpu, port, size);
	stat_add(&cpu->stats.trap_io, 1);
	vm_pio(cpu->vcpu, port, size, true, &val);
}

static uint64_t addr_mask(unsigned addrsize)
{
	return addrsize == 8 ? ~0ull : addrsize == 4 ? 0xffffffffull : 0xffffull;
}

/* Update a string register (RSI/RDI/RCX) within the address size. */
static void set_areg(struct bt_cpu *cpu, int reg, unsigned addrsize, uint64_t val)
{
	uint64_t m = addr_mask(addrsize);
	cpu->s.gpr[reg] = addrsize == 2 ? (cpu->s.gpr[reg] & ~m) | (val & m) : val & m;
}

static void string_io(struct bt_cpu *cpu, const struct bt_insn *i, bool out)
{
	unsigned size = io_size(i);
	uint16_t port = (uint16_t)cpu->s.gpr[R_RDX];
	bool rep = i->flags & (BI_REP | BI_REPNE);
	uint64_t m = addr_mask(i->addrsize);
	int64_t step = (cpu->s.rflags & RFLAGS_DF) ? -(int64_t)size : (int64_t)size;
	int reg = out ? R_RSI : R_RDI;

	start_io(cpu, port, size);
	stat_add(&cpu->stats.trap_io, 1);
	for (unsigned n = 0; n < REP_IO_CHUNK; n++) {
		if (rep && !(cpu->s.gpr[R_RCX] & m))
			return;
		uint64_t off = cpu->s.gpr[reg] & m;
		uint64_t val = 0;
		if (out) {
			val = bt_read(cpu, i->seg, off, size);
			vm_pio(cpu->vcpu, port, size, true, &val);
		} else {
			/* Check the destination before the device sees the read. */
			bt_translate(cpu, bt_linear(cpu, S_ES, off, size, BT_WRITE), BT_WRITE,
				     bt_cur_tlb(cpu));
			vm_pio(cpu->vcpu, port, size, false, &val);
			bt_write(cpu, S_ES, off, size, val);
		}
		set_areg(cpu, reg, i->addrsize, off + (uint64_t)step);
		if (!rep)
			return;
		set_areg(cpu, R_RCX, i->addrsize, (cpu->s.gpr[R_RCX] & m) - 1);
		if (atomic_load_explicit(&cpu->kick, memory_order_relaxed))
			break;
	}
	if (cpu->s.gpr[R_RCX] & m) {
		/* Not done: run this instruction again after the loop has looked around. */
		cpu->next_rip = cpu->s.rip;
		cpu->end_block = true;
	}
}

void bt_op_ins(struct bt_cpu *cpu, const struct bt_insn *i) { string_io(cpu, i, false); }
void bt_op_outs(struct bt_cpu *cpu, const struct bt_insn *i) { string_io(cpu, i, true); }
