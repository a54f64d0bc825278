/* PCI: one bus (bus 0) behind an i440FX-like host bridge at 00:00.0, reached through
 * configuration mechanism #1 (address at 0xCF8, data at 0xCFC-0xCFF).
 *
 * Devices are functions 0 of slots 1-31. Each has a 256-byte configuration space with a mask of
 * the bits the guest may write, up to six 32-bit memory BARs (vmon assigns them addresses in
 * PCI_MMIO_BASE..PCI_MMIO_END, the guest may move them), a capability list, INTx (INTA# of slot
 * s is GSI 16 + s % 8, as the DSDT's _PRT says) and optionally MSI-X, whose table and PBA live
 * in one of the device's BARs and are handled here.
 *
 * Locking: a BAR access runs with the device's lock held (pci_device.lock); a configuration write
 * also holds the bus's map lock as writer, so BAR decoding never sees a half-moved BAR. Device
 * code raises interrupts (pci_set_irq, pci_msix_notify) with its lock held.
 */
#ifndef VMON_HW_PCI_H
#define VMON_HW_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct pci_bus;
struct pci_device;
struct state_out;
struct state_in;

#define PCI_CONFIG_ADDR		0xcf8
#define PCI_SLOTS		32
#define PCI_BARS		6
#define PCI_CFG_SIZE		256

/* The 32-bit window for memory BARs: the MMIO hole below the IOAPIC (0xfec00000). */
#define PCI_MMIO_BASE		0xc0000000ull
#define PCI_MMIO_END		0xfec00000ull
/* INTx: slot s, pin p (0 = INTA#) reaches IOAPIC pin PCI_GSI_BASE + (s + p) % 8. */
#define PCI_GSI_BASE		16
#define PCI_GSI_COUNT		8

/* Standard header registers. */
#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_REVISION		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_HEADER_TYPE		0x0e
#define PCI_BAR0		0x10
#define PCI_SUBSYS_VENDOR	0x2c
#define PCI_SUBSYS_ID		0x2e
#define PCI_CAP_PTR		0x34
#define PCI_INT_LINE		0x3c
#define PCI_INT_PIN		0x3d

#define PCI_CMD_MEM		(1u << 1)
#define PCI_CMD_MASTER		(1u << 2)
#define PCI_CMD_INTX_OFF	(1u << 10)
#define PCI_STATUS_INTX		(1u << 3)
#define PCI_STATUS_CAPS		(1u << 4)

#define PCI_CAP_MSIX		0x11
#define PCI_CAP_VENDOR		0x09

#define PCI_MSIX_MAX		8	/* vectors per device */

struct pci_device_ops {
	/* An access of size 1-8 at off inside BAR bar (not its MSI-X table/PBA), device lock held. */
	uint64_t (*bar_read)(struct pci_device *d, int bar, uint64_t off, unsigned size);
	void (*bar_write)(struct pci_device *d, int bar, uint64_t off, unsigned size, uint64_t val);
};

struct pci_msix {
	int nr;			/* vectors, 0: no MSI-X */
	int bar;
	uint32_t table_off, pba_off;
	uint8_t cap;		/* offset of the capability in config space */
	uint8_t table[PCI_MSIX_MAX][16];
	uint64_t pending;	/* PBA bits */
};

struct pci_device {
	struct pci_bus *bus;
	int slot;
	unsigned gsi;			/* INTA# routing */
	bool intx;			/* INTA# as the device drives it */
	pthread_mutex_t lock;
	const struct pci_device_ops *ops;
	void *opaque;
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];	/* bits the guest may change */
	uint32_t bar_size[PCI_BARS];	/* power of two >= 16, 0 for no BAR */
	uint8_t cap_end;		/* where the next capability goes */
	struct pci_msix msix;
};

/* Registers the configuration ports on vm->pio and the BAR window on vm->mmio, with the host
 * bridge at 00:00.0, and the saved state "pci" (address latch, host bridge; each device saves
 * its own function). NULL if the ports are taken or memory is short. */
struct pci_bus *pci_create(struct vm *vm);
void pci_destroy(struct pci_bus *b);

/* Builds a type-0 header (INTA#, status with a capability list). Then pci_add_bar(),
 * pci_add_cap(), pci_add_msix() as needed, and pci_plug(). */
void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device, uint32_t class_code,
		     uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id,
		     const struct pci_device_ops *ops, void *opaque);
/* size: a power of two, >= 16 bytes. */
void pci_add_bar(struct pci_device *d, int bar, uint32_t size);
/* A capability of len bytes (id and next pointer filled in); returns its offset, 0 if full. */
uint8_t pci_add_cap(struct pci_device *d, uint8_t id, uint8_t len);
/* MSI-X with nr vectors (<= PCI_MSIX_MAX): table at table_off and PBA at pba_off in BAR bar. */
int pci_add_msix(struct pci_device *d, int nr, int bar, uint32_t table_off, uint32_t pba_off);
/* Puts the device in the first free slot, assigns its BARs and enables memory decoding.
 * Returns the slot, or -1 if the bus or the BAR window is full. */
int pci_plug(struct pci_bus *b, struct pci_device *d);
void pci_device_destroy(struct pci_device *d);

/* INTA# level (device lock held). Hidden while the command register's INTx-disable bit is set. */
void pci_set_irq(struct pci_device *d, bool level);
/* Whether MSI-X is enabled: the device then signals with pci_msix_notify() instead of INTx. */
bool pci_msix_enabled(const struct pci_device *d);
/* Signals MSI-X vector (device lock held); masked vectors become pending. Out-of-range: ignored. */
void pci_msix_notify(struct pci_device *d, unsigned vector);

/* Saved state of a function (device lock held, VM paused or not running): its slot, the
 * configuration space as the guest programmed it, INTA#, the MSI-X table and PBA. The load
 * refuses (-1) another slot, read-only bits that differ from this device's (another kind of
 * device), a decoded BAR outside the window, reserved MSI-X bits and pending bits beyond the
 * table. It does not drive INTA#: the interrupt controllers' own state holds the line level. */
void pci_device_save(struct pci_device *d, struct state_out *o);
int pci_device_load(struct pci_device *d, struct state_in *in);

/* Configuration mechanism #1 as the guest sees it: for tests and the port handlers.
 * Offsets 0-3 are the address register at 0xCF8, 4-7 the data window at 0xCFC. */
uint64_t pci_config_io_read(struct pci_bus *b, uint64_t off, unsigned size);
void pci_config_io_write(struct pci_bus *b, uint64_t off, unsigned size, uint64_t val);
/* A memory access to the BAR window (gpa absolute); false if no BAR decodes it. */
bool pci_mmio_access(struct pci_bus *b, uint64_t gpa, unsigned size, bool write, uint64_t *val);

#endif
