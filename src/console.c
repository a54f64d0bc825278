/* Terminal and file backends of the serial console.
 *
 * In raw mode the terminal's own signals are off, so Ctrl-C reaches the guest; Ctrl-A is the
 * escape: Ctrl-A x quits, Ctrl-A h prints help, Ctrl-A Ctrl-A sends one Ctrl-A. Output
 * processing is left on so guests that print a bare "\n" still start a new line.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "console.h"
#include "event.h"
#include "fatal_signal.h"
#include "host_file.h"
#include "hw/serial8250.h"
#include "util/log.h"

#define CTRL_A		0x01
#define FLUSH_MS	20	/* output without a newline (a prompt) shows up this late at most */

struct console {
	enum console_kind kind;
	int out_fd;		/* -1: none; STDOUT_FILENO is not ours to close */
	struct vm *vm;
	struct event_loop *loop;
	struct serial8250 *uart;
	bool tty;		/* stdin is a terminal in raw mode */
	bool escape;		/* the previous input byte was Ctrl-A */
	bool reading;		/* stdin is registered with the loop */
};

/* Terminal state for the exit paths, which only have globals (atexit, signal handlers). */
static struct termios saved_termios;
static volatile sig_atomic_t raw_mode;
static struct fatal_signals fatal_signals;

static void restore_tty(void)
{
	if (raw_mode) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
		raw_mode = 0;
	}
}

/* Installed with SA_RESETHAND: restore the terminal, then die of the same signal. */
static void fatal_signal(int sig)
{
	restore_tty();
	raise(sig);
}

static int enter_raw_mode(void)
{
	static bool atexit_done;

	if (tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return -1;
	if (!atexit_done) {
		atexit(restore_tty);
		atexit_done = true;
	}
	fatal_signals_install(&fatal_signals, fatal_signal, SA_RESETHAND);

	struct termios t = saved_termios;
	t.c_iflag &= (tcflag_t)~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= (tcflag_t)~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag &= (tcflag_t)~(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	raw_mode = 1;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0) {
		raw_mode = 0;
		return -1;
	}
	return 0;
}

struct console *console_open(const struct vm_config *cfg)
{
	struct console *c = calloc(1, sizeof(*c));

	if (!c) {
		vmon_log("%s", strerror(ENOMEM));
		return NULL;
	}
	c->kind = cfg->console;
	c->out_fd = -1;
	if (cfg->console == CONSOLE_STDIO) {
		c->out_fd = STDOUT_FILENO;
	} else if (cfg->console == CONSOLE_FILE) {
		const char *why;
		c->out_fd = host_file_open(cfg->console_path, O_WRONLY | O_CREAT | O_TRUNC, 0644,
					   true, &why);
		if (c->out_fd < 0) {
			vmon_log("%s: %s", cfg->console_path, why);
			free(c);
			return NULL;
		}
	}
	return c;
}

int console_out_fd(const struct console *c)
{
	return c->out_fd;
}

static void print_help(void)
{
	static const char help[] =
		"\nvmon console escapes:\n"
		"  Ctrl-A x       quit (exit status 0)\n"
		"  Ctrl-A h       this help\n"
		"  Ctrl-A Ctrl-A  send Ctrl-A to the guest\n";
	fputs(help, stderr);
}

/* Terminal input: strip the Ctrl-A escapes, in place. Returns the bytes left for the guest. */
static size_t handle_escapes(struct console *c, uint8_t *buf, size_t n)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t b = buf[i];
		if (c->escape) {
			c->escape = false;
			if (b == 'x' || b == 'X')
				vm_request_stop(c->vm, EXIT_STATUS_OK);
			else if (b == 'h' || b == 'H')
				print_help();
			else if (b == CTRL_A)
				buf[out++] = CTRL_A;
		} else if (b == CTRL_A) {
			c->escape = true;
		} else {
			buf[out++] = b;
		}
	}
	return out;
}

/* Called by the UART when the guest made room again after input was refused. */
static void uart_rx_ready(void *opaque)
{
	struct console *c = opaque;

	event_arm_fd(c->loop, STDIN_FILENO, true);
}

static void stdin_readable(void *opaque)
{
	struct console *c = opaque;
	uint8_t buf[256];

	/* Pause first, then ask for space: if the FIFO is full, the UART's rx_ready (armed by
	 * serial8250_rx_space) resumes us, and cannot be lost between the two steps. */
	event_arm_fd(c->loop, STDIN_FILENO, false);
	size_t space = serial8250_rx_space(c->uart);
	if (!space)
		return;

	ssize_t n = read(STDIN_FILENO, buf, space < sizeof(buf) ? space : sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
		event_arm_fd(c->loop, STDIN_FILENO, true);
		return;
	}
	if (n <= 0) {
		/* EOF (or a broken stdin): the guest just gets no more input. */
		event_del_fd(c->loop, STDIN_FILENO);
		c->reading = false;
		return;
	}
	size_t len = c->tty ? handle_escapes(c, buf, (size_t)n) : (size_t)n;
	serial8250_receive(c->uart, buf, len);
	event_arm_fd(c->loop, STDIN_FILENO, true);
}

static void flush_tick(void *opaque)
{
	struct console *c = opaque;

	serial8250_flush(c->uart);
}

int console_start(struct console *c, struct vm *vm, struct event_loop *loop,
		  struct serial8250 *uart)
{
	c->vm = vm;
	c->loop = loop;
	c->uart = uart;
	if (c->out_fd >= 0)
		event_set_tick(loop, FLUSH_MS, flush_tick, c);
	if (c->kind != CONSOLE_STDIO)
		return 0;

	if (isatty(STDIN_FILENO)) {
		if (enter_raw_mode() < 0) {
			vmon_log("stdin: cannot set raw mode: %s", strerror(errno));
			return -1;
		}
		c->tty = true;
	}
	serial8250_set_rx_ready(uart, uart_rx_ready, c);
	if (event_add_fd(loop, STDIN_FILENO, stdin_readable, c) < 0) {
		/* No stdin at all (closed): the guest runs without input. */
		return 0;
	}
	c->reading = true;
	return 0;
}

void console_stop(struct console *c)
{
	if (c->reading) {
		event_del_fd(c->loop, STDIN_FILENO);
		c->reading = false;
	}
	if (c->tty) {
		restore_tty();
		c->tty = false;
	}
}

void console_close(struct console *c)
{
	if (!c)
		return;
	console_stop(c);
	if (c->kind == CONSOLE_FILE && c->out_fd >= 0)
		close(c->out_fd);
	free(c);
}
