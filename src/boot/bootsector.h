/* Raw boot-sector images: the whole file at 0x7c00 in real mode, as a BIOS would jump to it,
 * but without BIOS services (every interrupt vector points at an IRET). */
#ifndef VMON_BOOT_BOOTSECTOR_H
#define VMON_BOOT_BOOTSECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "cpu_state.h"

struct vm;

#define BOOTSECT_ADDR		0x7c00u
#define BOOTSECT_MIN		512u
#define BOOTSECT_MAX		(1u << 20)
#define BOOTSECT_ROOM		(0xa0000u - BOOTSECT_ADDR)	/* must end below video memory */
#define BOOTSECT_IVT_SIZE	1024u

/* 0 if an image of size bytes can be loaded, else -1 with the reason in why. */
int bootsector_check_size(uint64_t size, char *why, size_t why_len);

/* 256 real-mode vectors, all pointing at the IRET stub (FW_IRET_SEG:FW_IRET_OFF). */
void bootsector_build_ivt(uint8_t ivt[BOOTSECT_IVT_SIZE]);

/* Real mode, CS:IP 0000:7c00, SS:SP 0000:7c00, DL=0x80 (first hard disk), IF=0. */
void bootsector_state(struct cpu_state *s);

/* Loads path into vm's RAM and sets vm->boot_state. Prints one line and returns -1 on error. */
int bootsector_load(struct vm *vm, const char *path);

#endif
