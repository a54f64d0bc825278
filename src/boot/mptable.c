#include "boot/mptable.h"

#include <string.h>

#include "util/bytes.h"
#include "hw/acpi_pm.h"
#include "hw/irqchip.h"

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_IOINTR, MP_LINTR };
enum { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };

#define MP_SPEC_REV		4
#define CPU_ENABLED		(1u << 0)
#define CPU_BSP			(1u << 1)
#define CPU_SIGNATURE		0x600		/* family 6 */
#define CPU_FEATURES		0x201		/* FPU, APIC */
#define LAPIC_VERSION		0x14
#define IOAPIC_VERSION		0x11
#define IOAPIC_ENABLED		(1u << 0)
#define ISA_BUS			0
#define MPS_ACTIVE_HIGH		0x1
#define MPS_LEVEL		(0x3 << 2)
#define ALL_LAPICS		0xff
#define ISA_IRQS		16
#define CASCADE_IRQ		2

static size_t config_size(int cpus)
{
	/* Processors, bus, IOAPIC, 15 ISA interrupts (not the cascade), 2 local interrupts. */
	return MP_HDR_SIZE + 20 * (size_t)cpus + 8 + 8 + 8 * (ISA_IRQS - 1) + 8 * 2;
}

static uint8_t *put_intr(uint8_t *e, uint8_t type, uint8_t kind, uint16_t flags, uint8_t irq,
			 uint8_t dest, uint8_t pin)
{
	e[0] = type;
	e[1] = kind;
	put_le16(e + 2, flags);
	e[4] = ISA_BUS;
	e[5] = irq;
	e[6] = dest;
	e[7] = pin;
	return e + 8;
}

size_t mptable_build(uint8_t *buf, size_t cap, uint64_t base, int cpus)
{
	size_t len = config_size(cpus);
	uint8_t ioapic_id = (uint8_t)cpus;
	uint8_t *fps = buf, *cfg = buf + MP_FPS_SIZE, *e;

	if (cap < MP_FPS_SIZE || len > cap - MP_FPS_SIZE)
		return 0;
	memset(buf, 0, MP_FPS_SIZE + len);

	memcpy(cfg, "PCMP", 4);
	put_le16(cfg + 4, (uint16_t)len);
	cfg[6] = MP_SPEC_REV;
	memcpy(cfg + 8, "VMON    ", 8);
	memcpy(cfg + 16, "VMON        ", 12);
	put_le16(cfg + 34, (uint16_t)(cpus + 2 + ISA_IRQS - 1 + 2));
	put_le32(cfg + 36, (uint32_t)LAPIC_DEFAULT_BASE);

	e = cfg + MP_HDR_SIZE;
	for (int i = 0; i < cpus; i++, e += 20) {
		e[0] = MP_PROCESSOR;
		e[1] = (uint8_t)i;
		e[2] = LAPIC_VERSION;
		e[3] = CPU_ENABLED | (i == 0 ? CPU_BSP : 0);
		put_le32(e + 4, CPU_SIGNATURE);
		put_le32(e + 8, CPU_FEATURES);
	}
	e[0] = MP_BUS;
	e[1] = ISA_BUS;
	memcpy(e + 2, "ISA   ", 6);
	e += 8;
	e[0] = MP_IOAPIC;
	e[1] = ioapic_id;
	e[2] = IOAPIC_VERSION;
	e[3] = IOAPIC_ENABLED;
	put_le32(e + 4, (uint32_t)IOAPIC_BASE);
	e += 8;
	for (uint8_t irq = 0; irq < ISA_IRQS; irq++) {
		uint16_t flags = irq == ACPI_SCI_IRQ ? MPS_ACTIVE_HIGH | MPS_LEVEL : 0;

		if (irq == CASCADE_IRQ)
			continue;
		/* The PIT's IRQ0 is wired to pin 2, where the PIC cascade would be. */
		e = put_intr(e, MP_IOINTR, MP_INT, flags, irq, ioapic_id, irq ? irq : CASCADE_IRQ);
	}
	e = put_intr(e, MP_LINTR, MP_EXTINT, 0, 0, ALL_LAPICS, 0);
	put_intr(e, MP_LINTR, MP_NMI, 0, 0, ALL_LAPICS, 1);
	cfg[7] = checksum8(cfg, len);

	memcpy(fps, "_MP_", 4);
	put_le32(fps + 4, (uint32_t)(base + MP_FPS_SIZE));
	fps[8] = 1;			/* length in 16-byte units */
	fps[9] = MP_SPEC_REV;
	fps[10] = checksum8(fps, MP_FPS_SIZE);
	return MP_FPS_SIZE + len;
}
