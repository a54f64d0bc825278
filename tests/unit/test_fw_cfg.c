/* fw_cfg as SeaBIOS drives it: the signature and ID through the selector and data ports, the
 * file directory, a file read byte by byte and by DMA (also a skip, past the end, a write that
 * must fail and access structures outside RAM); and the firmware loader: the image at the top
 * of 4 GiB and its last 128 KiB below 1 MiB, the start at F000:FFF0, sizes refused. */
#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"
#include "boot/firmware.h"
#include "boot_fixture.h"
#include "hw/fw_cfg.h"
#include "test.h"
#include "vm.h"

static void select_key(struct fw_cfg *f, uint16_t key)
{
	fw_cfg_io_write(f, 0, 2, key);
}

static void read_bytes(struct fw_cfg *f, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)fw_cfg_io_read(f, 1, 1);
}

/* A DMA request: access structure at acc_gpa; returns the control word written back. */
static uint32_t dma(struct vm *vm, struct fw_cfg *f, uint64_t acc_gpa, uint32_t control,
		    uint32_t len, uint64_t addr)
{
	uint8_t acc[16];
	put_be32(acc, control);
	put_be32(acc + 4, len);
	put_be32(acc + 8, (uint32_t)(addr >> 32));
	put_be32(acc + 12, (uint32_t)addr);
	mem_write(&vm->mem, acc_gpa, acc, sizeof(acc));
	/* The address register is big-endian: port 0x514 takes the bytes of the high half in
	 * order, so the value an OUTL carries is byte-swapped. */
	fw_cfg_io_write(f, 4, 4, __builtin_bswap32((uint32_t)(acc_gpa >> 32)));
	fw_cfg_io_write(f, 8, 4, __builtin_bswap32((uint32_t)acc_gpa));
	uint8_t back[4] = { 0xff, 0xff, 0xff, 0xff };
	mem_read(&vm->mem, acc_gpa, back, 4);
	return get_be32(back);
}

TEST(fw_cfg_ports_and_dma)
{
	struct vm *vm = boot_test_vm(16 << 20, 1);
	struct fw_cfg *f = vm ? fw_cfg_create(vm) : NULL;
	uint8_t buf[256];

	CHECK(f != NULL);
	if (!f) {
		if (vm)
			boot_test_vm_free(vm);
		return;
	}
	select_key(f, 0);
	read_bytes(f, buf, 4);
	CHECK(memcmp(buf, "QEMU", 4) == 0);
	select_key(f, 1);
	read_bytes(f, buf, 4);
	CHECK_EQ(get_le32(buf), 3);		/* traditional and DMA */
	CHECK_EQ(fw_cfg_io_read(f, 4, 4), get_le32((const uint8_t *)"QEMU"));	/* "QEMU CFG" */

	CHECK(fw_cfg_add_file(f, "etc/one", "first file", 10) == 0);
	CHECK(fw_cfg_add_file(f, "etc/two", "second", 6) == 0);
	CHECK(fw_cfg_add_file(f, "a-name-of-fifty-six-bytes-is-too-long-for-the-directory!", "x", 1) < 0);
	select_key(f, FW_CFG_FILE_DIR);
	read_bytes(f, buf, 4 + 2 * 64);
	CHECK_EQ(get_be32(buf), 2);
	CHECK_EQ(get_be32(buf + 4 + 64), 6);			/* size */
	CHECK_EQ(buf[4 + 64 + 4] << 8 | buf[4 + 64 + 5], FW_CFG_FILE_FIRST + 1);
	CHECK(strcmp((char *)buf + 4 + 64 + 8, "etc/two") == 0);

	/* Past the end of an item the data port reads zeros. */
	select_key(f, FW_CFG_FILE_FIRST + 1);
	read_bytes(f, buf, 8);
	CHECK(memcmp(buf, "second\0\0", 8) == 0);

	/* DMA: select + skip 6, read 4 (zeros past the end); select + read; a write fails. */
	CHECK_EQ(dma(vm, f, 0x1000, (uint32_t)(FW_CFG_FILE_FIRST << 16) | 8 | 4, 6, 0), 0);
	memset(buf, 0xaa, 16);
	mem_write(&vm->mem, 0x2000, buf, 16);
	CHECK_EQ(dma(vm, f, 0x1000, 2, 6, 0x2000), 0);
	mem_read(&vm->mem, 0x2000, buf, 8);
	CHECK(memcmp(buf, "file\0\0\xaa\xaa", 8) == 0);
	CHECK_EQ(dma(vm, f, 0x1000, (uint32_t)((FW_CFG_FILE_FIRST + 1) << 16) | 8 | 2, 6, 0x3000), 0);
	mem_read(&vm->mem, 0x3000, buf, 6);
	CHECK(memcmp(buf, "second", 6) == 0);
	CHECK_EQ(dma(vm, f, 0x1000, 0x10, 4, 0x2000), 1);		/* read-only */
	/* Guest addresses outside RAM: an error, never a host access. */
	CHECK_EQ(dma(vm, f, 0x1000, (uint32_t)(FW_CFG_FILE_FIRST << 16) | 8 | 2, 10,
		     0xfffffffffff0ull), 1);
	CHECK_EQ(dma(vm, f, 0x1000, 2, 0xffffffffu, 0x2000), 1);
	fw_cfg_io_write(f, 4, 4, 0);
	fw_cfg_io_write(f, 8, 4, __builtin_bswap32(0xfffffff0u));	/* access struct not in RAM */

	fw_cfg_destroy(f);
	boot_test_vm_free(vm);
}

TEST(firmware_load_places_the_image)
{
	struct vm *vm = boot_test_vm(16 << 20, 2);
	uint8_t *img = malloc(256 << 10), low[16];
	char *path;

	CHECK(vm && img);
	if (!vm || !img)
		return;
	for (size_t i = 0; i < (256u << 10); i++)
		img[i] = (uint8_t)(i * 7 + (i >> 12));
	path = boot_test_file(img, 256 << 10);
	vm->cfg.firmware = path;
	cpu_state_reset(&vm->boot_state);
	CHECK(firmware_load(vm) == 0);
	/* The last 16 bytes (the reset vector) at the top of 4 GiB and at 0xffff0. */
	uint64_t v = 0;
	CHECK(bus_access(&vm->mmio, 0xfffffff0ull, 8, false, &v));
	CHECK_EQ(v, get_le64(img + (256 << 10) - 16));
	CHECK(gpa_to_rom(&vm->mem, 0xfffc0000ull, 4096) != NULL);
	CHECK(mem_read(&vm->mem, 0xffff0, low, 16) == 0 && memcmp(low, img + (256 << 10) - 16, 16) == 0);
	CHECK(mem_read(&vm->mem, 0xe0000, low, 16) == 0 && memcmp(low, img + (128 << 10), 16) == 0);
	CHECK_EQ(vm->boot_state.seg[S_CS].sel, 0xf000);
	CHECK_EQ(vm->boot_state.rip, 0xfff0);
	/* Writes to the ROM are dropped. */
	v = 0;
	bus_access(&vm->mmio, 0xfffffff0ull, 8, true, &v);
	CHECK(bus_access(&vm->mmio, 0xfffffff0ull, 8, false, &v));
	CHECK_EQ(v, get_le64(img + (256 << 10) - 16));
	firmware_destroy(vm->firmware);
	boot_test_file_free(path);
	boot_test_vm_free(vm);

	/* Not a multiple of 64 KiB, empty, over 16 MiB: refused. */
	static const size_t bad[] = { 1000, 0, (64 << 10) + 512 };
	for (size_t k = 0; k < 3; k++) {
		vm = boot_test_vm(16 << 20, 1);
		path = boot_test_file(img, bad[k]);
		vm->cfg.firmware = path;
		CHECK(firmware_load(vm) < 0);
		CHECK(vm->firmware == NULL);
		boot_test_file_free(path);
		boot_test_vm_free(vm);
	}
	free(img);
}
