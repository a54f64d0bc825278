/* The DSDT's AML body: _S5_ (soft-off) and the PCI root bridge \_SB.PCI0 (see dsdt.c). */
#ifndef VMON_BOOT_DSDT_H
#define VMON_BOOT_DSDT_H

#include <stddef.h>
#include <stdint.h>

/* Writes the AML into buf; returns its length, or 0 if cap is too small. */
size_t dsdt_build(uint8_t *buf, size_t cap);

#endif
