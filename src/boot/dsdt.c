/* The DSDT's AML, written out byte by byte (ACPI 6.x, chapter 20 "ACPI Machine Language"):
 *
 *   Name (_S5, Package () { ACPI_S5_SLP_TYP, ACPI_S5_SLP_TYP, 0, 0 })
 *   Scope (\_SB) {
 *     Device (PCI0) {
 *       Name (_HID, EisaId ("PNP0A03"))  Name (_ADR, 0)  Name (_UID, 0)
 *       Name (_CRS, ResourceTemplate () {  bus 0-255, config ports 0xcf8-0xcff,
 *                 I/O 0-0xcf7 and 0xd00-0xffff, memory PCI_MMIO_BASE..PCI_MMIO_END-1 })
 *       Name (_PRT, Package () { Package () { 0xSSSSFFFF, pin, 0, GSI }, ... })
 *     }
 *     Device (KBD) {
 *       Name (_HID, EisaId ("PNP0303"))
 *       Name (_CRS, ResourceTemplate () { I/O 0x60, I/O 0x64, IRQ 1 })
 *     }
 *   }
 *
 * Linux with ACPI finds PCI root buses only through a PNP0A03 device; its _CRS windows are where
 * BARs may live, and _PRT routes INTx straight to IOAPIC pins (no link devices), which ACPI
 * defines as level-triggered, active-low. The i8042 is described as a keyboard controller with no
 * PS/2 mouse (PNP0F13) device, which it does not have: Linux then skips its AUX port probe, whose
 * loopback command a controller without that port never answers (0.75 s of timeouts per boot).
 */
#include <stdbool.h>
#include <string.h>

#include "util/bytes.h"
#include "boot/dsdt.h"
#include "hw/acpi_pm.h"
#include "hw/pci.h"

enum {
	AML_ZERO = 0x00, AML_NAME = 0x08, AML_BYTE = 0x0a, AML_WORD = 0x0b, AML_DWORD = 0x0c,
	AML_SCOPE = 0x10, AML_BUFFER = 0x11, AML_PACKAGE = 0x12, AML_EXT = 0x5b, AML_DEVICE = 0x82,
	AML_ROOT = 0x5c,
};

struct aml {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
};

static void emit(struct aml *a, const void *bytes, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->p + a->len, bytes, n);
	a->len += n;
}

static void emit_byte(struct aml *a, uint8_t b)
{
	emit(a, &b, 1);
}

static void emit_dword(struct aml *a, uint32_t v)
{
	uint8_t b[5] = { AML_DWORD };

	put_le32(b + 1, v);
	emit(a, b, sizeof(b));
}

/* An integer in the smallest encoding ACPICA would pick for a constant. */
static void emit_int(struct aml *a, uint32_t v)
{
	if (v <= 1)
		emit_byte(a, (uint8_t)v);	/* ZeroOp / OneOp */
	else if (v <= 0xff)
		emit(a, (uint8_t[]){ AML_BYTE, (uint8_t)v }, 2);
	else if (v <= 0xffff)
		emit(a, (uint8_t[]){ AML_WORD, (uint8_t)v, (uint8_t)(v >> 8) }, 3);
	else
		emit_dword(a, v);
}

/* Opens a PkgLength-prefixed object: returns where its content starts. Closed by close_pkg(),
 * which moves the content to make room for the length's encoding. */
static size_t open_pkg(struct aml *a, const uint8_t *op, size_t op_len)
{
	emit(a, op, op_len);
	return a->len;
}

static void close_pkg(struct aml *a, size_t start)
{
	if (a->overflow)
		return;
	size_t body = a->len - start;
	/* PkgLength counts itself: 1 byte up to 63, then 2 (4095), 3 (1 MiB). */
	size_t n = body + 1 < 64 ? 1 : body + 2 < 4096 ? 2 : 3;
	size_t total = body + n;
	uint8_t enc[3];

	if (n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	if (n == 1) {
		enc[0] = (uint8_t)total;
	} else {
		enc[0] = (uint8_t)((n - 1) << 6 | (total & 0xf));
		enc[1] = (uint8_t)(total >> 4);
		enc[2] = (uint8_t)(total >> 12);
	}
	memmove(a->p + start + n, a->p + start, body);
	memcpy(a->p + start, enc, n);
	a->len += n;
}

static void name(struct aml *a, const char seg[4])
{
	emit_byte(a, AML_NAME);
	emit(a, seg, 4);
}

/* Word/DWord address space descriptors (6.4.3.5.2-3): producer, fixed min and max. */
static void word_space(struct aml *a, uint8_t type, uint8_t type_flags, uint16_t min, uint16_t max)
{
	uint8_t d[16] = { 0x88, 13, 0, type, 0x0c, type_flags };

	put_le16(d + 8, min);
	put_le16(d + 10, max);
	put_le16(d + 14, (uint16_t)(max - min + 1));
	emit(a, d, sizeof(d));
}

static void dword_memory(struct aml *a, uint32_t min, uint32_t max)
{
	uint8_t d[26] = { 0x87, 23, 0, 0 /* memory */, 0x0c, 0x01 /* read-write, uncached */ };

	put_le32(d + 10, min);
	put_le32(d + 14, max);
	put_le32(d + 22, max - min + 1);
	emit(a, d, sizeof(d));
}

static void crs(struct aml *a)
{
	static const uint8_t config_ports[] = { 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 };
	static const uint8_t end_tag[] = { 0x79, 0x00 };

	name(a, "_CRS");
	size_t buf = open_pkg(a, (uint8_t[]){ AML_BUFFER }, 1);
	size_t size_at = a->len;
	emit(a, (uint8_t[]){ AML_WORD, 0, 0 }, 3);		/* buffer size, patched below */
	size_t data = a->len;
	word_space(a, 2, 0, 0, 0xff);				/* bus numbers */
	emit(a, config_ports, sizeof(config_ports));
	word_space(a, 1, 3, 0, PCI_CONFIG_ADDR - 1);		/* I/O, entire range */
	word_space(a, 1, 3, 0xd00, 0xffff);
	dword_memory(a, (uint32_t)PCI_MMIO_BASE, (uint32_t)(PCI_MMIO_END - 1));
	emit(a, end_tag, sizeof(end_tag));
	if (!a->overflow)
		put_le16(a->p + size_at + 1, (uint16_t)(a->len - data));
	close_pkg(a, buf);
}

static void prt(struct aml *a)
{
	name(a, "_PRT");
	size_t outer = open_pkg(a, (uint8_t[]){ AML_PACKAGE }, 1);
	emit_byte(a, (PCI_SLOTS - 1) * 4);			/* NumElements */
	for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			size_t e = open_pkg(a, (uint8_t[]){ AML_PACKAGE }, 1);
			emit_byte(a, 4);
			emit_dword(a, slot << 16 | 0xffff);	/* any function of the slot */
			emit_int(a, pin);
			emit_byte(a, AML_ZERO);			/* no link device: GSI */
			emit_int(a, PCI_GSI_BASE + (slot + pin) % PCI_GSI_COUNT);
			close_pkg(a, e);
		}
	}
	close_pkg(a, outer);
}

static void keyboard(struct aml *a)
{
	static const uint8_t resources[] = {
		0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01,	/* I/O 0x60, 16-bit decode */
		0x47, 0x01, 0x64, 0x00, 0x64, 0x00, 0x01, 0x01,	/* I/O 0x64 */
		0x22, 0x02, 0x00,				/* IRQ 1 */
		0x79, 0x00,					/* end tag */
	};

	size_t dev = open_pkg(a, (uint8_t[]){ AML_EXT, AML_DEVICE }, 2);
	emit(a, "KBD_", 4);
	name(a, "_HID");
	emit_dword(a, 0x0303d041);		/* EisaId ("PNP0303") */
	name(a, "_CRS");
	size_t buf = open_pkg(a, (uint8_t[]){ AML_BUFFER }, 1);
	emit_int(a, sizeof(resources));
	emit(a, resources, sizeof(resources));
	close_pkg(a, buf);
	close_pkg(a, dev);
}

size_t dsdt_build(uint8_t *buf, size_t cap)
{
	struct aml a = { .p = buf, .cap = cap };

	name(&a, "_S5_");
	size_t s5 = open_pkg(&a, (uint8_t[]){ AML_PACKAGE }, 1);
	emit(&a, (uint8_t[]){ 4, AML_BYTE, ACPI_S5_SLP_TYP, AML_BYTE, ACPI_S5_SLP_TYP, 0, 0 }, 7);
	close_pkg(&a, s5);

	size_t sb = open_pkg(&a, (uint8_t[]){ AML_SCOPE }, 1);
	emit(&a, (uint8_t[]){ AML_ROOT, '_', 'S', 'B', '_' }, 5);
	size_t dev = open_pkg(&a, (uint8_t[]){ AML_EXT, AML_DEVICE }, 2);
	emit(&a, "PCI0", 4);
	name(&a, "_HID");
	emit_dword(&a, 0x030ad041);		/* EisaId ("PNP0A03") */
	name(&a, "_ADR");
	emit_int(&a, 0);
	name(&a, "_UID");
	emit_int(&a, 0);
	crs(&a);
	prt(&a);
	close_pkg(&a, dev);
	keyboard(&a);
	close_pkg(&a, sb);
	return a.overflow ? 0 : a.len;
}
