#include "boot/multiboot.h"

#include <elf.h>
#include <stdio.h>
#include <string.h>

#include "util/bytes.h"
#include "boot/e820.h"
#include "boot/entry.h"
#include "boot/layout.h"
#include "boot/reason.h"
#include "util/log.h"
#include "vm.h"

#define MB_FLAG_AOUT_KLUDGE	(1u << 16)
/* Bits 0-15 are requirements: page-aligned modules and memory info are given; a video mode
 * request (bit 2) is ignored as QEMU does, since there is no display. Others are unknown. */
#define MB_FLAGS_KNOWN		0x0007u

#define MB_HEADER_LEN		12
#define MB_AOUT_HEADER_LEN	32

#define PAGE_SIZE		4096ull
#define LOADER_NAME		"vmon"

/* What vmon keeps below 1 MiB whatever a multiboot kernel loads: the GDT the kernel is entered
 * with and the firmware tables the kernel may look for. Its own data (info page, command line,
 * module name) moves out of the kernel's way instead (place_loader_data). */
static const struct { uint64_t addr, size; const char *what; } fixed[] = {
	{ BOOT_GDT_ADDR, BOOT_GDT_ENTRIES * 8, "GDT" },
	{ FW_ACPI_ADDR, FW_ACPI_SIZE, "ACPI tables" },
	{ FW_MPTABLE_ADDR, FW_MPTABLE_SIZE, "MP table" },
};

/* A piece of the image to copy to [gpa, gpa+memsz); checked against the file, RAM and what
 * vmon keeps below 1 MiB. */
static int add_segment(struct mb_image *mb, size_t len, uint64_t low_end, uint64_t file_off,
		       uint64_t filesz, uint64_t gpa, uint64_t memsz, char *why, size_t why_len)
{
	if (!memsz)
		return 0;
	if (filesz > memsz)
		return refuse(why, why_len, "segment file size larger than its memory size");
	if (file_off > len || filesz > len - file_off)
		return refuse(why, why_len, "segment beyond end of file");
	if (gpa > low_end || memsz > low_end - gpa)
		return refuse(why, why_len, "segment %#llx-%#llx outside guest memory",
			      (unsigned long long)gpa, (unsigned long long)(gpa + memsz - 1));
	for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++)
		if (gpa < fixed[k].addr + fixed[k].size && fixed[k].addr < gpa + memsz)
			return refuse(why, why_len, "segment %#llx-%#llx overlaps vmon's %s at %#llx",
				      (unsigned long long)gpa, (unsigned long long)(gpa + memsz - 1),
				      fixed[k].what, (unsigned long long)fixed[k].addr);
	if (mb->nr_segs == MB_MAX_SEGMENTS)
		return refuse(why, why_len, "too many loadable segments");
	mb->seg[mb->nr_segs++] = (struct mb_segment){ file_off, filesz, gpa, memsz };
	if (gpa + memsz > mb->end)
		mb->end = gpa + memsz;
	return 0;
}

/* Header fields 3-7 of a flags-bit-16 kernel describe one segment directly. */
static int parse_aout(const uint8_t *img, size_t len, uint64_t low_end, struct mb_image *mb,
		      char *why, size_t why_len)
{
	const uint8_t *h = img + mb->header_off;

	if (mb->header_off + MB_AOUT_HEADER_LEN > len)
		return refuse(why, why_len, "truncated multiboot header");

	uint32_t header_addr = get_le32(h + 12), load_addr = get_le32(h + 16);
	uint32_t load_end = get_le32(h + 20), bss_end = get_le32(h + 24);
	if (load_addr > header_addr || header_addr - load_addr > mb->header_off)
		return refuse(why, why_len,
			      "multiboot header_addr/load_addr do not match the file");

	uint64_t file_off = mb->header_off - (header_addr - load_addr);
	uint64_t filesz = len - file_off;
	if (load_end) {
		if (load_end <= load_addr)
			return refuse(why, why_len, "multiboot load_end_addr below load_addr");
		filesz = load_end - load_addr;
	}
	uint64_t memsz = filesz;
	if (bss_end) {
		if (bss_end < load_addr || bss_end - load_addr < filesz)
			return refuse(why, why_len, "multiboot bss_end_addr below load_end_addr");
		memsz = bss_end - load_addr;
	}
	mb->entry = get_le32(h + 28);
	return add_segment(mb, len, low_end, file_off, filesz, load_addr, memsz, why, why_len);
}

static int parse_elf32(const uint8_t *img, size_t len, uint64_t low_end, struct mb_image *mb,
		       char *why, size_t why_len)
{
	Elf32_Ehdr eh;

	if (len < sizeof(eh))
		return refuse(why, why_len, "truncated ELF header");
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_machine != EM_386)
		return refuse(why, why_len, "ELF32 kernel is not for i386");
	if (eh.e_phentsize < sizeof(Elf32_Phdr) || eh.e_phoff > len ||
	    (uint64_t)eh.e_phnum * eh.e_phentsize > len - eh.e_phoff)
		return refuse(why, why_len, "truncated program headers");
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf32_Phdr ph;

		memcpy(&ph, img + eh.e_phoff + (size_t)i * eh.e_phentsize, sizeof(ph));
		if (ph.p_type == PT_LOAD &&
		    add_segment(mb, len, low_end, ph.p_offset, ph.p_filesz, ph.p_paddr, ph.p_memsz,
				why, why_len))
			return -1;
	}
	mb->entry = eh.e_entry;
	return 0;
}

static int parse_elf64(const uint8_t *img, size_t len, uint64_t low_end, struct mb_image *mb,
		       char *why, size_t why_len)
{
	Elf64_Ehdr eh;

	if (len < sizeof(eh))
		return refuse(why, why_len, "truncated ELF header");
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_machine != EM_X86_64)
		return refuse(why, why_len, "ELF64 kernel is not for x86-64");
	if (eh.e_entry > UINT32_MAX)
		return refuse(why, why_len,
			      "ELF64 entry point above 4 GiB (entered in 32-bit mode)");
	if (eh.e_phentsize < sizeof(Elf64_Phdr) || eh.e_phoff > len ||
	    (uint64_t)eh.e_phnum * eh.e_phentsize > len - eh.e_phoff)
		return refuse(why, why_len, "truncated program headers");
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, img + eh.e_phoff + (size_t)i * eh.e_phentsize, sizeof(ph));
		if (ph.p_type == PT_LOAD &&
		    add_segment(mb, len, low_end, ph.p_offset, ph.p_filesz, ph.p_paddr, ph.p_memsz,
				why, why_len))
			return -1;
	}
	mb->entry = (uint32_t)eh.e_entry;
	return 0;
}

static int parse_elf(const uint8_t *img, size_t len, uint64_t low_end, struct mb_image *mb,
		     char *why, size_t why_len)
{
	if (len < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG))
		return refuse(why, why_len, "multiboot kernel is neither ELF nor a.out-kludge");
	if (img[EI_DATA] != ELFDATA2LSB)
		return refuse(why, why_len, "ELF kernel is not little-endian");
	if (img[EI_CLASS] == ELFCLASS32)
		return parse_elf32(img, len, low_end, mb, why, why_len);
	if (img[EI_CLASS] == ELFCLASS64)
		return parse_elf64(img, len, low_end, mb, why, why_len);
	return refuse(why, why_len, "ELF kernel is neither 32- nor 64-bit");
}

/* The first 4-aligned valid header in the first 8 KiB; a bad checksum is reported only if no
 * valid header follows. */
static int find_header(const uint8_t *img, size_t len, struct mb_image *mb, char *why,
		       size_t why_len)
{
	bool bad_sum = false;

	for (size_t off = 0; off + MB_HEADER_LEN <= len && off + MB_HEADER_LEN <= MB_SEARCH_LEN;
	     off += 4) {
		uint32_t magic = get_le32(img + off), flags = get_le32(img + off + 4);

		if (magic != MB_HEADER_MAGIC)
			continue;
		if ((uint32_t)(magic + flags + get_le32(img + off + 8))) {
			bad_sum = true;
			continue;
		}
		mb->header_off = off;
		mb->flags = flags;
		return 0;
	}
	return refuse(why, why_len, "%s", bad_sum ? "multiboot header checksum mismatch" :
		      "not a bzImage or multiboot kernel");
}

int multiboot_parse(const uint8_t *img, size_t len, uint64_t mem_size, struct mb_image *mb,
		    char *why, size_t why_len)
{
	uint64_t low_end = e820_low_ram_end(mem_size);
	int ret;

	memset(mb, 0, sizeof(*mb));
	if (find_header(img, len, mb, why, why_len))
		return -1;
	if (mb->flags & 0xffffu & ~MB_FLAGS_KNOWN)
		return refuse(why, why_len, "multiboot flags %#x require unsupported features",
			      mb->flags);
	if (mb->flags & MB_FLAG_AOUT_KLUDGE)
		ret = parse_aout(img, len, low_end, mb, why, why_len);
	else
		ret = parse_elf(img, len, low_end, mb, why, why_len);
	if (!ret && !mb->nr_segs)
		return refuse(why, why_len, "kernel has nothing to load");
	return ret;
}

void multiboot_build_info(uint8_t page[MB_PAGE_SIZE], const struct mb_info_params *p)
{
	uint8_t *info = page + MB_PAGE_INFO;
	struct e820_entry map[E820_MAX];
	int n = e820_build(p->mem_size, map);
	uint64_t low_end = e820_low_ram_end(p->mem_size);
	uint32_t flags = MB_INFO_MEM | MB_INFO_CMDLINE | MB_INFO_MMAP | MB_INFO_LOADER_NAME;

	memset(page, 0, MB_PAGE_SIZE);
	/* As QEMU reports it: conventional memory below the VGA hole, then the KiB from 1 MiB up
	 * to the first hole. */
	put_le32(info + 4, 640);
	if (low_end > BOOT_LOADER_END)
		put_le32(info + 8, (uint32_t)((low_end - BOOT_LOADER_END) >> 10));
	put_le32(info + 16, p->cmdline_addr);

	for (int i = 0; i < n; i++) {
		uint8_t *e = page + MB_PAGE_MMAP + 24 * i;

		put_le32(e, 20);	/* size of the entry, not counting this field */
		put_le64(e + 4, map[i].addr);
		put_le64(e + 12, map[i].size);
		put_le32(e + 20, map[i].type);
	}
	put_le32(info + 44, (uint32_t)(24 * n));
	put_le32(info + 48, (uint32_t)(p->info_addr + MB_PAGE_MMAP));

	if (p->has_module) {
		uint8_t *mod = page + MB_PAGE_MODS;

		flags |= MB_INFO_MODS;
		put_le32(info + 20, 1);
		put_le32(info + 24, (uint32_t)(p->info_addr + MB_PAGE_MODS));
		put_le32(mod, p->mod_start);
		put_le32(mod + 4, p->mod_end);
		put_le32(mod + 8, p->mod_name_addr);
	}
	memcpy(page + MB_PAGE_LOADER_NAME, LOADER_NAME, sizeof(LOADER_NAME));
	put_le32(info + 64, (uint32_t)(p->info_addr + MB_PAGE_LOADER_NAME));
	put_le32(info, flags);
}

/* "PATH" or "PATH CMDLINE": its length without the NUL. */
static size_t cmdline_len(const char *path, const char *cmdline)
{
	return strlen(path) + (cmdline ? 1 + strlen(cmdline) : 0);
}

static int write_cmdline(const struct guest_mem *m, uint64_t gpa, const char *path,
			 const char *cmdline)
{
	size_t len = cmdline_len(path, cmdline);
	char *dst = (char *)gpa_to_hva(m, gpa, len + 1);

	if (!dst)
		return -1;
	snprintf(dst, len + 1, "%s%s%s", path, cmdline ? " " : "", cmdline ? cmdline : "");
	return 0;
}

/* The loader's own data goes to its usual address want below 1 MiB, unless the kernel or its
 * module occupies [want, want + len): then to the next free page at or above *above (kernels
 * that load low, e.g. a trampoline at 0x8000, keep their memory as GRUB and QEMU leave it). */
static uint64_t place_loader_data(const struct mb_image *mb, uint64_t mod_start, uint64_t mod_end,
				  uint64_t want, uint64_t len, uint64_t *above)
{
	bool taken = want < mod_end && mod_start < want + len;

	for (int i = 0; i < mb->nr_segs && !taken; i++)
		taken = want < mb->seg[i].gpa + mb->seg[i].memsz && mb->seg[i].gpa < want + len;
	if (!taken)
		return want;
	uint64_t at = *above;
	*above = (at + len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	return at;
}

static int load_segments(const struct guest_mem *m, const uint8_t *img, const struct mb_image *mb)
{
	for (int i = 0; i < mb->nr_segs; i++) {
		const struct mb_segment *s = &mb->seg[i];
		uint8_t *dst = gpa_to_hva(m, s->gpa, s->memsz);

		if (!dst)
			return -1;
		memcpy(dst, img + s->file_off, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}

int multiboot_load(struct vm *vm, const char *path, const uint8_t *img, size_t len,
		   const struct boot_file *initrd)
{
	const struct guest_mem *m = &vm->mem;
	uint64_t low_end = e820_low_ram_end(m->size);
	struct mb_info_params p = { .mem_size = m->size };
	struct mb_image mb;
	uint8_t page[MB_PAGE_SIZE];
	char why[128];

	if (multiboot_parse(img, len, m->size, &mb, why, sizeof(why))) {
		vmon_log("%s: %s", path, why);
		return -1;
	}
	uint64_t above = (mb.end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	size_t name_len = 0;
	if (initrd) {
		uint64_t start = above;

		name_len = strlen(initrd->path);
		if (start > low_end || initrd->size > low_end - start) {
			vmon_log("initrd too large for guest memory");
			return -1;
		}
		if (name_len >= BOOT_MB_MODNAME_MAX) {
			vmon_log("%s: path too long for a multiboot module",
				initrd->path);
			return -1;
		}
		p.has_module = true;
		p.mod_start = (uint32_t)start;
		p.mod_end = (uint32_t)(start + initrd->size);
		above = (p.mod_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	}
	size_t cmd_len = cmdline_len(path, vm->cfg.cmdline);
	if (cmd_len >= BOOT_CMDLINE_MAX) {
		vmon_log("--cmdline too long (%llu bytes at most with the path)",
			 BOOT_CMDLINE_MAX - 1);
		return -1;
	}
	p.info_addr = (uint32_t)place_loader_data(&mb, p.mod_start, p.mod_end, BOOT_MB_INFO_ADDR,
						  MB_PAGE_SIZE, &above);
	p.cmdline_addr = (uint32_t)place_loader_data(&mb, p.mod_start, p.mod_end, BOOT_CMDLINE_ADDR,
						     cmd_len + 1, &above);
	if (initrd) {
		p.mod_name_addr = (uint32_t)place_loader_data(&mb, p.mod_start, p.mod_end,
							      BOOT_MB_MODNAME_ADDR, name_len + 1,
							      &above);
		if (mem_write(m, p.mod_name_addr, initrd->path, name_len + 1))
			goto too_small;
	}
	if (above > UINT32_MAX || write_cmdline(m, p.cmdline_addr, path, vm->cfg.cmdline))
		goto too_small;
	multiboot_build_info(page, &p);
	if (load_segments(m, img, &mb) || mem_write(m, p.info_addr, page, sizeof(page)) ||
	    boot_write_gdt(m))
		goto too_small;
	if (initrd && boot_file_read_to_guest(initrd, m, p.mod_start))
		return -1;

	boot_state_protected(&vm->boot_state, mb.entry);
	vm->boot_state.gpr[R_RAX] = MB_BOOT_MAGIC;
	vm->boot_state.gpr[R_RBX] = p.info_addr;
	return 0;

too_small:
	vmon_log("%s: does not fit in guest memory", path);
	return -1;
}
