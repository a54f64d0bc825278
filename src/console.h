/* The host side of COM1: where guest output goes and where guest input comes from. */
#ifndef VMON_CONSOLE_H
#define VMON_CONSOLE_H

#include "vm.h"

struct console;
struct event_loop;
struct serial8250;

/* Opens the output side of cfg->console (stdio: stdout, FILE: created/truncated, none).
 * Returns NULL after printing one line "vmon: FILE: reason". */
struct console *console_open(const struct vm_config *cfg);
/* Where the UART writes guest output, -1 to discard. */
int console_out_fd(const struct console *c);

/* --console stdio: feed stdin to uart through the event loop; if stdin is a terminal, put it in
 * raw mode (restored by console_stop, at exit, and on SIGINT/SIGTERM/SIGHUP/SIGQUIT) and handle
 * the Ctrl-A escapes. Also flushes the UART's output from the event thread. */
int console_start(struct console *c, struct vm *vm, struct event_loop *loop,
		  struct serial8250 *uart);
void console_stop(struct console *c);	/* leaves raw mode */
void console_close(struct console *c);	/* stops, closes the output file */

#endif
