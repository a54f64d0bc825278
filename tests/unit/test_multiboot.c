#include <elf.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "util/bytes.h"
#include "boot/multiboot.h"
#include "boot_fixture.h"
#include "test.h"
#include "vm.h"

#define MiB (1ull << 20)
#define IMG_SIZE 0x3000
#define HDR_OFF 0x1000		/* multiboot header inside the first 8 KiB */

static void put_header(uint8_t *img, size_t off, uint32_t flags)
{
	put_le32(img + off, MB_HEADER_MAGIC);
	put_le32(img + off + 4, flags);
	put_le32(img + off + 8, (uint32_t)-(MB_HEADER_MAGIC + flags));
}

/* a.out kludge: the whole file loads at 1 MiB (header at file offset 0x40), 8 KiB of bss. */
static void make_aout(uint8_t *img)
{
	memset(img, 0, IMG_SIZE);
	put_header(img, 0x40, 0x00010003);
	put_le32(img + 0x4c, 0x100040);			/* header_addr */
	put_le32(img + 0x50, 0x100000);			/* load_addr */
	put_le32(img + 0x54, 0);			/* load_end_addr: whole file */
	put_le32(img + 0x58, 0x100000 + IMG_SIZE + 0x2000);	/* bss_end_addr */
	put_le32(img + 0x5c, 0x100080);			/* entry_addr */
	for (int i = 0x80; i < IMG_SIZE; i++)
		img[i] = (uint8_t)i;
}

/* ELF32: one PT_LOAD of the file's last 0x1000 bytes at 2 MiB with 0x1000 bytes of bss. */
static void make_elf32(uint8_t *img)
{
	Elf32_Ehdr eh = { 0 };
	Elf32_Phdr ph = { 0 };

	memset(img, 0, IMG_SIZE);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS32;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_386;
	eh.e_entry = 0x200010;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	memcpy(img, &eh, sizeof(eh));
	ph.p_type = PT_LOAD;
	ph.p_offset = 0x2000;
	ph.p_paddr = 0x200000;
	ph.p_vaddr = 0xc0200000;
	ph.p_filesz = 0x1000;
	ph.p_memsz = 0x2000;
	memcpy(img + sizeof(eh), &ph, sizeof(ph));
	put_header(img, HDR_OFF, 0x3);
	memset(img + 0x2000, 0xab, 0x1000);
}

static void make_elf64(uint8_t *img, uint64_t entry)
{
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph = { 0 };

	memset(img, 0, IMG_SIZE);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_entry = entry;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	memcpy(img, &eh, sizeof(eh));
	ph.p_type = PT_LOAD;
	ph.p_offset = 0x2000;
	ph.p_paddr = 0x300000;
	ph.p_vaddr = 0xffffffff80300000ull;
	ph.p_filesz = 0x800;
	ph.p_memsz = 0x800;
	memcpy(img + sizeof(eh), &ph, sizeof(ph));
	put_header(img, HDR_OFF, 0x3);
}

static int parse(const uint8_t *img, size_t len, struct mb_image *mb, char *why)
{
	return multiboot_parse(img, len, 64 * MiB, mb, why, 128);
}

TEST(multiboot_aout_kludge)
{
	static uint8_t img[IMG_SIZE];
	struct mb_image mb;
	char why[128];

	make_aout(img);
	CHECK_EQ(parse(img, sizeof(img), &mb, why), 0);
	CHECK_EQ(mb.header_off, 0x40);
	CHECK_EQ(mb.entry, 0x100080);
	CHECK_EQ(mb.nr_segs, 1);
	CHECK_EQ(mb.seg[0].file_off, 0);
	CHECK_EQ(mb.seg[0].gpa, 0x100000);
	CHECK_EQ(mb.seg[0].filesz, IMG_SIZE);
	CHECK_EQ(mb.seg[0].memsz, IMG_SIZE + 0x2000);
	CHECK_EQ(mb.end, 0x100000 + IMG_SIZE + 0x2000);

	/* load_end_addr limits the copy. */
	put_le32(img + 0x54, 0x100800);
	CHECK_EQ(parse(img, sizeof(img), &mb, why), 0);
	CHECK_EQ(mb.seg[0].filesz, 0x800);
}

TEST(multiboot_elf32)
{
	static uint8_t img[IMG_SIZE];
	struct mb_image mb;
	char why[128];

	make_elf32(img);
	CHECK_EQ(parse(img, sizeof(img), &mb, why), 0);
	CHECK_EQ(mb.entry, 0x200010);
	CHECK_EQ(mb.nr_segs, 1);
	CHECK_EQ(mb.seg[0].gpa, 0x200000);		/* p_paddr, not p_vaddr */
	CHECK_EQ(mb.seg[0].file_off, 0x2000);
	CHECK_EQ(mb.seg[0].filesz, 0x1000);
	CHECK_EQ(mb.seg[0].memsz, 0x2000);
	CHECK_EQ(mb.end, 0x202000);
}

TEST(multiboot_elf64)
{
	static uint8_t img[IMG_SIZE];
	struct mb_image mb;
	char why[128];

	make_elf64(img, 0x300000);
	CHECK_EQ(parse(img, sizeof(img), &mb, why), 0);
	CHECK_EQ(mb.entry, 0x300000);
	CHECK_EQ(mb.seg[0].gpa, 0x300000);

	make_elf64(img, 0x100000000ull);
	CHECK_EQ(parse(img, sizeof(img), &mb, why), -1);
	CHECK(strstr(why, "above 4 GiB") != NULL);
}

static void expect_error(int *failed_, const uint8_t *img, size_t len, const char *reason)
{
	struct mb_image mb;
	char why[128] = "";

	CHECK_EQ(parse(img, len, &mb, why), -1);
	if (!strstr(why, reason)) {
		fprintf(stderr, "  reason \"%s\", expected \"%s\"\n", why, reason);
		*failed_ = 1;
	}
}

TEST(multiboot_header_errors)
{
	static uint8_t img[IMG_SIZE + 0x2000];

	make_elf32(img);
	put_le32(img + HDR_OFF + 8, 0);
	expect_error(failed_, img, IMG_SIZE, "checksum mismatch");

	/* A valid header that starts at 8 KiB is not searched for. */
	make_elf32(img);
	memset(img + HDR_OFF, 0, 12);
	put_header(img, 8192, 0x3);
	expect_error(failed_, img, IMG_SIZE, "not a bzImage or multiboot kernel");

	/* Misaligned header. */
	make_elf32(img);
	memset(img + HDR_OFF, 0, 12);
	put_header(img, HDR_OFF + 2, 0x3);
	expect_error(failed_, img, IMG_SIZE, "not a bzImage or multiboot kernel");

	make_elf32(img);
	put_header(img, HDR_OFF, 0x3 | 0x10);		/* unknown required feature bit 4 */
	expect_error(failed_, img, IMG_SIZE, "unsupported features");

	/* a.out kludge header cut by the end of file. */
	make_aout(img);
	expect_error(failed_, img, 0x40 + 20, "truncated multiboot header");

	make_aout(img);
	put_le32(img + 0x50, 0x100041);			/* load_addr above header_addr */
	expect_error(failed_, img, IMG_SIZE, "header_addr/load_addr");

	make_aout(img);
	put_le32(img + 0x4c, 0x200000);			/* header would be 1 MiB into the file */
	expect_error(failed_, img, IMG_SIZE, "header_addr/load_addr");

	make_aout(img);
	put_le32(img + 0x54, 0x100000 + IMG_SIZE + 1);
	expect_error(failed_, img, IMG_SIZE, "beyond end of file");

	make_aout(img);
	put_le32(img + 0x58, 0x100010);			/* bss ends inside the loaded bytes */
	expect_error(failed_, img, IMG_SIZE, "bss_end_addr");

	/* Not ELF and no a.out kludge. */
	memset(img, 0, IMG_SIZE);
	put_header(img, HDR_OFF, 0x3);
	expect_error(failed_, img, IMG_SIZE, "neither ELF nor a.out-kludge");
}

TEST(multiboot_segment_errors)
{
	static uint8_t img[IMG_SIZE];
	Elf32_Phdr ph;

	make_elf32(img);
	put_le32(img + sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, p_paddr), 0x3fff000);
	expect_error(failed_, img, IMG_SIZE, "outside guest memory");	/* 64 MiB guest */

	make_elf32(img);
	put_le32(img + sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, p_paddr), 0xfffff000);
	expect_error(failed_, img, IMG_SIZE, "outside guest memory");

	make_elf32(img);
	put_le32(img + sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, p_paddr), 0xe0800);
	expect_error(failed_, img, IMG_SIZE, "overlaps vmon's ACPI tables at 0xe0000");

	make_elf32(img);
	put_le32(img + sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, p_paddr), 0);
	expect_error(failed_, img, IMG_SIZE, "overlaps vmon's GDT at 0x500");

	make_elf32(img);
	put_le32(img + sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, p_offset), 0xffffff00);
	put_le32(img + sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, p_filesz), 0x200);
	put_le32(img + sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, p_memsz), 0x200);
	expect_error(failed_, img, IMG_SIZE, "beyond end of file");

	make_elf32(img);
	put_le32(img + sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, p_filesz), 0x3000);
	expect_error(failed_, img, IMG_SIZE, "larger than its memory size");

	make_elf32(img);
	put_le16(img + offsetof(Elf32_Ehdr, e_phnum), 0x4000);
	expect_error(failed_, img, IMG_SIZE, "truncated program headers");

	make_elf32(img);
	put_le32(img + offsetof(Elf32_Ehdr, e_phoff), 0xfffffff0);
	expect_error(failed_, img, IMG_SIZE, "truncated program headers");

	make_elf32(img);
	memcpy(&ph, img + sizeof(Elf32_Ehdr), sizeof(ph));
	ph.p_type = PT_NOTE;
	memcpy(img + sizeof(Elf32_Ehdr), &ph, sizeof(ph));
	expect_error(failed_, img, IMG_SIZE, "nothing to load");
}

TEST(multiboot_info_page)
{
	static uint8_t page[MB_PAGE_SIZE];
	struct mb_info_params p = {
		.mem_size = 64 * MiB, .info_addr = 0x9000, .cmdline_addr = 0x20000, .has_module = true,
		.mod_start = 0x104000, .mod_end = 0x104123, .mod_name_addr = 0x30000,
	};

	multiboot_build_info(page, &p);
	CHECK_EQ(get_le32(page), MB_INFO_MEM | MB_INFO_CMDLINE | MB_INFO_MODS | MB_INFO_MMAP |
		 MB_INFO_LOADER_NAME);
	CHECK_EQ(get_le32(page + 4), 640);
	CHECK_EQ(get_le32(page + 8), 64 * 1024 - 1024);
	CHECK_EQ(get_le32(page + 16), 0x20000);
	CHECK_EQ(get_le32(page + 20), 1);
	CHECK_EQ(get_le32(page + 24), 0x9000 + MB_PAGE_MODS);
	CHECK_EQ(get_le32(page + MB_PAGE_MODS), 0x104000);
	CHECK_EQ(get_le32(page + MB_PAGE_MODS + 4), 0x104123);
	CHECK_EQ(get_le32(page + MB_PAGE_MODS + 8), 0x30000);
	CHECK_EQ(get_le32(page + 44), 3 * 24);
	CHECK_EQ(get_le32(page + 48), 0x9000 + MB_PAGE_MMAP);
	const uint8_t *e = page + MB_PAGE_MMAP + 2 * 24;
	CHECK_EQ(get_le32(e), 20);
	CHECK_EQ(get_le64(e + 4), 0x100000);
	CHECK_EQ(get_le64(e + 12), 63 * MiB);
	CHECK_EQ(get_le32(e + 20), 1);
	CHECK(!strcmp((const char *)page + MB_PAGE_LOADER_NAME, "vmon"));

	/* Above the hole mem_upper stops at the hole; no module, no MODS flag. */
	p.mem_size = 4096 * MiB;
	p.has_module = false;
	multiboot_build_info(page, &p);
	CHECK_EQ(get_le32(page + 8), 3 * 1024 * 1024 - 1024);
	CHECK_EQ(get_le32(page) & MB_INFO_MODS, 0);
	CHECK_EQ(get_le32(page + 44), 4 * 24);
}

TEST(multiboot_boot_load)
{
	static uint8_t img[IMG_SIZE];
	static const char module[] = "module data\n";
	char buf[256];

	make_aout(img);
	char *kpath = boot_test_file(img, sizeof(img));
	char *mpath = boot_test_file(module, sizeof(module) - 1);
	struct vm *vm = boot_test_vm(64 * MiB, 1);

	CHECK(kpath && mpath && vm);
	if (!kpath || !mpath || !vm)
		goto out;
	vm->cfg.kernel = kpath;
	vm->cfg.initrd = mpath;
	vm->cfg.cmdline = "hello world";
	CHECK_EQ(boot_load(vm), 0);

	const struct cpu_state *s = &vm->boot_state;
	CHECK_EQ(s->rip, 0x100080);
	CHECK_EQ(s->gpr[R_RAX], MB_BOOT_MAGIC);
	CHECK_EQ(s->gpr[R_RBX], 0x9000);
	CHECK_EQ(s->cr0 & (CR0_PE | CR0_PG), CR0_PE);
	CHECK_EQ(s->efer, 0);
	CHECK_EQ(s->seg[S_CS].base, 0);
	CHECK_EQ(s->seg[S_CS].limit, 0xffffffff);
	CHECK(s->seg[S_CS].attr & SEG_DB);
	CHECK_EQ(s->seg[S_CS].attr & SEG_L, 0);
	CHECK_EQ(s->seg[S_SS].limit, 0xffffffff);
	CHECK_EQ(s->rflags & RFLAGS_IF, 0);

	CHECK(!memcmp(gpa_to_hva(&vm->mem, 0x100000, IMG_SIZE), img, IMG_SIZE));
	CHECK_EQ(*gpa_to_hva(&vm->mem, 0x100000 + IMG_SIZE + 0x1fff, 1), 0);	/* bss */

	uint8_t *info = gpa_to_hva(&vm->mem, 0x9000, 4096);
	uint32_t mod = get_le32(info + 24);
	uint32_t mod_start = get_le32(gpa_to_hva(&vm->mem, mod, 16));
	uint32_t mod_end = get_le32(gpa_to_hva(&vm->mem, mod + 4, 4));
	CHECK_EQ(mod_start, 0x100000 + IMG_SIZE + 0x2000);	/* page after the bss */
	CHECK_EQ(mod_end - mod_start, sizeof(module) - 1);
	CHECK(!memcmp(gpa_to_hva(&vm->mem, mod_start, 1), module, sizeof(module) - 1));
	CHECK_EQ(mem_read(&vm->mem, get_le32(gpa_to_hva(&vm->mem, mod + 8, 4)), buf, 64), 0);
	CHECK(!strcmp(buf, mpath));

	CHECK_EQ(mem_read(&vm->mem, get_le32(info + 16), buf, sizeof(buf)), 0);
	char expect[256];
	snprintf(expect, sizeof(expect), "%s hello world", kpath);
	CHECK(!strcmp(buf, expect));
out:
	if (vm)
		boot_test_vm_free(vm);
	boot_test_file_free(kpath);
	boot_test_file_free(mpath);
}

/* A segment at 0x8000-0x9fff (a trampoline, say) loads; the info page it covers moves above
 * the kernel while the command line keeps its address. */
TEST(multiboot_low_segment)
{
	static uint8_t img[IMG_SIZE];
	char buf[256];

	make_elf32(img);
	put_le32(img + sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, p_paddr), 0x8000);
	char *kpath = boot_test_file(img, sizeof(img));
	struct vm *vm = boot_test_vm(64 * MiB, 1);

	CHECK(kpath && vm);
	if (!kpath || !vm)
		goto out;
	vm->cfg.kernel = kpath;
	vm->cfg.cmdline = "low";
	CHECK_EQ(boot_load(vm), 0);
	CHECK_EQ(*gpa_to_hva(&vm->mem, 0x8fff, 1), 0xab);	/* the kernel's bytes */
	CHECK_EQ(*gpa_to_hva(&vm->mem, 0x9fff, 1), 0);		/* its bss */
	uint64_t info = vm->boot_state.gpr[R_RBX];
	CHECK_EQ(info, 0xa000);				/* the page after the kernel */
	CHECK_EQ(get_le32(gpa_to_hva(&vm->mem, info + 16, 4)), 0x20000);
	CHECK_EQ(mem_read(&vm->mem, 0x20000, buf, sizeof(buf)), 0);
	CHECK(strstr(buf, " low") != NULL);
out:
	if (vm)
		boot_test_vm_free(vm);
	boot_test_file_free(kpath);
}

TEST(multiboot_boot_load_errors)
{
	static uint8_t img[IMG_SIZE];
	static uint8_t junk[1000];
	char *big = calloc(1, 2 * MiB);
	struct vm *vm = boot_test_vm(2 * MiB, 1);

	make_aout(img);
	memset(junk, 0x90, sizeof(junk));
	char *kpath = boot_test_file(img, sizeof(img));
	char *jpath = boot_test_file(junk, sizeof(junk));
	char *bpath = big ? boot_test_file(big, 2 * MiB) : NULL;
	CHECK(vm && kpath && jpath && bpath);
	if (!vm || !kpath || !jpath || !bpath)
		goto out;

	vm->cfg.kernel = jpath;
	CHECK_EQ(boot_load(vm), -1);			/* not a kernel at all */

	vm->cfg.kernel = kpath;
	vm->cfg.initrd = bpath;
	CHECK_EQ(boot_load(vm), -1);			/* module does not fit in 2 MiB */
	CHECK(vm->acpi_pm == NULL);
	CHECK_EQ(vm->pio.nr, 0);
out:
	if (vm)
		boot_test_vm_free(vm);
	boot_test_file_free(kpath);
	boot_test_file_free(jpath);
	boot_test_file_free(bpath);
	free(big);
}
