/*
 * tests/unit/test_filter_lua.c — filters/filter.c against the real lua5.4: patterns from
 * a small grammar (with faults slipped in) and paths, fixed seed; every verdict (match,
 * no match, the complaint Lua raises) must be Lua's own, and the hints must hold on
 * every match. Unit suite (runs lua5.4 once, as a subprocess).
 */
#include <check.h>
#include <errno.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "filter.h"
#include "suites.h"

extern char **environ;

/* xorshift64*: fixed seed, so every run sees the same pairs */
static uint64_t rng_state;

static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (unsigned)((rng_state * 2685821657736338717ULL) >> 33) % n;
}

static const char *pick(const char *const *v, size_t n)
{
	return v[rnd((unsigned)n)];
}

#define PICK(v) pick((v), sizeof(v) / sizeof((v)[0]))

/* Patterns from a small grammar, now and then with a fault slipped in. */
static void gen_pattern(char *out, size_t cap)
{
	static const char *const atoms[] = {
		"a", "o", "l", "u", "f", "t", "m", "p", "x", "/", "1", "y", ".", ".", "%.", "%a",
		"%d", "%s", "%w", "%/", "%-", "%(", "%)", "[a-z]", "[^/]", "[.]", "[%w_]", "[lu]",
		"[^%.]", "]",
	};
	static const char *const quants[] = { "*", "+", "-", "?" };
	static const char *const junk[] = {
		"$", "^", ")", "(", "[", "%", "*", "+", "?", "-", "[a", "%b(", "%f", "%9", "%0",
		"%2", "[^", "%b", ")(", "((", "%f[",
	};
	int depth = 0, closed = 0, items = 1 + (int)rnd(7);
	size_t k = 0;

#define PUT(s) do { \
		const char *s_ = (s); \
		size_t l_ = strlen(s_); \
		if (k + l_ < cap) { \
			memcpy(out + k, s_, l_); \
			k += l_; \
		} \
	} while (0)
	if (rnd(100) < 35)
		PUT("^");
	for (int i = 0; i < items; i++) {
		unsigned r = rnd(100);

		if (r < 60) {
			PUT(PICK(atoms));
			if (rnd(100) < 30)
				PUT(PICK(quants));
		} else if (r < 70) {
			PUT("(");
			depth++;
		} else if (r < 78 && depth > 0) {
			PUT(")");
			depth--;
			closed++;
		} else if (r < 81) {
			PUT("()");
			closed++;
		} else if (r < 85) {
			PUT("%b()");
		} else if (r < 89) {
			PUT(rnd(2) ? "%f[%w]" : "%f[/]");
		} else if (r < 92) {
			PUT(closed > 0 && rnd(3) ? "%1" : "%3");
		} else {
			PUT(PICK(junk));
		}
	}
	while (depth-- > 0 && rnd(100) < 85)
		PUT(")");
	if (rnd(100) < 35)
		PUT("$");
#undef PUT
	out[k] = '\0';
}

static void gen_path(char *out, size_t cap)
{
	static const char *const dirs[] = {
		"tmp", "x", "home", "usr", "lib", "a1", "b-c", "(y)", "%d", "lua", "f o",
	};
	static const char *const names[] = { "foo", "init", "bar", "a.b", "x1", "aa", "ll", "()", "" };
	static const char *const exts[] = { ".lua", ".py", ".txt", "", ".lua~", ".", "lua" };
	int depth = (int)rnd(3);
	size_t k = 0;

	out[0] = '\0';
	for (int i = 0; i < depth + 1; i++)
		k += (size_t)snprintf(out + k, cap - k, "/%s", PICK(dirs));
	snprintf(out + k, cap - k, "/%s%s", PICK(names), PICK(exts));
}

/* A pattern cut from a path: a literal head or tail, sometimes blurred a little. */
static void gen_pattern_from(const char *path, char *out, size_t cap)
{
	size_t n = strlen(path), from = 0, to = n, k = 0;
	int head = rnd(2);

	if (n > 0) {
		size_t cut = 1 + rnd((unsigned)n);

		if (head)
			to = cut;
		else
			from = n - cut;
	}
	if (head)
		out[k++] = '^';
	for (size_t i = from; i < to && k + 4 < cap; i++) {
		unsigned r = rnd(100);

		if (r < 6) {
			out[k++] = '.';
		} else if (strchr("^$*+?.()[]%-", path[i])) {
			out[k++] = '%';
			out[k++] = path[i];
		} else {
			out[k++] = path[i];
		}
		if (r >= 94)
			out[k++] = "*+-?"[r - 94 < 4 ? r - 94 : 0];
	}
	if (!head && k + 1 < cap)
		out[k++] = '$';
	out[k] = '\0';
}

static const char diff_script[] =
	"local f = assert(io.open(arg[1], 'rb'))\n"
	"local out = {}\n"
	"while true do\n"
	"  local p, s = f:read('l'), f:read('l')\n"
	"  if not p then break end\n"
	"  local ok, r = pcall(string.find, s, p)\n"
	"  out[#out + 1] = (not ok) and ('E' .. tostring(r)) or (r and 'M' or 'N')\n"
	"end\n"
	"io.write(table.concat(out, '\\n'), '\\n')\n";

static int write_temp(char *name, size_t cap, const char *data, size_t len)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(name, cap, "%s/forkmon-filter-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(name);
	if (fd < 0) {
		name[0] = '\0';
		return -1;
	}
	while (len > 0) {
		ssize_t w = write(fd, data, len);

		if (w <= 0) {
			close(fd);
			return -1;
		}
		data += w;
		len -= (size_t)w;
	}
	return close(fd);
}

/*
 * Runs lua5.4 on the script over the pairs and returns its stdout (malloc'd), or NULL
 * with why set. Both temp files are gone when this returns, whatever happened.
 */
static char *run_lua(const char *pairs, size_t len, const char **why)
{
	char script[4096], data[4096];
	char *buf = NULL;
	size_t used = 0, cap = 0;
	int pipefd[2] = { -1, -1 }, status = 0;
	pid_t pid = -1;
	posix_spawn_file_actions_t fa;

	*why = "temp files";
	script[0] = data[0] = '\0';
	if (write_temp(script, sizeof(script), diff_script, strlen(diff_script)) < 0 ||
	    write_temp(data, sizeof(data), pairs, len) < 0 || pipe(pipefd) < 0)
		goto out;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_addclose(&fa, pipefd[0]);
	posix_spawn_file_actions_addclose(&fa, pipefd[1]);
	{
		char *argv[] = { "lua5.4", "-E", script, data, NULL };

		if (posix_spawnp(&pid, "lua5.4", &fa, NULL, argv, environ) != 0) {
			pid = -1;
			*why = "cannot start lua5.4 (is it installed?)";
		}
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (pid < 0)
		goto out;
	for (;;) {
		ssize_t r;

		if (used + 4096 > cap) {
			char *nb = realloc(buf, cap = cap * 2 + 8192);

			if (!nb)
				break;
			buf = nb;
		}
		r = read(pipefd[0], buf + used, cap - used - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		used += (size_t)r;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (buf)
		buf[used] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		*why = "lua5.4 failed";
		free(buf);
		buf = NULL;
	}
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (script[0])
		unlink(script);
	if (data[0])
		unlink(data);
	return buf;
}

/* err is "malformed pattern '<pat>': <why>" */
static int is_complaint(const char *err, const char *pat, const char *why)
{
	static const char lead[] = "malformed pattern '";
	size_t ll = sizeof(lead) - 1, pl = strlen(pat);

	return strncmp(err, lead, ll) == 0 && strncmp(err + ll, pat, pl) == 0 &&
	       strncmp(err + ll + pl, "': ", 3) == 0 && strcmp(err + ll + pl + 3, why) == 0;
}

#define DIFF_PATTERNS 900
#define DIFF_PATHS 4

/* The generated cases, and how often each outcome occurred. */
static struct {
	char pats[DIFF_PATTERNS][96];
	char paths[DIFF_PATTERNS][DIFF_PATHS][96];
	char errs[DIFF_PATTERNS][256];
	int acc, match, raise, hinted, pairs;
} dc;

/* Generates the cases; returns the pattern/path pairs, one per line (malloc'd). */
static char *diff_generate(size_t *len)
{
	size_t cap = (size_t)DIFF_PATTERNS * DIFF_PATHS * 200;
	char *pairs = malloc(cap);

	ck_assert_ptr_nonnull(pairs);
	*len = 0;
	rng_state = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < DIFF_PATTERNS; i++) {
		for (int j = 0; j < DIFF_PATHS; j++)
			gen_path(dc.paths[i][j], sizeof(dc.paths[i][j]));
		if (rnd(100) < 25)
			gen_pattern_from(dc.paths[i][0], dc.pats[i], sizeof(dc.pats[i]));
		else
			gen_pattern(dc.pats[i], sizeof(dc.pats[i]));
		for (int j = 0; j < DIFF_PATHS; j++)
			*len += (size_t)snprintf(pairs + *len, cap - *len, "%s\n%s\n", dc.pats[i],
						 dc.paths[i][j]);
	}
	return pairs;
}

/* One pair: Lua's verdict (a line of run_lua's output) against the filter's. */
static void diff_check(int i, const char *path, const char *lua, struct filter *f,
		       const struct filter_hint *h)
{
	const char *pat = dc.pats[i];
	int accepted = f != NULL, mine = accepted ? filter_match(f, path) : -1;

	dc.pairs++;
	if (lua[0] == 'E' && strcmp(lua + 1, "pattern too complex") != 0) {
		dc.raise++;
		ck_assert_msg(!accepted, "'%s' accepted, Lua raised '%s' on '%s'", pat, lua + 1, path);
		/* the fault Lua reached first is the one we named, in Lua's words */
		ck_assert_msg(is_complaint(dc.errs[i], pat, lua + 1), "'%s': we say \"%s\", Lua \"%s\"",
			      pat, dc.errs[i], lua + 1);
	} else if (lua[0] == 'M') {
		dc.match++;
		ck_assert_msg(accepted, "'%s' refused (%s) but Lua matches '%s'", pat, dc.errs[i], path);
		ck_assert_msg(mine == 1, "'%s' on '%s': Lua matches, filter does not", pat, path);
		/* hints are necessary conditions */
		ck_assert_msg(strncmp(path, h->prefix, strlen(h->prefix)) == 0,
			      "'%s' matches '%s' but prefix hint is '%s'", pat, path, h->prefix);
		ck_assert_msg(strlen(path) >= strlen(h->suffix) &&
				      strcmp(path + strlen(path) - strlen(h->suffix), h->suffix) == 0,
			      "'%s' matches '%s' but suffix hint is '%s'", pat, path, h->suffix);
		ck_assert_msg(strstr(path, h->need) != NULL, "'%s' matches '%s' but need hint is '%s'", pat, path,
			      h->need);
		if (h->prefix[0] || h->suffix[0] || h->need[0])
			dc.hinted++;
	} else {
		ck_assert_msg(mine != 1, "'%s' on '%s': filter matches, Lua does not (%s)", pat, path, lua);
	}
}

/* Pattern i against its paths; returns where Lua's lines for the next pattern start. */
static char *diff_pattern(int i, char *line)
{
	struct filter *f = filter_new();
	struct filter_hint h;
	memset(&h, 0, sizeof h);
	int accepted = filter_add(f, dc.pats[i], dc.errs[i], sizeof(dc.errs[i])) == 0;

	ck_assert_msg(!accepted || filter_count(f) == 1, "'%s' split", dc.pats[i]);
	if (accepted) {
		filter_hint(f, 0, &h);
		dc.acc++;
	}
	for (int j = 0; j < DIFF_PATHS; j++) {
		char *nl = strchr(line, '\n');

		ck_assert_msg(nl != NULL, "lua5.4 output too short");
		*nl = '\0';
		diff_check(i, dc.paths[i][j], line, accepted ? f : NULL, &h);
		line = nl + 1;
	}
	filter_free(f);
	return line;
}

START_TEST(test_matches_real_lua_on_generated_patterns)
{
	size_t len;
	char *pairs = diff_generate(&len), *out, *line;
	const char *why = NULL;

	out = run_lua(pairs, len, &why);
	free(pairs);
	ck_assert_msg(out != NULL, "%s", why);
	line = out;
	for (int i = 0; i < DIFF_PATTERNS; i++)
		line = diff_pattern(i, line);
	ck_assert_str_eq(line, "");
	free(out);
	/* the run proves something only if all outcomes occur often enough */
	ck_assert_int_eq(dc.pairs, DIFF_PATTERNS * DIFF_PATHS);
	ck_assert_int_gt(dc.acc, DIFF_PATTERNS / 2);
	ck_assert_int_gt(dc.match, dc.pairs / 10);
	ck_assert_int_gt(dc.raise, 20);
	ck_assert_int_gt(dc.hinted, 50);
}
END_TEST

Suite *filter_lua_suite(void)
{
	Suite *s = suite_create("filter-lua");
	TCase *tc = tcase_create("against lua5.4");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_matches_real_lua_on_generated_patterns);
	suite_add_tcase(s, tc);
	return s;
}
