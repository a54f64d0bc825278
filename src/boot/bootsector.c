#include "boot/bootsector.h"

#include <stdio.h>

#include "util/bytes.h"
#include "boot/file.h"
#include "boot/layout.h"
#include "boot/reason.h"
#include "util/log.h"
#include "vm.h"

#define IRET_OPCODE	0xcf
#define BOOT_DRIVE	0x80

int bootsector_check_size(uint64_t size, char *why, size_t why_len)
{
	if (size < BOOTSECT_MIN || size > BOOTSECT_MAX)
		return refuse(why, why_len, "boot sector must be 512 bytes..1 MiB");
	if (size > BOOTSECT_ROOM)
		return refuse(why, why_len, "boot sector must end below 0xa0000 (at most %u bytes)",
			      BOOTSECT_ROOM);
	return 0;
}

void bootsector_build_ivt(uint8_t ivt[BOOTSECT_IVT_SIZE])
{
	for (unsigned v = 0; v < 256; v++) {
		put_le16(ivt + 4 * v, FW_IRET_OFF);
		put_le16(ivt + 4 * v + 2, FW_IRET_SEG);
	}
}

void bootsector_state(struct cpu_state *s)
{
	static const enum sreg segs[] = { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS };

	cpu_state_reset(s);
	for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		s->seg[segs[i]].sel = 0;
		s->seg[segs[i]].base = 0;
		s->seg[segs[i]].limit = 0xffff;
	}
	/* A BIOS has turned the caches on by the time it jumps to the boot sector. */
	s->cr0 &= ~(CR0_CD | CR0_NW);
	s->rip = BOOTSECT_ADDR;
	s->gpr[R_RSP] = BOOTSECT_ADDR;
	s->gpr[R_RDX] = BOOT_DRIVE;
	s->rflags = RFLAGS_FIXED;
}

int bootsector_load(struct vm *vm, const char *path)
{
	const uint8_t iret = IRET_OPCODE;
	uint8_t ivt[BOOTSECT_IVT_SIZE];
	struct boot_file f;
	char why[96];
	int ret = -1;

	if (boot_file_open(&f, path))
		return -1;
	if (bootsector_check_size(f.size, why, sizeof(why))) {
		vmon_log("%s: %s", path, why);
		goto out;
	}
	bootsector_build_ivt(ivt);
	if (mem_write(&vm->mem, 0, ivt, sizeof(ivt)) ||
	    mem_write(&vm->mem, ((uint64_t)FW_IRET_SEG << 4) + FW_IRET_OFF, &iret, 1)) {
		vmon_log("%s: does not fit in guest memory", path);
		goto out;
	}
	if (boot_file_read_to_guest(&f, &vm->mem, BOOTSECT_ADDR))
		goto out;
	bootsector_state(&vm->boot_state);
	ret = 0;
out:
	boot_file_close(&f);
	return ret;
}
