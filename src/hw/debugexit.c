/* Ports 0xf4-0xf7: QEMU's isa-debug-exit (iobase=0xf4, iosize=4), a write of v ends the VM with
 * status (v << 1) | 1, so test guests behave the same under QEMU. Port 0x80: POST codes, ignored. */
#include "hw/devices.h"
#include "vm.h"

#define DEBUGEXIT_PORT	0xf4
#define POST_PORT	0x80

static void debugexit_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	/* The status an OS sees is 8 bits wide: keep the low 7 bits of v like QEMU's exit(). */
	vm_request_stop(opaque, (int)(((val << 1) | 1) & 0xff));
}

static const struct io_ops debugexit_ops = { .write = debugexit_write };

/* Reads of port 0x80 return all ones like an empty bus; writes go nowhere. */
static const struct io_ops post_ops = { 0 };

int debugexit_init(struct vm *vm)
{
	if (bus_register(&vm->pio, DEBUGEXIT_PORT, 4, &debugexit_ops, vm, "debug-exit") < 0)
		return -1;
	return bus_register(&vm->pio, POST_PORT, 1, &post_ops, NULL, "post");
}
