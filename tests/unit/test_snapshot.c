/* Snapshot files and saved device state: the container round trip; truncated, corrupted and
 * absurd files are refused (never a crash or a huge allocation); devices and the irqchip come
 * back as they were saved. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot_fixture.h"
#include "hw/clock.h"
#include "hw/devices.h"
#include "hw/serial8250.h"
#include "irqchip_fixture.h"
#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "test.h"
#include "vm.h"

#define MiB (1ull << 20)

static char *temp_path(void)
{
	char *path = strdup("/tmp/vmon-snap-test-XXXXXX");
	int fd = mkstemp(path);

	close(fd);
	return path;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A snapshot file holding config (mem, cpus), clock and devices (the given bytes) sections,
 * an "extra" one, then "end". */
static void write_devices(const char *path, uint64_t mem, uint32_t cpus, const void *devices,
			  uint32_t devices_len, const char *engine)
{
	struct snap_writer w;
	uint8_t config[8 + 4 + 1 + 255], clock[16];
	struct vm_clock running = { 0 };	/* never paused: CLOCK_MONOTONIC */
	size_t engine_len = strlen(engine);

	put_le(config, mem, 8);
	put_le(config + 8, cpus, 4);
	config[12] = (uint8_t)engine_len;
	memcpy(config + 13, engine, engine_len);
	/* The clock as it is: restoring it changes nothing for the other tests. */
	put_le(clock, vm_clock_now_ns(&running), 8);
	put_le(clock + 8, guest_tsc_epoch_ns(), 8);
	const char *why;
	snap_writer_open(&w, path, &why);
	snap_write_section(&w, "config", config, (uint32_t)(13 + engine_len));
	snap_write_section(&w, "clock", clock, sizeof(clock));
	snap_write_section(&w, "devices", devices, devices_len);
	snap_write_section(&w, "extra", "hello", 5);
	snap_writer_finish(&w);
}

/* No disks, no --rng, no --net. */
static void write_small(const char *path, uint64_t mem, uint32_t cpus)
{
	write_devices(path, mem, cpus, "\0\0\0", 3, "bt");
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(1 << 16);

	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

static void spit(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	fwrite(buf, 1, len, f);
	fclose(f);
}

/* Reads every section; returns the first error (SNAP_OK if "end" verified). */
static enum snap_error read_all(const char *path)
{
	struct snap_reader r;
	char name[SNAP_NAME_LEN + 1];
	const uint8_t *p;
	uint32_t len;
	enum snap_error e = snap_reader_open(&r, fopen(path, "rb"));

	while (!e) {
		e = snap_read_section(&r, name, &p, &len);
		if (!e && strcmp(name, "end") == 0)
			break;
	}
	snap_reader_close(&r);
	return e;
}

TEST(snapshot_container_round_trip)
{
	char *path = temp_path();
	struct snap_reader r;
	char name[SNAP_NAME_LEN + 1];
	const uint8_t *p;
	uint32_t len;

	write_small(path, 64 * MiB, 2);
	CHECK_EQ(snap_reader_open(&r, fopen(path, "rb")), SNAP_OK);
	CHECK_EQ(snap_read_section(&r, name, &p, &len), SNAP_OK);
	CHECK(strcmp(name, "config") == 0 && len == 15);
	CHECK_EQ(snap_read_section(&r, name, &p, &len), SNAP_OK);
	CHECK(strcmp(name, "clock") == 0 && len == 16);
	CHECK_EQ(snap_read_section(&r, name, &p, &len), SNAP_OK);
	CHECK(strcmp(name, "devices") == 0 && len == 3);
	CHECK_EQ(snap_read_section(&r, name, &p, &len), SNAP_OK);
	CHECK(strcmp(name, "extra") == 0 && len == 5 && memcmp(p, "hello", 5) == 0);
	CHECK_EQ(snap_read_section(&r, name, &p, &len), SNAP_OK);
	CHECK(strcmp(name, "end") == 0);
	CHECK_EQ(r.left, 0);
	snap_reader_close(&r);
	unlink(path);
	free(path);
}

TEST(snapshot_truncated_and_corrupt_files)
{
	char *path = temp_path();
	size_t len;

	write_small(path, 64 * MiB, 1);
	uint8_t *good = slurp(path, &len);
	uint8_t *buf = malloc(len);

	/* Every truncation is refused. */
	for (size_t n = 0; n < len; n++) {
		spit(path, good, n);
		CHECK(read_all(path) != SNAP_OK);
	}
	/* Every single flipped byte is refused too: magic, version, names, lengths, payload or
	 * the checksum itself. */
	for (size_t i = 0; i < len; i++) {
		memcpy(buf, good, len);
		buf[i] ^= 0x40;
		spit(path, buf, len);
		CHECK(read_all(path) != SNAP_OK);
	}
	memcpy(buf, good, len);
	buf[8] = 2;				/* version */
	spit(path, buf, len);
	CHECK_EQ(read_all(path), SNAP_ERR_VERSION);
	memcpy(buf, good, len);
	buf[0] = 'X';
	spit(path, buf, len);
	CHECK_EQ(read_all(path), SNAP_ERR_MAGIC);
	/* An absurd section length: refused before any allocation. */
	memcpy(buf, good, len);
	put_le(buf + SNAP_HEADER_SIZE + SNAP_NAME_LEN, 0xfffffff0u, 4);
	spit(path, buf, len);
	CHECK_EQ(read_all(path), SNAP_ERR_LENGTH);
	/* A plausible length past the end of the file. */
	put_le(buf + SNAP_HEADER_SIZE + SNAP_NAME_LEN, 1000, 4);
	spit(path, buf, len);
	CHECK_EQ(read_all(path), SNAP_ERR_TRUNCATED);
	memcpy(buf, good, len);
	buf[len - 1] ^= 1;			/* the checksum */
	spit(path, buf, len);
	CHECK_EQ(read_all(path), SNAP_ERR_CHECKSUM);
	free(buf);
	free(good);
	unlink(path);
	free(path);
}

TEST(snapshot_open_checks_the_config)
{
	char *path = temp_path();
	struct vm_config cfg = { 0 };
	struct snapshot_reader *r;

	write_small(path, 64 * MiB, 3);
	r = snapshot_open(path, &cfg);
	CHECK(r != NULL);
	CHECK_EQ(cfg.mem_size, 64 * MiB);
	CHECK_EQ(cfg.cpus, 3);
	snapshot_close(r);

	write_small(path, 1ull << 60, 1);	/* absurd RAM size: no VM built for it */
	CHECK(snapshot_open(path, &cfg) == NULL);
	write_small(path, 64 * MiB + 1, 1);
	CHECK(snapshot_open(path, &cfg) == NULL);
	write_small(path, 64 * MiB, 0);
	CHECK(snapshot_open(path, &cfg) == NULL);
	write_small(path, 64 * MiB, 100000);
	CHECK(snapshot_open(path, &cfg) == NULL);
	/* The engine's name goes into error messages: a word or nothing. */
	write_devices(path, 64 * MiB, 1, "\0\0\0", 3, "b\nt");
	CHECK(snapshot_open(path, &cfg) == NULL);
	write_devices(path, 64 * MiB, 1, "\0\0\0", 3, "");
	CHECK(snapshot_open(path, &cfg) == NULL);
	write_devices(path, 64 * MiB, 1, "\0\0\0", 3, "kvm");
	r = snapshot_open(path, &cfg);
	CHECK(r != NULL);
	snapshot_close(r);

	/* The device set: two disks (64 MiB, 1 MiB read-only) and --rng are read; more disks
	 * than a VM can have, a size not in sectors or a bad flag are not. */
	uint8_t dev[1 + 2 * 9 + 2] = { 2 };
	put_le(dev + 1, 64 * MiB, 8);
	put_le(dev + 10, MiB, 8);
	dev[18] = 1;
	dev[19] = 1;
	write_devices(path, 64 * MiB, 1, dev, sizeof(dev), "bt");
	r = snapshot_open(path, &cfg);
	CHECK(r != NULL);
	snapshot_close(r);
	dev[0] = VM_MAX_DISKS + 1;
	write_devices(path, 64 * MiB, 1, dev, sizeof(dev), "bt");
	CHECK(snapshot_open(path, &cfg) == NULL);
	dev[0] = 2;
	put_le(dev + 10, MiB + 1, 8);
	write_devices(path, 64 * MiB, 1, dev, sizeof(dev), "bt");
	CHECK(snapshot_open(path, &cfg) == NULL);
	put_le(dev + 10, MiB, 8);
	dev[19] = 2;
	write_devices(path, 64 * MiB, 1, dev, sizeof(dev), "bt");
	CHECK(snapshot_open(path, &cfg) == NULL);
	write_devices(path, 64 * MiB, 1, dev, sizeof(dev) - 1, "bt");
	CHECK(snapshot_open(path, &cfg) == NULL);
	unlink(path);
	free(path);
}

static struct vm_state_entry *entry(struct vm *vm, const char *name)
{
	for (int i = 0; i < vm->nr_state; i++)
		if (strcmp(vm->state[i].name, name) == 0)
			return &vm->state[i];
	return NULL;
}

/* Saves entry name of from, loads it into to, saves that again: the bytes must agree. */
static int round_trip(int *failed_, struct vm *from, struct vm *to, const char *name)
{
	struct vm_state_entry *a = entry(from, name), *b = entry(to, name);
	struct state_out o1 = { 0 }, o2 = { 0 };
	int ret = -1;

	CHECK(a && b);
	if (!a || !b)
		return -1;
	a->save(a->opaque, &o1);
	struct state_in in = { .p = o1.buf, .len = o1.len };
	if (b->load(b->opaque, &in) == 0 && state_in_ok(&in)) {
		b->save(b->opaque, &o2);
		ret = o1.len == o2.len && memcmp(o1.buf, o2.buf, o1.len) == 0 ? 0 : -1;
	}
	state_out_free(&o1);
	state_out_free(&o2);
	return ret;
}

static void out8(struct vm *vm, uint16_t port, uint8_t v)
{
	uint64_t val = v;

	bus_access(&vm->pio, port, 1, true, &val);
}

static uint8_t in8(struct vm *vm, uint16_t port)
{
	uint64_t val = 0;

	bus_access(&vm->pio, port, 1, false, &val);
	return (uint8_t)val;
}

TEST(snapshot_serial_i8042_rtc_round_trip)
{
	struct vm *a = boot_test_vm(2 * MiB, 1), *b = boot_test_vm(2 * MiB, 1);
	struct serial8250 *sa = serial8250_create(a, COM1_BASE, COM1_IRQ, -1);
	struct serial8250 *sb = serial8250_create(b, COM1_BASE, COM1_IRQ, -1);
	struct i8042 *ka = i8042_create(a), *kb = i8042_create(b);
	struct rtc *ra = rtc_create(a), *rb = rtc_create(b);

	out8(a, COM1_BASE + 7, 0x5a);		/* scratch */
	out8(a, COM1_BASE + 1, 0x01);		/* IER: data-ready interrupts */
	serial8250_receive(sa, (const uint8_t *)"abc", 3);
	out8(a, 0x64, 0xaa);			/* i8042 self test: 0x55 waits in the queue */
	out8(a, 0x70, 0x40);			/* CMOS index */
	out8(a, 0x71, 0x77);
	CHECK_EQ(round_trip(failed_, a, b, "serial3f8"), 0);
	CHECK_EQ(round_trip(failed_, a, b, "i8042"), 0);
	CHECK_EQ(round_trip(failed_, a, b, "rtc"), 0);
	CHECK_EQ(in8(b, COM1_BASE + 7), 0x5a);
	CHECK_EQ(in8(b, COM1_BASE), 'a');
	CHECK_EQ(in8(b, COM1_BASE), 'b');
	CHECK_EQ(in8(b, COM1_BASE), 'c');
	CHECK_EQ(in8(b, 0x60), 0x55);
	out8(b, 0x70, 0x40);
	CHECK_EQ(in8(b, 0x71), 0x77);

	/* A FIFO count beyond the FIFO is refused. */
	struct state_out o = { 0 };
	entry(a, "serial3f8")->save(sa, &o);
	put_le(o.buf + 12, SERIAL_RX_FIFO + 1, 4);
	struct state_in in = { .p = o.buf, .len = o.len };
	CHECK(entry(b, "serial3f8")->load(sb, &in) < 0 || !state_in_ok(&in));
	/* So is a short section. */
	in = (struct state_in){ .p = o.buf, .len = 5 };
	entry(b, "serial3f8")->load(sb, &in);
	CHECK(!state_in_ok(&in));
	state_out_free(&o);

	serial8250_destroy(sa);
	serial8250_destroy(sb);
	i8042_destroy(ka);
	i8042_destroy(kb);
	rtc_destroy(ra);
	rtc_destroy(rb);
	boot_test_vm_free(a);
	boot_test_vm_free(b);
}

TEST(snapshot_irqchip_round_trip)
{
	struct irq_fixture *a = fixture_create(2), *b = fixture_create(2);
	uint64_t v;

	/* PIT channel 0: mode 2, count 1000; PIC: initialised, some IRQs masked; IOAPIC pin 4. */
	out8(&a->vm, 0x43, 0x34);
	out8(&a->vm, 0x40, 1000 & 0xff);
	out8(&a->vm, 0x40, 1000 >> 8);
	out8(&a->vm, 0x20, 0x11);
	out8(&a->vm, 0x21, 0x20);
	out8(&a->vm, 0x21, 0x04);
	out8(&a->vm, 0x21, 0x01);
	out8(&a->vm, 0x21, 0xb8);
	v = 0x10 + 2 * 4;
	bus_access(&a->vm.mmio, IOAPIC_BASE, 4, true, &v);
	v = 0x34;
	bus_access(&a->vm.mmio, IOAPIC_BASE + 0x10, 4, true, &v);
	v = 0xab;
	bus_access(&a->vm.mmio, APIC_REG(0x380), 4, true, &v);	/* LAPIC 0 timer count */
	fixture_now += 123456;

	const char *names[] = { "pic", "ioapic", "pit", "lapic0", "lapic1" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		CHECK_EQ(round_trip(failed_, &a->vm, &b->vm, names[i]), 0);
	CHECK_EQ(in8(&b->vm, 0x21), 0xb8);
	/* The PIT counts down the same on both from the same time. */
	out8(&a->vm, 0x43, 0x00);
	out8(&b->vm, 0x43, 0x00);
	CHECK_EQ(in8(&b->vm, 0x40), in8(&a->vm, 0x40));
	CHECK_EQ(in8(&b->vm, 0x40), in8(&a->vm, 0x40));
	v = 0x10 + 2 * 4;
	bus_access(&b->vm.mmio, IOAPIC_BASE, 4, true, &v);
	v = 0;
	bus_access(&b->vm.mmio, IOAPIC_BASE + 0x10, 4, false, &v);
	CHECK_EQ(v & 0xff, 0x34);

	/* A PIT reload of 0 would divide by zero in the count model: refused. */
	struct state_out o = { 0 };
	entry(&a->vm, "pit")->save(a->c, &o);
	put_le(o.buf, 0, 4);
	struct state_in in = { .p = o.buf, .len = o.len };
	CHECK(entry(&b->vm, "pit")->load(b->c, &in) < 0);
	state_out_free(&o);
	fixture_destroy(a);
	fixture_destroy(b);
}
