/* bt engine internals: the software vCPU shared by the decoder, the interpreter and the
 * system-instruction / MMU emulation.
 *
 * Execution model: guest code is decoded once into blocks of struct bt_insn (cached by
 * guest-physical address, invalidated when the page is written) and each insn carries the
 * handler that executes it. A handler reads operands through the soft TLB, computes, and sets
 * cpu->next_rip; the loop then commits rip. Faults do not return: bt_raise() longjmps back to
 * the run loop with rip still at the faulting instruction, so handlers must do every access
 * that can fault before they change architectural state.
 */
#ifndef VMON_BT_H
#define VMON_BT_H

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu_state.h"
#include "stats.h"

struct vm;
struct vcpu;
struct bt_cpu;
struct bt_insn;
struct bt_vm;

typedef void (*bt_handler)(struct bt_cpu *cpu, const struct bt_insn *i);

/* ---- Decoded instruction ---------------------------------------------------------------- */

#define BT_NOREG	0xff

enum bt_insn_flags {
	BI_MEM		= 1 << 0,	/* ModRM r/m is a memory operand */
	BI_RIPREL	= 1 << 1,	/* memory operand is RIP-relative (disp from next rip) */
	BI_REX		= 1 << 2,	/* a REX prefix was present (byte regs 4-7 = SPL..DIL) */
	BI_LOCK		= 1 << 3,
	BI_REP		= 1 << 4,	/* F3 */
	BI_REPNE	= 1 << 5,	/* F2 */
	BI_ENDS_BLOCK	= 1 << 6,	/* control transfer or state change: block ends after it */
};

struct bt_insn {
	bt_handler fn;
	uint64_t imm;		/* immediate (sign-extended as the instruction defines) */
	uint64_t imm2;		/* second immediate: ENTER level, far pointer selector */
	int32_t disp;
	uint16_t op;		/* opcode: 0x00-0xff one-byte map, 0x100-0x1ff 0F map, 0x200 0F38, 0x300 0F3A */
	uint16_t flags;		/* enum bt_insn_flags */
	uint8_t len;		/* bytes, 1..15 */
	uint8_t opsize;		/* operand size in bytes: 1, 2, 4, 8 (16 for SSE) */
	uint8_t addrsize;	/* 2, 4, 8 */
	uint8_t seg;		/* enum sreg of the memory operand (default or override) */
	uint8_t reg;		/* ModRM.reg | REX.R << 3 (also the /digit for group opcodes) */
	uint8_t rm;		/* ModRM.rm | REX.B << 3 when a register operand */
	uint8_t base, index;	/* registers of the memory operand, BT_NOREG if absent */
	uint8_t scale;		/* 0..3 */
	uint8_t mandatory;	/* SSE mandatory prefix: 0, 0x66, 0xf3, 0xf2 */
};

/* ---- Soft TLB: guest linear page -> host address ---------------------------------------- */

#define BT_TLB_BITS	12	/* 16 MiB reach (1024 entries missed 43 % more in a Linux boot) */
#define BT_TLB_SIZE	(1u << BT_TLB_BITS)
#define BT_PAGE		4096ull
#define BT_PAGE_MASK	(~(BT_PAGE - 1))

/* A tag is the page's linear address; these low bits force the slow path when set. */
#define TLB_INVALID	1ull		/* no translation */
#define TLB_SLOW	2ull		/* MMIO, or a page holding decoded code (writes must invalidate) */

struct bt_tlb_entry {
	uint64_t tag_read, tag_write, tag_exec;
	uintptr_t addend;	/* host = linear + addend */
	uint64_t gpa_page;	/* guest-physical page of this entry (for invalidation, stats) */
	uint32_t flags;		/* mmu.c's own bits (global page, large page, MMIO) */
};

/* Which TLB: supervisor or user accesses (CPL 3 and implicit-supervisor accesses differ). */
enum { BT_TLB_SUP, BT_TLB_USER, BT_TLB_NR };

/* ---- Modes -------------------------------------------------------------------------------- */

enum bt_mode {
	BT_MODE_REAL,		/* CR0.PE = 0 */
	BT_MODE_PROT,		/* protected mode, 16- or 32-bit code segment */
	BT_MODE_V86,		/* EFLAGS.VM = 1 */
	BT_MODE_COMPAT,		/* IA-32e, CS.L = 0 */
	BT_MODE_LONG,		/* IA-32e, CS.L = 1 */
};

/* Hypercall numbers (KVM ABI) that --stats counts one by one. */
#define BT_HC_COUNTED	16

/* The engine's counters: X(field of struct bt_stats, name in --stats and the API), in the order
 * they are reported. The one list both outputs are generated from.
 * Shadow page tables (shadow.c): TLB misses served, stale entries found (their tables were
 * written), roots made and evicted, page-table pages write-protected and released, guest stores
 * into write-protected page-table pages.
 * Translation tier (translate.c): blocks and insns translated, host code bytes emitted,
 * translation-cache flushes, blocks run as host code (and of those, entered straight from
 * another translated block) vs interpreted. */
#define BT_COUNTERS(X) \
	X(insns, "instructions") \
	X(blocks_decoded, "blocks_decoded") \
	X(blocks_invalidated, "blocks_invalidated") \
	X(block_cache_hits, "block_cache_hits") \
	X(block_cache_misses, "block_cache_misses") \
	X(trap_io, "trap_io") \
	X(trap_cr, "trap_cr") \
	X(trap_msr, "trap_msr") \
	X(trap_dt, "trap_dt") \
	X(trap_cpuid, "trap_cpuid") \
	X(trap_hlt, "trap_hlt") \
	X(trap_other, "trap_other") \
	X(interrupts, "interrupts") \
	X(tlb_misses, "tlb_misses") \
	X(page_walks, "page_walks") \
	X(tlb_flushes, "tlb_flushes") \
	X(tlb_hits_slowpath, "tlb_slow_path") \
	X(shadow_hits, "shadow_hits") \
	X(shadow_stale, "shadow_stale") \
	X(shadow_roots_created, "shadow_roots_created") \
	X(shadow_roots_evicted, "shadow_roots_evicted") \
	X(pt_watched, "pt_watched") \
	X(pt_released, "pt_released") \
	X(pt_write_traps, "pt_write_traps") \
	X(tb_blocks, "tb_blocks") \
	X(tb_insns, "tb_insns") \
	X(tb_bytes, "tb_bytes") \
	X(tb_flushes, "tb_flushes") \
	X(tb_runs, "tb_runs") \
	X(tb_chained, "tb_chained") \
	X(interp_runs, "interp_runs")

/* Only uint64_t members: stats_total adds them up as an array. */
struct bt_stats {
#define BT_COUNTER_FIELD(field, name) uint64_t field;
	BT_COUNTERS(BT_COUNTER_FIELD)
#undef BT_COUNTER_FIELD
	uint64_t exceptions[32];		/* by vector: "exception_N" when not 0 */
	uint64_t hypercalls[BT_HC_COUNTED + 1];	/* by number, the last counting all larger ones:
						 * "hypercall_N" ("hypercall_N+") when not 0 */
};

#define BT_PT_WATCHED	(1ull << 63)

/* ---- The machine-wide part --------------------------------------------------------------- */

struct bt_vm {
	struct vm *vm;
	struct irqchip *irqchip;
	uint64_t nr_pages;		/* guest-physical pages covered by page_gen (max gpa >> 12) */
	/* Per guest-physical page: 0 = no decoded code; otherwise a generation number that is bumped
	 * whenever the page is written. Decoded blocks remember it and are dropped on mismatch. */
	_Atomic uint32_t *page_gen;
	/* Bumped when a page becomes a code page: every vCPU flushes its TLB before its next block,
	 * so no stale fast-path write entry can bypass invalidation. */
	atomic_uint tlb_gen;
	/* Per guest-physical page, for shadow.c: BT_PT_WATCHED while it is a paging-structure
	 * page (writes take the slow path), a run of trapped writes, and a write generation. */
	_Atomic uint64_t *pt_state;
	pthread_mutex_t atomic_lock;	/* LOCKed accesses to MMIO or page-straddling operands */
	int nr_cpus;
	struct bt_cpu *cpu[64];
};

/* ---- The vCPU ------------------------------------------------------------------------------- */

struct bt_cpu {
	struct cpu_state s;	/* s.rflags is stale while cc_op != CC_OP_EFLAGS: use bt_get_rflags */

	/* Lazy flags (flags.c): the last flag-setting operation, evaluated on demand. */
	uint64_t cc_dst, cc_src, cc_src2;
	uint32_t cc_op;

	/* Derived from CR0, EFER, CS, EFLAGS: recomputed by bt_update_mode(). */
	uint8_t mode;
	uint8_t cpl;
	uint8_t code_size;	/* default operand/address size of code: 2, 4 or 8 */
	uint8_t stack_size;	/* SS.B: 2 or 4 (8 in long mode) */

	uint64_t next_rip;	/* set before each handler runs; handlers change it to jump */
	bool end_block;		/* a handler changed mode/paging/CS: leave the current block */
	bool inhibit_irq;	/* STI / MOV SS shadow for exactly one instruction */
	bool nmi_blocked;	/* an NMI was delivered and no IRET has run since (SDM 6.7.1) */
	bool inhibit_db;	/* MOV SS / POP SS: no single-step or data #DB before the next insn */

	/* Debug registers (debug.c): breakpoints DR7 enables, by kind (bit n: DRn), their
	 * union, and the data / I/O breakpoints met by the running instruction. */
	uint8_t dbg_exec, dbg_data, dbg_io, dbg_armed, dbg_hit;

	struct bt_tlb_entry tlb[BT_TLB_NR][BT_TLB_SIZE];
	/* Entries filled since the last flush (TLB << BT_TLB_BITS | index, each once): flushes
	 * and INVLPG visit these instead of the whole TLB. */
	uint16_t tlb_used[BT_TLB_NR * BT_TLB_SIZE];
	unsigned tlb_nr_used;

	jmp_buf fault_jmp;	/* bt_raise() lands here (the run loop) */
	int pending_vector;	/* set by bt_raise */
	uint32_t pending_error;
	bool pending_has_error;

	atomic_bool kick;	/* another thread wants this vCPU out of its loop (stop / IRQ) */

	struct vcpu *vcpu;
	struct vm *vm;
	struct bt_vm *bvm;
	unsigned tlb_gen_seen;	/* bvm->tlb_gen at the last flush */
	void *block_cache;	/* interp.c's per-vCPU decoded block cache */
	void *tb_exit;		/* translate.c: the chainable exit the last translated run left by */
	struct bt_stats stats;
};

/* ---- Exceptions (except.c) --------------------------------------------------------------- */

enum { EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5, EXC_UD = 6,
       EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11, EXC_SS = 12, EXC_GP = 13, EXC_PF = 14,
       EXC_MF = 16, EXC_AC = 17, EXC_MC = 18, EXC_XM = 19 };

/* Debug registers (debug.c): the instruction breakpoints at linear address lin, raised as the
 * #DB fault; the DR6 status of a #DB trap (data / I/O hits, single-step) about to be delivered. */
uint8_t bt_dbg_exec_hit(const struct bt_cpu *cpu, uint64_t lin);
_Noreturn void bt_dbg_exec_fault(struct bt_cpu *cpu, uint8_t hit);
void bt_dbg_trap_status(struct bt_cpu *cpu, bool single_step);

/* Abort the current instruction with a fault; never returns. For #PF set s.cr2 first. */
_Noreturn void bt_raise(struct bt_cpu *cpu, int vector, uint32_t error_code);
_Noreturn void bt_raise_noerr(struct bt_cpu *cpu, int vector);
/* Deliver an exception / interrupt through the IDT (or IVT), with the current rip as the
 * return address; soft != 0 for INT n / INT3 / INTO (return rip = next insn, DPL checked). */
void bt_deliver(struct bt_cpu *cpu, int vector, bool has_error, uint32_t error, int soft);

/* ---- Memory (mmu.c) ----------------------------------------------------------------------- */

/* Access kinds for the slow path. */
enum bt_access { BT_READ, BT_WRITE, BT_EXEC };

/* Segment + offset -> linear address outside 64-bit mode, with limit checks (#GP / #SS). */
uint64_t bt_linear_legacy(struct bt_cpu *cpu, int seg, uint64_t off, unsigned size,
			  enum bt_access acc);
/* #GP / #SS for a non-canonical address in 64-bit mode. */
_Noreturn void bt_noncanonical(struct bt_cpu *cpu, int seg);

/* Segment + offset -> linear address, with the mode's limit/canonical checks (#GP / #SS).
 * Inline for 64-bit mode: every memory operand comes through here. */
static inline uint64_t bt_linear(struct bt_cpu *cpu, int seg, uint64_t off, unsigned size,
				 enum bt_access acc)
{
	if (__builtin_expect(cpu->mode == BT_MODE_LONG, 1)) {
		uint64_t lin = off + (seg >= S_FS ? cpu->s.seg[seg].base : 0);
		uint64_t last = lin + size - 1;
		/* Canonical: bits 63:47 all equal, for the first and the last byte. */
		if (__builtin_expect((uint64_t)((int64_t)(lin << 16) >> 16) != lin ||
				     (uint64_t)((int64_t)(last << 16) >> 16) != last, 0))
			bt_noncanonical(cpu, seg);
		return lin;
	}
	return bt_linear_legacy(cpu, seg, off, size, acc);
}

uint64_t bt_read_lin_slow(struct bt_cpu *cpu, uint64_t lin, unsigned size, int tlb);
void bt_write_lin_slow(struct bt_cpu *cpu, uint64_t lin, unsigned size, uint64_t val, int tlb);

_Static_assert(BT_TLB_NR << BT_TLB_BITS <= 1 << 16, "tlb_used holds TLB << BT_TLB_BITS | index in 16 bits");

static inline int bt_tlb_index(uint64_t lin) { return (lin >> 12) & (BT_TLB_SIZE - 1); }
static inline int bt_cur_tlb(const struct bt_cpu *cpu) { return cpu->cpl == 3 ? BT_TLB_USER : BT_TLB_SUP; }

/* Little-endian guest value of size bytes at host p: fixed-size moves for the operand sizes
 * (a memcpy of a run-time size is a library call); a split access's odd parts take memcpy. */
static inline uint64_t bt_host_load(const uint8_t *p, unsigned size)
{
	switch (size) {
	case 1: return *p;
	case 2: { uint16_t v; __builtin_memcpy(&v, p, 2); return v; }
	case 4: { uint32_t v; __builtin_memcpy(&v, p, 4); return v; }
	case 8: { uint64_t v; __builtin_memcpy(&v, p, 8); return v; }
	default: { uint64_t v = 0; __builtin_memcpy(&v, p, size); return v; }
	}
}

static inline void bt_host_store(uint8_t *p, unsigned size, uint64_t val)
{
	switch (size) {
	case 1: *p = (uint8_t)val; return;
	case 2: { uint16_t v = (uint16_t)val; __builtin_memcpy(p, &v, 2); return; }
	case 4: { uint32_t v = (uint32_t)val; __builtin_memcpy(p, &v, 4); return; }
	case 8: __builtin_memcpy(p, &val, 8); return;
	default: __builtin_memcpy(p, &val, size); return;
	}
}

/* Linear read/write with the CPL's privileges (tlb = bt_cur_tlb) or as supervisor for
 * implicit system accesses (tlb = BT_TLB_SUP: descriptor tables, TSS, IDT). */
static inline uint64_t bt_read_lin(struct bt_cpu *cpu, uint64_t lin, unsigned size, int tlb)
{
	const struct bt_tlb_entry *e = &cpu->tlb[tlb][bt_tlb_index(lin)];
	if (__builtin_expect(e->tag_read == (lin & BT_PAGE_MASK) &&
			     (lin & (BT_PAGE - 1)) <= BT_PAGE - size, 1)) {
		return bt_host_load((const uint8_t *)(lin + e->addend), size);
	}
	return bt_read_lin_slow(cpu, lin, size, tlb);
}

static inline void bt_write_lin(struct bt_cpu *cpu, uint64_t lin, unsigned size, uint64_t val, int tlb)
{
	const struct bt_tlb_entry *e = &cpu->tlb[tlb][bt_tlb_index(lin)];
	if (__builtin_expect(e->tag_write == (lin & BT_PAGE_MASK) &&
			     (lin & (BT_PAGE - 1)) <= BT_PAGE - size, 1)) {
		bt_host_store((uint8_t *)(lin + e->addend), size, val);
		return;
	}
	bt_write_lin_slow(cpu, lin, size, val, tlb);
}

/* Segment-relative access with the current privilege: what instruction operands use. */
static inline uint64_t bt_read(struct bt_cpu *cpu, int seg, uint64_t off, unsigned size)
{
	return bt_read_lin(cpu, bt_linear(cpu, seg, off, size, BT_READ), size, bt_cur_tlb(cpu));
}
static inline void bt_write(struct bt_cpu *cpu, int seg, uint64_t off, unsigned size, uint64_t val)
{
	bt_write_lin(cpu, bt_linear(cpu, seg, off, size, BT_WRITE), size, val, bt_cur_tlb(cpu));
}

/* Host pointer for an aligned-enough read-modify-write of guest RAM (LOCK, XCHG), after
 * all permission checks and A/D updates; NULL if the bytes are MMIO or straddle pages
 * (the caller then emulates under bt_vm's global atomic lock). May raise #PF/#GP. */
void *bt_rmw_ptr(struct bt_cpu *cpu, int seg, uint64_t off, unsigned size);

/* Bulk accesses (REP MOVS / STOS) within the page of lin: translates lin for acc as an access
 * would (filling the soft TLB, raising #PF) and returns its host pointer if it is RAM, even
 * where stores to it must be reported (code, page tables); *gpa_page (if not NULL) receives its
 * page, and a caller that stores reports it with bt_page_stored() after. NULL (MMIO): access element by
 * element. The pointer stays valid while the caller translates another address, which may
 * evict this one's TLB entry. */
uint8_t *bt_bulk_ptr(struct bt_cpu *cpu, uint64_t lin, enum bt_access acc, uint64_t *gpa_page);
void bt_page_stored(struct bt_cpu *cpu, uint64_t gpa_page, unsigned len);

/* Code fetch: host pointer to the page containing lin (exec permission checked, may raise
 * #PF), and its guest-physical page address in *gpa_page. */
const uint8_t *bt_fetch_page(struct bt_cpu *cpu, uint64_t lin, uint64_t *gpa_page);

/* Invalidates every soft-TLB entry of a new vCPU; afterwards flushes touch only the entries
 * filled since (cpu->tlb_used). */
void bt_tlb_init(struct bt_cpu *cpu);
void bt_tlb_flush(struct bt_cpu *cpu, bool include_global);
void bt_tlb_flush_page(struct bt_cpu *cpu, uint64_t lin);

/* ---- Mode, segments, flags --------------------------------------------------------------- */

void bt_update_mode(struct bt_cpu *cpu);			/* seg.c */
/* Load a segment register by selector with all protected-mode checks (#GP/#NP/#SS/#TS). */
void bt_load_seg(struct bt_cpu *cpu, int sreg, uint16_t sel);	/* seg.c */

uint64_t bt_get_rflags(struct bt_cpu *cpu);			/* flags.c */
/* Sets all of RFLAGS (no privilege masking: callers mask IOPL/IF/VM per instruction). */
void bt_set_rflags(struct bt_cpu *cpu, uint64_t rflags);	/* flags.c */

/* ---- Operands, stack (operand.c) -------------------------------------------------------- */

/* Effective address (offset) of i's memory operand, masked to the address size. */
static inline uint64_t bt_ea(struct bt_cpu *cpu, const struct bt_insn *i)
{
	uint64_t ea = (uint64_t)(int64_t)i->disp;

	if (i->flags & BI_RIPREL)
		ea += cpu->next_rip;
	if (i->base != BT_NOREG)
		ea += cpu->s.gpr[i->base];
	if (i->index != BT_NOREG)
		ea += cpu->s.gpr[i->index] << i->scale;
	return i->addrsize == 8 ? ea : ea & ((1ull << (i->addrsize * 8)) - 1);
}
uint64_t bt_reg_get(const struct bt_cpu *cpu, int reg, unsigned size, bool rex);
void bt_reg_set(struct bt_cpu *cpu, int reg, unsigned size, bool rex, uint64_t val);
uint64_t bt_rm_get(struct bt_cpu *cpu, const struct bt_insn *i, unsigned size);
void bt_rm_set(struct bt_cpu *cpu, const struct bt_insn *i, unsigned size, uint64_t val);
void bt_push(struct bt_cpu *cpu, unsigned size, uint64_t val);
uint64_t bt_pop(struct bt_cpu *cpu, unsigned size);

/* ---- Decoded code cache (interp.c) ------------------------------------------------------ */

/* Run decoded blocks until cpu->kick, end of budget (instructions), HLT or a fault.
 * Returns the number of instructions executed. Faults longjmp out (caller holds the jmp_buf). */
uint64_t bt_interp_run(struct bt_cpu *cpu, uint64_t budget);
/* The guest-physical page at address gpa_page (page aligned) was written (any vCPU). */
void bt_code_written(struct bt_vm *bvm, uint64_t gpa_page);
/* The same for shadow.c's write protection of page tables (bt_code_written calls it). */
void bt_shadow_page_written(struct bt_vm *bvm, uint64_t gpa_page);
/* jit: blocks may be translated to host code (the translation cache is mapped executable now:
 * a sandboxed process cannot map one later). */
int bt_block_cache_init(struct bt_cpu *cpu, bool jit);
void bt_block_cache_free(struct bt_cpu *cpu);

/* Decoder (decode.c): decode one instruction at lin into *i. Returns the length, or raises
 * #UD / #GP (> 15 bytes) / #PF in the guest. */
int bt_decode(struct bt_cpu *cpu, uint64_t lin, struct bt_insn *i);

/* ---- Handlers implemented by the system-instruction side (sys.c, except.c, seg.c) ---------- */
#define BT_SYS_HANDLERS(X) \
	X(mov_to_cr) X(mov_from_cr) X(mov_to_dr) X(mov_from_dr) X(clts) \
	X(lgdt) X(lidt) X(sgdt) X(sidt) X(lldt) X(sldt) X(ltr) X(str) X(lmsw) X(smsw) \
	X(invlpg) X(lar) X(lsl) X(verr) X(verw) X(arpl) \
	X(rdmsr) X(wrmsr) X(rdtsc) X(rdtscp) X(rdpmc) X(cpuid) \
	X(hlt) X(cli) X(sti) X(pushf) X(popf) X(iret) X(int_n) X(int3) X(into) X(int1) \
	X(syscall) X(sysret) X(sysenter) X(sysexit) X(swapgs) \
	X(in) X(out) X(ins) X(outs) \
	X(mov_to_sreg) X(mov_from_sreg) X(push_sreg) X(pop_sreg) X(load_far_ptr) \
	X(jmp_far) X(call_far) X(ret_far) \
	X(wbinvd) X(invd) X(clflush) X(vmcall) X(ud)

#define BT_DECLARE_HANDLER(name) void bt_op_##name(struct bt_cpu *cpu, const struct bt_insn *i);
BT_SYS_HANDLERS(BT_DECLARE_HANDLER)

#endif
