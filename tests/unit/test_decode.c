/* Decoder tests: encodings -> length, sizes, operands, prefixes, and the #UD/#GP cases. */
#include <stdlib.h>
#include <string.h>

#include "engine/bt/cpu/ops.h"
#include "test.h"

struct dcase {
	unsigned mode;		/* code size: 2, 4, 8 */
	const char *hex;	/* instruction bytes */
	int len;		/* length, or enum bt_decode_status */
	const char *expect;	/* "key=value ..." checked against the decoded insn */
};

static const struct { const char *name; bt_handler fn; } handlers[] = {
	{ "add_EG", bt_h_add_EG }, { "add_GE", bt_h_add_GE }, { "add_EI", bt_h_add_EI },
	{ "or_EI", bt_h_or_EI }, { "cmp_EI", bt_h_cmp_EI }, { "sub_EI", bt_h_sub_EI },
	{ "xor_EG", bt_h_xor_EG }, { "mov_EG", bt_h_mov_EG }, { "mov_GE", bt_h_mov_GE },
	{ "mov_EI", bt_h_mov_EI }, { "lea", bt_h_lea }, { "nop", bt_h_nop }, { "xchg", bt_h_xchg },
	{ "movsxd", bt_h_movsxd }, { "arpl", bt_op_arpl }, { "jcc", bt_h_jcc },
	{ "call_rel", bt_h_call_rel }, { "push_E", bt_h_push_E }, { "pop_E", bt_h_pop_E },
	{ "movs", bt_h_movs }, { "stos", bt_h_stos }, { "cmpxchg", bt_h_cmpxchg },
	{ "vmcall", bt_op_vmcall }, { "swapgs", bt_op_swapgs }, { "rdtscp", bt_op_rdtscp },
	{ "lgdt", bt_op_lgdt }, { "invlpg", bt_op_invlpg }, { "mov_to_cr", bt_op_mov_to_cr },
	{ "jmp_far", bt_op_jmp_far }, { "call_far", bt_op_call_far }, { "ret_far", bt_op_ret_far },
	{ "load_far_ptr", bt_op_load_far_ptr }, { "in", bt_op_in }, { "out", bt_op_out },
	{ "hlt", bt_op_hlt }, { "int_n", bt_op_int_n }, { "enter", bt_h_enter },
	{ "shl_I", bt_h_shl_I }, { "rcl_CL", bt_h_rcl_CL }, { "bsf", bt_h_bsf },
	{ "bt_I", bt_h_bt_I }, { "cmpxchg8b", bt_h_cmpxchg8b }, { "sse_mov", bt_h_sse_mov },
	{ "sse_int", bt_h_sse_int }, { "fxsave", bt_h_fxsave }, { "clflush", bt_op_clflush },
	{ "mov_load_moffs", bt_h_mov_load_moffs }, { "setcc", bt_h_setcc },
	{ "x87_d9", bt_h_x87_d9 }, { "ud", bt_op_ud }, { "mul", bt_h_mul }, { "inc", bt_h_inc },
	{ "test_EI", bt_h_test_EI }, { "push_I", bt_h_push_I }, { "sse_cvt_si2f", bt_h_sse_cvt_si2f },
	{ "syscall", bt_op_syscall }, { "ret", bt_h_ret },
};

static const struct dcase cases[] = {
	/* 64-bit: REX, sizes, ModRM/SIB forms */
	{ 8, "4801d8", 3, "fn=add_EG opsize=8 reg=3 rm=0 mem=0" },		/* add rax,rbx */
	{ 8, "01d8", 2, "fn=add_EG opsize=4 addrsize=8" },
	{ 8, "6601d8", 3, "opsize=2" },
	{ 8, "664801d8", 4, "opsize=8" },					/* REX.W beats 66 */
	{ 8, "4866 01d8", 4, "opsize=2" },					/* REX before 66: ignored */
	{ 8, "4d01c8", 3, "reg=9 rm=8" },					/* add r8,r9 */
	{ 8, "8b0425 78563412", 7, "fn=mov_GE mem=1 base=- index=- disp=0x12345678 seg=3" },
	{ 8, "8b05 10000000", 6, "mem=1 rip=1 disp=0x10 base=-" },		/* rip-relative */
	{ 8, "678b05 10000000", 7, "rip=1 addrsize=4" },
	{ 8, "8b4424 08", 4, "base=4 index=- disp=8 seg=2" },			/* [rsp+8] -> SS */
	{ 8, "8b45 f8", 3, "base=5 disp=-8 seg=2" },				/* [rbp-8] */
	{ 8, "8b44 8d 00", 4, "base=5 index=1 scale=2 disp=0" },
	{ 8, "428b04 a0", 4, "base=0 index=12 scale=2" },			/* REX.X */
	{ 8, "418b04 24", 4, "base=12 index=-" },				/* [r12] */
	{ 8, "418b45 00", 4, "base=13 disp=0" },				/* [r13+0] */
	{ 8, "8b0c 8d 00100000", 7, "base=- index=1 scale=2 disp=0x1000" },	/* no base */
	{ 8, "648b04 25 28000000", 8, "seg=4 base=- disp=0x28" },		/* fs: */
	{ 8, "2e8b00", 3, "seg=3" },						/* cs: ignored in 64-bit */
	{ 8, "88e0", 2, "opsize=1 reg=4 rm=0 rex=0" },				/* mov al,ah */
	{ 8, "4088e0", 3, "opsize=1 reg=4 rex=1" },				/* mov al,spl */
	{ 8, "48b8 8877665544332211", 10, "fn=mov_EI imm=0x1122334455667788 rm=0" },
	{ 8, "41b8 01000000", 6, "fn=mov_EI rm=8 opsize=4 imm=1" },
	{ 8, "4881c3 ffffffff", 7, "fn=add_EI imm=0xffffffffffffffff" },	/* sign-extended */
	{ 8, "83c0 80", 3, "fn=add_EI imm=0xffffffffffffff80" },
	{ 8, "0c 80", 2, "fn=or_EI opsize=1 imm=0x80 rm=0" },
	{ 8, "48 3d 00000080", 6, "fn=cmp_EI rm=0 imm=0xffffffff80000000" },
	{ 8, "50", 1, "fn=push_E opsize=8 rm=0" },
	{ 8, "6650", 2, "opsize=2" },
	{ 8, "4159", 2, "fn=pop_E rm=9 opsize=8" },
	{ 8, "6a ff", 2, "fn=push_I imm=0xffffffffffffffff opsize=8" },
	{ 8, "90", 1, "fn=nop" },
	{ 8, "f390", 2, "fn=nop" },						/* pause */
	{ 8, "4190", 2, "fn=xchg rm=8 reg=0" },
	{ 8, "0f1f440000", 5, "fn=nop" },
	{ 8, "66 0f1f 840000000000", 9, "fn=nop" },
	{ 8, "63c1", 2, "fn=movsxd" },
	{ 8, "4863 c1", 3, "fn=movsxd opsize=8" },
	{ 8, "74 fe", 2, "fn=jcc imm=0xfffffffffffffffe opsize=8 end=0 op=0x74" },
	{ 8, "0f84 00010000", 6, "fn=jcc imm=0x100 op=0x184" },
	{ 8, "e8 00000000", 5, "fn=call_rel opsize=8" },
	{ 8, "c3", 1, "fn=ret end=1" },
	{ 8, "c2 0800", 3, "fn=ret imm=8" },
	{ 8, "c8 1000 02", 4, "fn=enter imm=0x10 imm2=2" },
	{ 8, "48a1 0807060504030201", 10, "fn=mov_load_moffs imm=0x0102030405060708" },
	{ 8, "67a1 04030201", 6, "imm=0x01020304 addrsize=4" },
	{ 8, "f3a4", 2, "fn=movs rep=1 opsize=1" },
	{ 8, "f348ab", 3, "fn=stos rep=1 opsize=8" },
	{ 8, "f0 480fb1 0f", 5, "fn=cmpxchg lock=1 mem=1 base=7" },
	{ 8, "f0 0fc7 0e", 4, "fn=cmpxchg8b lock=1" },
	{ 8, "c1e0 04", 3, "fn=shl_I imm=4" },
	{ 8, "d1e0", 2, "fn=shl_I imm=1" },
	{ 8, "d3d0", 2, "fn=rcl_CL" },
	{ 8, "f30fbc c1", 4, "fn=bsf" },					/* TZCNT not advertised */
	{ 8, "0fba e0 05", 4, "fn=bt_I imm=5" },
	{ 8, "0f94 c0", 3, "fn=setcc op=0x194" },
	{ 8, "f7e3", 2, "fn=mul rm=3" },
	{ 8, "f6 c1 01", 3, "fn=test_EI imm=1 opsize=1" },
	{ 8, "ff c0", 2, "fn=inc" },
	{ 8, "0f01c1", 3, "fn=vmcall end=1" },
	{ 8, "0f01d9", 3, "fn=vmcall end=1" },		/* VMMCALL */
	{ 8, "0f01f8", 3, "fn=swapgs" },
	{ 8, "0f01f9", 3, "fn=rdtscp" },
	{ 8, "0f0110", 3, "fn=lgdt mem=1" },
	{ 8, "0f0138", 3, "fn=invlpg end=1" },
	{ 8, "0f22d8", 3, "fn=mov_to_cr reg=3 rm=0 opsize=8 end=1" },
	{ 8, "440f22c0", 4, "fn=mov_to_cr reg=8" },				/* CR8 */
	{ 8, "0f20 00", 3, "mem=0" },						/* mod ignored */
	{ 8, "ff 18", 2, "fn=call_far mem=1 end=1" },
	{ 8, "48ff 2c 24", 4, "fn=jmp_far mem=1" },
	{ 8, "cb", 1, "fn=ret_far" },
	{ 8, "0f05", 2, "fn=syscall end=1" },
	{ 8, "e4 60", 2, "fn=in imm=0x60 opsize=1" },
	{ 8, "ef", 1, "fn=out opsize=4" },
	{ 8, "f4", 1, "fn=hlt end=1" },
	{ 8, "cd 80", 2, "fn=int_n imm=0x80" },
	{ 8, "0f10 00", 3, "fn=sse_mov mand=0" },
	{ 8, "f30f10 00", 4, "fn=sse_mov mand=0xf3 rep=0" },
	{ 8, "660f6f c1", 4, "fn=sse_mov mand=0x66" },
	{ 8, "66 f2 0f10 c1", 5, "mand=0xf2" },
	{ 8, "660fef c0", 4, "fn=sse_int" },
	{ 8, "f2480f2a c0", 5, "fn=sse_cvt_si2f mand=0xf2 opsize=8" },
	{ 8, "0fae 00", 3, "fn=fxsave mem=1" },
	{ 8, "0fae 38", 3, "fn=clflush" },
	{ 8, "0faef0", 3, "fn=nop" },						/* mfence */
	{ 8, "d9 c9", 2, "fn=x87_d9" },
	{ 8, "26 64 8b00", 4, "seg=4" },
	/* 32-bit */
	{ 4, "01d8", 2, "opsize=4 addrsize=4" },
	{ 4, "40", 1, "fn=inc rm=0" },						/* not REX */
	{ 4, "48", 1, "rm=0" },
	{ 4, "8b05 10000000", 6, "rip=0 base=- disp=0x10" },			/* absolute */
	{ 4, "678b07", 3, "addrsize=2 base=3 index=-" },			/* [bx] */
	{ 4, "2e8b00", 3, "seg=1" },
	{ 4, "368b00", 3, "seg=2" },
	{ 4, "3e8b45 00", 4, "seg=3 base=5" },					/* override beats SS */
	{ 4, "63c1", 2, "fn=arpl" },
	{ 4, "c4 00", 2, "fn=load_far_ptr" },
	{ 4, "ea 78563412 0800", 7, "fn=jmp_far imm=0x12345678 imm2=8" },
	{ 4, "66ea 3412 0800", 6, "fn=jmp_far imm=0x1234 imm2=8 opsize=2" },
	{ 4, "e8 00000000", 5, "opsize=4" },
	{ 4, "0f22c0", 3, "opsize=4" },
	/* 16-bit */
	{ 2, "01d8", 2, "opsize=2 addrsize=2" },
	{ 2, "6601d8", 3, "opsize=4" },
	{ 2, "8b07", 2, "base=3 index=- disp=0" },				/* [bx] */
	{ 2, "8b00", 2, "base=3 index=6 seg=3" },				/* [bx+si] */
	{ 2, "8b42 fe", 3, "base=5 index=6 disp=-2 seg=2" },			/* [bp+si-2] */
	{ 2, "8b06 3412", 4, "base=- index=- disp=0x1234" },			/* [disp16] */
	{ 2, "8b86 0080", 4, "base=5 disp=-0x8000" },
	{ 2, "678b00", 3, "addrsize=4 base=0" },
	{ 2, "67668b4424 04", 6, "addrsize=4 opsize=4 base=4 seg=2 disp=4" },
	{ 2, "e8 0001", 3, "fn=call_rel imm=0x100" },
	{ 2, "b8 3412", 3, "fn=mov_EI imm=0x1234" },
	{ 2, "ea 0000 00f0", 5, "fn=jmp_far imm=0 imm2=0xf000" },
	/* invalid: #UD */
	{ 8, "0f0b", BT_DEC_UD, "" },						/* ud2 */
	{ 8, "06", BT_DEC_UD, "" },						/* push es */
	{ 8, "27", BT_DEC_UD, "" },						/* daa */
	{ 8, "60", BT_DEC_UD, "" },
	{ 8, "d6", BT_DEC_UD, "" },
	{ 8, "c5f8", BT_DEC_UD, "" },						/* VEX */
	{ 8, "8dc0", BT_DEC_UD, "" },						/* lea reg */
	{ 8, "f0 01d8", BT_DEC_UD, "" },					/* lock, register dest */
	{ 8, "f0 3900", BT_DEC_UD, "" },					/* lock cmp */
	{ 8, "f0 8b00", BT_DEC_UD, "" },					/* lock mov */
	{ 8, "f0 90", BT_DEC_UD, "" },
	{ 8, "ff f8", BT_DEC_UD, "" },						/* ff /7 */
	{ 8, "ff d8", BT_DEC_UD, "" },						/* call far, register */
	{ 8, "0fb8 c0", BT_DEC_UD, "" },					/* popcnt */
	{ 8, "0f38 00 c0", BT_DEC_UD, "" },
	{ 8, "0f01 d0", 3, "fn=ud" },						/* xgetbv: #UD at run time */
	{ 4, "0f01 f8", BT_DEC_UD, "" },					/* swapgs outside 64 */
	{ 4, "c4 c0", BT_DEC_UD, "" },						/* les reg */
	{ 8, "0fc7 c8", BT_DEC_UD, "" },					/* cmpxchg8b reg */
	{ 8, "0fc7 f0", BT_DEC_UD, "" },					/* rdrand */
	/* too long: #GP; truncated: need more bytes */
	{ 8, "666666666666666666666666666666 90", BT_DEC_GP, "" },		/* 16 bytes */
	{ 8, "6666666666666666666666666666 90", 15, "fn=nop" },
	{ 8, "f0f0f0f0f0f0f0f0f0f0 48 810480 78563412", BT_DEC_GP, "" },
	{ 8, "48b8 8877", BT_DEC_MORE, "" },
	{ 8, "0f", BT_DEC_MORE, "" },
};

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static unsigned parse_hex(const char *s, uint8_t *out)
{
	unsigned n = 0;
	for (; *s; s++) {
		if (*s == ' ')
			continue;
		out[n++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
		s++;
	}
	return n;
}

static long long field(const struct bt_insn *i, const char *key, bool *ok)
{
	*ok = true;
	if (!strcmp(key, "opsize")) return i->opsize;
	if (!strcmp(key, "addrsize")) return i->addrsize;
	if (!strcmp(key, "reg")) return i->reg;
	if (!strcmp(key, "rm")) return i->rm;
	if (!strcmp(key, "base")) return i->base;
	if (!strcmp(key, "index")) return i->index;
	if (!strcmp(key, "scale")) return i->scale;
	if (!strcmp(key, "disp")) return i->disp;
	if (!strcmp(key, "imm")) return (long long)i->imm;
	if (!strcmp(key, "imm2")) return (long long)i->imm2;
	if (!strcmp(key, "seg")) return i->seg;
	if (!strcmp(key, "mand")) return i->mandatory;
	if (!strcmp(key, "op")) return i->op;
	if (!strcmp(key, "mem")) return !!(i->flags & BI_MEM);
	if (!strcmp(key, "rip")) return !!(i->flags & BI_RIPREL);
	if (!strcmp(key, "rex")) return !!(i->flags & BI_REX);
	if (!strcmp(key, "lock")) return !!(i->flags & BI_LOCK);
	if (!strcmp(key, "rep")) return !!(i->flags & BI_REP);
	if (!strcmp(key, "end")) return !!(i->flags & BI_ENDS_BLOCK);
	*ok = false;
	return 0;
}

/* Checks "key=value ..." against i; prints and returns false on the first mismatch. */
static bool check_expect(const struct bt_insn *i, const char *expect, const char *hex)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", expect);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(t, '=');
		*eq = 0;
		const char *val = eq + 1;
		if (!strcmp(t, "fn")) {
			bt_handler want = NULL;
			for (size_t k = 0; k < sizeof(handlers) / sizeof(handlers[0]); k++)
				if (!strcmp(handlers[k].name, val))
					want = handlers[k].fn;
			if (!want || i->fn != want) {
				fprintf(stderr, "  %s: handler is not %s\n", hex, val);
				return false;
			}
			continue;
		}
		bool ok;
		long long got = field(i, t, &ok);
		long long want = !strcmp(val, "-") ? BT_NOREG : strtoll(val, NULL, 0);
		if (!strcmp(t, "imm") || !strcmp(t, "imm2"))
			want = (long long)strtoull(val, NULL, 0);
		if (!ok || got != want) {
			fprintf(stderr, "  %s: %s = %#llx, expected %s\n", hex, t, got, val);
			return false;
		}
	}
	return true;
}

TEST(decode_table)
{
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct dcase *c = &cases[k];
		uint8_t bytes[32];
		unsigned n = parse_hex(c->hex, bytes);
		struct bt_insn i;
		int r = bt_decode_bytes(bytes, n, c->mode, &i);

		if (r != c->len) {
			fprintf(stderr, "  [%u] %s: decoded length %d, expected %d\n", c->mode, c->hex,
				r, c->len);
			*failed_ = 1;
			continue;
		}
		if (r > 0 && !check_expect(&i, c->expect, c->hex))
			*failed_ = 1;
	}
}

/* Only the bytes of the instruction itself are looked at: a decode with exactly len bytes
 * available succeeds, one byte less asks for more. */
TEST(decode_needs_exact_bytes)
{
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct dcase *c = &cases[k];
		uint8_t bytes[32];
		struct bt_insn i;
		parse_hex(c->hex, bytes);
		if (c->len <= 0)
			continue;
		CHECK_EQ(bt_decode_bytes(bytes, (unsigned)c->len, c->mode, &i), c->len);
		CHECK_EQ(bt_decode_bytes(bytes, (unsigned)c->len - 1, c->mode, &i), BT_DEC_MORE);
	}
}

/* Every one-byte and two-byte opcode with any ModRM either decodes to a handler with a sane
 * length or is rejected; nothing reads past 15 bytes. */
TEST(decode_exhaustive_no_crash)
{
	static const unsigned modes[] = { 2, 4, 8 };
	for (unsigned m = 0; m < 3; m++)
		for (unsigned esc = 0; esc < 2; esc++)
			for (unsigned op = 0; op < 256; op++)
				for (unsigned modrm = 0; modrm < 256; modrm += 7) {
					uint8_t b[15] = { 0 };
					unsigned p = 0;
					struct bt_insn i;
					if (esc)
						b[p++] = 0x0f;
					b[p++] = (uint8_t)op;
					b[p++] = (uint8_t)modrm;
					int r = bt_decode_bytes(b, 15, modes[m], &i);
					CHECK(r == BT_DEC_UD || r == BT_DEC_GP || (r > 0 && r <= 15));
					if (r > 0) {
						CHECK(i.fn != NULL);
						CHECK_EQ(i.len, r);
					}
				}
}
