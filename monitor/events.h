/*
 * monitor/events.h — the text of the events file (--events FILE): one JSON object per
 * line, and the escape that keeps every field when a name is not UTF-8. Runs in the
 * monitor (out.c writes the lines; conn.c, run.c, monitor.c fill the fields); pure, no
 * I/O, so tests and fuzzers call it as it is.
 *
 * JSON text is Unicode, file names are bytes. A text field (a path, a command word, a
 * message) whose bytes are UTF-8 is written as it is. One that is not (a stray byte, a
 * truncated or overlong sequence, a surrogate, or a NUL) is written twice:
 *   "path":     the text with U+FFFD for each byte that is not part of valid UTF-8,
 *               for people;
 *   "path_hex": every byte of the original, two lower-case hex digits each, exact.
 * A list ("paths", "command") gets "<key>_hex": the list of every item in hex, when any
 * of its items is not UTF-8. So a reader takes "<key>_hex" when present, else "<key>"
 * (events_get_text does), and recovers the bytes exactly: a valid name that contains
 * U+FFFD itself has no _hex field, so nothing is ambiguous.
 */
#ifndef FORKMON_EVENTS_H
#define FORKMON_EVENTS_H

#include <jansson.h>
#include <stddef.h>

/* 1 when s[0..n) is UTF-8 (RFC 3629: no overlong form, no surrogate, at most U+10FFFF)
 * without NUL, i.e. written as it is; else 0. */
int events_utf8_ok(const char *s, size_t n);

/* o[key] = the n bytes of s as text (and o[key "_hex"] when they are not UTF-8, as
 * above). Returns 0, or -1 (out of memory, o not an object). */
int events_set_text(json_t *o, const char *key, const char *s, size_t n);
/* Same for a list of NUL-terminated items: o[key] = [texts], o[key "_hex"] = [hex]. */
int events_set_texts(json_t *o, const char *key, const char *const *v, size_t n);

/* The exact bytes of o[key] (the string, or item i of the list when i >= 0): from
 * key_hex when present, else the UTF-8 text. malloc'd and NUL-terminated, *n bytes;
 * NULL when absent or malformed. */
char *events_get_text(const json_t *o, const char *key, int i, size_t *n);

/* One line: {"event": name, "time": ms (to the microsecond), ...fields}, '\n' ended,
 * ASCII only (JSON_ENSURE_ASCII). malloc'd, NUL-terminated after the '\n'; *len its
 * length with the '\n'. Steals fields (may be NULL). NULL when out of memory. */
char *events_line(const char *name, double ms, json_t *fields, size_t *len);

#endif
