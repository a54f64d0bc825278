#include <string.h>

#include "boot/acpi.h"
#include "util/bytes.h"
#include "boot_fixture.h"
#include "hw/acpi_pm.h"
#include "test.h"
#include "vm.h"

#define BASE 0xe0000

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

/* The table at guest address gpa inside buf, if its signature and checksum are right. */
static const uint8_t *table(const uint8_t *buf, size_t used, uint32_t gpa, const char *sig)
{
	if (gpa < BASE || gpa - BASE + ACPI_HDR_SIZE > used)
		return NULL;
	const uint8_t *t = buf + (gpa - BASE);
	uint32_t len = get_le32(t + 4);
	if (memcmp(t, sig, 4) || gpa - BASE + len > used || sum(t, len))
		return NULL;
	return t;
}

TEST(acpi_tables)
{
	static uint8_t buf[4096];
	size_t used = acpi_build(buf, sizeof(buf), BASE, 4);

	CHECK(used > 0);
	CHECK(!memcmp(buf, "RSD PTR ", 8));
	CHECK_EQ(sum(buf, ACPI_RSDP_SIZE), 0);
	CHECK_EQ(buf[15], 0);				/* revision 0: RSDT */

	const uint8_t *rsdt = table(buf, used, get_le32(buf + 16), "RSDT");
	CHECK(rsdt != NULL);
	if (!rsdt)
		return;
	CHECK_EQ(get_le32(rsdt + 4), ACPI_HDR_SIZE + 8);
	const uint8_t *fadt = table(buf, used, get_le32(rsdt + 36), "FACP");
	const uint8_t *madt = table(buf, used, get_le32(rsdt + 40), "APIC");
	CHECK(fadt && madt);
	if (!fadt || !madt)
		return;

	CHECK_EQ(get_le32(fadt + 4), ACPI_FADT_SIZE);
	CHECK_EQ(get_le16(fadt + 46), 9);		/* SCI_INT */
	CHECK_EQ(get_le32(fadt + 48), 0);		/* SMI_CMD */
	CHECK_EQ(get_le32(fadt + 56), ACPI_PM1A_EVT_PORT);
	CHECK_EQ(get_le32(fadt + 64), ACPI_PM1A_CNT_PORT);
	CHECK_EQ(get_le32(fadt + 76), ACPI_PM_TMR_PORT);
	CHECK_EQ(fadt[88], 4);
	CHECK_EQ(fadt[89], 2);
	CHECK_EQ(fadt[91], 4);
	CHECK_EQ(get_le32(fadt + 112) & (1u << 20), 0);	/* not HW_REDUCED */

	uint32_t facs = get_le32(fadt + 36);
	CHECK_EQ(facs % 64, 0);
	CHECK(!memcmp(buf + (facs - BASE), "FACS", 4));

	const uint8_t *dsdt = table(buf, used, get_le32(fadt + 40), "DSDT");
	CHECK(dsdt != NULL);
	if (dsdt) {
		static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
					      0x0a, ACPI_S5_SLP_TYP, 0x0a, ACPI_S5_SLP_TYP, 0, 0 };
		/* _S5_ first, then \\_SB.PCI0 with its PNP0A03 _HID and a _PRT for 31 slots x 4
		 * pins (iasl -d shows the whole of it). */
		static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
		static const uint8_t prt[] = { 0x08, '_', 'P', 'R', 'T', 0x12 };
		/* The keyboard controller: PNP0303 with ports 0x60 and 0x64 and IRQ 1, and no
		 * PS/2 mouse device (Linux would probe an AUX port the i8042 does not have). */
		static const uint8_t kbd_hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x03, 0x03 };
		static const uint8_t kbd_crs[] = { 0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01,
						   0x47, 0x01, 0x64, 0x00, 0x64, 0x00, 0x01, 0x01,
						   0x22, 0x02, 0x00, 0x79, 0x00 };
		static const uint8_t mouse_hid[] = { 0x41, 0xd0, 0x0f, 0x13 };
		uint32_t dlen = get_le32(dsdt + 4);
		CHECK(!memcmp(dsdt + ACPI_HDR_SIZE, s5, sizeof(s5)));
		CHECK(memmem(dsdt, dlen, "\\_SB_", 5) != NULL);
		CHECK(memmem(dsdt, dlen, "PCI0", 4) != NULL);
		CHECK(memmem(dsdt, dlen, hid, sizeof(hid)) != NULL);
		CHECK(memmem(dsdt, dlen, kbd_hid, sizeof(kbd_hid)) != NULL);
		CHECK(memmem(dsdt, dlen, kbd_crs, sizeof(kbd_crs)) != NULL);
		CHECK(memmem(dsdt, dlen, mouse_hid, sizeof(mouse_hid)) == NULL);
		const uint8_t *p = memmem(dsdt, dlen, prt, sizeof(prt));
		CHECK(p != NULL);
		if (p)
			CHECK_EQ(p[sizeof(prt) + 2], 124);	/* after a 2-byte PkgLength */
	}

	/* MADT: one enabled local APIC per CPU, the IOAPIC, IRQ0 -> GSI 2, SCI level/high. */
	int lapics = 0, ioapics = 0, isos = 0, nmis = 0;
	uint32_t len = get_le32(madt + 4);
	CHECK_EQ(get_le32(madt + 36), 0xfee00000);
	for (uint32_t off = 44; off + 2 <= len && madt[off + 1] >= 2; off += madt[off + 1]) {
		const uint8_t *e = madt + off;

		switch (e[0]) {
		case 0:
			CHECK_EQ(e[3], lapics);
			CHECK_EQ(get_le32(e + 4) & 1, 1);
			lapics++;
			break;
		case 1:
			CHECK_EQ(e[2], 4);
			CHECK_EQ(get_le32(e + 4), 0xfec00000);
			ioapics++;
			break;
		case 2:
			if (e[3] == 0)
				CHECK_EQ(get_le32(e + 4), 2);
			if (e[3] == 9)
				CHECK_EQ(get_le16(e + 8), 0xd);
			isos++;
			break;
		case 4:
			CHECK_EQ(e[5], 1);
			nmis++;
			break;
		}
	}
	CHECK_EQ(lapics, 4);
	CHECK_EQ(ioapics, 1);
	CHECK_EQ(isos, 2);
	CHECK_EQ(nmis, 1);
}

TEST(acpi_madt_max_cpus_and_small_buffer)
{
	static uint8_t buf[4096];
	size_t used = acpi_build(buf, sizeof(buf), BASE, VM_MAX_CPUS);

	CHECK(used > 0 && used <= sizeof(buf));
	CHECK_EQ(acpi_build(buf, 200, BASE, 1), 0);
}

static uint64_t pm_in(struct vm *vm, uint16_t port, unsigned size)
{
	uint64_t val = 0;

	bus_access(&vm->pio, port, size, false, &val);
	return val;
}

static void pm_out(struct vm *vm, uint16_t port, unsigned size, uint64_t val)
{
	bus_access(&vm->pio, port, size, true, &val);
}

TEST(acpi_pm_registers)
{
	struct vm *vm = boot_test_vm(1 << 20, 1);

	CHECK(vm != NULL);
	if (!vm)
		return;
	vm->acpi_pm = acpi_pm_create(vm);
	CHECK(vm->acpi_pm != NULL);

	/* Always in ACPI mode; nothing pending. */
	CHECK_EQ(pm_in(vm, ACPI_PM1A_CNT_PORT, 2), ACPI_PM1_CNT_SCI_EN);
	CHECK_EQ(pm_in(vm, ACPI_PM1A_EVT_PORT, 2), 0);

	/* Enable register keeps what is written, also byte by byte; status is write-1-to-clear. */
	pm_out(vm, ACPI_PM1A_EVT_PORT + 2, 2, 0x0121);
	CHECK_EQ(pm_in(vm, ACPI_PM1A_EVT_PORT + 2, 2), 0x0121);
	pm_out(vm, ACPI_PM1A_EVT_PORT + 3, 1, 0x03);
	CHECK_EQ(pm_in(vm, ACPI_PM1A_EVT_PORT, 4), 0x03210000);
	pm_out(vm, ACPI_PM1A_EVT_PORT, 2, 0xffff);
	CHECK_EQ(pm_in(vm, ACPI_PM1A_EVT_PORT, 2), 0);

	/* A sleep state other than S5: ignored, SLP_EN reads back 0. */
	pm_out(vm, ACPI_PM1A_CNT_PORT, 2, (1u << 10) | ACPI_PM1_CNT_SLP_EN);
	CHECK(!atomic_load(&vm->stop_requested));
	CHECK_EQ(pm_in(vm, ACPI_PM1A_CNT_PORT, 2), (1u << 10) | ACPI_PM1_CNT_SCI_EN);

	/* Linux's poweroff: SLP_TYP first, then SLP_TYP | SLP_EN. */
	uint16_t s5 = ACPI_S5_SLP_TYP << ACPI_PM1_CNT_SLP_TYP_SHIFT;
	pm_out(vm, ACPI_PM1A_CNT_PORT, 2, s5 | ACPI_PM1_CNT_SCI_EN);
	CHECK(!atomic_load(&vm->stop_requested));
	pm_out(vm, ACPI_PM1A_CNT_PORT, 2, s5 | ACPI_PM1_CNT_SCI_EN | ACPI_PM1_CNT_SLP_EN);
	CHECK(atomic_load(&vm->stop_requested));
	CHECK_EQ(atomic_load(&vm->exit_status), 0);

	/* The hole at 0x606 and a read straddling the block end. */
	CHECK_EQ(pm_in(vm, ACPI_PM1A_CNT_PORT + 2, 2), 0xffff);
	CHECK_EQ(pm_in(vm, ACPI_PM_TMR_PORT + 3, 4) >> 8, 0xffffff);
	CHECK_EQ(pm_in(vm, ACPI_PM_TMR_PORT, 4) >> 24, 0);	/* 24-bit timer */

	boot_test_vm_free(vm);
}

TEST(acpi_pm_byte_writes_power_off)
{
	struct vm *vm = boot_test_vm(1 << 20, 1);

	CHECK(vm != NULL);
	if (!vm)
		return;
	vm->acpi_pm = acpi_pm_create(vm);
	/* SLP_TYP and SLP_EN both live in the high byte. */
	pm_out(vm, ACPI_PM1A_CNT_PORT + 1, 1,
	       ((ACPI_S5_SLP_TYP << ACPI_PM1_CNT_SLP_TYP_SHIFT) | ACPI_PM1_CNT_SLP_EN) >> 8);
	CHECK(atomic_load(&vm->stop_requested));
	boot_test_vm_free(vm);
}

TEST(acpi_pm_timer_frequency)
{
	CHECK_EQ(acpi_pm_timer_ticks(0), 0);
	CHECK_EQ(acpi_pm_timer_ticks(1000000000ull), 3579545);
	CHECK_EQ(acpi_pm_timer_ticks(500000000ull), 1789772);
	/* 24 bits wrap: 5 s is 17897725 ticks. */
	CHECK_EQ(acpi_pm_timer_ticks(5000000000ull), 17897725 - (1 << 24));
	/* No overflow for a host that has been up for years. */
	uint64_t ns = 100000000000000000ull;	/* ~3 years */
	CHECK_EQ(acpi_pm_timer_ticks(ns), (uint32_t)((ns / 1000000000ull * 3579545ull) & 0xffffff));
}
