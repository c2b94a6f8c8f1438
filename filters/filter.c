/*
 * filters/filter.c — Lua patterns over paths: checked when added, matched by liblua5.4.
 *
 * One lua_State per filter holds string.find and the patterns (as upvalues of a small
 * C closure), so a match is a few lua_pcall()s and never compiles a chunk.
 *
 * Lua only parses the part of a pattern its matcher reaches on a given subject, so
 * 'a[' is harmless on "b" and fatal on "a". We refuse such patterns up front: a
 * tokeniser below follows lstrlib.c (Lua 5.4) token by token, and the validator walks
 * the whole pattern the way match() would on a subject that reaches every item. The
 * wording of a complaint is then taken from Lua itself, by running a reduced pattern
 * that reaches the fault at once.
 *
 * A filter is not thread-safe: one thread at a time.
 */
#include "filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

/* lstrlib.c's magic characters and capture limit (LUA_MAXCAPTURES). */
#define PAT_SPECIALS "^$*+?.([%-"
#define PAT_MAXCAPTURES 32
#define COMPLAINT_MAX 200

struct pattern {
	char *text;
	size_t len;
	struct filter_hint hint;
};

struct filter {
	lua_State *L;
	int find_ref;		/* string.find, in the registry */
	int pats_ref;		/* table of pattern strings, pats[i + 1] */
	int matcher_ref;	/* match_all closure (upvalues: find, pats) */
	struct pattern *pats;
	int n, cap;
};

/* ---------------------------------------------------------------- tokeniser */

enum tok_kind {
	TK_ITEM,	/* single-char class: c, %x, ., [set]; may carry a quantifier */
	TK_OPEN,	/* ( */
	TK_POSITION,	/* () */
	TK_CLOSE,	/* ) */
	TK_BALANCE,	/* %bxy */
	TK_FRONTIER,	/* %f[set] */
	TK_BACKREF,	/* %0-%9 */
	TK_END,		/* $ as the very last character */
};

struct tok {
	enum tok_kind kind;
	size_t len;		/* bytes, quantifier included */
	int lit;		/* TK_ITEM: the one byte it matches (contract's literal), or -1 */
	char quant;		/* TK_ITEM: '*', '+', '-', '?' or 0 */
	int ref;		/* TK_BACKREF: the digit */
	const char *err;	/* lexical fault; len is then meaningless */
};

static int pat_is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int pat_is_special(int c)
{
	return c != '\0' && strchr(PAT_SPECIALS, c) != NULL;
}

/* Lua takes a pattern without magic characters as a plain string (no parsing at all). */
static int has_specials(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pat_is_special((unsigned char)p[i]))
			return 1;
	return 0;
}

/* lstrlib's classEnd(): end of the single-char class at p[i]. */
static const char *class_end(const char *p, size_t n, size_t i, size_t *end)
{
	size_t j;

	if (p[i] == '%') {
		if (i + 1 >= n)
			return "malformed pattern (ends with '%')";
		*end = i + 2;
		return NULL;
	}
	if (p[i] != '[') {
		*end = i + 1;
		return NULL;
	}
	j = i + 1;
	if (j < n && p[j] == '^')
		j++;
	/* the first byte is taken before looking for ']', so "[]]" is the set of ']' */
	do {
		if (j >= n)
			return "malformed pattern (missing ']')";
		if (p[j++] == '%' && j < n)
			j++;
	} while (j >= n || p[j] != ']');
	*end = j + 1;
	return NULL;
}

/* The token at p[i] (i < n), split exactly where lstrlib's match() would. */
static void next_tok(const char *p, size_t n, size_t i, struct tok *t)
{
	size_t end;
	int c = (unsigned char)p[i];

	t->err = NULL;
	t->lit = -1;
	t->quant = 0;
	t->ref = 0;
	t->len = 1;
	switch (c) {
	case '(':
		t->kind = TK_OPEN;
		if (i + 1 < n && p[i + 1] == ')') {
			t->kind = TK_POSITION;
			t->len = 2;
		}
		return;
	case ')':
		t->kind = TK_CLOSE;
		return;
	case '$':
		if (i + 1 == n) {
			t->kind = TK_END;
			return;
		}
		break;
	case '%':
		if (i + 1 >= n)
			break;
		switch (p[i + 1]) {
		case 'b':
			t->kind = TK_BALANCE;
			t->len = 4;
			if (n - i < 4)
				t->err = "malformed pattern (missing arguments to '%b')";
			return;
		case 'f':
			t->kind = TK_FRONTIER;
			if (i + 2 >= n || p[i + 2] != '[') {
				t->err = "missing '[' after '%f' in pattern";
				return;
			}
			t->err = class_end(p, n, i + 2, &end);
			if (!t->err)
				t->len = end - i;
			return;
		case '0': case '1': case '2': case '3': case '4':
		case '5': case '6': case '7': case '8': case '9':
			t->kind = TK_BACKREF;
			t->ref = p[i + 1] - '0';
			t->len = 2;
			return;
		}
		break;
	}
	/* a single-char class, then maybe a quantifier */
	t->kind = TK_ITEM;
	t->err = class_end(p, n, i, &end);
	if (t->err)
		return;
	if (c == '%') {
		int x = (unsigned char)p[i + 1];

		/* %x is x itself unless x names a class; be strict: ASCII punctuation only */
		if (!pat_is_alnum(x) && x < 0x80)
			t->lit = x;
	} else if (!pat_is_special(c)) {
		t->lit = c;
	}
	if (end < n && strchr("*+-?", p[end])) {
		t->quant = p[end];
		end++;
	}
	t->len = end - i;
}

/* ---------------------------------------------------------------- validation */

/*
 * The first fault Lua could raise on some subject, or NULL. *at is where the faulty
 * token starts (the pattern's length for "unfinished capture", found only at the end).
 */
static const char *pattern_fault(const char *p, size_t n, size_t *at, char *buf, size_t buflen)
{
	char open[PAT_MAXCAPTURES];	/* 1 while capture l is unfinished */
	int level = 0;
	struct tok t;
	size_t i = 0;

	*at = 0;
	if (!has_specials(p, n))
		return NULL;
	if (n > 0 && p[0] == '^')
		i = 1;
	for (; i < n; i += t.len) {
		*at = i;
		next_tok(p, n, i, &t);
		if (t.err)
			return t.err;
		switch (t.kind) {
		case TK_OPEN:
		case TK_POSITION:
			if (level >= PAT_MAXCAPTURES)
				return "too many captures";
			open[level++] = t.kind == TK_OPEN;
			break;
		case TK_CLOSE: {
			int l = level - 1;

			while (l >= 0 && !open[l])
				l--;
			if (l < 0)
				return "invalid pattern capture";
			open[l] = 0;
			break;
		}
		case TK_BACKREF: {
			int l = t.ref - 1;

			if (l < 0 || l >= level || open[l]) {
				snprintf(buf, buflen, "invalid capture index %%%d", l + 1);
				return buf;
			}
			break;
		}
		default:
			break;
		}
	}
	*at = n;
	for (int l = 0; l < level; l++)
		if (open[l])
			return "unfinished capture";
	return NULL;
}

/* ---------------------------------------------------------------- hints */

static int tok_is_capture(const struct tok *t)
{
	return t->kind == TK_OPEN || t->kind == TK_POSITION || t->kind == TK_CLOSE;
}

/* Captures consume nothing, so literals on both sides of them still touch. */
static void compute_hint(const char *p, size_t n, struct filter_hint *h)
{
	const size_t max = sizeof(h->prefix) - 1;
	char run[sizeof(h->suffix)];
	size_t k = 0, r = 0, i = 0;
	struct tok t;

	memset(h, 0, sizeof(*h));
	if (!has_specials(p, n))	/* taken as a plain string: no anchors */
		return;
	if (n > 0 && p[0] == '^') {
		for (i = 1; i < n && k < max; i += t.len) {
			next_tok(p, n, i, &t);
			if (t.err)
				break;
			if (tok_is_capture(&t))
				continue;
			if (t.kind != TK_ITEM || t.lit < 0 || (t.quant && t.quant != '+'))
				break;
			h->prefix[k++] = (char)t.lit;
			if (t.quant == '+')	/* once for sure, maybe more: stop */
				break;
		}
		h->prefix[k] = '\0';
		i = 1;
	}
	/* suffix: the literal run standing right before a final '$' */
	for (; i < n; i += t.len) {
		next_tok(p, n, i, &t);
		if (t.err)
			return;
		if (tok_is_capture(&t))
			continue;
		if (t.kind == TK_END) {
			memcpy(h->suffix, run, r);
			h->suffix[r] = '\0';
			return;
		}
		if (t.kind != TK_ITEM || t.lit < 0 || (t.quant && t.quant != '+')) {
			r = 0;
			continue;
		}
		if (t.quant == '+')	/* c+ ends with one c: a run starts there */
			r = 0;
		if (r == max) {		/* keep the last bytes: still a necessary ending */
			memmove(run, run + 1, max - 1);
			r--;
		}
		run[r++] = (char)t.lit;
	}
}

static int hint_allows(const struct filter_hint *h, const char *path, size_t len)
{
	size_t pl = strlen(h->prefix), sl = strlen(h->suffix);

	if (pl && (len < pl || memcmp(path, h->prefix, pl) != 0))
		return 0;
	if (sl && (len < sl || memcmp(path + len - sl, h->suffix, sl) != 0))
		return 0;
	return 1;
}

/* ---------------------------------------------------------------- Lua side */

struct setup_job {
	int find_ref, pats_ref, matcher_ref;
};

struct match_job {
	struct filter *f;
	const char *path;
	size_t len;
};

struct probe_job {
	int find_ref;
	const char *pat;
	size_t len;
	int raised;
	char msg[COMPLAINT_MAX];
};

struct store_job {
	struct filter *f;
	const char *const *texts;
	const size_t *lens;
	int count;
};

/* Upvalues: string.find, patterns. Argument: struct match_job. Returns a boolean. */
static int match_all(lua_State *L)
{
	struct match_job *job = lua_touserdata(L, 1);
	struct filter *f = job->f;

	lua_pushlstring(L, job->path, job->len);	/* index 2 */
	for (int i = 0; i < f->n; i++) {
		if (!hint_allows(&f->pats[i].hint, job->path, job->len))
			continue;
		lua_pushvalue(L, lua_upvalueindex(1));
		lua_pushvalue(L, 2);
		lua_rawgeti(L, lua_upvalueindex(2), i + 1);
		/* a runtime error ("pattern too complex") is a miss for this pattern only */
		if (lua_pcall(L, 2, 1, 0) == LUA_OK && !lua_isnil(L, -1)) {
			lua_pushboolean(L, 1);
			return 1;
		}
		lua_pop(L, 1);
	}
	lua_pushboolean(L, 0);
	return 1;
}

static int setup(lua_State *L)
{
	struct setup_job *job = lua_touserdata(L, 1);

	luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);
	lua_getfield(L, -1, "find");
	lua_pushvalue(L, -1);
	job->find_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_newtable(L);
	lua_pushvalue(L, -1);
	job->pats_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushcclosure(L, match_all, 2);
	job->matcher_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* Lua's message without "where" or "bad argument" wrappers, on one printable line. */
static void clean_complaint(const char *msg, char *out, size_t outlen)
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
static int probe(lua_State *L)
{
	struct probe_job *job = lua_touserdata(L, 1);

	lua_rawgeti(L, LUA_REGISTRYINDEX, job->find_ref);
	lua_pushliteral(L, "");
	lua_pushlstring(L, job->pat, job->len);
	if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
		const char *m = lua_tostring(L, -1);

		job->raised = 1;
		clean_complaint(m ? m : "error object is not a string", job->msg, sizeof(job->msg));
	}
	return 0;
}

static int store(lua_State *L)
{
	struct store_job *job = lua_touserdata(L, 1);

	lua_rawgeti(L, LUA_REGISTRYINDEX, job->f->pats_ref);
	for (int k = 0; k < job->count; k++) {
		lua_pushlstring(L, job->texts[k], job->lens[k]);
		lua_rawseti(L, -2, job->f->n + k + 1);
	}
	return 0;
}

/* Runs fn(arg) protected; the stack is left as it was. */
static int run_protected(lua_State *L, lua_CFunction fn, void *arg)
{
	int top = lua_gettop(L), status;

	lua_pushcfunction(L, fn);
	lua_pushlightuserdata(L, arg);
	status = lua_pcall(L, 1, 0, 0);
	lua_settop(L, top);
	return status;
}

/* Lua's complaint when string.find("", pat) raises, else 0. */
static int lua_raises(struct filter *f, const char *pat, size_t len, char *out, size_t outlen)
{
	struct probe_job job = { .find_ref = f->find_ref, .pat = pat, .len = len };

	if (run_protected(f->L, probe, &job) != LUA_OK || !job.raised)
		return 0;
	snprintf(out, outlen, "%s", job.msg);
	return 1;
}

/*
 * Lua's own words for the fault at p[at]: keep only the zero-width capture skeleton of
 * what comes before (so capture state is the same), anchor it, and run it on "". Every
 * fault lstrlib raises is raised before it looks at the subject, so this reaches it.
 */
static int lua_complaint(struct filter *f, const char *p, size_t n, size_t at,
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
		next_tok(p, n, i, &t);
		if (t.kind == TK_OPEN || t.kind == TK_CLOSE)
			q[k++] = p[i];
		else if (t.kind == TK_POSITION) {
			q[k++] = '(';
			q[k++] = ')';
		}
	}
	memcpy(q + k, p + at, n - at);
	k += n - at;
	raised = lua_raises(f, q, k, out, outlen);
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
	if (!f->L || run_protected(f->L, setup, &job) != LUA_OK) {
		if (f->L)
			lua_close(f->L);
		free(f);
		return NULL;
	}
	f->find_ref = job.find_ref;
	f->pats_ref = job.pats_ref;
	f->matcher_ref = job.matcher_ref;
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

/*
 * Next item of spec from *pos. A ';' inside a token (%;, [a;b], %b;x, %f[;]) does not
 * split: under a plain split those items would all be malformed, so this only accepts
 * more. A token Lua would refuse ends the item at the next ';' as a plain split would.
 */
static size_t next_item(const char *s, size_t n, size_t *pos)
{
	size_t start = *pos, i = start;
	struct tok t;

	if (i < n && s[i] == '^')
		i++;
	while (i < n && s[i] != ';') {
		next_tok(s, n, i, &t);
		if (t.err || i + t.len > n) {
			const char *semi = memchr(s + i, ';', n - i);

			i = semi ? (size_t)(semi - s) : n;
			break;
		}
		i += t.len;
	}
	*pos = i < n ? i + 1 : n;
	return i - start;
}

/* "malformed pattern '<p>': <complaint>", control bytes shown as \xHH to keep one line. */
static void malformed(char *err, size_t errlen, const char *p, size_t n, const char *why)
{
	size_t k;

	if (!err || !errlen)
		return;
	k = (size_t)snprintf(err, errlen, "malformed pattern '");
	for (size_t i = 0; i < n && k + 1 < errlen; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c == 0x7f)
			k += (size_t)snprintf(err + k, errlen - k, "\\x%02x", c);
		else
			err[k++] = (char)c;
		if (k >= errlen)
			k = errlen - 1;
	}
	if (k + 1 < errlen)
		snprintf(err + k, errlen - k, "': %s", why);
	else
		err[errlen - 1] = '\0';
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

int filter_add(struct filter *f, const char *spec, char *err, size_t errlen)
{
	size_t n, pos = 0, cnt = 0, k;
	const char **texts = NULL;
	size_t *lens = NULL;
	char **copies = NULL;
	int rc = -1;

	if (err && errlen)
		err[0] = '\0';
	if (!f) {
		set_err(err, errlen, "no filter");
		return -1;
	}
	if (!spec)
		return 0;
	n = strlen(spec);
	texts = malloc((n / 2 + 1) * sizeof(*texts));
	lens = malloc((n / 2 + 1) * sizeof(*lens));
	copies = calloc(n / 2 + 1, sizeof(*copies));
	if (!texts || !lens || !copies) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	/* validate every item before adding any: a refused spec adds nothing */
	while (pos < n) {
		const char *p = spec + pos;
		size_t len = next_item(spec, n, &pos), at;
		char own[COMPLAINT_MAX], lua[COMPLAINT_MAX];
		const char *why;

		if (len == 0)
			continue;
		why = pattern_fault(p, len, &at, own, sizeof(own));
		if (why) {
			if (lua_complaint(f, p, len, at, lua, sizeof(lua)))
				why = lua;	/* the running Lua's exact words */
			malformed(err, errlen, p, len, why);
			goto out;
		}
		/* belt and braces: whatever Lua raises on "" is refused too */
		if (has_specials(p, len) && lua_raises(f, p, len, lua, sizeof(lua)) &&
		    strcmp(lua, "pattern too complex") != 0) {
			malformed(err, errlen, p, len, lua);
			goto out;
		}
		texts[cnt] = p;
		lens[cnt++] = len;
	}
	for (k = 0; k < cnt; k++) {
		copies[k] = strndup(texts[k], lens[k]);
		if (!copies[k]) {
			set_err(err, errlen, "out of memory");
			goto out;
		}
	}
	if (f->n + cnt > (size_t)f->cap) {
		size_t cap = (size_t)f->cap * 2 + cnt + 4;
		struct pattern *np = realloc(f->pats, cap * sizeof(*np));

		if (!np) {
			set_err(err, errlen, "out of memory");
			goto out;
		}
		f->pats = np;
		f->cap = (int)cap;
	}
	if (cnt) {
		struct store_job job = { f, texts, lens, (int)cnt };

		/* entries past f->n left by a failure are harmless: f->n is the truth */
		if (run_protected(f->L, store, &job) != LUA_OK) {
			set_err(err, errlen, "out of memory");
			goto out;
		}
	}
	for (k = 0; k < cnt; k++) {
		struct pattern *pt = &f->pats[f->n++];

		pt->text = copies[k];
		pt->len = lens[k];
		compute_hint(pt->text, pt->len, &pt->hint);
		copies[k] = NULL;
	}
	rc = 0;
out:
	if (copies)
		for (k = 0; k < cnt; k++)
			free(copies[k]);
	free(copies);
	free(texts);
	free(lens);
	return rc;
}

int filter_match(struct filter *f, const char *path)
{
	struct match_job job;
	lua_State *L;
	int top, hit;

	if (!f || !path || f->n == 0)
		return 0;
	job.f = f;
	job.path = path;
	job.len = strlen(path);
	/* the hints are necessary conditions: when all say no, Lua is not asked */
	hit = 0;
	for (int i = 0; i < f->n && !hit; i++)
		hit = hint_allows(&f->pats[i].hint, path, job.len);
	if (!hit)
		return 0;
	L = f->L;
	top = lua_gettop(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, f->matcher_ref);
	lua_pushlightuserdata(L, &job);
	hit = lua_pcall(L, 1, 1, 0) == LUA_OK && lua_toboolean(L, -1);
	lua_settop(L, top);
	return hit;
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

void filter_quote(const char *s, char *out, size_t outlen)
{
	size_t k = 0;

	if (!out || outlen == 0)
		return;
	/* ')' and ']' close things, ';' splits specs: escaping them too keeps s literal */
	for (; s && *s; s++) {
		int esc = strchr("^$*+?.()[]%-;", *s) != NULL;

		if (k + 1 + (size_t)esc >= outlen)
			break;	/* never leave a lone '%' at the end */
		if (esc)
			out[k++] = '%';
		out[k++] = *s;
	}
	out[k] = '\0';
}
