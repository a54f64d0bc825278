/* 8250/16550A UART as Linux's 8250 driver and simple guests drive it.
 *
 * Transmission is instant: THR is always empty again by the time the guest looks, so LSR always
 * shows THRE|TEMT and a THRE interrupt is pending after every write while IER.ETBEI is set.
 * The RX FIFO is deeper than a real 16550's 16 bytes so pasted input is not lost; trigger levels
 * are ignored (data-ready interrupts as soon as one byte is there).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hw/serial8250.h"
#include "snapshot/state.h"
#include "vm.h"

enum {
	REG_RBR_THR = 0, REG_IER = 1, REG_IIR_FCR = 2, REG_LCR = 3,
	REG_MCR = 4, REG_LSR = 5, REG_MSR = 6, REG_SCR = 7,
};

#define IER_RDI		0x01	/* received data available */
#define IER_THRI	0x02	/* THR empty */
#define IER_RLSI	0x04	/* receiver line status */
#define IER_MSI		0x08	/* modem status */

#define IIR_NONE	0x01
#define IIR_MSI		0x00
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_RLSI	0x06
#define IIR_FIFO	0xc0

#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02

#define LCR_DLAB	0x80

#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10

#define LSR_DR		0x01
#define LSR_OE		0x02
#define LSR_THRE	0x20
#define LSR_TEMT	0x40

#define MSR_DELTA	0x0f
#define MSR_TERI	0x04	/* trailing edge of RI: set on 1 -> 0 only */
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80

#define TX_BUF		4096

struct serial8250 {
	struct vm *vm;
	pthread_mutex_t lock;	/* guest (bus) side and host (event thread) side meet here */
	uint16_t base;
	unsigned irq;
	int out_fd;

	uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
	uint16_t divisor;
	bool thr_pending;	/* THRE interrupt not yet acknowledged by an IIR read */
	int irq_level;

	uint8_t rx[SERIAL_RX_FIFO];
	size_t rx_head, rx_count;
	bool rx_starved;	/* the host side was refused: tell it when space frees up */
	void (*rx_ready)(void *opaque);
	void *rx_ready_opaque;

	uint8_t tx[TX_BUF];
	size_t tx_len;
};

static void flush_locked(struct serial8250 *s)
{
	size_t done = 0;

	while (s->out_fd >= 0 && done < s->tx_len) {
		ssize_t n = write(s->out_fd, s->tx + done, s->tx_len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* console gone (EPIPE...): the guest's output is dropped */
		done += (size_t)n;
	}
	s->tx_len = 0;
}

static uint8_t iir_locked(const struct serial8250 *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((s->ier & IER_RLSI) && (s->lsr & LSR_OE))
		return fifo | IIR_RLSI;
	if ((s->ier & IER_RDI) && s->rx_count)
		return fifo | IIR_RDI;
	if ((s->ier & IER_THRI) && s->thr_pending)
		return fifo | IIR_THRI;
	if ((s->ier & IER_MSI) && (s->msr & MSR_DELTA))
		return fifo | IIR_MSI;
	return fifo | IIR_NONE;
}

/* The IRQ line follows "some interrupt identified in IIR". */
static void update_irq_locked(struct serial8250 *s)
{
	int level = !(iir_locked(s) & IIR_NONE);

	if (level != s->irq_level) {
		s->irq_level = level;
		vm_irq_line(s->vm, s->irq, level);
	}
}

static void rx_push_locked(struct serial8250 *s, uint8_t c)
{
	if (s->rx_count == SERIAL_RX_FIFO) {
		s->lsr |= LSR_OE;
		return;
	}
	s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_FIFO] = c;
	s->rx_count++;
}

static uint8_t rx_pop_locked(struct serial8250 *s)
{
	if (!s->rx_count)
		return 0;
	uint8_t c = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_RX_FIFO;
	s->rx_count--;
	if (s->rx_starved && s->rx_ready) {
		s->rx_starved = false;
		s->rx_ready(s->rx_ready_opaque);
	}
	return c;
}

static void clear_rx_locked(struct serial8250 *s)
{
	while (s->rx_count)
		rx_pop_locked(s);
}

/* Modem status inputs: looped back from MCR in loopback mode, else a terminal that is always
 * there (DCD, DSR, CTS). Changes set the delta bits. */
static void update_msr_locked(struct serial8250 *s)
{
	uint8_t in;

	if (s->mcr & MCR_LOOP)
		in = (uint8_t)(((s->mcr & MCR_RTS) ? MSR_CTS : 0) | ((s->mcr & MCR_DTR) ? MSR_DSR : 0) |
			       ((s->mcr & MCR_OUT1) ? MSR_RI : 0) | ((s->mcr & MCR_OUT2) ? MSR_DCD : 0));
	else
		in = MSR_DCD | MSR_DSR | MSR_CTS;

	uint8_t old = s->msr & 0xf0, delta = 0;
	if ((old ^ in) & MSR_CTS)
		delta |= 0x01;
	if ((old ^ in) & MSR_DSR)
		delta |= 0x02;
	if ((old & MSR_RI) && !(in & MSR_RI))
		delta |= MSR_TERI;
	if ((old ^ in) & MSR_DCD)
		delta |= 0x08;
	s->msr = (uint8_t)(in | (s->msr & MSR_DELTA) | delta);
}

static void transmit_locked(struct serial8250 *s, uint8_t c)
{
	if (s->mcr & MCR_LOOP) {
		rx_push_locked(s, c);
	} else if (s->out_fd >= 0) {
		s->tx[s->tx_len++] = c;
		if (c == '\n' || s->tx_len == TX_BUF)
			flush_locked(s);
	}
	s->thr_pending = true;
}

static uint64_t serial_read(void *opaque, uint64_t off, unsigned size)
{
	struct serial8250 *s = opaque;
	uint8_t v = 0xff;

	switch (off) {
	case REG_RBR_THR:
		if (s->lcr & LCR_DLAB)
			v = (uint8_t)s->divisor;
		else
			v = rx_pop_locked(s);
		break;
	case REG_IER:
		v = (s->lcr & LCR_DLAB) ? (uint8_t)(s->divisor >> 8) : s->ier;
		break;
	case REG_IIR_FCR:
		v = iir_locked(s);
		/* Reading IIR while it reports THRE is the acknowledgement. */
		if ((v & 0x0f) == IIR_THRI)
			s->thr_pending = false;
		break;
	case REG_LCR:
		v = s->lcr;
		break;
	case REG_MCR:
		v = s->mcr;
		break;
	case REG_LSR:
		v = (uint8_t)(s->lsr | LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0));
		s->lsr &= (uint8_t)~LSR_OE;
		break;
	case REG_MSR:
		v = s->msr;
		s->msr &= (uint8_t)~MSR_DELTA;
		break;
	case REG_SCR:
		v = s->scr;
		break;
	}
	update_irq_locked(s);
	return v;
}

static void serial_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct serial8250 *s = opaque;
	uint8_t v = (uint8_t)val;

	switch (off) {
	case REG_RBR_THR:
		if (s->lcr & LCR_DLAB)
			s->divisor = (uint16_t)((s->divisor & 0xff00) | v);
		else
			transmit_locked(s, v);
		break;
	case REG_IER:
		if (s->lcr & LCR_DLAB) {
			s->divisor = (uint16_t)((s->divisor & 0x00ff) | (v << 8));
		} else {
			/* Enabling THRI with THR empty raises the interrupt at once. */
			if ((v & IER_THRI) && !(s->ier & IER_THRI))
				s->thr_pending = true;
			s->ier = v & 0x0f;
		}
		break;
	case REG_IIR_FCR:
		if (v & FCR_CLEAR_RX)
			clear_rx_locked(s);
		s->fcr = v & (FCR_ENABLE | 0xc0);
		break;
	case REG_LCR:
		s->lcr = v;
		break;
	case REG_MCR:
		s->mcr = v & 0x1f;
		update_msr_locked(s);
		break;
	case REG_LSR:
	case REG_MSR:
		break;	/* read-only (factory test writes) */
	case REG_SCR:
		s->scr = v;
		break;
	}
	update_irq_locked(s);
}

/* The bus lock already serializes guest accesses; the UART lock adds the host side. */
static uint64_t serial_bus_read(void *opaque, uint64_t off, unsigned size)
{
	struct serial8250 *s = opaque;

	pthread_mutex_lock(&s->lock);
	uint64_t v = 0;
	/* Wider accesses read consecutive registers, as the hardware's byte lanes do. */
	for (unsigned i = 0; i < size; i++)
		v |= (off + i < 8 ? serial_read(s, off + i, 1) : 0xff) << (8 * i);
	pthread_mutex_unlock(&s->lock);
	return v;
}

static void serial_bus_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct serial8250 *s = opaque;

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < size && off + i < 8; i++)
		serial_write(s, off + i, 1, (val >> (8 * i)) & 0xff);
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops serial_ops = {
	.read = serial_bus_read,
	.write = serial_bus_write,
};

/* Snapshot: registers and the RX FIFO in order. Pending output is written out first, so there
 * is no TX state; the host side's back-pressure flag starts over. */
static void serial_save(void *opaque, struct state_out *o)
{
	struct serial8250 *s = opaque;

	pthread_mutex_lock(&s->lock);
	flush_locked(s);
	state_put_u8(o, s->ier);
	state_put_u8(o, s->lcr);
	state_put_u8(o, s->mcr);
	state_put_u8(o, s->lsr);
	state_put_u8(o, s->msr);
	state_put_u8(o, s->scr);
	state_put_u8(o, s->fcr);
	state_put_u16(o, s->divisor);
	state_put_bool(o, s->thr_pending);
	state_put_bool(o, s->irq_level);
	state_put_u32(o, (uint32_t)s->rx_count);
	for (size_t i = 0; i < s->rx_count; i++)
		state_put_u8(o, s->rx[(s->rx_head + i) % SERIAL_RX_FIFO]);
	pthread_mutex_unlock(&s->lock);
}

static int serial_load(void *opaque, struct state_in *in)
{
	struct serial8250 *s = opaque;

	pthread_mutex_lock(&s->lock);
	s->ier = state_get_u8(in);
	s->lcr = state_get_u8(in);
	s->mcr = state_get_u8(in);
	s->lsr = state_get_u8(in);
	s->msr = state_get_u8(in);
	s->scr = state_get_u8(in);
	s->fcr = state_get_u8(in);
	s->divisor = state_get_u16(in);
	s->thr_pending = state_get_bool(in);
	s->irq_level = state_get_bool(in);
	s->rx_head = 0;
	s->rx_count = state_get_below(in, SERIAL_RX_FIFO + 1);
	state_get(in, s->rx, s->rx_count);
	s->rx_starved = false;
	pthread_mutex_unlock(&s->lock);
	return in->bad ? -1 : 0;
}

struct serial8250 *serial8250_create(struct vm *vm, uint16_t base, unsigned irq, int out_fd)
{
	struct serial8250 *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->vm = vm;
	s->base = base;
	s->irq = irq;
	s->out_fd = out_fd;
	s->divisor = 12;	/* 9600 baud, what a BIOS leaves behind */
	s->lcr = 0x03;		/* 8N1 */
	update_msr_locked(s);
	s->msr &= (uint8_t)~MSR_DELTA;
	pthread_mutex_init(&s->lock, NULL);
	char name[VM_STATE_NAME_LEN];
	snprintf(name, sizeof(name), "serial%x", base);
	if (bus_register(&vm->pio, base, 8, &serial_ops, s, "serial8250") < 0 ||
	    vm_register_state(vm, name, serial_save, serial_load, s) < 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	return s;
}

void serial8250_destroy(struct serial8250 *s)
{
	if (!s)
		return;
	serial8250_flush(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

size_t serial8250_receive(struct serial8250 *s, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&s->lock);
	size_t n = SERIAL_RX_FIFO - s->rx_count;
	if (n > len)
		n = len;
	/* In loopback mode the receiver is disconnected from the line. */
	if (!(s->mcr & MCR_LOOP))
		for (size_t i = 0; i < n; i++)
			rx_push_locked(s, buf[i]);
	if (n < len)
		s->rx_starved = true;
	update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial8250_rx_space(struct serial8250 *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = SERIAL_RX_FIFO - s->rx_count;
	if (!n)
		s->rx_starved = true;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial8250_set_rx_ready(struct serial8250 *s, void (*fn)(void *opaque), void *opaque)
{
	pthread_mutex_lock(&s->lock);
	s->rx_ready = fn;
	s->rx_ready_opaque = opaque;
	pthread_mutex_unlock(&s->lock);
}

void serial8250_flush(struct serial8250 *s)
{
	pthread_mutex_lock(&s->lock);
	flush_locked(s);
	pthread_mutex_unlock(&s->lock);
}
