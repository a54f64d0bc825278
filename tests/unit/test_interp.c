/* Interpreter tests: instruction semantics and flags, run through bt_interp_run on a vCPU
 * with flat guest RAM (paging off, 64-bit code unless a test switches the mode). */
#include <stdlib.h>
#include <string.h>

#include "engine/bt/sys/btsys.h"	/* struct bt_vcpu: the engine's container of a bt_cpu */
#include "engine/bt/cpu/ops.h"
#include "test.h"
#include "vm.h"

#define CODE	0x1000ull
#define DATA	0x4000ull
#define STACK	0x9000ull

struct fixture {
	struct vm vm;
	struct bt_vm bvm;
	struct bt_vcpu *bv;
	struct bt_cpu *cpu;
};

static struct bt_cpu *fixture_init(struct fixture *f)
{
	struct bt_cpu *cpu;

	memset(f, 0, sizeof(*f));
	if (mem_init(&f->vm.mem, MEM_MIN))
		abort();
	f->bvm.vm = &f->vm;
	f->bvm.nr_pages = MEM_MIN >> 12;
	f->bvm.page_gen = calloc(f->bvm.nr_pages, sizeof(*f->bvm.page_gen));
	bt_shadow_vm_init(&f->bvm);
	f->bv = calloc(1, sizeof(*f->bv));
	cpu = &f->bv->cpu;
	f->cpu = cpu;
	cpu->vm = &f->vm;
	cpu->bvm = &f->bvm;
	if (bt_block_cache_init(cpu, true))
		abort();
	for (int s = 0; s < S_NR; s++) {
		cpu->s.seg[s].limit = 0xffffffff;
		cpu->s.seg[s].attr = SEG_P | SEG_S | SEG_DB | 3;
	}
	cpu->s.seg[S_CS].attr = SEG_P | SEG_S | SEG_L | 0xb;
	cpu->s.cr0 = CR0_PE | CR0_ET | CR0_NE;
	cpu->s.cr4 = CR4_OSFXSR | CR4_PAE;
	cpu->s.fxsave[24] = 0x80;		/* MXCSR 0x1f80 */
	cpu->s.fxsave[25] = 0x1f;
	cpu->s.efer = EFER_LME | EFER_LMA;
	cpu->mode = BT_MODE_LONG;
	cpu->code_size = 8;
	cpu->stack_size = 8;
	bt_set_rflags(cpu, RFLAGS_FIXED);
	cpu->s.gpr[R_RSP] = STACK;
	bt_tlb_flush(cpu, true);
	return cpu;
}

static void fixture_free(struct fixture *f)
{
	bt_block_cache_free(f->cpu);
	free(f->bv);
	free((void *)f->bvm.page_gen);
	bt_shadow_vm_free(&f->bvm);
	mem_destroy(&f->vm.mem);
}

static uint8_t *ram(struct fixture *f, uint64_t gpa) { return gpa_to_hva(&f->vm.mem, gpa, 1); }

static void load_hex(struct fixture *f, uint64_t gpa, const char *hex)
{
	uint8_t *p = ram(f, gpa);
	for (; *hex; hex++) {
		if (*hex == ' ')
			continue;
		unsigned v;
		sscanf(hex, "%2x", &v);
		*p++ = (uint8_t)v;
		hex++;
	}
}

/* Run n instructions of hex code at CODE. Returns the exception vector, or -1. */
static int run(struct fixture *f, const char *hex, uint64_t count)
{
	struct bt_cpu *cpu = f->cpu;
	volatile uint64_t n = count;

	load_hex(f, CODE, hex);
	bt_code_written(&f->bvm, CODE);	/* host stores bypass the MMU's invalidation */
	cpu->s.rip = CODE;
	if (setjmp(cpu->fault_jmp))
		return cpu->pending_vector;
	while (n) {
		uint64_t done = bt_interp_run(cpu, n);
		n -= done;
		if (!done)
			break;
	}
	return -1;
}

static uint64_t flags(struct fixture *f) { return bt_get_rflags(f->cpu) & RFLAGS_ARITH; }

#define CF RFLAGS_CF
#define PF RFLAGS_PF
#define AF RFLAGS_AF
#define ZF RFLAGS_ZF
#define SF RFLAGS_SF
#define OF RFLAGS_OF

TEST(interp_add_sub_flags)
{
	struct fixture f;
	struct bt_cpu *cpu = fixture_init(&f);
	uint64_t *g = cpu->s.gpr;

	g[R_RAX] = 0xff; g[R_RBX] = 1;
	CHECK_EQ(run(&f, "00d8", 1), -1);			/* add al, bl */
	CHECK_EQ(g[R_RAX], 0);
	CHECK_EQ(flags(&f), CF | ZF | AF | PF);

	g[R_RAX] = 0x7f;
	CHECK_EQ(run(&f, "04 01", 1), -1);			/* add al, 1 */
	CHECK_EQ(g[R_RAX], 0x80);
	CHECK_EQ(flags(&f), OF | SF | AF);

	g[R_RAX] = 0xffffffff00000000ull;
	CHECK_EQ(run(&f, "83e8 01", 1), -1);			/* sub eax, 1 */
	CHECK_EQ(g[R_RAX], 0xffffffff);				/* zero-extended */
	CHECK_EQ(flags(&f), CF | SF | AF | PF);

	g[R_RAX] = 0x8000000000000000ull;
	CHECK_EQ(run(&f, "4883e8 01", 1), -1);			/* sub rax, 1 */
	CHECK_EQ(flags(&f), OF | AF | PF);

	/* adc / sbb with carry in */
	g[R_RAX] = 0xffffffff; g[R_RBX] = 0;
	CHECK_EQ(run(&f, "f9 11d8", 2), -1);			/* stc; adc eax, ebx */
	CHECK_EQ(g[R_RAX], 0);
	CHECK_EQ(flags(&f), CF | ZF | AF | PF);
	g[R_RAX] = 0; g[R_RBX] = 0xffff;
	CHECK_EQ(run(&f, "f9 6619d8", 2), -1);			/* stc; sbb ax, bx */
	CHECK_EQ(g[R_RAX], 0);
	CHECK_EQ(flags(&f), CF | ZF | AF | PF);
	g[R_RAX] = 0x1234; g[R_RBX] = 0;
	CHECK_EQ(run(&f, "f8 6619d8", 2), -1);			/* clc; sbb ax, bx */
	CHECK_EQ(g[R_RAX], 0x1234);
	CHECK_EQ(flags(&f), 0);

	/* partial registers: AH and, with REX, SPL */
	g[R_RAX] = 0x1122334455667788ull; g[R_RSP] = 0x9000;
	CHECK_EQ(run(&f, "80c4 01", 1), -1);			/* add ah, 1 */
	CHECK_EQ(g[R_RAX], 0x1122334455667888ull);
	CHECK_EQ(run(&f, "4080c4 01", 1), -1);			/* add spl, 1 */
	CHECK_EQ(g[R_RSP], 0x9001);
	CHECK_EQ(run(&f, "66b8 ffff", 1), -1);			/* mov ax, 0xffff */
	CHECK_EQ(g[R_RAX], 0x112233445566ffffull);
	fixture_free(&f);
}

TEST(interp_inc_dec_neg_logic)
{
	struct fixture f;
	struct bt_cpu *cpu = fixture_init(&f);
	uint64_t *g = cpu->s.gpr;

	g[R_RCX] = 0x7fffffff;
	CHECK_EQ(run(&f, "f9 ffc1", 2), -1);			/* stc; inc ecx: CF kept */
	CHECK_EQ(g[R_RCX], 0x80000000);
	CHECK_EQ(flags(&f), CF | OF | SF | AF | PF);
	g[R_RCX] = 0;
	CHECK_EQ(run(&f, "f8 ffc9", 2), -1);			/* clc; dec ecx */
	CHECK_EQ(g[R_RCX], 0xffffffff);
	CHECK_EQ(flags(&f), SF | AF | PF);
	g[R_RDX] = 5;
	CHECK_EQ(run(&f, "48f7da", 1), -1);			/* neg rdx */
	CHECK_EQ(g[R_RDX], (uint64_t)-5);
	CHECK_EQ(flags(&f), CF | SF | AF);
	g[R_RDX] = 0;
	CHECK_EQ(run(&f, "48f7da", 1), -1);
	CHECK_EQ(flags(&f), ZF | PF);
	g[R_RAX] = 0xf0; g[R_RBX] = 0x0f;
	CHECK_EQ(run(&f, "f9 84d8", 2), -1);			/* stc; test al, bl */
	CHECK_EQ(flags(&f), ZF | PF);
	fixture_free(&f);
}

TEST(interp_shifts_rotates)
{
	struct fixture f;
	struct bt_cpu *cpu = fixture_init(&f);
	uint64_t *g = cpu->s.gpr;

	g[R_RAX] = 0x80000000;
	CHECK_EQ(run(&f, "d1e0", 1), -1);			/* shl eax, 1 */
	CHECK_EQ(g[R_RAX], 0);
	CHECK_EQ(flags(&f) & (CF | ZF | OF | SF), CF | ZF | OF);
	g[R_RAX] = 0x81;
	CHECK_EQ(run(&f, "d0e8", 1), -1);			/* shr al, 1 */
	CHECK_EQ(g[R_RAX], 0x40);
	CHECK_EQ(flags(&f) & (CF | ZF | OF | SF), CF | OF);
	g[R_RAX] = 0x80;
	CHECK_EQ(run(&f, "c0f8 03", 1), -1);			/* sar al, 3 */
	CHECK_EQ(g[R_RAX], 0xf0);
	CHECK_EQ(flags(&f) & (CF | ZF | OF | SF), SF);
	/* count 0: flags and value untouched; counts mask to 5 bits */
	g[R_RAX] = 1; g[R_RCX] = 32;
	CHECK_EQ(run(&f, "f9 d3e0", 2), -1);			/* stc; shl eax, cl(=0) */
	CHECK_EQ(g[R_RAX], 1);
	CHECK_EQ(flags(&f) & CF, CF);
	g[R_RAX] = 1; g[R_RCX] = 33;
	CHECK_EQ(run(&f, "48d3e0", 1), -1);			/* shl rax, 33 */
	CHECK_EQ(g[R_RAX], 1ull << 33);
	g[R_RAX] = 0x1; g[R_RCX] = 9;
	CHECK_EQ(run(&f, "66d3e0", 1), -1);			/* shl ax, 9 */
	CHECK_EQ(g[R_RAX], 0x200);
	g[R_RAX] = 0xff; g[R_RCX] = 9;
	CHECK_EQ(run(&f, "d2e0", 1), -1);			/* shl al, 9: all out */
	CHECK_EQ(g[R_RAX], 0);
	CHECK_EQ(flags(&f) & (CF | ZF), ZF);
	/* rotates: only CF/OF change */
	g[R_RAX] = 0x81;
	CHECK_EQ(run(&f, "31db d0c0", 2), -1);		/* xor ebx,ebx (ZF=1); rol al, 1 */
	CHECK_EQ(g[R_RAX], 0x03);
	CHECK_EQ(flags(&f) & (CF | ZF | OF), CF | ZF | OF);
	g[R_RAX] = 0x01;
	CHECK_EQ(run(&f, "d0c8", 1), -1);			/* ror al, 1 */
	CHECK_EQ(g[R_RAX], 0x80);
	CHECK_EQ(flags(&f) & (CF | OF), CF | OF);
	/* rcl/rcr through carry; 8-bit counts are mod 9 */
	g[R_RAX] = 0x80;
	CHECK_EQ(run(&f, "f8 d0d0", 2), -1);			/* clc; rcl al, 1 */
	CHECK_EQ(g[R_RAX], 0);
	CHECK_EQ(flags(&f) & CF, CF);
	g[R_RAX] = 0x00;
	CHECK_EQ(run(&f, "f9 d0d8", 2), -1);			/* stc; rcr al, 1 */
	CHECK_EQ(g[R_RAX], 0x80);
	CHECK_EQ(flags(&f) & CF, 0);
	g[R_RAX] = 0x5a; g[R_RCX] = 9;
	CHECK_EQ(run(&f, "f9 d2d0", 2), -1);			/* stc; rcl al, 9: identity */
	CHECK_EQ(g[R_RAX], 0x5a);
	CHECK_EQ(flags(&f) & CF, CF);
	/* shld / shrd */
	g[R_RAX] = 0x12345678; g[R_RDX] = 0x9abcdef0;
	CHECK_EQ(run(&f, "0fa4d0 08", 1), -1);		/* shld eax, edx, 8 */
	CHECK_EQ(g[R_RAX], 0x3456789a);
	g[R_RAX] = 0x12345678; g[R_RDX] = 0x9abcdef0;
	CHECK_EQ(run(&f, "0facd0 08", 1), -1);		/* shrd eax, edx, 8 */
	CHECK_EQ(g[R_RAX], 0xf0123456);
	fixture_free(&f);
}

TEST(interp_muldiv)
{
	struct fixture f;
	struct bt_cpu *cpu = fixture_init(&f);
	uint64_t *g = cpu->s.gpr;

	g[R_RAX] = 0xffffffffffffffffull; g[R_RBX] = 2;
	CHECK_EQ(run(&f, "48f7e3", 1), -1);			/* mul rbx */
	CHECK_EQ(g[R_RAX], 0xfffffffffffffffeull);
	CHECK_EQ(g[R_RDX], 1);
	CHECK_EQ(flags(&f) & (CF | OF), CF | OF);
	g[R_RAX] = (uint64_t)-3; g[R_RBX] = 4;
	CHECK_EQ(run(&f, "48f7eb", 1), -1);			/* imul rbx */
	CHECK_EQ(g[R_RAX], (uint64_t)-12);
	CHECK_EQ(g[R_RDX], ~0ull);
	CHECK_EQ(flags(&f) & (CF | OF), 0);
	g[R_RCX] = 0x10000;
	CHECK_EQ(run(&f, "69c9 00000100", 1), -1);		/* imul ecx, ecx, 0x10000 */
	CHECK_EQ(g[R_RCX], 0);
	CHECK_EQ(flags(&f) & (CF | OF), CF | OF);
	g[R_RAX] = 100; g[R_RDX] = 0; g[R_RBX] = 7;
	CHECK_EQ(run(&f, "f7f3", 1), -1);			/* div ebx */
	CHECK_EQ(g[R_RAX], 14);
	CHECK_EQ(g[R_RDX], 2);
	g[R_RAX] = (uint64_t)-7; g[R_RDX] = ~0ull; g[R_RBX] = 2;
	CHECK_EQ(run(&f, "48f7fb", 1), -1);			/* idiv rbx */
	CHECK_EQ(g[R_RAX], (uint64_t)-3);
	CHECK_EQ(g[R_RDX], (uint64_t)-1);
	/* #DE: zero divisor, quotient overflow; nothing changes, rip stays */
	g[R_RAX] = 5; g[R_RDX] = 0; g[R_RBX] = 0;
	CHECK_EQ(run(&f, "f7f3", 1), EXC_DE);
	CHECK_EQ(cpu->s.rip, CODE);
	CHECK_EQ(g[R_RAX], 5);
	g[R_RAX] = 0; g[R_RDX] = 1; g[R_RBX] = 1;
	CHECK_EQ(run(&f, "f7f3", 1), EXC_DE);			/* 2^32 / 1 */
	g[R_RAX] = 0; g[R_RDX] = 0x8000000000000000ull; g[R_RBX] = ~0ull;
	CHECK_EQ(run(&f, "48f7fb", 1), EXC_DE);		/* INT128_MIN / -1 */
	g[R_RAX] = 0x80; g[R_RBX] = 0xff;
	CHECK_EQ(run(&f, "66 98 f6fb", 2), EXC_DE);		/* cbw; idiv bl: -128 / -1 */
	CHECK_EQ(g[R_RAX] & 0xffff, 0xff80);
	g[R_RAX] = 0xff00; g[R_RBX] = 2;
	CHECK_EQ(run(&f, "f6fb", 1), -1);			/* -256 / 2 = -128 */
	CHECK_EQ(g[R_RAX] & 0xffff, 0x0080);
	g[R_RAX] = 0x0100;
	CHECK_EQ(run(&f, "f6fb", 1), EXC_DE);			/* 256 / 2 does not fit */
	fixture_free(&f);
}

TEST(interp_branches_stack)
{
	struct fixture f;
	struct bt_cpu *cpu = fixture_init(&f);
	uint64_t *g = cpu->s.gpr;

	/* mov ecx,10; xor eax,eax; l: add eax,ecx; loop l */
	CHECK_EQ(run(&f, "b90a000000 31c0 01c8 e2fc", 2 + 2 * 10), -1);
	CHECK_EQ(g[R_RAX], 55);
	CHECK_EQ(cpu->s.rip, CODE + 11);
	/* signed/unsigned conditions after CMP: cmp eax,ebx; jl +2; mov cl,1; setb dl */
	g[R_RAX] = (uint64_t)-1 & 0xffffffff; g[R_RBX] = 1; g[R_RCX] = 0;
	CHECK_EQ(run(&f, "39d8 7c02 b101 0f92c2", 3), -1);
	CHECK_EQ(g[R_RCX] & 0xff, 0);				/* jl taken */
	CHECK_EQ(g[R_RDX] & 0xff, 0);				/* -1 unsigned is not below 1 */
	/* call / ret / push / pop */
	g[R_RSP] = STACK;
	CHECK_EQ(run(&f, "e805000000 90 90 90 90 90 6a fe 5b c3", 4), -1);
	CHECK_EQ(g[R_RBX], (uint64_t)-2);
	CHECK_EQ(cpu->s.rip, CODE + 5);
	CHECK_EQ(g[R_RSP], STACK);
	/* enter/leave */
	g[R_RSP] = STACK; g[R_RBP] = 0x1234;
	CHECK_EQ(run(&f, "c8 2000 00", 1), -1);
	CHECK_EQ(g[R_RBP], STACK - 8);
	CHECK_EQ(g[R_RSP], STACK - 8 - 0x20);
	CHECK_EQ(run(&f, "c9", 1), -1);
	CHECK_EQ(g[R_RBP], 0x1234);
	CHECK_EQ(g[R_RSP], STACK);
	/* jmp to a non-canonical address: #GP at the jmp */
	g[R_RAX] = 0x0000800000000000ull;
	CHECK_EQ(run(&f, "ffe0", 1), EXC_GP);
	CHECK_EQ(cpu->s.rip, CODE);
	/* cmov: a false 32-bit cmov still zero-extends */
	g[R_RAX] = ~0ull; g[R_RBX] = 7;
	CHECK_EQ(run(&f, "31c9 0f45c3", 2), -1);		/* xor ecx,ecx; cmovnz eax, ebx */
	CHECK_EQ(g[R_RAX], 0xffffffff);
	fixture_free(&f);
}

TEST(interp_string_ops)
{
	struct fixture f;
	struct bt_cpu *cpu = fixture_init(&f);
	uint64_t *g = cpu->s.gpr;
	uint8_t *src = ram(&f, DATA), *dst = ram(&f, DATA + 0x2000);

	/* rep movsb across a page boundary */
	for (int k = 0; k < 6000; k++)
		src[k] = (uint8_t)(k * 7);
	g[R_RSI] = DATA; g[R_RDI] = DATA + 0x2000 + 3; g[R_RCX] = 5000;
	CHECK_EQ(run(&f, "f3a4", 1), -1);
	CHECK_EQ(g[R_RCX], 0);
	CHECK_EQ(g[R_RSI], DATA + 5000);
	CHECK_EQ(g[R_RDI], DATA + 0x2000 + 3 + 5000);
	CHECK(!memcmp(src, dst + 3, 5000));
	CHECK_EQ(cpu->s.rip, CODE + 2);
	/* overlapping forward copy replicates (pattern fill) */
	src[0] = 0xab;
	g[R_RSI] = DATA; g[R_RDI] = DATA + 1; g[R_RCX] = 100;
	CHECK_EQ(run(&f, "f3a4", 1), -1);
	CHECK_EQ(src[100], 0xab);
	CHECK_EQ(src[50], 0xab);
	/* rep stosd backwards with DF=1 */
	g[R_RAX] = 0x11223344; g[R_RDI] = DATA + 0x100; g[R_RCX] = 4;
	CHECK_EQ(run(&f, "fd f3ab fc", 3), -1);
	CHECK_EQ(g[R_RDI], DATA + 0x100 - 16);
	uint32_t w;
	memcpy(&w, src + 0x100 - 12, 4);
	CHECK_EQ(w, 0x11223344);
	CHECK(!(cpu->s.rflags & RFLAGS_DF));
	/* 32-bit address size: esi/edi/ecx wrap and zero-extend */
	memset(src, 0x5a, 16);
	g[R_RSI] = 0xffffffff00000000ull | DATA; g[R_RDI] = DATA + 0x2000; g[R_RCX] = 0xffffffff00000002ull;
	CHECK_EQ(run(&f, "67f3a5", 1), -1);
	CHECK_EQ(g[R_RCX], 0);
	CHECK_EQ(g[R_RSI], DATA + 8);
	/* repe cmpsb stops at the first difference */
	memcpy(src, "abcdef", 6);
	memcpy(dst, "abcxef", 6);
	g[R_RSI] = DATA; g[R_RDI] = DATA + 0x2000; g[R_RCX] = 6;
	CHECK_EQ(run(&f, "f3a6", 1), -1);
	CHECK_EQ(g[R_RCX], 2);
	CHECK_EQ(g[R_RSI], DATA + 4);
	CHECK_EQ(flags(&f) & ZF, 0);
	/* repne scasb finds a byte */
	g[R_RAX] = 'e'; g[R_RDI] = DATA + 0x2000; g[R_RCX] = 100;
	CHECK_EQ(run(&f, "f2ae", 1), -1);
	CHECK_EQ(g[R_RDI], DATA + 0x2000 + 5);
	CHECK_EQ(g[R_RCX], 95);
	CHECK_EQ(flags(&f) & ZF, ZF);
	/* rep with rcx = 0 does nothing */
	g[R_RCX] = 0; g[R_RDI] = DATA;
	CHECK_EQ(run(&f, "f3aa", 1), -1);
	CHECK_EQ(g[R_RDI], DATA);
	/* lodsw */
	memcpy(src, "\x34\x12", 2);
	g[R_RSI] = DATA; g[R_RAX] = 0;
	CHECK_EQ(run(&f, "66ad", 1), -1);
	CHECK_EQ(g[R_RAX], 0x1234);
	fixture_free(&f);
}

TEST(interp_atomics_bitops)
{
	struct fixture f;
	struct bt_cpu *cpu = fixture_init(&f);
	uint64_t *g = cpu->s.gpr;
	uint8_t *d = ram(&f, DATA);
	uint64_t v;

	memset(d, 0, 64);
	/* lock cmpxchg [rdi], ecx: success, then failure loads eax */
	g[R_RDI] = DATA; g[R_RAX] = 0; g[R_RCX] = 42;
	CHECK_EQ(run(&f, "f00fb10f", 1), -1);
	CHECK_EQ(d[0], 42);
	CHECK_EQ(flags(&f) & ZF, ZF);
	g[R_RAX] = 7;
	CHECK_EQ(run(&f, "0fb10f", 1), -1);
	CHECK_EQ(g[R_RAX], 42);
	CHECK_EQ(flags(&f) & ZF, 0);
	/* lock xadd qword */
	g[R_RCX] = 8;
	CHECK_EQ(run(&f, "f0480fc10f", 1), -1);
	CHECK_EQ(g[R_RCX], 42);
	memcpy(&v, d, 8);
	CHECK_EQ(v, 50);
	/* xchg with memory */
	g[R_RAX] = 0x99;
	CHECK_EQ(run(&f, "488707", 1), -1);
	CHECK_EQ(g[R_RAX], 50);
	CHECK_EQ(d[0], 0x99);
	/* lock add / lock inc on memory */
	CHECK_EQ(run(&f, "f0 48 8307 01 f0 fe07", 2), -1);
	CHECK_EQ(d[0], 0x9b);
	/* cmpxchg8b / cmpxchg16b */
	memset(d, 0, 32);
	g[R_RAX] = 0; g[R_RDX] = 0; g[R_RBX] = 0x11111111; g[R_RCX] = 0x22222222;
	CHECK_EQ(run(&f, "f00fc70f", 1), -1);
	memcpy(&v, d, 8);
	CHECK_EQ(v, 0x2222222211111111ull);
	CHECK_EQ(flags(&f) & ZF, ZF);
	g[R_RBX] = 5; g[R_RCX] = 6;
	CHECK_EQ(run(&f, "f0480fc70f", 1), -1);		/* cmpxchg16b: rdx:rax = 0:0 */
	CHECK_EQ(flags(&f) & ZF, 0);
	CHECK_EQ(g[R_RAX], 0x2222222211111111ull);
	g[R_RDI] = DATA + 8;
	CHECK_EQ(run(&f, "480fc70f", 1), EXC_GP);		/* misaligned 16 */
	/* bt with a register offset reaches other words, also negative */
	memset(d, 0, 64);
	d[8] = 0x08;						/* bit 67 from DATA */
	g[R_RDI] = DATA; g[R_RAX] = 67;
	CHECK_EQ(run(&f, "480fa307", 1), -1);			/* bt [rdi], rax */
	CHECK_EQ(flags(&f) & CF, CF);
	g[R_RDI] = DATA + 16; g[R_RAX] = (uint64_t)-61;	/* 128 - 61 = 67 */
	CHECK_EQ(run(&f, "480fab07", 1), -1);			/* bts: already set */
	CHECK_EQ(flags(&f) & CF, CF);
	g[R_RAX] = (uint64_t)-62;
	CHECK_EQ(run(&f, "f0480fab07", 1), -1);		/* lock bts bit 66 */
	CHECK_EQ(d[8], 0x0c);
	g[R_RBX] = 0x00f0;
	CHECK_EQ(run(&f, "0fbccb 0fbdd3", 2), -1);		/* bsf ecx,ebx; bsr edx,ebx */
	CHECK_EQ(g[R_RCX], 4);
	CHECK_EQ(g[R_RDX], 7);
	/* lock on a register destination, or a non-lockable insn: #UD */
	CHECK_EQ(run(&f, "f001d8", 1), EXC_UD);
	CHECK_EQ(run(&f, "f08b07", 1), EXC_UD);
	fixture_free(&f);
}

TEST(interp_misc_moves)
{
	struct fixture f;
	struct bt_cpu *cpu = fixture_init(&f);
	uint64_t *g = cpu->s.gpr;

	g[R_RBX] = 0x80;
	CHECK_EQ(run(&f, "480fbec3 0fb6cb", 2), -1);		/* movsx rax, bl; movzx ecx, bl */
	CHECK_EQ(g[R_RAX], 0xffffffffffffff80ull);
	CHECK_EQ(g[R_RCX], 0x80);
	g[R_RAX] = 0x80000000;
	CHECK_EQ(run(&f, "4898 4899", 2), -1);			/* cdqe; cqo */
	CHECK_EQ(g[R_RAX], 0xffffffff80000000ull);
	CHECK_EQ(g[R_RDX], ~0ull);
	g[R_RAX] = 0x11223344;
	CHECK_EQ(run(&f, "0fc8", 1), -1);			/* bswap eax */
	CHECK_EQ(g[R_RAX], 0x44332211);
	g[R_RBX] = 0x100; g[R_RSI] = 3;
	CHECK_EQ(run(&f, "488d4473 10", 1), -1);		/* lea rax, [rbx+rsi*2+0x10] */
	CHECK_EQ(g[R_RAX], 0x116);
	CHECK_EQ(run(&f, "488d05 10000000", 1), -1);		/* lea rax, [rip+0x10] */
	CHECK_EQ(g[R_RAX], CODE + 7 + 0x10);
	CHECK_EQ(run(&f, "f9 9f", 2), -1);			/* stc; lahf */
	CHECK_EQ((g[R_RAX] >> 8) & 0xff, 0x03);
	/* push/pop with memory and rsp */
	g[R_RSP] = STACK;
	CHECK_EQ(run(&f, "54 58", 2), -1);			/* push rsp; pop rax */
	CHECK_EQ(g[R_RAX], STACK);
	CHECK_EQ(run(&f, "0f0b", 1), EXC_UD);			/* ud2 */
	fixture_free(&f);
}

/* Storing into code that is already decoded: the next execution sees the new bytes. */
TEST(interp_self_modifying_code)
{
	struct fixture f;
	struct bt_cpu *cpu = fixture_init(&f);
	uint64_t *g = cpu->s.gpr;

	/* b8 01000000: mov eax, 1 at CODE; then c6 05 xx: mov byte [rip+..], 2 patching it */
	g[R_RAX] = 0;
	CHECK_EQ(run(&f, "b801000000", 1), -1);
	CHECK_EQ(g[R_RAX], 1);
	*ram(&f, CODE + 1) = 9;			/* host store: not seen by the cache */
	bt_code_written(&f.bvm, CODE);		/* what the MMU's write slow path reports */
	cpu->s.rip = CODE;
	if (!setjmp(cpu->fault_jmp))
		bt_interp_run(cpu, 1);
	CHECK_EQ(g[R_RAX], 9);
	/* guest store into the same block, one instruction ahead of execution */
	load_hex(&f, CODE, "c605 02000000 05 90 b801000000");
	cpu->s.rip = CODE;
	bt_code_written(&f.bvm, CODE);
	if (!setjmp(cpu->fault_jmp))
		bt_interp_run(cpu, 3);		/* mov [rip+2], 5 patches the mov eax imm */
	CHECK_EQ(g[R_RAX], 5);
	CHECK(cpu->stats.blocks_invalidated > 0);
	fixture_free(&f);
}

/* 16-bit real-mode code with operand- and address-size prefixes. */
TEST(interp_real_mode)
{
	struct fixture f;
	struct bt_cpu *cpu = fixture_init(&f);
	uint64_t *g = cpu->s.gpr;

	for (int s = 0; s < S_NR; s++) {
		cpu->s.seg[s].base = 0;
		cpu->s.seg[s].limit = 0xffff;
		cpu->s.seg[s].attr = SEG_P | SEG_S | 3;
	}
	cpu->s.cr0 = 0;
	cpu->s.efer = 0;
	cpu->mode = BT_MODE_REAL;
	cpu->code_size = 2;
	cpu->stack_size = 2;
	bt_tlb_flush(cpu, true);
	g[R_RSP] = 0x8000;
	g[R_RAX] = 0xdeadbeefcafe0000ull;
	/* mov ax, 0xffff; inc ax; mov eax, 0x12345678 (66); push ax; pop bx */
	CHECK_EQ(run(&f, "b8ffff 40 66b878563412 50 5b", 5), -1);
	CHECK_EQ(g[R_RAX], 0x12345678);
	CHECK_EQ(g[R_RBX] & 0xffff, 0x5678);
	CHECK_EQ(g[R_RSP], 0x8000);
	/* 16-bit addressing: mov [bx+si+2], al; 67: 32-bit addressing */
	g[R_RBX] = 0x4000; g[R_RSI] = 0x10;
	CHECK_EQ(run(&f, "8840 02 67 8a4b 12", 2), -1);	/* mov [bx+si+2],al; mov cl,[ebx+0x12] */
	CHECK_EQ(*ram(&f, 0x4012), 0x78);
	CHECK_EQ(g[R_RCX] & 0xff, 0x78);
	/* jmp wraps ip within 64 KiB; 32-bit operand size would not */
	CHECK_EQ(run(&f, "e9 fdef", 1), -1);			/* jmp -0x1003 from 0x1003 */
	CHECK_EQ(cpu->s.rip, 0);
	g[R_RCX] = 3; g[R_RDI] = 0x5000;
	CHECK_EQ(run(&f, "f3aa", 1), -1);			/* rep stosb with cx */
	CHECK_EQ(g[R_RCX], 0);
	CHECK_EQ(g[R_RDI], 0x5003);
	CHECK_EQ(run(&f, "6a80 6658", 2), -1);		/* push -128 (word); pop eax (dword) */
	CHECK_EQ(g[R_RSP], 0x8002);
	/* a REP string op that runs into the segment limit faults at that element, with the
	 * registers left there so it can restart */
	g[R_RDI] = 0xfff8; g[R_RCX] = 16;
	CHECK_EQ(run(&f, "67f3aa", 1), EXC_GP);
	CHECK_EQ(g[R_RCX], 8);
	CHECK_EQ(g[R_RDI], 0x10000);
	CHECK_EQ(cpu->s.rip, CODE);
	fixture_free(&f);
}

TEST(interp_x87)
{
	struct fixture f;
	struct bt_cpu *cpu = fixture_init(&f);
	uint64_t *g = cpu->s.gpr;
	uint8_t *d = ram(&f, DATA);
	double x = 2.5, y;
	int32_t n;
	uint16_t sw;

	cpu->s.fxsave[0] = 0x7f;		/* FCW 0x37f: all masked, extended, nearest */
	cpu->s.fxsave[1] = 0x03;
	memcpy(d, &x, 8);
	g[R_RDI] = DATA;
	/* fld qword [rdi]; fld1; faddp; fsqrt; fstp qword [rdi+8] -> sqrt(3.5) */
	CHECK_EQ(run(&f, "dd07 d9e8 dec1 d9fa dd5f08", 5), -1);
	memcpy(&y, d + 8, 8);
	CHECK(y > 1.8708 && y < 1.8709);
	CHECK_EQ(cpu->s.fxsave[4], 0);				/* stack empty again */
	/* fild dword; fistp with round-to-nearest-even: 2.5 -> 2 */
	memcpy(d, &x, 8);
	CHECK_EQ(run(&f, "dd07 db5f10", 2), -1);
	memcpy(&n, d + 16, 4);
	CHECK_EQ(n, 2);
	/* fcomi / fucomip set ZF/PF/CF; fnstsw ax after fcom */
	CHECK_EQ(run(&f, "d9e8 d9ee dff1 ddd8", 4), -1);	/* fld1; fldz; fcomip st1; fstp st0 */
	CHECK_EQ(flags(&f) & (ZF | PF | CF), CF);		/* 0 < 1 */
	CHECK_EQ(run(&f, "d9e8 d9e8 d8d1 dfe0 ddd8 ddd8", 6), -1);	/* fcom st1 (equal) */
	sw = (uint16_t)g[R_RAX];
	CHECK_EQ(sw & 0x4500, 0x4000);				/* C3 */
	/* fxch and fchs */
	CHECK_EQ(run(&f, "d9e8 d9ee d9c9 d9e0 dd5f08 dd5f08", 6), -1);
	memcpy(&y, d + 8, 8);
	CHECK(y == 0.0);					/* second store: the fldz */
	/* #NM with CR0.TS */
	cpu->s.cr0 |= CR0_TS;
	CHECK_EQ(run(&f, "d9e8", 1), EXC_NM);
	cpu->s.cr0 &= ~CR0_TS;
	fixture_free(&f);
}

TEST(interp_sse)
{
	struct fixture f;
	struct bt_cpu *cpu = fixture_init(&f);
	uint64_t *g = cpu->s.gpr;
	uint8_t *d = ram(&f, DATA);
	double a = 1.5, b = 2.25, r;

	memcpy(d, &a, 8);
	memcpy(d + 8, &b, 8);
	g[R_RDI] = DATA;
	/* movsd xmm0,[rdi]; addsd xmm0,[rdi+8]; movsd [rdi+16], xmm0 */
	CHECK_EQ(run(&f, "f20f1007 f20f584708 f20f114710", 3), -1);
	memcpy(&r, d + 16, 8);
	CHECK(r == 3.75);
	/* cvttsd2si rax, xmm0; cvtsi2sd xmm1, rax */
	CHECK_EQ(run(&f, "f2480f2cc0 f2480f2ac8", 2), -1);
	CHECK_EQ(g[R_RAX], 3);
	/* ucomisd xmm0, xmm1: 3.75 > 3 */
	CHECK_EQ(run(&f, "660f2ec1", 1), -1);
	CHECK_EQ(flags(&f), 0);
	/* pxor; pcmpeqb; pmovmskb: find a zero byte like strlen */
	memcpy(d + 32, "hello\0world.....", 16);
	CHECK_EQ(run(&f, "660fefc9 660f6f4720 660f74c1 660fd7c0", 4), -1);
	CHECK_EQ(g[R_RAX], 1u << 5);
	/* movdqa from a misaligned address: #GP */
	CHECK_EQ(run(&f, "660f6f4721", 1), EXC_GP);
	/* movdqu is fine; pshufd broadcast; movd to eax */
	CHECK_EQ(run(&f, "f30f6f4721 660f70c000 660f7ec0", 3), -1);
	CHECK_EQ(g[R_RAX], 0x6f6c6c65);				/* "ello" */
	/* psrldq by 2, paddd */
	CHECK_EQ(run(&f, "660f73d804 660f7ec0", 2), -1);
	CHECK_EQ(g[R_RAX], 0x6f6c6c65);
	/* without CR4.OSFXSR SSE is #UD; with CR0.TS #NM */
	cpu->s.cr4 &= ~CR4_OSFXSR;
	CHECK_EQ(run(&f, "0f28c1", 1), EXC_UD);
	cpu->s.cr4 |= CR4_OSFXSR;
	cpu->s.cr0 |= CR0_TS;
	CHECK_EQ(run(&f, "0f28c1", 1), EXC_NM);
	cpu->s.cr0 &= ~CR0_TS;
	/* fxsave / fxrstor round trip; ldmxcsr rejects reserved bits */
	memset(d, 0, 512);
	CHECK_EQ(run(&f, "0fae07", 1), -1);
	CHECK(!memcmp(d + 160, cpu->s.fxsave + 160, 256));
	d[160] ^= 0xff;
	CHECK_EQ(run(&f, "0fae0f", 1), -1);
	CHECK_EQ(cpu->s.fxsave[160], d[160]);
	uint32_t bad = 0x10000;
	memcpy(d + 600, &bad, 4);
	CHECK_EQ(run(&f, "0fae9758020000", 1), EXC_GP);
	fixture_free(&f);
}

TEST(interp_corner_cases)
{
	struct fixture f;
	struct bt_cpu *cpu = fixture_init(&f);
	uint64_t *g = cpu->s.gpr;
	uint8_t *d = ram(&f, DATA);
	uint64_t v;

	/* BT on a 32-bit register must not zero-extend it; BTS does */
	g[R_RAX] = 0xffffffff00000001ull;
	CHECK_EQ(run(&f, "0fbae000", 1), -1);			/* bt eax, 0 */
	CHECK_EQ(g[R_RAX], 0xffffffff00000001ull);
	CHECK_EQ(flags(&f) & CF, CF);
	CHECK_EQ(run(&f, "0fbae801", 1), -1);			/* bts eax, 1 */
	CHECK_EQ(g[R_RAX], 3);
	/* xadd of a register with itself keeps the sum */
	g[R_RCX] = 5;
	CHECK_EQ(run(&f, "0fc1c9", 1), -1);
	CHECK_EQ(g[R_RCX], 10);
	/* pop [rsp]: the address uses the incremented rsp */
	g[R_RSP] = STACK - 16;
	v = 0x1234;
	memcpy(ram(&f, STACK - 16), &v, 8);
	CHECK_EQ(run(&f, "8f0424", 1), -1);
	memcpy(&v, ram(&f, STACK - 8), 8);
	CHECK_EQ(v, 0x1234);
	CHECK_EQ(g[R_RSP], STACK - 8);
	/* fs: override adds the FS base in 64-bit mode; ds: does not add anything */
	cpu->s.seg[S_FS].base = DATA;
	cpu->s.seg[S_DS].base = 0x100;
	memcpy(d + 8, "\x77", 1);
	CHECK_EQ(run(&f, "648a0c25 08000000", 1), -1);		/* mov cl, fs:[8] */
	CHECK_EQ(g[R_RCX] & 0xff, 0x77);
	g[R_RBX] = DATA + 8;
	CHECK_EQ(run(&f, "3e8a13", 1), -1);			/* mov dl, ds:[rbx] */
	CHECK_EQ(g[R_RDX] & 0xff, 0x77);
	/* sahf then a conditional that reads the result */
	g[R_RAX] = 0x4100;					/* ZF | CF */
	CHECK_EQ(run(&f, "9e 0f96c1", 2), -1);			/* sahf; setbe cl */
	CHECK_EQ(g[R_RCX] & 0xff, 1);
	/* enter with nesting level 2 copies the frame pointer chain */
	g[R_RSP] = STACK; g[R_RBP] = STACK + 0x100;
	v = 0xaaaa;
	memcpy(ram(&f, STACK + 0x100 - 8), &v, 8);
	CHECK_EQ(run(&f, "c8 0800 02", 1), -1);
	CHECK_EQ(g[R_RBP], STACK - 8);
	CHECK_EQ(g[R_RSP], STACK - 24 - 8);
	memcpy(&v, ram(&f, STACK - 16), 8);
	CHECK_EQ(v, 0xaaaa);
	memcpy(&v, ram(&f, STACK - 24), 8);
	CHECK_EQ(v, STACK - 8);
	/* lock on an SSE or non-lockable memory instruction: #UD */
	CHECK_EQ(run(&f, "f0 660fef07", 1), EXC_UD);
	fixture_free(&f);
}

/* 32-bit protected-mode code: PUSHA/POPA, BCD, BOUND, the 16-bit operand forms. */
TEST(interp_legacy_32)
{
	struct fixture f;
	struct bt_cpu *cpu = fixture_init(&f);
	uint64_t *g = cpu->s.gpr;
	uint8_t *d = ram(&f, DATA);

	cpu->s.seg[S_CS].attr = SEG_P | SEG_S | SEG_DB | 0xb;
	cpu->s.efer = 0;
	cpu->mode = BT_MODE_PROT;
	cpu->code_size = 4;
	cpu->stack_size = 4;
	bt_tlb_flush(cpu, true);
	for (int r = 0; r < 8; r++)
		g[r] = 0x100 + r;
	g[R_RSP] = STACK;
	CHECK_EQ(run(&f, "60 31c0 31db 61", 4), -1);		/* pusha; xor; xor; popa */
	CHECK_EQ(g[R_RAX], 0x100);
	CHECK_EQ(g[R_RBX], 0x103);
	CHECK_EQ(g[R_RSP], STACK);
	/* daa after adding packed BCD 0x19 + 0x28 = 0x47 */
	g[R_RAX] = 0x19;
	CHECK_EQ(run(&f, "04 28 27", 2), -1);
	CHECK_EQ(g[R_RAX] & 0xff, 0x47);
	/* aam / aad */
	g[R_RAX] = 53;
	CHECK_EQ(run(&f, "d40a", 1), -1);
	CHECK_EQ(g[R_RAX] & 0xffff, 0x0503);
	CHECK_EQ(run(&f, "d50a", 1), -1);
	CHECK_EQ(g[R_RAX] & 0xffff, 53);
	CHECK_EQ(run(&f, "d400", 1), EXC_DE);
	/* bound: inside passes, outside raises #BR */
	int32_t bounds[2] = { -5, 10 };
	memcpy(d, bounds, 8);
	g[R_RDI] = DATA; g[R_RAX] = 10;
	CHECK_EQ(run(&f, "6207", 1), -1);
	g[R_RAX] = 11;
	CHECK_EQ(run(&f, "6207", 1), EXC_BR);
	/* inc with 40+r and a 16-bit operand */
	g[R_RCX] = 0x1ffff;
	CHECK_EQ(run(&f, "6641", 1), -1);
	CHECK_EQ(g[R_RCX], 0x10000);
	CHECK_EQ(flags(&f) & ZF, ZF);
	fixture_free(&f);
}
