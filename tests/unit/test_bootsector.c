#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/bootsector.h"
#include "util/bytes.h"
#include "boot_fixture.h"
#include "test.h"
#include "vm.h"

#define MiB (1ull << 20)

TEST(bootsector_size_limits)
{
	char why[96];

	CHECK_EQ(bootsector_check_size(0, why, sizeof(why)), -1);
	CHECK_EQ(bootsector_check_size(511, why, sizeof(why)), -1);
	CHECK(!strcmp(why, "boot sector must be 512 bytes..1 MiB"));
	CHECK_EQ(bootsector_check_size(512, why, sizeof(why)), 0);
	CHECK_EQ(bootsector_check_size(0xa0000 - 0x7c00, why, sizeof(why)), 0);
	/* Would run into video memory at 0xa0000. */
	CHECK_EQ(bootsector_check_size(0xa0000 - 0x7c00 + 1, why, sizeof(why)), -1);
	CHECK(strstr(why, "below 0xa0000") != NULL);
	CHECK_EQ(bootsector_check_size(MiB + 1, why, sizeof(why)), -1);
	CHECK(!strcmp(why, "boot sector must be 512 bytes..1 MiB"));
}

TEST(bootsector_ivt_points_at_iret)
{
	uint8_t ivt[BOOTSECT_IVT_SIZE];

	bootsector_build_ivt(ivt);
	for (int v = 0; v < 256; v += 51) {
		CHECK_EQ(get_le16(ivt + 4 * v), 0xff53);
		CHECK_EQ(get_le16(ivt + 4 * v + 2), 0xf000);
	}
}

TEST(bootsector_state_real_mode)
{
	struct cpu_state s;

	bootsector_state(&s);
	CHECK_EQ(s.rip, 0x7c00);
	CHECK_EQ(s.seg[S_CS].sel, 0);
	CHECK_EQ(s.seg[S_CS].base, 0);
	CHECK_EQ(s.seg[S_CS].limit, 0xffff);
	CHECK_EQ(s.seg[S_SS].sel, 0);
	CHECK_EQ(s.seg[S_DS].base, 0);
	CHECK_EQ(s.gpr[R_RSP], 0x7c00);
	CHECK_EQ(s.gpr[R_RDX], 0x80);
	CHECK_EQ(s.rflags, 2);
	CHECK_EQ(s.cr0 & (CR0_PE | CR0_PG), 0);
}

TEST(bootsector_boot_load)
{
	static uint8_t img[1024];
	struct vm *vm = boot_test_vm(MiB, 1);

	for (size_t i = 0; i < sizeof(img); i++)
		img[i] = (uint8_t)(i ^ 0x5a);
	char *path = boot_test_file(img, sizeof(img));
	char *small = boot_test_file(img, 100);
	CHECK(vm && path && small);
	if (!vm || !path || !small)
		goto out;

	vm->cfg.boot_sector = small;
	CHECK_EQ(boot_load(vm), -1);
	CHECK(vm->acpi_pm == NULL);

	/* Even a 1 MiB guest has room for the image, the IVT and the firmware tables. */
	vm->cfg.boot_sector = path;
	CHECK_EQ(boot_load(vm), 0);
	CHECK(!memcmp(gpa_to_hva(&vm->mem, 0x7c00, sizeof(img)), img, sizeof(img)));
	CHECK_EQ(*gpa_to_hva(&vm->mem, 0xfff53, 1), 0xcf);	/* IRET */
	CHECK_EQ(get_le32(gpa_to_hva(&vm->mem, 4 * 0x13, 4)), 0xf000ff53);
	CHECK_EQ(vm->boot_state.rip, 0x7c00);
	CHECK(!memcmp(gpa_to_hva(&vm->mem, 0xf0000, 4), "_MP_", 4));
out:
	if (vm)
		boot_test_vm_free(vm);
	boot_test_file_free(path);
	boot_test_file_free(small);
}
