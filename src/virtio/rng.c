/* virtio-rng (virtio 1.x, 5.4): every device-writable buffer is filled from getrandom(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/log.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "vm.h"

struct virtio_rng {
	struct virtio_dev vd;
	struct virtq_req req;
};

/* Fills one buffer; returns the bytes written (short only if the host has no entropy to give). */
static size_t fill(void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom((uint8_t *)buf + done, len - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return done;
}

static int rng_notify(struct virtio_dev *vd, int qi)
{
	struct virtio_rng *r = vd->model;
	struct virtq *q = &vd->vq[qi];
	bool irq = false;
	int got;

	while ((got = virtq_pop(q, vd->vm, &r->req)) == VIRTQ_GOT) {
		uint64_t written = 0;
		for (int k = r->req.nr_out; k < r->req.nr_out + r->req.nr_in; k++) {
			size_t n = fill(r->req.iov[k].iov_base, r->req.iov[k].iov_len);
			written += n;
			if (n < r->req.iov[k].iov_len)
				break;
		}
		virtq_req_written(vd->vm, &r->req, written);
		irq |= virtq_push(q, vd->vm, r->req.head, (uint32_t)written);
	}
	if (irq)
		virtio_notify_queue(vd, qi);
	return got == VIRTQ_BROKEN ? -1 : 0;
}

static const struct virtio_dev_ops rng_ops = { .notify = rng_notify };

struct virtio_rng *virtio_rng_create(struct vm *vm, struct pci_bus *bus)
{
	struct virtio_rng *r = calloc(1, sizeof(*r));

	if (!r) {
		vmon_log("virtio-rng: %s", strerror(ENOMEM));
		return NULL;
	}
	/* Class ff/00: unassigned, as other VMMs present it. */
	virtio_pci_init(&r->vd, vm, VIRTIO_ID_RNG, 0xff0000, 1, 0, &rng_ops, r);
	if (virtio_pci_plug(&r->vd, bus, "virtio-rng") < 0) {
		vmon_log("virtio-rng: no free PCI slot");
		virtio_rng_destroy(r);
		return NULL;
	}
	return r;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
	if (!r)
		return;
	virtio_pci_destroy(&r->vd);
	free(r);
}
