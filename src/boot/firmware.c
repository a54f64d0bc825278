/* A BIOS image as a PC has it: the whole image at the top of the 32-bit address space (read-only;
 * the reset vector is its last 16 bytes) and its last 128 KiB also below 1 MiB, at
 * 0xe0000-0xfffff, where the BIOS runs in real mode and keeps its data once it has made that
 * area writable. The machine's description reaches the BIOS through fw_cfg.
 *
 * The vCPU starts at F000:FFF0 with its code segment's base at 0xf0000 rather than the
 * architectural 0xffff0000. Both addresses hold the same bytes, and the first instruction of
 * every PC BIOS is a far jump into the F000 segment, after which the base is 0xf0000 anyway; the
 * bt engine fetches instructions from RAM only, and this way no engine needs to fetch from the
 * ROM's first page. SeaBIOS's 32-bit start-up code then runs from the image at the top of 4 GiB,
 * fetched through vm->mem.rom.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/acpi.h"
#include "util/bytes.h"
#include "boot/file.h"
#include "boot/firmware.h"
#include "hw/fw_cfg.h"
#include "vm.h"
#include "util/log.h"

#define ROM_ALIGN		(64u << 10)
#define ROM_MAX			(16u << 20)
#define SHADOW_MAX		(128u << 10)
#define RESET_BASE		0xf0000ull
#define COM1_PORT		0x3f8

struct firmware {
	struct fw_cfg *cfg;
	uint8_t *rom;
	size_t size;
};

static uint64_t rom_read(void *opaque, uint64_t off, unsigned size)
{
	const struct firmware *fw = opaque;
	uint64_t v = 0;

	for (unsigned i = 0; i < size && off + i < fw->size; i++)
		v |= (uint64_t)fw->rom[off + i] << (8 * i);
	return v;
}

/* Writes to the ROM are dropped, as on a PC. */
static const struct io_ops rom_ops = { .read = rom_read };

/* etc/e820: the RAM as one entry per region (le64 address, le64 length, le32 type). */
static int add_e820(struct vm *vm, struct fw_cfg *cfg)
{
	uint8_t map[2 * 20] = { 0 };
	int n = vm->mem.nr_regions;

	for (int i = 0; i < n; i++) {
		put_le64(map + 20 * i, vm->mem.region[i].gpa);
		put_le64(map + 20 * i + 8, vm->mem.region[i].size);
		put_le32(map + 20 * i + 16, 1);		/* RAM */
	}
	return fw_cfg_add_file(cfg, "etc/e820", map, (size_t)n * 20);
}

/* QEMU's ACPI table loader script (hw/acpi/bios-linker-loader.c): 128-byte commands that tell
 * the BIOS where to put each file, which pointers to relocate and which checksums to fix. */
#define LOADER_CMD		128
#define LOADER_ALLOCATE		1
#define LOADER_ADD_POINTER	2
#define LOADER_ADD_CHECKSUM	3
#define ZONE_HIGH		1
#define ZONE_FSEG		2
#define ACPI_TABLES_FILE	"etc/acpi/tables"
#define ACPI_RSDP_FILE		"etc/acpi/rsdp"
#define LOADER_MAX		16

struct loader {
	uint8_t cmd[LOADER_MAX][LOADER_CMD];
	int n;
};

static uint8_t *loader_cmd(struct loader *l, uint32_t type)
{
	uint8_t *c = l->cmd[l->n++];
	memset(c, 0, LOADER_CMD);
	put_le32(c, type);
	return c;
}

static void loader_allocate(struct loader *l, const char *file, uint32_t align, uint8_t zone)
{
	uint8_t *c = loader_cmd(l, LOADER_ALLOCATE);
	strcpy((char *)c + 4, file);
	put_le32(c + 60, align);
	c[64] = zone;
}

/* The 4-byte pointer at dest_off in dest becomes an address in the tables file. */
static void loader_pointer(struct loader *l, const char *dest, uint32_t dest_off)
{
	uint8_t *c = loader_cmd(l, LOADER_ADD_POINTER);
	strcpy((char *)c + 4, dest);
	strcpy((char *)c + 60, ACPI_TABLES_FILE);
	put_le32(c + 116, dest_off);
	c[120] = 4;
}

static void loader_checksum(struct loader *l, const char *file, uint32_t start, uint32_t len,
			    uint32_t sum_off)
{
	uint8_t *c = loader_cmd(l, LOADER_ADD_CHECKSUM);
	strcpy((char *)c + 4, file);
	put_le32(c + 60, start + sum_off);
	put_le32(c + 64, start);
	put_le32(c + 68, len);
}

/* vmon's own ACPI tables (src/boot/acpi.c, the same as with --kernel), built as if at address 0
 * so that each pointer holds an offset into the tables file: the BIOS places the file and adds
 * its address to each pointer the loader script names, then fixes the checksums. The RSDP
 * travels in a file of its own, in the F segment where the OS looks for it. */
static int add_acpi(struct vm *vm, struct fw_cfg *cfg)
{
	static uint8_t t[8192];
	struct loader l = { .n = 0 };
	size_t len = acpi_build(t, sizeof(t), 0, vm->cfg.cpus);

	if (!len)
		return -1;
	/* The layout acpi.c builds: RSDP -> RSDT -> (FADT -> FACS, DSDT), MADT. */
	uint32_t rsdt = get_le32(t + 16), rsdt_len = get_le32(t + rsdt + 4);
	uint32_t fadt = get_le32(t + rsdt + ACPI_HDR_SIZE);

	loader_allocate(&l, ACPI_TABLES_FILE, 64, ZONE_HIGH);
	loader_allocate(&l, ACPI_RSDP_FILE, 16, ZONE_FSEG);
	loader_pointer(&l, ACPI_RSDP_FILE, 16);
	loader_checksum(&l, ACPI_RSDP_FILE, 0, ACPI_RSDP_SIZE, 8);
	for (uint32_t e = rsdt + ACPI_HDR_SIZE; e < rsdt + rsdt_len; e += 4)
		loader_pointer(&l, ACPI_TABLES_FILE, e);
	loader_checksum(&l, ACPI_TABLES_FILE, rsdt, rsdt_len, 9);
	loader_pointer(&l, ACPI_TABLES_FILE, fadt + 36);	/* FACS */
	loader_pointer(&l, ACPI_TABLES_FILE, fadt + 40);	/* DSDT */
	loader_checksum(&l, ACPI_TABLES_FILE, fadt, get_le32(t + fadt + 4), 9);

	if (fw_cfg_add_file(cfg, ACPI_TABLES_FILE, t, len) < 0 ||
	    fw_cfg_add_file(cfg, ACPI_RSDP_FILE, t, ACPI_RSDP_SIZE) < 0 ||
	    fw_cfg_add_file(cfg, "etc/table-loader", l.cmd, (size_t)l.n * LOADER_CMD) < 0)
		return -1;
	return 0;
}

static int describe_machine(struct vm *vm, struct fw_cfg *cfg)
{
	uint8_t ram[8], cpus[2], sercon[2], fail_wait[4] = { 0 };

	put_le64(ram, vm->mem.size);
	put_le16(cpus, (uint16_t)vm->cfg.cpus);
	put_le16(sercon, COM1_PORT);
	if (fw_cfg_add(cfg, FW_CFG_RAM_SIZE, ram, 8) < 0 ||
	    fw_cfg_add(cfg, FW_CFG_NB_CPUS, cpus, 2) < 0 ||
	    fw_cfg_add(cfg, FW_CFG_MAX_CPUS, cpus, 2) < 0 || add_e820(vm, cfg) < 0 ||
	    /* The BIOS's and the boot loader's screen output goes to COM1: there is no VGA. */
	    fw_cfg_add_file(cfg, "etc/sercon-port", sercon, 2) < 0 ||
	    /* Nothing to boot: the BIOS resets the machine at once instead of retrying in 60 s,
	     * and vmon ends (a PC reset ends a vmon VM). */
	    fw_cfg_add_file(cfg, "etc/boot-fail-wait", fail_wait, 4) < 0 || add_acpi(vm, cfg) < 0)
		return -1;
	return 0;
}

int firmware_load(struct vm *vm)
{
	const char *path = strcmp(vm->cfg.firmware, "seabios") == 0 ? FIRMWARE_SEABIOS
								       : vm->cfg.firmware;
	struct firmware *fw = calloc(1, sizeof(*fw));

	if (!fw) {
		vmon_log("out of memory");
		return -1;
	}
	uint8_t *image;
	if (boot_file_slurp(path, ROM_MAX, &image, &fw->size) < 0) {
		free(fw);
		return -1;
	}
	if (!fw->size || fw->size % ROM_ALIGN) {
		vmon_log("%s: a BIOS image is a multiple of 64 KiB up to 16 MiB, not %zu bytes",
			path, fw->size);
		free(image);
		free(fw);
		return -1;
	}
	/* Page-aligned: the kvm engine maps it into the guest as it is. */
	fw->rom = aligned_alloc(ROM_ALIGN, fw->size);
	if (!fw->rom) {
		vmon_log("out of memory");
		free(image);
		free(fw);
		return -1;
	}
	memcpy(fw->rom, image, fw->size);
	free(image);
	size_t shadow = fw->size < SHADOW_MAX ? fw->size : SHADOW_MAX;
	if (mem_write(&vm->mem, 0x100000 - shadow, fw->rom + fw->size - shadow, shadow) < 0) {
		vmon_log("guest memory too small for the BIOS");
		firmware_destroy(fw);
		return -1;
	}
	fw->cfg = fw_cfg_create(vm);
	if (!fw->cfg || describe_machine(vm, fw->cfg) < 0 ||
	    bus_register(&vm->mmio, 0x100000000ull - fw->size, fw->size, &rom_ops, fw, "bios") < 0) {
		vmon_log("cannot create the firmware's devices");
		firmware_destroy(fw);
		return -1;
	}
	vm->firmware = fw;
	vm->mem.rom = fw->rom;
	vm->mem.rom_gpa = 0x100000000ull - fw->size;
	vm->mem.rom_size = fw->size;
	vm->boot_state.seg[S_CS].base = RESET_BASE;
	return 0;
}

void firmware_destroy(struct firmware *fw)
{
	if (!fw)
		return;
	fw_cfg_destroy(fw->cfg);
	free(fw->rom);
	free(fw);
}
