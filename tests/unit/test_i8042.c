/* i8042 reset line: a plain reset ends the VM with 0 (or, with a power-on state, asks for a machine
 * reset), one with the BIOS warm-boot flag (how a Linux guest reports a panic under vmon) with 3;
 * the keyboard's command replies. */
#include <unistd.h>

#include "boot_fixture.h"
#include "hw/devices.h"
#include "test.h"
#include "vm.h"

#define MiB (1ull << 20)

static void out8(struct vm *vm, uint16_t port, uint8_t v)
{
	uint64_t val = v;

	bus_access(&vm->pio, port, 1, true, &val);
}

static uint8_t in8(struct vm *vm, uint16_t port)
{
	uint64_t val = 0;

	bus_access(&vm->pio, port, 1, false, &val);
	return (uint8_t)val;
}

/* Resets a fresh VM whose word at 0x472 is flag, through command 0xfe or the output port. */
static int reset_status(int *failed_, uint16_t flag, bool via_output_port)
{
	struct vm *vm = boot_test_vm(2 * MiB, 1);
	uint8_t bytes[2] = { (uint8_t)flag, (uint8_t)(flag >> 8) };
	int status = -2;

	if (!vm)
		return status;
	struct i8042 *k = i8042_create(vm);
	if (k && mem_write(&vm->mem, 0x472, bytes, sizeof(bytes)) == 0) {
		CHECK(!atomic_load(&vm->stop_requested));
		if (via_output_port) {
			out8(vm, 0x64, 0xd1);		/* write output port: bit 0 low resets */
			out8(vm, 0x60, 0xfe);
		} else {
			out8(vm, 0x64, 0xfe);		/* pulse the reset line */
		}
		CHECK(atomic_load(&vm->stop_requested));
		status = atomic_load(&vm->exit_status);
	}
	i8042_destroy(k);
	boot_test_vm_free(vm);
	return status;
}

TEST(i8042_reset_ends_vm_with_0)
{
	CHECK_EQ(reset_status(failed_, 0, false), 0);
	CHECK_EQ(reset_status(failed_, 0, true), 0);
	CHECK_EQ(reset_status(failed_, 0x1235, false), 0);
}

/* With a power-on state (--reboot restart) a plain reset only stops the vCPUs for vm_run() to
 * reset the machine; a panic still ends the VM with 3. */
static void reset_to_restart(int *failed_, uint16_t flag, int want_status)
{
	struct vm *vm = boot_test_vm(2 * MiB, 1);
	uint8_t bytes[2] = { (uint8_t)flag, (uint8_t)(flag >> 8) };
	struct i8042 *k = vm ? i8042_create(vm) : NULL;

	CHECK(k != NULL);
	if (k && mem_write(&vm->mem, 0x472, bytes, sizeof(bytes)) == 0) {
		vm->reset_fd = STDERR_FILENO;	/* any open fd: vm_guest_reset() only looks at it */
		out8(vm, 0x64, 0xfe);
		CHECK(atomic_load(&vm->stop_requested));
		CHECK_EQ(atomic_load(&vm->reset_requested), want_status < 0);
		CHECK_EQ(atomic_load(&vm->exit_status), want_status);
		vm->reset_fd = -1;
	}
	i8042_destroy(k);
	if (vm)
		boot_test_vm_free(vm);
}

TEST(i8042_reset_restarts_with_a_power_on_state)
{
	reset_to_restart(failed_, 0, -1);
	reset_to_restart(failed_, 0x1234, EXIT_STATUS_GUEST_FAULT);
}

TEST(i8042_reset_with_warm_boot_flag_is_a_panic)
{
	CHECK_EQ(reset_status(failed_, 0x1234, false), EXIT_STATUS_GUEST_FAULT);
	CHECK_EQ(reset_status(failed_, 0x1234, true), EXIT_STATUS_GUEST_FAULT);
}

TEST(i8042_keyboard_acks_and_identifies)
{
	struct vm *vm = boot_test_vm(2 * MiB, 1);
	struct i8042 *k = vm ? i8042_create(vm) : NULL;

	CHECK(k != NULL);
	if (k) {
		out8(vm, 0x60, 0xf2);			/* identify */
		CHECK_EQ(in8(vm, 0x64) & 1, 1);		/* output buffer full */
		CHECK_EQ(in8(vm, 0x60), 0xfa);
		CHECK_EQ(in8(vm, 0x60), 0xab);
		CHECK_EQ(in8(vm, 0x60), 0x83);
		CHECK_EQ(in8(vm, 0x64) & 1, 0);
	}
	i8042_destroy(k);
	if (vm)
		boot_test_vm_free(vm);
}
