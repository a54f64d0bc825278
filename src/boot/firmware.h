/* --firmware: a PC BIOS image (SeaBIOS) started from the reset vector instead of a kernel
 * loaded by vmon, with QEMU's fw_cfg device (src/hw/fw_cfg.c) describing the machine to it. */
#ifndef VMON_BOOT_FIRMWARE_H
#define VMON_BOOT_FIRMWARE_H

struct vm;
struct firmware;

/* What --firmware seabios means: Debian's package `seabios`. */
#define FIRMWARE_SEABIOS	"/usr/share/seabios/bios-256k.bin"

/* Loads vm->cfg.firmware and sets vm->firmware and vm->boot_state; one line "vmon: ..." on
 * stderr and -1 on bad input (a missing file, a size that is no BIOS image's). */
int firmware_load(struct vm *vm);
void firmware_destroy(struct firmware *fw);

#endif
