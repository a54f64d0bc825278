/* 8254 programmable interval timer and port 0x61 (private to the irqchip).
 * Callers hold the irqchip lock. */
#ifndef VMON_HW_PIT_H
#define VMON_HW_PIT_H

#include <stdbool.h>
#include <stdint.h>

struct bus;
struct irqchip;

struct pit_channel {
	uint32_t reload;		/* count written, 1..65536 */
	uint8_t mode;			/* 0-7 as programmed (6, 7 behave as 2, 3) */
	uint8_t rw;			/* 1 LSB, 2 MSB, 3 LSB then MSB */
	bool bcd;			/* stored for the status byte; counting is binary */
	bool gate;
	bool loaded;			/* a count was written since the control word */
	bool running;			/* counting (modes 1/5: triggered by the gate) */
	bool triggered;			/* modes 1/5: a gate edge started the count */
	uint64_t base_ticks;		/* ticks counted before base_ns */
	uint64_t base_ns;		/* when counting last (re)started */
	uint64_t irqs;			/* output edges already signalled on IRQ 0 */
	bool write_msb;			/* next data write is the MSB (rw 3) */
	uint8_t write_lsb;
	bool read_msb;			/* next live read is the MSB (rw 3) */
	bool count_latched, latch_msb;
	uint16_t latched_count;
	bool status_latched;
	uint8_t status;
};

struct pit {
	struct irqchip *owner;
	struct pit_channel ch[3];
	uint8_t port61;			/* bits 0-3 as written */
	bool refresh;			/* port 0x61 bit 4 */
};

void pit_init(struct pit *p, struct irqchip *owner);
int pit_register(struct pit *p, struct bus *pio);
/* Raises IRQ 0 for channel 0 output edges up to now (several missed ones count once);
 * returns when the next one is due, or UINT64_MAX. */
uint64_t pit_poll(struct pit *p, uint64_t now);

#endif
