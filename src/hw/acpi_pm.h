/* ACPI PM1a event/control block and PM timer on I/O ports, as the FADT describes them.
 *
 * Writing SLP_TYP = ACPI_S5_SLP_TYP with SLP_EN to PM1a_CNT (Linux `poweroff`) ends the VM
 * with status 0. The system is always in ACPI mode (SCI_EN reads 1, FADT SMI_CMD is 0). No
 * device raises PM1 events, so status bits stay clear and the SCI is never asserted.
 */
#ifndef VMON_HW_ACPI_PM_H
#define VMON_HW_ACPI_PM_H

#include <stdint.h>

struct vm;
struct acpi_pm;

#define ACPI_PM_BASE		0x600
#define ACPI_PM_LEN		12
#define ACPI_PM1A_EVT_PORT	0x600	/* 2 bytes status, 2 bytes enable */
#define ACPI_PM1_EVT_LEN	4
#define ACPI_PM1A_CNT_PORT	0x604
#define ACPI_PM1_CNT_LEN	2
#define ACPI_PM_TMR_PORT	0x608
#define ACPI_PM_TMR_LEN		4
#define ACPI_SCI_IRQ		9
#define ACPI_S5_SLP_TYP		5	/* what the DSDT's _S5_ package says */
#define ACPI_PM_TIMER_HZ	3579545ull

#define ACPI_PM1_CNT_SCI_EN	(1u << 0)
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_EN	(1u << 13)

/* Registers the block on vm->pio. NULL if that fails. */
struct acpi_pm *acpi_pm_create(struct vm *vm);
/* Once no vCPU can reach it any more (like the other devices in vm_destroy). NULL is fine. */
void acpi_pm_destroy(struct acpi_pm *pm);

/* The 24-bit PM timer value at host time ns. */
uint32_t acpi_pm_timer_ticks(uint64_t ns);

#endif
