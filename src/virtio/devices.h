/* The virtio device models vmon offers on its PCI bus. Each prints one `vmon: ...` line and
 * returns NULL if it cannot be created. */
#ifndef VMON_VIRTIO_DEVICES_H
#define VMON_VIRTIO_DEVICES_H

#include <stdint.h>

#include "net/backend.h"

struct vm;
struct vm_disk;
struct pci_bus;
struct virtio_blk;
struct virtio_rng;
struct virtio_net;

/* virtio-blk on disk->path (qcow2 or raw, src/block/); index names it in GET_ID. */
struct virtio_blk *virtio_blk_create(struct vm *vm, struct pci_bus *bus, const struct vm_disk *disk,
				     int index);
void virtio_blk_destroy(struct virtio_blk *b);
/* The disk's size in bytes. */
uint64_t virtio_blk_bytes(const struct virtio_blk *b);

/* virtio-rng fed by the host's getrandom(). */
struct virtio_rng *virtio_rng_create(struct vm *vm, struct pci_bus *bus);
void virtio_rng_destroy(struct virtio_rng *r);

/* virtio-net on a user-mode network (10.0.2.0/24, DHCP, the host at 10.0.2.2) run by a backend
 * process (src/net/backend.h). virtio_net_stop joins its thread (nothing of the VM is used
 * after it returns); destroy stops it too, then ends the backend and frees the device. */
struct virtio_net *virtio_net_create(struct vm *vm, struct pci_bus *bus,
				     enum net_backend_kind backend);
void virtio_net_stop(struct virtio_net *n);
void virtio_net_destroy(struct virtio_net *n);

#endif
