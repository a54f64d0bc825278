/* The bt engine's translation tier: hot decoded blocks become host x86-64 code.
 *
 * A translated block is a host function `unsigned fn(struct bt_cpu *cpu, uint64_t chain_limit)`
 * that runs all of its block's instructions (the caller makes sure the budget allows that),
 * leaves cpu->s.rip at the next instruction to run, and returns how many instructions of its
 * last block ran, exactly as the interpreter's run_block would have. Faults longjmp out of it
 * like out of any handler.
 *
 * Chaining: a block left at a static target (fall-through, direct JMP/CALL, taken Jcc) records
 * that exit in cpu->tb_exit; when the next block turns out to be translated, bt_tb_link patches
 * the exit to jump straight into it through a guard that re-checks, every time, what the run
 * loop would check: no kick, the budget (at most chain_limit instructions before entering a
 * block), no new code page anywhere (bvm->tlb_gen), the target's page generation, and for a
 * target on another page its linear-to-physical mapping in the soft TLB. Exits to targets known
 * only at run time go through the indirect branch target cache below, behind the same checks.
 * The guards add each finished block's instructions to cpu->stats.insns themselves.
 */
#ifndef VMON_BT_TRANSLATE_H
#define VMON_BT_TRANSLATE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/bt/bt.h"

/* Indirect branch target cache: translations by guest rip, for exits whose target is only
 * known at run time (RET, JMP/CALL through a register or memory). Filled by the run loop when
 * it enters a translation; generated code re-checks everything about an entry before using
 * it (see bt_tb_link for the list), so a stale entry only costs a trip to the run loop. */
struct bt_ibtc_entry {
	uint64_t lin;			/* guest rip (a non-canonical value when empty) */
	const uint8_t *entry;		/* chain entry of the translation */
	uint64_t gpa_page;		/* the code page rip must map to */
	const _Atomic uint32_t *gen_ptr;	/* its bvm->page_gen slot */
	uint32_t gen;			/* ... and the generation the block was decoded at */
	int32_t tlb_off;		/* offsetof the soft TLB the translation was made for */
};

#define BT_IBTC_BITS	12

/* Executable memory of one vCPU, filled front to back and emptied as a whole. It is mapped
 * read-write-execute: only its own vCPU thread writes it, and RW/RX switching (mprotect per
 * translation) or a second mapping would cost more than it protects here. */
struct bt_tcache {
	uint8_t *base, *end;		/* the mapping */
	uint8_t *start, *cur;		/* code since the last reset; cur: next free byte */
	uint8_t *populated;		/* [base, populated) has host pages */
	struct bt_ibtc_entry ibtc[1u << BT_IBTC_BITS];
	int perf_map_fd;		/* VMON_PERF_MAP: /tmp/perf-PID.map, else -1 */
};

#define BT_TCACHE_SIZE	(32u << 20)

int bt_tcache_init(struct bt_tcache *tc, size_t size);
void bt_tcache_free(struct bt_tcache *tc);
void bt_tcache_reset(struct bt_tcache *tc);
/* Allocates host pages ahead for len bytes of code at cur (len <= end - cur). */
void bt_tcache_reserve(struct bt_tcache *tc, size_t len);
/* Names host code [code, end) for perf, e.g. after the guest rip a translation starts at
 * (no-op unless VMON_PERF_MAP is set). */
void bt_tcache_name(struct bt_tcache *tc, const uint8_t *code, const uint8_t *end,
		    const char *name);

/* Longest block bt_translate takes. */
#define BT_TB_MAX_INSNS	64

typedef unsigned (*bt_tb_fn)(struct bt_cpu *cpu, uint64_t chain_limit);

/* Host bytes that a block of n instructions can take at most. */
size_t bt_translate_max_size(unsigned n);

/* Translate the n decoded instructions of a 64-bit code block into tc (the caller checked
 * bt_translate_max_size). tlb is the soft TLB (BT_TLB_SUP / BT_TLB_USER) that inline memory
 * accesses use: the translation may only run at that privilege. key is the block's gpa.
 * Returns NULL when out of host memory. */
bt_tb_fn bt_translate_block(struct bt_cpu *cpu, struct bt_tcache *tc, const struct bt_insn *insns,
			    unsigned n, int tlb, uint64_t key);

/* Record that the translation fn (made for soft TLB tlb) of the block at gpa key, decoded at
 * page generation gen, runs for guest rip lin. */
void bt_ibtc_insert(struct bt_cpu *cpu, struct bt_tcache *tc, uint64_t lin, bt_tb_fn fn,
		    uint64_t key, uint32_t gen, int tlb);

/* Make exit (a cpu->tb_exit of a translation in tc) jump to the translation fn of the block at
 * gpa key with page generation gen, made for soft TLB tlb (the same the exit's block uses). */
void bt_tb_link(struct bt_cpu *cpu, struct bt_tcache *tc, void *exit, bt_tb_fn fn, uint64_t key,
		uint32_t gen, int tlb);

#endif
