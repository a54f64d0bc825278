/* MC146818 CMOS real-time clock at ports 0x70 (index, NMI mask) / 0x71 (data).
 *
 * The clock is host UTC time plus an offset the guest sets by writing the time registers.
 * Register B selects BCD or binary and 12/24-hour format for every read and write; while its
 * SET bit is on the clock is frozen. Periodic, alarm and update-ended interrupts (IRQ 8) are not
 * generated: register C always reads 0 (documented limitation).
 */
#include <stdlib.h>
#include <time.h>

#include "hw/devices.h"
#include "snapshot/state.h"
#include "vm.h"

#define RTC_PORT	0x70

enum {
	RTC_SEC = 0x00, RTC_MIN = 0x02, RTC_HOUR = 0x04, RTC_WDAY = 0x06, RTC_MDAY = 0x07,
	RTC_MON = 0x08, RTC_YEAR = 0x09, RTC_REG_A = 0x0a, RTC_REG_B = 0x0b, RTC_REG_C = 0x0c,
	RTC_REG_D = 0x0d, RTC_CENTURY = 0x32,
};

#define REG_A_UIP	0x80
#define REG_B_SET	0x80
#define REG_B_BINARY	0x04
#define REG_B_24H	0x02
#define REG_D_VRT	0x80	/* battery good */
#define HOUR_PM		0x80

struct rtc {
	struct vm *vm;
	int64_t (*now)(void);
	int64_t offset;		/* guest time - host time, seconds */
	int64_t frozen;		/* guest time when register B's SET bit was turned on */
	uint8_t index;
	int nmi_masked;
	uint8_t cmos[128];
};

static int64_t host_utc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

static int64_t guest_time(const struct rtc *r)
{
	return (r->cmos[RTC_REG_B] & REG_B_SET) ? r->frozen : r->now() + r->offset;
}

static uint8_t to_guest(const struct rtc *r, int v)
{
	return (r->cmos[RTC_REG_B] & REG_B_BINARY) ? (uint8_t)v : (uint8_t)((v / 10) << 4 | v % 10);
}

static int from_guest(const struct rtc *r, uint8_t v)
{
	return (r->cmos[RTC_REG_B] & REG_B_BINARY) ? v : (v >> 4) * 10 + (v & 0xf);
}

static uint8_t hour_to_guest(const struct rtc *r, int h)
{
	if (r->cmos[RTC_REG_B] & REG_B_24H)
		return to_guest(r, h);
	int h12 = h % 12 ? h % 12 : 12;
	return (uint8_t)(to_guest(r, h12) | (h >= 12 ? HOUR_PM : 0));
}

static int hour_from_guest(const struct rtc *r, uint8_t v)
{
	if (r->cmos[RTC_REG_B] & REG_B_24H)
		return from_guest(r, v);
	return from_guest(r, v & 0x7f) % 12 + ((v & HOUR_PM) ? 12 : 0);
}

static void guest_tm(const struct rtc *r, struct tm *tm)
{
	time_t t = (time_t)guest_time(r);

	gmtime_r(&t, tm);
}

static uint8_t read_time_reg(const struct rtc *r, uint8_t reg)
{
	struct tm tm;

	guest_tm(r, &tm);
	switch (reg) {
	case RTC_SEC:	return to_guest(r, tm.tm_sec);
	case RTC_MIN:	return to_guest(r, tm.tm_min);
	case RTC_HOUR:	return hour_to_guest(r, tm.tm_hour);
	case RTC_WDAY:	return to_guest(r, tm.tm_wday + 1);
	case RTC_MDAY:	return to_guest(r, tm.tm_mday);
	case RTC_MON:	return to_guest(r, tm.tm_mon + 1);
	case RTC_YEAR:	return to_guest(r, (tm.tm_year + 1900) % 100);
	default:	return to_guest(r, (tm.tm_year + 1900) / 100);	/* RTC_CENTURY */
	}
}

/* A write to one field keeps the others and moves the whole clock (nonsense values are
 * normalized by timegm, as good as anything for a guest that writes them). */
static void write_time_reg(struct rtc *r, uint8_t reg, uint8_t v)
{
	struct tm tm;

	guest_tm(r, &tm);
	switch (reg) {
	case RTC_SEC:	tm.tm_sec = from_guest(r, v); break;
	case RTC_MIN:	tm.tm_min = from_guest(r, v); break;
	case RTC_HOUR:	tm.tm_hour = hour_from_guest(r, v); break;
	case RTC_WDAY:	return;	/* derived from the date */
	case RTC_MDAY:	tm.tm_mday = from_guest(r, v); break;
	case RTC_MON:	tm.tm_mon = from_guest(r, v) - 1; break;
	case RTC_YEAR:	tm.tm_year = (tm.tm_year + 1900) / 100 * 100 + from_guest(r, v) - 1900; break;
	default:	tm.tm_year = from_guest(r, v) * 100 + (tm.tm_year + 1900) % 100 - 1900; break;
	}
	int64_t t = (int64_t)timegm(&tm);
	if (r->cmos[RTC_REG_B] & REG_B_SET)
		r->frozen = t;
	else
		r->offset = t - r->now();
}

static bool is_time_reg(uint8_t reg)
{
	return reg == RTC_SEC || reg == RTC_MIN || reg == RTC_HOUR || reg == RTC_WDAY ||
	       reg == RTC_MDAY || reg == RTC_MON || reg == RTC_YEAR || reg == RTC_CENTURY;
}

static uint64_t rtc_read(void *opaque, uint64_t off, unsigned size)
{
	struct rtc *r = opaque;

	if (off != 1)
		return 0xff;	/* the index register is write-only */
	uint8_t reg = r->index;
	if (is_time_reg(reg))
		return read_time_reg(r, reg);
	uint8_t v = r->cmos[reg];
	if (reg == RTC_REG_C)
		r->cmos[RTC_REG_C] = 0;	/* reading C acknowledges the interrupt flags */
	return v;
}

static void rtc_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct rtc *r = opaque;
	uint8_t v = (uint8_t)val;

	if (off == 0) {
		r->index = v & 0x7f;
		r->nmi_masked = !!(v & 0x80);
		return;
	}
	if (off != 1)
		return;
	uint8_t reg = r->index;
	if (is_time_reg(reg)) {
		write_time_reg(r, reg, v);
	} else if (reg == RTC_REG_A) {
		r->cmos[reg] = v & (uint8_t)~REG_A_UIP;
	} else if (reg == RTC_REG_B) {
		bool was_set = r->cmos[reg] & REG_B_SET;
		if (!was_set && (v & REG_B_SET))
			r->frozen = guest_time(r);
		r->cmos[reg] = v;
		if (was_set && !(v & REG_B_SET))
			r->offset = r->frozen - r->now();
	} else if (reg != RTC_REG_C && reg != RTC_REG_D) {
		r->cmos[reg] = v;
	}
}

static const struct io_ops rtc_ops = { .read = rtc_read, .write = rtc_write };

/* Memory size bytes as PC firmware stores them (some loaders and old kernels look). */
static void fill_memory_size(struct rtc *r, uint64_t mem)
{
	uint64_t ext_kib = mem > (1u << 20) ? (mem - (1u << 20)) >> 10 : 0;
	uint64_t low = mem < MEM_HOLE_START ? mem : MEM_HOLE_START;
	uint64_t above16m = low > (16u << 20) ? (low - (16u << 20)) >> 16 : 0;
	uint64_t above4g = mem > MEM_HOLE_START ? (mem - MEM_HOLE_START) >> 16 : 0;

	if (ext_kib > 0xffff)
		ext_kib = 0xffff;
	if (above16m > 0xffff)
		above16m = 0xffff;
	r->cmos[0x15] = 640 & 0xff;
	r->cmos[0x16] = 640 >> 8;
	r->cmos[0x17] = r->cmos[0x30] = (uint8_t)ext_kib;
	r->cmos[0x18] = r->cmos[0x31] = (uint8_t)(ext_kib >> 8);
	r->cmos[0x34] = (uint8_t)above16m;
	r->cmos[0x35] = (uint8_t)(above16m >> 8);
	r->cmos[0x5b] = (uint8_t)above4g;
	r->cmos[0x5c] = (uint8_t)(above4g >> 8);
	r->cmos[0x5d] = (uint8_t)(above4g >> 16);
}

/* Snapshot: CMOS RAM and registers; the clock keeps following host UTC (plus the guest's
 * offset), as it would across a host suspend. Runs with the vCPUs parked (no other accessor). */
static void rtc_save(void *opaque, struct state_out *o)
{
	struct rtc *r = opaque;

	state_put_u64(o, (uint64_t)r->offset);
	state_put_u64(o, (uint64_t)r->frozen);
	state_put_u8(o, r->index);
	state_put_bool(o, r->nmi_masked);
	state_put(o, r->cmos, sizeof(r->cmos));
}

static int rtc_load(void *opaque, struct state_in *in)
{
	struct rtc *r = opaque;

	r->offset = (int64_t)state_get_u64(in);
	r->frozen = (int64_t)state_get_u64(in);
	r->index = state_get_u8(in) & 0x7f;
	r->nmi_masked = state_get_bool(in);
	state_get(in, r->cmos, sizeof(r->cmos));
	return in->bad ? -1 : 0;
}

struct rtc *rtc_create(struct vm *vm)
{
	struct rtc *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->vm = vm;
	r->now = host_utc_now;
	r->cmos[RTC_REG_A] = 0x26;	/* 32.768 kHz time base, 1024 Hz periodic rate */
	r->cmos[RTC_REG_B] = REG_B_24H;
	r->cmos[RTC_REG_D] = REG_D_VRT;
	fill_memory_size(r, vm->cfg.mem_size);
	if (bus_register(&vm->pio, RTC_PORT, 2, &rtc_ops, r, "rtc") < 0 ||
	    vm_register_state(vm, "rtc", rtc_save, rtc_load, r) < 0) {
		free(r);
		return NULL;
	}
	return r;
}

void rtc_destroy(struct rtc *r)
{
	free(r);
}

void rtc_set_clock(struct rtc *r, int64_t (*now)(void))
{
	r->now = now;
}

int rtc_nmi_masked(const struct rtc *r)
{
	return r->nmi_masked;
}
