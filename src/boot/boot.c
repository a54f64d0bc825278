#include "boot/boot.h"

#include <stdio.h>
#include <stdlib.h>

#include "boot/acpi.h"
#include "boot/bootsector.h"
#include "boot/file.h"
#include "boot/firmware.h"
#include "boot/layout.h"
#include "boot/linux.h"
#include "boot/mptable.h"
#include "boot/multiboot.h"
#include "util/log.h"
#include "vm.h"

static int load_kernel(struct vm *vm)
{
	const struct vm_config *cfg = &vm->cfg;
	struct boot_file initrd;
	uint8_t *img;
	size_t len;
	int ret = -1;

	if (boot_file_slurp(cfg->kernel, vm->mem.size, &img, &len))
		return -1;
	if (cfg->initrd && boot_file_open(&initrd, cfg->initrd))
		goto out;
	if (linux_is_bzimage(img, len))
		ret = linux_load(vm, cfg->kernel, img, len, cfg->initrd ? &initrd : NULL);
	else
		ret = multiboot_load(vm, cfg->kernel, img, len, cfg->initrd ? &initrd : NULL);
	if (cfg->initrd)
		boot_file_close(&initrd);
out:
	free(img);
	return ret;
}

static int write_firmware(struct vm *vm, int cpus)
{
	uint8_t acpi[FW_ACPI_SIZE], mp[FW_MPTABLE_SIZE];
	size_t acpi_len = acpi_build(acpi, sizeof(acpi), FW_ACPI_ADDR, cpus);
	size_t mp_len = mptable_build(mp, sizeof(mp), FW_MPTABLE_ADDR, cpus);

	if (!acpi_len || !mp_len || mem_write(&vm->mem, FW_ACPI_ADDR, acpi, acpi_len) ||
	    mem_write(&vm->mem, FW_MPTABLE_ADDR, mp, mp_len)) {
		vmon_log("guest memory too small for the firmware tables");
		return -1;
	}
	return 0;
}

int boot_load(struct vm *vm)
{
	const struct vm_config *cfg = &vm->cfg;
	int ret;

	if (cfg->cpus < 1 || cfg->cpus > VM_MAX_CPUS) {
		vmon_log("--cpus %d: must be 1..%d", cfg->cpus, VM_MAX_CPUS);
		return -1;
	}
	if (!!cfg->kernel + !!cfg->boot_sector + !!cfg->firmware != 1) {
		vmon_log("need exactly one of --kernel, --boot-sector and --firmware");
		return -1;
	}
	if (!cfg->kernel && cfg->initrd) {
		vmon_log("--initrd needs --kernel");
		return -1;
	}
	/* A BIOS builds its own tables below 1 MiB. */
	if (cfg->firmware)
		ret = firmware_load(vm);
	else
		ret = cfg->kernel ? load_kernel(vm) : bootsector_load(vm, cfg->boot_sector);
	if (ret || (!cfg->firmware && write_firmware(vm, cfg->cpus)))
		return -1;
	return 0;
}
