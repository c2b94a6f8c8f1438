/*
 * filters/pattern.h — Lua patterns as text, without Lua: the tokeniser, the validator
 * and the hints (private to filters/; filter.h is the contract). Runs in the monitor;
 * called by filter.c.
 */
#ifndef FORKMON_PATTERN_H
#define FORKMON_PATTERN_H

#include "filter.h"

#include <stddef.h>

/* lstrlib.c's magic characters and capture limit (LUA_MAXCAPTURES). */
#define PAT_SPECIALS "^$*+?.([%-"
#define PAT_MAXCAPTURES 32
#define COMPLAINT_MAX 200

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

/* Whether p has a magic character (else Lua takes it as a plain string). */
int pattern_has_specials(const char *p, size_t n);
/* The token at p[i] (i < n), split exactly where lstrlib's match() would. */
void pattern_next_tok(const char *p, size_t n, size_t i, struct tok *t);
/* The first fault Lua could raise on some subject, or NULL; *at: where. */
const char *pattern_fault(const char *p, size_t n, size_t *at, char *buf, size_t buflen);
/* The literal prefix and suffix every path matching p has. */
void pattern_hint(const char *p, size_t n, struct filter_hint *h);
int pattern_hint_allows(const struct filter_hint *h, const char *path, size_t len);
/* The longest literal every subject p finds contains (at most cap - 1 bytes of it, in
 * out, NUL-ended): its length, 0 when none is sure. */
size_t pattern_required(const char *p, size_t n, char *out, size_t cap);
/* The next ';'-separated item of spec from *pos: its length (it starts at the old *pos). */
size_t pattern_next_item(const char *s, size_t n, size_t *pos);
/* err = "malformed pattern '<p>': <why>", on one line. */
void pattern_malformed(char *err, size_t errlen, const char *p, size_t n, const char *why);

#endif
