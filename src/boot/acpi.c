#include "boot/acpi.h"

#include <stdbool.h>
#include <string.h>

#include "util/bytes.h"
#include "boot/dsdt.h"
#include "hw/acpi_pm.h"
#include "hw/irqchip.h"

#define OEM_ID		"VMON  "
#define OEM_TABLE_ID	"VMONVMON"
#define CREATOR_ID	"VMON"

#define FACS_SIZE	64

/* FADT flags (ACPI 1.0 table 5-9). */
#define FADT_WBINVD		(1u << 0)
#define FADT_PROC_C1		(1u << 2)
#define FADT_PWR_BUTTON		(1u << 4)	/* no fixed power button */
#define FADT_SLP_BUTTON		(1u << 5)	/* no fixed sleep button */

/* MADT entries. */
#define MADT_LAPIC		0
#define MADT_IOAPIC		1
#define MADT_ISO		2
#define MADT_LAPIC_NMI		4
#define MADT_PCAT_COMPAT	(1u << 0)
#define MADT_ENABLED		(1u << 0)
#define MPS_ACTIVE_HIGH		0x1
#define MPS_LEVEL		(0x3 << 2)
#define ALL_PROCESSORS		0xff

/* The DSDT's AML is built once per table set; this bounds it (about 1.8 KiB today). */
#define DSDT_AML_MAX		2048

/* Hands out aligned pieces of buf; gpa of a piece is base + offset. */
struct area {
	uint8_t *buf;
	size_t cap, used;
	uint64_t base;
	bool overflow;
};

static uint8_t *take(struct area *a, size_t size, size_t align, uint32_t *gpa)
{
	size_t off = (a->used + align - 1) & ~(align - 1);

	*gpa = 0;
	if (off > a->cap || size > a->cap - off) {
		a->overflow = true;
		return NULL;
	}
	a->used = off + size;
	*gpa = (uint32_t)(a->base + off);
	memset(a->buf + off, 0, size);
	return a->buf + off;
}

static void header(uint8_t *t, const char sig[4], uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put_le32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, OEM_ID, 6);
	memcpy(t + 16, OEM_TABLE_ID, 8);
	put_le32(t + 24, 1);		/* OEM revision */
	memcpy(t + 28, CREATOR_ID, 4);
	put_le32(t + 32, 1);		/* creator revision */
}

/* Last step of every table: the checksum over its whole length. */
static void seal(uint8_t *t)
{
	t[9] = 0;
	t[9] = checksum8(t, get_le32(t + 4));
}

static void build_fadt(uint8_t *t, uint32_t facs, uint32_t dsdt)
{
	header(t, "FACP", ACPI_FADT_SIZE, 1);
	put_le32(t + 36, facs);
	put_le32(t + 40, dsdt);
	t[44] = 1;					/* INT_MODEL: multiple APIC */
	put_le16(t + 46, ACPI_SCI_IRQ);
	put_le32(t + 48, 0);				/* SMI_CMD: always in ACPI mode */
	put_le32(t + 56, ACPI_PM1A_EVT_PORT);
	put_le32(t + 64, ACPI_PM1A_CNT_PORT);
	put_le32(t + 76, ACPI_PM_TMR_PORT);
	t[88] = ACPI_PM1_EVT_LEN;
	t[89] = ACPI_PM1_CNT_LEN;
	t[91] = ACPI_PM_TMR_LEN;
	put_le16(t + 96, 101);				/* P_LVL2_LAT > 100: no C2 */
	put_le16(t + 98, 1001);				/* P_LVL3_LAT > 1000: no C3 */
	put_le32(t + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON);
	seal(t);
}

static size_t madt_size(int cpus)
{
	return ACPI_HDR_SIZE + 8 + 8 * (size_t)cpus + 12 + 2 * 10 + 6;
}

static void put_iso(uint8_t *e, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	e[0] = MADT_ISO;
	e[1] = 10;
	e[2] = 0;			/* ISA bus */
	e[3] = irq;
	put_le32(e + 4, gsi);
	put_le16(e + 8, flags);
}

static void build_madt(uint8_t *t, int cpus)
{
	uint32_t len = (uint32_t)madt_size(cpus);
	uint8_t *e = t + ACPI_HDR_SIZE + 8;

	header(t, "APIC", len, 1);
	put_le32(t + 36, (uint32_t)LAPIC_DEFAULT_BASE);
	put_le32(t + 40, MADT_PCAT_COMPAT);	/* the 8259s exist; Linux masks them */
	for (int i = 0; i < cpus; i++, e += 8) {
		e[0] = MADT_LAPIC;
		e[1] = 8;
		e[2] = (uint8_t)i;		/* processor UID */
		e[3] = (uint8_t)i;		/* APIC ID */
		put_le32(e + 4, MADT_ENABLED);
	}
	e[0] = MADT_IOAPIC;
	e[1] = 12;
	e[2] = (uint8_t)cpus;			/* IOAPIC ID after the CPUs', as in the MP table */
	put_le32(e + 4, (uint32_t)IOAPIC_BASE);
	put_le32(e + 8, 0);			/* GSI base */
	e += 12;
	put_iso(e, 0, 2, 0);			/* PIT on IOAPIC pin 2, bus default polarity */
	e += 10;
	put_iso(e, ACPI_SCI_IRQ, ACPI_SCI_IRQ, MPS_ACTIVE_HIGH | MPS_LEVEL);
	e += 10;
	e[0] = MADT_LAPIC_NMI;
	e[1] = 6;
	e[2] = ALL_PROCESSORS;
	put_le16(e + 3, 0);
	e[5] = 1;				/* LINT1 */
	seal(t);
}

size_t acpi_build(uint8_t *buf, size_t cap, uint64_t base, int cpus)
{
	struct area a = { .buf = buf, .cap = cap, .base = base };
	uint8_t aml[DSDT_AML_MAX];
	size_t aml_len = dsdt_build(aml, sizeof(aml));
	uint32_t rsdp_gpa, rsdt_gpa, facs_gpa, fadt_gpa, dsdt_gpa, madt_gpa;
	uint8_t *rsdp = take(&a, ACPI_RSDP_SIZE, 16, &rsdp_gpa);
	uint8_t *rsdt = take(&a, ACPI_HDR_SIZE + 2 * 4, 16, &rsdt_gpa);
	uint8_t *facs = take(&a, FACS_SIZE, 64, &facs_gpa);
	uint8_t *fadt = take(&a, ACPI_FADT_SIZE, 16, &fadt_gpa);
	uint8_t *dsdt = take(&a, ACPI_HDR_SIZE + aml_len, 16, &dsdt_gpa);
	uint8_t *madt = take(&a, madt_size(cpus), 16, &madt_gpa);

	if (a.overflow || !aml_len)
		return 0;

	memcpy(facs, "FACS", 4);
	put_le32(facs + 4, FACS_SIZE);

	header(dsdt, "DSDT", (uint32_t)(ACPI_HDR_SIZE + aml_len), 1);
	memcpy(dsdt + ACPI_HDR_SIZE, aml, aml_len);
	seal(dsdt);

	build_fadt(fadt, facs_gpa, dsdt_gpa);
	build_madt(madt, cpus);

	header(rsdt, "RSDT", ACPI_HDR_SIZE + 2 * 4, 1);
	put_le32(rsdt + ACPI_HDR_SIZE, fadt_gpa);
	put_le32(rsdt + ACPI_HDR_SIZE + 4, madt_gpa);
	seal(rsdt);

	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, OEM_ID, 6);
	rsdp[15] = 0;				/* revision 0: ACPI 1.0, RSDT only */
	put_le32(rsdp + 16, rsdt_gpa);
	rsdp[8] = checksum8(rsdp, ACPI_RSDP_SIZE);
	return a.used;
}
