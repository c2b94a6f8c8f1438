/*
 * tests/fuzz/fuzz_filter.c — forkmon's filter (filters/: the validator, the hints, the
 * matcher) against lua5.4's own string.find, for fuzzed patterns and paths.
 *
 * A spec filter_add() accepts: for every path, filter_match() says what string.find says
 * for one of its items (a "pattern too complex" is a miss), and string.find raises
 * nothing else on it (the validator let no faulty pattern through). A spec it refuses:
 * one line, "malformed pattern '...': why", nothing added. The paths compared: the
 * input's, and for each item one made to match it (fuzz_lua_sample, the input's path
 * bytes as its choices).
 *
 * Input: the spec, a NUL, the path (no NUL: nothing to do).
 */
#include "filter.h"
#include "fuzz_lua.h"
#include "pattern.h"

/* filter_match(f, path) against string.find over spec's items. */
static void fuzz_filter_compare(struct filter *f, const char *spec, const char *path)
{
	size_t slen = strlen(spec), plen = strlen(path);
	int want = FUZZ_LUA_MISS;
	char msg[256];
	for (size_t pos = 0; pos < slen;) {
		const char *p = spec + pos;
		size_t len = pattern_next_item(spec, slen, &pos);
		if (len == 0)
			continue;
		if (pattern_has_specials(p, len) && fuzz_lua_costly(p, len, plen))
			return; /* forkmon would be asked to do the same work */
		int r = fuzz_lua_find(path, plen, p, len, msg, sizeof msg);
		if (r == FUZZ_LUA_RAISED)
			fprintf(stderr, "accepted '%.*s', but string.find raised: %s\n", (int)len, p, msg);
		FUZZ_CHECK(r != FUZZ_LUA_RAISED);
		if (r == FUZZ_LUA_HIT)
			want = FUZZ_LUA_HIT;
	}
	int got = filter_match(f, path);
	if (got != (want == FUZZ_LUA_HIT))
		fprintf(stderr, "spec '%s' path '%s': forkmon %d, string.find %d\n", spec, path, got, want);
	FUZZ_CHECK(got == (want == FUZZ_LUA_HIT));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nul = memchr(data, '\0', size);
	if (!nul || size > 4096)
		return 0;
	char *in = malloc(size + 1), sample[1024];
	FUZZ_CHECK(in != NULL);
	memcpy(in, data, size);
	in[size] = '\0';
	const char *spec = in, *path = in + (nul - (const char *)data) + 1;
	size_t slen = strlen(spec);
	struct filter *f = filter_new();
	FUZZ_CHECK(f != NULL);
	fuzz_lua_begin();
	char err[512];
	if (filter_add(f, spec, err, sizeof err) < 0) {
		FUZZ_CHECK(strncmp(err, "malformed pattern '", 19) == 0 && !strchr(err, '\n'));
		FUZZ_CHECK(filter_count(f) == 0);
		goto out;
	}
	fuzz_filter_compare(f, spec, path);
	int items = 0;
	for (size_t pos = 0; pos < slen;) {
		const char *p = spec + pos;
		size_t len = pattern_next_item(spec, slen, &pos);
		if (len == 0)
			continue;
		if (items++ < 4) {
			fuzz_lua_sample(p, len, (const uint8_t *)path, strlen(path), sample, sizeof sample);
			fuzz_filter_compare(f, spec, sample);
		}
	}
	FUZZ_CHECK(filter_count(f) == items);
out:
	fuzz_lua_end();
	filter_free(f);
	free(in);
	return 0;
}
