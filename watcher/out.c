/* watcher/out.c — status lines and errors (see out.h). */
#include "out.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int out_quiet, out_colour;

void out_init(int quiet)
{
	const char *nc = getenv("NO_COLOR"), *fnc = getenv("FORKMON_NO_COLORS");
	out_quiet = quiet;
	out_colour = isatty(2) && !(nc && *nc) && !(fnc && *fnc);
}

static void out_line(const char *pre, const char *colour, const char *fmt, va_list ap)
{
	char buf[8192];
	int n = 0;
	if (out_colour)
		n = snprintf(buf, sizeof buf, "%s%s\033[0m ", colour, pre);
	else
		n = snprintf(buf, sizeof buf, "%s ", pre);
	int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if (n > (int)sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	/* One write per line, so lines from the program and ours never interleave mid-line. */
	for (int off = 0; off < n;) {
		ssize_t w = write(2, buf + off, (size_t)(n - off));
		if (w <= 0)
			return;
		off += (int)w;
	}
}

void out_status(const char *fmt, ...)
{
	if (out_quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	out_line("[forkmon]", "\033[1;36m", fmt, ap);
	va_end(ap);
}

void out_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	out_line("forkmon:", "\033[1;31m", fmt, ap);
	va_end(ap);
}
