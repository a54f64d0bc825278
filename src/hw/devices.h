/* The fixed PC devices on port I/O every vmon VM has (besides COM1, see serial8250.h).
 * Each registers itself on vm->pio; NULL / -1 means its ports were taken or memory is short. */
#ifndef VMON_HW_DEVICES_H
#define VMON_HW_DEVICES_H

#include <stdint.h>

struct vm;
struct rtc;
struct i8042;

/* Ports 0xf4-0xf7: a write of v ends the VM with status (v << 1) | 1 (QEMU isa-debug-exit).
 * Port 0x80: POST codes, ignored. */
int debugexit_init(struct vm *vm);

/* i8042 keyboard controller at 0x60/0x64; command 0xfe (pulse reset) ends the VM through
 * vm_guest_reset(). */
struct i8042 *i8042_create(struct vm *vm);
void i8042_destroy(struct i8042 *k);

/* MC146818 CMOS RTC at 0x70/0x71 showing host UTC time, 128 bytes of CMOS RAM (with the
 * memory-size bytes firmware leaves there). */
struct rtc *rtc_create(struct vm *vm);
void rtc_destroy(struct rtc *r);
/* Replaces the host clock (seconds since the epoch, UTC): tests read the RTC at a fixed time. */
void rtc_set_clock(struct rtc *r, int64_t (*now)(void));
/* NMI mask bit (port 0x70 bit 7) as the guest last wrote it. */
int rtc_nmi_masked(const struct rtc *r);

#endif
