/* bt engine debug registers (SDM vol. 3, 17.2-17.3): DR0-DR3 breakpoints enabled by DR7 on
 * instruction fetch, data writes, data reads and writes (lengths 1, 2, 4, 8) and, with
 * CR4.DE, port I/O; DR6 status; DR7.GD.
 *
 * Nothing here costs anything while DR7 enables no breakpoint: the run loop and the TLB fill
 * test one byte (cpu->dbg_armed). While breakpoints are armed, code runs interpreted (the
 * translated tier has no per-instruction checks); the interpreter looks for instruction
 * breakpoints in each block it enters (interp.c); pages holding a data breakpoint get slow-path
 * TLB entries, so only accesses to them are compared; a hit is recorded in cpu->dbg_hit and
 * ends the block after its instruction, and the run loop delivers the #DB trap.
 */
#include "engine/bt/sys/btsys.h"

#define DR7_GD		(1ull << 13)
#define DR6_BD		(1ull << 13)
#define DR6_FIXED	0xffff0ff0ull	/* reads as ones: reserved bits, RTM (no RTM) */

enum { RW_EXEC, RW_WRITE, RW_IO, RW_ACCESS };

static unsigned dr7_rw(uint64_t dr7, unsigned n) { return (dr7 >> (16 + 4 * n)) & 3; }

/* LEN encodings 00, 01, 11, 10: 1, 2, 4, 8 bytes. */
static unsigned dr7_len(uint64_t dr7, unsigned n)
{
	static const unsigned len[4] = { 1, 2, 8, 4 };
	return len[(dr7 >> (18 + 4 * n)) & 3];
}

static bool enabled(uint64_t dr7, unsigned n) { return (dr7 >> (2 * n)) & 3; }

void bt_dbg_update(struct bt_cpu *cpu)
{
	uint64_t dr7 = cpu->s.dr[7];
	uint8_t exec = 0, data = 0, io = 0;

	for (unsigned n = 0; n < 4; n++) {
		if (!enabled(dr7, n))
			continue;
		switch (dr7_rw(dr7, n)) {
		case RW_EXEC: exec |= (uint8_t)(1u << n); break;
		case RW_IO: if (cpu->s.cr4 & CR4_DE) io |= (uint8_t)(1u << n); break;
		default: data |= (uint8_t)(1u << n); break;
		}
	}
	bool was = cpu->dbg_data;
	cpu->dbg_exec = exec;
	cpu->dbg_data = data;
	cpu->dbg_io = io;
	cpu->dbg_armed = exec | data | io;
	/* Pages with data breakpoints need slow-path entries, and pages without them no more. */
	if (was || data)
		bt_tlb_flush(cpu, true);
}

/* Breakpoints n in mask whose range [DRn aligned down to its length, + length) meets
 * [lin, lin + size). */
static uint8_t ranges_met(const struct bt_cpu *cpu, uint8_t mask, uint64_t lin, uint64_t size)
{
	uint8_t hit = 0;

	for (unsigned n = 0; n < 4; n++) {
		if (!(mask & (1u << n)))
			continue;
		uint64_t len = dr7_len(cpu->s.dr[7], n), start = cpu->s.dr[n] & ~(len - 1);
		if (start < lin + size && lin < start + len)
			hit |= (uint8_t)(1u << n);
	}
	return hit;
}

static uint8_t data_mask(const struct bt_cpu *cpu, bool write)
{
	uint8_t mask = 0;

	for (unsigned n = 0; n < 4; n++)
		if ((cpu->dbg_data & (1u << n)) && (write || dr7_rw(cpu->s.dr[7], n) == RW_ACCESS))
			mask |= (uint8_t)(1u << n);
	return mask;
}

bool bt_dbg_page_watched(const struct bt_cpu *cpu, uint64_t page, bool write)
{
	return ranges_met(cpu, data_mask(cpu, write), page, BT_PAGE) != 0;
}

static void record(struct bt_cpu *cpu, uint8_t hit)
{
	if (hit) {
		cpu->dbg_hit |= hit;
		cpu->end_block = true;
	}
}

void bt_dbg_data_access(struct bt_cpu *cpu, uint64_t lin, unsigned size, bool write)
{
	record(cpu, ranges_met(cpu, data_mask(cpu, write), lin, size));
}

void bt_dbg_io(struct bt_cpu *cpu, uint16_t port, unsigned size)
{
	record(cpu, ranges_met(cpu, cpu->dbg_io, port, size));
}

uint8_t bt_dbg_exec_hit(const struct bt_cpu *cpu, uint64_t lin)
{
	uint8_t hit = 0;

	for (unsigned n = 0; n < 4; n++)
		if ((cpu->dbg_exec & (1u << n)) && cpu->s.dr[n] == lin)
			hit |= (uint8_t)(1u << n);
	return hit;
}

/* Status for a #DB about to be delivered: the condition bits, and GD off so that the handler
 * may use the debug registers. */
static void db_status(struct bt_cpu *cpu, uint64_t bits)
{
	cpu->s.dr[6] |= bits | DR6_FIXED;
	cpu->s.dr[7] &= ~DR7_GD;
}

_Noreturn void bt_dbg_exec_fault(struct bt_cpu *cpu, uint8_t hit)
{
	db_status(cpu, hit);
	bt_raise_noerr(cpu, EXC_DB);
}

void bt_dbg_trap_status(struct bt_cpu *cpu, bool single_step)
{
	db_status(cpu, cpu->dbg_hit | (single_step ? 1ull << 14 : 0));
	cpu->dbg_hit = 0;
}

/* MOV to or from a debug register with DR7.GD set: #DB (a fault) with DR6.BD. */
void bt_dbg_check_gd(struct bt_cpu *cpu)
{
	if (cpu->s.dr[7] & DR7_GD) {
		db_status(cpu, DR6_BD);
		bt_raise_noerr(cpu, EXC_DB);
	}
}
