/* The bt engine's translation tier: hot decoded blocks become host x86-64 code.
 *
 * A translated block is a host function `unsigned fn(struct bt_cpu *cpu)` that runs all of its
 * block's instructions (the caller makes sure the budget allows that), leaves cpu->s.rip at the
 * next instruction to run, and returns how many instructions ran, exactly as the interpreter's
 * run_block would have. Faults longjmp out of it like out of any handler.
 */
#ifndef VMON_BT_TRANSLATE_H
#define VMON_BT_TRANSLATE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/bt/bt.h"

/* Executable memory of one vCPU, filled front to back and emptied as a whole. It is mapped
 * read-write-execute: only its own vCPU thread writes it, and RW/RX switching (mprotect per
 * translation) or a second mapping would cost more than it protects here. */
struct bt_tcache {
	uint8_t *base, *cur, *end;
};

#define BT_TCACHE_SIZE	(32u << 20)

int bt_tcache_init(struct bt_tcache *tc, size_t size);
void bt_tcache_free(struct bt_tcache *tc);
void bt_tcache_reset(struct bt_tcache *tc);

/* Longest block bt_translate takes. */
#define BT_TB_MAX_INSNS	64

typedef unsigned (*bt_tb_fn)(struct bt_cpu *cpu, uint64_t chain_limit);

/* Host bytes that a block of n instructions can take at most. */
size_t bt_translate_max_size(unsigned n);

/* Translate the n decoded instructions of a 64-bit code block into tc (the caller checked
 * bt_translate_max_size). tlb is the soft TLB (BT_TLB_SUP / BT_TLB_USER) that inline memory
 * accesses use: the translation may only run at that privilege. key is the block's gpa.
 * Returns NULL when out of host memory. */
bt_tb_fn bt_translate_block(struct bt_tcache *tc, const struct bt_insn *insns, unsigned n, int tlb,
			    uint64_t key);

/* Make exit (a cpu->tb_exit of a translation in tc) jump to the translation fn of the block at
 * gpa key with page generation gen, made for soft TLB tlb (the same the exit's block uses). */
void bt_tb_link(struct bt_cpu *cpu, struct bt_tcache *tc, void *exit, bt_tb_fn fn, uint64_t key,
		uint32_t gen, int tlb);

#endif
