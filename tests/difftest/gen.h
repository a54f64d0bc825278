/* The random code generator's state and the helpers gen.c shares with gen_fp.c. */
#ifndef VMON_DIFFTEST_GEN_H
#define VMON_DIFFTEST_GEN_H

#include "difftest.h"

#define CF 0x001u
#define PF 0x004u
#define AF 0x010u
#define ZF 0x040u
#define SF 0x080u
#define OF 0x800u
#define ALL (CF | PF | AF | ZF | SF | OF)

struct gen {
	struct dt_case *c;
	uint64_t rng;
	uint32_t undef;
	/* undef_at bookkeeping: bytes from mark_pos on belong to instructions that start with
	 * mark_undef undefined (see mark()). */
	size_t mark_pos;
	uint32_t mark_undef;
	/* Inside a branch, CALL or ENTER body: no nested bodies and nothing that moves RSP
	 * unbalanced (the body's RET / LEAVE needs the stack as it found it). */
	bool in_body;
	int x87_depth;		/* values on the x87 stack (gen_fp.c) */
};

uint64_t rnd(struct gen *g);
unsigned pick(struct gen *g, unsigned n);
void emit(struct gen *g, uint8_t b);
void emit_imm(struct gen *g, uint64_t v, int bytes);
/* A register we may overwrite: not RSP (stack) or RBP (data base). */
int dest_reg(struct gen *g);
/* An instruction starts here (undef_at bookkeeping). */
void mark(struct gen *g);
void sets(struct gen *g, uint32_t defined, uint32_t undefined);
/* Make the flags an instruction reads defined first (a CMP when some are not). */
void need_flags(struct gen *g, uint32_t reads);

void gen_begin(struct gen *g, struct dt_case *c, uint64_t seed);
void gen_int_insn(struct gen *g);
void gen_end(struct gen *g);

#endif
