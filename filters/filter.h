/*
 * filters/filter.h — which paths forkmon watches: Lua patterns, checked by liblua5.4 and
 * matched with Lua's semantics at a bounded cost (match.h).
 *
 * Runs in the monitor and the helper only (never in the hook: Debian's liblua5.4 cannot
 * be linked into a shared object, and a hook linked to it crashes inside luajit).
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
 * ^), a literal suffix it must end with (only for patterns anchored with $), and a
 * literal it must hold somewhere (an unanchored 'src/' or '%.lua' has one). A pattern
 * with none of them gives an empty hint, which means "every path is a candidate".
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

/*
 * 1 when any pattern finds path, else 0. Never raises, never takes more than about
 * budget steps per pattern (MATCH_BUDGET: ~0.3 s): a pattern that gives up on a path
 * (too costly, or Lua's "pattern too complex") counts as the verdict filter_on_costly
 * set (default: not matching), and the first time, say() hears one line about it.
 */
int filter_match(struct filter *f, const char *path);

/*
 * What a pattern that gives up counts as (verdict 0: not matching, 1: matching), how
 * lines name one (role, e.g. "ignore pattern"; static text) and who hears them, once per
 * pattern (say may be NULL: nobody). A line, without prefix or newline, e.g.
 *   pattern 'a-a-%d' took too long on '/tmp/aaaa' (over 100000000 steps); treated as not matching
 */
void filter_on_costly(struct filter *f, int verdict, const char *role, void (*say)(const char *line));
/* Steps per pattern and path (default MATCH_BUDGET); for tests. */
void filter_set_budget(struct filter *f, unsigned long steps);

/* What a path must look like to possibly match pattern i (0 <= i < filter_count). */
struct filter_hint {
	char prefix[64]; /* literal the path starts with, "" when none */
	char suffix[64]; /* literal the path ends with, "" when none */
	char need[64];   /* literal the path holds somewhere, "" when none is sure */
};
void filter_hint(const struct filter *f, int i, struct filter_hint *out);

/* A Lua pattern matching exactly the literal s (escapes magic characters). */
void filter_quote(const char *s, char *out, size_t outlen);

#endif
