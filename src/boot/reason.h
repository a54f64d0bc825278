/* Parsers report why an image is refused in a caller's buffer instead of printing, so they can
 * be tested quietly; the loader prints it as "vmon: FILE: reason". */
#ifndef VMON_BOOT_REASON_H
#define VMON_BOOT_REASON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Formats the reason into why and returns -1, for `return refuse(why, len, ...);`. */
__attribute__((format(printf, 3, 4)))
static inline int refuse(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return -1;
}

#endif
