/* PCI: configuration mechanism #1, header fields, BAR sizing and moves, INTx, MSI-X. */
#include <string.h>

#include "boot_fixture.h"
#include "hw/pci.h"
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
