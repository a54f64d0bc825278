/* vmon's messages to the user: one line on stderr, "vmon: " + the formatted text. Errors from bad
 * input, host failures and the few notes (engine choice, migration progress) all go through it,
 * so every line has the same prefix and lines from different threads never interleave. */
#ifndef VMON_UTIL_LOG_H
#define VMON_UTIL_LOG_H

#include <stdarg.h>

/* fmt without the "vmon: " prefix and without the newline. */
void vmon_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vmon_vlog(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
