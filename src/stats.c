/* Exit counters: names, port classification, and the --stats report. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "hw/acpi_pm.h"
#include "stats.h"
#include "util/log.h"
#include "vm.h"

const char *const stat_names[STAT_NR] = {
	[STAT_PIO_SERIAL]	= "pio serial",
	[STAT_PIO_DEBUG]	= "pio debug",
	[STAT_PIO_PIC_PIT]	= "pio pic/pit",
	[STAT_PIO_KBD_RTC]	= "pio kbd/rtc",
	[STAT_PIO_PCI]		= "pio pci",
	[STAT_PIO_ACPI]		= "pio acpi",
	[STAT_PIO_OTHER]	= "pio other",
	[STAT_PIO_UNCLAIMED]	= "pio unclaimed",
	[STAT_MMIO]		= "mmio",
	[STAT_MMIO_UNCLAIMED]	= "mmio unclaimed",
	[STAT_HLT]		= "hlt",
	[STAT_HYPERCALL]	= "hypercall",
	[STAT_IRQ_INJECTED]	= "irq injected",
	[STAT_SHUTDOWN]		= "shutdown",
};

static const struct {
	uint16_t first, last;
	enum stat_kind kind;
} pio_kinds[] = {
	{ 0x3f8, 0x3ff, STAT_PIO_SERIAL },
	{ 0xf4, 0xf4, STAT_PIO_DEBUG },
	{ 0x80, 0x80, STAT_PIO_DEBUG },
	{ 0x20, 0x21, STAT_PIO_PIC_PIT },
	{ 0xa0, 0xa1, STAT_PIO_PIC_PIT },
	{ 0x40, 0x43, STAT_PIO_PIC_PIT },
	{ 0x61, 0x61, STAT_PIO_PIC_PIT },
	{ 0x60, 0x60, STAT_PIO_KBD_RTC },
	{ 0x64, 0x64, STAT_PIO_KBD_RTC },
	{ 0x70, 0x71, STAT_PIO_KBD_RTC },
	{ 0xcf8, 0xcff, STAT_PIO_PCI },
	{ ACPI_PM_BASE, ACPI_PM_BASE + ACPI_PM_LEN - 1, STAT_PIO_ACPI },
};

enum stat_kind stat_pio_kind(uint16_t port)
{
	for (size_t i = 0; i < sizeof(pio_kinds) / sizeof(pio_kinds[0]); i++)
		if (port >= pio_kinds[i].first && port <= pio_kinds[i].last)
			return pio_kinds[i].kind;
	return STAT_PIO_OTHER;
}

uint64_t stats_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t stats_start_ns(void)
{
	uint64_t now = stats_now_ns();
	const char *t0 = getenv("VMON_T0_NS");
	char *end;

	if (!t0 || !*t0)
		return now;
	errno = 0;
	unsigned long long v = strtoull(t0, &end, 10);
	/* Not a plain number in the past: not a start time; say so rather than print nonsense. */
	if (errno || *end || v > now) {
		vmon_log("VMON_T0_NS=%s ignored: not a CLOCK_REALTIME ns before now", t0);
		return now;
	}
	return v;
}

struct engine_counter_out {
	FILE *out;
	const char *engine;
};

/* One engine counter, one line: "ENGINE: NAME VALUE" (the names the API's stats reply uses). */
static void print_counter(void *opaque, const char *name, uint64_t val)
{
	const struct engine_counter_out *o = opaque;

	fprintf(o->out, "%s: %s %llu\n", o->engine, name, (unsigned long long)val);
}

void vm_print_stats(struct vm *vm, FILE *out)
{
	uint64_t total[STAT_NR] = { 0 };

	for (int i = 0; i < vm->nr_cpus; i++)
		for (int k = 0; k < STAT_NR; k++)
			total[k] += vm->vcpu[i]->stats.count[k];

	uint64_t first = atomic_load(&vm->first_exit_ns);
	if (first >= vm->cfg.start_ns && vm->cfg.start_ns)
		fprintf(out, "vmon: first exit %.1f us after start\n",
			(double)(first - vm->cfg.start_ns) / 1e3);
	if (vm->engine_note[0])
		fprintf(out, "vmon: %s\n", vm->engine_note);
	fprintf(out, "vmon: exits (%d vCPU%s)\n", vm->nr_cpus, vm->nr_cpus == 1 ? "" : "s");
	for (int k = 0; k < STAT_NR; k++)
		if (total[k])
			fprintf(out, "  %-16s %12llu\n", stat_names[k], (unsigned long long)total[k]);
	if (vm->engine && vm->engine->counters) {
		struct engine_counter_out o = { out, vm->engine->name };
		vm->engine->counters(vm, print_counter, &o);
	}
}
