/* Virtio devices through the modern PCI transport, driven over MMIO as Linux's driver does:
 * virtio-blk (feature negotiation, queue setup, IN/OUT/GET_ID/unknown requests, the disk's end,
 * read-only disks, a hostile chain -> DEVICE_NEEDS_RESET, reset), virtio-net (an ARP request
 * on the transmit queue, slirp's answer on the receive queue; none while paused), and their
 * saved state (round trips, corrupt sections refused). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/bytes.h"
#include "boot_fixture.h"
#include "hw/pci.h"
#include "snapshot/state.h"
#include "test.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "vm.h"

#define QSIZE	8
/* Queue q's rings: descriptors at DESC + q * QSTRIDE, available and used rings after them. */
#define QSTRIDE	0x8000ull
#define DESC	0x10000ull
#define AVAIL	(DESC + 0x1000)
#define USED	(DESC + 0x2000)
#define HDR	0x4000ull
#define DATA	0x5000ull
#define STATUS	0x6000ull
#define DISK_BYTES 4096

static struct { int line[32], msis, ram_writes; } seen;

static void fake_irq_line(struct vm *vm, unsigned gsi, int level)
{
	if (gsi < 32)
		seen.line[gsi] = level;
}

static void fake_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	seen.msis++;
}

static void fake_ram_written(struct vm *vm, uint64_t gpa, uint64_t len)
{
	seen.ram_writes++;
}

static const struct engine_ops fake_engine = {
	.name = "fake",
	.irq_line = fake_irq_line,
	.msi = fake_msi,
	.ram_written = fake_ram_written,
};

struct rig {
	struct vm *vm;
	struct pci_bus *bus;
	struct virtio_blk *blk;
	struct virtio_net *net;
	char *path;
	uint64_t bar;
	uint16_t avail_idx, used_seen;
};

static uint64_t rd(struct rig *r, uint64_t off, unsigned size)
{
	uint64_t v = 0;

	bus_access(&r->vm->mmio, r->bar + off, size, false, &v);
	return v;
}

static void wr(struct rig *r, uint64_t off, unsigned size, uint64_t v)
{
	bus_access(&r->vm->mmio, r->bar + off, size, true, &v);
}

static uint8_t *ram(struct rig *r, uint64_t gpa, uint64_t len)
{
	return gpa_to_hva(&r->vm->mem, gpa, len);
}

/* A VM with a PCI bus and the fake engine. */
static bool bus_up(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	memset(&seen, 0, sizeof(seen));
	r->vm = boot_test_vm(1 << 20, 1);
	if (!r->vm)
		return false;
	r->vm->engine = &fake_engine;
	r->bus = pci_create(r->vm);
	return r->bus != NULL;
}

/* BAR 0 of the device in slot 1. */
static bool find_bar(struct rig *r)
{
	uint64_t v = 0x80000000u | 1u << 11 | PCI_BAR0;
	bus_access(&r->vm->pio, PCI_CONFIG_ADDR, 4, true, &v);
	bus_access(&r->vm->pio, PCI_CONFIG_ADDR + 4, 4, false, &v);
	r->bar = v & ~0xfull;
	return r->bar == PCI_MMIO_BASE;
}

static bool rig_up(struct rig *r, bool readonly)
{
	uint8_t disk[DISK_BYTES];

	if (!bus_up(r))
		return false;
	for (int i = 0; i < DISK_BYTES; i++)
		disk[i] = (uint8_t)(i * 7 + i / 512);
	r->path = boot_test_file(disk, sizeof(disk));
	if (!r->path)
		return false;
	struct vm_disk d = { .readonly = readonly };
	strcpy(d.path, r->path);
	r->blk = virtio_blk_create(r->vm, r->bus, &d, 0);
	return r->blk && find_bar(r);
}

static void rig_down(struct rig *r)
{
	virtio_blk_destroy(r->blk);
	virtio_net_destroy(r->net);
	pci_destroy(r->bus);
	if (r->vm)
		boot_test_vm_free(r->vm);
	boot_test_file_free(r->path);
}

/* Linux's sequence up to DRIVER_OK with queues 0..nq-1 of QSIZE entries; returns the status. */
static uint8_t driver_up_queues(struct rig *r, uint64_t features, int nq)
{
	wr(r, 20, 1, 0);
	wr(r, 20, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(r, 8, 4, 0);
	wr(r, 12, 4, (uint32_t)features);
	wr(r, 8, 4, 1);
	wr(r, 12, 4, (uint32_t)(features >> 32));
	wr(r, 20, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	if (!(rd(r, 20, 1) & VIRTIO_STATUS_FEATURES_OK))
		return (uint8_t)rd(r, 20, 1);
	for (int q = 0; q < nq; q++) {
		uint64_t base = QSTRIDE * (unsigned)q;
		wr(r, 22, 2, (uint64_t)q);
		wr(r, 24, 2, QSIZE);
		wr(r, 32, 4, DESC + base);	/* 64-bit fields in two halves, as Linux does */
		wr(r, 36, 4, 0);
		wr(r, 40, 4, AVAIL + base);
		wr(r, 44, 4, 0);
		wr(r, 48, 8, USED + base);
		wr(r, 28, 2, 1);
	}
	wr(r, 20, 1, rd(r, 20, 1) | VIRTIO_STATUS_DRIVER_OK);
	r->avail_idx = r->used_seen = 0;
	return (uint8_t)rd(r, 20, 1);
}

static uint8_t driver_up(struct rig *r, uint64_t features)
{
	return driver_up_queues(r, features, 1);
}

static void desc(struct rig *r, int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = ram(r, DESC + 16 * (unsigned)i, 16);

	put_le64(d, addr);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
}

/* Header, one data buffer (writable for IN), status byte; notify; returns the status byte, or
 * -1 if the request was not completed. *used_len gets the used element's length. */
static int request(struct rig *r, uint32_t type, uint64_t sector, uint32_t len, bool data_in,
		   uint32_t *used_len)
{
	put_le32(ram(r, HDR, 16), type);
	put_le32(ram(r, HDR, 16) + 4, 0);
	put_le64(ram(r, HDR, 16) + 8, sector);
	*ram(r, STATUS, 1) = 0xee;
	desc(r, 0, HDR, 16, 1, 1);
	desc(r, 1, DATA, len, 1 | (data_in ? 2 : 0), 2);
	desc(r, 2, STATUS, 1, 2, 0);
	uint8_t *a = ram(r, AVAIL, 4 + 2 * QSIZE);
	put_le16(a + 4 + 2 * (r->avail_idx % QSIZE), 0);
	put_le16(a + 2, ++r->avail_idx);
	wr(r, VIRTIO_NOTIFY_OFF, 2, 0);

	const uint8_t *u = ram(r, USED, 4 + 8 * QSIZE);
	if (get_le16(u + 2) != (uint16_t)(r->used_seen + 1))
		return -1;
	*used_len = get_le32(u + 4 + 8 * (r->used_seen % QSIZE) + 4);
	r->used_seen++;
	return *ram(r, STATUS, 1);
}

TEST(virtio_blk_requests)
{
	struct rig r;
	uint32_t len;

	CHECK(rig_up(&r, false));
	if (!r.blk) {
		rig_down(&r);
		return;
	}
	/* Identity and features: VERSION_1, SEG_MAX, FLUSH; not RO. */
	CHECK_EQ(rd(&r, 18, 2), 1);				/* num_queues */
	wr(&r, 0, 4, 1);
	CHECK_EQ(rd(&r, 4, 4), 1);				/* bit 32 */
	wr(&r, 0, 4, 0);
	CHECK_EQ(rd(&r, 4, 4), 1u << 2 | 1u << 9);
	CHECK_EQ(rd(&r, VIRTIO_DEVICE_OFF, 8), DISK_BYTES / 512);	/* capacity */

	uint8_t st = driver_up(&r, 1ull << 32 | 1u << 9);
	CHECK_EQ(st, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		     VIRTIO_STATUS_DRIVER_OK);

	/* IN: sectors 1-2 land in guest RAM; INTx (no MSI-X) until the ISR is read. */
	int ram_writes = seen.ram_writes;
	CHECK_EQ(request(&r, 0, 1, 1024, true, &len), 0);
	CHECK_EQ(len, 1025);
	uint8_t want[1024];
	for (int i = 0; i < 1024; i++)
		want[i] = (uint8_t)((512 + i) * 7 + (512 + i) / 512);
	CHECK(!memcmp(ram(&r, DATA, 1024), want, sizeof(want)));
	CHECK(seen.ram_writes > ram_writes);			/* DMA reported to the engine */
	CHECK_EQ(seen.line[17], 1);
	CHECK_EQ(rd(&r, VIRTIO_ISR_OFF, 1), 1);
	CHECK_EQ(seen.line[17], 0);
	CHECK_EQ(rd(&r, VIRTIO_ISR_OFF, 1), 0);

	/* Past the disk's end, or not whole sectors: IOERR, nothing transferred. */
	CHECK_EQ(request(&r, 0, 7, 1024, true, &len), 1);
	CHECK_EQ(request(&r, 0, ~0ull >> 9, 512, true, &len), 1);
	CHECK_EQ(request(&r, 1, 8, 512, false, &len), 1);
	CHECK_EQ(request(&r, 0, 0, 100, true, &len), 1);

	/* OUT reaches the image. */
	memset(ram(&r, DATA, 512), 0x5a, 512);
	CHECK_EQ(request(&r, 1, 3, 512, false, &len), 0);
	CHECK_EQ(len, 1);
	uint8_t back[512];
	int fd = open(r.path, O_RDONLY);
	CHECK(fd >= 0 && pread(fd, back, sizeof(back), 3 * 512) == 512);
	close(fd);
	CHECK_EQ(back[0], 0x5a);
	CHECK_EQ(back[511], 0x5a);

	/* FLUSH, GET_ID, and a type the device does not know. */
	CHECK_EQ(request(&r, 4, 0, 0, false, &len), 0);
	CHECK_EQ(request(&r, 8, 0, 20, true, &len), 0);
	CHECK(!memcmp(ram(&r, DATA, 12), "vmon-disk-0", 12));
	CHECK_EQ(request(&r, 99, 0, 16, true, &len), 2);
	rig_down(&r);
}

TEST(virtio_blk_read_only)
{
	struct rig r;
	uint32_t len;

	CHECK(rig_up(&r, true));
	if (!r.blk) {
		rig_down(&r);
		return;
	}
	wr(&r, 0, 4, 0);
	CHECK_EQ(rd(&r, 4, 4) & 1u << 5, 1u << 5);		/* VIRTIO_BLK_F_RO */
	driver_up(&r, 1ull << 32 | 1u << 5);
	memset(ram(&r, DATA, 512), 0x5a, 512);
	CHECK_EQ(request(&r, 1, 0, 512, false, &len), 1);	/* IOERR */
	CHECK_EQ(request(&r, 0, 0, 512, true, &len), 0);
	CHECK(ram(&r, DATA, 1)[0] != 0x5a);			/* the image was not written */
	rig_down(&r);
}

TEST(virtio_features_and_hostile_queue)
{
	struct rig r;
	uint32_t len;

	CHECK(rig_up(&r, false));
	if (!r.blk) {
		rig_down(&r);
		return;
	}
	/* No VERSION_1, or a feature not offered: FEATURES_OK does not stick. */
	CHECK_EQ(driver_up(&r, 1u << 9) & VIRTIO_STATUS_FEATURES_OK, 0);
	CHECK_EQ(driver_up(&r, 1ull << 32 | 1ull << 28) & VIRTIO_STATUS_FEATURES_OK, 0);

	/* A queue whose rings lie outside RAM: DEVICE_NEEDS_RESET at enable. */
	wr(&r, 20, 1, 0);
	wr(&r, 20, 1, 3);
	wr(&r, 8, 4, 1);
	wr(&r, 12, 4, 1);
	wr(&r, 20, 1, 11);
	wr(&r, 32, 8, 0x7fff0000);
	wr(&r, 28, 2, 1);
	CHECK_EQ(rd(&r, 28, 2), 0);
	CHECK_EQ(rd(&r, 20, 1) & VIRTIO_STATUS_NEEDS_RESET, VIRTIO_STATUS_NEEDS_RESET);

	/* A looping chain: the request is not completed, the device wants a reset and ignores
	 * further notifications until it gets it. */
	driver_up(&r, 1ull << 32);
	CHECK_EQ(rd(&r, 20, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);
	desc(&r, 0, HDR, 16, 1, 1);
	desc(&r, 1, DATA, 16, 1, 0);
	uint8_t *a = ram(&r, AVAIL, 4 + 2 * QSIZE);
	put_le16(a + 4, 0);
	put_le16(a + 2, 1);
	wr(&r, VIRTIO_NOTIFY_OFF, 2, 0);
	CHECK_EQ(rd(&r, 20, 1) & VIRTIO_STATUS_NEEDS_RESET, VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(get_le16(ram(&r, USED + 2, 2)), 0);
	CHECK_EQ(rd(&r, VIRTIO_ISR_OFF, 1), 2);			/* configuration change */

	/* Reset brings it back. */
	memset(ram(&r, DESC, 0x3000), 0, 0x3000);
	CHECK_EQ(driver_up(&r, 1ull << 32) & VIRTIO_STATUS_NEEDS_RESET, 0);
	CHECK_EQ(request(&r, 0, 0, 512, true, &len), 0);
	rig_down(&r);
}

TEST(virtio_blk_rejects_bad_images)
{
	struct vm *vm = boot_test_vm(1 << 20, 1);
	struct pci_bus *bus = vm ? pci_create(vm) : NULL;
	char *odd = boot_test_file("abc", 3);
	struct vm_disk d = { 0 };

	CHECK(bus && odd);
	if (bus && odd) {
		strcpy(d.path, odd);
		CHECK(virtio_blk_create(vm, bus, &d, 0) == NULL);	/* not whole sectors */
		strcpy(d.path, "/nonexistent/vmon.img");
		CHECK(virtio_blk_create(vm, bus, &d, 0) == NULL);
	}
	boot_test_file_free(odd);
	pci_destroy(bus);
	if (vm)
		boot_test_vm_free(vm);
}

/* Queue q, descriptor i. */
static void qdesc(struct rig *r, int q, int i, uint64_t addr, uint32_t len, uint16_t flags)
{
	uint8_t *d = ram(r, DESC + QSTRIDE * (unsigned)q + 16 * (unsigned)i, 16);

	put_le64(d, addr);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, 0);
}

static void qoffer(struct rig *r, int q, uint16_t head)
{
	uint8_t *a = ram(r, AVAIL + QSTRIDE * (unsigned)q, 4 + 2 * QSIZE);
	uint16_t idx = get_le16(a + 2);

	put_le16(a + 4 + 2 * (idx % QSIZE), head);
	put_le16(a + 2, (uint16_t)(idx + 1));
}

/* The receive queue's used index once it passed `before` (the backend answers from its own
 * process, through the device's thread), or after ms milliseconds without. */
static uint16_t rx_used_after(struct rig *r, uint16_t before, int ms)
{
	uint16_t idx = before;

	for (int i = 0; i < ms / 10 && idx == before; i++) {
		usleep(10000);
		idx = __atomic_load_n((uint16_t *)ram(r, USED + 2, 2), __ATOMIC_ACQUIRE);
	}
	return idx;
}

/* A bus with virtio-net on the slirp helper, its BAR found. */
static bool net_rig_up(struct rig *r)
{
	bool up = bus_up(r);

	r->net = up ? virtio_net_create(r->vm, r->bus, NET_BACKEND_SLIRP) : NULL;
	return r->net && find_bar(r);
}

TEST(virtio_net_arp_through_the_slirp_helper)
{
	static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct rig r;

	if (!net_rig_up(&r)) {
		CHECK(!"virtio-net with the slirp helper");
		rig_down(&r);
		return;
	}
	wr(&r, 0, 4, 0);
	CHECK_EQ(rd(&r, 4, 4), 1u << 5 | 1u << 16);		/* VIRTIO_NET_F_MAC, _STATUS */
	CHECK_EQ(rd(&r, VIRTIO_DEVICE_OFF + 6, 2), 1);		/* link up */
	CHECK_EQ(rd(&r, 18, 2), 2);				/* receive and transmit queues */
	for (int i = 0; i < 6; i++)
		CHECK_EQ(rd(&r, VIRTIO_DEVICE_OFF + (unsigned)i, 1), guest_mac[i]);
	uint8_t st = driver_up_queues(&r, 1ull << 32 | 1u << 5, 2);
	CHECK_EQ(st & VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_DRIVER_OK);

	/* One receive buffer, then an ARP request for 10.0.2.2 from 10.0.2.15. */
	memset(ram(&r, 0x40000, 2048), 0xee, 2048);
	qdesc(&r, 0, 0, 0x40000, 2048, 2);
	qoffer(&r, 0, 0);
	wr(&r, VIRTIO_NOTIFY_OFF, 2, 0);

	uint8_t *f = ram(&r, 0x50000, 12 + 42);
	memset(f, 0, 12 + 42);
	uint8_t *e = f + 12;
	memset(e, 0xff, 6);					/* broadcast */
	memcpy(e + 6, guest_mac, 6);
	e[12] = 0x08, e[13] = 0x06;				/* ARP */
	static const uint8_t arp[] = { 0, 1, 8, 0, 6, 4, 0, 1 };	/* Ethernet/IPv4 request */
	memcpy(e + 14, arp, sizeof(arp));
	memcpy(e + 22, guest_mac, 6);
	memcpy(e + 28, (uint8_t[]){ 10, 0, 2, 15 }, 4);
	memcpy(e + 38, (uint8_t[]){ 10, 0, 2, 2 }, 4);
	qdesc(&r, 1, 0, 0x50000, 12 + 42, 0);
	qoffer(&r, 1, 0);
	wr(&r, VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT, 2, 1);

	/* Transmitted at once, and answered into the receive buffer: an ARP reply to us. */
	CHECK_EQ(get_le16(ram(&r, USED + QSTRIDE + 2, 2)), 1);
	CHECK_EQ(rx_used_after(&r, 0, 5000), 1);
	uint32_t len = get_le32(ram(&r, USED + 8, 4));
	CHECK(len >= 12 + 42);
	const uint8_t *rx = ram(&r, 0x40000, 2048);
	CHECK_EQ(get_le16(rx + 10), 1);				/* num_buffers */
	CHECK(!memcmp(rx + 12, guest_mac, 6));
	CHECK_EQ(rx[12 + 12], 0x08);
	CHECK_EQ(rx[12 + 13], 0x06);
	CHECK_EQ(rx[12 + 21], 2);				/* ARP reply */
	CHECK(!memcmp(rx + 12 + 28, (uint8_t[]){ 10, 0, 2, 2 }, 4));
	rig_down(&r);
}

/* ---- Saved state --------------------------------------------------------------------------- */

static struct vm_state_entry *entry(struct vm *vm, const char *name)
{
	for (int i = 0; i < vm->nr_state; i++)
		if (strcmp(vm->state[i].name, name) == 0)
			return &vm->state[i];
	return NULL;
}

static struct state_out save_entry(struct vm *vm, const char *name)
{
	struct state_out o = { 0 };
	struct vm_state_entry *e = entry(vm, name);

	if (e)
		e->save(e->opaque, &o);
	return o;
}

static int load_entry(struct vm *vm, const char *name, const uint8_t *p, size_t len)
{
	struct vm_state_entry *e = entry(vm, name);
	struct state_in in = { .p = p, .len = len };

	return e && e->load(e->opaque, &in) == 0 && state_in_ok(&in) ? 0 : -1;
}

/* Layout of a virtio device's section (virtio/pci.c): the PCI function (slot, configuration
 * space, INTx, three MSI-X entries, PBA), then the transport, then each queue. */
#define ST_PCI		(1 + PCI_CFG_SIZE + 1 + 3 * 16 + 8)
#define ST_CFG_VECTOR	(ST_PCI + 8 + 8 + 4 + 4 + 1 + 1 + 1)
#define ST_QUEUE	(ST_CFG_VECTOR + 2 + 2 + 1)
#define ST_Q_SIZE	ST_QUEUE
#define ST_Q_VECTOR	(ST_QUEUE + 2 + 1)
#define ST_Q_DESC	(ST_Q_VECTOR + 2)
#define ST_CONFIG	(ST_QUEUE + 2 + 1 + 2 + 3 * 8 + 2 + 2 + 1)

/* A copy of the section with n bytes at off replaced by the little-endian v: refused? */
static bool blk_refuses(struct rig *r, const struct state_out *o, size_t off, uint64_t v, int n)
{
	uint8_t *buf = malloc(o->len);

	memcpy(buf, o->buf, o->len);
	for (int i = 0; i < n; i++)
		buf[off + (size_t)i] = (uint8_t)(v >> (8 * i));
	bool ret = load_entry(r->vm, "virtio-blk0", buf, o->len) < 0;
	free(buf);
	return ret;
}

TEST(virtio_blk_state_round_trip)
{
	struct rig a, b, ro;
	uint32_t len;

	CHECK(rig_up(&a, false));
	CHECK(rig_up(&b, false));
	CHECK(rig_up(&ro, true));
	if (!a.blk || !b.blk || !ro.blk)
		goto out;
	driver_up(&a, 1ull << 32 | 1u << 9);
	wr(&a, 16, 2, 0);				/* configuration-change vector 0 */
	wr(&a, 26, 2, 1);				/* queue 0: vector 1 */
	CHECK_EQ(request(&a, 0, 1, 512, true, &len), 0);
	CHECK_EQ(request(&a, 0, 2, 512, true, &len), 0);

	/* Save; load into a machine with the same RAM (the rings live there) and disk; save
	 * again: the same bytes. */
	struct state_out o = save_entry(a.vm, "virtio-blk0");
	CHECK(o.len > ST_CONFIG);
	memcpy(ram(&b, 0, 1 << 20), ram(&a, 0, 1 << 20), 1 << 20);
	CHECK_EQ(load_entry(b.vm, "virtio-blk0", o.buf, o.len), 0);
	struct state_out o2 = save_entry(b.vm, "virtio-blk0");
	CHECK(o.len == o2.len && !memcmp(o.buf, o2.buf, o.len));
	state_out_free(&o2);

	/* The driver carries on: status, queue setup and vectors as it left them, and the ring
	 * positions continue (the third request completes as used entry 3). */
	CHECK_EQ(rd(&b, 20, 1), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	CHECK_EQ(rd(&b, 28, 2), 1);
	CHECK_EQ(rd(&b, 26, 2), 1);
	CHECK_EQ(rd(&b, 16, 2), 0);
	b.avail_idx = a.avail_idx;
	b.used_seen = a.used_seen;
	CHECK_EQ(request(&b, 0, 3, 512, true, &len), 0);
	CHECK_EQ(get_le16(ram(&b, USED + 2, 2)), 3);
	CHECK_EQ(ram(&b, DATA, 1)[0], (uint8_t)(3 * 512 * 7 + 3));

	/* Refused: rings outside RAM or misaligned, a queue size that is not a power of two or
	 * too big, vectors beyond the MSI-X table, a BAR outside the window, another capacity,
	 * more chains taken than the queue holds, a short section; and a read-only disk's
	 * device (other features) does not take a writable one's state. */
	CHECK(blk_refuses(&b, &o, ST_Q_DESC, 0x7fff0000, 8));
	CHECK(blk_refuses(&b, &o, ST_Q_DESC, DESC + 8, 8));
	CHECK(blk_refuses(&b, &o, ST_Q_SIZE, 6, 2));
	CHECK(blk_refuses(&b, &o, ST_Q_SIZE, 512, 2));
	CHECK(blk_refuses(&b, &o, ST_Q_SIZE, 0, 2));
	CHECK(blk_refuses(&b, &o, ST_Q_VECTOR, 3, 2));
	CHECK(blk_refuses(&b, &o, ST_CFG_VECTOR, 5, 2));
	CHECK(blk_refuses(&b, &o, 1 + PCI_BAR0, 0x10000000, 4));
	CHECK(blk_refuses(&b, &o, ST_CONFIG, DISK_BYTES / 512 + 1, 8));
	CHECK(blk_refuses(&b, &o, ST_CONFIG - 5, 100, 2));	/* last_avail - used_idx */
	CHECK(load_entry(b.vm, "virtio-blk0", o.buf, o.len - 1) < 0);
	CHECK(load_entry(ro.vm, "virtio-blk0", o.buf, o.len) < 0);
	/* A refused load leaves the device reset, never half-loaded. */
	CHECK_EQ(rd(&b, 20, 1), 0);
	CHECK_EQ(rd(&b, 28, 2), 0);
	/* The same section still loads. */
	CHECK_EQ(load_entry(b.vm, "virtio-blk0", o.buf, o.len), 0);
	state_out_free(&o);
out:
	rig_down(&a);
	rig_down(&b);
	rig_down(&ro);
}

/* An ARP request for 10.0.2.2 on the transmit queue, into a receive buffer offered first;
 * returns the receive queue's used index once the reply came, or after ms milliseconds. */
static uint16_t arp_exchange(struct rig *r, int ms)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	static const uint8_t arp[] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	uint8_t *e = ram(r, 0x50000 + 12, 42);
	uint16_t before = get_le16(ram(r, USED + 2, 2));

	qdesc(r, 0, 0, 0x40000, 2048, 2);
	qoffer(r, 0, 0);
	wr(r, VIRTIO_NOTIFY_OFF, 2, 0);
	memset(ram(r, 0x50000, 12 + 42), 0, 12 + 42);
	memset(e, 0xff, 6);
	memcpy(e + 6, mac, 6);
	e[12] = 0x08, e[13] = 0x06;
	memcpy(e + 14, arp, sizeof(arp));
	memcpy(e + 22, mac, 6);
	memcpy(e + 28, (uint8_t[]){ 10, 0, 2, 15 }, 4);
	memcpy(e + 38, (uint8_t[]){ 10, 0, 2, 2 }, 4);
	qdesc(r, 1, 0, 0x50000, 12 + 42, 0);
	qoffer(r, 1, 0);
	wr(r, VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT, 2, 1);
	return rx_used_after(r, before, ms);
}

TEST(virtio_net_state_and_pause)
{
	struct rig a, b;

	CHECK(bus_up(&a));
	CHECK(bus_up(&b));
	a.net = a.bus ? virtio_net_create(a.vm, a.bus, NET_BACKEND_SLIRP) : NULL;
	b.net = b.bus ? virtio_net_create(b.vm, b.bus, NET_BACKEND_SLIRP) : NULL;
	CHECK(a.net && find_bar(&a) && b.net && find_bar(&b));
	if (!a.net || !a.bar || !b.net || !b.bar)
		goto out;
	driver_up_queues(&a, 1ull << 32 | 1u << 5, 2);
	CHECK_EQ(arp_exchange(&a, 5000), 1);

	/* Paused (or pausing): the backend's answer is not delivered; the buffer stays the
	 * guest's and no guest RAM changes. */
	atomic_store(&a.vm->pause_requested, true);
	CHECK_EQ(arp_exchange(&a, 300), 1);
	CHECK_EQ(get_le16(ram(&a, USED + QSTRIDE + 2, 2)), 2);	/* the request went out */

	/* Round trip; the restored device answers on the next buffer (the one offered while
	 * paused, then the new one). */
	struct state_out o = save_entry(a.vm, "virtio-net");
	memcpy(ram(&b, 0, 1 << 20), ram(&a, 0, 1 << 20), 1 << 20);
	CHECK_EQ(load_entry(b.vm, "virtio-net", o.buf, o.len), 0);
	struct state_out o2 = save_entry(b.vm, "virtio-net");
	CHECK(o.len == o2.len && !memcmp(o.buf, o2.buf, o.len));
	CHECK_EQ(arp_exchange(&b, 5000), 2);
	/* The answer held back while a was paused arrives once it runs again. */
	atomic_store(&a.vm->pause_requested, false);
	CHECK_EQ(rx_used_after(&a, 1, 5000), 2);
	/* Another MAC is another device. */
	o.buf[o.len - 8 + 5] ^= 1;
	CHECK(load_entry(b.vm, "virtio-net", o.buf, o.len) < 0);
	state_out_free(&o);
	state_out_free(&o2);
out:
	rig_down(&a);
	rig_down(&b);
}

/* vm_destroy stops the device's thread before it frees what the thread uses (the engine, the
 * interrupt controllers): once virtio_net_stop() returns, no frame reaches guest RAM and no
 * interrupt is raised, though the backend still answers. */
TEST(virtio_net_stop_ends_delivery)
{
	struct rig r;

	if (!net_rig_up(&r)) {
		CHECK(!"virtio-net with the slirp helper");
		rig_down(&r);
		return;
	}
	driver_up_queues(&r, 1ull << 32 | 1u << 5, 2);
	CHECK_EQ(arp_exchange(&r, 5000), 1);
	/* Ask again and stop at once: whatever was delivered by then stays, nothing comes after. */
	arp_exchange(&r, 0);
	virtio_net_stop(r.net);
	uint16_t at_stop = get_le16(ram(&r, USED + 2, 2));
	CHECK_EQ(rx_used_after(&r, at_stop, 500), at_stop);
	rig_down(&r);
}
