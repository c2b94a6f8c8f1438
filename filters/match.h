/*
 * filters/match.h — string.find(subject, pattern) of Lua 5.4, with a bounded cost.
 * Runs in the monitor and the helper (called by filter.c); pure C, no Lua, no allocation.
 *
 * Why not liblua: string.find is C inside liblua and runs to the end once called; an
 * instruction-count hook (lua_sethook, LUA_MASKCOUNT) never fires inside it, so
 * 'a-a-a-a-a-a-a-a-b' on a run of 40 'a's blocks the caller for ~20 s. This matcher
 * follows lstrlib's semantics item by item (same backtracking, same 200-level nesting
 * limit, same faults when a faulty item is reached) and counts its steps: past the
 * budget it gives up. Tests and fuzzing compare it with lua5.4 itself.
 */
#ifndef FORKMON_MATCH_H
#define FORKMON_MATCH_H

#include <stddef.h>

enum match_result {
	MATCH_NO = 0,		/* string.find returns nil */
	MATCH_YES = 1,		/* string.find returns the match */
	MATCH_COSTLY = -1,	/* gave up after budget steps */
	MATCH_ERROR = -2,	/* Lua would raise (a malformed item reached, "pattern too complex") */
};

/*
 * The budget forkmon uses: no sane pattern reaches it on a 4096-byte path (the costliest
 * ordinary shapes, '.*%.lua$' or '.-x$', take ~3 n^2/2 = 25M steps there), and it costs
 * at most ~0.3 s of one core. Figures: tests/unit/test_filter_budget.c; README, Usage.
 */
#define MATCH_BUDGET 100000000UL

/*
 * string.find(s, p) with the pattern and the subject as bytes (either may hold NULs).
 * budget: the most steps to take (a step: one item tried at one subject position).
 * *steps (may be NULL): the steps taken. Returns an enum match_result.
 */
int match_find(const char *p, size_t pn, const char *s, size_t sn, unsigned long budget,
	       unsigned long *steps);

#endif
