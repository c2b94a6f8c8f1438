/*
 * tests/unit/test_filter.c — filters/filter.c: matching, refusing malformed patterns
 * with Lua's own words, hints, quoting. Unit suite (the differential run against the
 * real lua5.4 is tests/unit/test_filter_lua.c).
 *
 * The expected complaints are Lua 5.4.4's texts (Debian 12), checked with e.g.
 *   lua5.4 -e 'print(pcall(string.find, "", "[a"))'
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "hints.h"
#include "pattern.h"
#include "suites.h"

/* A filter holding spec, which must be accepted. */
static struct filter *filter_of(const char *spec)
{
	struct filter *f = filter_new();
	char err[256];

	ck_assert_ptr_nonnull(f);
	ck_assert_msg(filter_add(f, spec, err, sizeof(err)) == 0, "'%s' refused: %s", spec, err);
	return f;
}

static int matches(const char *spec, const char *path)
{
	struct filter *f = filter_of(spec);
	int m = filter_match(f, path);

	filter_free(f);
	return m;
}

static struct filter_hint hint_of(const char *pattern)
{
	struct filter *f = filter_of(pattern);
	struct filter_hint h;

	ck_assert_int_eq(filter_count(f), 1);
	filter_hint(f, 0, &h);
	filter_free(f);
	return h;
}

/* ------------------------------------------------------------------ matching */

START_TEST(test_empty_filter_matches_nothing)
{
	struct filter *f = filter_new();

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(filter_count(f), 0);
	ck_assert_int_eq(filter_match(f, "/tmp/x/foo.lua"), 0);
	ck_assert_int_eq(filter_match(f, ""), 0);
	ck_assert_int_eq(filter_match(NULL, "/x"), 0);
	filter_free(f);
	filter_free(NULL);
}
END_TEST

START_TEST(test_match_follows_string_find_semantics)
{
	/* unanchored by default */
	ck_assert(matches("foo", "/tmp/x/foo.lua"));
	ck_assert(matches("%.lua$", "/tmp/x/foo.lua"));
	ck_assert(!matches("%.lua$", "/tmp/x/foo.lua~"));
	ck_assert(!matches("%.lua$", "/tmp/x/fooxlua"));
	ck_assert(matches(".lua$", "/tmp/x/fooxlua"));
	ck_assert(matches("^/tmp/", "/tmp/x/foo.lua"));
	ck_assert(!matches("^/x", "/tmp/x/foo.lua"));
	ck_assert(matches("/[^/]+/foo", "/tmp/x/foo.lua"));
	ck_assert(matches("%f[%w]foo%f[%W]", "/tmp/x/foo.lua"));
	ck_assert(!matches("%f[%w]oo", "/tmp/x/foo.lua"));
	ck_assert(matches("%b()", "/tmp/(a(b))/c"));
	ck_assert(matches("(o)%1", "/tmp/x/foo.lua"));
	ck_assert(matches("^(/%a+)/x", "/tmp/x/foo.lua"));
	/* no magic at all: Lua takes it as a plain string, ')' included */
	ck_assert(matches("a)", "/tmp/a)"));
	ck_assert(matches("]", "/tmp/]"));
}
END_TEST

START_TEST(test_any_pattern_matching_is_enough)
{
	struct filter *f = filter_of("%.py$;%.lua$");

	ck_assert_int_eq(filter_count(f), 2);
	ck_assert(filter_match(f, "/a.py"));
	ck_assert(filter_match(f, "/a.lua"));
	ck_assert(!filter_match(f, "/a.c"));
	/* one -f at a time adds up too */
	ck_assert_int_eq(filter_add(f, "%.c$", NULL, 0), 0);
	ck_assert_int_eq(filter_count(f), 3);
	ck_assert(filter_match(f, "/a.c"));
	filter_free(f);
}
END_TEST

START_TEST(test_add_splits_on_semicolons_and_skips_empty_items)
{
	struct filter *f = filter_of(";;%.lua$;;;^/etc/;");

	ck_assert_int_eq(filter_count(f), 2);
	ck_assert(filter_match(f, "/x/y.lua"));
	ck_assert(filter_match(f, "/etc/passwd"));
	ck_assert(!filter_match(f, "/x/etc/passwd"));
	ck_assert_int_eq(filter_add(f, "", NULL, 0), 0);
	ck_assert_int_eq(filter_add(f, ";;;", NULL, 0), 0);
	ck_assert_int_eq(filter_add(f, NULL, NULL, 0), 0);
	ck_assert_int_eq(filter_count(f), 2);
	filter_free(f);
}
END_TEST

START_TEST(test_semicolon_inside_escape_or_set_stays_in_the_pattern)
{
	/* a plain split would make every one of these malformed, so keeping them whole only accepts more */
	struct filter *f = filter_of("a%;b;[;]x;%b;;");

	ck_assert_int_eq(filter_count(f), 3);
	ck_assert(filter_match(f, "/a;b"));
	ck_assert(filter_match(f, "/;x"));
	ck_assert(filter_match(f, "/;;"));
	ck_assert(!filter_match(f, "/ab"));
	filter_free(f);
}
END_TEST

START_TEST(test_runtime_error_is_no_match_and_others_still_count)
{
	/* 250 "a?" then "b": Lua raises "pattern too complex" on a run of a's */
	char pat[600], path[300];
	struct filter *f = filter_new();

	memset(pat, 0, sizeof(pat));
	for (int i = 0; i < 250; i++)
		memcpy(pat + 2 * i, "a?", 2);
	strcat(pat, "b;%.lua$");
	memset(path, 'a', 250);
	path[250] = '\0';
	ck_assert_int_eq(filter_add(f, pat, NULL, 0), 0);
	ck_assert_int_eq(filter_count(f), 2);
	ck_assert_int_eq(filter_match(f, path), 0);
	strcat(path, ".lua");
	ck_assert_int_eq(filter_match(f, path), 1);
	ck_assert_int_eq(filter_match(f, "/b"), 1);
	filter_free(f);
}
END_TEST

/* ------------------------------------------------------------------ refusals */

static const struct {
	const char *pattern;
	const char *complaint;
} malformed_cases[] = {
	{ "[a", "malformed pattern (missing ']')" },
	{ "a[", "malformed pattern (missing ']')" },	/* Lua sees it only on a subject with 'a' */
	{ "[]", "malformed pattern (missing ']')" },
	{ "[^]", "malformed pattern (missing ']')" },
	{ "[%", "malformed pattern (missing ']')" },
	{ "%", "malformed pattern (ends with '%')" },
	{ "%.lua%", "malformed pattern (ends with '%')" },
	{ "%f", "missing '[' after '%f' in pattern" },
	{ "x%fa", "missing '[' after '%f' in pattern" },
	{ "%f[a", "malformed pattern (missing ']')" },
	{ "%b", "malformed pattern (missing arguments to '%b')" },
	{ "x%b(", "malformed pattern (missing arguments to '%b')" },
	{ "x.)", "invalid pattern capture" },
	{ "(a))", "invalid pattern capture" },
	{ "(a", "unfinished capture" },
	{ "^((a)", "unfinished capture" },
	{ "%1", "invalid capture index %1" },
	{ "(a%1)", "invalid capture index %1" },
	{ "(a)%2", "invalid capture index %2" },
	{ "%0", "invalid capture index %0" },
	{ "()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()",
	  "too many captures" },
	{ "(((((((((((((((((((((((((((((((((", "too many captures" },
};

START_TEST(test_malformed_pattern_names_it_and_lua_complaint)
{
	const char *pattern = malformed_cases[_i].pattern;
	struct filter *f = filter_new();
	char err[512], want[512];

	snprintf(want, sizeof(want), "malformed pattern '%s': %s", pattern,
		 malformed_cases[_i].complaint);
	ck_assert_int_eq(filter_add(f, pattern, err, sizeof(err)), -1);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(strchr(err, '\n'));
	ck_assert_int_eq(filter_count(f), 0);
	filter_free(f);
}
END_TEST

START_TEST(test_malformed_item_refuses_the_whole_spec)
{
	struct filter *f = filter_of("%.c$");
	char err[256];

	ck_assert_int_eq(filter_add(f, "%.lua$;[a;%.py$", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "malformed pattern '[a': malformed pattern (missing ']')");
	ck_assert_int_eq(filter_count(f), 1);
	ck_assert(!filter_match(f, "/x.lua"));
	ck_assert(filter_match(f, "/x.c"));
	filter_free(f);
}
END_TEST

START_TEST(test_error_line_fits_any_buffer_and_stays_one_line)
{
	struct filter *f = filter_new();
	char err[16];

	memset(err, 'X', sizeof(err));
	ck_assert_int_eq(filter_add(f, "[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", err, sizeof(err)), -1);
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
	ck_assert_int_eq(filter_add(f, "[a", NULL, 0), -1);
	ck_assert_int_eq(filter_add(f, "a\nb[", err, 1), -1);
	ck_assert_str_eq(err, "");
	{
		char line[128];

		ck_assert_int_eq(filter_add(f, "a\nb[", line, sizeof(line)), -1);
		ck_assert_str_eq(line, "malformed pattern 'a\\x0ab[': malformed pattern (missing ']')");
	}
	filter_free(f);
}
END_TEST

START_TEST(test_patterns_lua_never_complains_about_are_accepted)
{
	/* no magic character: taken as plain text, the ')' is no capture */
	ck_assert(matches("a)", "/a)"));
	/* ']' first in a set is a member */
	ck_assert(matches("[]]", "/]"));
	ck_assert(matches("[^]]$", "/a"));
	ck_assert(!matches("[^]]$", "/]"));
	/* a position capture is closed from the start */
	ck_assert(!matches("()%1", "/a"));
	ck_assert(matches("%b)(", "/)x("));
	/* quantifier characters where no item precedes are plain characters */
	ck_assert(matches("^*", "*x"));
	ck_assert(matches("(*)", "a*"));
	ck_assert(matches("a$b", "a$b"));
	ck_assert(matches("a^", "/a^"));
	/* back-references take no quantifier: the '?' is a plain character */
	ck_assert(matches("(o)%1?", "/foo?"));
	ck_assert(!matches("(o)%1?", "/fo"));
}
END_TEST

/* ------------------------------------------------------------------ hints */

static void assert_hint(const char *pattern, const char *prefix, const char *suffix)
{
	struct filter_hint h = hint_of(pattern);

	ck_assert_msg(strcmp(h.prefix, prefix) == 0, "'%s': prefix '%s', want '%s'", pattern,
		      h.prefix, prefix);
	ck_assert_msg(strcmp(h.suffix, suffix) == 0, "'%s': suffix '%s', want '%s'", pattern,
		      h.suffix, suffix);
}

START_TEST(test_hint_suffix_is_the_literal_run_before_a_final_anchor)
{
	assert_hint("%.lua$", "", ".lua");
	assert_hint("%%$", "", "%");
	assert_hint("a*$", "", "");
	assert_hint("[.]lua$", "", "lua");
	assert_hint("foo%$", "", "");
	assert_hint("[a$]", "", "");
	assert_hint("%b$$", "", "");
	assert_hint("x+%.lua$", "", "x.lua");
	assert_hint("ab+c$", "", "bc");	/* "abbc" matches: only the last b is sure */
	assert_hint("a?b$", "", "b");
	assert_hint("%.(lua)$", "", ".lua");
	assert_hint("%a%.py$", "", ".py");
	assert_hint("$", "", "");
	assert_hint("%.lua", "", "");
	assert_hint(".lua$", "", "lua");
}
END_TEST

START_TEST(test_hint_prefix_is_the_required_literal_start_of_an_anchored_pattern)
{
	assert_hint("^/home/x/%.y", "/home/x/.y", "");
	assert_hint("/home", "", "");
	assert_hint("^/tmp/x+y", "/tmp/x", "");
	assert_hint("^/tmp/x*y", "/tmp/", "");
	assert_hint("^/tmp/x?y", "/tmp/", "");
	assert_hint("^/tmp/x-y", "/tmp/", "");
	assert_hint("^/a.b", "/a", "");
	assert_hint("^/a%ab", "/a", "");
	assert_hint("^(/tmp)/x", "/tmp/x", "");
	assert_hint("^/etc/passwd$", "/etc/passwd", "/etc/passwd");
	assert_hint("^/x[/]y", "/x", "");
	assert_hint("^^x", "", "");
	assert_hint("^$", "", "");
}
END_TEST

START_TEST(test_hint_truncates_keeping_what_is_still_necessary)
{
	char pat[200], path[200], want[64];
	struct filter_hint h;

	/* 100 letters: the prefix keeps the first 63, the suffix the last 63 */
	pat[0] = '^';
	for (int i = 0; i < 100; i++)
		pat[1 + i] = (char)('a' + i % 26);
	strcpy(pat + 101, "$");
	h = hint_of(pat);
	memcpy(want, pat + 1, 63);
	want[63] = '\0';
	ck_assert_str_eq(h.prefix, want);
	memcpy(want, pat + 101 - 63, 63);
	ck_assert_str_eq(h.suffix, want);
	/* the pattern still matches its text through the shortened hints */
	memcpy(path, pat + 1, 100);
	path[100] = '\0';
	ck_assert(matches(pat, path));
	path[70] = '#';
	ck_assert(!matches(pat, path));
}
END_TEST

START_TEST(test_hint_of_a_bad_index_is_empty)
{
	struct filter *f = filter_of("^/x$");
	struct filter_hint h;

	memset(&h, 'z', sizeof(h));
	filter_hint(f, 1, &h);
	ck_assert_str_eq(h.prefix, "");
	ck_assert_str_eq(h.suffix, "");
	filter_hint(f, -1, &h);
	ck_assert_str_eq(h.prefix, "");
	filter_hint(f, 0, NULL);
	filter_free(f);
}
END_TEST

/* pattern's required literal (pattern_required) is want. */
static void assert_required(const char *pattern, const char *want)
{
	char out[64];
	size_t n = pattern_required(pattern, strlen(pattern), out, sizeof out);

	ck_assert_msg(n == strlen(out) && strcmp(out, want) == 0, "'%s': required '%s', want '%s'", pattern, out,
		      want);
}

START_TEST(test_required_literal_is_the_longest_run_every_match_holds)
{
	assert_required("/%.git/", "/.git/");
	assert_required("%.py[co]$", ".py");
	assert_required("/%.[^/]*%.sw.$", ".sw");
	assert_required("^/tmp/x", "/tmp/x");
	assert_required("src/", "src/"); /* no magic character: a plain string, all of it */
	assert_required("(ab)(cd)", "abcd"); /* captures consume nothing */
	assert_required("x()yz", "xyz");
	assert_required("x+yz", "xyz"); /* "xxyz": from the last x on */
	assert_required("ab+c", "ab");  /* "abbc" holds "ab" and "bc", not "abc" */
	assert_required("a?bc", "bc");
	assert_required("a*b-cd", "cd");
	assert_required("%d+x", "x");
	assert_required("(a)%1bc", "bc");
	assert_required("%f[%w]main", "main");
	assert_required("%bxyab", "ab");
	assert_required(".lua$", "lua");
	assert_required("a-a-a-a-a-a-a-a-b", "b");
	assert_required("a-a-a-a-a-a-a-a-%d", "");
	assert_required("[abc]", "");
	assert_required("^", "");
	assert_required("", "");
}
END_TEST

START_TEST(test_required_literal_truncates_keeping_what_is_still_necessary)
{
	char pat[200], path[200], out[8];

	for (int i = 0; i < 100; i++)
		pat[i] = (char)('a' + i % 26);
	strcpy(pat + 100, "$");
	ck_assert_uint_eq(pattern_required(pat, strlen(pat), out, sizeof out), 7);
	ck_assert_mem_eq(out, pat, 7);
	/* the filter keeps more (63 bytes): the text itself still matches */
	memcpy(path, "/x/", 3);
	memcpy(path + 3, pat, 100);
	path[103] = '\0';
	ck_assert(matches(pat, path));
	path[50] = '#';
	ck_assert(!matches(pat, path));
}
END_TEST

/* A path without a pattern's literal is not matched against it at all: no step is
 * counted, so it can never make the pattern give up as too costly. Lua itself would
 * take ~20 s on these 40 bytes. */
static int costly_said;
static void costly_say(const char *line)
{
	(void)line;
	costly_said++;
}

START_TEST(test_path_without_the_literal_is_no_match_however_costly_the_pattern)
{
	char a40[42];
	struct filter *f = filter_of("a-a-a-a-a-a-a-a-b;/%.git/");

	a40[0] = '/';
	memset(a40 + 1, 'a', 40);
	a40[41] = '\0';
	filter_on_costly(f, 1, "ignore pattern", costly_say); /* giving up would count as a match */
	costly_said = 0;
	ck_assert_int_eq(filter_match(f, a40), 0);
	ck_assert_int_eq(costly_said, 0);
	ck_assert_int_eq(filter_match(f, "/src/.git/config"), 1);
	ck_assert_int_eq(filter_match(f, "/src/.gitignore"), 0);
	ck_assert_int_eq(filter_match(f, "/aaaab"), 1);
	filter_free(f);
}
END_TEST

/* ------------------------------------------------------------------ quoting */

START_TEST(test_quote_round_trips_magic_characters)
{
	static const char *const cases[] = {
		"/tmp/x/foo.lua", "^$*+?.([%-])", "a;b", "%1", "%b()", "[x]", "(", ")", "x)",
		"/home/user/My Documents/a+b (1).txt", "100%", "",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char q[256], anchored[300];
		struct filter *f = filter_new();
		char err[256];

		filter_quote(cases[i], q, sizeof(q));
		snprintf(anchored, sizeof(anchored), "^%s$", q);
		ck_assert_msg(filter_add(f, anchored, err, sizeof(err)) == 0, "%s: %s", anchored, err);
		ck_assert_int_eq(filter_count(f), 1);
		ck_assert_msg(filter_match(f, cases[i]), "'%s' does not match '%s'", anchored, cases[i]);
		if (cases[i][0]) {
			char longer[300];

			snprintf(longer, sizeof(longer), "%sx", cases[i]);
			ck_assert(!filter_match(f, longer));
			ck_assert(!filter_match(f, cases[i] + 1));
		}
		filter_free(f);
	}
	{
		char q[64];

		filter_quote("a.b", q, sizeof(q));
		ck_assert_str_eq(q, "a%.b");
		ck_assert(!matches(q, "axb"));
	}
}
END_TEST

START_TEST(test_quote_truncates_without_a_dangling_escape)
{
	char q[5];

	memset(q, 'Z', sizeof(q));
	filter_quote("ab...", q, sizeof(q));
	ck_assert_str_eq(q, "ab%.");
	filter_quote("abc.", q, 5);
	ck_assert_str_eq(q, "abc");
	filter_quote("x", q, 1);
	ck_assert_str_eq(q, "");
	filter_quote("x", q, 0);	/* nothing written, nothing broken */
}
END_TEST

/* The hook's hints (monitor/hints.c): an unanchored pattern's literal goes to the hook,
 * so that a path without it is rejected in the program; one its prefix or suffix holds
 * does not; a pattern with no literal at all makes every path a candidate. */
START_TEST(test_hook_hints_carry_an_unanchored_patterns_literal)
{
	struct fm_hint h[FM_MAX_HINTS];
	struct filter *f = filter_of("nomatch;%.lua;^/src/.*%.c$;x+y;/t%.lua$");

	memset(h, 'z', sizeof h);
	ck_assert_int_eq(hints_make(f, h, FM_MAX_HINTS), 5);
	ck_assert_str_eq(h[0].prefix, "");
	ck_assert_str_eq(h[0].suffix, "");
	ck_assert_str_eq(h[0].need, "nomatch"); /* a plain string: found anywhere */
	ck_assert_str_eq(h[1].need, ".lua");
	ck_assert_str_eq(h[2].prefix, "/src/");
	ck_assert_str_eq(h[2].suffix, ".c");
	ck_assert_str_eq(h[2].need, ""); /* the prefix holds it */
	ck_assert_str_eq(h[3].need, "xy"); /* x, then at least one y */
	ck_assert_str_eq(h[4].suffix, "/t.lua");
	ck_assert_str_eq(h[4].need, "");
	filter_free(f);

	f = filter_of("%.lua;.");
	ck_assert_int_eq(hints_make(f, h, FM_MAX_HINTS), -1); /* '.' holds no literal */
	filter_free(f);
	f = filter_of("a;b;c");
	ck_assert_int_eq(hints_make(f, h, 2), -1); /* more patterns than hints */
	filter_free(f);
}
END_TEST

Suite *filter_suite(void)
{
	Suite *s = suite_create("filter");
	TCase *tc = tcase_create("filter");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_empty_filter_matches_nothing);
	tcase_add_test(tc, test_match_follows_string_find_semantics);
	tcase_add_test(tc, test_any_pattern_matching_is_enough);
	tcase_add_test(tc, test_add_splits_on_semicolons_and_skips_empty_items);
	tcase_add_test(tc, test_semicolon_inside_escape_or_set_stays_in_the_pattern);
	tcase_add_test(tc, test_runtime_error_is_no_match_and_others_still_count);
	tcase_add_loop_test(tc, test_malformed_pattern_names_it_and_lua_complaint, 0,
			    (int)(sizeof(malformed_cases) / sizeof(malformed_cases[0])));
	tcase_add_test(tc, test_malformed_item_refuses_the_whole_spec);
	tcase_add_test(tc, test_error_line_fits_any_buffer_and_stays_one_line);
	tcase_add_test(tc, test_patterns_lua_never_complains_about_are_accepted);
	tcase_add_test(tc, test_hint_suffix_is_the_literal_run_before_a_final_anchor);
	tcase_add_test(tc, test_hint_prefix_is_the_required_literal_start_of_an_anchored_pattern);
	tcase_add_test(tc, test_hint_truncates_keeping_what_is_still_necessary);
	tcase_add_test(tc, test_hint_of_a_bad_index_is_empty);
	tcase_add_test(tc, test_hook_hints_carry_an_unanchored_patterns_literal);
	tcase_add_test(tc, test_required_literal_is_the_longest_run_every_match_holds);
	tcase_add_test(tc, test_required_literal_truncates_keeping_what_is_still_necessary);
	tcase_add_test(tc, test_path_without_the_literal_is_no_match_however_costly_the_pattern);
	tcase_add_test(tc, test_quote_round_trips_magic_characters);
	tcase_add_test(tc, test_quote_truncates_without_a_dangling_escape);
	suite_add_tcase(s, tc);
	return s;
}
