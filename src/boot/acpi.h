/* ACPI tables for Linux: RSDP (revision 0) -> RSDT -> FADT (-> FACS, DSDT with _S5_ and the PCI
 * root bridge) and MADT.
 *
 * ACPI 1.0 layouts (FADT revision 1) are enough: Linux takes the PM1a blocks and PM timer from
 * the 32-bit fields, CPUs and interrupt routing from the MADT, and S5 from the DSDT.
 */
#ifndef VMON_BOOT_ACPI_H
#define VMON_BOOT_ACPI_H

#include <stddef.h>
#include <stdint.h>

#define ACPI_RSDP_SIZE	20
#define ACPI_HDR_SIZE	36
#define ACPI_FADT_SIZE	116

/* Tables for cpus CPUs into buf, which the guest will see at base (the RSDP at base itself,
 * 16-byte aligned). Returns the bytes used, or 0 if cap is too small. */
size_t acpi_build(uint8_t *buf, size_t cap, uint64_t base, int cpus);

#endif
