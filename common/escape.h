/*
 * common/escape.h — a name made safe for one terminal line. libc only; used by the
 * monitor's status and error lines (monitor/out.c) and forkmon-client's error lines.
 * File names and commands are the user's and may hold any byte but NUL (and '/'): a
 * newline in one must not forge a second line, an escape sequence must not drive the
 * terminal, and the line must still say which name it was.
 */
#ifndef FORKMON_ESCAPE_H
#define FORKMON_ESCAPE_H

#include <stddef.h>

/* The n bytes of in, escaped for a terminal line, into out (cap bytes, NUL-terminated):
 * backslash, newline, tab and carriage return become backslash-backslash, \n, \t, \r;
 * other control bytes (C0, DEL), C1 controls and bytes that are not well-formed UTF-8
 * become \xHH (two lower-case hex digits);
 * well-formed UTF-8 stays as it is. Stops before an escape or a character that would not
 * fit whole. Returns the length written. */
size_t escape_line(const char *in, size_t n, char *out, size_t cap);

#endif
