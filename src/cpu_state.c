/* RESET/INIT state and segment helpers for struct cpu_state. */
#include <string.h>

#include "cpu_state.h"

/* Data segment type 3 (read/write, accessed), code type 0xb (execute/read, accessed). */
#define SEG_ATTR_DATA16	(SEG_P | SEG_S | 0x3)
#define SEG_ATTR_CODE16	(SEG_P | SEG_S | 0xb)
#define SEG_ATTR_LDT	(SEG_P | 0x2)
#define SEG_ATTR_TSS16	(SEG_P | 0x3)	/* 16-bit busy TSS, what VMX expects at reset */

static void set_seg(struct seg_reg *seg, uint16_t sel, uint64_t base, uint32_t limit,
		    uint32_t attr)
{
	seg->sel = sel;
	seg->base = base;
	seg->limit = limit;
	seg->attr = attr;
}

void cpu_state_reset(struct cpu_state *s)
{
	memset(s, 0, sizeof(*s));

	s->rip = 0xfff0;
	s->rflags = RFLAGS_FIXED;
	s->gpr[R_RDX] = 0x600;	/* processor signature: family 6 */

	for (int i = 0; i < S_NR; i++)
		set_seg(&s->seg[i], 0, 0, 0xffff, SEG_ATTR_DATA16);
	set_seg(&s->seg[S_CS], 0xf000, 0xffff0000, 0xffff, SEG_ATTR_CODE16);
	set_seg(&s->seg[S_LDTR], 0, 0, 0xffff, SEG_ATTR_LDT);
	set_seg(&s->seg[S_TR], 0, 0, 0xffff, SEG_ATTR_TSS16);

	s->gdt.limit = 0xffff;
	s->idt.limit = 0xffff;

	s->cr0 = CR0_ET | CR0_NW | CR0_CD;	/* 0x60000010 */
	s->dr[6] = 0xffff0ff0;
	s->dr[7] = 0x400;
	s->xcr0 = 1;
	s->misc_enable = 1;	/* fast strings: the SDM's default for P6 and later */

	s->pat = 0x0007040600070406ull;
	s->apic_base = 0xfee00000ull | (1ull << 11) | (1ull << 8);	/* enabled, BSP */

	/* FXSAVE image: FCW 0x37f at offset 0, MXCSR 0x1f80 at offset 24. */
	const uint16_t fcw = 0x37f;
	const uint32_t mxcsr = 0x1f80;
	memcpy(&s->fxsave[0], &fcw, sizeof(fcw));
	memcpy(&s->fxsave[24], &mxcsr, sizeof(mxcsr));
}

void cpu_state_flat_seg(struct seg_reg *seg, uint16_t sel, uint32_t attr)
{
	/* A 4 GiB limit only exists with page granularity; VMX entry checks insist on G. */
	set_seg(seg, sel, 0, 0xffffffffu, attr | SEG_G);
}
