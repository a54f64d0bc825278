/* Guest loaders: everything a VM's RAM and BSP need before the first instruction.
 *
 * boot_load() reads vm->cfg (kernel or boot_sector, initrd, cmdline, cpus) and vm->mem,
 * loads the image (Linux bzImage, multiboot v1 kernel or raw boot sector), writes the
 * firmware tables (ACPI, MP) below 1 MiB and sets vm->boot_state for the BSP. The ACPI PM
 * device those tables describe is the machine's (vm_create).
 * On bad input it prints exactly one line "vmon: ..." to stderr and returns -1; nothing stays
 * allocated or registered then.
 */
#ifndef VMON_BOOT_BOOT_H
#define VMON_BOOT_BOOT_H

struct vm;

int boot_load(struct vm *vm);

#endif
