/* A virtio 1.x device on the modern PCI transport (virtio spec 4.1).
 *
 * The transport (virtio/pci.c) owns the PCI function, feature negotiation, device status, the
 * queues' registers, the ISR and the interrupts; a device model (blk.c, rng.c) supplies its
 * feature bits, its configuration bytes and what a queue notification does. Requests are
 * processed synchronously on the notifying vCPU's thread, under the device's lock.
 *
 * Device state is all in struct virtio_dev plus the model's own struct, so it can be saved and
 * loaded as a unit.
 */
#ifndef VMON_VIRTIO_VIRTIO_H
#define VMON_VIRTIO_VIRTIO_H

#include <stdint.h>

#include "hw/pci.h"
#include "virtio/queue.h"

struct vm;
struct virtio_dev;

#define VIRTIO_PCI_VENDOR		0x1af4
#define VIRTIO_PCI_DEVICE_BASE		0x1040	/* + virtio device ID: modern-only devices */

#define VIRTIO_ID_NET			1
#define VIRTIO_ID_BLOCK			2
#define VIRTIO_ID_RNG			4

#define VIRTIO_F_VERSION_1		32

#define VIRTIO_STATUS_ACKNOWLEDGE	1
#define VIRTIO_STATUS_DRIVER		2
#define VIRTIO_STATUS_DRIVER_OK		4
#define VIRTIO_STATUS_FEATURES_OK	8
#define VIRTIO_STATUS_NEEDS_RESET	64
#define VIRTIO_STATUS_FAILED		128

#define VIRTIO_MAX_QUEUES		2
#define VIRTIO_CONFIG_MAX		64

struct virtio_dev_ops {
	/* The driver notified queue q (with DRIVER_OK set). Returns -1 if it found the queue
	 * broken: the transport then sets DEVICE_NEEDS_RESET. */
	int (*notify)(struct virtio_dev *vd, int q);
	/* The driver reset the device (status 0): drop in-flight model state. Optional. */
	void (*reset)(struct virtio_dev *vd);
};

struct virtio_dev {
	struct pci_device pci;
	struct vm *vm;
	const struct virtio_dev_ops *ops;
	void *model;			/* the device model's own state */

	uint64_t host_features, guest_features;
	uint32_t host_features_sel, guest_features_sel;
	uint8_t status;
	uint8_t isr;
	uint8_t config_generation;
	uint16_t config_vector;
	uint16_t queue_sel;
	int nr_queues;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	uint8_t config[VIRTIO_CONFIG_MAX];	/* device-specific configuration, read-only */
	unsigned config_len;
};

/* Sets up the PCI function (class code, BAR 0 with the capabilities and MSI-X) for a device of
 * virtio type `type` with nr_queues queues and the model's features (VERSION_1 is added). The
 * model fills vd->config / config_len, then calls virtio_pci_plug(). */
void virtio_pci_init(struct virtio_dev *vd, struct vm *vm, uint16_t type, uint32_t class_code,
		     int nr_queues, uint64_t features, const struct virtio_dev_ops *ops, void *model);
/* Puts the function on the VM's PCI bus and registers its saved state under name (the PCI
 * function, status, features, queues and ISR; the configuration bytes and offered features
 * must match at load); -1 if the bus is full or the name taken. */
int virtio_pci_plug(struct virtio_dev *vd, struct pci_bus *bus, const char *name);
void virtio_pci_destroy(struct virtio_dev *vd);

/* The driver broke a ring: DEVICE_NEEDS_RESET until it resets the device (2.1.1), announced with
 * a configuration-change interrupt. The transport calls it when a notify handler fails. */
void virtio_needs_reset(struct virtio_dev *vd);

/* The device changed its configuration bytes (virtio-net's link status): a new generation and
 * a configuration-change interrupt. Under the device's lock. */
void virtio_config_changed(struct virtio_dev *vd);

/* Used-buffer notification for queue q (MSI-X vector or INTx with ISR bit 0). */
void virtio_notify_queue(struct virtio_dev *vd, int q);

/* BAR 0 layout (exported for the tests). */
#define VIRTIO_BAR_SIZE		0x4000
#define VIRTIO_COMMON_OFF	0x0000
#define VIRTIO_ISR_OFF		0x1000
#define VIRTIO_DEVICE_OFF	0x2000
#define VIRTIO_NOTIFY_OFF	0x3000
#define VIRTIO_NOTIFY_MULT	4
#define VIRTIO_MSIX_TABLE_OFF	0x3800
#define VIRTIO_MSIX_PBA_OFF	0x3c00

#endif
