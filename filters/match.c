/*
 * filters/match.c — Lua 5.4 pattern matching with a step budget (see match.h). Runs in
 * the monitor and the helper, called by filter.c; tests/unit and the fuzzers hold it to
 * lua5.4's own string.find.
 *
 * The semantics, as Lua's manual and lstrlib define them: items are tried left to right
 * with backtracking; '*' and '+' take the longest run first, '-' the shortest; '?' tries
 * one then none; captures only record where they start and end; a back-reference must
 * equal its capture; a faulty item is a fault only when matching reaches it. Past the
 * end of either text the byte seen is 0, as Lua's own NUL-terminated strings give.
 * Giving up (budget, nesting, fault) unwinds with longjmp: nothing here allocates.
 */
#include "match.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#define MATCH_MAXDEPTH 200	/* lstrlib's MAXCCALLS: nested attempts before "too complex" */
#define MATCH_MAXCAPS 32	/* LUA_MAXCAPTURES */
#define CAP_OPEN (-1)		/* capture started, not closed */
#define CAP_POS (-2)		/* position capture "()" */

struct mstate {
	const unsigned char *s0, *se;	/* subject [s0, se) */
	const unsigned char *p0, *pe;	/* pattern [p0, pe) */
	int level, depth;
	unsigned long steps, budget;
	jmp_buf out;
	struct {
		const unsigned char *at;
		ptrdiff_t len;	/* CAP_OPEN, CAP_POS or the length */
	} cap[MATCH_MAXCAPS];
};

static const unsigned char *match_here(struct mstate *m, const unsigned char *s, const unsigned char *p);

static void match_step(struct mstate *m)
{
	if (++m->steps > m->budget)
		longjmp(m->out, MATCH_COSTLY);
}

static __attribute__((noreturn)) void match_fault(struct mstate *m)
{
	longjmp(m->out, MATCH_ERROR);
}

/* The pattern byte at p, 0 at or past its end (Lua reads its terminator there). */
static int match_pat(const struct mstate *m, const unsigned char *p)
{
	return p < m->pe ? *p : 0;
}

/* The subject byte at s, 0 at its end. */
static int match_sub(const struct mstate *m, const unsigned char *s)
{
	return s < m->se ? *s : 0;
}

/* %a, %d, ...: c in the class named by letter cl (upper case: its complement); any
 * other cl stands for itself. The C library's ctype, as Lua uses it. */
static int match_class(int c, int cl)
{
	int in;

	switch (tolower(cl)) {
	case 'a': in = isalpha(c); break;
	case 'c': in = iscntrl(c); break;
	case 'd': in = isdigit(c); break;
	case 'g': in = isgraph(c); break;
	case 'l': in = islower(c); break;
	case 'p': in = ispunct(c); break;
	case 's': in = isspace(c); break;
	case 'u': in = isupper(c); break;
	case 'w': in = isalnum(c); break;
	case 'x': in = isxdigit(c); break;
	case 'z': in = c == 0; break;	/* deprecated in the manual, still in 5.4's lstrlib */
	default: return cl == c;
	}
	in = in != 0;
	return isupper(cl) ? !in : in;
}

/* c in the set [ ... ] that opens at p and closes at the ']' at last. */
static int match_set(const struct mstate *m, int c, const unsigned char *p, const unsigned char *last)
{
	int yes = 1;

	if (match_pat(m, p + 1) == '^') {
		yes = 0;
		p++;
	}
	while (++p < last) {
		if (*p == '%') {
			p++;
			if (match_class(c, match_pat(m, p)))
				return yes;
		} else if (match_pat(m, p + 1) == '-' && p + 2 < last) {
			if (p[0] <= c && c <= p[2])
				return yes;
			p += 2;
		} else if (*p == c) {
			return yes;
		}
	}
	return !yes;
}

/* Where the single-byte class at p ends (a byte, %x, [set]); a fault if it does not. */
static const unsigned char *match_class_end(struct mstate *m, const unsigned char *p)
{
	int c = *p++;

	if (c == '%') {
		if (p >= m->pe)
			match_fault(m);	/* "malformed pattern (ends with '%')" */
		return p + 1;
	}
	if (c != '[')
		return p;
	if (match_pat(m, p) == '^')
		p++;
	do {	/* the first byte is in the set even when it is ']' */
		if (p >= m->pe)
			match_fault(m);	/* "malformed pattern (missing ']')" */
		if (*p++ == '%' && p < m->pe)
			p++;
	} while (match_pat(m, p) != ']');
	return p + 1;
}

/* Whether the subject byte at s is in the class [p, ep). */
static int match_one(const struct mstate *m, const unsigned char *s, const unsigned char *p,
		     const unsigned char *ep)
{
	if (s >= m->se)
		return 0;
	switch (*p) {
	case '.': return 1;
	case '%': return match_class(*s, match_pat(m, p + 1));
	case '[': return match_set(m, *s, p, ep - 1);
	default: return *p == *s;
	}
}

/* x* and x+ (after its first): the longest run of x that lets the rest match. */
static const unsigned char *match_longest(struct mstate *m, const unsigned char *s, const unsigned char *p,
					  const unsigned char *ep)
{
	ptrdiff_t n = 0;

	while (match_one(m, s + n, p, ep)) {
		match_step(m);
		n++;
	}
	for (; n >= 0; n--) {
		const unsigned char *r = match_here(m, s + n, ep + 1);

		if (r)
			return r;
	}
	return NULL;
}

/* x-: the shortest run of x that lets the rest match. */
static const unsigned char *match_shortest(struct mstate *m, const unsigned char *s, const unsigned char *p,
					   const unsigned char *ep)
{
	for (;;) {
		const unsigned char *r = match_here(m, s, ep + 1);

		if (r)
			return r;
		if (!match_one(m, s, p, ep))
			return NULL;
		match_step(m);
		s++;
	}
}

/* %bxy at p (p: the x): from an x to its balancing y. */
static const unsigned char *match_balance(struct mstate *m, const unsigned char *s, const unsigned char *p)
{
	int open, close, depth = 1;

	if (p + 1 >= m->pe)
		match_fault(m);	/* "missing arguments to '%b'" */
	open = p[0];
	close = p[1];
	if (match_sub(m, s) != open)
		return NULL;
	while (++s < m->se) {
		match_step(m);
		if (*s == close) {
			if (--depth == 0)
				return s + 1;
		} else if (*s == open) {
			depth++;
		}
	}
	return NULL;
}

/* %N: the text of capture N again. */
static const unsigned char *match_backref(struct mstate *m, const unsigned char *s, int digit)
{
	int l = digit - '1';
	size_t len;

	if (l < 0 || l >= m->level || m->cap[l].len == CAP_OPEN)
		match_fault(m);	/* "invalid capture index" */
	len = (size_t)m->cap[l].len;	/* a position capture: huge, never fits */
	if ((size_t)(m->se - s) >= len && memcmp(m->cap[l].at, s, len) == 0)
		return s + len;
	return NULL;
}

static const unsigned char *match_open(struct mstate *m, const unsigned char *s, const unsigned char *p,
				       ptrdiff_t what)
{
	const unsigned char *r;

	if (m->level >= MATCH_MAXCAPS)
		match_fault(m);	/* "too many captures" */
	m->cap[m->level].at = s;
	m->cap[m->level].len = what;
	m->level++;
	if (!(r = match_here(m, s, p)))
		m->level--;
	return r;
}

static const unsigned char *match_close(struct mstate *m, const unsigned char *s, const unsigned char *p)
{
	const unsigned char *r;
	int l = m->level - 1;

	while (l >= 0 && m->cap[l].len != CAP_OPEN)
		l--;
	if (l < 0)
		match_fault(m);	/* "invalid pattern capture" */
	m->cap[l].len = s - m->cap[l].at;
	if (!(r = match_here(m, s, p)))
		m->cap[l].len = CAP_OPEN;
	return r;
}

/* %f[set]: between a byte not in set and one in it (the text's ends count as 0). */
static const unsigned char *match_frontier(struct mstate *m, const unsigned char *s, const unsigned char **pp)
{
	const unsigned char *p = *pp + 2, *ep;
	int before;

	if (match_pat(m, p) != '[')
		match_fault(m);	/* "missing '[' after '%f' in pattern" */
	ep = match_class_end(m, p);
	before = s == m->s0 ? 0 : s[-1];
	if (match_set(m, before, p, ep - 1) || !match_set(m, match_sub(m, s), p, ep - 1))
		return NULL;
	*pp = ep;
	return s;
}

/* A single-byte class and its quantifier, at p. Returns the end of the match, or NULL;
 * *next: where matching goes on with the subject at the returned point (NULL: done). */
static const unsigned char *match_item(struct mstate *m, const unsigned char *s, const unsigned char *p,
				       const unsigned char **next)
{
	const unsigned char *ep = match_class_end(m, p), *r;
	int q = match_pat(m, ep);

	*next = NULL;
	if (!match_one(m, s, p, ep)) {
		if (q == '*' || q == '?' || q == '-')
			*next = ep + 1;	/* none of x: fine */
		return q == '*' || q == '?' || q == '-' ? s : NULL;
	}
	switch (q) {
	case '?':
		if ((r = match_here(m, s + 1, ep + 1)))
			return r;
		*next = ep + 1;
		return s;
	case '+': return match_longest(m, s + 1, p, ep);
	case '*': return match_longest(m, s, p, ep);
	case '-': return match_shortest(m, s, p, ep);
	default:
		*next = ep;
		return s + 1;
	}
}

/* Matches the pattern from p against the subject from s: the match's end, or NULL. */
static const unsigned char *match_here(struct mstate *m, const unsigned char *s, const unsigned char *p)
{
	const unsigned char *next;

	if (++m->depth > MATCH_MAXDEPTH)
		match_fault(m);	/* "pattern too complex" */
	while (s && p < m->pe) {
		match_step(m);
		switch (*p) {
		case '(':
			s = match_pat(m, p + 1) == ')' ? match_open(m, s, p + 2, CAP_POS)
						       : match_open(m, s, p + 1, CAP_OPEN);
			goto done;
		case ')':
			s = match_close(m, s, p + 1);
			goto done;
		case '$':
			if (p + 1 == m->pe) {
				s = s == m->se ? s : NULL;
				goto done;
			}
			break;
		case '%':
			switch (match_pat(m, p + 1)) {
			case 'b':
				if ((s = match_balance(m, s, p + 2)))
					p += 4;
				continue;
			case 'f':
				s = match_frontier(m, s, &p);
				continue;
			case '0': case '1': case '2': case '3': case '4':
			case '5': case '6': case '7': case '8': case '9':
				if ((s = match_backref(m, s, p[1])))
					p += 2;
				continue;
			}
			break;
		}
		s = match_item(m, s, p, &next);
		if (!next)
			goto done;
		p = next;
	}
done:
	m->depth--;
	return s;
}

/* A pattern without magic bytes is a plain substring (string.find's shortcut). */
static int match_is_plain(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] && strchr("^$*+?.([%-", p[i]))
			return 0;
	return 1;
}

static int match_plain(const char *p, size_t pn, const char *s, size_t sn)
{
	return pn == 0 || memmem(s, sn, p, pn) != NULL;
}

/* Tries each start in turn (only the first when anchored); the budget spans them all. */
static int match_starts(struct mstate *m, int anchored)
{
	const unsigned char *s = m->s0;

	do {
		m->level = 0;
		m->depth = 0;
		match_step(m);
		if (match_here(m, s, m->p0)) {
			for (int l = 0; l < m->level; l++)
				if (m->cap[l].len == CAP_OPEN)
					return MATCH_ERROR;	/* "unfinished capture" */
			return MATCH_YES;
		}
	} while (s++ < m->se && !anchored);
	return MATCH_NO;
}

/* setjmp here, not in match_find: m is then not an automatic object of the function
 * that called setjmp, so its fields are well defined after a longjmp. */
static int match_run(struct mstate *m, int anchored)
{
	int rc = setjmp(m->out);

	return rc ? rc : match_starts(m, anchored);
}

int match_find(const char *p, size_t pn, const char *s, size_t sn, unsigned long budget,
	       unsigned long *steps)
{
	struct mstate m;
	int anchored, rc;

	if (steps)
		*steps = 0;
	if (match_is_plain(p, pn))
		return match_plain(p, pn, s, sn);
	anchored = pn > 0 && p[0] == '^';
	memset(&m, 0, sizeof m);
	m.s0 = (const unsigned char *)s;
	m.se = m.s0 + sn;
	m.p0 = (const unsigned char *)p + anchored;
	m.pe = (const unsigned char *)p + pn;
	m.budget = budget;
	rc = match_run(&m, anchored);
	if (steps)
		*steps = m.steps;
	return rc;
}
