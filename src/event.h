/* The event thread: one epoll loop for host-side input (stdin today, sockets later).
 *
 * Callbacks run on the event thread. Sources that epoll cannot watch (regular files, /dev/null)
 * are treated as always ready while armed, so `vmon ... < file` works like a pipe.
 */
#ifndef VMON_EVENT_H
#define VMON_EVENT_H

#include <stdbool.h>

struct event_loop;

typedef void (*event_fn)(void *opaque);

struct event_loop *event_loop_create(void);
void event_loop_destroy(struct event_loop *l);	/* stops the thread if it runs */

/* Watch fd for input: fn(opaque) runs whenever it is readable (and armed). Returns 0 or -1. */
int event_add_fd(struct event_loop *l, int fd, event_fn fn, void *opaque);
/* Stop watching fd: from the event thread (e.g. on EOF) or while the loop is not running. */
void event_del_fd(struct event_loop *l, int fd);
/* Pause / resume a source (back-pressure when the consumer is full). Any thread. */
void event_arm_fd(struct event_loop *l, int fd, bool armed);

/* fn(opaque) also runs after every wake-up and at least every interval_ms. */
void event_set_tick(struct event_loop *l, int interval_ms, event_fn fn, void *opaque);

/* Start / stop the event thread; stop wakes it through an eventfd and joins it. */
int event_loop_start(struct event_loop *l);
void event_loop_stop(struct event_loop *l);

#endif
