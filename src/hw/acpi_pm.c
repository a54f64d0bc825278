#include "hw/acpi_pm.h"

#include <stdbool.h>
#include <stdlib.h>

#include "hw/irqchip.h"
#include "snapshot/state.h"
#include "vm.h"

#define PM1_STS		0	/* offsets in the block */
#define PM1_EN		2
#define PM1_CNT		4
#define PM_TMR		8
#define PM_TMR_MASK	0xffffffu
#define NS_PER_SEC	1000000000ull

struct acpi_pm {
	struct vm *vm;
	uint16_t sts, en, cnt;
};

uint32_t acpi_pm_timer_ticks(uint64_t ns)
{
	/* Split so that ns * HZ cannot overflow. */
	uint64_t ticks = ns / NS_PER_SEC * ACPI_PM_TIMER_HZ +
			 ns % NS_PER_SEC * ACPI_PM_TIMER_HZ / NS_PER_SEC;

	return (uint32_t)(ticks & PM_TMR_MASK);
}

static uint8_t reg_byte(uint16_t reg, uint64_t off)
{
	return (uint8_t)(reg >> (8 * (off & 1)));
}

static uint64_t pm_read(void *opaque, uint64_t off, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint32_t tmr = acpi_pm_timer_ticks(vm_clock_now_ns(&pm->vm->clock));
	uint64_t val = 0;

	for (unsigned i = 0; i < size; i++) {
		uint64_t o = off + i;
		uint8_t b = 0xff;	/* the hole at 6-7 and anything past the block */

		if (o < PM1_EN)
			b = reg_byte(pm->sts, o);
		else if (o < PM1_CNT)
			b = reg_byte(pm->en, o);
		else if (o < PM1_CNT + 2)
			b = reg_byte(pm->cnt, o);
		else if (o >= PM_TMR && o < PM_TMR + 4)
			b = (uint8_t)(tmr >> (8 * (o - PM_TMR)));
		val |= (uint64_t)b << (8 * i);
	}
	return val;
}

static uint16_t put_byte(uint16_t reg, uint64_t off, uint8_t b)
{
	unsigned shift = 8 * (off & 1);

	return (uint16_t)((reg & ~(0xffu << shift)) | ((unsigned)b << shift));
}

static void pm_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct acpi_pm *pm = opaque;
	uint16_t cnt = pm->cnt;
	bool cnt_written = false;

	for (unsigned i = 0; i < size; i++) {
		uint64_t o = off + i;
		uint8_t b = (uint8_t)(val >> (8 * i));

		if (o < PM1_EN) {
			/* Status bits are write-1-to-clear. */
			pm->sts &= (uint16_t)~((unsigned)b << (8 * (o & 1)));
		} else if (o < PM1_CNT) {
			pm->en = put_byte(pm->en, o, b);
		} else if (o < PM1_CNT + 2) {
			cnt = put_byte(cnt, o, b);
			cnt_written = true;
		}
	}
	if (!cnt_written)
		return;
	if ((cnt & ACPI_PM1_CNT_SLP_EN) &&
	    ((cnt >> ACPI_PM1_CNT_SLP_TYP_SHIFT) & 7) == ACPI_S5_SLP_TYP)
		vm_request_stop(pm->vm, EXIT_STATUS_OK);
	/* SLP_EN is write-only; other sleep states are not supported and just ignored. */
	pm->cnt = (uint16_t)((cnt & ~ACPI_PM1_CNT_SLP_EN) | ACPI_PM1_CNT_SCI_EN);
}

static const struct io_ops acpi_pm_ops = {
	.read = pm_read,
	.write = pm_write,
};

static void pm_save(void *opaque, struct state_out *o)
{
	struct acpi_pm *pm = opaque;

	state_put_u16(o, pm->sts);
	state_put_u16(o, pm->en);
	state_put_u16(o, pm->cnt);
}

static int pm_load(void *opaque, struct state_in *in)
{
	struct acpi_pm *pm = opaque;

	pm->sts = state_get_u16(in);
	pm->en = state_get_u16(in);
	pm->cnt = state_get_u16(in);
	return in->bad ? -1 : 0;
}

struct acpi_pm *acpi_pm_create(struct vm *vm)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));

	if (!pm)
		return NULL;
	pm->vm = vm;
	pm->cnt = ACPI_PM1_CNT_SCI_EN;
	if (bus_register(&vm->pio, ACPI_PM_BASE, ACPI_PM_LEN, &acpi_pm_ops, pm, "acpi-pm") ||
	    vm_register_state(vm, "acpi-pm", pm_save, pm_load, pm) < 0) {
		free(pm);
		return NULL;
	}
	return pm;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	free(pm);
}
