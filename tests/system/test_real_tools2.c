/*
 * tests/system/test_real_tools2.c — issue 10's items 1 and 4 with the real tools: what
 * the program writes itself is no edit (make's objects, pytest's and mypy's caches, a
 * file written and read back), and what it only looked at is watched (make's stat() of
 * an up-to-date source, mypy's warm cache, pytest's listing of tests/). Suite
 * "real-tools-own", in the system suite; runs in the test's process (Check forks one per
 * test), the sessions are the harness's (harness.h, live.h).
 *
 * Every session uses forkmon's default filter (the files under its directory), so that
 * everything the tools write there would match. "No run without an edit" is counted
 * over a quiet period: no change line and no new output for RT2_QUIET_MS. Python runs
 * with PYTHONUNBUFFERED removed (the runner's may set it), and writes its bytecode.
 */
#include "suites.h"

#include "harness.h"
#include "live.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RT2_QUIET_MS 1000

/* forkmon's lines for a change: the session re-ran something. */
static int rt2_changes(struct h_session *s)
{
	return h_count(s, "[forkmon] file '");
}

/* Nothing happens for a quiet period: no change, and needle still shows `count` times. */
static void rt2_quiet(struct h_session *s, const char *needle, int count)
{
	int before = rt2_changes(s);
	h_sleep_ms(RT2_QUIET_MS);
	ck_assert_msg(rt2_changes(s) == before, "re-ran without an edit:\n%s", lv_out_tail(s));
	lv_assert_count(s, needle, count);
}

static void rt2_plain_env(void)
{
	unsetenv("PYTHONUNBUFFERED");
	unsetenv("PYTHONDONTWRITEBYTECODE");
}

/* ---- make ---------------------------------------------------------------------- */

static void rt2_make_project(struct h_session *s)
{
	h_write(s, "main.c", "#include <stdio.h>\nint util(void);\n"
			     "int main(void) { printf(\"app says %d\\n\", util()); return 0; }\n");
	h_write(s, "util.c", "int util(void) { return 1; }\n");
	h_write(s, "Makefile", "app: main.o util.o\n"
			       "\tcc -o app main.o util.o\n"
			       "\t./app\n"
			       "%.o: %.c\n"
			       "\tcc -c -o $@ $<\n");
	lv_run_ok(s, "make", "-s", NULL); /* built: the session's make finds it up to date */
}

START_TEST(test_make_up_to_date_sees_an_edit_it_only_stat_ed_and_never_its_own_objects)
{
	struct h_session s;
	h_init(&s);
	/* the make a user types, not a sub-make of `make check` (make[1]:, its jobserver) */
	unsetenv("MAKELEVEL");
	unsetenv("MAKEFLAGS");
	unsetenv("MFLAGS");
	rt2_make_project(&s);
	char *argv[] = {lv_forkmon(), "run", "--", "make", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "make: 'app' is up to date.", 1);
	rt2_quiet(&s, "is up to date", 1);
	/* make opened no source: it stat()ed util.c and found util.o newer */
	h_write(&s, "util.c", "int util(void) { return 2; }\n");
	lv_expect(&s, "app says 2", 1);
	/* make wrote util.o and app itself: no re-run, and the link was never cut short */
	rt2_quiet(&s, "app says", 1);
	lv_assert_count(&s, "cc -o app main.o util.o", 1);
	lv_expect_none(&s, "Terminated");
	lv_expect_none(&s, "make: ***");
	ck_assert_int_eq(rt2_changes(&s), 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* ---- pytest ---------------------------------------------------------------------- */

START_TEST(test_pytest_sees_a_new_test_file_and_never_its_own_cache)
{
	rt2_plain_env();
	struct h_session s;
	h_init(&s);
	lv_make_dir(&s, "tests");
	h_write(&s, "tests/test_a.py", "def test_a():\n    assert True\n");
	h_write(&s, "tests/test_b.py", "def test_b():\n    assert 1 + 1 == 2\n");
	char *argv[] = {lv_forkmon(), "run", "--", "/usr/bin/python3", "-m", "pytest", "-q", "tests/", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "2 passed", 1);
	/* it wrote .pytest_cache/ and tests/__pycache__/ meanwhile */
	rt2_quiet(&s, " passed", 1);
	/* pytest listed tests/ and read the two files: a third one is new in the listing */
	h_write(&s, "tests/test_d.py", "def test_d():\n    assert 'd'\n");
	lv_expect(&s, "3 passed", 1);
	rt2_quiet(&s, " passed", 2);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* ---- mypy ---------------------------------------------------------------------- */

/* mypy's cache directory is not ignored here: its writes are the session's own. */
START_TEST(test_mypy_with_a_warm_cache_sees_an_edit_and_never_its_own_cache)
{
	rt2_plain_env();
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.py", "x: int = 1\nprint(x)\n");
	lv_run_ok(&s, "mypy", "main.py", NULL); /* the cache is warm: main.py is only stat()ed */
	char *argv[] = {lv_forkmon(), "run", "--", "mypy", "main.py", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "Success: no issues found in 1 source file", 1);
	rt2_quiet(&s, "Success: no issues found", 1);
	h_write(&s, "main.py", "x: int = 'one'\nprint(x)\n");
	lv_expect(&s, "Found 1 error in 1 file", 1);
	lv_assert_count(&s, "Incompatible types in assignment", 1);
	rt2_quiet(&s, "Found 1 error", 1);
	lv_assert_count(&s, "Success: no issues found", 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* ---- black ---------------------------------------------------------------------- */

/* black --check with a warm cache only stat()s the file (its cache says it is formatted);
 * the cache, kept under the session's directory here, is written by black itself. */
START_TEST(test_black_with_a_warm_cache_sees_an_edit_and_never_its_own_cache)
{
	rt2_plain_env();
	struct h_session s;
	h_init(&s);
	char cache[PATH_MAX + 32];
	snprintf(cache, sizeof cache, "BLACK_CACHE_DIR=%s/bcache", s.dir);
	putenv(cache); /* this test's process only (Check forks one per test) */
	h_write(&s, "main.py", "x = 1\n");
	lv_run_ok(&s, "black", "--check", "main.py", NULL); /* warms the cache */
	char *argv[] = {lv_forkmon(), "run", "--", "black", "--check", "main.py", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "1 file would be left unchanged.", 1);
	rt2_quiet(&s, "would be left unchanged", 1);
	h_write(&s, "main.py", "x=1\n");
	lv_expect(&s, "1 file would be reformatted.", 1);
	rt2_quiet(&s, "would be reformatted", 1);
	h_write(&s, "main.py", "x = 2\n");
	lv_expect(&s, "1 file would be left unchanged.", 2);
	rt2_quiet(&s, "would be left unchanged", 2);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* ---- a program that writes a file and reads it back ------------------------------- */

START_TEST(test_a_file_the_program_writes_and_reads_back_is_no_edit)
{
	rt2_plain_env();
	struct h_session s;
	h_init(&s);
	h_write(&s, "src.txt", "one\n");
	h_write(&s, "gen.py", "v = open('src.txt').read().strip()\n"
			      "with open('gen.txt', 'w') as f:\n"
			      "    f.write('generated ' + v + '\\n')\n"
			      "print('read back: ' + open('gen.txt').read().strip())\n");
	char *argv[] = {lv_forkmon(), "run", "--", "/usr/bin/python3", "gen.py", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "read back: generated one", 1);
	rt2_quiet(&s, "read back:", 1);
	h_write(&s, "src.txt", "two\n");
	lv_expect(&s, "read back: generated two", 1);
	rt2_quiet(&s, "read back:", 2);
	h_write_rename(&s, "src.txt", "three\n");
	lv_expect(&s, "read back: generated three", 1);
	rt2_quiet(&s, "read back:", 3);
	ck_assert_int_eq(rt2_changes(&s), 2);
	/* and an edit of gen.txt by someone else is one */
	h_write(&s, "gen.txt", "edited\n");
	lv_expect(&s, "read back:", 4); /* resumed at its read (edited) or restarted (three) */
	rt2_quiet(&s, "read back:", 4);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

Suite *real_tools_own_suite(void)
{
	Suite *s = suite_create("real-tools-own");
	TCase *tc = tcase_create("own writes and looks");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_make_up_to_date_sees_an_edit_it_only_stat_ed_and_never_its_own_objects);
	tcase_add_test(tc, test_pytest_sees_a_new_test_file_and_never_its_own_cache);
	tcase_add_test(tc, test_mypy_with_a_warm_cache_sees_an_edit_and_never_its_own_cache);
	tcase_add_test(tc, test_black_with_a_warm_cache_sees_an_edit_and_never_its_own_cache);
	tcase_add_test(tc, test_a_file_the_program_writes_and_reads_back_is_no_edit);
	suite_add_tcase(s, tc);
	return s;
}
