/* Translation of a decoded 64-bit code block into host code (see translate.h).
 *
 * Register use in generated code: rbx = struct bt_cpu *, r12 = guest rip at block entry (so the
 * code does not depend on where the block is mapped linearly), r15 = instructions the chain may
 * still run before entering a block (the budget). Guest registers live in cpu->s.gpr; within a
 * block, the (up to) six most used ones are cached in rbp, r13, r14, r10, r11 and r9: loaded at
 * first use, written back when dirty before anything else can look at cpu->s.gpr (a handler
 * call, a slow path, a block exit), and given up around calls to C helpers that clobber r9-r11
 * (see "Cached guest registers"). rax, rcx, rdx, rsi, rdi and r8 are scratch within one
 * instruction.
 *
 * An instruction without an inline form calls its handler exactly as run_block does: s.rip =
 * its rip, next_rip = its fall-through rip, then fn(cpu, insn); if the handler ended the block
 * or jumped, the block is left with s.rip = next_rip.
 *
 * Inline forms (MOV, LEA, MOVZX/MOVSX, ALU ops with ADC/SBB, TEST, INC/DEC, MUL/IMUL, shifts by an
 * immediate, PUSH/POP, SETcc/CMOVcc, Jcc/JMP/CALL/RET) compute what their handlers compute,
 * including the lazy-flag state (cc_op, cc_dst, cc_src, cc_src2), so handler calls and inline
 * code mix freely; only flag stores that a later flag writer overwrites before anything can see
 * them (no call, slow path or exit between) are left out. They
 * never fault themselves: a memory operand takes the soft TLB's fast path inline, and anything
 * else (TLB miss, MMIO, page straddle, non-canonical address or jump target) goes to an
 * out-of-line slow path that calls the instruction's handler from scratch, which then does the
 * exact checks and raises the fault with s.rip at the instruction. Nothing architectural is
 * written before the fast path is certain, so the handler always starts from the original state.
 *
 * Instruction counting stays exact for blocks that run to their end or leave at a branch (the
 * chain guards add a block's count to stats.insns before entering the next one); a fault
 * mid-block longjmps out and that block's instructions are not counted, as in run_block.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine/bt/jit/emit.h"
#include "engine/bt/cpu/ops.h"
#include "engine/bt/jit/translate.h"

#define CPU	H_RBX
#define RIP0	H_R12
#define BUDGET	H_R15

/* Bytes from a translation's entry to its chain entry (after the register saves and the load
 * of s.rip: the chain entry takes the guest rip in rax). */
#define PROLOGUE_LEN	24

#define OFF(field)	((int32_t)offsetof(struct bt_cpu, field))
#define F(field)	em_m(CPU, OFF(field))
#define GPR(r)		(OFF(s.gpr) + 8 * (int32_t)(r))

_Static_assert(sizeof(struct bt_tlb_entry) <= 127, "TLB index scaling uses imul imm8");

/* Worst case of one instruction's inline code plus its out-of-line paths. */
#define MAX_INSN_BYTES	512

/* Block-leaving jumps wait in exits[] until the body is done; each lands on a shared stub. */
#define MAX_EXITS	(8 * BT_TB_MAX_INSNS)

enum tail_kind {
	TAIL_SLOW,	/* call the insn's handler, then continue at resume */
	TAIL_TAKEN,	/* a Jcc was taken: check the target and leave */
};

/* Out-of-line code of one insn, emitted after the body. */
struct tail {
	uint8_t kind;
	uint8_t nsites;
	int8_t regen_kind;	/* SLOW: cc kind whose host flags to rebuild after the handler */
	uint8_t regen_size;
	unsigned k;
	int32_t off;		/* the insn's rip - entry rip */
	int32_t target;		/* TAKEN: jump target - entry rip */
	uint8_t *sites[4];	/* rel32s jumping here */
	uint8_t *resume;
	uint16_t dirty;		/* cached guest registers to write back first (as at the sites) */
	uint16_t reload;	/* SLOW: cached guest registers the code at resume expects loaded */
};

/* A chainable exit, kept in the translation cache after the block's code. */
struct tb_exit {
	uint8_t *slot;		/* rel32 of the jump that chaining patches */
	bt_tb_fn linked;	/* the translation it was linked to, or NULL */
	uint64_t src_page;	/* gpa page of the exit's block */
	uint32_t done;		/* insns of the block completed at this exit */
	bool same_page;		/* the target is on the block's own (linear) page */
};

struct tctx {
	struct emit e;
	struct bt_cpu *cpu;
	struct bt_tcache *tc;
	uint64_t key;			/* gpa of the block */
	const struct bt_insn *insns;
	unsigned n, k;
	int tlb;
	int32_t off;			/* current insn's rip - entry rip */
	/* What is known at translation time about the guest flags: */
	int cc_kind;			/* enum cc_kind of cpu->cc_op, -1 if unknown */
	unsigned cc_size;
	bool flags_live;		/* the host flags are the guest's arithmetic flags */
	/* Cached guest registers: host register of each (H_NONE if not cached), and which ones
	 * hold the guest value now (loaded) and differ from cpu->s.gpr (dirty). */
	int8_t host_of[16];
	uint16_t loaded, dirty;
	unsigned nr_exits, nr_tails, nr_chain;
	uint8_t *dyn_exit;		/* the block's exit_dynamic code, once emitted */
	unsigned dyn_done;		/* ... and the insn count it leaves with */
	struct {
		uint8_t *imm;		/* the imm64 that gets the descriptor's address */
		struct tb_exit x;
	} chain[BT_TB_MAX_INSNS + 1];
	struct {
		uint8_t *at;		/* rel32 to patch */
		unsigned done;		/* insns completed when leaving */
	} exits[MAX_EXITS];
	struct tail tails[2 * BT_TB_MAX_INSNS];
};

size_t bt_translate_max_size(unsigned n)
{
	return 512 + (size_t)(n + 1) * (MAX_INSN_BYTES + sizeof(struct tb_exit));
}

/* ---- Exits ----------------------------------------------------------------------------------- */

/* Undo the prologue's pushes and return (rax is the return value). */
static void pop_and_return(struct emit *e)
{
	em_pop(e, H_RDX);		/* the alignment slot */
	em_pop(e, H_R15);
	em_pop(e, H_R14);
	em_pop(e, H_R13);
	em_pop(e, H_R12);
	em_pop(e, H_RBP);
	em_pop(e, H_RBX);
	em_ret(e);
}

static void epilogue(struct emit *e, unsigned done)
{
	em_mov_imm(e, H_RAX, done);
	pop_and_return(e);
}

/* Leave with s.rip = next_rip (what a handler decided). */
static void exit_next_rip(struct emit *e, unsigned done)
{
	em_op(e, 8, 0x8b, H_RAX, F(next_rip));
	em_op(e, 8, 0x89, H_RAX, F(s.rip));
	epilogue(e, done);
}

/* Is entry rip + target on the block's first page? Such a target needs no canonical check
 * (the entry rip is canonical, and no page straddles the non-canonical hole) and no mapping
 * check when chained. */
static bool same_page(const struct tctx *t, int32_t target)
{
	int64_t page_off = (int64_t)(t->key & (BT_PAGE - 1)) + target;

	return page_off >= 0 && page_off < (int64_t)BT_PAGE;
}

/* Leave for a static target, entry rip + target, whose value is in rax: a jump that chaining
 * may redirect, then the way back to the run loop, which records this exit in cpu->tb_exit. */
static void exit_static(struct tctx *t, unsigned done, int32_t target)
{
	struct emit *e = &t->e;
	struct tb_exit *x = &t->chain[t->nr_chain].x;

	em_op(e, 8, 0x89, H_RAX, F(s.rip));
	x->slot = em_jmp(e);
	em_patch(x->slot, e->p);
	x->done = done;
	x->src_page = t->key & BT_PAGE_MASK;
	x->same_page = same_page(t, target);
	em_mov_imm64(e, H_RCX, 0);			/* patched to the descriptor */
	t->chain[t->nr_chain++].imm = e->p - 8;
	em_op(e, 8, 0x89, H_RCX, F(tb_exit));
	epilogue(e, done);
}

static int32_t tlb_offset(int tlb)
{
	return OFF(tlb) + tlb * (int32_t)sizeof(((struct bt_cpu *)0)->tlb[0]);
}

static unsigned ibtc_index(uint64_t lin)
{
	return (unsigned)(lin ^ (lin >> 12)) & ((1u << BT_IBTC_BITS) - 1);
}

void bt_ibtc_insert(struct bt_cpu *cpu, struct bt_tcache *tc, uint64_t lin, bt_tb_fn fn,
		    uint64_t key, uint32_t gen, int tlb)
{
	struct bt_ibtc_entry *x = &tc->ibtc[ibtc_index(lin)];

	x->lin = lin;
	x->entry = (const uint8_t *)(uintptr_t)fn + PROLOGUE_LEN;
	x->gpa_page = key & BT_PAGE_MASK;
	x->gen_ptr = &cpu->bvm->page_gen[key >> 12];
	x->gen = gen;
	x->tlb_off = tlb_offset(tlb);
}

#define IB(field)	((int32_t)offsetof(struct bt_ibtc_entry, field))
#define TLBE(field)	((int32_t)offsetof(struct bt_tlb_entry, field))

/* Leave for a target known only now, in rax, through the indirect branch target cache: enter
 * the cached translation of rax when every check the run loop would make passes, else return
 * to the run loop. Each block has its own copy (its own indirect jump, for the host's branch
 * predictor), emitted once and shared by the block's dynamic exits. */
static void exit_dynamic(struct tctx *t, unsigned done)
{
	struct emit *e = &t->e;
	int32_t tlbs = tlb_offset(t->tlb);
	uint8_t *fail[8];
	unsigned nf = 0;

	if (t->dyn_exit && t->dyn_done == done) {
		em_jmp_to(e, t->dyn_exit);
		return;
	}
	t->dyn_exit = e->p;
	t->dyn_done = done;
	em_op(e, 8, 0x89, H_RAX, F(s.rip));
	em_alu_imm(e, 4, ALU_SUB, em_r(BUDGET), (int32_t)done);
	fail[nf++] = em_jcc(e, CC_B);
	em_alu_imm(e, 1, ALU_CMP, F(kick), 0);
	fail[nf++] = em_jcc(e, CC_NE);
	em_mov_imm(e, H_RDX, (uint64_t)(uintptr_t)&t->cpu->bvm->tlb_gen);
	em_op(e, 4, 0x8b, H_RDX, em_m(H_RDX, 0));
	em_op(e, 4, 0x3b, H_RDX, F(tlb_gen_seen));
	fail[nf++] = em_jcc(e, CC_NE);
	/* the entry: rip, TLB, page generation */
	em_op(e, 8, 0x8b, H_RDX, em_r(H_RAX));
	em_shift_imm(e, 8, SH_SHR, em_r(H_RDX), 12);
	em_op(e, 8, 0x33, H_RDX, em_r(H_RAX));				/* xor rdx, rax */
	em_alu_imm(e, 4, ALU_AND, em_r(H_RDX), (1 << BT_IBTC_BITS) - 1);
	em_op(e, 4, 0x6b, H_RDX, em_r(H_RDX));
	em_byte(e, (uint8_t)sizeof(struct bt_ibtc_entry));
	em_mov_imm(e, H_RSI, (uint64_t)(uintptr_t)t->tc->ibtc);
	em_op(e, 8, 0x03, H_RSI, em_r(H_RDX));
	em_op(e, 8, 0x3b, H_RAX, em_m(H_RSI, IB(lin)));
	fail[nf++] = em_jcc(e, CC_NE);
	em_alu_imm(e, 4, ALU_CMP, em_m(H_RSI, IB(tlb_off)), tlbs);
	fail[nf++] = em_jcc(e, CC_NE);
	em_op(e, 8, 0x8b, H_RDX, em_m(H_RSI, IB(gen_ptr)));
	em_op(e, 4, 0x8b, H_RDX, em_m(H_RDX, 0));
	em_op(e, 4, 0x3b, H_RDX, em_m(H_RSI, IB(gen)));
	fail[nf++] = em_jcc(e, CC_NE);
	/* rip's page still maps to the block's page for execution */
	em_op(e, 4, 0x8b, H_RDI, em_r(H_RAX));
	em_shift_imm(e, 4, SH_SHR, em_r(H_RDI), 12);
	em_alu_imm(e, 4, ALU_AND, em_r(H_RDI), BT_TLB_SIZE - 1);
	em_op(e, 4, 0x6b, H_RDI, em_r(H_RDI));
	em_byte(e, (uint8_t)sizeof(struct bt_tlb_entry));
	em_op(e, 8, 0x8b, H_RDX, em_r(H_RAX));
	em_alu_imm(e, 8, ALU_AND, em_r(H_RDX), (int32_t)BT_PAGE_MASK);
	em_op(e, 8, 0x3b, H_RDX, em_mx(CPU, H_RDI, 0, tlbs + TLBE(tag_exec)));
	fail[nf++] = em_jcc(e, CC_NE);
	em_op(e, 8, 0x8b, H_RDX, em_m(H_RSI, IB(gpa_page)));
	em_op(e, 8, 0x3b, H_RDX, em_mx(CPU, H_RDI, 0, tlbs + TLBE(gpa_page)));
	fail[nf++] = em_jcc(e, CC_NE);
	em_op(e, 8, 0xff, 0, F(stats.tb_chained));			/* inc qword */
	em_alu_imm(e, 8, ALU_ADD, F(stats.insns), (int32_t)done);
	em_op(e, 4, 0xff, 4, em_m(H_RSI, IB(entry)));			/* jmp [rsi + entry] */
	for (unsigned f = 0; f < nf; f++)
		em_patch(fail[f], e->p);
	epilogue(e, done);
}

static void add_exit(struct tctx *t, uint8_t *at, unsigned done)
{
	t->exits[t->nr_exits].at = at;
	t->exits[t->nr_exits].done = done;
	t->nr_exits++;
}

/* entry rip + delta into reg. */
static void rip_to(struct tctx *t, int reg, int32_t delta)
{
	em_op(&t->e, 8, 0x8d, reg, em_m(RIP0, delta));
}

/* Call insn k's handler as the interpreter does. For the last insn the block is left; otherwise
 * the code falls through when the handler neither ended the block nor jumped. */
static void call_handler(struct tctx *t, unsigned k, int32_t off)
{
	const struct bt_insn *i = &t->insns[k];
	struct emit *e = &t->e;

	rip_to(t, H_RAX, off);
	em_op(e, 8, 0x89, H_RAX, F(s.rip));
	em_op(e, 8, 0x8d, H_RAX, em_m(H_RAX, i->len));
	em_op(e, 8, 0x89, H_RAX, F(next_rip));
	em_op(e, 8, 0x8b, H_RDI, em_r(CPU));
	em_mov_imm(e, H_RSI, (uint64_t)(uintptr_t)i);
	em_call(e, (const void *)(uintptr_t)i->fn);
	if (k + 1 == t->n) {
		/* near indirect branches change nothing but rip (and RSP) */
		if (i->fn == bt_h_jmp_E || i->fn == bt_h_call_E || i->fn == bt_h_ret) {
			em_op(e, 8, 0x8b, H_RAX, F(next_rip));
			exit_dynamic(t, t->n);
		} else {
			exit_next_rip(e, t->n);
		}
		return;
	}
	em_alu_imm(e, 1, ALU_CMP, F(end_block), 0);
	add_exit(t, em_jcc(e, CC_NE), k + 1);
	rip_to(t, H_RAX, off + i->len);
	em_op(e, 8, 0x39, H_RAX, F(next_rip));
	add_exit(t, em_jcc(e, CC_NE), k + 1);
}

/* ---- Out-of-line paths ----------------------------------------------------------------------- */

static struct tail *new_tail(struct tctx *t, enum tail_kind kind)
{
	struct tail *tl = &t->tails[t->nr_tails++];

	*tl = (struct tail){ .kind = (uint8_t)kind, .regen_kind = -1, .k = t->k, .off = t->off,
			     .dirty = t->dirty };
	return tl;
}

/* The current insn's slow path (one per insn, shared by its checks). */
static struct tail *slow_tail(struct tctx *t)
{
	for (unsigned x = t->nr_tails; x-- > 0 && t->tails[x].k == t->k;)
		if (t->tails[x].kind == TAIL_SLOW)
			return &t->tails[x];
	return new_tail(t, TAIL_SLOW);
}

/* Jump to the slow path if the host condition cc holds. */
static void slow_if(struct tctx *t, unsigned cc)
{
	struct tail *tl = slow_tail(t);

	/* Guest registers are only written after the last check, so all the sites of one insn
	 * have the same dirty registers to write back. */
	if (tl->dirty != t->dirty)
		abort();
	tl->sites[tl->nsites++] = em_jcc(&t->e, cc);
}

/* jne slow unless reg holds a canonical address. Uses rdx. */
static void check_canonical(struct tctx *t, int reg)
{
	struct emit *e = &t->e;

	em_op(e, 8, 0x8b, H_RDX, em_r(reg));
	em_shift_imm(e, 8, SH_SHL, em_r(H_RDX), 16);
	em_shift_imm(e, 8, SH_SAR, em_r(H_RDX), 16);
	em_op(e, 8, 0x39, reg, em_r(H_RDX));
	slow_if(t, CC_NE);
}

/* ---- Guest registers and flags --------------------------------------------------------------- */

static bool rex(const struct bt_insn *i) { return i->flags & BI_REX; }

/* Zero- (or sign-) extending load of size bytes from m into host register h. */
static void load(struct emit *e, int h, struct em_rm m, unsigned size, bool sign)
{
	switch (size) {
	case 1: em_op(e, sign ? 8 : 4, sign ? 0x0fbe : 0x0fb6, h, m); break;
	case 2: em_op(e, sign ? 8 : 4, sign ? 0x0fbf : 0x0fb7, h, m); break;
	case 4: em_op(e, sign ? 8 : 4, sign ? 0x63 : 0x8b, h, m); break;
	default: em_op(e, 8, 0x8b, h, m); break;
	}
}

/* Store the low size bytes of host register h to m. */
static void store(struct emit *e, int h, struct em_rm m, unsigned size)
{
	em_op(e, size, size == 1 ? 0x88 : 0x89, h, m);
}

/* ---- Cached guest registers ------------------------------------------------------------------ */

/* Host registers that cache guest registers, most used guest register first: rbp, r13 and r14
 * survive calls to C helpers, r10, r11 and r9 do not. */
static const int cache_hosts[] = { H_RBP, H_R13, H_R14, H_R10, H_R11, H_R9 };
#define CALLER_SAVED_CACHE(t)	(cache_mask(t, H_R10) | cache_mask(t, H_R11) | cache_mask(t, H_R9))

static uint16_t greg_bit(unsigned r) { return (uint16_t)(1u << r); }

/* The guest register cached in host register h, as a mask (0 if none). */
static uint16_t cache_mask(const struct tctx *t, int h)
{
	for (unsigned r = 0; r < 16; r++)
		if (t->host_of[r] == h)
			return greg_bit(r);
	return 0;
}

/* Pick the block's cached registers: the six guest registers its instructions name most
 * often (as operands, addresses or the stack pointer), if named at least twice. */
static void choose_cached(struct tctx *t)
{
	unsigned uses[16] = { 0 };

	for (unsigned k = 0; k < t->n; k++) {
		const struct bt_insn *i = &t->insns[k];
		unsigned o = i->op;
		if (i->flags & BI_MEM) {
			if (i->base < 16)
				uses[i->base]++;
			if (i->index < 16)
				uses[i->index]++;
		} else if (i->rm < 16) {
			uses[i->rm]++;
		}
		if (i->reg < 16)
			uses[i->reg]++;
		if ((o >= 0x50 && o < 0x60) || o == 0x68 || o == 0x6a || o == 0xe8 || o == 0xc3)
			uses[R_RSP]++;
	}
	for (unsigned r = 0; r < 16; r++)
		t->host_of[r] = H_NONE;
	for (unsigned h = 0; h < sizeof(cache_hosts) / sizeof(cache_hosts[0]); h++) {
		unsigned best = 0;
		for (unsigned r = 1; r < 16; r++)
			if (uses[r] > uses[best])
				best = r;
		if (uses[best] < 2)
			break;
		t->host_of[best] = (int8_t)cache_hosts[h];
		uses[best] = 0;
	}
}

/* Store the cached registers of mask to cpu->s.gpr (plain moves: the host flags stay). */
static void write_back(struct tctx *t, uint16_t mask)
{
	for (unsigned r = 0; r < 16; r++)
		if (mask & greg_bit(r))
			em_op(&t->e, 8, 0x89, t->host_of[r], em_m(CPU, GPR(r)));
}

/* Load the cached registers of mask from cpu->s.gpr. */
static void reload(struct tctx *t, uint16_t mask)
{
	for (unsigned r = 0; r < 16; r++)
		if (mask & greg_bit(r))
			em_op(&t->e, 8, 0x8b, t->host_of[r], em_m(CPU, GPR(r)));
}

/* Make cpu->s.gpr current (before a block exit). */
static void flush_regs(struct tctx *t)
{
	write_back(t, t->dirty);
	t->dirty = 0;
}

/* Before a handler call: cpu->s.gpr current, and nothing cached trusted after it. */
static void flush_and_forget(struct tctx *t)
{
	flush_regs(t);
	t->loaded = 0;
}

/* Before a call to a C helper that reads no guest register but clobbers r9-r11. */
static void spill_caller_saved(struct tctx *t)
{
	uint16_t m = CALLER_SAVED_CACHE(t);

	write_back(t, t->dirty & m);
	t->dirty &= (uint16_t)~m;
	t->loaded &= (uint16_t)~m;
}

/* Stop caching guest register r (its byte 1, AH..BH, is accessed in memory). */
static void uncache(struct tctx *t, unsigned r, bool drop)
{
	write_back(t, t->dirty & greg_bit(r));
	t->dirty &= (uint16_t)~greg_bit(r);
	if (drop)
		t->loaded &= (uint16_t)~greg_bit(r);
}

/* The host register holding guest register r, loading it first if needed; H_NONE when r is
 * not cached. */
static int use_greg(struct tctx *t, unsigned r)
{
	int h = t->host_of[r];

	if (h != H_NONE && !(t->loaded & greg_bit(r))) {
		em_op(&t->e, 8, 0x8b, h, em_m(CPU, GPR(r)));
		t->loaded |= greg_bit(r);
	}
	return h;
}

/* Is (r, size) one of AH..BH, byte 1 of RAX..RBX? */
static bool high_byte(const struct bt_insn *i, unsigned r, unsigned size)
{
	return size == 1 && !rex(i) && r >= 4 && r < 8;
}

/* Guest register r (size bytes, zero- or sign-extended) into host register h. */
static void load_greg(struct tctx *t, const struct bt_insn *i, int h, unsigned r, unsigned size,
		      bool sign)
{
	int c;

	if (high_byte(i, r, size)) {
		uncache(t, r - 4, false);
		load(&t->e, h, em_m(CPU, GPR(r - 4) + 1), 1, sign);
		return;
	}
	c = use_greg(t, r);
	if (c == H_NONE)
		load(&t->e, h, em_m(CPU, GPR(r)), size, sign);
	else if (size == 1)	/* REX.W: rbp's low byte is BPL, not CH */
		em_op(&t->e, 8, sign ? 0x0fbe : 0x0fb6, h, em_r(c));
	else
		load(&t->e, h, em_r(c), size, sign);
}

/* Write host register h to guest register r as reg_set does (32-bit writes zero-extend). */
static void store_reg(struct tctx *t, const struct bt_insn *i, int h, unsigned r, unsigned size)
{
	int c;

	if (high_byte(i, r, size)) {
		uncache(t, r - 4, true);
		store(&t->e, h, em_m(CPU, GPR(r - 4) + 1), 1);
		return;
	}
	/* 8/16-bit writes keep the rest of the register: the cached copy must hold it */
	c = size >= 4 ? t->host_of[r] : use_greg(t, r);
	if (c != H_NONE) {
		if (size >= 4)
			em_op(&t->e, size, 0x8b, c, em_r(h));
		else
			store(&t->e, h, em_r(c), size);
		t->loaded |= greg_bit(r);
		t->dirty |= greg_bit(r);
		return;
	}
	if (size == 4) {
		em_op(&t->e, 4, 0x8b, h, em_r(h));
		size = 8;
	}
	store(&t->e, h, em_m(CPU, GPR(r)), size);
}

static uint32_t cc_op_of(int kind, unsigned size)
{
	return (uint32_t)kind << 2 | cc_size_log(size);
}

/* Host flags from the stored lazy flags of a statically known kind, where one host
 * instruction rebuilds all of them; false if none does. Uses rax. */
static bool regen_flags(struct emit *e, int kind, unsigned size)
{
	unsigned b = size == 1 ? 0 : 1;

	switch (kind) {
	case CC_SUB:
		em_op(e, 8, 0x8b, H_RAX, F(cc_src2));
		em_op(e, size, 0x3a | b, H_RAX, F(cc_src));		/* cmp */
		return true;
	case CC_ADD:
		em_op(e, 8, 0x8b, H_RAX, F(cc_src2));
		em_op(e, size, 0x02 | b, H_RAX, F(cc_src));		/* add */
		return true;
	case CC_LOGIC:
		em_op(e, 8, 0x8b, H_RAX, F(cc_dst));
		em_op(e, size, 0x84 | b, H_RAX, em_r(H_RAX));		/* test */
		return true;
	default:
		return false;
	}
}

/* Make the host flags answer guest condition cc; returns the host condition to test. The host
 * flags are the guest's afterwards unless bt_cond had to be called (which also clobbers the
 * caller-saved registers). */
static unsigned cond_to_host(struct tctx *t, unsigned cc)
{
	struct emit *e = &t->e;

	if (t->flags_live || regen_flags(e, t->cc_kind, t->cc_size)) {
		t->flags_live = true;
		return cc;
	}
	t->flags_live = false;
	spill_caller_saved(t);
	em_op(e, 8, 0x8b, H_RDI, em_r(CPU));
	em_mov_imm(e, H_RSI, cc);
	em_call(e, (const void *)(uintptr_t)bt_cond);
	em_op(e, 1, 0x84, H_RAX, em_r(H_RAX));			/* test al, al */
	return CC_NE;
}

/* ---- Memory operands ------------------------------------------------------------------------- */

/* Can i's memory operand be done inline? (64-bit code; LOCKed accesses go to the handler.) */
static bool mem_inline(const struct tctx *t, const struct bt_insn *i)
{
	if (i->flags & BI_LOCK)
		return false;
	if (i->flags & BI_RIPREL) {
		int64_t d = (int64_t)t->off + i->len + i->disp;
		return d == (int32_t)d;
	}
	return true;
}

/* Effective address of i's memory operand into rsi (uses rdi). */
static void emit_ea(struct tctx *t, const struct bt_insn *i)
{
	struct emit *e = &t->e;

	if (i->flags & BI_RIPREL) {
		rip_to(t, H_RSI, t->off + i->len + i->disp);
	} else if (i->base != BT_NOREG || i->index != BT_NOREG) {
		/* base and index straight from their cached host registers, else via rsi / rdi */
		int base = H_NONE, index = H_NONE;
		if (i->base != BT_NOREG && (base = use_greg(t, i->base)) == H_NONE) {
			em_op(e, 8, 0x8b, H_RSI, em_m(CPU, GPR(i->base)));
			base = H_RSI;
		}
		if (i->index != BT_NOREG && (index = use_greg(t, i->index)) == H_NONE) {
			em_op(e, 8, 0x8b, H_RDI, em_m(CPU, GPR(i->index)));
			index = H_RDI;
		}
		if (index != H_NONE || i->disp || base != H_RSI)
			em_op(e, 8, 0x8d, H_RSI, em_mx(base, index, i->scale, i->disp));
	} else {
		em_mov_imm(e, H_RSI, (uint64_t)(int64_t)i->disp);
	}
	if (i->addrsize == 4)
		em_op(e, 4, 0x8b, H_RSI, em_r(H_RSI));		/* mov esi, esi */
}

/* Soft-TLB fast path for size bytes at the linear address in rsi; leaves the host address in
 * rsi, or jumps to the slow path. Uses rdi and r8.
 * A hit means the bytes are in one page of plain RAM with the needed permission, and, in
 * 64-bit mode, that the address is canonical: tags are canonical page addresses (or carry
 * TLB_INVALID / TLB_SLOW), and the page of the last byte is compared with the tag of the
 * first byte's TLB slot, which only matches when both bytes are in that page. */
static void tlb_access(struct tctx *t, unsigned size, bool write)
{
	struct emit *e = &t->e;
	int32_t tlb = OFF(tlb) + t->tlb * (int32_t)sizeof(((struct bt_cpu *)0)->tlb[0]);
	int32_t tag = (int32_t)(write ? offsetof(struct bt_tlb_entry, tag_write) :
				offsetof(struct bt_tlb_entry, tag_read));

	em_op(e, 4, 0x8b, H_RDI, em_r(H_RSI));
	em_shift_imm(e, 4, SH_SHR, em_r(H_RDI), 12);
	em_alu_imm(e, 4, ALU_AND, em_r(H_RDI), BT_TLB_SIZE - 1);
	em_op(e, 4, 0x6b, H_RDI, em_r(H_RDI));			/* imul edi, edi, sizeof */
	em_byte(e, (uint8_t)sizeof(struct bt_tlb_entry));
	em_op(e, 8, 0x8d, H_R8, em_m(H_RSI, (int32_t)size - 1));
	em_alu_imm(e, 8, ALU_AND, em_r(H_R8), (int32_t)BT_PAGE_MASK);
	em_op(e, 8, 0x3b, H_R8, em_mx(CPU, H_RDI, 0, tlb + tag));
	slow_if(t, CC_NE);
	em_op(e, 8, 0x03, H_RSI,
	      em_mx(CPU, H_RDI, 0, tlb + (int32_t)offsetof(struct bt_tlb_entry, addend)));
}

/* Linear address of i's memory operand -> host address in rsi (64-bit mode: FS/GS add their
 * base, the other segments are flat). */
static void mem_access(struct tctx *t, const struct bt_insn *i, unsigned size, bool write)
{
	emit_ea(t, i);
	if (i->seg == S_FS || i->seg == S_GS)
		em_op(&t->e, 8, 0x03, H_RSI,
		      em_m(CPU, OFF(s.seg) + i->seg * (int32_t)sizeof(struct seg_reg) +
			   (int32_t)offsetof(struct seg_reg, base)));
	tlb_access(t, size, write);
}

/* r/m operand of size bytes into host register h (zero-extended); for memory, rsi is left
 * pointing at it. */
static void load_rm(struct tctx *t, const struct bt_insn *i, int h, unsigned size, bool sign,
		    bool write)
{
	if (i->flags & BI_MEM) {
		mem_access(t, i, size, write);
		load(&t->e, h, em_m(H_RSI, 0), size, sign);
	} else {
		load_greg(t, i, h, i->rm, size, sign);
	}
}

/* Host register h (size bytes) into the r/m operand: the write's own access check for memory. */
static void store_rm(struct tctx *t, const struct bt_insn *i, int h, unsigned size)
{
	if (i->flags & BI_MEM) {
		mem_access(t, i, size, true);
		store(&t->e, h, em_m(H_RSI, 0), size);
	} else {
		store_reg(t, i, h, i->rm, size);
	}
}

/* ---- Inline forms ---------------------------------------------------------------------------- */

enum alu_form { AF_NONE, AF_EG, AF_GE, AF_EI, AF_TEST_EG, AF_TEST_EI };

static enum alu_form alu_form(const struct bt_insn *i, unsigned *op)
{
	unsigned o = i->op;

	if (o < 0x40 && (o & 7) < 6) {
		*op = o >> 3;
		return (o & 7) < 2 ? AF_EG : (o & 7) < 4 ? AF_GE : AF_EI;
	}
	if (o == 0x80 || o == 0x81 || o == 0x83) {
		*op = i->reg & 7;
		return AF_EI;
	}
	*op = ALU_AND;
	if (o == 0x84 || o == 0x85)
		return AF_TEST_EG;
	if (o == 0xa8 || o == 0xa9 || ((o == 0xf6 || o == 0xf7) && (i->reg & 7) < 2))
		return AF_TEST_EI;
	return AF_NONE;
}

/* ---- Dead flags ------------------------------------------------------------------------------ */

/* Register-only forms that inline code handles without a call, a slow path or an exit, and
 * that neither read nor write the flags. */
static bool flagless_reg_insn(const struct bt_insn *i)
{
	unsigned o = i->op;

	if (o == 0x8d)					/* lea (no memory access) */
		return !(i->flags & (BI_RIPREL | BI_LOCK));
	if (i->flags & BI_MEM)
		return false;
	return (o >= 0x88 && o <= 0x8b) || (o >= 0xb0 && o <= 0xbf) ||
	       ((o == 0xf6 || o == 0xf7) && (i->reg & 7) == 2) ||
	       ((o == 0xc6 || o == 0xc7) && (i->reg & 7) == 0) ||
	       o == 0x1b6 || o == 0x1b7 || o == 0x1be || o == 0x1bf || o == 0x63;
}

/* Register-only forms that inline code handles without a call, a slow path or an exit, and
 * that set all the lazy flags without reading them. */
static bool flag_writer_reg_insn(const struct bt_insn *i)
{
	unsigned op, o = i->op;

	if (i->flags & BI_MEM)
		return false;
	if (alu_form(i, &op) != AF_NONE)
		return op != ALU_ADC && op != ALU_SBB;
	if (o == 0xc1 || o == 0xd1) {
		unsigned sh = i->reg & 7, c = (unsigned)i->imm & (i->opsize == 8 ? 63 : 31);
		return i->opsize >= 4 && c && (sh == SH_SHL || sh == SH_SHR || sh == SH_SAR);
	}
	if (o == 0xf7)					/* one-operand MUL, IMUL */
		return i->opsize >= 4 && ((i->reg & 7) == 4 || (i->reg & 7) == 5);
	return (o == 0x1af || o == 0x69 || o == 0x6b) && i->opsize >= 4;
}

/* ROL/ROR of a 32/64-bit register by a nonzero immediate: sets CF and OF, keeps the rest. */
static bool rotate_reg_insn(const struct bt_insn *i)
{
	unsigned c = (unsigned)i->imm & (i->opsize == 8 ? 63 : 31);

	return (i->op == 0xc1 || i->op == 0xd1) && !(i->flags & BI_MEM) && i->opsize >= 4 &&
	       (i->reg & 7) <= SH_ROR && c;
}

/* Flagless register forms after which the translator still trusts the host flags (it forgets
 * them at a LEA). */
static bool keeps_host_flags(const struct bt_insn *i)
{
	return flagless_reg_insn(i) && i->op != 0x8d;
}

/* SETcc / CMOVcc of registers: their inline code reads the host flags when those are live. */
static bool host_flag_reader(const struct bt_insn *i)
{
	if (i->flags & BI_MEM)
		return false;
	return (i->op & 0xff0) == 0x190 || ((i->op & 0xff0) == 0x140 && i->opsize >= 4);
}

/* The flags insn k computes are overwritten before anything can see them: nothing but
 * register moves (or rotates whose own flags are dead) up to the next flag writer, with no
 * call, fault or block exit between; after an ALU op, whose inline code leaves its flags in
 * the host's, register SETcc/CMOVcc may read them there too, as long as the host flags stay
 * live (keeps_host_flags). */
static bool flags_dead_after(const struct tctx *t, unsigned k)
{
	unsigned op;
	bool live = alu_form(&t->insns[k], &op) != AF_NONE;

	for (unsigned j = k + 1; j < t->n; j++) {
		const struct bt_insn *i = &t->insns[j];
		if (flag_writer_reg_insn(i))
			return true;
		if (rotate_reg_insn(i) && flags_dead_after(t, j)) {
			live = false;
			continue;
		}
		if (live && host_flag_reader(i))
			continue;
		if (!flagless_reg_insn(i))
			return false;
		live = live && keeps_host_flags(i);
	}
	return false;
}

/* Store the lazy flags of an op whose result is in rdx, operands in rax (a) and rcx (b). */
static void store_flags(struct tctx *t, int kind, unsigned size, bool operands)
{
	struct emit *e = &t->e;

	t->cc_kind = kind;
	t->cc_size = size;
	if (flag_writer_reg_insn(&t->insns[t->k]) && flags_dead_after(t, t->k))
		return;
	em_store_imm(e, 4, F(cc_op), (int32_t)cc_op_of(kind, size));
	em_op(e, 8, 0x89, H_RDX, F(cc_dst));
	if (operands) {
		em_op(e, 8, 0x89, H_RCX, F(cc_src));
		em_op(e, 8, 0x89, H_RAX, F(cc_src2));
	}
}

static void cf_to_reg(struct tctx *t, int h);

/* A 32/64-bit register ALU op (not ADC/SBB) whose flags are dead, on a cached destination: one
 * host op on the cached register (a 32-bit one zero-extends, as the guest's does). */
static bool inline_alu_in_place(struct tctx *t, const struct bt_insn *i, enum alu_form form,
				unsigned op, int kind)
{
	struct emit *e = &t->e;
	unsigned size = i->opsize, dst = form == AF_GE ? i->reg : i->rm;
	bool imm = form == AF_EI || form == AF_TEST_EI;
	int a, b = H_NONE;

	if ((i->flags & BI_MEM) || size < 4 || op == ALU_ADC || op == ALU_SBB ||
	    t->host_of[dst] == H_NONE || !flag_writer_reg_insn(i) || !flags_dead_after(t, t->k))
		return false;
	if (imm && (int64_t)i->imm != (int32_t)i->imm && size == 8)
		return false;
	a = use_greg(t, dst);
	if (!imm) {
		unsigned src = form == AF_GE ? i->rm : i->reg;
		b = use_greg(t, src);
		if (b == H_NONE) {
			load_greg(t, i, H_RCX, src, size, false);
			b = H_RCX;
		}
	}
	if (form == AF_TEST_EI) {
		em_op(e, size, 0xf7, 0, em_r(a));				/* test a, imm32 */
		em_u32(e, (uint32_t)i->imm);
	} else if (form == AF_TEST_EG) {
		em_op(e, size, 0x85, b, em_r(a));
	} else if (imm) {
		em_alu_imm(e, size, op, em_r(a), (int32_t)i->imm);
	} else {
		em_op(e, size, op << 3 | 1, b, em_r(a));
	}
	if (op != ALU_CMP && form != AF_TEST_EG && form != AF_TEST_EI)
		t->dirty |= greg_bit(dst);
	t->cc_kind = kind;
	t->cc_size = size;
	t->flags_live = true;
	return true;
}

/* ADD/OR/ADC/SBB/AND/SUB/XOR/CMP/TEST in all operand forms. */
static bool inline_alu(struct tctx *t, const struct bt_insn *i)
{
	struct emit *e = &t->e;
	unsigned op, size = i->opsize;
	enum alu_form form = alu_form(i, &op);
	bool mem = i->flags & BI_MEM, writes = op != ALU_CMP && form != AF_TEST_EG &&
		   form != AF_TEST_EI;
	static const int kinds[8] = { CC_ADD, CC_LOGIC, CC_ADC, CC_SBB, CC_LOGIC, CC_SUB, CC_LOGIC,
				      CC_SUB };
	int kind = form == AF_TEST_EG || form == AF_TEST_EI ? CC_LOGIC : kinds[op & 7];
	bool carry = op == ALU_ADC || op == ALU_SBB;
	unsigned b = size == 1 ? 0 : 1;

	if (form == AF_NONE || (mem && !mem_inline(t, i)))
		return false;
	if (inline_alu_in_place(t, i, form, op, kind))
		return true;
	/* A register-only ADC/SBB finds the guest CF in the host's: the loads below are plain
	 * moves. Otherwise the CF goes to rdx first (that may call out), which the loads leave. */
	bool cf_live = carry && !mem && t->flags_live;
	if (carry && !cf_live)
		cf_to_reg(t, H_RDX);
	/* rax = a (the destination operand), rcx = b */
	if (form == AF_GE) {
		load_greg(t, i, H_RAX, i->reg, size, false);
		load_rm(t, i, H_RCX, size, false, false);
	} else {
		load_rm(t, i, H_RAX, size, false, writes);
		if (form == AF_EG || form == AF_TEST_EG)
			load_greg(t, i, H_RCX, i->reg, size, false);
		else
			em_mov_imm(e, H_RCX, i->imm & sz_mask(size));
	}
	if (carry && !cf_live)		/* host CF = guest CF for the host's ADC/SBB */
		em_op(e, 4, 0xf7, 3, em_r(H_RDX));			/* neg edx */
	em_op(e, 8, 0x8b, H_RDX, em_r(H_RAX));
	/* the host op of the same size sets exactly the guest's flags (CMP as SUB, TEST as AND) */
	em_op(e, size, (op == ALU_CMP ? ALU_SUB : op) << 3 | b, H_RCX, em_r(H_RDX));
	if (size < 4)
		load(e, H_RDX, em_r(H_RDX), size, false);		/* movzx: flags kept */
	if (writes) {
		if (form == AF_GE)
			store_reg(t, i, H_RDX, i->reg, size);
		else if (mem)
			store(e, H_RDX, em_m(H_RSI, 0), size);
		else
			store_reg(t, i, H_RDX, i->rm, size);
	}
	store_flags(t, kind, size, kind != CC_LOGIC);
	/* a slow path rejoins with rebuilt flags, which ADC/SBB's cannot be */
	t->flags_live = !(mem && carry);
	if (mem && !carry) {
		struct tail *tl = slow_tail(t);
		tl->regen_kind = (int8_t)kind;
		tl->regen_size = (uint8_t)size;
	}
	return true;
}

/* CF of the current lazy flags into host register h (0 or 1; h is rcx or rdx). */
static void cf_to_reg(struct tctx *t, int h)
{
	struct emit *e = &t->e;

	if (t->flags_live) {
		em_setcc_zx(e, CC_B, h);
		return;
	}
	if (t->cc_kind >= CC_INC) {				/* INC, DEC, SHIFT, MUL */
		em_op(e, 8, 0x8b, h, F(cc_src));			/* the stored CF */
		return;
	}
	if (t->cc_kind == CC_LOGIC) {
		em_mov_imm(e, h, 0);
		return;
	}
	/* Unknown here (e.g. at the block's start): the kinds that keep CF in cc_src inline,
	 * bt_cf for the others. */
	spill_caller_saved(t);
	em_op(e, 4, 0x8b, H_RAX, F(cc_op));
	em_alu_imm(e, 4, ALU_CMP, em_r(H_RAX), CC_INC << 2);
	uint8_t *other = em_jcc(e, CC_B);
	em_op(e, 8, 0x8b, h, F(cc_src));
	em_alu_imm(e, 4, ALU_AND, em_r(h), 1);
	uint8_t *done = em_jmp(e);
	em_patch(other, e->p);
	em_op(e, 8, 0x8b, H_RDI, em_r(CPU));
	em_call(e, (const void *)(uintptr_t)bt_cf);
	em_op(e, 4, 0x0fb6, h, em_r(H_RAX));			/* movzx h, al */
	em_patch(done, e->p);
}

/* INC/DEC r/m: CF is kept, so the old CF goes to cc_src. */
static bool inline_incdec(struct tctx *t, const struct bt_insn *i)
{
	struct emit *e = &t->e;
	unsigned size = i->opsize, dec = i->reg & 7;
	bool mem = i->flags & BI_MEM;

	if ((i->op != 0xfe && i->op != 0xff) || dec > 1 || (mem && !mem_inline(t, i)))
		return false;
	if (!mem && flags_dead_after(t, t->k)) {
		/* nothing reads the kept CF nor the new flags: just the value */
		load_greg(t, i, H_RDX, i->rm, size, false);
		em_op(e, size, size == 1 ? 0xfe : 0xff, (int)dec, em_r(H_RDX));
		store_reg(t, i, H_RDX, i->rm, size);
		t->flags_live = false;
		return true;
	}
	cf_to_reg(t, H_RCX);		/* first: it may call out; the load leaves rcx */
	load_rm(t, i, H_RDX, size, false, true);
	em_op(e, 4, 0x8b, H_RAX, em_r(H_RCX));
	em_op(e, 4, 0xf7, 3, em_r(H_RAX));				/* neg eax: CF = old CF */
	em_op(e, size, size == 1 ? 0xfe : 0xff, (int)dec, em_r(H_RDX));
	if (size < 4)
		load(e, H_RDX, em_r(H_RDX), size, false);
	if (mem)
		store(e, H_RDX, em_m(H_RSI, 0), size);
	else
		store_reg(t, i, H_RDX, i->rm, size);
	em_store_imm(e, 4, F(cc_op), (int32_t)cc_op_of(dec ? CC_DEC : CC_INC, size));
	em_op(e, 8, 0x89, H_RDX, F(cc_dst));
	em_op(e, 8, 0x89, H_RCX, F(cc_src));
	em_store_imm(e, 8, F(cc_src2), 0);
	t->cc_kind = dec ? CC_DEC : CC_INC;
	t->cc_size = size;
	t->flags_live = !mem;	/* a slow path would leave other host flags */
	return true;
}

/* NOT r/m (no flags) and NEG r/m (the flags of 0 - r/m, as SUB). */
static bool inline_notneg(struct tctx *t, const struct bt_insn *i)
{
	struct emit *e = &t->e;
	unsigned size = i->opsize, op = i->reg & 7;
	bool mem = i->flags & BI_MEM;

	if ((i->op != 0xf6 && i->op != 0xf7) || (op != 2 && op != 3) || (mem && !mem_inline(t, i)))
		return false;
	if (op == 2) {
		load_rm(t, i, H_RDX, size, false, true);
		em_op(e, size, size == 1 ? 0xf6 : 0xf7, 2, em_r(H_RDX));	/* not: flags kept */
	} else {
		load_rm(t, i, H_RCX, size, false, true);
		em_op(e, 4, 0x31, H_RAX, em_r(H_RAX));			/* a = 0 */
		em_op(e, 4, 0x8b, H_RDX, em_r(H_RAX));
		em_op(e, size, size == 1 ? 0x28 : 0x29, H_RCX, em_r(H_RDX));	/* sub edx, ecx */
		if (size < 4)
			load(e, H_RDX, em_r(H_RDX), size, false);		/* movzx: flags kept */
	}
	if (mem)
		store(e, H_RDX, em_m(H_RSI, 0), size);
	else
		store_reg(t, i, H_RDX, i->rm, size);
	if (op == 2) {
		/* a slow path's handler call leaves other host flags */
		t->flags_live = t->flags_live && !mem;
		return true;
	}
	store_flags(t, CC_SUB, size, true);
	t->flags_live = true;
	if (mem) {
		struct tail *tl = slow_tail(t);
		tl->regen_kind = CC_SUB;
		tl->regen_size = (uint8_t)size;
	}
	return true;
}

/* SHL/SHR/SAR of a register by a nonzero immediate (fastpath.c's shift_reg). */
static bool inline_shift(struct tctx *t, const struct bt_insn *i)
{
	struct emit *e = &t->e;
	unsigned size = i->opsize, op = i->reg & 7, bits = size * 8;
	unsigned c = (unsigned)i->imm & (size == 8 ? 63 : 31);

	if ((i->op != 0xc1 && i->op != 0xd1) || (i->flags & BI_MEM) || size < 4 ||
	    (op != SH_SHL && op != SH_SHR && op != SH_SAR) || c == 0)
		return false;
	if (t->host_of[i->rm] != H_NONE && flags_dead_after(t, t->k)) {
		/* flags dead: the host shift on the cached register */
		em_shift_imm(e, size, op, em_r(use_greg(t, i->rm)), (uint8_t)c);
		t->dirty |= greg_bit(i->rm);
		t->cc_kind = CC_SHIFT;
		t->cc_size = size;
		t->flags_live = false;
		return true;
	}
	load_greg(t, i, H_RAX, i->rm, size, false);
	em_op(e, 8, 0x8b, H_RDX, em_r(H_RAX));
	em_shift_imm(e, size, op, em_r(H_RDX), (uint8_t)c);
	em_setcc_zx(e, CC_B, H_RCX);					/* CF = last bit out */
	if (op == SH_SAR) {
		em_mov_imm(e, H_RAX, 0);				/* OF = 0 */
	} else {
		if (op == SH_SHL)	/* OF = MSB(result) ^ CF */
			em_op(e, 8, 0x8b, H_RAX, em_r(H_RDX));
		em_shift_imm(e, 8, SH_SHR, em_r(H_RAX), (uint8_t)(bits - 1));
		if (op == SH_SHL)
			em_op(e, 4, 0x31, H_RCX, em_r(H_RAX));
		else	/* SHR: OF = MSB(operand) */
			em_alu_imm(e, 4, ALU_AND, em_r(H_RAX), 1);
	}
	store_reg(t, i, H_RDX, i->rm, size);
	store_flags(t, CC_SHIFT, size, true);			/* src = CF, src2 = OF */
	t->flags_live = false;	/* the host's OF differs for counts > 1 */
	return true;
}

/* The lazy flags of MUL and IMUL: rdx = the product's low half, rcx = CF = OF (0 or 1). */
static void store_mul_flags(struct tctx *t, unsigned size)
{
	em_mov_imm(&t->e, H_RAX, 0);
	store_flags(t, CC_MUL, size, true);			/* src = CF = OF, src2 = 0 */
	t->flags_live = false;	/* the host's SF/ZF/PF are undefined after MUL/IMUL */
}

/* IMUL reg, r/m and IMUL reg, r/m, imm (32/64-bit): CF = OF = the product overflowed. */
static bool inline_imul(struct tctx *t, const struct bt_insn *i)
{
	struct emit *e = &t->e;
	unsigned size = i->opsize;
	bool mem = i->flags & BI_MEM;

	if ((i->op != 0x1af && i->op != 0x69 && i->op != 0x6b) || size < 4 ||
	    (mem && !mem_inline(t, i)))
		return false;
	if (!mem && t->host_of[i->reg] != H_NONE && flags_dead_after(t, t->k) &&
	    (i->op == 0x1af || size == 4 || (int64_t)i->imm == (int32_t)i->imm)) {
		/* flags dead: the host IMUL into the cached register */
		int a = use_greg(t, i->reg), b = use_greg(t, i->rm);
		if (b == H_NONE) {
			load_greg(t, i, H_RCX, i->rm, size, false);
			b = H_RCX;
		}
		if (i->op == 0x1af) {
			em_op(e, size, 0x0faf, a, em_r(b));
		} else {
			em_op(e, size, 0x69, a, em_r(b));		/* imul a, b, imm32 */
			em_u32(e, (uint32_t)i->imm);
		}
		t->dirty |= greg_bit(i->reg);
		t->cc_kind = CC_MUL;
		t->cc_size = size;
		t->flags_live = false;
		return true;
	}
	if (i->op == 0x1af) {
		load_rm(t, i, H_RCX, size, false, false);
		load_greg(t, i, H_RDX, i->reg, size, false);
	} else {
		load_rm(t, i, H_RDX, size, false, false);
		em_mov_imm(e, H_RCX, i->imm & sz_mask(size));
	}
	em_op(e, size, 0x0faf, H_RDX, em_r(H_RCX));		/* imul edx, ecx */
	em_setcc_zx(e, CC_O, H_RCX);
	store_reg(t, i, H_RDX, i->reg, size);
	store_mul_flags(t, size);
	return true;
}

/* One-operand MUL and IMUL r/m (32/64-bit): rDX:rAX = rAX * r/m, CF = OF = the high half is
 * significant (bt_h_mul, bt_h_imul1). */
static bool inline_mul1(struct tctx *t, const struct bt_insn *i)
{
	struct emit *e = &t->e;
	unsigned size = i->opsize, op = i->reg & 7;
	bool mem = i->flags & BI_MEM;

	if (i->op != 0xf7 || (op != 4 && op != 5) || size < 4 || (mem && !mem_inline(t, i)))
		return false;
	load_rm(t, i, H_RCX, size, false, false);
	load_greg(t, i, H_RAX, R_RAX, size, false);
	em_op(e, size, 0xf7, (int)op, em_r(H_RCX));		/* mul/imul ecx: edx:eax */
	em_setcc_zx(e, CC_B, H_RCX);
	store_reg(t, i, H_RAX, R_RAX, size);
	store_reg(t, i, H_RDX, R_RDX, size);
	em_op(e, 8, 0x8b, H_RDX, em_r(H_RAX));			/* the flags' result: the low half */
	store_mul_flags(t, size);
	return true;
}

/* ROL/ROR of a register by an immediate. With its flags dead: just the value (the handler would
 * materialize all the flags to change CF and OF). Otherwise, when the host flags are (or can be
 * made) the guest's, the host's rotate sets CF and OF and keeps the rest, as the guest's does:
 * those flags become the explicit flags (cc_op = CC_EFLAGS, s.rflags), as cc_eflags makes them,
 * and stay live in the host. */
static bool inline_rotate(struct tctx *t, const struct bt_insn *i)
{
	struct emit *e = &t->e;
	unsigned size = i->opsize, c = (unsigned)i->imm & (size == 8 ? 63 : 31);
	bool dead;

	if (!rotate_reg_insn(i))
		return false;
	dead = flags_dead_after(t, t->k);
	if (!dead && !t->flags_live && !regen_flags(e, t->cc_kind, t->cc_size))
		return false;
	load_greg(t, i, H_RDX, i->rm, size, false);
	em_shift_imm(e, size, i->reg & 7, em_r(H_RDX), (uint8_t)c);
	store_reg(t, i, H_RDX, i->rm, size);
	if (dead) {
		t->flags_live = false;
		return true;
	}
	em_byte(e, 0x9c);						/* pushfq */
	em_op(e, 8, 0x8b, H_RAX, em_m(H_RSP, 0));
	em_alu_imm(e, 4, ALU_AND, em_r(H_RAX), (int32_t)RFLAGS_ARITH);
	em_op(e, 8, 0x8b, H_RCX, F(s.rflags));
	em_alu_imm(e, 8, ALU_AND, em_r(H_RCX), ~(int32_t)(RFLAGS_ARITH | RFLAGS_FIXED));
	em_op(e, 8, 0x0b, H_RCX, em_r(H_RAX));				/* or rcx, rax */
	em_alu_imm(e, 8, ALU_OR, em_r(H_RCX), (int32_t)RFLAGS_FIXED);
	em_op(e, 8, 0x89, H_RCX, F(s.rflags));
	em_op(e, 8, 0x89, H_RCX, F(cc_dst));
	em_store_imm(e, 4, F(cc_op), (int32_t)cc_op_of(CC_EFLAGS, 1));
	em_store_imm(e, 8, F(cc_src), 0);
	em_store_imm(e, 8, F(cc_src2), 0);
	em_byte(e, 0x9d);						/* popfq */
	t->cc_kind = CC_EFLAGS;
	t->cc_size = size;
	t->flags_live = true;
	return true;
}

/* MOV in its register, memory and immediate forms; LEA; MOVZX/MOVSX/MOVSXD. */
static bool inline_mov(struct tctx *t, const struct bt_insn *i)
{
	struct emit *e = &t->e;
	unsigned size = i->opsize, o = i->op;
	bool mem = i->flags & BI_MEM;

	if (mem && !mem_inline(t, i))
		return false;
	if ((o == 0x89 || o == 0x8b) && !mem && size >= 4 && t->host_of[i->reg] != H_NONE &&
	    t->host_of[i->rm] != H_NONE) {
		/* between two cached registers: one host move */
		unsigned to = o == 0x89 ? i->rm : i->reg, from = o == 0x89 ? i->reg : i->rm;
		em_op(e, size, 0x8b, t->host_of[to], em_r(use_greg(t, from)));
		t->loaded |= greg_bit(to);
		t->dirty |= greg_bit(to);
		return true;
	}
	switch (o) {
	case 0x88: case 0x89:				/* mov r/m, reg */
		load_greg(t, i, H_RCX, i->reg, size, false);
		store_rm(t, i, H_RCX, size);
		return true;
	case 0x8a: case 0x8b:				/* mov reg, r/m */
		load_rm(t, i, H_RCX, size, false, false);
		store_reg(t, i, H_RCX, i->reg, size);
		return true;
	case 0xc6: case 0xc7:				/* mov r/m, imm */
		if ((i->reg & 7) != 0)
			return false;
		/* fall through */
	case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7:
	case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
		em_mov_imm(e, H_RCX, i->imm & sz_mask(size));
		store_rm(t, i, H_RCX, size);
		return true;
	case 0x8d:					/* lea */
		emit_ea(t, i);
		store_reg(t, i, H_RSI, i->reg, size);
		return true;
	case 0x1b6: case 0x1b7: case 0x1be: case 0x1bf: case 0x63: {
		unsigned from = o == 0x63 ? (size < 4 ? size : 4) : o & 1 ? 2 : 1;
		load_rm(t, i, H_RCX, from, o != 0x1b6 && o != 0x1b7, false);
		store_reg(t, i, H_RCX, i->reg, size);
		return true;
	}
	default:
		return false;
	}
}

/* SETcc reg8; CMOVcc reg, reg. */
static bool inline_cond_move(struct tctx *t, const struct bt_insn *i)
{
	struct emit *e = &t->e;
	unsigned size = i->opsize, cc = i->op & 0xf, hcc;

	if (i->flags & BI_MEM)
		return false;
	if ((i->op & 0xff0) == 0x190) {
		hcc = cond_to_host(t, cc);
		em_setcc(e, hcc, H_RCX);
		store_reg(t, i, H_RCX, i->rm, 1);
		return true;
	}
	if ((i->op & 0xff0) != 0x140 || size < 4)
		return false;
	hcc = cond_to_host(t, cc);
	load_greg(t, i, H_RAX, i->reg, size, false);
	load_greg(t, i, H_RCX, i->rm, size, false);
	em_op(e, size, 0x0f40 | hcc, H_RAX, em_r(H_RCX));
	store_reg(t, i, H_RAX, i->reg, size);
	return true;
}

/* PUSH reg64 / PUSH imm / POP reg64 (64-bit stack, RSP moves only after the access). */
static bool inline_stack(struct tctx *t, const struct bt_insn *i)
{
	struct emit *e = &t->e;
	unsigned o = i->op;

	if (i->opsize != 8)
		return false;
	if ((o >= 0x50 && o < 0x58) || o == 0x68 || o == 0x6a) {
		if (o < 0x58)
			load_greg(t, i, H_RCX, i->rm, 8, false);
		else
			em_mov_imm(e, H_RCX, i->imm);
		load_greg(t, i, H_RSI, R_RSP, 8, false);
		em_alu_imm(e, 8, ALU_SUB, em_r(H_RSI), 8);
		em_op(e, 8, 0x8b, H_RAX, em_r(H_RSI));
		tlb_access(t, 8, true);
		store(e, H_RCX, em_m(H_RSI, 0), 8);
		store_reg(t, i, H_RAX, R_RSP, 8);
		return true;
	}
	if (o >= 0x58 && o < 0x60) {
		load_greg(t, i, H_RSI, R_RSP, 8, false);
		em_op(e, 8, 0x8d, H_RAX, em_m(H_RSI, 8));
		tlb_access(t, 8, false);
		load(e, H_RCX, em_m(H_RSI, 0), 8, false);
		store_reg(t, i, H_RAX, R_RSP, 8);
		store_reg(t, i, H_RCX, i->rm, 8);
		return true;
	}
	return false;
}

/* Target of a relative branch, as an offset from the entry rip, if it fits a disp32. */
static bool rel_target(const struct tctx *t, const struct bt_insn *i, int32_t *target)
{
	int64_t d = (int64_t)t->off + i->len + (int64_t)i->imm;

	*target = (int32_t)d;
	return d == (int32_t)d;
}

/* Jcc, JMP rel, CALL rel, RET: *left says the block was left. */
static bool inline_branch(struct tctx *t, const struct bt_insn *i, bool *left)
{
	struct emit *e = &t->e;
	unsigned o = i->op, done = t->k + 1;
	int32_t target;

	if ((o & 0xff0) == 0x70 || (o & 0xff0) == 0x180) {
		if (!rel_target(t, i, &target))
			return false;
		unsigned hcc = cond_to_host(t, o & 0xf);
		struct tail *tl = new_tail(t, TAIL_TAKEN);
		tl->target = target;
		tl->sites[tl->nsites++] = em_jcc(e, hcc);
		return true;
	}
	if (o == 0xe9 || o == 0xeb || o == 0xe8) {
		if (!rel_target(t, i, &target))
			return false;
		rip_to(t, H_RAX, target);
		if (!same_page(t, target))
			check_canonical(t, H_RAX);
		if (o == 0xe8) {
			rip_to(t, H_RCX, t->off + i->len);
			load_greg(t, i, H_RSI, R_RSP, 8, false);
			em_alu_imm(e, 8, ALU_SUB, em_r(H_RSI), 8);
			em_op(e, 8, 0x8b, H_RDX, em_r(H_RSI));	/* rax: the target */
			tlb_access(t, 8, true);
			store(e, H_RCX, em_m(H_RSI, 0), 8);
			store_reg(t, i, H_RDX, R_RSP, 8);
		}
		flush_regs(t);
		exit_static(t, done, target);
		*left = true;
		return true;
	}
	if (o == 0xc3 && i->opsize == 8) {
		load_greg(t, i, H_RSI, R_RSP, 8, false);
		em_op(e, 8, 0x8d, H_RCX, em_m(H_RSI, 8));
		tlb_access(t, 8, false);
		load(e, H_RAX, em_m(H_RSI, 0), 8, false);
		check_canonical(t, H_RAX);		/* uses rdx */
		store_reg(t, i, H_RCX, R_RSP, 8);
		flush_regs(t);
		exit_dynamic(t, done);
		*left = true;
		return true;
	}
	return false;
}

/* Inline code for insn k, or false (nothing emitted) when it has none. Flag-setting and
 * conditional forms update t->flags_live themselves. */
static bool inline_insn(struct tctx *t, const struct bt_insn *i, bool *left)
{
	bool live = t->flags_live;

	if (inline_alu(t, i) || inline_incdec(t, i) || inline_notneg(t, i) || inline_shift(t, i) ||
	    inline_imul(t, i) ||
	    inline_mul1(t, i) || inline_rotate(t, i) ||
	    inline_cond_move(t, i) || inline_branch(t, i, left))
		return true;
	if (inline_mov(t, i) || inline_stack(t, i)) {
		/* Register-only moves leave the host flags alone. */
		t->flags_live = live && keeps_host_flags(i);
		return true;
	}
	return false;
}

/* ---- Tails ------------------------------------------------------------------------------------- */

static void emit_tail(struct tctx *t, struct tail *tl)
{
	struct emit *e = &t->e;

	for (unsigned s = 0; s < tl->nsites; s++)
		em_patch(tl->sites[s], e->p);
	write_back(t, tl->dirty);
	if (tl->kind == TAIL_TAKEN) {
		/* Jcc taken: the target must be canonical, else the handler raises #GP. */
		t->k = tl->k;
		rip_to(t, H_RAX, tl->target);
		if (same_page(t, tl->target)) {
			exit_static(t, tl->k + 1, tl->target);
			return;
		}
		em_op(e, 8, 0x8b, H_RDX, em_r(H_RAX));
		em_shift_imm(e, 8, SH_SHL, em_r(H_RDX), 16);
		em_shift_imm(e, 8, SH_SAR, em_r(H_RDX), 16);
		em_op(e, 8, 0x39, H_RAX, em_r(H_RDX));
		uint8_t *bad = em_jcc(e, CC_NE);
		exit_static(t, tl->k + 1, tl->target);
		em_patch(bad, e->p);
	}
	call_handler(t, tl->k, tl->off);
	if (tl->k + 1 == t->n)
		return;
	regen_flags(e, tl->regen_kind, tl->regen_size);
	reload(t, tl->reload);
	em_jmp_to(e, tl->resume);
}

bt_tb_fn bt_translate_block(struct bt_cpu *cpu, struct bt_tcache *tc, const struct bt_insn *insns,
			    unsigned n, int tlb, uint64_t key)
{
	struct tctx *t = malloc(sizeof(*t));
	struct emit *e;
	uint8_t *entry;
	bool left = false;

	if (!t)
		return NULL;
	*t = (struct tctx){ .e = { tc->cur, tc->end }, .insns = insns, .n = n, .tlb = tlb,
			    .cc_kind = -1, .key = key, .cpu = cpu, .tc = tc };
	e = &t->e;
	choose_cached(t);
	entry = e->p;
	em_push(e, H_RBX);
	em_push(e, H_RBP);
	em_push(e, H_R12);
	em_push(e, H_R13);
	em_push(e, H_R14);
	em_push(e, H_R15);
	em_push(e, H_RAX);		/* alignment slot: calls see a 16-byte aligned stack */
	em_op(e, 8, 0x8b, CPU, em_r(H_RDI));
	em_op(e, 4, 0x8b, BUDGET, em_r(H_RSI));		/* chain_limit < 2^32 */
	em_op(e, 8, 0x8b, H_RAX, F(s.rip));
	if (e->p - entry != PROLOGUE_LEN)
		abort();
	/* chain entry: blocks chained to this one jump here with s.rip set, and in rax */
	em_op(e, 8, 0x8b, RIP0, em_r(H_RAX));
	for (unsigned k = 0; k < n && !left; k++) {
		const struct bt_insn *i = &insns[k];
		unsigned first_tail = t->nr_tails;

		t->k = k;
		if (!inline_insn(t, i, &left)) {
			flush_and_forget(t);
			call_handler(t, k, t->off);
			t->cc_kind = -1;
			t->flags_live = false;
			left = k + 1 == n;
		}
		for (unsigned x = first_tail; x < t->nr_tails; x++) {
			t->tails[x].resume = e->p;
			t->tails[x].reload = t->loaded;
		}
		t->off += i->len;
	}
	if (!left) {
		flush_regs(t);
		rip_to(t, H_RAX, t->off);
		exit_static(t, n, t->off);
	}
	for (unsigned x = 0; x < t->nr_tails; x++)
		emit_tail(t, &t->tails[x]);
	/* Stubs: one per distinct insn count, shared by its exits. */
	uint8_t *stub[BT_TB_MAX_INSNS + 1] = { NULL };
	for (unsigned x = 0; x < t->nr_exits; x++) {
		unsigned done = t->exits[x].done;
		if (!stub[done]) {
			stub[done] = e->p;
			exit_next_rip(e, done);
		}
		em_patch(t->exits[x].at, stub[done]);
	}
	/* The exit descriptors, 8-byte aligned after the code. */
	e->p += -(uintptr_t)e->p & 7;
	for (unsigned x = 0; x < t->nr_chain; x++) {
		uint64_t at = (uint64_t)(uintptr_t)e->p;
		memcpy(e->p, &t->chain[x].x, sizeof(struct tb_exit));
		memcpy(t->chain[x].imm, &at, 8);
		e->p += sizeof(struct tb_exit);
	}
	if (e->p > tc->end)	/* bt_translate_max_size is wrong: better stop than run this */
		abort();
	tc->cur = e->p;
	free(t);
	return (bt_tb_fn)(uintptr_t)entry;
}

/* ---- Chaining -------------------------------------------------------------------------------- */

#define LINK_MAX_BYTES	160

void bt_tb_link(struct bt_cpu *cpu, struct bt_tcache *tc, void *exit, bt_tb_fn fn, uint64_t key,
		uint32_t gen, int tlb)
{
	struct tb_exit *x = exit;
	struct emit e = { tc->cur, tc->end }, *ep = &e;
	uint8_t *back = x->slot + 4;		/* the way back to the run loop */
	int32_t tlbs = OFF(tlb) + tlb * (int32_t)sizeof(cpu->tlb[0]);

	if (x->linked == fn || !em_room(ep, LINK_MAX_BYTES))
		return;
	/* kick, budget, then no page became a code page since our TLB was synced */
	em_alu_imm(ep, 1, ALU_CMP, F(kick), 0);
	em_jcc_to(ep, CC_NE, back);
	em_alu_imm(ep, 4, ALU_SUB, em_r(BUDGET), (int32_t)x->done);
	em_jcc_to(ep, CC_B, back);	/* r15 is spent then, but the run loop starts afresh */
	em_mov_imm(ep, H_RDX, (uint64_t)(uintptr_t)&cpu->bvm->tlb_gen);
	em_op(ep, 4, 0x8b, H_RDX, em_m(H_RDX, 0));
	em_op(ep, 4, 0x3b, H_RDX, F(tlb_gen_seen));
	em_jcc_to(ep, CC_NE, back);
	/* the target block is still what its code page holds */
	em_mov_imm(ep, H_RDX, (uint64_t)(uintptr_t)&cpu->bvm->page_gen[key >> 12]);
	em_alu_imm(ep, 4, ALU_CMP, em_m(H_RDX, 0), (int32_t)gen);
	em_jcc_to(ep, CC_NE, back);
	if (!x->same_page || x->src_page != (key & BT_PAGE_MASK)) {
		/* rax = target rip: its page must still map to the block's page for execution */
		em_op(ep, 4, 0x8b, H_RDI, em_r(H_RAX));
		em_shift_imm(ep, 4, SH_SHR, em_r(H_RDI), 12);
		em_alu_imm(ep, 4, ALU_AND, em_r(H_RDI), BT_TLB_SIZE - 1);
		em_op(ep, 4, 0x6b, H_RDI, em_r(H_RDI));
		em_byte(ep, (uint8_t)sizeof(struct bt_tlb_entry));
		em_op(ep, 8, 0x8b, H_R8, em_r(H_RAX));
		em_alu_imm(ep, 8, ALU_AND, em_r(H_R8), (int32_t)BT_PAGE_MASK);
		em_op(ep, 8, 0x3b, H_R8,
		      em_mx(CPU, H_RDI, 0, tlbs + (int32_t)offsetof(struct bt_tlb_entry, tag_exec)));
		em_jcc_to(ep, CC_NE, back);
		em_mov_imm(ep, H_R8, key & BT_PAGE_MASK);
		em_op(ep, 8, 0x3b, H_R8,
		      em_mx(CPU, H_RDI, 0, tlbs + (int32_t)offsetof(struct bt_tlb_entry, gpa_page)));
		em_jcc_to(ep, CC_NE, back);
	}
	em_op(ep, 8, 0xff, 0, F(stats.tb_chained));			/* inc qword */
	em_alu_imm(ep, 8, ALU_ADD, F(stats.insns), (int32_t)x->done);
	em_jmp_to(ep, (const uint8_t *)(uintptr_t)fn + PROLOGUE_LEN);
	em_patch(x->slot, tc->cur);
	x->linked = fn;
	tc->cur = e.p;
}
