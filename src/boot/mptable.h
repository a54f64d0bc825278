/* Intel MultiProcessor Specification 1.4 tables: floating pointer + configuration table with
 * the CPUs, the ISA bus, the IOAPIC and the ISA interrupt routing (IRQ0 on IOAPIC pin 2). */
#ifndef VMON_BOOT_MPTABLE_H
#define VMON_BOOT_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#define MP_FPS_SIZE	16
#define MP_HDR_SIZE	44

/* Floating pointer (at base, 16-byte aligned) and configuration table for cpus CPUs into buf,
 * which the guest will see at base. Returns the bytes used, or 0 if cap is too small. */
size_t mptable_build(uint8_t *buf, size_t cap, uint64_t base, int cpus);

#endif
