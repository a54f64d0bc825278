/* The guest loaders through boot_load(): Linux bzImage, multiboot v1 (ELF32, ELF64, a.out kludge)
 * and raw boot sectors, with or without an initrd, for several RAM sizes and vCPU counts (the
 * firmware tables depend on them). Whatever the image says, nothing is written outside guest
 * RAM and a refusal leaves nothing registered (boot.h).
 * Input: one byte of options (bits 0-1 RAM 2/8/32/128 MiB, 2 initrd, 3 boot sector, 4-5 vCPUs
 * 1-4, 6 a command line), then the image.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot_fixture.h"
#include "fuzz.h"
#include "vm.h"

static int image_fd, initrd_fd;
static char image_path[32], initrd_path[32];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char initrd[] = "070701 an initrd is any bytes to the loader\n";

	image_fd = fuzz_memfd("vmon-fuzz-image", "", 0);
	initrd_fd = fuzz_memfd("vmon-fuzz-initrd", initrd, sizeof(initrd));
	if (image_fd < 0 || initrd_fd < 0) {
		perror("fuzz boot: memfd");
		_exit(1);
	}
	snprintf(image_path, sizeof(image_path), "/proc/self/fd/%d", image_fd);
	snprintf(initrd_path, sizeof(initrd_path), "/proc/self/fd/%d", initrd_fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || fuzz_memfd_set(image_fd, data + 1, size - 1) < 0)
		return 0;
	unsigned opt = data[0];
	struct vm *vm = boot_test_vm((2ull << 20) << 2 * (opt & 3), 1 + (opt >> 4 & 3));
	if (!vm)
		_exit(1);
	if (opt & 8) {
		vm->cfg.boot_sector = image_path;
	} else {
		vm->cfg.kernel = image_path;
		vm->cfg.initrd = opt & 4 ? initrd_path : NULL;
	}
	vm->cfg.cmdline = opt & 0x40 ? "console=ttyS0 root=/dev/vda rw" : NULL;
	if (boot_load(vm) < 0 && vm->acpi_pm)
		__builtin_trap();		/* a refusal leaves nothing registered */
	boot_test_vm_free(vm);
	return 0;
}
