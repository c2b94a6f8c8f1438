/*
 * tests/unit/test_filter_budget.c — the bounded matcher (filters/match.h) and how
 * filters use it: a pattern with an exponential cost gives up at the budget, quickly,
 * is said once and counts as not matching (as matching for an ignore filter); ordinary
 * patterns on 4096-byte paths stay well below the budget; and every verdict on every
 * item lstrlib knows (%b, %f, back-references, position captures, faults, the nesting
 * limit) is lua5.4's own. Unit suite (runs lua5.4 once, as a subprocess).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "filter.h"
#include "match.h"
#include "suites.h"

extern char **environ;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A path of exactly len bytes: "/" then unit repeated. */
static char *path_of(const char *unit, size_t len)
{
	char *p = malloc(len + 1);
	size_t u = strlen(unit);

	ck_assert_ptr_nonnull(p);
	p[0] = '/';
	for (size_t i = 1; i < len; i++)
		p[i] = unit[(i - 1) % u];
	p[len] = '\0';
	return p;
}

/* ------------------------------------------------------------- the budget */

START_TEST(test_exponential_pattern_gives_up_at_the_budget_quickly)
{
	char *s = path_of("a", 41); /* "/" and 40 'a's: ~4.6e9 steps in full, ~20 s in Lua */
	unsigned long steps;
	double t0 = now_s();
	int rc = match_find("a-a-a-a-a-a-a-a-b", 17, s, strlen(s), MATCH_BUDGET, &steps);
	double took = now_s() - t0;

	ck_assert_int_eq(rc, MATCH_COSTLY);
	ck_assert_uint_eq(steps, MATCH_BUDGET + 1);
	/* ~0.3 s on this machine; generous for sanitizers and a loaded host */
	ck_assert_msg(took < 10.0, "gave up after %.2f s", took);
	/* the same pattern where it is cheap still matches, or not, as Lua says */
	ck_assert_int_eq(match_find("a-a-a-a-a-a-a-a-b", 17, "/aab", 4, MATCH_BUDGET, NULL), MATCH_YES);
	ck_assert_int_eq(match_find("a-a-a-a-a-a-a-a-b", 17, "/aaa", 4, MATCH_BUDGET, NULL), MATCH_NO);
	free(s);
}
END_TEST

static int said;
static char said_line[4096];

static void say(const char *line)
{
	said++;
	snprintf(said_line, sizeof said_line, "%s", line);
}

START_TEST(test_costly_pattern_is_said_once_and_counts_as_not_matching)
{
	struct filter *f = filter_new();
	char err[256], *a40 = path_of("a", 41), *a41 = path_of("a", 42);

	ck_assert_int_eq(filter_add(f, "a-a-a-a-a-a-a-a-%d;%.txt$", err, sizeof err), 0);
	filter_set_budget(f, 1000000);
	said = 0;
	filter_on_costly(f, 0, "pattern", say);
	ck_assert_int_eq(filter_match(f, a40), 0);
	ck_assert_int_eq(filter_match(f, a41), 0);
	ck_assert_int_eq(filter_match(f, a40), 0);
	ck_assert_int_eq(said, 1);
	ck_assert_str_eq(said_line, "pattern 'a-a-a-a-a-a-a-a-%d' took too long on '/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'"
				    " (over 1000000 steps); treated as not matching");
	/* the other patterns still decide, and so does this one where it is cheap */
	ck_assert_int_eq(filter_match(f, "/x/notes.txt"), 1);
	ck_assert_int_eq(filter_match(f, "/x/a1"), 1);
	ck_assert_int_eq(said, 1);
	filter_free(f);
	free(a40);
	free(a41);
}
END_TEST

START_TEST(test_costly_ignore_pattern_counts_as_matching)
{
	struct filter *f = filter_new();
	char err[256], *a40 = path_of("a", 41);

	ck_assert_int_eq(filter_add(f, "a-a-a-a-a-a-a-a-%d", err, sizeof err), 0);
	filter_set_budget(f, 1000000);
	said = 0;
	filter_on_costly(f, 1, "ignore pattern", say);
	ck_assert_int_eq(filter_match(f, a40), 1); /* ignored: the file is not watched */
	ck_assert_int_eq(filter_match(f, "/x/y"), 0);
	ck_assert_int_eq(said, 1);
	ck_assert_msg(strncmp(said_line, "ignore pattern 'a-a-a-a-a-a-a-a-%d' took too long on '/aaa", 58) == 0 &&
			      strstr(said_line, "; treated as matching"),
		      "%s", said_line);
	filter_free(f);
	free(a40);
}
END_TEST

/* Without filter_on_costly: not matching, nobody told; control bytes shown escaped. */
START_TEST(test_costly_line_is_one_line)
{
	struct filter *f = filter_new();
	char err[256], *p = path_of("a", 41);

	ck_assert_int_eq(filter_add(f, "a-a-a-a-a-a-a-a-%d", err, sizeof err), 0);
	filter_set_budget(f, 10000);
	ck_assert_int_eq(filter_match(f, p), 0);
	said = 0;
	filter_on_costly(f, 0, "pattern", say);
	p[5] = '\n';
	ck_assert_int_eq(filter_match(f, p), 0);
	ck_assert_int_eq(said, 0); /* already given up on once: said (to nobody) once */
	filter_free(f);

	f = filter_new();
	ck_assert_int_eq(filter_add(f, "a-a-a-a-a-a-a-a-%d", err, sizeof err), 0);
	filter_set_budget(f, 10000);
	filter_on_costly(f, 0, "pattern", say);
	ck_assert_int_eq(filter_match(f, p), 0);
	ck_assert_int_eq(said, 1);
	ck_assert_ptr_null(strchr(said_line, '\n'));
	ck_assert_ptr_nonnull(strstr(said_line, "'/aaaa\\x0aaaa"));
	filter_free(f);
	free(p);
}
END_TEST

/* The figures behind MATCH_BUDGET: ordinary patterns on 4096-byte paths. */
START_TEST(test_ordinary_patterns_on_4096_byte_paths_stay_well_below_the_budget)
{
	static const char *const pats[] = {
		"%.lua$", ".*%.lua$", ".-%.lua$", "^/home/.*/src/.*%.c$", "[^/]*%.py$", "%f[%w]test",
		"/src/", "^/tmp/", "%.[ch]$", "/%.git/", "(.-)%.lua$", "^(.*)/([^/]*)$", "%d%d%d%d",
		"[%w_]+%.txt$", "^.*/.*%.c$", "%b()",
	};
	static const char *const units[] = { "abcdefghijklmnopqrs/", "a", "/", "src/x.c/" };
	unsigned long worst = 0;
	char worst_what[128] = "";

	for (size_t u = 0; u < sizeof units / sizeof *units; u++) {
		char *s = path_of(units[u], 4096);

		for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
			unsigned long steps;
			int rc = match_find(pats[i], strlen(pats[i]), s, 4096, MATCH_BUDGET, &steps);

			ck_assert_msg(rc >= 0, "'%s' on %s...: %d after %lu steps", pats[i], units[u], rc, steps);
			if (steps > worst) {
				worst = steps;
				snprintf(worst_what, sizeof worst_what, "'%s' on \"%s\"...", pats[i], units[u]);
			}
		}
		free(s);
	}
	if (getenv("FORKMON_FIGURES")) /* FORKMON_FIGURES=1 CK_RUN_SUITE=filter_budget ... */
		fprintf(stderr, "filter_budget: worst ordinary pattern on 4096 bytes: %lu steps (%s); budget %lu\n",
			worst, worst_what, MATCH_BUDGET);
	ck_assert_msg(worst < MATCH_BUDGET / 3, "%lu steps (%s)", worst, worst_what);
}
END_TEST

/* ------------------------------------------------------------- against lua5.4 */

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static unsigned rnd(unsigned n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (unsigned)((rng * 2685821657736338717ULL) >> 33) % n;
}

/* Every kind of item, faulty ones too: Lua faults only on what it reaches. */
static void gen_pattern(char *out, size_t cap)
{
	static const char *const items[] = {
		"a", "b", "x", "/", ".", "%a", "%d", "%W", "%.", "[ab]", "[^a]", "[a-c]", "[%a/]", "[]]",
		"[^]]", "%b()", "%bab", "%f[%w]", "%f[^a]", "%f[%z]", "(", ")", "()", "%1", "%2", "$",
		"%", "[a", "%b", "%f", "%fa", "%0", "(a)", "(.-)", "%s", "[a-]", "[-a]",
	};
	static const char *const quants[] = { "*", "+", "-", "?" };
	size_t k = 0;
	int n = 1 + (int)rnd(6);

	if (rnd(4) == 0)
		out[k++] = '^';
	for (int i = 0; i < n; i++) {
		const char *it = items[rnd(sizeof items / sizeof *items)];
		size_t l = strlen(it);

		if (k + l + 2 >= cap)
			break;
		memcpy(out + k, it, l);
		k += l;
		if (l <= 4 && it[0] != '(' && it[0] != ')' && rnd(3) == 0)
			out[k++] = *quants[rnd(4)];
	}
	if (rnd(5) == 0 && k + 1 < cap)
		out[k++] = '$';
	out[k] = '\0';
}

static void gen_subject(char *out, size_t cap)
{
	static const char alphabet[] = "aabbx/(.)1 ";
	size_t n = rnd(14);

	for (size_t i = 0; i < n && i + 1 < cap; i++)
		out[i] = alphabet[rnd(sizeof alphabet - 1)];
	out[n < cap ? n : cap - 1] = '\0';
}

static const char lua_script[] =
	"local f = assert(io.open(arg[1], 'rb'))\n"
	"local out = {}\n"
	"while true do\n"
	"  local p, s = f:read('l'), f:read('l')\n"
	"  if not p then break end\n"
	"  local ok, r = pcall(string.find, s, p)\n"
	"  out[#out + 1] = (not ok) and 'E' or (r and 'M' or 'N')\n"
	"end\n"
	"io.write(table.concat(out))\n";

/* lua5.4 on the pairs file: one letter per pair (malloc'd). */
static char *lua_verdicts(const char *pairs_file, size_t expect)
{
	char *buf = malloc(expect + 2), script[] = "/tmp/forkmon-budget-lua-XXXXXX";
	int pfd[2], status = 0, sfd = mkstemp(script);
	size_t used = 0;
	pid_t pid;
	posix_spawn_file_actions_t fa;
	char *argv[] = { "lua5.4", script, (char *)pairs_file, NULL };

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_ge(sfd, 0);
	ck_assert_int_eq(write(sfd, lua_script, sizeof lua_script - 1), (ssize_t)(sizeof lua_script - 1));
	close(sfd);
	ck_assert_int_eq(pipe(pfd), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addclose(&fa, pfd[0]);
	posix_spawn_file_actions_addclose(&fa, pfd[1]);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	ck_assert_msg(posix_spawnp(&pid, "lua5.4", &fa, NULL, argv, environ) == 0, "cannot start lua5.4");
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	for (;;) {
		ssize_t r = read(pfd[0], buf + used, expect + 1 - used);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		used += (size_t)r;
		if (used > expect)
			break;
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	unlink(script);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "lua5.4 failed: 0x%x", status);
	buf[used] = '\0';
	return buf;
}

#define NPAIRS 6000
#define DEEP 4	/* pairs at the nesting limit: a? 198..201 times */

static char pats[NPAIRS + DEEP][64 + 420];
static char subs[NPAIRS + DEEP][420];

START_TEST(test_every_verdict_is_lua_s_own)
{
	char file[] = "/tmp/forkmon-budget-XXXXXX";
	int fd = mkstemp(file), n[3] = { 0 };
	FILE *fp;
	char *lua;

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(fp = fdopen(fd, "w"));
	for (int i = 0; i < NPAIRS; i++) {
		gen_pattern(pats[i], sizeof pats[i]);
		gen_subject(subs[i], sizeof subs[i]);
	}
	for (int d = 0; d < DEEP; d++) {
		int k = 198 + d;

		for (int j = 0; j < k; j++)
			memcpy(pats[NPAIRS + d] + 2 * j, "a?", 2);
		pats[NPAIRS + d][2 * k] = '\0';
		memset(subs[NPAIRS + d], 'a', (size_t)k);
		subs[NPAIRS + d][k] = '\0';
	}
	for (int i = 0; i < NPAIRS + DEEP; i++)
		fprintf(fp, "%s\n%s\n", pats[i], subs[i]);
	ck_assert_int_eq(fclose(fp), 0);
	lua = lua_verdicts(file, NPAIRS + DEEP);
	unlink(file);
	ck_assert_uint_eq(strlen(lua), NPAIRS + DEEP);
	for (int i = 0; i < NPAIRS + DEEP; i++) {
		int rc = match_find(pats[i], strlen(pats[i]), subs[i], strlen(subs[i]), MATCH_BUDGET, NULL);
		char mine = rc == MATCH_YES ? 'M' : rc == MATCH_NO ? 'N' : rc == MATCH_ERROR ? 'E' : '?';

		ck_assert_msg(mine == lua[i], "string.find('%s', '%s'): Lua %c, match_find %c", subs[i], pats[i],
			      lua[i], mine);
		n[mine == 'M' ? 0 : mine == 'N' ? 1 : 2]++;
	}
	/* the nesting limit is Lua's, to the level */
	ck_assert_int_eq(lua[NPAIRS + 1], 'M');
	ck_assert_int_eq(lua[NPAIRS + 2], 'E');
	/* the run proves something only if every outcome occurs often */
	ck_assert_int_gt(n[0], NPAIRS / 10);
	ck_assert_int_gt(n[1], NPAIRS / 10);
	ck_assert_int_gt(n[2], NPAIRS / 20);
	free(lua);
}
END_TEST

/* A malformed pattern is refused when added, in one line with Lua's words. */
START_TEST(test_malformed_pattern_is_refused_in_one_line)
{
	struct filter *f = filter_new();
	char err[256];

	ck_assert_int_eq(filter_add(f, "%.c$;[a", err, sizeof err), -1);
	ck_assert_str_eq(err, "malformed pattern '[a': malformed pattern (missing ']')");
	ck_assert_int_eq(filter_count(f), 0);
	filter_free(f);
}
END_TEST

Suite *filter_budget_suite(void)
{
	Suite *s = suite_create("filter_budget");
	TCase *tc = tcase_create("bounded");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_exponential_pattern_gives_up_at_the_budget_quickly);
	tcase_add_test(tc, test_costly_pattern_is_said_once_and_counts_as_not_matching);
	tcase_add_test(tc, test_costly_ignore_pattern_counts_as_matching);
	tcase_add_test(tc, test_costly_line_is_one_line);
	tcase_add_test(tc, test_ordinary_patterns_on_4096_byte_paths_stay_well_below_the_budget);
	tcase_add_test(tc, test_every_verdict_is_lua_s_own);
	tcase_add_test(tc, test_malformed_pattern_is_refused_in_one_line);
	suite_add_tcase(s, tc);
	return s;
}
