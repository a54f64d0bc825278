#include "boot/linux.h"

#include <stdio.h>
#include <string.h>

#include "util/bytes.h"
#include "boot/entry.h"
#include "boot/layout.h"
#include "boot/reason.h"
#include "util/log.h"
#include "vm.h"

/* Setup header fields (offsets in the image and in boot_params alike). */
#define HDR_START		0x1f1
#define HDR_SETUP_SECTS		0x1f1
#define HDR_SYSSIZE		0x1f4
#define HDR_JUMP		0x200	/* 2-byte short jump; its displacement ends the header */
#define HDR_MAGIC		0x202
#define HDR_VERSION		0x206
#define HDR_TYPE_OF_LOADER	0x210
#define HDR_LOADFLAGS		0x211
#define HDR_RAMDISK_IMAGE	0x218
#define HDR_RAMDISK_SIZE	0x21c
#define HDR_HEAP_END_PTR	0x224
#define HDR_CMD_LINE_PTR	0x228
#define HDR_INITRD_ADDR_MAX	0x22c
#define HDR_RELOCATABLE		0x234
#define HDR_XLOADFLAGS		0x236
#define HDR_CMDLINE_SIZE	0x238
#define HDR_PREF_ADDRESS	0x258
#define HDR_INIT_SIZE		0x260
#define HDR_MIN_END		0x264	/* protocol 2.12 (xloadflags) headers reach at least here */
#define HDR_MAX_END		0x290	/* boot_params has other fields from here on */

#define LOADED_HIGH		0x01
#define CAN_USE_HEAP		0x80
#define XLF_KERNEL_64		0x01
#define LOADER_UNDEFINED	0xff
/* End of a classic real-mode setup heap (0xe000) minus 0x200, as the protocol asks. */
#define HEAP_END_PTR		0xde00

/* boot_params fields outside the setup header (Documentation/arch/x86/zero-page.rst). */
#define ZP_ACPI_RSDP_ADDR	0x070
#define ZP_EXT_RAMDISK_IMAGE	0x0c0
#define ZP_EXT_RAMDISK_SIZE	0x0c4
#define ZP_EXT_CMD_LINE_PTR	0x0c8
#define ZP_E820_ENTRIES		0x1e8
#define ZP_E820_TABLE		0x2d0
#define ZP_E820_ENTRY_SIZE	20

/* Put before the user's command line (later parameters win, so --cmdline can override them).
 * Debian's kernels have no built-in panic device driver (pvpanic-mmio/-pci are modules, an
 * initramfs without modules cannot load them), so a panic reports itself through the reboot
 * path instead: panic=-1 reboots at once after printing the panic, and reboot=panic_warm makes
 * that reboot, and only that one, write the BIOS warm-boot flag 0x1234 to 0x472 before it
 * pulses the reset line; vm_guest_reset() turns that into exit status 3. */
#define CMDLINE_DEFAULTS	"panic=-1 reboot=panic_warm "

#define ENTRY_64_OFFSET		0x200
#define PAGE_MASK		0xfffull

bool linux_is_bzimage(const uint8_t *img, size_t len)
{
	return len >= HDR_MAGIC + 4 && !memcmp(img + HDR_MAGIC, "HdrS", 4);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Chooses where the protected-mode kernel goes. Every kernel decompresses at or above its
 * pref_address (its LOAD_PHYSICAL_ADDR), needing init_size bytes there. */
static int place_kernel(const uint8_t *img, uint64_t mem_size, struct linux_image *k,
			char *why, size_t why_len)
{
	uint64_t low_end = e820_low_ram_end(mem_size);
	uint64_t pref = get_le64(img + HDR_PREF_ADDRESS);
	uint64_t need = max_u64(get_le32(img + HDR_INIT_SIZE), k->kernel_size);

	k->load_addr = img[HDR_RELOCATABLE] && pref >= BOOT_LOADER_END ? pref : BOOT_LOADER_END;
	uint64_t base = max_u64(k->load_addr, pref);
	if (base > low_end || need > low_end - base) {
		/* Both come from the image: keep the MiB arithmetic below from overflowing. */
		if (base > MEM_MAX || need > MEM_MAX)
			return refuse(why, why_len,
				      "kernel wants more memory than a guest can have");
		return refuse(why, why_len, "kernel needs %llu MiB of guest memory",
			      (unsigned long long)((base + need + (1 << 20) - 1) >> 20));
	}
	k->reserved_end = base + need;
	k->entry = k->load_addr + ENTRY_64_OFFSET;
	return 0;
}

int linux_parse(const uint8_t *img, size_t len, uint64_t mem_size, struct linux_image *k,
		char *why, size_t why_len)
{
	if (!linux_is_bzimage(img, len))
		return refuse(why, why_len, "not a bzImage or multiboot kernel");

	memset(k, 0, sizeof(*k));
	k->hdr_end = HDR_MAGIC + (size_t)img[HDR_JUMP + 1];
	if (len < HDR_VERSION + 2 || k->hdr_end > len)
		return refuse(why, why_len, "truncated setup header");
	k->version = get_le16(img + HDR_VERSION);
	if (k->version < 0x206)
		return refuse(why, why_len, "boot protocol %u.%02u is too old (need 2.06 or later)",
			      k->version >> 8, k->version & 0xff);
	if (k->hdr_end < HDR_XLOADFLAGS + 2 ||
	    !(get_le16(img + HDR_XLOADFLAGS) & XLF_KERNEL_64))
		return refuse(why, why_len, "kernel has no 64-bit entry point (xloadflags)");
	if (k->hdr_end < HDR_MIN_END)
		return refuse(why, why_len, "truncated setup header");
	if (k->hdr_end > HDR_MAX_END)
		return refuse(why, why_len, "setup header longer than boot_params allows");
	if (!(img[HDR_LOADFLAGS] & LOADED_HIGH))
		return refuse(why, why_len, "zImage (not loaded high) is not supported");

	unsigned sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
	k->setup_size = (sects + 1) * 512;
	if (k->setup_size < k->hdr_end || k->setup_size >= len)
		return refuse(why, why_len, "setup_sects %u does not match the file", sects);
	k->kernel_size = (uint64_t)get_le32(img + HDR_SYSSIZE) * 16;
	/* syssize counts 16-byte paragraphs: a file may end inside the last one (memtest86+). */
	if (!k->kernel_size || k->kernel_size - 15 > len - k->setup_size)
		return refuse(why, why_len, "syssize beyond end of file (truncated kernel?)");
	if (k->kernel_size > len - k->setup_size)
		k->kernel_size = len - k->setup_size;

	k->cmdline_size = get_le32(img + HDR_CMDLINE_SIZE);
	k->initrd_addr_max = get_le32(img + HDR_INITRD_ADDR_MAX);
	return place_kernel(img, mem_size, k, why, why_len);
}

int linux_place_initrd(const struct linux_image *k, uint64_t mem_size, uint64_t initrd_size,
		       uint64_t *addr)
{
	uint64_t top = e820_low_ram_end(mem_size);

	if ((uint64_t)k->initrd_addr_max + 1 < top)
		top = (uint64_t)k->initrd_addr_max + 1;
	if (initrd_size > top)
		return -1;
	*addr = (top - initrd_size) & ~PAGE_MASK;
	return *addr >= k->reserved_end ? 0 : -1;
}

void linux_build_zeropage(uint8_t zp[LINUX_ZEROPAGE_SIZE], const uint8_t *img,
			  const struct linux_image *k, const struct linux_params *p)
{
	memset(zp, 0, LINUX_ZEROPAGE_SIZE);
	memcpy(zp + HDR_START, img + HDR_START, k->hdr_end - HDR_START);

	zp[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	zp[HDR_LOADFLAGS] |= CAN_USE_HEAP;
	put_le16(zp + HDR_HEAP_END_PTR, HEAP_END_PTR);
	put_le32(zp + HDR_CMD_LINE_PTR, (uint32_t)p->cmdline_addr);
	put_le32(zp + ZP_EXT_CMD_LINE_PTR, (uint32_t)(p->cmdline_addr >> 32));
	put_le32(zp + HDR_RAMDISK_IMAGE, (uint32_t)p->initrd_addr);
	put_le32(zp + ZP_EXT_RAMDISK_IMAGE, (uint32_t)(p->initrd_addr >> 32));
	put_le32(zp + HDR_RAMDISK_SIZE, (uint32_t)p->initrd_size);
	put_le32(zp + ZP_EXT_RAMDISK_SIZE, (uint32_t)(p->initrd_size >> 32));
	put_le64(zp + ZP_ACPI_RSDP_ADDR, p->rsdp_addr);

	zp[ZP_E820_ENTRIES] = (uint8_t)p->e820_nr;
	for (int i = 0; i < p->e820_nr; i++) {
		uint8_t *e = zp + ZP_E820_TABLE + ZP_E820_ENTRY_SIZE * i;

		put_le64(e, p->e820[i].addr);
		put_le64(e + 8, p->e820[i].size);
		put_le32(e + 16, p->e820[i].type);
	}
}

int linux_load(struct vm *vm, const char *path, const uint8_t *img, size_t len,
	       const struct boot_file *initrd)
{
	const struct guest_mem *m = &vm->mem;
	const char *cmdline = vm->cfg.cmdline ? vm->cfg.cmdline : "";
	const size_t defaults_len = strlen(CMDLINE_DEFAULTS);
	size_t cmdline_len = strlen(cmdline);
	struct e820_entry e820[E820_MAX];
	struct linux_image k;
	uint8_t zp[LINUX_ZEROPAGE_SIZE];
	char why[128];

	if (linux_parse(img, len, m->size, &k, why, sizeof(why))) {
		vmon_log("%s: %s", path, why);
		return -1;
	}
	if (defaults_len + cmdline_len > k.cmdline_size ||
	    defaults_len + cmdline_len >= BOOT_CMDLINE_MAX) {
		vmon_log("--cmdline is %zu bytes, the kernel accepts at most %zu",
			cmdline_len, k.cmdline_size > defaults_len ? k.cmdline_size - defaults_len : 0);
		return -1;
	}
	struct linux_params p = {
		.cmdline_addr = BOOT_CMDLINE_ADDR,
		.rsdp_addr = FW_ACPI_ADDR,
		.e820 = e820,
		.e820_nr = e820_build(m->size, e820),
	};
	if (initrd) {
		p.initrd_size = initrd->size;
		if (linux_place_initrd(&k, m->size, initrd->size, &p.initrd_addr)) {
			vmon_log("initrd too large for guest memory");
			return -1;
		}
	}
	linux_build_zeropage(zp, img, &k, &p);

	if (mem_write(m, k.load_addr, img + k.setup_size, k.kernel_size) ||
	    mem_write(m, BOOT_ZEROPAGE_ADDR, zp, sizeof(zp)) ||
	    mem_write(m, BOOT_CMDLINE_ADDR, CMDLINE_DEFAULTS, defaults_len) ||
	    mem_write(m, BOOT_CMDLINE_ADDR + defaults_len, cmdline, cmdline_len + 1) ||
	    boot_write_gdt(m) || boot_write_identity_map(m)) {
		vmon_log("%s: does not fit in guest memory", path);
		return -1;
	}
	if (initrd && boot_file_read_to_guest(initrd, m, p.initrd_addr))
		return -1;

	boot_state_long(&vm->boot_state, k.entry);
	vm->boot_state.gpr[R_RSI] = BOOT_ZEROPAGE_ADDR;
	return 0;
}
