/* PCI: configuration mechanism #1, header fields, BAR sizing and moves, INTx, MSI-X, saved
 * state. */
#include <stdlib.h>
#include <string.h>

#include "boot_fixture.h"
#include "hw/pci.h"
#include "snapshot/state.h"
#include "test.h"
#include "vm.h"

/* What the fake engine saw of the devices' interrupts. */
static struct {
	int msis;
	uint64_t msi_addr;
	uint32_t msi_data;
	int line[32];
} seen;

static void fake_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	seen.msis++;
	seen.msi_addr = addr;
	seen.msi_data = data;
}

static void fake_irq_line(struct vm *vm, unsigned gsi, int level)
{
	if (gsi < 32)
		seen.line[gsi] = level;
}

static const struct engine_ops fake_engine = {
	.name = "fake",
	.irq_line = fake_irq_line,
	.msi = fake_msi,
};

struct dummy {
	struct pci_device pci;
	uint64_t last_off;
	int bar, reads, writes;
};

static uint64_t dummy_read(struct pci_device *d, int bar, uint64_t off, unsigned size)
{
	struct dummy *x = d->opaque;

	x->reads++;
	x->bar = bar;
	x->last_off = off;
	return 0xabcd;
}

static void dummy_write(struct pci_device *d, int bar, uint64_t off, unsigned size, uint64_t val)
{
	struct dummy *x = d->opaque;

	x->writes++;
	x->bar = bar;
	x->last_off = off;
}

static const struct pci_device_ops dummy_ops = { .bar_read = dummy_read, .bar_write = dummy_write };

static uint64_t cfg_in(struct vm *vm, uint16_t port, unsigned size)
{
	uint64_t v = 0;

	bus_access(&vm->pio, port, size, false, &v);
	return v;
}

static void cfg_out(struct vm *vm, uint16_t port, unsigned size, uint64_t val)
{
	bus_access(&vm->pio, port, size, true, &val);
}

static uint32_t cfg_read(struct vm *vm, int slot, unsigned reg, unsigned size)
{
	cfg_out(vm, 0xcf8, 4, 0x80000000u | (unsigned)slot << 11 | (reg & 0xfc));
	return (uint32_t)cfg_in(vm, (uint16_t)(0xcfc + (reg & 3)), size);
}

static void cfg_write(struct vm *vm, int slot, unsigned reg, unsigned size, uint32_t val)
{
	cfg_out(vm, 0xcf8, 4, 0x80000000u | (unsigned)slot << 11 | (reg & 0xfc));
	cfg_out(vm, (uint16_t)(0xcfc + (reg & 3)), size, val);
}

static uint64_t mmio(struct vm *vm, uint64_t gpa, unsigned size, bool write, uint64_t val)
{
	bus_access(&vm->mmio, gpa, size, write, &val);
	return val;
}

struct pci_setup {
	struct vm *vm;
	struct pci_bus *bus;
	struct dummy dev;
	int slot;
};

static bool setup(struct pci_setup *s)
{
	memset(&seen, 0, sizeof(seen));
	s->vm = boot_test_vm(1 << 20, 1);
	if (!s->vm)
		return false;
	s->vm->engine = &fake_engine;
	s->bus = pci_create(s->vm);
	if (!s->bus)
		return false;
	pci_device_init(&s->dev.pci, 0x1234, 0x5678, 0x018000, 3, 0x1af4, 0x42, &dummy_ops, &s->dev);
	pci_add_bar(&s->dev.pci, 0, 0x4000);
	pci_add_bar(&s->dev.pci, 2, 0x1000);
	pci_add_msix(&s->dev.pci, 2, 2, 0x800, 0xc00);
	s->slot = pci_plug(s->bus, &s->dev.pci);
	return s->slot > 0;
}

static void teardown(struct pci_setup *s)
{
	pci_device_destroy(&s->dev.pci);
	pci_destroy(s->bus);
	boot_test_vm_free(s->vm);
}

TEST(pci_host_bridge_and_mechanism1)
{
	struct pci_setup s;

	CHECK(setup(&s));
	if (!s.slot)
		return;
	struct vm *vm = s.vm;
	CHECK_EQ(cfg_read(vm, 0, 0, 4), 0x12378086);
	CHECK_EQ(cfg_read(vm, 0, 0x08, 4) >> 8, 0x060000);	/* host bridge class */
	/* Byte and word accesses at any offset of the data window. */
	CHECK_EQ(cfg_read(vm, 0, 2, 2), 0x1237);
	CHECK_EQ(cfg_read(vm, 0, 1, 1), 0x80);
	CHECK_EQ(cfg_read(vm, 0, 3, 1), 0x12);
	/* A dword at 0xCFD runs past the window: the bytes beyond read as all-ones. */
	cfg_out(vm, 0xcf8, 4, 0x80000000u);
	CHECK_EQ(cfg_in(vm, 0xcfd, 4) & 0xffffffff, 0xff123780);
	/* The address register latches dword writes only and reads back. */
	cfg_out(vm, 0xcf8, 4, 0x80001234u);
	CHECK_EQ(cfg_in(vm, 0xcf8, 4), 0x80001234u);
	cfg_out(vm, 0xcfb, 1, 0x01);
	CHECK_EQ(cfg_in(vm, 0xcf8, 4), 0x80001234u);
	/* Empty slots, other functions, other buses and a disabled address read all-ones. */
	CHECK_EQ(cfg_read(vm, 9, 0, 4), 0xffffffff);
	cfg_out(vm, 0xcf8, 4, 0x80000000u | 1u << 8);
	CHECK_EQ(cfg_in(vm, 0xcfc, 4), 0xffffffff);
	cfg_out(vm, 0xcf8, 4, 0x80010000u);
	CHECK_EQ(cfg_in(vm, 0xcfc, 4), 0xffffffff);
	cfg_out(vm, 0xcf8, 4, 0x00000000u);
	CHECK_EQ(cfg_in(vm, 0xcfc, 4), 0xffffffff);
	teardown(&s);
}

TEST(pci_read_only_fields_and_interrupt_pin)
{
	struct pci_setup s;

	CHECK(setup(&s));
	if (!s.slot)
		return;
	struct vm *vm = s.vm;
	CHECK_EQ(s.slot, 1);
	CHECK_EQ(cfg_read(vm, 1, 0, 4), 0x56781234);
	cfg_write(vm, 1, 0, 4, 0xffffffff);
	CHECK_EQ(cfg_read(vm, 1, 0, 4), 0x56781234);
	cfg_write(vm, 1, 0x08, 4, 0);
	CHECK_EQ(cfg_read(vm, 1, 0x08, 4), 0x01800003);
	cfg_write(vm, 1, 0x2c, 4, 0);
	CHECK_EQ(cfg_read(vm, 1, 0x2c, 4), 0x00421af4);
	/* Status: capability list, not writable. */
	cfg_write(vm, 1, 0x06, 2, 0xffff);
	CHECK_EQ(cfg_read(vm, 1, 0x06, 2), 0x0010);
	/* INTA#, line = GSI 16 + slot; the line register is the OS's scratch. */
	CHECK_EQ(cfg_read(vm, 1, 0x3d, 1), 1);
	CHECK_EQ(cfg_read(vm, 1, 0x3c, 1), 17);
	cfg_write(vm, 1, 0x3c, 1, 0x0b);
	CHECK_EQ(cfg_read(vm, 1, 0x3c, 1), 0x0b);
	/* Capability list: MSI-X at the head, within the header's 256 bytes. */
	uint8_t cap = (uint8_t)cfg_read(vm, 1, 0x34, 1);
	CHECK(cap >= 0x40);
	CHECK_EQ(cfg_read(vm, 1, cap, 1), PCI_CAP_MSIX);
	CHECK_EQ(cfg_read(vm, 1, cap + 2, 2), 1);	/* 2 vectors */
	CHECK_EQ(cfg_read(vm, 1, cap + 4, 4), 0x800 | 2);
	CHECK_EQ(cfg_read(vm, 1, cap + 8, 4), 0xc00 | 2);
	teardown(&s);
}

TEST(pci_bar_sizing_and_moves)
{
	struct pci_setup s;

	CHECK(setup(&s));
	if (!s.slot)
		return;
	struct vm *vm = s.vm;
	uint32_t bar0 = cfg_read(vm, 1, 0x10, 4);
	CHECK_EQ(bar0, PCI_MMIO_BASE);
	CHECK_EQ(cfg_read(vm, 1, 0x18, 4), PCI_MMIO_BASE + 0x4000);	/* BAR 2 */
	CHECK_EQ(cfg_read(vm, 1, 0x14, 4), 0);				/* no BAR 1 */
	CHECK_EQ(cfg_read(vm, 1, 0x04, 2) & PCI_CMD_MEM, PCI_CMD_MEM);

	CHECK_EQ(mmio(vm, bar0 + 0x10, 4, false, 0), 0xabcd);
	CHECK_EQ(s.dev.bar, 0);
	CHECK_EQ(s.dev.last_off, 0x10);

	/* Sizing: all-ones reads back the size mask; unused BARs stay 0. */
	cfg_write(vm, 1, 0x10, 4, 0xffffffff);
	CHECK_EQ(cfg_read(vm, 1, 0x10, 4), 0xffffc000);
	cfg_write(vm, 1, 0x14, 4, 0xffffffff);
	CHECK_EQ(cfg_read(vm, 1, 0x14, 4), 0);

	/* Moved: the old address is dead, the new one decodes. */
	cfg_write(vm, 1, 0x10, 4, 0xe0000000);
	int reads = s.dev.reads;
	CHECK_EQ(mmio(vm, bar0 + 0x10, 4, false, 0), 0xffffffff);
	CHECK_EQ(s.dev.reads, reads);
	CHECK_EQ(mmio(vm, 0xe0000020, 2, false, 0), 0xabcd);
	CHECK_EQ(s.dev.last_off, 0x20);
	/* An unaligned address written to a BAR is rounded down to its size. */
	cfg_write(vm, 1, 0x10, 4, 0xe0001234);
	CHECK_EQ(cfg_read(vm, 1, 0x10, 4), 0xe0000000);

	/* Memory decoding off: nothing answers. */
	cfg_write(vm, 1, 0x04, 2, 0);
	CHECK_EQ(mmio(vm, 0xe0000020, 4, false, 0), 0xffffffff);
	cfg_write(vm, 1, 0x04, 2, PCI_CMD_MEM);
	CHECK_EQ(mmio(vm, 0xe0000020, 4, false, 0), 0xabcd);
	teardown(&s);
}

TEST(pci_intx_and_disable_bit)
{
	struct pci_setup s;

	CHECK(setup(&s));
	if (!s.slot)
		return;
	struct vm *vm = s.vm;
	pthread_mutex_lock(&s.dev.pci.lock);
	pci_set_irq(&s.dev.pci, true);
	pthread_mutex_unlock(&s.dev.pci.lock);
	CHECK_EQ(seen.line[17], 1);
	CHECK_EQ(cfg_read(vm, 1, 0x06, 2) & PCI_STATUS_INTX, PCI_STATUS_INTX);
	cfg_write(vm, 1, 0x04, 2, PCI_CMD_MEM | PCI_CMD_INTX_OFF);
	CHECK_EQ(seen.line[17], 0);
	cfg_write(vm, 1, 0x04, 2, PCI_CMD_MEM);
	CHECK_EQ(seen.line[17], 1);
	pthread_mutex_lock(&s.dev.pci.lock);
	pci_set_irq(&s.dev.pci, false);
	pthread_mutex_unlock(&s.dev.pci.lock);
	CHECK_EQ(seen.line[17], 0);
	CHECK_EQ(cfg_read(vm, 1, 0x06, 2) & PCI_STATUS_INTX, 0);
	teardown(&s);
}

TEST(pci_msix_table_mask_and_pending)
{
	struct pci_setup s;

	CHECK(setup(&s));
	if (!s.slot)
		return;
	struct vm *vm = s.vm;
	uint8_t cap = (uint8_t)cfg_read(vm, 1, 0x34, 1);
	uint64_t table = PCI_MMIO_BASE + 0x4000 + 0x800, pba = PCI_MMIO_BASE + 0x4000 + 0xc00;

	/* Reset state: every vector masked. */
	CHECK_EQ(mmio(vm, table + 12, 4, false, 0), 1);
	mmio(vm, table + 16, 8, true, 0xfee01000);	/* vector 1 -> APIC 1 */
	mmio(vm, table + 24, 4, true, 0x41);
	CHECK_EQ(mmio(vm, table + 16, 4, false, 0), 0xfee01000);

	/* Not enabled: nothing happens; enabled but masked: pending. */
	pthread_mutex_lock(&s.dev.pci.lock);
	pci_msix_notify(&s.dev.pci, 1);
	pthread_mutex_unlock(&s.dev.pci.lock);
	CHECK_EQ(seen.msis, 0);
	cfg_write(vm, 1, cap + 2, 2, 0x8000);
	cfg_write(vm, 1, 0x04, 2, PCI_CMD_MEM | PCI_CMD_MASTER);
	pthread_mutex_lock(&s.dev.pci.lock);
	CHECK(pci_msix_enabled(&s.dev.pci));
	pci_msix_notify(&s.dev.pci, 1);
	pci_msix_notify(&s.dev.pci, 7);			/* no such vector: ignored */
	pthread_mutex_unlock(&s.dev.pci.lock);
	CHECK_EQ(seen.msis, 0);
	CHECK_EQ(mmio(vm, pba, 8, false, 0), 2);
	mmio(vm, pba, 8, true, 0);			/* the PBA is read-only */
	CHECK_EQ(mmio(vm, pba, 8, false, 0), 2);

	/* Unmasking delivers the pending message. Only bit 0 of vector control sticks. */
	mmio(vm, table + 28, 4, true, 0xfffffffe);
	CHECK_EQ(mmio(vm, table + 28, 4, false, 0), 0);
	CHECK_EQ(seen.msis, 1);
	CHECK_EQ(seen.msi_addr, 0xfee01000);
	CHECK_EQ(seen.msi_data, 0x41);
	CHECK_EQ(mmio(vm, pba, 8, false, 0), 0);

	/* Function mask holds messages back too; no bus mastering, no MSI. */
	cfg_write(vm, 1, cap + 2, 2, 0xc000);
	pthread_mutex_lock(&s.dev.pci.lock);
	pci_msix_notify(&s.dev.pci, 1);
	pthread_mutex_unlock(&s.dev.pci.lock);
	CHECK_EQ(seen.msis, 1);
	cfg_write(vm, 1, cap + 2, 2, 0x8000);
	CHECK_EQ(seen.msis, 2);
	cfg_write(vm, 1, 0x04, 2, PCI_CMD_MEM);
	pthread_mutex_lock(&s.dev.pci.lock);
	pci_msix_notify(&s.dev.pci, 1);
	pthread_mutex_unlock(&s.dev.pci.lock);
	CHECK_EQ(seen.msis, 2);
	teardown(&s);
}

/* The function's saved bytes; *len their count. */
static uint8_t *save_fn(struct pci_device *d, size_t *len)
{
	struct state_out o = { 0 };

	pthread_mutex_lock(&d->lock);
	pci_device_save(d, &o);
	pthread_mutex_unlock(&d->lock);
	*len = o.len;
	return o.buf;
}

static int load_fn(struct pci_device *d, const uint8_t *p, size_t len)
{
	struct state_in in = { .p = p, .len = len };

	pthread_mutex_lock(&d->lock);
	int ret = pci_device_load(d, &in);
	pthread_mutex_unlock(&d->lock);
	return ret < 0 || !state_in_ok(&in) ? -1 : 0;
}

/* Loads a copy of p with byte off xor-ed with x (or set to x, with set): must be refused. */
static bool refused(struct pci_device *d, const uint8_t *p, size_t len, size_t off, uint8_t x,
		    bool set)
{
	uint8_t buf[1024];

	memcpy(buf, p, len);
	buf[off] = set ? x : buf[off] ^ x;
	return load_fn(d, buf, len) < 0;
}

#define SAVED_CFG	1				/* after the slot byte */
#define SAVED_INTX	(SAVED_CFG + PCI_CFG_SIZE)
#define SAVED_TABLE	(SAVED_INTX + 1)

TEST(pci_state_round_trip_and_corruption)
{
	struct pci_setup a, b;

	CHECK(setup(&a));
	CHECK(setup(&b));
	if (!a.slot || !b.slot)
		return;
	/* The guest moves BAR 0, enables MSI-X, programs a vector, raises INTx; a message goes
	 * pending on the masked vector 0. */
	uint8_t cap = (uint8_t)cfg_read(a.vm, 1, 0x34, 1);
	cfg_write(a.vm, 1, 0x10, 4, 0xd0000000);
	cfg_write(a.vm, 1, 0x04, 2, PCI_CMD_MEM | PCI_CMD_MASTER);
	cfg_write(a.vm, 1, 0x3c, 1, 11);
	uint64_t table = PCI_MMIO_BASE + 0x4000 + 0x800;
	mmio(a.vm, table + 16, 8, true, 0xfee00000);
	mmio(a.vm, table + 24, 4, true, 0x31);
	mmio(a.vm, table + 28, 4, true, 0);
	cfg_write(a.vm, 1, cap + 2, 2, 0x8000);
	pthread_mutex_lock(&a.dev.pci.lock);
	pci_set_irq(&a.dev.pci, true);
	pci_msix_notify(&a.dev.pci, 0);
	pthread_mutex_unlock(&a.dev.pci.lock);
	cfg_out(a.vm, 0xcf8, 4, 0x80000804u);

	/* Save, load elsewhere, save again: the same bytes; and the bus's own state. */
	size_t len, len2;
	uint8_t *p = save_fn(&a.dev.pci, &len);
	CHECK_EQ(load_fn(&b.dev.pci, p, len), 0);
	uint8_t *p2 = save_fn(&b.dev.pci, &len2);
	CHECK(len == len2 && !memcmp(p, p2, len));
	free(p2);
	struct vm_state_entry *ea = &a.vm->state[0], *eb = &b.vm->state[0];
	CHECK(!strcmp(ea->name, "pci") && !strcmp(eb->name, "pci"));
	struct state_out o = { 0 }, o2 = { 0 };
	ea->save(ea->opaque, &o);
	struct state_in in = { .p = o.buf, .len = o.len };
	CHECK_EQ(eb->load(eb->opaque, &in), 0);
	CHECK(state_in_ok(&in));
	eb->save(eb->opaque, &o2);
	CHECK(o.len == o2.len && !memcmp(o.buf, o2.buf, o.len));

	/* b now behaves as a did: BAR 0 moved, MSI-X on, vector 1 delivers, vector 0 pending, the
	 * address latch kept, INTx status shown (the line level is the interrupt controller's). */
	CHECK_EQ(cfg_in(b.vm, 0xcf8, 4), 0x80000804u);
	CHECK_EQ(cfg_read(b.vm, 1, 0x10, 4), 0xd0000000);
	CHECK_EQ(cfg_read(b.vm, 1, 0x3c, 1), 11);
	CHECK_EQ(cfg_read(b.vm, 1, 0x06, 2) & PCI_STATUS_INTX, PCI_STATUS_INTX);
	CHECK_EQ(mmio(b.vm, 0xd0000000, 4, false, 0), 0xabcd);
	CHECK_EQ(mmio(b.vm, table + 0xc00 - 0x800, 8, false, 0), 1);	/* PBA */
	seen.msis = 0;
	pthread_mutex_lock(&b.dev.pci.lock);
	pci_msix_notify(&b.dev.pci, 1);
	pthread_mutex_unlock(&b.dev.pci.lock);
	CHECK_EQ(seen.msis, 1);
	CHECK_EQ(seen.msi_data, 0x31);

	/* Refused: another slot; a read-only field (device ID, BAR type bits, header type); a
	 * decoded BAR outside the window; INTx status without INTx; reserved vector-control
	 * bits; a pending bit beyond the table; a short section; an address latch with reserved
	 * bits. */
	CHECK(refused(&b.dev.pci, p, len, 0, 2, true));
	CHECK(refused(&b.dev.pci, p, len, SAVED_CFG + PCI_DEVICE_ID, 1, false));
	CHECK(refused(&b.dev.pci, p, len, SAVED_CFG + PCI_BAR0, 0x08, false));
	CHECK(refused(&b.dev.pci, p, len, SAVED_CFG + PCI_HEADER_TYPE, 0x80, false));
	CHECK(refused(&b.dev.pci, p, len, SAVED_CFG + PCI_BAR0 + 3, 0x10, true));
	CHECK(refused(&b.dev.pci, p, len, SAVED_CFG + PCI_BAR0 + 3, 0xff, true));
	CHECK(refused(&b.dev.pci, p, len, SAVED_INTX, 0, true));
	CHECK(refused(&b.dev.pci, p, len, SAVED_INTX, 2, true));
	CHECK(refused(&b.dev.pci, p, len, SAVED_TABLE + 12, 2, true));
	CHECK(refused(&b.dev.pci, p, len, SAVED_TABLE + 16 + 13, 1, true));
	CHECK(refused(&b.dev.pci, p, len, len - 8, 4, true));
	CHECK(load_fn(&b.dev.pci, p, len - 1) < 0);
	/* Outside the window is fine with decoding off (a driver sizing the BAR). */
	uint8_t buf[1024];
	memcpy(buf, p, len);
	buf[SAVED_CFG + PCI_BAR0 + 3] = 0xff;
	buf[SAVED_CFG + PCI_COMMAND] &= (uint8_t)~PCI_CMD_MEM;
	CHECK_EQ(load_fn(&b.dev.pci, buf, len), 0);
	o.buf[0] |= 1;					/* cf8 bit 0 is reserved */
	in = (struct state_in){ .p = o.buf, .len = o.len };
	CHECK(eb->load(eb->opaque, &in) < 0);

	free(p);
	state_out_free(&o);
	state_out_free(&o2);
	teardown(&a);
	teardown(&b);
}
