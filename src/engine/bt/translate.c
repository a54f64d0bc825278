/* Translation of a decoded 64-bit code block into host code (see translate.h).
 *
 * Register use in generated code: rbx = struct bt_cpu *, r12 = guest rip at block entry (so the
 * code does not depend on where the block is mapped linearly), r13 = fall-through rip of the
 * instruction whose handler is being called. Guest registers stay in cpu->s.gpr; rax, rcx, rdx,
 * rsi, rdi and r8-r11 are scratch within one instruction.
 *
 * An instruction without an inline form calls its handler exactly as run_block does: s.rip =
 * its rip, next_rip = its fall-through rip, then fn(cpu, insn); if the handler ended the block
 * or jumped, the block is left with s.rip = next_rip.
 */
#include <stddef.h>

#include "engine/bt/emit.h"
#include "engine/bt/ops.h"
#include "engine/bt/translate.h"

#define CPU	H_RBX
#define RIP0	H_R12
#define NEXT	H_R13

#define OFF(field)	((int32_t)offsetof(struct bt_cpu, field))
#define F(field)	em_m(CPU, OFF(field))

/* Block-leaving jumps wait in exits[] until the body is done; each lands on a shared stub. */
#define MAX_EXITS	(4 * BT_TB_MAX_INSNS)

struct tctx {
	struct emit e;
	const struct bt_insn *insns;
	unsigned n;
	int tlb;
	int32_t off;			/* current insn's rip - entry rip */
	unsigned nr_exits;
	struct {
		uint8_t *at;		/* rel32 to patch */
		unsigned done;		/* insns completed when leaving */
	} exits[MAX_EXITS];
};

size_t bt_translate_max_size(unsigned n)
{
	return 64 + (size_t)n * 320;
}

static void epilogue(struct emit *e, unsigned done)
{
	em_mov_imm(e, H_RAX, done);
	em_pop(e, H_R13);
	em_pop(e, H_R12);
	em_pop(e, H_RBX);
	em_ret(e);
}

/* Leave with s.rip = next_rip (what a handler decided). */
static void exit_next_rip(struct emit *e, unsigned done)
{
	em_op(e, 8, 0x8b, H_RAX, F(next_rip));
	em_op(e, 8, 0x89, H_RAX, F(s.rip));
	epilogue(e, done);
}

static void add_exit(struct tctx *t, uint8_t *at, unsigned done)
{
	t->exits[t->nr_exits].at = at;
	t->exits[t->nr_exits].done = done;
	t->nr_exits++;
}

/* rip of the current instruction (+ delta) into reg. */
static void rip_to(struct tctx *t, int reg, int32_t delta)
{
	em_op(&t->e, 8, 0x8d, reg, em_m(RIP0, t->off + delta));
}

/* Call insn k's handler as the interpreter does; returns with the checks done (or, for the
 * last insn, the block left). */
static void call_handler(struct tctx *t, unsigned k)
{
	const struct bt_insn *i = &t->insns[k];
	struct emit *e = &t->e;

	rip_to(t, H_RAX, 0);
	em_op(e, 8, 0x89, H_RAX, F(s.rip));
	rip_to(t, NEXT, i->len);
	em_op(e, 8, 0x89, NEXT, F(next_rip));
	em_op(e, 8, 0x8b, H_RDI, em_r(CPU));
	em_mov_imm(e, H_RSI, (uint64_t)(uintptr_t)i);
	em_call(e, (const void *)(uintptr_t)i->fn);
	if (k + 1 == t->n) {
		exit_next_rip(e, t->n);
		return;
	}
	em_alu_imm(e, 1, ALU_CMP, F(end_block), 0);
	add_exit(t, em_jcc(e, CC_NE), k + 1);
	em_op(e, 8, 0x39, NEXT, F(next_rip));
	add_exit(t, em_jcc(e, CC_NE), k + 1);
}

bt_tb_fn bt_translate_block(struct bt_tcache *tc, const struct bt_insn *insns, unsigned n, int tlb)
{
	struct tctx t = { .e = { tc->cur, tc->end }, .insns = insns, .n = n, .tlb = tlb };
	struct emit *e = &t.e;
	uint8_t *entry = e->p;

	em_push(e, H_RBX);		/* three pushes: calls see a 16-byte aligned stack */
	em_push(e, H_R12);
	em_push(e, H_R13);
	em_op(e, 8, 0x8b, CPU, em_r(H_RDI));
	em_op(e, 8, 0x8b, RIP0, F(s.rip));
	for (unsigned k = 0; k < n; k++) {
		call_handler(&t, k);
		t.off += insns[k].len;
	}
	/* Stubs: one per distinct insn count, shared by its exits. */
	uint8_t *stub[BT_TB_MAX_INSNS + 1] = { NULL };
	for (unsigned x = 0; x < t.nr_exits; x++) {
		unsigned done = t.exits[x].done;
		if (!stub[done]) {
			stub[done] = e->p;
			exit_next_rip(e, done);
		}
		em_patch(t.exits[x].at, stub[done]);
	}
	tc->cur = e->p;
	return (bt_tb_fn)(uintptr_t)entry;
}
