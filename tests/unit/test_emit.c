/* The translator's x86-64 encoder: bytes checked against what nasm assembles for the same
 * instruction (expected bytes taken from `nasm -f bin -l` once). */
#include <string.h>

#include "engine/bt/jit/emit.h"
#include "test.h"

struct buf {
	uint8_t bytes[64];
	struct emit e;
};

static struct emit *start(struct buf *b)
{
	memset(b->bytes, 0xcc, sizeof(b->bytes));
	b->e = (struct emit){ b->bytes, b->bytes + sizeof(b->bytes) };
	return &b->e;
}

static int same(const struct buf *b, const uint8_t *want, size_t n)
{
	return (size_t)(b->e.p - b->bytes) == n && memcmp(b->bytes, want, n) == 0;
}

#define EXPECT(b, ...) do {							\
	static const uint8_t want_[] = { __VA_ARGS__ };				\
	CHECK(same(b, want_, sizeof(want_)));					\
} while (0)

TEST(emit_mov_memory_forms)
{
	struct buf b;

	em_op(start(&b), 8, 0x8b, H_RAX, em_m(H_RBX, 0x10));		/* mov rax, [rbx+0x10] */
	EXPECT(&b, 0x48, 0x8b, 0x43, 0x10);
	em_op(start(&b), 8, 0x89, H_R13, em_m(H_R12, 0x1000));	/* mov [r12+0x1000], r13 */
	EXPECT(&b, 0x4d, 0x89, 0xac, 0x24, 0x00, 0x10, 0x00, 0x00);
	em_op(start(&b), 8, 0x8d, H_R13, em_m(H_R12, 5));		/* lea r13, [r12+5] */
	EXPECT(&b, 0x4d, 0x8d, 0x6c, 0x24, 0x05);
	em_op(start(&b), 8, 0x8b, H_RAX, em_m(H_RBP, 0));		/* mov rax, [rbp] */
	EXPECT(&b, 0x48, 0x8b, 0x45, 0x00);
	em_op(start(&b), 4, 0x8b, H_RCX, em_mx(H_RBX, H_RCX, 3, 0x1234)); /* mov ecx, [rbx+rcx*8+0x1234] */
	EXPECT(&b, 0x8b, 0x8c, 0xcb, 0x34, 0x12, 0x00, 0x00);
	em_op(start(&b), 4, 0x8b, H_RAX, em_m(H_RSP, 8));		/* mov eax, [rsp+8] */
	EXPECT(&b, 0x8b, 0x44, 0x24, 0x08);
	em_op(start(&b), 1, 0x0fb6, H_RAX, em_m(H_R13, 1));		/* movzx eax, byte [r13+1] */
	EXPECT(&b, 0x41, 0x0f, 0xb6, 0x45, 0x01);
	em_op(start(&b), 1, 0x0fb6, H_RSI, em_r(H_RSI));		/* movzx esi, sil */
	EXPECT(&b, 0x40, 0x0f, 0xb6, 0xf6);
	em_op(start(&b), 8, 0x29, H_R15, em_r(H_R8));			/* sub r8, r15 */
	EXPECT(&b, 0x4d, 0x29, 0xf8);
}

TEST(emit_immediates)
{
	struct buf b;

	em_alu_imm(start(&b), 2, ALU_ADD, em_m(H_RAX, 0), 0x1234);	/* add word [rax], 0x1234 */
	EXPECT(&b, 0x66, 0x81, 0x00, 0x34, 0x12);
	em_alu_imm(start(&b), 1, ALU_CMP, em_m(H_RBX, 0x40), 0);	/* cmp byte [rbx+0x40], 0 */
	EXPECT(&b, 0x80, 0x7b, 0x40, 0x00);
	em_alu_imm(start(&b), 8, ALU_AND, em_r(H_RDX), -4096);		/* and rdx, -4096 */
	EXPECT(&b, 0x48, 0x81, 0xe2, 0x00, 0xf0, 0xff, 0xff);
	em_mov_imm(start(&b), H_RAX, 0x123456789ull);			/* mov rax, 0x123456789 */
	EXPECT(&b, 0x48, 0xb8, 0x89, 0x67, 0x45, 0x23, 0x01, 0x00, 0x00, 0x00);
	em_mov_imm(start(&b), H_RAX, (uint64_t)-2);			/* mov rax, -2 */
	EXPECT(&b, 0x48, 0xc7, 0xc0, 0xfe, 0xff, 0xff, 0xff);
	em_mov_imm(start(&b), H_R9, 7);					/* mov r9d, 7 */
	EXPECT(&b, 0x41, 0xb9, 0x07, 0x00, 0x00, 0x00);
	em_store_imm(start(&b), 8, em_m(H_RBX, 8), -1);			/* mov qword [rbx+8], -1 */
	EXPECT(&b, 0x48, 0xc7, 0x43, 0x08, 0xff, 0xff, 0xff, 0xff);
	em_shift_imm(start(&b), 8, SH_SHL, em_r(H_R10), 3);		/* shl r10, 3 */
	EXPECT(&b, 0x49, 0xc1, 0xe2, 0x03);
}

TEST(emit_stack_and_branches)
{
	struct buf b;
	struct emit *e = start(&b);

	em_push(e, H_R13);						/* push r13 */
	em_pop(e, H_R12);						/* pop r12 */
	em_setcc(e, CC_NE, H_RCX);					/* setne cl */
	EXPECT(&b, 0x41, 0x55, 0x41, 0x5c, 0x0f, 0x95, 0xc1);

	e = start(&b);
	uint8_t *fwd = em_jcc(e, CC_NE);				/* jne +2 over ... */
	em_push(e, H_RAX);
	em_pop(e, H_RAX);
	em_patch(fwd, e->p);
	em_jmp_to(e, b.bytes);						/* jmp back to the start */
	EXPECT(&b, 0x0f, 0x85, 0x02, 0x00, 0x00, 0x00, 0x50, 0x58, 0xe9, 0xf3, 0xff, 0xff, 0xff);
}
