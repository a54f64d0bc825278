/* 8250/16550A UART (COM1): registers at base..base+7, level interrupt on one ISA IRQ. */
#ifndef VMON_HW_SERIAL8250_H
#define VMON_HW_SERIAL8250_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct serial8250;

#define COM1_BASE	0x3f8
#define COM1_IRQ	4
#define SERIAL_RX_FIFO	1024	/* bytes of input buffered for the guest */

/* Registers the UART on vm->pio; transmitted bytes go to out_fd (-1: discarded).
 * Returns NULL if the ports are taken or memory is short. */
struct serial8250 *serial8250_create(struct vm *vm, uint16_t base, unsigned irq, int out_fd);
void serial8250_destroy(struct serial8250 *s);	/* flushes pending output */

/* Input from the host side (any thread): queues up to len bytes, returns how many fit. */
size_t serial8250_receive(struct serial8250 *s, const uint8_t *buf, size_t len);
size_t serial8250_rx_space(struct serial8250 *s);
/* fn(opaque) runs (on a vCPU thread, under the UART lock: it must not call back into the UART)
 * when the guest frees RX space after serial8250_receive() came up short. */
void serial8250_set_rx_ready(struct serial8250 *s, void (*fn)(void *opaque), void *opaque);

/* Writes buffered output to out_fd now. */
void serial8250_flush(struct serial8250 *s);

#endif
