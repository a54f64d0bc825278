#include "boot/entry.h"

#include <string.h>

#include "util/bytes.h"
#include "boot/layout.h"

/* Flat descriptors: base 0, limit 0xfffff pages, present, DPL 0, accessed. */
#define DESC_CODE32	0x00cf9b000000ffffull
#define DESC_CODE64	0x00af9b000000ffffull
#define DESC_DATA	0x00cf93000000ffffull

#define PTE_P		(1ull << 0)
#define PTE_RW		(1ull << 1)
#define PTE_PS		(1ull << 7)

#define IDENTITY_GIB	4

/* IA32_MTRR_DEF_TYPE: MTRRs enabled (E, bit 11), fixed ranges off, default type write-back. */
#define MTRR_DEF_ENABLE	(1u << 11)
#define MTRR_TYPE_WB	6

/* Access byte and flags nibble of a descriptor, in struct seg_reg attr layout. */
static uint32_t desc_attr(uint64_t desc)
{
	return (uint32_t)(desc >> 40) & 0xf0ff;
}

int boot_write_gdt(const struct guest_mem *m)
{
	uint8_t gdt[BOOT_GDT_ENTRIES * 8] = { 0 };

	put_le64(gdt + BOOT_SEL_CODE32, DESC_CODE32);
	put_le64(gdt + BOOT_SEL_CODE64, DESC_CODE64);
	put_le64(gdt + BOOT_SEL_DATA, DESC_DATA);
	return mem_write(m, BOOT_GDT_ADDR, gdt, sizeof(gdt));
}

int boot_write_identity_map(const struct guest_mem *m)
{
	const uint64_t pdpt = BOOT_PML4_ADDR + 0x1000, pd = pdpt + 0x1000;
	uint8_t page[4096];

	memset(page, 0, sizeof(page));
	put_le64(page, pdpt | PTE_P | PTE_RW);
	if (mem_write(m, BOOT_PML4_ADDR, page, sizeof(page)))
		return -1;

	memset(page, 0, sizeof(page));
	for (int i = 0; i < IDENTITY_GIB; i++)
		put_le64(page + 8 * i, (pd + 0x1000ull * i) | PTE_P | PTE_RW);
	if (mem_write(m, pdpt, page, sizeof(page)))
		return -1;

	for (int i = 0; i < IDENTITY_GIB; i++) {
		for (uint64_t j = 0; j < 512; j++) {
			uint64_t addr = ((uint64_t)i << 30) | (j << 21);

			put_le64(page + 8 * j, addr | PTE_P | PTE_RW | PTE_PS);
		}
		if (mem_write(m, pd + 0x1000ull * i, page, sizeof(page)))
			return -1;
	}
	return 0;
}

/* Segments and tables common to both protected-mode hand-overs. */
static void flat_state(struct cpu_state *s, uint16_t cs, uint64_t cs_desc)
{
	static const enum sreg data_segs[] = { S_ES, S_SS, S_DS, S_FS, S_GS };

	cpu_state_reset(s);
	cpu_state_flat_seg(&s->seg[S_CS], cs, desc_attr(cs_desc));
	for (size_t i = 0; i < sizeof(data_segs) / sizeof(data_segs[0]); i++)
		cpu_state_flat_seg(&s->seg[data_segs[i]], BOOT_SEL_DATA, desc_attr(DESC_DATA));
	/* A busy TSS in TR: VMX entry checks require it in protected and long mode. */
	s->seg[S_TR] = (struct seg_reg){ .limit = 0xffff, .attr = SEG_P | 0xb };
	s->gdt = (struct dtable){ .base = BOOT_GDT_ADDR, .limit = BOOT_GDT_ENTRIES * 8 - 1 };
	s->rflags = RFLAGS_FIXED;
	/* Firmware enables the MTRRs before it hands over (without, Linux says "MTRRs disabled"
	 * and leaves PAT off); misc_enable's fast strings are on from cpu_state_reset(). */
	s->mtrr_def_type = MTRR_DEF_ENABLE | MTRR_TYPE_WB;
}

void boot_state_protected(struct cpu_state *s, uint32_t entry)
{
	flat_state(s, BOOT_SEL_CODE32, DESC_CODE32);
	s->cr0 = CR0_PE | CR0_ET;
	s->rip = entry;
}

void boot_state_long(struct cpu_state *s, uint64_t entry)
{
	flat_state(s, BOOT_SEL_CODE64, DESC_CODE64);
	s->cr0 = CR0_PE | CR0_PG | CR0_ET;
	s->cr3 = BOOT_PML4_ADDR;
	s->cr4 = CR4_PAE;
	s->efer = EFER_LME | EFER_LMA;
	s->rip = entry;
}
