/* vmon_log: one whole line on stderr per message (log.h). */
#include <stdarg.h>
#include <stdio.h>

#include "util/log.h"

void vmon_vlog(const char *fmt, va_list ap)
{
	flockfile(stderr);	/* prefix, text and newline stay together */
	fputs("vmon: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

void vmon_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmon_vlog(fmt, ap);
	va_end(ap);
}
