/*
 * tests/fuzz/fuzz_hints.c — the hints: what the hook (hook/candidate.c) rejects inside
 * the program without asking the monitor, from the literal prefixes, suffixes and
 * needed parts of the patterns (filters/pattern.c) the monitor sends with HELLO_OK. A rejection must never
 * lose a read the monitor would watch: whenever lua5.4's string.find finds one of the
 * patterns in the path the monitor would be told (the opened name, made absolute and
 * normal by path_join, a Python cache file taken for its source), the hook's name check
 * and hint check both let the open through. Opens of what can only be a directory are
 * rejected by design ("x/..", "x/").
 *
 * Input: the spec, a NUL, the directory opened from (made absolute), a NUL, the name
 * opened (the rest). An empty name: one made to match the spec's first item
 * (fuzz_lua_sample, the directory's bytes as its choices).
 */
#include "filter.h"
#include "hints.h"
#include "fuzz_lua.h"
#include "hook.h"
#include "path.h"
#include "pattern.h"

struct hook_state hk;

/* The hook's configuration from the filter, as monitor/monitor.c's mon_hints() makes it. */
static void fuzz_hints_config(struct filter *f)
{
	memset(&hk, 0, sizeof hk);
	hk.configured = 1;
	int n = hints_make(f, hk.cfg.hints, FM_MAX_HINTS);
	if (n < 0)
		hk.cfg.flags |= FM_CFG_ALL_CANDIDATES;
	else
		hk.cfg.nhints = (uint32_t)n;
	candidate_configure(); /* as look_configure() does on HELLO_OK */
}

/* Does some item of spec find abs, as the monitor's filter would (string.find)? -1:
 * not known (too costly to ask). */
static int fuzz_hints_monitor_wants(const char *spec, const char *abs, size_t n)
{
	size_t slen = strlen(spec);
	char msg[256];
	for (size_t pos = 0; pos < slen;) {
		const char *p = spec + pos;
		size_t len = pattern_next_item(spec, slen, &pos);
		if (len == 0)
			continue;
		if (pattern_has_specials(p, len) && fuzz_lua_costly(p, len, n))
			return -1;
		if (fuzz_lua_find(abs, n, p, len, msg, sizeof msg) == FUZZ_LUA_HIT)
			return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *in = malloc(size + 2);
	FUZZ_CHECK(in != NULL);
	memcpy(in, data, size);
	in[size] = in[size + 1] = '\0';
	char *spec = in, *dir = spec + strlen(spec) + 1;
	if (dir > in + size) {
		free(in);
		return 0;
	}
	char *rel = dir + strlen(dir) + 1, sample[1024];
	if (rel > in + size)
		rel = in + size + 1; /* "" */
	if (!*rel) {
		size_t slen = strlen(spec), pos = 0;
		size_t len = pattern_next_item(spec, slen, &pos);
		fuzz_lua_sample(spec, len, (const uint8_t *)dir, strlen(dir), sample, sizeof sample);
		rel = sample;
	}
	struct filter *f = filter_new();
	FUZZ_CHECK(f != NULL);
	char err[512], base[FM_PATH_MAX], abs[FM_PATH_MAX];
	int n;
	if (filter_add(f, spec, err, sizeof err) < 0 || filter_count(f) == 0 ||
	    path_join("/", dir, base, sizeof base) < 0 || (n = path_join(base, rel, abs, sizeof abs)) <= 0) {
		filter_free(f);
		free(in);
		return 0;
	}
	fuzz_hints_config(f);
	/* the hook's order: the name alone, then the absolute path (a .pyc: its source) */
	int rejected = candidate_name_rejected(rel);
	n = candidate_pyc_source(abs, n);
	FUZZ_CHECK(n > 0 && (size_t)n == strlen(abs));
	int allowed = candidate_hints_allow(abs, (size_t)n);
	fuzz_lua_begin();
	int wants = fuzz_hints_monitor_wants(spec, abs, (size_t)n);
	fuzz_lua_end();
	if (wants == 1 && !path_is_dirlike(rel)) {
		if (rejected || !allowed)
			fprintf(stderr, "spec '%s' open '%s' in '%s' (%s): the hook %s it\n", spec, rel, base, abs,
				rejected ? "rejected the name of" : "hinted away");
		FUZZ_CHECK(!rejected && allowed);
	}
	/* the monitor's own shortcut: its hints never say no to what its Lua says yes to */
	if (wants == 1)
		FUZZ_CHECK(filter_match(f, abs) == 1);
	filter_free(f);
	free(in);
	return 0;
}
