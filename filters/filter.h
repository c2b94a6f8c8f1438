/*
 * filters/filter.h — which paths forkmon watches: Lua patterns, evaluated by liblua5.4.
 *
 * Runs in the monitor only (never in the hook: Debian's liblua5.4 cannot be linked into
 * a shared object, and a hook linked to it crashes inside luajit).
 *
 * A filter is a list of Lua patterns. A path matches when string.find(path, pattern)
 * finds any of them (string.find semantics: unanchored unless the pattern says ^ or $).
 * Patterns come `;`-separated (FORKMON_FILTER='%.lua$;%.py$') or one per -f option.
 * Empty items are skipped.
 *
 * Malformed patterns are refused when added, with Lua's own complaint, even when
 * Lua itself would only notice the fault on a subject that reaches it ('a[' on "b").
 *
 * filter_hint() tells the hook what it may reject without asking the monitor: for each
 * pattern, a literal prefix the path must start with (only for patterns anchored with
 * ^) and a literal suffix it must end with (only for patterns anchored with $). A
 * pattern with neither gives an empty hint, which means "every path is a candidate".
 */
#ifndef FORKMON_FILTER_H
#define FORKMON_FILTER_H

#include <stddef.h>

struct filter;

struct filter *filter_new(void);
void filter_free(struct filter *f);

/*
 * Adds the `;`-separated patterns of spec. Returns 0, or -1 when one is malformed:
 * then nothing of spec is added and err holds one line (no newline) naming the
 * pattern and Lua's complaint, e.g.
 *   malformed pattern '[a': malformed pattern (missing ']')
 */
int filter_add(struct filter *f, const char *spec, char *err, size_t errlen);

/* Number of patterns added so far. */
int filter_count(const struct filter *f);

/* 1 when any pattern finds path, else 0. Never raises. */
int filter_match(struct filter *f, const char *path);

/* What a path must look like to possibly match pattern i (0 <= i < filter_count). */
struct filter_hint {
	char prefix[64]; /* literal the path starts with, "" when none */
	char suffix[64]; /* literal the path ends with, "" when none */
};
void filter_hint(const struct filter *f, int i, struct filter_hint *out);

/* A Lua pattern matching exactly the literal s (escapes magic characters). */
void filter_quote(const char *s, char *out, size_t outlen);

#endif
