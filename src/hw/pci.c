/* PCI host bridge, configuration mechanism #1, BAR decoding, INTx and MSI-X (see pci.h). */
#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"
#include "hw/pci.h"
#include "snapshot/state.h"
#include "vm.h"

/* Intel 82441FX (i440FX) host bridge, as QEMU's default machine: Linux knows it well. */
#define HOST_VENDOR		0x8086
#define HOST_DEVICE		0x1237
#define CLASS_HOST_BRIDGE	0x060000

#define CF8_ENABLE		(1u << 31)
#define CF8_MASK		0x80fffffcu	/* enable, bus, device, function, register */
#define RCR_RESET_CPU		(1u << 2)
#define MSIX_CTRL_ENABLE	(1u << 15)
#define MSIX_CTRL_MASKALL	(1u << 14)
#define MSIX_ENTRY_MASKED	1u

struct pci_bus {
	struct vm *vm;
	uint32_t cf8;			/* guarded by the port range's bus lock */
	pthread_rwlock_t map_lock;	/* writers: configuration writes (BARs, command) */
	struct pci_device *dev[PCI_SLOTS];
	struct pci_device host;
	uint64_t next_bar;		/* vmon's BAR allocator */
};

static uint32_t cfg_get(const struct pci_device *d, unsigned off, unsigned len)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < len; i++)
		v |= (uint32_t)d->cfg[off + i] << (8 * i);
	return v;
}

/* Initial value, writable bits. */
static void cfg_set(struct pci_device *d, unsigned off, unsigned len, uint32_t val, uint32_t wmask)
{
	for (unsigned i = 0; i < len; i++) {
		d->cfg[off + i] = (uint8_t)(val >> (8 * i));
		d->wmask[off + i] = (uint8_t)(wmask >> (8 * i));
	}
}

void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device, uint32_t class_code,
		     uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id,
		     const struct pci_device_ops *ops, void *opaque)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->slot = -1;
	d->ops = ops;
	d->opaque = opaque;
	cfg_set(d, PCI_VENDOR_ID, 2, vendor, 0);
	cfg_set(d, PCI_DEVICE_ID, 2, device, 0);
	cfg_set(d, PCI_COMMAND, 2, 0, PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_INTX_OFF);
	cfg_set(d, PCI_REVISION, 1, revision, 0);
	cfg_set(d, PCI_CLASS_PROG, 3, class_code, 0);
	cfg_set(d, PCI_SUBSYS_VENDOR, 2, subsys_vendor, 0);
	cfg_set(d, PCI_SUBSYS_ID, 2, subsys_id, 0);
	cfg_set(d, PCI_INT_LINE, 1, 0, 0xff);	/* scratch for the OS */
	cfg_set(d, PCI_INT_PIN, 1, 1, 0);	/* INTA# */
	d->cap_end = 0x40;
}

void pci_add_bar(struct pci_device *d, int bar, uint32_t size)
{
	if (bar < 0 || bar >= PCI_BARS || size < 16 || (size & (size - 1)))
		return;
	d->bar_size[bar] = size;
	/* The all-ones sizing probe reads back ~(size - 1): only the address bits are writable. */
	cfg_set(d, PCI_BAR0 + 4 * bar, 4, 0, ~(size - 1));
}

uint8_t pci_add_cap(struct pci_device *d, uint8_t id, uint8_t len)
{
	unsigned off = (d->cap_end + 3u) & ~3u;

	if (len < 2 || off + len > PCI_CFG_SIZE)
		return 0;
	d->cfg[off] = id;
	d->cfg[off + 1] = d->cfg[PCI_CAP_PTR];
	d->cfg[PCI_CAP_PTR] = (uint8_t)off;
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAPS;
	d->cap_end = (uint8_t)(off + len > 0xff ? 0xff : off + len);
	return (uint8_t)off;
}

int pci_add_msix(struct pci_device *d, int nr, int bar, uint32_t table_off, uint32_t pba_off)
{
	if (nr < 1 || nr > PCI_MSIX_MAX || bar < 0 || bar >= PCI_BARS || !d->bar_size[bar] ||
	    (table_off & 7) || (pba_off & 7) || table_off + 16u * nr > d->bar_size[bar] ||
	    pba_off + 8 > d->bar_size[bar])
		return -1;
	uint8_t cap = pci_add_cap(d, PCI_CAP_MSIX, 12);
	if (!cap)
		return -1;
	d->msix = (struct pci_msix){ .nr = nr, .bar = bar, .table_off = table_off,
				     .pba_off = pba_off, .cap = cap };
	cfg_set(d, cap + 2, 2, (uint32_t)(nr - 1), MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
	cfg_set(d, cap + 4, 4, table_off | (uint32_t)bar, 0);
	cfg_set(d, cap + 8, 4, pba_off | (uint32_t)bar, 0);
	for (int i = 0; i < nr; i++)
		d->msix.table[i][12] = MSIX_ENTRY_MASKED;	/* reset state: masked */
	return 0;
}

void pci_device_destroy(struct pci_device *d)
{
	pthread_mutex_destroy(&d->lock);
}

/* ---- Interrupts ---------------------------------------------------------------------------- */

static void update_intx(struct pci_device *d)
{
	bool on = d->intx && !(cfg_get(d, PCI_COMMAND, 2) & PCI_CMD_INTX_OFF) &&
		  !pci_msix_enabled(d);

	if (d->intx)
		d->cfg[PCI_STATUS] |= PCI_STATUS_INTX;
	else
		d->cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTX;
	if (d->bus)
		vm_irq_line(d->bus->vm, d->gsi, on);
}

void pci_set_irq(struct pci_device *d, bool level)
{
	d->intx = level;
	update_intx(d);
}

bool pci_msix_enabled(const struct pci_device *d)
{
	return d->msix.nr && (cfg_get(d, d->msix.cap + 2, 2) & MSIX_CTRL_ENABLE);
}

static bool msix_masked(const struct pci_device *d, unsigned vector)
{
	return (cfg_get(d, d->msix.cap + 2, 2) & MSIX_CTRL_MASKALL) ||
	       (d->msix.table[vector][12] & MSIX_ENTRY_MASKED);
}

static void msix_send(struct pci_device *d, unsigned vector)
{
	const uint8_t *e = d->msix.table[vector];
	uint64_t addr = get_le64(e);
	uint32_t data = get_le32(e + 8);

	/* An MSI is a memory write by the device: only a bus master may do it. */
	if (d->bus && (cfg_get(d, PCI_COMMAND, 2) & PCI_CMD_MASTER))
		vm_msi(d->bus->vm, addr, data);
}

void pci_msix_notify(struct pci_device *d, unsigned vector)
{
	if (!pci_msix_enabled(d) || vector >= (unsigned)d->msix.nr)
		return;
	if (msix_masked(d, vector))
		d->msix.pending |= 1ull << vector;
	else
		msix_send(d, vector);
}

/* A vector that became unmasked sends what it held back. */
static void msix_flush_pending(struct pci_device *d)
{
	if (!pci_msix_enabled(d))
		return;
	for (int v = 0; v < d->msix.nr; v++) {
		if ((d->msix.pending & (1ull << v)) && !msix_masked(d, (unsigned)v)) {
			d->msix.pending &= ~(1ull << v);
			msix_send(d, (unsigned)v);
		}
	}
}

/* Table and PBA accesses; true if off fell inside them. Accesses are dword or qword (spec);
 * others are served bytewise, which is what the table's layout allows anyway. */
static bool msix_access(struct pci_device *d, uint64_t off, unsigned size, bool write,
			uint64_t *val)
{
	struct pci_msix *m = &d->msix;
	uint64_t table_len = 16ull * (unsigned)m->nr;

	if (off >= m->table_off && off - m->table_off < table_len) {
		uint64_t t = off - m->table_off;
		uint8_t *bytes = &m->table[0][0];

		if (size > table_len - t)
			size = (unsigned)(table_len - t);
		if (write) {
			for (unsigned i = 0; i < size; i++) {
				uint64_t k = t + i;
				/* Only the mask bit of the vector-control word is writable. */
				if (k % 16 >= 12)
					bytes[k] = k % 16 == 12 ? (uint8_t)(*val >> (8 * i)) & 1 : 0;
				else
					bytes[k] = (uint8_t)(*val >> (8 * i));
			}
			msix_flush_pending(d);
		} else {
			*val = 0;
			for (unsigned i = 0; i < size; i++)
				*val |= (uint64_t)bytes[t + i] << (8 * i);
		}
		return true;
	}
	if (off >= m->pba_off && off - m->pba_off < 8) {
		if (!write)
			*val = m->pending >> (8 * (off - m->pba_off));
		return true;	/* the PBA is read-only */
	}
	return false;
}

/* ---- Configuration space ------------------------------------------------------------------- */

static struct pci_device *cf8_device(struct pci_bus *b, unsigned *reg)
{
	uint32_t a = b->cf8;

	*reg = a & 0xfc;
	/* Bus 0, function 0 only. */
	if (!(a & CF8_ENABLE) || ((a >> 16) & 0xff) || ((a >> 8) & 7))
		return NULL;
	return b->dev[(a >> 11) & 0x1f];
}

static void config_written(struct pci_device *d, unsigned off, unsigned len)
{
	if (off < PCI_COMMAND + 2 && off + len > PCI_COMMAND)
		update_intx(d);
	if (d->msix.nr && off < d->msix.cap + 4u && off + len > d->msix.cap + 2u) {
		update_intx(d);
		msix_flush_pending(d);
	}
}

uint64_t pci_config_io_read(struct pci_bus *b, uint64_t off, unsigned size)
{
	if (off < 4)
		return off == 0 && size == 4 ? b->cf8 : ~0ull;

	unsigned reg, start = (unsigned)off - 4;
	struct pci_device *d = cf8_device(b, &reg);
	if (!d)
		return ~0ull;

	uint64_t v = ~0ull;
	pthread_rwlock_rdlock(&b->map_lock);
	pthread_mutex_lock(&d->lock);
	/* A data-port access reaching past 0xCFF reads the rest as all-ones. */
	unsigned n = size > 4 - start ? 4 - start : size;
	v = (~0ull << (8 * n)) | cfg_get(d, reg + start, n);
	pthread_mutex_unlock(&d->lock);
	pthread_rwlock_unlock(&b->map_lock);
	return v;
}

void pci_config_io_write(struct pci_bus *b, uint64_t off, unsigned size, uint64_t val)
{
	if (off < 4) {
		/* Only a dword write to 0xCF8 latches an address (byte writes to 0xCFB are the
		 * mechanism-selection probe of old chipsets: ignored). */
		if (off == 0 && size == 4)
			b->cf8 = (uint32_t)val & CF8_MASK;
		/* 0xCF9 is the PIIX reset control register: bit 2 resets the CPU (how SeaBIOS
		 * reboots when nothing could be booted). */
		else if (off == 1 && size == 1 && (val & RCR_RESET_CPU))
			vm_guest_reset(b->vm);
		return;
	}

	unsigned reg, start = (unsigned)off - 4;
	struct pci_device *d = cf8_device(b, &reg);
	if (!d)
		return;

	unsigned n = size > 4 - start ? 4 - start : size;
	pthread_rwlock_wrlock(&b->map_lock);
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < n; i++) {
		unsigned k = reg + start + i;
		uint8_t byte = (uint8_t)(val >> (8 * i));
		d->cfg[k] = (uint8_t)((d->cfg[k] & ~d->wmask[k]) | (byte & d->wmask[k]));
	}
	config_written(d, reg + start, n);
	pthread_mutex_unlock(&d->lock);
	pthread_rwlock_unlock(&b->map_lock);
}

static uint64_t config_port_read(void *opaque, uint64_t off, unsigned size)
{
	return pci_config_io_read(opaque, off, size);
}

static void config_port_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	pci_config_io_write(opaque, off, size, val);
}

static const struct io_ops config_port_ops = {
	.read = config_port_read,
	.write = config_port_write,
};

/* ---- BAR decoding -------------------------------------------------------------------------- */

static uint64_t bar_base(const struct pci_device *d, int bar)
{
	return cfg_get(d, PCI_BAR0 + 4 * (unsigned)bar, 4) & ~0xfu;
}

/* The device and BAR decoding gpa, under the map lock. */
static struct pci_device *decode(struct pci_bus *b, uint64_t gpa, int *bar, uint64_t *off)
{
	for (int s = 1; s < PCI_SLOTS; s++) {
		struct pci_device *d = b->dev[s];
		if (!d || !(d->cfg[PCI_COMMAND] & PCI_CMD_MEM))
			continue;
		for (int i = 0; i < PCI_BARS; i++) {
			uint64_t base = bar_base(d, i);
			/* An unassigned BAR (0) decodes nothing. */
			if (d->bar_size[i] && base && gpa - base < d->bar_size[i]) {
				*bar = i;
				*off = gpa - base;
				return d;
			}
		}
	}
	return NULL;
}

bool pci_mmio_access(struct pci_bus *b, uint64_t gpa, unsigned size, bool write, uint64_t *val)
{
	int bar;
	uint64_t off;
	bool claimed = false;

	pthread_rwlock_rdlock(&b->map_lock);
	struct pci_device *d = decode(b, gpa, &bar, &off);
	if (d) {
		claimed = true;
		pthread_mutex_lock(&d->lock);
		/* An access running past the BAR's end is cut to what lies inside. */
		if (size > d->bar_size[bar] - off)
			size = (unsigned)(d->bar_size[bar] - off);
		if (!(d->msix.nr && bar == d->msix.bar && msix_access(d, off, size, write, val))) {
			if (write)
				d->ops->bar_write(d, bar, off, size, *val);
			else
				*val = d->ops->bar_read(d, bar, off, size);
		}
		pthread_mutex_unlock(&d->lock);
	}
	pthread_rwlock_unlock(&b->map_lock);
	if (!claimed && !write)
		*val = ~0ull;
	return claimed;
}

static uint64_t window_read(void *opaque, uint64_t off, unsigned size)
{
	uint64_t v;

	pci_mmio_access(opaque, PCI_MMIO_BASE + off, size, false, &v);
	return v;
}

static void window_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	pci_mmio_access(opaque, PCI_MMIO_BASE + off, size, true, &val);
}

static const struct io_ops window_ops = {
	.read = window_read,
	.write = window_write,
	.self_locked = true,	/* one lock per device, not one for the whole window */
};

/* ---- Saved state --------------------------------------------------------------------------- */

void pci_device_save(struct pci_device *d, struct state_out *o)
{
	state_put_u8(o, (uint8_t)d->slot);
	state_put(o, d->cfg, PCI_CFG_SIZE);
	state_put_bool(o, d->intx);
	state_put(o, d->msix.table, 16 * (size_t)d->msix.nr);
	state_put_u64(o, d->msix.pending);
}

/* A BAR that decodes must lie inside the window, where vmon's bus sends accesses; 0 is an
 * unassigned BAR. With memory decoding off anything goes (a driver sizing its BARs writes
 * all-ones with decoding off). */
static bool bars_in_window(const uint8_t *cfg, const struct pci_device *d)
{
	if (!(cfg[PCI_COMMAND] & PCI_CMD_MEM))
		return true;
	for (int i = 0; i < PCI_BARS; i++) {
		uint64_t base = get_le32(cfg + PCI_BAR0 + 4 * i) & ~0xfu;
		if (d->bar_size[i] && base &&
		    (base < PCI_MMIO_BASE || base + d->bar_size[i] > PCI_MMIO_END))
			return false;
	}
	return true;
}

int pci_device_load(struct pci_device *d, struct state_in *in)
{
	uint8_t cfg[PCI_CFG_SIZE], table[PCI_MSIX_MAX][16];
	size_t table_len = 16 * (size_t)d->msix.nr;

	if (state_get_u8(in) != (uint8_t)d->slot)
		in->bad = true;
	state_get(in, cfg, sizeof(cfg));
	bool intx = state_get_bool(in);
	state_get(in, table, table_len);
	uint64_t pending = state_get_u64(in);
	if (in->bad)
		return -1;
	/* The read-only bits say which device this is: they must be this device's. The status
	 * register's INTx bit is the one read-only bit the device's state drives. */
	for (unsigned k = 0; k < PCI_CFG_SIZE; k++) {
		uint8_t fixed = (uint8_t)~d->wmask[k];
		if (k == PCI_STATUS)
			fixed &= (uint8_t)~PCI_STATUS_INTX;
		if ((cfg[k] ^ d->cfg[k]) & fixed)
			return -1;
	}
	if (!(cfg[PCI_STATUS] & PCI_STATUS_INTX) != !intx || !bars_in_window(cfg, d))
		return -1;
	/* Only the mask bit of each vector-control word exists. */
	for (int v = 0; v < d->msix.nr; v++)
		if (table[v][12] > MSIX_ENTRY_MASKED || table[v][13] || table[v][14] || table[v][15])
			return -1;
	if (d->msix.nr < 64 && (pending >> d->msix.nr))
		return -1;
	memcpy(d->cfg, cfg, sizeof(cfg));
	d->intx = intx;
	memcpy(d->msix.table, table, table_len);
	d->msix.pending = pending;
	return 0;
}

/* The bus's own state: the address latch and the host bridge. */
static void bus_save(void *opaque, struct state_out *o)
{
	struct pci_bus *b = opaque;

	state_put_u32(o, b->cf8);
	pci_device_save(&b->host, o);
}

static int bus_load(void *opaque, struct state_in *in)
{
	struct pci_bus *b = opaque;
	uint32_t cf8 = state_get_u32(in);

	if (cf8 & ~CF8_MASK)
		return -1;
	b->cf8 = cf8;
	return pci_device_load(&b->host, in);
}

/* ---- Bus ----------------------------------------------------------------------------------- */

int pci_plug(struct pci_bus *b, struct pci_device *d)
{
	int slot = 1;

	while (slot < PCI_SLOTS && b->dev[slot])
		slot++;
	if (slot >= PCI_SLOTS)
		return -1;
	/* Naturally aligned BARs, largest first would pack tighter; one or two small BARs per
	 * device do not need it. */
	uint64_t next = b->next_bar;
	for (int i = 0; i < PCI_BARS; i++) {
		uint32_t size = d->bar_size[i];
		if (!size)
			continue;
		next = (next + size - 1) & ~(uint64_t)(size - 1);
		if (next + size > PCI_MMIO_END)
			return -1;
		cfg_set(d, PCI_BAR0 + 4 * (unsigned)i, 4, (uint32_t)next, ~(size - 1));
		next += size;
	}
	b->next_bar = next;
	d->bus = b;
	d->slot = slot;
	d->gsi = PCI_GSI_BASE + (unsigned)slot % PCI_GSI_COUNT;
	d->cfg[PCI_INT_LINE] = (uint8_t)d->gsi;
	/* As firmware leaves it: BARs assigned and decoded. */
	d->cfg[PCI_COMMAND] |= PCI_CMD_MEM;
	pthread_rwlock_wrlock(&b->map_lock);
	b->dev[slot] = d;
	pthread_rwlock_unlock(&b->map_lock);
	return slot;
}

struct pci_bus *pci_create(struct vm *vm)
{
	struct pci_bus *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->vm = vm;
	b->next_bar = PCI_MMIO_BASE;
	pthread_rwlock_init(&b->map_lock, NULL);
	pci_device_init(&b->host, HOST_VENDOR, HOST_DEVICE, CLASS_HOST_BRIDGE, 2, 0, 0, NULL, NULL);
	cfg_set(&b->host, PCI_INT_PIN, 1, 0, 0);	/* no interrupt */
	cfg_set(&b->host, PCI_INT_LINE, 1, 0, 0);
	b->host.cfg[PCI_COMMAND] = PCI_CMD_MEM;
	b->host.bus = b;
	b->host.slot = 0;
	b->dev[0] = &b->host;
	if (bus_register(&vm->pio, PCI_CONFIG_ADDR, 8, &config_port_ops, b, "pci-config") < 0 ||
	    bus_register(&vm->mmio, PCI_MMIO_BASE, PCI_MMIO_END - PCI_MMIO_BASE, &window_ops, b,
			 "pci-window") < 0 ||
	    vm_register_state(vm, "pci", bus_save, bus_load, b) < 0) {
		pci_destroy(b);
		return NULL;
	}
	return b;
}

void pci_destroy(struct pci_bus *b)
{
	if (!b)
		return;
	pci_device_destroy(&b->host);
	pthread_rwlock_destroy(&b->map_lock);
	free(b);
}
