/* Machine reset for `--reboot restart`: the guest pulled the reset line, the VM boots again.
 *
 * When the VM is built, before any vCPU ran, its whole power-on state is written to a memfd in
 * the snapshot format (snapshot/snapshot.h): the RAM the loader wrote (kernel, initrd, boot
 * tables), every vCPU (the BSP at the loader's entry state, the APs waiting for INIT/SIPI) and
 * every device and engine model. A reset zeroes guest RAM and loads that state again, so the
 * machine is the one `vmon run` started: the same for both engines, nothing re-read from files
 * (the sandbox allows no open() by then). Disk images keep what the guest wrote to them.
 */
#ifndef VMON_RESET_H
#define VMON_RESET_H

struct vm;

/* Keeps vm's power-on state in vm->reset_fd. Returns 0, or -1 after one line on stderr. */
int reset_image_create(struct vm *vm);
/* Puts the VM back into its power-on state. Only while no vCPU thread runs. Returns 0, or -1
 * after one line on stderr. */
int reset_machine(struct vm *vm);

#endif
