/* i8042 keyboard controller at 0x60 (data) / 0x64 (status / command).
 *
 * Enough for firmware-less guests and Linux's i8042 probe: the controller commands (self tests,
 * configuration byte, output port, port enables), a keyboard that answers the commands a driver
 * sends (ACK, reset, identify) but never produces keystrokes, and no mouse (writes to the aux
 * port are dropped, so drivers time out and decide there is none). The CPU reset line (command
 * 0xfe, or output-port bit 0 cleared) ends the VM: vm_guest_reset(), status 0 or, after a Linux
 * kernel panic, 3.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "hw/devices.h"
#include "snapshot/state.h"
#include "vm.h"

#define KBD_DATA	0x60
#define KBD_STATUS	0x64
#define KBD_IRQ		1

#define STS_OBF		0x01	/* output buffer full */
#define STS_SYS		0x04	/* system flag: self test passed */
#define STS_CMD		0x08	/* last write was to the command port */
#define STS_UNLOCKED	0x10	/* keyboard not inhibited by the key lock */

#define CFG_KBD_INT	0x01
#define CFG_SYS		0x04
#define CFG_KBD_OFF	0x10
#define CFG_AUX_OFF	0x20
#define CFG_XLATE	0x40

#define OUTQ		16

struct i8042 {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t status;
	uint8_t config;		/* controller configuration byte ("command byte") */
	uint8_t out_port;
	uint8_t pending;	/* command waiting for its data byte on port 0x60, 0 if none */
	uint8_t outq[OUTQ];
	bool outq_kbd[OUTQ];	/* byte came from the keyboard (may interrupt) */
	int out_head, out_count;
	int irq_level;
};

static void update_irq(struct i8042 *k)
{
	int level = k->out_count && k->outq_kbd[k->out_head] && (k->config & CFG_KBD_INT);

	if (level != k->irq_level) {
		k->irq_level = level;
		vm_irq_line(k->vm, KBD_IRQ, level);
	}
}

static void push(struct i8042 *k, uint8_t v, bool from_kbd)
{
	if (k->out_count == OUTQ)
		return;
	int i = (k->out_head + k->out_count) % OUTQ;
	k->outq[i] = v;
	k->outq_kbd[i] = from_kbd;
	k->out_count++;
}

static void reset_cpu(struct i8042 *k)
{
	vm_guest_reset(k->vm);
}

/* A byte written to port 0x60 with no controller command pending goes to the keyboard. */
static void keyboard_command(struct i8042 *k, uint8_t cmd)
{
	push(k, 0xfa, true);	/* ACK */
	switch (cmd) {
	case 0xff:		/* reset: self test passed */
		push(k, 0xaa, true);
		break;
	case 0xf2:		/* identify: MF2 keyboard */
		push(k, 0xab, true);
		push(k, 0x83, true);
		break;
	case 0xee:		/* echo replaces the ACK */
		k->outq[(k->out_head + k->out_count - 1) % OUTQ] = 0xee;
		break;
	}
}

static void data_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending;

	k->pending = 0;
	switch (cmd) {
	case 0x60:
		k->config = v;
		break;
	case 0xd1:
		k->out_port = v;
		if (!(v & 1))
			reset_cpu(k);
		break;
	case 0xd2:		/* as if the keyboard had sent v */
		push(k, v, true);
		break;
	case 0xd3:		/* as if the mouse had sent v: no mouse, nothing */
	case 0xd4:		/* to the mouse: no mouse */
		break;
	default:
		keyboard_command(k, v);
		break;
	}
}

static void controller_command(struct i8042 *k, uint8_t cmd)
{
	k->pending = 0;
	switch (cmd) {
	case 0x20:
		push(k, k->config, false);
		break;
	case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4:
		k->pending = cmd;
		break;
	case 0xa7:
		k->config |= CFG_AUX_OFF;
		break;
	case 0xa8:
		k->config &= (uint8_t)~CFG_AUX_OFF;
		break;
	case 0xa9:		/* aux port test: "clock line stuck low", there is no mouse port */
		push(k, 0x01, false);
		break;
	case 0xaa:		/* controller self test */
		push(k, 0x55, false);
		break;
	case 0xab:		/* keyboard port test: OK */
		push(k, 0x00, false);
		break;
	case 0xad:
		k->config |= CFG_KBD_OFF;
		break;
	case 0xae:
		k->config &= (uint8_t)~CFG_KBD_OFF;
		break;
	case 0xd0:
		push(k, k->out_port, false);
		break;
	default:
		/* 0xf0-0xff pulse output-port lines; bit 0 low pulses the CPU reset line. */
		if (cmd >= 0xf0 && !(cmd & 1))
			reset_cpu(k);
		break;
	}
}

/* Port 0x60 and port 0x64 are two bus ranges (0x61 belongs to the PIT / speaker), so the
 * controller has its own lock over both. */
static uint64_t data_read(void *opaque, uint64_t off, unsigned size)
{
	struct i8042 *k = opaque;
	uint8_t v = 0;

	pthread_mutex_lock(&k->lock);
	if (k->out_count) {
		v = k->outq[k->out_head];
		k->out_head = (k->out_head + 1) % OUTQ;
		k->out_count--;
		update_irq(k);
	}
	pthread_mutex_unlock(&k->lock);
	return v;
}

static void data_port_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct i8042 *k = opaque;

	pthread_mutex_lock(&k->lock);
	k->status &= (uint8_t)~STS_CMD;
	data_write(k, (uint8_t)val);
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

static uint64_t status_read(void *opaque, uint64_t off, unsigned size)
{
	struct i8042 *k = opaque;

	pthread_mutex_lock(&k->lock);
	uint8_t v = k->status | (k->out_count ? STS_OBF : 0);
	pthread_mutex_unlock(&k->lock);
	return v;
}

static void command_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct i8042 *k = opaque;

	pthread_mutex_lock(&k->lock);
	k->status |= STS_CMD;
	controller_command(k, (uint8_t)val);
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

static const struct io_ops data_ops = { .read = data_read, .write = data_port_write };
static const struct io_ops status_ops = { .read = status_read, .write = command_write };

/* Snapshot: registers and the output queue in order. */
static void i8042_save(void *opaque, struct state_out *o)
{
	struct i8042 *k = opaque;

	pthread_mutex_lock(&k->lock);
	state_put_u8(o, k->status);
	state_put_u8(o, k->config);
	state_put_u8(o, k->out_port);
	state_put_u8(o, k->pending);
	state_put_bool(o, k->irq_level);
	state_put_u32(o, (uint32_t)k->out_count);
	for (int i = 0; i < k->out_count; i++) {
		state_put_u8(o, k->outq[(k->out_head + i) % OUTQ]);
		state_put_bool(o, k->outq_kbd[(k->out_head + i) % OUTQ]);
	}
	pthread_mutex_unlock(&k->lock);
}

static int i8042_load(void *opaque, struct state_in *in)
{
	struct i8042 *k = opaque;

	pthread_mutex_lock(&k->lock);
	k->status = state_get_u8(in);
	k->config = state_get_u8(in);
	k->out_port = state_get_u8(in);
	k->pending = state_get_u8(in);
	k->irq_level = state_get_bool(in);
	k->out_head = 0;
	k->out_count = (int)state_get_below(in, OUTQ + 1);
	for (int i = 0; i < k->out_count; i++) {
		k->outq[i] = state_get_u8(in);
		k->outq_kbd[i] = state_get_bool(in);
	}
	pthread_mutex_unlock(&k->lock);
	return in->bad ? -1 : 0;
}

struct i8042 *i8042_create(struct vm *vm)
{
	struct i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->vm = vm;
	k->status = STS_SYS | STS_UNLOCKED;
	k->config = CFG_KBD_INT | CFG_SYS | CFG_XLATE | CFG_AUX_OFF;
	k->out_port = 0x01;	/* reset line inactive */
	pthread_mutex_init(&k->lock, NULL);
	if (bus_register(&vm->pio, KBD_DATA, 1, &data_ops, k, "i8042-data") < 0 ||
	    bus_register(&vm->pio, KBD_STATUS, 1, &status_ops, k, "i8042-status") < 0 ||
	    vm_register_state(vm, "i8042", i8042_save, i8042_load, k) < 0) {
		pthread_mutex_destroy(&k->lock);
		free(k);
		return NULL;
	}
	return k;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}
