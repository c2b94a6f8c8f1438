/*
 * filters/filter.c — Lua patterns over paths: checked when added (with liblua5.4's own
 * words), matched with a bounded cost (match.c). Runs in the monitor and the helper (see
 * filter.h); the pattern text itself is analysed in pattern.c.
 *
 * One lua_State per filter holds string.find, to ask Lua what it says of a pattern: a
 * pattern pattern.c finds faulty is refused with Lua's own words, taken by running a
 * reduced pattern that reaches the fault at once. A path is matched by Lua too, but
 * only once match.c, which counts its steps, has finished that pattern on that path
 * within the budget: liblua's string.find cannot be interrupted (see match.h).
 *
 * A filter is not thread-safe: one thread at a time.
 */
#include "filter.h"
#include "match.h"
#include "pattern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

struct pattern {
	char *text;
	size_t len;
	struct filter_hint hint;
	size_t need_len;	/* of hint.need: a literal every path it finds holds */
	int told;		/* its "too costly" line was said */
};

struct filter {
	lua_State *L;
	int find_ref;		/* string.find, in the registry */
	struct pattern *pats;
	int n, cap;
	unsigned long budget;	/* steps per pattern and path */
	int costly_verdict;	/* what a pattern that gives up counts as */
	const char *role;	/* "pattern", "ignore pattern": how lines name one */
	void (*say)(const char *line);
};

/* ---------------------------------------------------------------- Lua side */

struct setup_job {
	int find_ref;
};

struct probe_job {
	int find_ref;
	const char *pat;
	size_t len;
	int raised;
	char msg[COMPLAINT_MAX];
};

static int filter_setup(lua_State *L)
{
	struct setup_job *job = lua_touserdata(L, 1);

	luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);
	lua_getfield(L, -1, "find");
	job->find_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* Lua's message without "where" or "bad argument" wrappers, on one printable line. */
static void filter_clean_complaint(const char *msg, char *out, size_t outlen)
{
	const char *c = strchr(msg, ':');
	size_t k = 0, len;

	if (c && c[1] >= '0' && c[1] <= '9') {	/* "chunk:12: " */
		const char *d = c + 1;

		while (*d >= '0' && *d <= '9')
			d++;
		if (d[0] == ':' && d[1] == ' ')
			msg = d + 2;
	}
	len = strlen(msg);
	if (strncmp(msg, "bad argument #", 14) == 0) {	/* "bad argument #2 to 'find' (...)" */
		const char *o = strstr(msg, " (");

		if (o && len > 0 && msg[len - 1] == ')') {
			len -= (size_t)(o + 2 - msg) + 1;
			msg = o + 2;
		}
	}
	for (size_t i = 0; i < len && k + 1 < outlen; i++) {
		unsigned char ch = (unsigned char)msg[i];

		out[k++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	if (outlen)
		out[k] = '\0';
}

/* string.find("", pattern) in protected mode; records whether and what it raised. */
static int filter_probe(lua_State *L)
{
	struct probe_job *job = lua_touserdata(L, 1);

	lua_rawgeti(L, LUA_REGISTRYINDEX, job->find_ref);
	lua_pushliteral(L, "");
	lua_pushlstring(L, job->pat, job->len);
	if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
		const char *m = lua_tostring(L, -1);

		job->raised = 1;
		filter_clean_complaint(m ? m : "error object is not a string", job->msg, sizeof(job->msg));
	}
	return 0;
}

struct find_job {
	int find_ref;
	const char *pat, *path;
	size_t plen, len;
	int hit;
};

/* string.find(path, pattern) in protected mode: Lua's own verdict. */
static int filter_find(lua_State *L)
{
	struct find_job *job = lua_touserdata(L, 1);

	lua_rawgeti(L, LUA_REGISTRYINDEX, job->find_ref);
	lua_pushlstring(L, job->path, job->len);
	lua_pushlstring(L, job->pat, job->plen);
	job->hit = lua_pcall(L, 2, 1, 0) == LUA_OK && !lua_isnil(L, -1);
	return 0;
}

/* Runs fn(arg) protected; the stack is left as it was. */
static int filter_run_protected(lua_State *L, lua_CFunction fn, void *arg)
{
	int top = lua_gettop(L), status;

	lua_pushcfunction(L, fn);
	lua_pushlightuserdata(L, arg);
	status = lua_pcall(L, 1, 0, 0);
	lua_settop(L, top);
	return status;
}

/* Lua's complaint when string.find("", pat) raises, else 0. */
static int filter_lua_raises(struct filter *f, const char *pat, size_t len, char *out, size_t outlen)
{
	struct probe_job job = { .find_ref = f->find_ref, .pat = pat, .len = len };

	if (filter_run_protected(f->L, filter_probe, &job) != LUA_OK || !job.raised)
		return 0;
	snprintf(out, outlen, "%s", job.msg);
	return 1;
}

/*
 * Lua's own words for the fault at p[at]: keep only the zero-width capture skeleton of
 * what comes before (so capture state is the same), anchor it, and run it on "". Every
 * fault lstrlib raises is raised before it looks at the subject, so this reaches it.
 */
static int filter_lua_complaint(struct filter *f, const char *p, size_t n, size_t at,
			 char *out, size_t outlen)
{
	char *q = malloc(2 * n + 2);
	size_t k = 0, i = (n > 0 && p[0] == '^') ? 1 : 0;
	struct tok t;
	int raised;

	if (!q)
		return 0;
	q[k++] = '^';
	for (; i < at; i += t.len) {
		pattern_next_tok(p, n, i, &t);
		if (t.kind == TK_OPEN || t.kind == TK_CLOSE)
			q[k++] = p[i];
		else if (t.kind == TK_POSITION) {
			q[k++] = '(';
			q[k++] = ')';
		}
	}
	memcpy(q + k, p + at, n - at);
	k += n - at;
	raised = filter_lua_raises(f, q, k, out, outlen);
	free(q);
	return raised;
}

/* ---------------------------------------------------------------- API */

struct filter *filter_new(void)
{
	struct filter *f = calloc(1, sizeof(*f));
	struct setup_job job = { 0 };

	if (!f)
		return NULL;
	f->L = luaL_newstate();
	if (!f->L || filter_run_protected(f->L, filter_setup, &job) != LUA_OK) {
		if (f->L)
			lua_close(f->L);
		free(f);
		return NULL;
	}
	f->find_ref = job.find_ref;
	f->budget = MATCH_BUDGET;
	f->role = "pattern";
	return f;
}

void filter_free(struct filter *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->n; i++)
		free(f->pats[i].text);
	free(f->pats);
	lua_close(f->L);
	free(f);
}

int filter_count(const struct filter *f)
{
	return f ? f->n : 0;
}

static void filter_set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

/* Checks every item of spec (n bytes) before any is added: a refused spec adds nothing.
 * Fills texts and lens; returns how many, or -1 with err set. */
static int filter_check_spec(struct filter *f, const char *spec, size_t n, const char **texts, size_t *lens,
			     char *err, size_t errlen)
{
	size_t pos = 0;
	int cnt = 0;

	while (pos < n) {
		const char *p = spec + pos;
		size_t len = pattern_next_item(spec, n, &pos), at;
		char own[COMPLAINT_MAX], lua[COMPLAINT_MAX];
		const char *why;

		if (len == 0)
			continue;
		why = pattern_fault(p, len, &at, own, sizeof(own));
		if (why) {
			if (filter_lua_complaint(f, p, len, at, lua, sizeof(lua)))
				why = lua;	/* the running Lua's exact words */
			pattern_malformed(err, errlen, p, len, why);
			return -1;
		}
		/* belt and braces: whatever Lua raises on "" is refused too */
		if (pattern_has_specials(p, len) && filter_lua_raises(f, p, len, lua, sizeof(lua)) &&
		    strcmp(lua, "pattern too complex") != 0) {
			pattern_malformed(err, errlen, p, len, lua);
			return -1;
		}
		texts[cnt] = p;
		lens[cnt++] = len;
	}
	return cnt;
}

/* Makes room for cnt more patterns. 0, or -1 (out of memory). */
static int filter_grow(struct filter *f, size_t cnt)
{
	if (f->n + cnt <= (size_t)f->cap)
		return 0;
	size_t cap = (size_t)f->cap * 2 + cnt + 4;
	struct pattern *np = realloc(f->pats, cap * sizeof(*np));

	if (!np)
		return -1;
	f->pats = np;
	f->cap = (int)cap;
	return 0;
}

/* Adds cnt checked patterns, all or (out of memory: -1) none. */
static int filter_store_items(struct filter *f, const char **texts, const size_t *lens, size_t cnt)
{
	char **copies = calloc(cnt + 1, sizeof(*copies));
	size_t k;
	int rc = -1;

	if (!copies)
		return -1;
	for (k = 0; k < cnt; k++)
		if (!(copies[k] = strndup(texts[k], lens[k])))
			goto out;
	if (filter_grow(f, cnt) < 0)
		goto out;
	for (k = 0; k < cnt; k++) {
		struct pattern *pt = &f->pats[f->n++];

		pt->text = copies[k];
		pt->len = lens[k];
		pt->told = 0;
		pattern_hint(pt->text, pt->len, &pt->hint);
		pt->need_len = pattern_required(pt->text, pt->len, pt->hint.need, sizeof pt->hint.need);
		copies[k] = NULL;
	}
	rc = 0;
out:
	for (k = 0; k < cnt; k++)
		free(copies[k]);
	free(copies);
	return rc;
}

int filter_add(struct filter *f, const char *spec, char *err, size_t errlen)
{
	const char **texts;
	size_t n, *lens;
	int cnt, rc = -1;

	if (err && errlen)
		err[0] = '\0';
	if (!f) {
		filter_set_err(err, errlen, "no filter");
		return -1;
	}
	if (!spec)
		return 0;
	n = strlen(spec);
	texts = malloc((n / 2 + 1) * sizeof(*texts));
	lens = malloc((n / 2 + 1) * sizeof(*lens));
	if (!texts || !lens) {
		filter_set_err(err, errlen, "out of memory");
	} else if ((cnt = filter_check_spec(f, spec, n, texts, lens, err, errlen)) >= 0) {
		rc = filter_store_items(f, texts, lens, (size_t)cnt);
		if (rc < 0)
			filter_set_err(err, errlen, "out of memory");
	}
	free(texts);
	free(lens);
	return rc;
}

/* s (n bytes) for a one-line message: control bytes as \xHH, cut after max bytes. */
static size_t filter_show(char *out, size_t cap, const char *s, size_t n, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < n && i < max && k + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			k += (size_t)snprintf(out + k, cap - k, "\\x%02x", c);
		else
			out[k++] = (char)c;
	}
	if (n > max && k + 4 < cap)
		k += (size_t)snprintf(out + k, cap - k, "...");
	out[k] = '\0';
	return k;
}

/* The one line said the first time pattern pt gives up (rc: MATCH_COSTLY or _ERROR). */
static void filter_tell(struct filter *f, struct pattern *pt, const char *path, size_t len, int rc)
{
	char pat[700], where[1400], line[2400];

	pt->told = 1;
	if (!f->say)
		return;
	filter_show(pat, sizeof pat, pt->text, pt->len, 160);
	filter_show(where, sizeof where, path, len, 300);
	if (rc == MATCH_COSTLY)
		snprintf(line, sizeof line, "%s '%s' took too long on '%s' (over %lu steps); treated as %s", f->role,
			 pat, where, f->budget, f->costly_verdict ? "matching" : "not matching");
	else
		snprintf(line, sizeof line, "%s '%s' is too complex for Lua on '%s'; treated as %s", f->role, pat,
			 where, f->costly_verdict ? "matching" : "not matching");
	f->say(line);
}

/* Lua's string.find on a pattern match.c has shown cheap. */
static int filter_lua_find(struct filter *f, const struct pattern *pt, const char *path, size_t len)
{
	struct find_job job = {f->find_ref, pt->text, path, pt->len, len, 0};

	filter_run_protected(f->L, filter_find, &job);
	return job.hit;
}

int filter_match(struct filter *f, const char *path)
{
	size_t len;

	if (!f || !path || f->n == 0)
		return 0;
	len = strlen(path);
	/* the hints are necessary conditions: a pattern whose hint says no is not tried, nor
	 * one whose literal the path lacks (the default ignores' "/%.git/" and the like: most
	 * paths have no such part, and each pattern tried costs two matches, ours and Lua's).
	 * Such a path cannot make a pattern give up as too costly either: its verdict is
	 * known, "no". */
	for (int i = 0; i < f->n; i++) {
		struct pattern *pt = &f->pats[i];
		int rc;

		if (!pattern_hint_allows(&pt->hint, path, len) ||
		    (pt->need_len && !memmem(path, len, pt->hint.need, pt->need_len)))
			continue;
		/* match.c first, with a budget: it backtracks as Lua does, so a pattern it
		 * finishes within the budget costs Lua as little, and the verdict is then
		 * Lua's own (the two agree: tests/unit/test_filter_budget.c) */
		rc = match_find(pt->text, pt->len, path, len, f->budget, NULL);
		if (rc == MATCH_YES || rc == MATCH_NO) {
			if (filter_lua_find(f, pt, path, len))
				return 1;
			continue;
		}
		if (!pt->told)
			filter_tell(f, pt, path, len, rc);
		if (f->costly_verdict)
			return 1;
	}
	return 0;
}

void filter_on_costly(struct filter *f, int verdict, const char *role, void (*say)(const char *line))
{
	if (!f)
		return;
	f->costly_verdict = verdict != 0;
	f->role = role ? role : "pattern";
	f->say = say;
}

void filter_set_budget(struct filter *f, unsigned long steps)
{
	if (f)
		f->budget = steps;
}

void filter_hint(const struct filter *f, int i, struct filter_hint *out)
{
	if (!out)
		return;
	if (!f || i < 0 || i >= f->n) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = f->pats[i].hint;
}

