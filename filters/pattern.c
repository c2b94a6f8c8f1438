/*
 * filters/pattern.c — Lua patterns checked and analysed as text (see pattern.h); runs in
 * the monitor, called by filter.c.
 *
 * Lua only parses the part of a pattern its matcher reaches on a given subject, so
 * 'a[' is harmless on "b" and fatal on "a". We refuse such patterns up front: a
 * tokeniser below follows lstrlib.c (Lua 5.4) token by token, and the validator walks
 * the whole pattern the way match() would on a subject that reaches every item. The
 * same tokens give the hints: the literals a matching path must start or end with.
 */
#include "pattern.h"

#include <stdio.h>
#include <string.h>

static int pattern_is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int pattern_is_special(int c)
{
	return c != '\0' && strchr(PAT_SPECIALS, c) != NULL;
}

/* Lua takes a pattern without magic characters as a plain string (no parsing at all). */
int pattern_has_specials(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pattern_is_special((unsigned char)p[i]))
			return 1;
	return 0;
}

/* lstrlib's classEnd(): end of the single-char class at p[i]. */
static const char *pattern_class_end(const char *p, size_t n, size_t i, size_t *end)
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
void pattern_next_tok(const char *p, size_t n, size_t i, struct tok *t)
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
			t->err = pattern_class_end(p, n, i + 2, &end);
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
	t->err = pattern_class_end(p, n, i, &end);
	if (t->err)
		return;
	if (c == '%') {
		int x = (unsigned char)p[i + 1];

		/* %x is x itself unless x names a class; be strict: ASCII punctuation only */
		if (!pattern_is_alnum(x) && x < 0x80)
			t->lit = x;
	} else if (!pattern_is_special(c)) {
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
const char *pattern_fault(const char *p, size_t n, size_t *at, char *buf, size_t buflen)
{
	char open[PAT_MAXCAPTURES];	/* 1 while capture l is unfinished */
	int level = 0;
	struct tok t;
	size_t i = 0;

	*at = 0;
	if (!pattern_has_specials(p, n))
		return NULL;
	if (n > 0 && p[0] == '^')
		i = 1;
	for (; i < n; i += t.len) {
		*at = i;
		pattern_next_tok(p, n, i, &t);
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

static int pattern_tok_is_capture(const struct tok *t)
{
	return t->kind == TK_OPEN || t->kind == TK_POSITION || t->kind == TK_CLOSE;
}

/* Captures consume nothing, so literals on both sides of them still touch. */
void pattern_hint(const char *p, size_t n, struct filter_hint *h)
{
	const size_t max = sizeof(h->prefix) - 1;
	char run[sizeof(h->suffix)];
	size_t k = 0, r = 0, i = 0;
	struct tok t;

	memset(h, 0, sizeof(*h));
	if (!pattern_has_specials(p, n))	/* taken as a plain string: no anchors */
		return;
	if (n > 0 && p[0] == '^') {
		for (i = 1; i < n && k < max; i += t.len) {
			pattern_next_tok(p, n, i, &t);
			if (t.err)
				break;
			if (pattern_tok_is_capture(&t))
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
		pattern_next_tok(p, n, i, &t);
		if (t.err)
			return;
		if (pattern_tok_is_capture(&t))
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

/*
 * The longest run of literal bytes that every subject p finds contains somewhere: items
 * that match one given byte once (a '+' item at least once: its byte, and a run through
 * it may go on only from its last repetition), with captures between them (they consume
 * nothing). Any other item breaks a run. The monitor checks it with memmem() before it
 * matches at all, and the hook before it asks (filter_hint's need).
 */
size_t pattern_required(const char *p, size_t n, char *out, size_t cap)
{
	size_t i = 0, r = 0, best = 0;
	struct tok t;

	if (cap == 0)
		return 0;
	if (!pattern_has_specials(p, n)) { /* a plain string: all of it */
		best = n < cap - 1 ? n : cap - 1;
		memcpy(out, p, best);
		out[best] = '\0';
		return best;
	}
	char run[256];
	if (cap > sizeof run)
		cap = sizeof run;
	out[0] = '\0';
	if (n > 0 && p[0] == '^')
		i = 1;
	for (;; i += t.len) {
		int lit = -1;
		if (i < n) {
			pattern_next_tok(p, n, i, &t);
			if (t.err) /* validated patterns only; else no run is sure */
				return out[0] = '\0', 0;
			if (pattern_tok_is_capture(&t))
				continue;
			if (t.kind == TK_ITEM && t.lit >= 0 && (!t.quant || t.quant == '+'))
				lit = t.lit;
		}
		if (lit >= 0 && r < cap - 1)
			run[r++] = (char)lit;
		if (lit < 0 || t.quant == '+') {
			if (r > best) {
				memcpy(out, run, r);
				out[r] = '\0';
				best = r;
			}
			r = 0;
			if (lit >= 0) /* after a+ the run goes on from its last a */
				run[r++] = (char)lit;
		}
		if (i >= n)
			return best;
	}
}

int pattern_hint_allows(const struct filter_hint *h, const char *path, size_t len)
{
	size_t pl = strlen(h->prefix), sl = strlen(h->suffix);

	if (pl && (len < pl || memcmp(path, h->prefix, pl) != 0))
		return 0;
	if (sl && (len < sl || memcmp(path + len - sl, h->suffix, sl) != 0))
		return 0;
	return 1;
}

/*
 * Next item of spec from *pos. A ';' inside a token (%;, [a;b], %b;x, %f[;]) does not
 * split: under a plain split those items would all be malformed, so this only accepts
 * more. A token Lua would refuse ends the item at the next ';' as a plain split would.
 */
size_t pattern_next_item(const char *s, size_t n, size_t *pos)
{
	size_t start = *pos, i = start;
	struct tok t;

	if (i < n && s[i] == '^')
		i++;
	while (i < n && s[i] != ';') {
		pattern_next_tok(s, n, i, &t);
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
void pattern_malformed(char *err, size_t errlen, const char *p, size_t n, const char *why)
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
