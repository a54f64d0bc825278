#include "boot_fixture.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw/acpi_pm.h"
#include "vm.h"

struct vm *boot_test_vm(uint64_t mem_size, int cpus)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return NULL;
	if (mem_init(&vm->mem, mem_size)) {
		free(vm);
		return NULL;
	}
	vm->cfg.mem_size = mem_size;
	vm->cfg.cpus = cpus;
	atomic_init(&vm->exit_status, -1);
	vm->reset_fd = -1;		/* no power-on state: a reset ends the VM */
	pthread_mutex_init(&vm->pause_lock, NULL);
	return vm;
}

void boot_test_vm_free(struct vm *vm)
{
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	acpi_pm_destroy(vm->acpi_pm);
	mem_destroy(&vm->mem);
	pthread_mutex_destroy(&vm->pause_lock);
	free(vm);
}

char *boot_test_file(const void *data, size_t len)
{
	char *path = strdup("/tmp/vmon-boot-test-XXXXXX");
	int fd = path ? mkstemp(path) : -1;

	if (fd < 0) {
		free(path);
		return NULL;
	}
	if (write(fd, data, len) != (ssize_t)len) {
		close(fd);
		boot_test_file_free(path);
		return NULL;
	}
	close(fd);
	return path;
}

void boot_test_file_free(char *path)
{
	if (path)
		unlink(path);
	free(path);
}
