/* virtio-blk (virtio 1.x, 5.2) on a disk image (raw or qcow2, src/block/): IN, OUT, FLUSH,
 * GET_ID; optional read-only. Requests run synchronously on the notifying vCPU thread, straight
 * between the image and the guest's buffers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "util/bytes.h"
#include "util/log.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "vm.h"

#define BLK_F_SEG_MAX		2
#define BLK_F_RO		5
#define BLK_F_FLUSH		9

#define BLK_T_IN		0
#define BLK_T_OUT		1
#define BLK_T_FLUSH		4
#define BLK_T_GET_ID		8

#define BLK_S_OK		0
#define BLK_S_IOERR		1
#define BLK_S_UNSUPP		2

#define SECTOR			512
#define BLK_ID_BYTES		20
#define HDR_BYTES		16
/* A chain holds the header, the data buffers and the status byte. */
#define SEG_MAX			(VIRTQ_MAX_SIZE - 2)

struct virtio_blk {
	struct virtio_dev vd;
	struct blk *disk;
	bool readonly;
	uint64_t sectors;
	int index;			/* vda = 0 */
	struct virtq_req req;		/* the chain being served */
	struct iovec data[VIRTQ_MAX_SIZE];
};

/* The data part of the chain (readable after the header, or writable before the status). */
static int data_iov(const struct virtq_req *r, bool out, uint64_t len, struct iovec *iov)
{
	int first = out ? 0 : r->nr_out, end = out ? r->nr_out : r->nr_out + r->nr_in, n = 0;
	uint64_t skip = out ? HDR_BYTES : 0;

	for (int k = first; k < end && len; k++) {
		uint64_t seg = r->iov[k].iov_len;
		if (skip >= seg) {
			skip -= seg;
			continue;
		}
		uint64_t take = seg - skip < len ? seg - skip : len;
		iov[n++] = (struct iovec){ .iov_base = (uint8_t *)r->iov[k].iov_base + skip,
					   .iov_len = take };
		len -= take;
		skip = 0;
	}
	return n;
}

static bool in_disk(const struct virtio_blk *b, uint64_t sector, uint64_t len)
{
	return sector <= b->sectors && len <= (b->sectors - sector) * SECTOR;
}

/* Serves one request; returns the bytes written into the chain (data + status). */
static uint32_t serve(struct virtio_blk *b, const struct virtq_req *r)
{
	struct vm *vm = b->vd.vm;
	uint8_t hdr[HDR_BYTES];
	uint64_t data_in = r->in_len - 1;	/* the last writable byte is the status */
	uint64_t data_out = r->out_len - HDR_BYTES;
	uint8_t status = BLK_S_OK;
	uint32_t written = 0;

	virtq_req_read(r, 0, hdr, sizeof(hdr));
	uint32_t type = get_le32(hdr);
	uint64_t sector = get_le64(hdr + 8);

	switch (type) {
	case BLK_T_IN: {
		int n = data_iov(r, false, data_in, b->data);
		if (data_in % SECTOR || !in_disk(b, sector, data_in) ||
		    blk_readv(b->disk, sector * SECTOR, b->data, n) < 0) {
			status = BLK_S_IOERR;
			break;
		}
		virtq_req_written(vm, r, data_in);
		written = (uint32_t)data_in;
		break;
	}
	case BLK_T_OUT: {
		int n = data_iov(r, true, data_out, b->data);
		if (b->readonly || data_out % SECTOR || !in_disk(b, sector, data_out) ||
		    blk_writev(b->disk, sector * SECTOR, b->data, n) < 0)
			status = BLK_S_IOERR;
		break;
	}
	case BLK_T_FLUSH:
		if (blk_flush(b->disk) < 0)
			status = BLK_S_IOERR;
		break;
	case BLK_T_GET_ID: {
		char id[BLK_ID_BYTES + 1];
		/* Not NUL-terminated when it fills all 20 bytes (5.2.6). */
		int len = snprintf(id, sizeof(id), "vmon-disk-%d", b->index);
		written = (uint32_t)virtq_req_write(vm, r, 0, id,
						    (size_t)len < data_in ? (size_t)len + 1 : data_in);
		break;
	}
	default:
		status = BLK_S_UNSUPP;
	}
	virtq_req_write(vm, r, data_in, &status, 1);
	return written + 1;
}

static int blk_notify(struct virtio_dev *vd, int qi)
{
	struct virtio_blk *b = vd->model;
	struct virtq *q = &vd->vq[qi];
	bool irq = false;
	int got;

	while ((got = virtq_pop(q, vd->vm, &b->req)) == VIRTQ_GOT) {
		/* Without a header to read and a status byte to write, there is no answer. */
		if (b->req.out_len < HDR_BYTES || b->req.in_len < 1)
			return -1;
		irq |= virtq_push(q, vd->vm, b->req.head, serve(b, &b->req));
	}
	if (irq)
		virtio_notify_queue(vd, qi);
	return got == VIRTQ_BROKEN ? -1 : 0;
}

static const struct virtio_dev_ops blk_ops = { .notify = blk_notify };

struct virtio_blk *virtio_blk_create(struct vm *vm, struct pci_bus *bus, const struct vm_disk *disk,
				     int index)
{
	char err[BLK_ERR_LEN];
	struct blk *image = blk_open(disk->path, disk->readonly, err);

	if (!image) {
		vmon_log("%s", err);
		return NULL;
	}
	struct virtio_blk *b = calloc(1, sizeof(*b));
	if (!b) {
		vmon_log("%s: %s", disk->path, strerror(ENOMEM));
		blk_close(image);
		return NULL;
	}
	b->disk = image;
	b->readonly = disk->readonly;
	b->sectors = image->size / SECTOR;
	b->index = index;

	uint64_t features = 1ull << BLK_F_SEG_MAX | 1ull << BLK_F_FLUSH |
			    (disk->readonly ? 1ull << BLK_F_RO : 0);
	/* Class 01/80: mass storage, other. */
	virtio_pci_init(&b->vd, vm, VIRTIO_ID_BLOCK, 0x018000, 1, features, &blk_ops, b);
	put_le64(b->vd.config, b->sectors);		/* capacity */
	put_le32(b->vd.config + 12, SEG_MAX);		/* seg_max */
	b->vd.config_len = 36;
	char name[VM_STATE_NAME_LEN];
	snprintf(name, sizeof(name), "virtio-blk%d", index);
	if (virtio_pci_plug(&b->vd, bus, name) < 0) {
		vmon_log("%s: no free PCI slot", disk->path);
		virtio_blk_destroy(b);
		return NULL;
	}
	return b;
}

uint64_t virtio_blk_bytes(const struct virtio_blk *b)
{
	return b->sectors * SECTOR;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	virtio_pci_destroy(&b->vd);
	blk_close(b->disk);
	free(b);
}
