/* String instructions MOVS CMPS STOS LODS SCAS with REP/REPE/REPNE in every address size.
 *
 * A REP instruction runs a bounded amount of work per execution and then re-executes itself
 * (next_rip = rip, end of block), so it stays interruptible; rSI/rDI/rCX are updated after
 * every element, which keeps a fault in the middle restartable. REP MOVS (either direction)
 * and forward REP STOS go page-wise through host memory when both sides are RAM (translated as
 * one element's access would be, faults included); a chunk stored into a page holding code or
 * page tables is reported once (bt_page_stored).
 */
#include <string.h>

#include "engine/bt/cpu/ops.h"

#define REP_WORK	16384	/* elements (or 64 per page-sized host chunk) per execution */

static uint64_t sreg(const struct bt_cpu *cpu, int r, unsigned as)
{
	return cpu->s.gpr[r] & sz_mask(as);
}

static void advance(struct bt_cpu *cpu, int r, unsigned as, int64_t delta)
{
	reg_set(cpu, r, as, true, cpu->s.gpr[r] + (uint64_t)delta);
}

static int64_t step(const struct bt_cpu *cpu, unsigned size)
{
	return (cpu->s.rflags & RFLAGS_DF) ? -(int64_t)size : (int64_t)size;
}

static bool rep(const struct bt_insn *i) { return i->flags & (BI_REP | BI_REPNE); }

/* Not finished: run this instruction again after the block ends. */
static void rep_again(struct bt_cpu *cpu)
{
	cpu->next_rip = cpu->s.rip;
	cpu->end_block = true;
}

/* Segment checks need no per-byte work: 64-bit code, or 4 GiB segments. */
static bool flat(const struct bt_cpu *cpu, int seg)
{
	return cpu->code_size == 8 || cpu->s.seg[seg].limit == 0xffffffffu;
}

/* How many elements from off fit in the page at lin and before the address size wraps. */
static uint64_t room(uint64_t lin, uint64_t off, unsigned as, unsigned size)
{
	uint64_t n = (BT_PAGE - (lin & (BT_PAGE - 1))) / size;
	if (as < 8) {
		uint64_t wrap = (sz_mask(as) - off) / size + 1;
		n = wrap < n ? wrap : n;
	}
	return n;
}

/* Like room(), for a copy downwards (DF=1): elements from off down to the page's start or to
 * offset 0 of the address size; 0 if the first one straddles pages. */
static uint64_t room_down(uint64_t lin, uint64_t off, unsigned as, unsigned size)
{
	uint64_t in_page = lin & (BT_PAGE - 1);

	if (in_page + size > BT_PAGE)
		return 0;
	uint64_t n = in_page / size + 1;
	if (as < 8) {
		uint64_t wrap = off / size + 1;
		n = wrap < n ? wrap : n;
	}
	return n;
}

/* REP MOVS through host memory, up or down: elements copied (0: take the slow path). */
static uint64_t movs_fast(struct bt_cpu *cpu, const struct bt_insn *i, uint64_t n, bool down)
{
	unsigned size = i->opsize, as = i->addrsize;
	uint64_t so = sreg(cpu, R_RSI, as), doff = sreg(cpu, R_RDI, as);

	if (!flat(cpu, i->seg) || !flat(cpu, S_ES))
		return 0;
	uint64_t sl = bt_linear(cpu, i->seg, so, size, BT_READ);
	uint64_t dl = bt_linear(cpu, S_ES, doff, size, BT_WRITE);
	uint64_t k = down ? room_down(sl, so, as, size) : room(sl, so, as, size);
	uint64_t kd = down ? room_down(dl, doff, as, size) : room(dl, doff, as, size);
	k = kd < k ? kd : k;
	k = n < k ? n : k;
	uint64_t gpa;
	/* Both pointers are taken before the copy: a source and destination a multiple of the
	 * TLB's reach apart share one entry, and taking turns in it element by element made a
	 * 4 MiB-apart copy (the kernel decompressor's) miss twice per element. */
	const uint8_t *src = k ? bt_bulk_ptr(cpu, sl, BT_READ, NULL) : NULL;
	uint8_t *dst = src ? bt_bulk_ptr(cpu, dl, BT_WRITE, &gpa) : NULL;
	if (!dst)
		return 0;
	uint64_t len = k * size;
	if (down) {		/* [dst, src) point at the highest element: copy from the lowest */
		src -= len - size;
		dst -= len - size;
	}
	/* Element by element, a destination that overlaps the source on the side the copy moves
	 * towards replicates data instead of moving it: leave that to the slow path. */
	if (down ? dst < src && dst + len > src : dst > src && dst < src + len)
		return 0;
	memmove(dst, src, len);
	bt_page_stored(cpu, gpa, (unsigned)len);
	return k;
}

/* len bytes of the size-byte little-endian element v, repeated (len a multiple of size). */
static void fill(uint8_t *dst, uint64_t v, unsigned size, uint64_t len)
{
	uint64_t bytes = 0x0101010101010101ull & sz_mask(size);

	if ((v & sz_mask(size)) == (v & 0xff) * bytes) {
		memset(dst, (int)(v & 0xff), len);	/* zeroing pages, mostly */
		return;
	}
	memcpy(dst, &v, size);
	for (uint64_t done = size; done < len; done *= 2)
		memcpy(dst + done, dst, done < len - done ? done : len - done);
}

static uint64_t stos_fast(struct bt_cpu *cpu, const struct bt_insn *i, uint64_t n)
{
	unsigned size = i->opsize, as = i->addrsize;
	uint64_t doff = sreg(cpu, R_RDI, as), v = cpu->s.gpr[R_RAX];

	if (!flat(cpu, S_ES))
		return 0;
	uint64_t dl = bt_linear(cpu, S_ES, doff, size, BT_WRITE);
	uint64_t k = room(dl, doff, as, size);
	k = n < k ? n : k;
	uint64_t gpa;
	uint8_t *dst = k ? bt_bulk_ptr(cpu, dl, BT_WRITE, &gpa) : NULL;
	if (!dst)
		return 0;
	fill(dst, v, size, k * size);
	bt_page_stored(cpu, gpa, (unsigned)(k * size));
	return k;
}

void bt_h_movs(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = i->opsize, as = i->addrsize;
	int64_t d = step(cpu, size);
	uint64_t n = rep(i) ? sreg(cpu, R_RCX, as) : 1;
	unsigned work = 0;

	while (n && work < REP_WORK) {
		uint64_t k = rep(i) ? movs_fast(cpu, i, n, d < 0) : 0;
		if (k) {
			work += 64;
		} else {
			uint64_t v = bt_read(cpu, i->seg, sreg(cpu, R_RSI, as), size);
			bt_write(cpu, S_ES, sreg(cpu, R_RDI, as), size, v);
			k = 1;
			work++;
		}
		advance(cpu, R_RSI, as, d * (int64_t)k);
		advance(cpu, R_RDI, as, d * (int64_t)k);
		n -= k;
		if (rep(i))
			reg_set(cpu, R_RCX, as, true, n);
	}
	if (n)
		rep_again(cpu);
}

void bt_h_stos(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = i->opsize, as = i->addrsize;
	int64_t d = step(cpu, size);
	uint64_t n = rep(i) ? sreg(cpu, R_RCX, as) : 1;
	unsigned work = 0;

	while (n && work < REP_WORK) {
		uint64_t k = rep(i) && d > 0 ? stos_fast(cpu, i, n) : 0;
		if (k) {
			work += 64;
		} else {
			bt_write(cpu, S_ES, sreg(cpu, R_RDI, as), size, cpu->s.gpr[R_RAX]);
			k = 1;
			work++;
		}
		advance(cpu, R_RDI, as, d * (int64_t)k);
		n -= k;
		if (rep(i))
			reg_set(cpu, R_RCX, as, true, n);
	}
	if (n)
		rep_again(cpu);
}

void bt_h_lods(struct bt_cpu *cpu, const struct bt_insn *i)
{
	unsigned size = i->opsize, as = i->addrsize;
	int64_t d = step(cpu, size);
	uint64_t n = rep(i) ? sreg(cpu, R_RCX, as) : 1;
	unsigned work = 0;

	for (; n && work < REP_WORK; work++) {
		uint64_t v = bt_read(cpu, i->seg, sreg(cpu, R_RSI, as), size);
		reg_set(cpu, R_RAX, size, true, v);
		advance(cpu, R_RSI, as, d);
		n--;
		if (rep(i))
			reg_set(cpu, R_RCX, as, true, n);
	}
	if (n)
		rep_again(cpu);
}

/* CMPS / SCAS: a - b sets the flags; REPE continues while equal, REPNE while not. */
static void compare_string(struct bt_cpu *cpu, const struct bt_insn *i, bool scas)
{
	unsigned size = i->opsize, as = i->addrsize;
	int64_t d = step(cpu, size);
	uint64_t n = rep(i) ? sreg(cpu, R_RCX, as) : 1, m = sz_mask(size);
	unsigned work = 0;

	for (; n && work < REP_WORK; work++) {
		uint64_t a, b;
		if (scas) {
			a = cpu->s.gpr[R_RAX];
		} else {
			a = bt_read(cpu, i->seg, sreg(cpu, R_RSI, as), size);
		}
		b = bt_read(cpu, S_ES, sreg(cpu, R_RDI, as), size);
		a &= m;
		b &= m;
		struct bt_cc cc = cc_make(CC_SUB, size, (a - b) & m, b, a);
		cc_commit(cpu, &cc);
		if (!scas)
			advance(cpu, R_RSI, as, d);
		advance(cpu, R_RDI, as, d);
		n--;
		if (!rep(i))
			return;
		reg_set(cpu, R_RCX, as, true, n);
		if ((i->flags & BI_REP) ? a != b : a == b)
			return;
	}
	if (n)
		rep_again(cpu);
}

void bt_h_cmps(struct bt_cpu *cpu, const struct bt_insn *i) { compare_string(cpu, i, false); }
void bt_h_scas(struct bt_cpu *cpu, const struct bt_insn *i) { compare_string(cpu, i, true); }
