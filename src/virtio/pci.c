/* Virtio modern PCI transport (virtio 1.x, 4.1): one 16 KiB memory BAR holding the common
 * configuration, ISR, device configuration, notification area and the MSI-X table and PBA. */
#include <string.h>

#include "util/bytes.h"
#include "snapshot/state.h"
#include "virtio/virtio.h"
#include "vm.h"

#define CAP_COMMON	1
#define CAP_NOTIFY	2
#define CAP_ISR		3
#define CAP_DEVICE	4

#define ISR_QUEUE	1
#define ISR_CONFIG	2

/* Common configuration structure (4.1.4.3). */
enum {
	CC_DFSELECT = 0, CC_DF = 4, CC_GFSELECT = 8, CC_GF = 12, CC_MSIX = 16, CC_NUMQ = 18,
	CC_STATUS = 20, CC_CFGGEN = 21, CC_Q_SELECT = 22, CC_Q_SIZE = 24, CC_Q_MSIX = 26,
	CC_Q_ENABLE = 28, CC_Q_NOFF = 30, CC_Q_DESC = 32, CC_Q_AVAIL = 40, CC_Q_USED = 48,
	CC_SIZE = 56,
};

#define MSIX_VECTORS	(VIRTIO_MAX_QUEUES + 1)

static struct virtq *selected(struct virtio_dev *vd)
{
	return vd->queue_sel < vd->nr_queues ? &vd->vq[vd->queue_sel] : NULL;
}

static void reset(struct virtio_dev *vd)
{
	vd->guest_features = 0;
	vd->host_features_sel = vd->guest_features_sel = 0;
	vd->status = 0;
	vd->isr = 0;
	vd->config_vector = VIRTQ_NO_VECTOR;
	vd->queue_sel = 0;
	for (int q = 0; q < vd->nr_queues; q++)
		virtq_reset(&vd->vq[q], VIRTQ_MAX_SIZE);
	pci_set_irq(&vd->pci, false);
	if (vd->ops->reset)
		vd->ops->reset(vd);
}

static void raise(struct virtio_dev *vd, uint8_t isr_bit, uint16_t vector)
{
	if (pci_msix_enabled(&vd->pci)) {
		if (vector != VIRTQ_NO_VECTOR)
			pci_msix_notify(&vd->pci, vector);
		return;
	}
	vd->isr |= isr_bit;
	pci_set_irq(&vd->pci, true);
}

void virtio_notify_queue(struct virtio_dev *vd, int q)
{
	raise(vd, ISR_QUEUE, vd->vq[q].msix_vector);
}

void virtio_needs_reset(struct virtio_dev *vd)
{
	vd->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (vd->status & VIRTIO_STATUS_DRIVER_OK)
		raise(vd, ISR_CONFIG, vd->config_vector);
}

void virtio_config_changed(struct virtio_dev *vd)
{
	vd->config_generation++;
	if (vd->status & VIRTIO_STATUS_DRIVER_OK)
		raise(vd, ISR_CONFIG, vd->config_vector);
}

static uint16_t checked_vector(uint16_t v)
{
	/* A vector the device cannot map reads back as NO_VECTOR, which is how the driver learns. */
	return v < MSIX_VECTORS ? v : VIRTQ_NO_VECTOR;
}

/* ---- Common configuration ------------------------------------------------------------------ */

static void common_snapshot(struct virtio_dev *vd, uint8_t *c)
{
	struct virtq *q = selected(vd);

	memset(c, 0, CC_SIZE);
	put_le32(c + CC_DFSELECT, vd->host_features_sel);
	if (vd->host_features_sel < 2)
		put_le32(c + CC_DF, (uint32_t)(vd->host_features >> (32 * vd->host_features_sel)));
	put_le32(c + CC_GFSELECT, vd->guest_features_sel);
	if (vd->guest_features_sel < 2)
		put_le32(c + CC_GF, (uint32_t)(vd->guest_features >> (32 * vd->guest_features_sel)));
	put_le16(c + CC_MSIX, vd->config_vector);
	put_le16(c + CC_NUMQ, (uint16_t)vd->nr_queues);
	c[CC_STATUS] = vd->status;
	c[CC_CFGGEN] = vd->config_generation;
	put_le16(c + CC_Q_SELECT, vd->queue_sel);
	if (!q)
		return;		/* a queue that does not exist has size 0 */
	put_le16(c + CC_Q_SIZE, q->size);
	put_le16(c + CC_Q_MSIX, q->msix_vector);
	put_le16(c + CC_Q_ENABLE, q->ready);
	put_le16(c + CC_Q_NOFF, vd->queue_sel);
	put_le64(c + CC_Q_DESC, q->desc_gpa);
	put_le64(c + CC_Q_AVAIL, q->avail_gpa);
	put_le64(c + CC_Q_USED, q->used_gpa);
}

static void write_status(struct virtio_dev *vd, uint8_t val)
{
	if (val == 0) {
		reset(vd);
		return;
	}
	if ((val & VIRTIO_STATUS_FEATURES_OK) && !(vd->status & VIRTIO_STATUS_FEATURES_OK)) {
		/* Only what we offered, and never without VERSION_1 (no legacy interface here). */
		if ((vd->guest_features & ~vd->host_features) ||
		    !(vd->guest_features & (1ull << VIRTIO_F_VERSION_1)))
			val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	vd->status = val | (vd->status & VIRTIO_STATUS_NEEDS_RESET);
}

static void write_queue_field(struct virtio_dev *vd, struct virtq *q, unsigned field,
			      const uint8_t *c)
{
	if (field == CC_Q_MSIX) {
		q->msix_vector = checked_vector(get_le16(c + CC_Q_MSIX));
		return;
	}
	/* Size and addresses are fixed once the queue is enabled. */
	if (q->ready)
		return;
	switch (field) {
	case CC_Q_SIZE: {
		uint16_t size = get_le16(c + CC_Q_SIZE);
		if (size && size <= VIRTQ_MAX_SIZE && !(size & (size - 1)))
			q->size = size;
		break;
	}
	case CC_Q_ENABLE:
		if (get_le16(c + CC_Q_ENABLE) == 1 && !virtq_enable(q, vd->vm))
			virtio_needs_reset(vd);
		break;
	case CC_Q_DESC:
		q->desc_gpa = get_le64(c + CC_Q_DESC);
		break;
	case CC_Q_AVAIL:
		q->avail_gpa = get_le64(c + CC_Q_AVAIL);
		break;
	case CC_Q_USED:
		q->used_gpa = get_le64(c + CC_Q_USED);
		break;
	}
}

static void common_write(struct virtio_dev *vd, unsigned off, unsigned size, uint64_t val)
{
	static const struct { uint8_t off, len; } fields[] = {
		{ CC_DFSELECT, 4 }, { CC_GFSELECT, 4 }, { CC_GF, 4 }, { CC_MSIX, 2 },
		{ CC_STATUS, 1 }, { CC_Q_SELECT, 2 }, { CC_Q_SIZE, 2 }, { CC_Q_MSIX, 2 },
		{ CC_Q_ENABLE, 2 }, { CC_Q_DESC, 8 }, { CC_Q_AVAIL, 8 }, { CC_Q_USED, 8 },
	};
	uint8_t c[CC_SIZE];

	if (off >= CC_SIZE)
		return;
	if (size > CC_SIZE - off)
		size = CC_SIZE - off;
	common_snapshot(vd, c);
	for (unsigned i = 0; i < size; i++)
		c[off + i] = (uint8_t)(val >> (8 * i));

	for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
		unsigned f = fields[k].off;
		if (off >= f + fields[k].len || off + size <= f)
			continue;
		struct virtq *q = selected(vd);
		switch (f) {
		case CC_DFSELECT:
			vd->host_features_sel = get_le32(c + f);
			break;
		case CC_GFSELECT:
			vd->guest_features_sel = get_le32(c + f);
			break;
		case CC_GF:
			/* Features are fixed once FEATURES_OK was accepted. */
			if (vd->guest_features_sel < 2 && !(vd->status & VIRTIO_STATUS_FEATURES_OK)) {
				unsigned shift = 32 * vd->guest_features_sel;
				vd->guest_features &= ~(0xffffffffull << shift);
				vd->guest_features |= (uint64_t)get_le32(c + f) << shift;
			}
			break;
		case CC_MSIX:
			vd->config_vector = checked_vector(get_le16(c + f));
			break;
		case CC_STATUS:
			write_status(vd, c[f]);
			break;
		case CC_Q_SELECT:
			vd->queue_sel = get_le16(c + f);
			break;
		default:
			if (q)
				write_queue_field(vd, q, f, c);
		}
	}
}

/* ---- BAR 0 --------------------------------------------------------------------------------- */

static uint64_t bytes_at(const uint8_t *p, size_t avail, uint64_t off, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size && off + i < avail; i++)
		v |= (uint64_t)p[off + i] << (8 * i);
	return v;
}

static uint64_t bar_read(struct pci_device *d, int bar, uint64_t off, unsigned size)
{
	struct virtio_dev *vd = d->opaque;

	if (off < VIRTIO_ISR_OFF) {
		uint8_t c[CC_SIZE];
		common_snapshot(vd, c);
		return bytes_at(c, CC_SIZE, off, size);
	}
	if (off == VIRTIO_ISR_OFF) {
		/* Reading the ISR acknowledges it and drops INTx. */
		uint8_t isr = vd->isr;
		vd->isr = 0;
		pci_set_irq(&vd->pci, false);
		return isr;
	}
	if (off >= VIRTIO_DEVICE_OFF && off < VIRTIO_NOTIFY_OFF)
		return bytes_at(vd->config, vd->config_len, off - VIRTIO_DEVICE_OFF, size);
	return 0;
}

static void bar_write(struct pci_device *d, int bar, uint64_t off, unsigned size, uint64_t val)
{
	struct virtio_dev *vd = d->opaque;

	if (off < VIRTIO_ISR_OFF) {
		common_write(vd, (unsigned)off, size, val);
		return;
	}
	if (off < VIRTIO_NOTIFY_OFF || off >= VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * VIRTIO_MAX_QUEUES)
		return;		/* ISR and device configuration are read-only here */

	int q = (int)((off - VIRTIO_NOTIFY_OFF) / VIRTIO_NOTIFY_MULT);
	if (q >= vd->nr_queues || !vd->vq[q].ready ||
	    (vd->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)) ||
	    !(vd->status & VIRTIO_STATUS_DRIVER_OK))
		return;
	if (vd->ops->notify(vd, q) < 0)
		virtio_needs_reset(vd);
}

static const struct pci_device_ops virtio_bar_ops = {
	.bar_read = bar_read,
	.bar_write = bar_write,
};

static void add_virtio_cap(struct pci_device *d, uint8_t type, uint32_t off, uint32_t len,
			   uint32_t notify_mult)
{
	uint8_t cap_len = type == CAP_NOTIFY ? 20 : 16;
	uint8_t c = pci_add_cap(d, PCI_CAP_VENDOR, cap_len);

	if (!c)
		return;
	d->cfg[c + 2] = cap_len;
	d->cfg[c + 3] = type;
	d->cfg[c + 4] = 0;		/* BAR 0 */
	put_le32(d->cfg + c + 8, off);
	put_le32(d->cfg + c + 12, len);
	if (type == CAP_NOTIFY)
		put_le32(d->cfg + c + 16, notify_mult);
}

void virtio_pci_init(struct virtio_dev *vd, struct vm *vm, uint16_t type, uint32_t class_code,
		     int nr_queues, uint64_t features, const struct virtio_dev_ops *ops, void *model)
{
	memset(vd, 0, sizeof(*vd));
	vd->vm = vm;
	vd->ops = ops;
	vd->model = model;
	vd->nr_queues = nr_queues < 1 ? 1 : nr_queues > VIRTIO_MAX_QUEUES ? VIRTIO_MAX_QUEUES
									   : nr_queues;
	vd->host_features = features | 1ull << VIRTIO_F_VERSION_1;

	struct pci_device *d = &vd->pci;
	/* Revision 1: a modern-only device (no legacy I/O BAR). */
	pci_device_init(d, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + type), class_code,
			1, VIRTIO_PCI_VENDOR, (uint16_t)(0x40 + type), &virtio_bar_ops, vd);
	pci_add_bar(d, 0, VIRTIO_BAR_SIZE);
	pci_add_msix(d, MSIX_VECTORS, 0, VIRTIO_MSIX_TABLE_OFF, VIRTIO_MSIX_PBA_OFF);
	add_virtio_cap(d, CAP_COMMON, VIRTIO_COMMON_OFF, CC_SIZE, 0);
	add_virtio_cap(d, CAP_ISR, VIRTIO_ISR_OFF, 1, 0);
	add_virtio_cap(d, CAP_DEVICE, VIRTIO_DEVICE_OFF, VIRTIO_CONFIG_MAX, 0);
	add_virtio_cap(d, CAP_NOTIFY, VIRTIO_NOTIFY_OFF, VIRTIO_NOTIFY_MULT * VIRTIO_MAX_QUEUES,
		       VIRTIO_NOTIFY_MULT);
	reset(vd);
}

/* ---- Saved state --------------------------------------------------------------------------- */

static void state_save(void *opaque, struct state_out *o)
{
	struct virtio_dev *vd = opaque;

	/* The lock keeps out virtio-net's receive path (its thread runs while vCPUs are parked). */
	pthread_mutex_lock(&vd->pci.lock);
	pci_device_save(&vd->pci, o);
	state_put_u64(o, vd->host_features);
	state_put_u64(o, vd->guest_features);
	state_put_u32(o, vd->host_features_sel);
	state_put_u32(o, vd->guest_features_sel);
	state_put_u8(o, vd->status);
	state_put_u8(o, vd->isr);
	state_put_u8(o, vd->config_generation);
	state_put_u16(o, vd->config_vector);
	state_put_u16(o, vd->queue_sel);
	state_put_u8(o, (uint8_t)vd->nr_queues);
	for (int q = 0; q < vd->nr_queues; q++)
		virtq_save(&vd->vq[q], o);
	state_put_u8(o, (uint8_t)vd->config_len);
	state_put(o, vd->config, vd->config_len);
	pthread_mutex_unlock(&vd->pci.lock);
}

static bool vector_ok(uint16_t v)
{
	return v == VIRTQ_NO_VECTOR || v < MSIX_VECTORS;
}

/* What the device offers and its configuration bytes (a disk's capacity, a MAC) come from how
 * it was built: a snapshot of another device is refused, not adopted. */
static int load(struct virtio_dev *vd, struct state_in *in)
{
	uint8_t config[VIRTIO_CONFIG_MAX];

	if (pci_device_load(&vd->pci, in) < 0 || state_get_u64(in) != vd->host_features)
		return -1;
	vd->guest_features = state_get_u64(in);
	vd->host_features_sel = state_get_u32(in);
	vd->guest_features_sel = state_get_u32(in);
	vd->status = state_get_u8(in);
	vd->isr = state_get_u8(in);
	vd->config_generation = state_get_u8(in);
	vd->config_vector = state_get_u16(in);
	vd->queue_sel = state_get_u16(in);
	if (state_get_u8(in) != vd->nr_queues || in->bad)
		return -1;
	for (int q = 0; q < vd->nr_queues; q++)
		if (!virtq_load(&vd->vq[q], vd->vm, in) || !vector_ok(vd->vq[q].msix_vector))
			return -1;
	if (state_get_u8(in) != vd->config_len)
		return -1;
	state_get(in, config, vd->config_len);
	if (in->bad || memcmp(config, vd->config, vd->config_len) ||
	    vd->isr > (ISR_QUEUE | ISR_CONFIG) || !vector_ok(vd->config_vector) ||
	    ((vd->status & VIRTIO_STATUS_FEATURES_OK) &&
	     (vd->guest_features & ~vd->host_features)))
		return -1;
	return 0;
}

static int state_load(void *opaque, struct state_in *in)
{
	struct virtio_dev *vd = opaque;

	pthread_mutex_lock(&vd->pci.lock);
	int ret = load(vd, in);
	/* The VM is not run after a refused load; still, no queue is left half-loaded and ready. */
	if (ret < 0)
		reset(vd);
	pthread_mutex_unlock(&vd->pci.lock);
	return ret;
}

int virtio_pci_plug(struct virtio_dev *vd, struct pci_bus *bus, const char *name)
{
	if (vm_register_state(vd->vm, name, state_save, state_load, vd) < 0)
		return -1;
	return pci_plug(bus, &vd->pci) < 0 ? -1 : 0;
}

void virtio_pci_destroy(struct virtio_dev *vd)
{
	pci_device_destroy(&vd->pci);
}
