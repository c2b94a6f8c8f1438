/*
 * tests/system/test_live_saves.c — the live loop against every way a user saves: shell
 * redirection, cp, mv of a temporary file, sed -i, vim, Python's os.replace, deletion
 * and re-creation, truncation, quick successive saves, two files at once, touch. The
 * program's output must show the saved content after each save, the start-up never run
 * again, no restart.
 *
 * System suite (live-saves). Shared helpers: live.h.
 */
#include "live.h"
#include "suites.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * The subject: a Lua program with a start-up line, then a module it reads. Each save
 * of the module must resume the program once, from the checkpoint taken just before
 * the module's read: "startup" is printed once, a "value=" line per completed save.
 */
static const char lua_subject[] = "print('startup')\n"
				  "local v = dofile('mod.lua')\n"
				  "print('value=' .. tostring(v) .. ';')\n";

static void mod_content(int k, char *buf, size_t len)
{
	snprintf(buf, len, "return 'v%d'\n", k);
}

/* A save style: saves version k of mod.lua (version k-1 is on disk). */
typedef void (*save_fn)(struct h_session *s, int k);

static void save_shell_redirect(struct h_session *s, int k)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "echo \"return 'v%d'\" > mod.lua", k);
	lv_run_ok(s, "/bin/sh", "-c", cmd, NULL);
}

static void save_cp(struct h_session *s, int k)
{
	char c[64];
	mod_content(k, c, sizeof c);
	h_write(s, "staged.txt", c);
	lv_run_ok(s, "cp", "staged.txt", "mod.lua", NULL);
}

static void save_temp_and_mv(struct h_session *s, int k)
{
	char c[64];
	mod_content(k, c, sizeof c);
	h_write(s, "mod.lua.new", c);
	lv_run_ok(s, "mv", "mod.lua.new", "mod.lua", NULL);
}

static void save_sed_in_place(struct h_session *s, int k)
{
	char expr[64];
	snprintf(expr, sizeof expr, "s/v%d/v%d/", k - 1, k);
	lv_run_ok(s, "sed", "-i", expr, "mod.lua", NULL);
}

static void save_vim(struct h_session *s, int k)
{
	char cmd[64];
	snprintf(cmd, sizeof cmd, "%%s/v%d/v%d/", k - 1, k);
	lv_run_ok(s, "vim", "-es", "-u", "NONE", "-i", "NONE", "-c", cmd, "-c", "wq", "mod.lua", NULL);
}

static void save_python_os_replace(struct h_session *s, int k)
{
	char c[64];
	mod_content(k, c, sizeof c);
	lv_run_ok(s, "/usr/bin/python3", "-c",
	       "import os, sys\n"
	       "with open('mod.lua.tmp', 'w') as f:\n"
	       "    f.write(sys.argv[1])\n"
	       "os.replace('mod.lua.tmp', 'mod.lua')\n",
	       c, NULL);
}

/* Drives `edits` saves of mod.lua, each by `save`, each followed by one resume. */
static void save_style(save_fn save, int edits)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.lua", lua_subject);
	h_write(&s, "mod.lua", "return 'v0'\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "value=v0;", 1);
	for (int k = 1; k <= edits; k++) {
		save(&s, k);
		char want[64];
		snprintf(want, sizeof want, "value=v%d;", k);
		lv_expect_exactly(&s, want, 1);
		lv_expect_exactly(&s, lv_resume_line(&s, "mod.lua"), k);
		lv_expect_exactly(&s, "value=", k + 1);
		ck_assert_str_eq(lv_last_line_with(&s, "value="), want);
	}
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	lv_expect_none(&s, "restarting");
	lv_stop_session(&s, SIGTERM, 0);
	/* nothing came late: still one resume per save */
	lv_assert_count(&s, lv_resume_line(&s, "mod.lua"), edits);
	lv_assert_count(&s, "value=", edits + 1);
	h_cleanup(&s);
}

START_TEST(test_save_by_shell_redirect_resumes_once_per_save)
{
	save_style(save_shell_redirect, 20);
}
END_TEST

START_TEST(test_save_by_cp_resumes_once_per_save)
{
	save_style(save_cp, 20);
}
END_TEST

START_TEST(test_save_by_temp_file_and_mv_resumes_once_per_save)
{
	save_style(save_temp_and_mv, 20);
}
END_TEST

START_TEST(test_save_by_sed_in_place_resumes_once_per_save)
{
	save_style(save_sed_in_place, 20);
}
END_TEST

START_TEST(test_save_by_vim_resumes_once_per_save)
{
	save_style(save_vim, 20);
}
END_TEST

START_TEST(test_save_by_python_os_replace_resumes_once_per_save)
{
	save_style(save_python_os_replace, 20);
}
END_TEST

/* Deleted, then re-created 500 ms later: the deletion is a change (the copy finds the file
 * missing, as a direct run would: dofile fails), the return another one, with the new
 * content. Five edits. */
START_TEST(test_delete_then_recreate_later_resumes_at_the_deletion_and_at_the_return)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.lua", lua_subject);
	h_write(&s, "mod.lua", "return 'v0'\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "value=v0;", 1);
	for (int k = 1; k <= 5; k++) {
		lv_run_ok(&s, "rm", "mod.lua", NULL);
		lv_expect(&s, "cannot open mod.lua", k);
		h_sleep_ms(500); /* the user takes a while to write the file again (past the 300 ms grace) */
		ck_assert_int_eq(h_count(&s, lv_resume_line(&s, "mod.lua")), 2 * k - 1);
		ck_assert_int_eq(h_count(&s, "value="), k);
		char cmd[256];
		snprintf(cmd, sizeof cmd, "echo \"return 'v%d'\" > mod.lua", k);
		lv_run_ok(&s, "/bin/sh", "-c", cmd, NULL);
		char want[64];
		snprintf(want, sizeof want, "value=v%d;", k);
		lv_expect_exactly(&s, want, 1);
		lv_expect_exactly(&s, lv_resume_line(&s, "mod.lua"), 2 * k);
		lv_expect_exactly(&s, "value=", k + 1);
	}
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	lv_expect_none(&s, "value=nil");
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* Truncated (and closed empty), written 150 ms later: one resume, with the content,
 * never a run of the empty file. Ten edits. An emptied file is taken as saved after a
 * grace period (400 ms): a round the scheduler stretched past it (timed around the two
 * tools, an upper bound of the real gap) may show the empty file first; any other must
 * not. */
START_TEST(test_truncate_then_write_150ms_later_resumes_once_with_the_content)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.lua", lua_subject);
	h_write(&s, "mod.lua", "return 'v0'\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "value=v0;", 1);
	int resumes = 0, stretched = 0;
	for (int k = 1; k <= 10; k++) {
		double t0 = h_clock();
		lv_run_ok(&s, "truncate", "-s", "0", "mod.lua", NULL);
		h_sleep_ms(150); /* the writer is slow to write the content */
		char cmd[256];
		snprintf(cmd, sizeof cmd, "echo \"return 'v%d'\" >> mod.lua", k);
		lv_run_ok(&s, "/bin/sh", "-c", cmd, NULL);
		int slow = h_clock() - t0 > 0.35;
		stretched += slow;
		char want[64];
		snprintf(want, sizeof want, "value=v%d;", k);
		lv_expect_exactly(&s, want, 1);
		int now = lv_assert_between(&s, lv_resume_line(&s, "mod.lua"), resumes + 1, resumes + 1 + slow);
		resumes = now;
		lv_assert_count(&s, "value=", resumes + 1);
		lv_assert_between(&s, "value=nil", 0, stretched);
	}
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* Two saves 120 ms apart (a save, a quick fix): neither is lost and the last one wins.
 * Whether they make one resume or two is the scheduler's: a second save that lands
 * while the first is still being resumed joins it. So each pair gives one or two
 * resumes, each copy shows the content of its moment, and what is shown never goes back
 * to an older version. (That two saves this far apart give two resumes is the fake-clock
 * unit tests' to say.) Ten pairs. */
START_TEST(test_two_saves_120ms_apart_both_resume_and_the_last_wins)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.lua", lua_subject);
	h_write(&s, "mod.lua", "return 'v0'\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "value=v0;", 1);
	for (int k = 1; k <= 10; k++) {
		save_shell_redirect(&s, 2 * k - 1);
		h_sleep_ms(120); /* the second save follows 120 ms later */
		save_shell_redirect(&s, 2 * k);
		char want[64];
		snprintf(want, sizeof want, "value=v%d;", 2 * k);
		lv_expect(&s, want, 1); /* the last save is never lost */
		lv_assert_between(&s, lv_resume_line(&s, "mod.lua"), k, 2 * k);
		ck_assert_int_eq(lv_versions_grow(&s, "value=v", NULL), 2 * k);
	}
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	lv_expect_none(&s, "restarting");
	lv_stop_session(&s, SIGTERM, 0);
	/* nothing came late, nothing went back */
	int resumes = lv_assert_between(&s, lv_resume_line(&s, "mod.lua"), 10, 20), shown;
	ck_assert_int_eq(lv_versions_grow(&s, "value=v", &shown), 20);
	ck_assert_msg(shown >= 11 && shown <= resumes + 1, "%d values shown for %d resumes:\n%s", shown, resumes,
		      lv_out_tail(&s));
	h_cleanup(&s);
}
END_TEST

/* Two files saved together (b.lua, then a.lua, written by the test itself): one
 * resume, from the file the program read first, showing both new contents. "Together"
 * means within the quiet window: 30 ms here (the 5 ms default is tuned for latency). A
 * round the scheduler stretched past 20 ms (timed around both writes, an upper bound of
 * the real gap) may give the two files a resume each; any other must give one. Either
 * way the last resume is from a.lua and shows both contents. */
START_TEST(test_two_files_saved_together_resume_once_from_the_earlier)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.lua", "print('startup')\n"
				"local a = dofile('a.lua')\n"
				"print('between')\n"
				"local b = dofile('b.lua')\n"
				"print('a=' .. a .. ' b=' .. b .. ';')\n");
	h_write(&s, "a.lua", "return 'a0'\n");
	h_write(&s, "b.lua", "return 'b0'\n");
	char *argv[] = {lv_forkmon(), "run", "-d", "30", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "a=a0 b=b0;", 1);
	char both[4096];
	snprintf(both, sizeof both, "[forkmon] file '%s' (and 1 more) changed, resuming from it",
		 h_file(&s, "a.lua"));
	int resumes = 0, joint = 0;
	for (int k = 1; k <= 20; k++) {
		char a[64], b[64], want[64];
		snprintf(a, sizeof a, "return 'a%d'\n", k);
		snprintf(b, sizeof b, "return 'b%d'\n", k);
		double t0 = h_clock();
		h_write(&s, "b.lua", b);
		h_write(&s, "a.lua", a);
		int apart = h_clock() - t0 > 0.02;
		snprintf(want, sizeof want, "a=a%d b=b%d;", k, k);
		lv_expect_exactly(&s, want, 1); /* then all is printed: */
		resumes = lv_assert_between(&s, "changed, resuming", resumes + 1, resumes + 1 + apart);
		joint = lv_assert_between(&s, both, joint + !apart, joint + 1);
		lv_assert_count(&s, "between", k + 1); /* one resume from a.lua each round */
		lv_assert_count(&s, "a=", resumes + 1);
	}
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	lv_expect_none(&s, "restarting");
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* `touch` (no content change) resumes, as entr does. */
START_TEST(test_touch_without_change_resumes_like_entr)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.lua", lua_subject);
	h_write(&s, "mod.lua", "return 'v0'\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "value=v0;", 1);
	for (int k = 1; k <= 20; k++) {
		lv_run_ok(&s, "touch", "mod.lua", NULL);
		lv_expect_exactly(&s, "value=v0;", k + 1);
		lv_expect_exactly(&s, lv_resume_line(&s, "mod.lua"), k);
	}
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

Suite *live_saves_suite(void)
{
	Suite *s = suite_create("live-saves");
	TCase *tc = tcase_create("save styles");
	tcase_set_timeout(tc, 300); /* per test; each takes seconds at most when all is well */
	tcase_add_test(tc, test_save_by_shell_redirect_resumes_once_per_save);
	tcase_add_test(tc, test_save_by_cp_resumes_once_per_save);
	tcase_add_test(tc, test_save_by_temp_file_and_mv_resumes_once_per_save);
	tcase_add_test(tc, test_save_by_sed_in_place_resumes_once_per_save);
	tcase_add_test(tc, test_save_by_vim_resumes_once_per_save);
	tcase_add_test(tc, test_save_by_python_os_replace_resumes_once_per_save);
	tcase_add_test(tc, test_delete_then_recreate_later_resumes_at_the_deletion_and_at_the_return);
	tcase_add_test(tc, test_truncate_then_write_150ms_later_resumes_once_with_the_content);
	tcase_add_test(tc, test_two_saves_120ms_apart_both_resume_and_the_last_wins);
	tcase_add_test(tc, test_two_files_saved_together_resume_once_from_the_earlier);
	tcase_add_test(tc, test_touch_without_change_resumes_like_entr);
	suite_add_tcase(s, tc);
	return s;
}
