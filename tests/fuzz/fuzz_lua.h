/*
 * tests/fuzz/fuzz_lua.h — the oracle of the pattern targets (fuzz_filter, fuzz_hints):
 * lua5.4's own string.find in a Lua state of the target's, apart from forkmon's.
 *
 * Matching may cost exponential time in the pattern's quantifiers ('a-a-a-a-b'); the
 * filter will stop at an instruction budget (issue 13 item 3) and say no. The targets do
 * not compare what may exceed a budget: fuzz_lua_costly() estimates the cost from above
 * ((path length + 1) to the power of quantifiers + 1) and they skip such inputs.
 */
#ifndef FORKMON_FUZZ_LUA_H
#define FORKMON_FUZZ_LUA_H

#include "fuzz.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <string.h>

/* Above this many steps (estimated), no comparison. */
#define FUZZ_LUA_BUDGET 1e5

enum { FUZZ_LUA_MISS, FUZZ_LUA_HIT, FUZZ_LUA_TOO_COMPLEX, FUZZ_LUA_RAISED };

/* One state per input, closed after it: what an input allocates it frees (libFuzzer
 * runs LeakSanitizer after any input that does not, which is slow). */
static lua_State *fuzz_lua_L;

static inline void fuzz_lua_begin(void)
{
	fuzz_lua_L = luaL_newstate();
	FUZZ_CHECK(fuzz_lua_L != NULL);
	luaL_requiref(fuzz_lua_L, LUA_STRLIBNAME, luaopen_string, 0);
	lua_getfield(fuzz_lua_L, -1, "find");
	lua_setglobal(fuzz_lua_L, "find");
	lua_settop(fuzz_lua_L, 0);
}

static inline void fuzz_lua_end(void)
{
	lua_close(fuzz_lua_L);
	fuzz_lua_L = NULL;
}

/* string.find(path, pat): hit, miss, or what it raised (msg: its words). */
static inline int fuzz_lua_find(const char *path, size_t plen, const char *pat, size_t len, char *msg,
				size_t msglen)
{
	lua_State *L = fuzz_lua_L;
	lua_getglobal(L, "find");
	lua_pushlstring(L, path, plen);
	lua_pushlstring(L, pat, len);
	int r;
	if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
		const char *m = lua_tostring(L, -1);
		snprintf(msg, msglen, "%s", m ? m : "?");
		r = m && strstr(m, "pattern too complex") ? FUZZ_LUA_TOO_COMPLEX : FUZZ_LUA_RAISED;
	} else {
		r = lua_isnil(L, -1) ? FUZZ_LUA_MISS : FUZZ_LUA_HIT;
	}
	lua_settop(L, 0);
	return r;
}

/* May matching pat on a subject of plen bytes exceed a budget? */
static inline int fuzz_lua_costly(const char *pat, size_t len, size_t plen)
{
	double cost = (double)plen + 1;
	for (size_t i = 0; i < len; i++)
		if (strchr("*+-?", pat[i]) || (pat[i] == '%' && i + 1 < len && (pat[i + 1] == 'b' || pat[i + 1] == 'f')))
			cost *= (double)plen + 1;
	return cost > FUZZ_LUA_BUDGET;
}

/*
 * A subject likely to match pat (a random one rarely does, and a filter's shortcuts only
 * matter for those that do): its literals in order, a quantified item repeated as the
 * choices say (so many bytes, cycled), '.' and classes as a byte they take. Anchors,
 * captures and what it does not know are left out. Returns the length written.
 */
static inline size_t fuzz_lua_sample(const char *pat, size_t len, const uint8_t *ch, size_t nch, char *out,
				     size_t cap)
{
	static const char cls[] = "adlpsuwx";
	static const char cls_byte[] = "a0a.\tAa0";
	size_t k = 0, c = 0, i = (len && pat[0] == '^') ? 1 : 0;
	while (i < len && k + 4 < cap) {
		char b;
		size_t step = 1;
		if (pat[i] == '(' || pat[i] == ')' || (pat[i] == '$' && i + 1 == len)) {
			i++;
			continue;
		}
		if (pat[i] == '%' && i + 1 < len) {
			const char *x = strchr(cls, pat[i + 1]);
			b = x ? cls_byte[x - cls] : pat[i + 1];
			if (b == '\\')
				b = ' ';
			step = 2;
		} else if (pat[i] == '[') {
			size_t j = i + 1 + (i + 1 < len && pat[i + 1] == '^');
			b = j < len && pat[j] != '%' ? pat[j] : 'a';
			if (pat[i + 1] == '^')
				b = b == 'a' ? 'b' : 'a';
			while (j < len && pat[j] != ']')
				j++;
			step = j + 1 - i;
		} else {
			b = pat[i] == '.' ? 'a' : pat[i];
		}
		i += step;
		int lo = 1, hi = 1;
		if (i < len && strchr("*+-?", pat[i])) {
			lo = pat[i] == '+' ? 1 : 0;
			hi = pat[i] == '?' ? 1 : 3;
			i++;
		}
		int n = lo + (nch ? ch[c++ % nch] % (hi - lo + 1) : 0);
		for (int r = 0; r < n && k + 1 < cap; r++)
			out[k++] = b;
	}
	out[k] = '\0';
	return k;
}

#endif
