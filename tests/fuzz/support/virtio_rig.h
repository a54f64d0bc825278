/* A VM with RAM, a PCI bus and virtio devices, driven by a fuzz input read as a list of
 * operations: RAM writes, BAR and PCI configuration accesses, device set-up and descriptor chains,
 * notifications. The macro operations (device set-up, posting a chain) give the fuzzer the
 * driver's usual moves in a few bytes; the raw ones let it do anything a guest can.
 */
#ifndef VMON_FUZZ_VIRTIO_RIG_H
#define VMON_FUZZ_VIRTIO_RIG_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct pci_bus;

#define RIG_RAM		(1u << 20)

struct rig {
	struct vm *vm;
	struct pci_bus *bus;
};

/* The input being consumed: every read past its end yields zeros. */
struct rig_input {
	const uint8_t *p;
	size_t len, off;
};

uint64_t rig_take(struct rig_input *in, unsigned bytes);

/* A VM with RIG_RAM bytes of RAM and an empty PCI bus; 0 or -1. */
int rig_up(struct rig *r);
/* Frees the bus and the VM (the caller destroyed its devices first). */
void rig_down(struct rig *r);

/* Runs one operation from in; returns its code (0..RIG_CODES-1), or -1 at the end of the
 * input. Codes RIG_OPS and above are the caller's to run: their code byte is consumed. */
#define RIG_OPS		8
#define RIG_CODES	16
int rig_step(struct rig *r, struct rig_input *in);

#endif
