/* Fuzz input -> guest actions on virtio devices over the PCI transport (virtio_rig.h). */
#include "virtio_rig.h"

#include <string.h>

#include "util/bytes.h"
#include "boot_fixture.h"
#include "bus.h"
#include "hw/pci.h"
#include "virtio/virtio.h"
#include "vm.h"

/* Queue q of the device in slot s has its rings at RING_BASE + (2 * s + q) * RING_STRIDE. */
#define RING_BASE	0x10000u
#define RING_STRIDE	0x4000u
#define RING_AVAIL	0x1000u
#define RING_USED	0x2000u
#define MAX_SLOT	4

enum { OP_RAM, OP_MMIO_WRITE, OP_MMIO_READ, OP_CFG_WRITE, OP_CFG_READ, OP_DEVICE_UP,
       OP_CHAIN, OP_NOTIFY };

uint64_t rig_take(struct rig_input *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++, in->off++)
		if (in->off < in->len)
			v |= (uint64_t)in->p[in->off] << (8 * i);
	return v;
}

int rig_up(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	r->vm = boot_test_vm(RIG_RAM, 1);
	if (!r->vm)
		return -1;
	r->bus = pci_create(r->vm);
	return r->bus ? 0 : -1;
}

void rig_down(struct rig *r)
{
	pci_destroy(r->bus);
	if (r->vm)
		boot_test_vm_free(r->vm);
}

static uint64_t cfg_access(struct rig *r, unsigned slot, unsigned reg, unsigned size, bool write,
			   uint64_t val)
{
	uint64_t addr = 0x80000000u | (slot % PCI_SLOTS) << 11 | (reg & 0xfc);

	bus_access(&r->vm->pio, PCI_CONFIG_ADDR, 4, true, &addr);
	bus_access(&r->vm->pio, PCI_CONFIG_ADDR + 4 + (reg & 3), size, write, &val);
	return val;
}

/* BAR 0 as the guest has it now (it may have moved it). */
static uint64_t bar0(struct rig *r, unsigned slot)
{
	uint64_t lo = cfg_access(r, slot, PCI_BAR0, 4, false, 0);
	uint64_t hi = cfg_access(r, slot, PCI_BAR0 + 4, 4, false, 0);

	return (hi << 32 | lo) & ~0xfull;
}

static uint64_t mmio(struct rig *r, unsigned slot, uint64_t off, unsigned size, bool write,
		     uint64_t val)
{
	bus_access(&r->vm->mmio, bar0(r, slot) + off, size, write, &val);
	return val;
}

static unsigned size_of(uint64_t code)
{
	return 1u << (code & 3);
}

static uint64_t ring_gpa(unsigned slot, unsigned q)
{
	return RING_BASE + (2 * (slot % MAX_SLOT) + (q & 1)) * RING_STRIDE;
}

/* Linux's moves from a reset up to DRIVER_OK, every offered feature taken, with queues
 * 0..nq-1 of qsize entries each. */
static void device_up(struct rig *r, unsigned slot, unsigned nq, uint16_t qsize)
{
	mmio(r, slot, 20, 1, true, 0);
	mmio(r, slot, 20, 1, true, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	for (unsigned sel = 0; sel < 2; sel++) {
		mmio(r, slot, 0, 4, true, sel);
		uint64_t f = mmio(r, slot, 4, 4, false, 0);
		mmio(r, slot, 8, 4, true, sel);
		mmio(r, slot, 12, 4, true, f);
	}
	mmio(r, slot, 20, 1, true, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				   VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < nq; q++) {
		uint64_t gpa = ring_gpa(slot, q);
		mmio(r, slot, 22, 2, true, q);
		mmio(r, slot, 24, 2, true, qsize);
		mmio(r, slot, 32, 8, true, gpa);
		mmio(r, slot, 40, 8, true, gpa + RING_AVAIL);
		mmio(r, slot, 48, 8, true, gpa + RING_USED);
		mmio(r, slot, 28, 2, true, 1);
	}
	mmio(r, slot, 20, 1, true, mmio(r, slot, 20, 1, false, 0) | VIRTIO_STATUS_DRIVER_OK);
}

/* Input: first descriptor index, n - 1, then per descriptor flags (bit 1 WRITE, bit 7 INDIRECT),
 * a 3-byte address and a 2-byte length.
 * A chain of n descriptors from index first (in queue order, NEXT set on all but the last),
 * each with its own buffer address, length and WRITE flag (and INDIRECT, which is refused);
 * then made available in the slot the next index has for any queue size. */
static void post_chain(struct rig *r, struct rig_input *in, unsigned slot, unsigned q)
{
	uint8_t *ram = gpa_to_hva(&r->vm->mem, 0, RIG_RAM);
	uint64_t gpa = ring_gpa(slot, q);
	unsigned first = (unsigned)rig_take(in, 1), n = 1 + (unsigned)rig_take(in, 1) % 8;

	for (unsigned k = 0; k < n; k++) {
		uint8_t *d = ram + gpa + 16 * ((first + k) % VIRTQ_MAX_SIZE);
		uint64_t flags = rig_take(in, 1);
		put_le64(d, rig_take(in, 3));			/* mostly inside RAM */
		put_le32(d + 8, (uint32_t)rig_take(in, 2));
		put_le16(d + 12, (uint16_t)((flags & 2) | (k + 1 < n ? 1 : 0) | (flags & 0x80 ? 4 : 0)));
		put_le16(d + 14, (uint16_t)((first + k + 1) % VIRTQ_MAX_SIZE));
	}
	uint8_t *avail = ram + gpa + RING_AVAIL;
	uint16_t idx = get_le16(avail + 2);
	for (unsigned size = 1; size <= VIRTQ_MAX_SIZE; size *= 2)
		put_le16(avail + 4 + 2 * (idx & (size - 1)), (uint16_t)first);
	put_le16(avail + 2, (uint16_t)(idx + 1));
}

int rig_step(struct rig *r, struct rig_input *in)
{
	if (in->off >= in->len)
		return -1;
	int op = (int)(rig_take(in, 1) % RIG_CODES);
	unsigned slot, q, n;
	uint64_t off, code;

	switch (op) {
	case OP_RAM:
		off = rig_take(in, 3) % RIG_RAM;
		n = (unsigned)rig_take(in, 1);
		for (unsigned k = 0; k < n && off + k < RIG_RAM; k++)
			*(uint8_t *)gpa_to_hva(&r->vm->mem, off + k, 1) = (uint8_t)rig_take(in, 1);
		break;
	case OP_MMIO_WRITE:
	case OP_MMIO_READ:
		slot = (unsigned)rig_take(in, 1) % MAX_SLOT;
		off = rig_take(in, 2) % VIRTIO_BAR_SIZE;
		code = rig_take(in, 1);
		mmio(r, slot, off, size_of(code), op == OP_MMIO_WRITE,
		     op == OP_MMIO_WRITE ? rig_take(in, size_of(code)) : 0);
		break;
	case OP_CFG_WRITE:
	case OP_CFG_READ:
		slot = (unsigned)rig_take(in, 1) % MAX_SLOT;
		off = rig_take(in, 1);
		code = rig_take(in, 1) % 3;
		cfg_access(r, slot, (unsigned)off & ~(size_of(code) - 1), size_of(code),
			   op == OP_CFG_WRITE,
			   op == OP_CFG_WRITE ? rig_take(in, size_of(code)) : 0);
		break;
	case OP_DEVICE_UP:
		/* Queues: 1 or 2; sizes 1..512 (512 is too many: refused). */
		slot = (unsigned)rig_take(in, 1) % MAX_SLOT;
		q = (unsigned)rig_take(in, 1);
		device_up(r, slot, 1 + (q & 1), (uint16_t)(1u << (q >> 1) % 10));
		break;
	case OP_CHAIN:
		slot = (unsigned)rig_take(in, 1) % MAX_SLOT;
		q = (unsigned)rig_take(in, 1) & 1;
		post_chain(r, in, slot, q);
		break;
	case OP_NOTIFY:
		slot = (unsigned)rig_take(in, 1) % MAX_SLOT;
		q = (unsigned)rig_take(in, 1);
		mmio(r, slot, VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * (q & 3), 2, true, q & 3);
		break;
	default:		/* the caller's */
		break;
	}
	return op;
}
