/* CMOS RTC: BCD vs binary, 12/24 hours, registers A-D, setting the clock. */
#include <string.h>

#include "hw/devices.h"
#include "test.h"
#include "vm.h"

/* 2024-02-29 13:05:09 UTC, a Thursday. */
static int64_t fixed_now = 1709211909;

static int64_t test_clock(void)
{
	return fixed_now;
}

static uint8_t cmos(struct vm *vm, uint8_t reg)
{
	uint64_t v = reg;

	bus_access(&vm->pio, 0x70, 1, true, &v);
	bus_access(&vm->pio, 0x71, 1, false, &v);
	return (uint8_t)v;
}

static void cmos_set(struct vm *vm, uint8_t reg, uint8_t val)
{
	uint64_t v = reg;

	bus_access(&vm->pio, 0x70, 1, true, &v);
	v = val;
	bus_access(&vm->pio, 0x71, 1, true, &v);
}

static struct rtc *setup(struct vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg.mem_size = 256ull << 20;
	struct rtc *r = rtc_create(vm);
	if (r)
		rtc_set_clock(r, test_clock);
	return r;
}

static void teardown(struct vm *vm, struct rtc *r)
{
	rtc_destroy(r);
	bus_destroy(&vm->pio);
}

TEST(rtc_bcd_24h_default)
{
	struct vm vm;
	struct rtc *r = setup(&vm);

	CHECK(r != NULL);
	CHECK_EQ(cmos(&vm, 0x0b), 0x02);	/* 24 h, BCD */
	CHECK_EQ(cmos(&vm, 0x00), 0x09);
	CHECK_EQ(cmos(&vm, 0x02), 0x05);
	CHECK_EQ(cmos(&vm, 0x04), 0x13);
	CHECK_EQ(cmos(&vm, 0x06), 0x05);	/* Thursday: Sunday is 1 */
	CHECK_EQ(cmos(&vm, 0x07), 0x29);
	CHECK_EQ(cmos(&vm, 0x08), 0x02);
	CHECK_EQ(cmos(&vm, 0x09), 0x24);
	CHECK_EQ(cmos(&vm, 0x32), 0x20);
	teardown(&vm, r);
}

TEST(rtc_binary_and_12h)
{
	struct vm vm;
	struct rtc *r = setup(&vm);

	cmos_set(&vm, 0x0b, 0x06);		/* binary, 24 h */
	CHECK_EQ(cmos(&vm, 0x04), 13);
	CHECK_EQ(cmos(&vm, 0x07), 29);
	CHECK_EQ(cmos(&vm, 0x09), 24);
	cmos_set(&vm, 0x0b, 0x04);		/* binary, 12 h: 1 PM */
	CHECK_EQ(cmos(&vm, 0x04), 0x80 | 1);
	cmos_set(&vm, 0x0b, 0x00);		/* BCD, 12 h */
	CHECK_EQ(cmos(&vm, 0x04), 0x81);
	fixed_now -= 13 * 3600;			/* 00:05 is 12 AM */
	CHECK_EQ(cmos(&vm, 0x04), 0x12);
	fixed_now += 12 * 3600;			/* 12:05 is 12 PM */
	CHECK_EQ(cmos(&vm, 0x04), 0x92);
	fixed_now += 3600;
	teardown(&vm, r);
}

TEST(rtc_registers_a_c_d)
{
	struct vm vm;
	struct rtc *r = setup(&vm);

	CHECK_EQ(cmos(&vm, 0x0a), 0x26);	/* update never in progress */
	cmos_set(&vm, 0x0a, 0xa6);		/* UIP is read-only */
	CHECK_EQ(cmos(&vm, 0x0a), 0x26);
	CHECK_EQ(cmos(&vm, 0x0c), 0x00);
	cmos_set(&vm, 0x0c, 0xf0);		/* C and D are read-only */
	CHECK_EQ(cmos(&vm, 0x0c), 0x00);
	CHECK_EQ(cmos(&vm, 0x0d), 0x80);	/* battery good */
	cmos_set(&vm, 0x0d, 0x00);
	CHECK_EQ(cmos(&vm, 0x0d), 0x80);
	teardown(&vm, r);
}

TEST(rtc_set_time_and_freeze)
{
	struct vm vm;
	struct rtc *r = setup(&vm);

	cmos_set(&vm, 0x0b, 0x82);		/* SET: clock frozen while the guest writes */
	cmos_set(&vm, 0x04, 0x23);		/* 23:59:58 on the same day, BCD */
	cmos_set(&vm, 0x02, 0x59);
	cmos_set(&vm, 0x00, 0x58);
	fixed_now += 100;			/* frozen: host time does not show */
	CHECK_EQ(cmos(&vm, 0x00), 0x58);
	cmos_set(&vm, 0x0b, 0x02);		/* running again from 23:59:58 */
	fixed_now += 3;
	CHECK_EQ(cmos(&vm, 0x00), 0x01);
	CHECK_EQ(cmos(&vm, 0x02), 0x00);
	CHECK_EQ(cmos(&vm, 0x04), 0x00);
	CHECK_EQ(cmos(&vm, 0x07), 0x01);	/* 2024-03-01 */
	CHECK_EQ(cmos(&vm, 0x08), 0x03);
	fixed_now -= 103;
	teardown(&vm, r);
}

TEST(rtc_nmi_mask_and_ram)
{
	struct vm vm;
	struct rtc *r = setup(&vm);
	uint64_t v = 0x80 | 0x40;

	bus_access(&vm.pio, 0x70, 1, true, &v);
	CHECK(rtc_nmi_masked(r));
	v = 0x99;
	bus_access(&vm.pio, 0x71, 1, true, &v);	/* CMOS RAM byte 0x40 */
	CHECK_EQ(cmos(&vm, 0x40), 0x99);
	CHECK(!rtc_nmi_masked(r));		/* cmos() wrote the index without bit 7 */
	bus_access(&vm.pio, 0x70, 1, false, &v);
	CHECK_EQ(v, 0xff);			/* index port is write-only */
	/* Memory size bytes: KiB above 1 MiB (capped at 0xffff), 240 MiB above 16 MiB in
	 * 64 KiB units. */
	CHECK_EQ(cmos(&vm, 0x30) | cmos(&vm, 0x31) << 8, 0xffff);
	CHECK_EQ(cmos(&vm, 0x34) | cmos(&vm, 0x35) << 8, 240 * 16);
	teardown(&vm, r);
}
