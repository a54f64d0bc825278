#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "util/bytes.h"
#include "boot/linux.h"
#include "boot_fixture.h"
#include "test.h"
#include "vm.h"

#define MiB (1ull << 20)
#define SETUP_SIZE 2560		/* setup_sects 4 */
#define KERNEL_SIZE 4096
#define IMG_SIZE (SETUP_SIZE + KERNEL_SIZE)

/* A bzImage header as a 2.15 relocatable 64-bit kernel has it; the "kernel" is a byte pattern. */
static void make_bzimage(uint8_t *img)
{
	memset(img, 0, IMG_SIZE);
	img[0x1f1] = 4;					/* setup_sects */
	put_le32(img + 0x1f4, KERNEL_SIZE / 16);	/* syssize */
	put_le16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = 0x6a;				/* header ends at 0x26c */
	memcpy(img + 0x202, "HdrS", 4);
	put_le16(img + 0x206, 0x020f);
	img[0x211] = 0x01;				/* LOADED_HIGH */
	put_le32(img + 0x22c, 0x7fffffff);		/* initrd_addr_max */
	put_le32(img + 0x230, 0x200000);		/* kernel_alignment */
	img[0x234] = 1;					/* relocatable */
	put_le16(img + 0x236, 0x7f);			/* xloadflags */
	put_le32(img + 0x238, 2047);			/* cmdline_size */
	put_le64(img + 0x258, 0x1000000);		/* pref_address */
	put_le32(img + 0x260, 0x400000);		/* init_size */
	for (int i = 0; i < KERNEL_SIZE; i++)
		img[SETUP_SIZE + i] = (uint8_t)(i * 7 + 1);
}

static int parse(const uint8_t *img, size_t len, uint64_t mem, struct linux_image *k, char *why)
{
	return linux_parse(img, len, mem, k, why, 128);
}

/* syssize counts 16-byte paragraphs: memtest86+ v6's file ends 8 bytes into its last one. */
TEST(linux_parse_file_ends_inside_the_last_paragraph)
{
	static uint8_t img[IMG_SIZE];
	struct linux_image k;
	char why[128];

	make_bzimage(img);
	CHECK_EQ(parse(img, sizeof(img) - 8, 256 * MiB, &k, why), 0);
	CHECK_EQ(k.kernel_size, KERNEL_SIZE - 8);
}

TEST(linux_parse_valid)
{
	static uint8_t img[IMG_SIZE];
	struct linux_image k;
	char why[128];

	make_bzimage(img);
	CHECK(linux_is_bzimage(img, sizeof(img)));
	CHECK_EQ(parse(img, sizeof(img), 256 * MiB, &k, why), 0);
	CHECK_EQ(k.version, 0x020f);
	CHECK_EQ(k.setup_size, SETUP_SIZE);
	CHECK_EQ(k.hdr_end, 0x26c);
	CHECK_EQ(k.kernel_size, KERNEL_SIZE);
	CHECK_EQ(k.load_addr, 0x1000000);		/* relocatable: pref_address */
	CHECK_EQ(k.entry, 0x1000200);
	CHECK_EQ(k.reserved_end, 0x1400000);		/* + init_size */
	CHECK_EQ(k.cmdline_size, 2047);
	CHECK_EQ(k.initrd_addr_max, 0x7fffffff);
}

TEST(linux_parse_not_relocatable_loads_at_1mib)
{
	static uint8_t img[IMG_SIZE];
	struct linux_image k;
	char why[128];

	make_bzimage(img);
	img[0x234] = 0;
	CHECK_EQ(parse(img, sizeof(img), 256 * MiB, &k, why), 0);
	CHECK_EQ(k.load_addr, 0x100000);
	CHECK_EQ(k.entry, 0x100200);
	/* It still decompresses at its pref_address. */
	CHECK_EQ(k.reserved_end, 0x1400000);
}

TEST(linux_parse_setup_sects_zero_means_four)
{
	static uint8_t img[IMG_SIZE];
	struct linux_image k;
	char why[128];

	make_bzimage(img);
	img[0x1f1] = 0;
	CHECK_EQ(parse(img, sizeof(img), 256 * MiB, &k, why), 0);
	CHECK_EQ(k.setup_size, SETUP_SIZE);
}

/* Every malformed header is refused with a reason, never loaded. */
static void expect_error(int *failed_, const uint8_t *img, size_t len, uint64_t mem,
			 const char *reason)
{
	struct linux_image k;
	char why[128] = "";

	CHECK_EQ(parse(img, len, mem, &k, why), -1);
	if (!strstr(why, reason)) {
		fprintf(stderr, "  reason \"%s\", expected \"%s\"\n", why, reason);
		*failed_ = 1;
	}
}

TEST(linux_parse_errors)
{
	static uint8_t img[IMG_SIZE];

	make_bzimage(img);
	expect_error(failed_, img, 0x220, 256 * MiB, "truncated setup header");

	make_bzimage(img);
	img[0x202] = 'X';
	CHECK(!linux_is_bzimage(img, sizeof(img)));
	expect_error(failed_, img, sizeof(img), 256 * MiB, "not a bzImage or multiboot kernel");

	make_bzimage(img);
	put_le16(img + 0x206, 0x0205);
	expect_error(failed_, img, sizeof(img), 256 * MiB, "boot protocol 2.05 is too old");

	make_bzimage(img);
	put_le16(img + 0x236, 0x7e);
	expect_error(failed_, img, sizeof(img), 256 * MiB, "no 64-bit entry point");

	make_bzimage(img);
	img[0x201] = 0x40;				/* header ends before init_size */
	expect_error(failed_, img, sizeof(img), 256 * MiB, "truncated setup header");

	make_bzimage(img);
	img[0x201] = 0xff;				/* runs into the e820 table area */
	expect_error(failed_, img, sizeof(img), 256 * MiB, "longer than boot_params");

	make_bzimage(img);
	img[0x1f1] = 255;				/* 128 KiB of setup in a 6.5 KiB file */
	expect_error(failed_, img, sizeof(img), 256 * MiB, "setup_sects 255");

	make_bzimage(img);
	put_le32(img + 0x1f4, KERNEL_SIZE / 16 + 1);
	expect_error(failed_, img, sizeof(img), 256 * MiB, "syssize beyond end of file");

	make_bzimage(img);
	put_le32(img + 0x1f4, 0xffffffff);		/* 64 GiB, must not wrap */
	expect_error(failed_, img, sizeof(img), 256 * MiB, "syssize beyond end of file");

	make_bzimage(img);
	img[0x211] = 0;
	expect_error(failed_, img, sizeof(img), 256 * MiB, "zImage");

	make_bzimage(img);
	expect_error(failed_, img, sizeof(img), 16 * MiB, "kernel needs 20 MiB of guest memory");

	make_bzimage(img);
	put_le64(img + 0x258, 0xfffffffffffff000ull);	/* hostile pref_address */
	expect_error(failed_, img, sizeof(img), 256 * MiB, "more memory than a guest can have");
}

TEST(linux_initrd_placement)
{
	static uint8_t img[IMG_SIZE];
	struct linux_image k;
	uint64_t addr;
	char why[128];

	make_bzimage(img);
	CHECK_EQ(parse(img, sizeof(img), 256 * MiB, &k, why), 0);
	CHECK_EQ(linux_place_initrd(&k, 256 * MiB, MiB + 5, &addr), 0);
	CHECK_EQ(addr, (256 * MiB - (MiB + 5)) & ~0xfffull);
	CHECK_EQ(addr & 0xfff, 0);

	/* initrd_addr_max caps the placement (last byte at most 0x37ffffff). */
	put_le32(img + 0x22c, 0x37ffffff);
	CHECK_EQ(parse(img, sizeof(img), 2048 * MiB, &k, why), 0);
	CHECK_EQ(linux_place_initrd(&k, 2048 * MiB, 3 * MiB, &addr), 0);
	CHECK_EQ(addr, 0x38000000 - 3 * MiB);

	/* Would overlap the kernel's decompression area, or is simply larger than RAM. */
	CHECK_EQ(linux_place_initrd(&k, 2048 * MiB, 0x38000000 - 0x1000000, &addr), -1);
	CHECK_EQ(linux_place_initrd(&k, 2048 * MiB, 4096 * MiB, &addr), -1);
}

TEST(linux_zeropage)
{
	static uint8_t img[IMG_SIZE], zp[LINUX_ZEROPAGE_SIZE];
	struct e820_entry map[E820_MAX];
	struct linux_image k;
	char why[128];

	make_bzimage(img);
	CHECK_EQ(parse(img, sizeof(img), 256 * MiB, &k, why), 0);
	struct linux_params p = {
		.cmdline_addr = 0x20000, .initrd_addr = 0x0f000000, .initrd_size = 0x123456,
		.rsdp_addr = 0xe0000, .e820 = map, .e820_nr = e820_build(256 * MiB, map),
	};
	linux_build_zeropage(zp, img, &k, &p);

	CHECK(!memcmp(zp + 0x202, "HdrS", 4));
	CHECK_EQ(get_le16(zp + 0x206), 0x020f);
	CHECK_EQ(get_le16(zp + 0x1fe), 0xaa55);
	CHECK_EQ(get_le64(zp + 0x258), 0x1000000);	/* copied up to the header's end */
	CHECK_EQ(zp[0x26c], 0);				/* and not beyond */
	CHECK_EQ(zp[0x210], 0xff);			/* type_of_loader */
	CHECK_EQ(zp[0x211], 0x81);			/* LOADED_HIGH | CAN_USE_HEAP */
	CHECK_EQ(get_le16(zp + 0x224), 0xde00);		/* heap_end_ptr */
	CHECK_EQ(get_le32(zp + 0x228), 0x20000);	/* cmd_line_ptr */
	CHECK_EQ(get_le32(zp + 0x218), 0x0f000000);	/* ramdisk_image */
	CHECK_EQ(get_le32(zp + 0x21c), 0x123456);	/* ramdisk_size */
	CHECK_EQ(get_le32(zp + 0x0c0), 0);		/* ext_ramdisk_image */
	CHECK_EQ(get_le64(zp + 0x070), 0xe0000);	/* acpi_rsdp_addr */
	CHECK_EQ(zp[0x1e8], 3);				/* e820_entries */
	CHECK_EQ(get_le64(zp + 0x2d0 + 20), 0x9fc00);
	CHECK_EQ(get_le32(zp + 0x2d0 + 20 + 16), E820_RESERVED);
	CHECK_EQ(get_le64(zp + 0x2d0 + 40), 0x100000);
	CHECK_EQ(get_le64(zp + 0x2d0 + 48), 255 * MiB);
	CHECK_EQ(zp[0x1ef], 0);				/* sentinel stays 0 */
}

TEST(linux_boot_load)
{
	static uint8_t img[IMG_SIZE];
	static const char initrd_data[] = "initramfs contents";
	uint8_t buf[64];

	make_bzimage(img);
	char *kpath = boot_test_file(img, sizeof(img));
	char *ipath = boot_test_file(initrd_data, sizeof(initrd_data));
	struct vm *vm = boot_test_vm(64 * MiB, 2);

	CHECK(kpath && ipath && vm);
	if (!kpath || !ipath || !vm)
		goto out;
	vm->cfg.kernel = kpath;
	vm->cfg.initrd = ipath;
	vm->cfg.cmdline = "console=ttyS0 quiet";
	CHECK_EQ(boot_load(vm), 0);

	const struct cpu_state *s = &vm->boot_state;
	CHECK_EQ(s->rip, 0x1000200);
	CHECK_EQ(s->gpr[R_RSI], 0x7000);
	CHECK_EQ(s->seg[S_CS].sel, 0x10);
	CHECK(s->seg[S_CS].attr & SEG_L);
	CHECK_EQ(s->seg[S_DS].sel, 0x18);
	CHECK_EQ(s->seg[S_SS].sel, 0x18);
	CHECK_EQ(s->cr0, CR0_PE | CR0_PG | CR0_ET);
	CHECK_EQ(s->cr3, 0x9000);
	CHECK_EQ(s->cr4, CR4_PAE);
	CHECK_EQ(s->efer, EFER_LME | EFER_LMA);
	CHECK_EQ(s->rflags & RFLAGS_IF, 0);
	CHECK_EQ(s->gdt.base, 0x500);
	CHECK_EQ(s->mtrr_def_type, 0x806);			/* MTRRs on, default write-back */

	/* The kernel proper at its load address, the setup code nowhere. */
	CHECK(!memcmp(gpa_to_hva(&vm->mem, 0x1000000, KERNEL_SIZE), img + SETUP_SIZE, KERNEL_SIZE));
	/* vmon's defaults first (a panic reboots with the warm-boot flag), the user's after. */
	CHECK_EQ(mem_read(&vm->mem, 0x20000, buf, 48), 0);
	CHECK(!strcmp((char *)buf, "panic=-1 reboot=panic_warm console=ttyS0 quiet"));

	uint8_t *zp = gpa_to_hva(&vm->mem, 0x7000, 4096);
	uint32_t rd = get_le32(zp + 0x218);
	CHECK_EQ(get_le32(zp + 0x21c), sizeof(initrd_data));
	CHECK_EQ(rd, (64 * MiB - sizeof(initrd_data)) & ~0xfffull);
	CHECK_EQ(mem_read(&vm->mem, rd, buf, sizeof(initrd_data)), 0);
	CHECK(!memcmp(buf, initrd_data, sizeof(initrd_data)));

	/* GDT code64 descriptor, PML4 -> PDPT, and the 2 MiB page covering 3 GiB. */
	CHECK_EQ(mem_read(&vm->mem, 0x510, buf, 8), 0);
	CHECK_EQ(get_le64(buf), 0x00af9b000000ffffull);
	CHECK_EQ(mem_read(&vm->mem, 0x9000, buf, 8), 0);
	CHECK_EQ(get_le64(buf), 0xa003);
	CHECK_EQ(mem_read(&vm->mem, 0xb000 + 3 * 4096 + 8, buf, 8), 0);
	CHECK_EQ(get_le64(buf), (3ull << 30) + (1ull << 21) + 0x83);

	/* Firmware tables come with every boot; the PM device they describe is the machine's
	 * (vm_create), not the loader's. */
	CHECK(!memcmp(gpa_to_hva(&vm->mem, 0xe0000, 8), "RSD PTR ", 8));
	CHECK(vm->acpi_pm == NULL);
	CHECK_EQ(vm->pio.nr, 0);
out:
	if (vm)
		boot_test_vm_free(vm);
	boot_test_file_free(kpath);
	boot_test_file_free(ipath);
}

TEST(linux_boot_load_errors_leave_nothing)
{
	static uint8_t img[IMG_SIZE];
	struct vm *vm = boot_test_vm(64 * MiB, 1);
	char *long_cmdline = malloc(4096);

	make_bzimage(img);
	char *kpath = boot_test_file(img, sizeof(img));
	CHECK(vm && kpath && long_cmdline);
	if (!vm || !kpath || !long_cmdline)
		goto out;
	memset(long_cmdline, 'x', 4095);
	long_cmdline[4095] = 0;
	vm->cfg.kernel = kpath;
	vm->cfg.cmdline = long_cmdline;
	CHECK_EQ(boot_load(vm), -1);			/* longer than cmdline_size */
	CHECK(vm->acpi_pm == NULL);
	CHECK_EQ(vm->pio.nr, 0);

	vm->cfg.cmdline = NULL;
	vm->cfg.initrd = kpath;
	CHECK_EQ(boot_load(vm), 0);
out:
	if (vm)
		boot_test_vm_free(vm);
	boot_test_file_free(kpath);
	free(long_cmdline);
}
