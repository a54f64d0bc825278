/* 8250/16550A register semantics, seen from the guest through the port bus. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "hw/serial8250.h"
#include "test.h"
#include "vm.h"

enum { THR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

/* The IRQ sink: a fake engine that records the line level. */
static int irq_level = -1, irq_changes;
static unsigned irq_gsi;

static void record_irq(struct vm *vm, unsigned gsi, int level)
{
	irq_gsi = gsi;
	irq_level = level;
	irq_changes++;
}

static const struct engine_ops irq_recorder = { .name = "test", .irq_line = record_irq };

struct uart_test {
	struct vm vm;
	struct serial8250 *s;
	int pipe[2];	/* guest output lands in pipe[0] */
};

static void setup(struct uart_test *t)
{
	memset(t, 0, sizeof(*t));
	irq_level = -1;
	irq_changes = 0;
	t->vm.engine = &irq_recorder;
	if (pipe2(t->pipe, O_NONBLOCK) < 0)
		t->pipe[0] = t->pipe[1] = -1;
	t->s = serial8250_create(&t->vm, COM1_BASE, COM1_IRQ, t->pipe[1]);
}

static void teardown(struct uart_test *t)
{
	serial8250_destroy(t->s);
	bus_destroy(&t->vm.pio);
	close(t->pipe[0]);
	close(t->pipe[1]);
}

static uint8_t rd(struct uart_test *t, int reg)
{
	uint64_t v = 0;

	bus_access(&t->vm.pio, COM1_BASE + reg, 1, false, &v);
	return (uint8_t)v;
}

static void wr(struct uart_test *t, int reg, uint8_t val)
{
	uint64_t v = val;

	bus_access(&t->vm.pio, COM1_BASE + reg, 1, true, &v);
}

TEST(serial_reset_state)
{
	struct uart_test t;

	setup(&t);
	CHECK(t.s != NULL);
	CHECK_EQ(rd(&t, LSR), 0x60);		/* THRE | TEMT, no data */
	CHECK_EQ(rd(&t, IIR), 0x01);		/* no interrupt, FIFOs off */
	CHECK_EQ(rd(&t, IER), 0x00);
	CHECK_EQ(rd(&t, MSR) & 0xf0, 0xb0);	/* DCD, DSR, CTS */
	CHECK_EQ(rd(&t, THR), 0x00);		/* empty RBR */
	CHECK_EQ(irq_changes, 0);
	/* A second UART on the same ports is refused. */
	CHECK(serial8250_create(&t.vm, COM1_BASE + 4, COM1_IRQ, -1) == NULL);
	teardown(&t);
}

TEST(serial_dlab_and_scratch)
{
	struct uart_test t;

	setup(&t);
	wr(&t, IER, 0x05);
	wr(&t, LCR, 0x83);			/* DLAB, 8N1 */
	wr(&t, THR, 0x01);			/* DLL: 115200 baud */
	wr(&t, IER, 0x00);			/* DLM */
	CHECK_EQ(rd(&t, THR), 0x01);
	CHECK_EQ(rd(&t, IER), 0x00);
	wr(&t, LCR, 0x03);
	CHECK_EQ(rd(&t, LCR), 0x03);
	CHECK_EQ(rd(&t, IER), 0x05);		/* IER kept its value behind the latch */
	wr(&t, LCR, 0x80);
	CHECK_EQ(rd(&t, THR), 0x01);
	wr(&t, LCR, 0x03);
	wr(&t, SCR, 0x5a);
	CHECK_EQ(rd(&t, SCR), 0x5a);
	char buf[8];
	CHECK(read(t.pipe[0], buf, sizeof(buf)) < 0);	/* the DLL write sent nothing */
	teardown(&t);
}

TEST(serial_output_and_fifo_iir)
{
	struct uart_test t;
	char buf[16] = { 0 };

	setup(&t);
	wr(&t, FCR, 0x07);			/* enable + clear FIFOs */
	CHECK_EQ(rd(&t, IIR), 0xc1);		/* 16550A with FIFOs, nothing pending */
	wr(&t, THR, 'h');
	wr(&t, THR, 'i');
	CHECK(read(t.pipe[0], buf, sizeof(buf)) < 0);	/* buffered until newline */
	wr(&t, THR, '\n');
	CHECK_EQ(read(t.pipe[0], buf, sizeof(buf)), 3);
	CHECK(memcmp(buf, "hi\n", 3) == 0);
	wr(&t, THR, '>');
	serial8250_flush(t.s);
	CHECK_EQ(read(t.pipe[0], buf, sizeof(buf)), 1);
	CHECK_EQ(rd(&t, LSR), 0x60);
	teardown(&t);
}

TEST(serial_thre_interrupt)
{
	struct uart_test t;

	setup(&t);
	wr(&t, IER, 0x02);			/* enabling ETBEI with THR empty interrupts */
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(irq_gsi, COM1_IRQ);
	CHECK_EQ(rd(&t, IIR), 0x02);		/* reading IIR acknowledges THRE ... */
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(rd(&t, IIR), 0x01);
	wr(&t, THR, 'x');			/* ... and every transmitted byte re-raises it */
	CHECK_EQ(irq_level, 1);
	wr(&t, IER, 0x00);
	CHECK_EQ(irq_level, 0);
	wr(&t, IER, 0x02);
	CHECK_EQ(irq_level, 1);
	wr(&t, IER, 0x02);			/* no 0 -> 1 edge: still the same pending one */
	CHECK_EQ(rd(&t, IIR), 0x02);
	wr(&t, IER, 0x02);
	CHECK_EQ(rd(&t, IIR), 0x01);
	CHECK_EQ(irq_level, 0);
	teardown(&t);
}

TEST(serial_receive_and_priority)
{
	struct uart_test t;

	setup(&t);
	wr(&t, IER, 0x03);			/* RX data + THRE */
	CHECK_EQ(rd(&t, IIR), 0x02);
	CHECK_EQ(serial8250_receive(t.s, (const uint8_t *)"ab", 2), 2);
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(rd(&t, LSR), 0x61);		/* DR */
	wr(&t, THR, 'z');			/* THRE pending again, but RX data outranks it */
	CHECK_EQ(rd(&t, IIR), 0x04);
	CHECK_EQ(rd(&t, THR), 'a');
	CHECK_EQ(rd(&t, IIR), 0x04);
	CHECK_EQ(rd(&t, THR), 'b');
	CHECK_EQ(rd(&t, LSR), 0x60);
	CHECK_EQ(rd(&t, IIR), 0x02);		/* now the THRE one shows, and is acknowledged */
	CHECK_EQ(rd(&t, IIR), 0x01);
	CHECK_EQ(irq_level, 0);

	/* RX interrupt disabled: data is still readable, the line stays low. */
	wr(&t, IER, 0x00);
	serial8250_receive(t.s, (const uint8_t *)"c", 1);
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(rd(&t, LSR) & 1, 1);
	wr(&t, FCR, 0x03);			/* clearing the RX FIFO drops it */
	CHECK_EQ(rd(&t, LSR) & 1, 0);
	teardown(&t);
}

TEST(serial_loopback)
{
	struct uart_test t;
	char buf[4];

	setup(&t);
	wr(&t, MCR, 0x10 | 0x02);		/* LOOP + RTS */
	uint8_t msr = rd(&t, MSR);
	CHECK_EQ(msr & 0xf0, 0x10);		/* CTS follows RTS; DCD/DSR dropped */
	CHECK(msr & 0x0f);			/* deltas from leaving "terminal attached" */
	CHECK_EQ(rd(&t, MSR) & 0x0f, 0);	/* reading MSR clears the deltas */
	wr(&t, MCR, 0x10 | 0x01 | 0x04 | 0x08);	/* DTR, OUT1, OUT2 */
	CHECK_EQ(rd(&t, MSR), 0xe0 | 0x01 | 0x02 | 0x08);

	wr(&t, THR, 'Q');
	CHECK_EQ(rd(&t, LSR) & 1, 1);
	CHECK_EQ(rd(&t, THR), 'Q');
	CHECK(read(t.pipe[0], buf, sizeof(buf)) < 0);	/* nothing reached the console */
	serial8250_flush(t.s);
	CHECK(read(t.pipe[0], buf, sizeof(buf)) < 0);
	/* Host input is not heard while the receiver listens to the transmitter. */
	serial8250_receive(t.s, (const uint8_t *)"x", 1);
	CHECK_EQ(rd(&t, LSR) & 1, 0);
	teardown(&t);
}

TEST(serial_overrun_line_status)
{
	struct uart_test t;

	setup(&t);
	wr(&t, MCR, 0x10);
	wr(&t, IER, 0x05);			/* RX data + line status */
	for (int i = 0; i <= SERIAL_RX_FIFO; i++)
		wr(&t, THR, (uint8_t)i);
	CHECK_EQ(rd(&t, IIR), 0x06);		/* overrun outranks data */
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(rd(&t, LSR), 0x63);		/* OE | DR; reading LSR clears OE */
	CHECK_EQ(rd(&t, IIR), 0x04);
	CHECK_EQ(rd(&t, LSR), 0x61);
	CHECK_EQ(rd(&t, THR), 0);		/* the first byte survived, the last was lost */
	teardown(&t);
}

static int rx_ready_calls;

static void count_rx_ready(void *opaque)
{
	rx_ready_calls++;
}

TEST(serial_rx_backpressure)
{
	struct uart_test t;
	static uint8_t big[SERIAL_RX_FIFO + 100];

	setup(&t);
	rx_ready_calls = 0;
	serial8250_set_rx_ready(t.s, count_rx_ready, NULL);
	memset(big, 'k', sizeof(big));
	CHECK_EQ(serial8250_receive(t.s, big, sizeof(big)), SERIAL_RX_FIFO);
	CHECK_EQ(serial8250_rx_space(t.s), 0);
	CHECK_EQ(rx_ready_calls, 0);
	CHECK_EQ(rd(&t, THR), 'k');
	CHECK_EQ(rx_ready_calls, 1);		/* the host side may send again */
	CHECK_EQ(serial8250_rx_space(t.s), 1);
	CHECK_EQ(rd(&t, THR), 'k');
	CHECK_EQ(rx_ready_calls, 1);		/* only once per refusal */
	teardown(&t);
}

TEST(serial_wide_access)
{
	struct uart_test t;
	uint64_t v = 0;

	setup(&t);
	wr(&t, SCR, 0x77);
	/* A 2-byte read at LSR covers LSR and MSR; beyond the UART reads as all ones. */
	bus_access(&t.vm.pio, COM1_BASE + LSR, 2, false, &v);
	CHECK_EQ(v & 0xff, 0x60);
	bus_access(&t.vm.pio, COM1_BASE + SCR, 4, false, &v);
	CHECK_EQ(v, 0xffffff77);
	teardown(&t);
}
