#include <string.h>

#include "util/bytes.h"
#include "boot/mptable.h"
#include "test.h"
#include "vm.h"

#define BASE 0xf0000

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

TEST(mptable_structure)
{
	static uint8_t buf[4096];
	size_t used = mptable_build(buf, sizeof(buf), BASE, 3);

	CHECK(used > MP_FPS_SIZE + MP_HDR_SIZE);
	CHECK(!memcmp(buf, "_MP_", 4));
	CHECK_EQ(sum(buf, MP_FPS_SIZE), 0);
	CHECK_EQ(buf[8], 1);
	CHECK_EQ(buf[9], 4);
	CHECK_EQ(buf[11], 0);				/* feature 1: config table present */
	CHECK_EQ(get_le32(buf + 4), BASE + MP_FPS_SIZE);

	const uint8_t *cfg = buf + MP_FPS_SIZE;
	uint16_t len = get_le16(cfg + 4);
	CHECK(!memcmp(cfg, "PCMP", 4));
	CHECK_EQ(MP_FPS_SIZE + len, used);
	CHECK_EQ(sum(cfg, len), 0);
	CHECK_EQ(get_le32(cfg + 36), 0xfee00000);

	int cpus = 0, buses = 0, ioapics = 0, intrs = 0, lints = 0, count = get_le16(cfg + 34);
	const uint8_t *e = cfg + MP_HDR_SIZE;
	for (int i = 0; i < count && e < cfg + len; i++) {
		switch (e[0]) {
		case 0:
			CHECK_EQ(e[1], cpus);
			CHECK_EQ(e[3], cpus == 0 ? 3 : 1);	/* enabled, BSP only on CPU 0 */
			cpus++;
			e += 20;
			break;
		case 1:
			CHECK(!memcmp(e + 2, "ISA   ", 6));
			buses++;
			e += 8;
			break;
		case 2:
			CHECK_EQ(e[1], 3);			/* IOAPIC ID after the CPUs */
			CHECK_EQ(get_le32(e + 4), 0xfec00000);
			ioapics++;
			e += 8;
			break;
		case 3:
			CHECK(e[5] != 2);			/* no cascade IRQ */
			CHECK_EQ(e[6], 3);
			CHECK_EQ(e[7], e[5] == 0 ? 2 : e[5]);
			intrs++;
			e += 8;
			break;
		case 4:
			CHECK_EQ(e[1], lints == 0 ? 3 : 1);	/* ExtINT on LINT0, NMI on LINT1 */
			CHECK_EQ(e[6], 0xff);
			CHECK_EQ(e[7], lints);
			lints++;
			e += 8;
			break;
		default:
			CHECK(0);
			return;
		}
	}
	CHECK_EQ(e, cfg + len);
	CHECK_EQ(cpus, 3);
	CHECK_EQ(buses, 1);
	CHECK_EQ(ioapics, 1);
	CHECK_EQ(intrs, 15);
	CHECK_EQ(lints, 2);
}

TEST(mptable_max_cpus_and_small_buffer)
{
	static uint8_t buf[4096];

	CHECK(mptable_build(buf, sizeof(buf), BASE, VM_MAX_CPUS) > 0);
	CHECK_EQ(mptable_build(buf, 100, BASE, 1), 0);
}
