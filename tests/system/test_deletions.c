/*
 * tests/system/test_deletions.c — deletions are changes (issue 10, item 3), and the
 * default ignores (item 1): a real `git checkout` that deletes a directory of modules and
 * brings it back, `rm` of a watched file and its return, vim saving with a backup
 * (rename away, write anew: one change), and files under .git/, tools' caches and
 * editors' swap files, which are not watched unless --no-default-ignores says so.
 * Suite "deletions", in the system suite; runs in the test's process (Check forks one
 * per test), the sessions are the harness's (harness.h, live.h).
 *
 * git runs with no system or global configuration, its identity on the command line.
 */
#include "suites.h"

#include "harness.h"
#include "live.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* git in the session's directory, configured by nothing but its arguments. */
#define DL_GIT(s, ...)                                                                                     \
	lv_run_ok(s, "env", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=/nonexistent",    \
		  "git", "-c", "user.name=forkmon test", "-c", "user.email=test@forkmon.invalid", "-c",      \
		  "init.defaultBranch=main", __VA_ARGS__, NULL)

/* The program reads what exists, as a program run directly would: the modules of lib/
 * (pcall(require): a missing one is "none"), then y.lua (io.open: "missing"). */
static const char dl_main_lua[] = "print('startup')\n"
				  "local out = {}\n"
				  "for _, m in ipairs({'a', 'b', 'c'}) do\n"
				  "  local ok, v = pcall(require, 'lib.' .. m)\n"
				  "  out[#out + 1] = m .. '=' .. (ok and v or 'none')\n"
				  "end\n"
				  "local f = io.open('y.lua')\n"
				  "local y = f and f:read('l') or 'missing'\n"
				  "if f then f:close() end\n"
				  "print('state ' .. table.concat(out, ' ') .. ' y=' .. y)\n";

/* Branch main has lib/{a,b,c}.lua and y.lua "main"; branch nolib has no lib/ and y.lua
 * "nolib". Left on main. */
static void dl_two_branches(struct h_session *s)
{
	lv_make_dir(s, "lib");
	h_write(s, "lib/a.lua", "return 'a-main'\n");
	h_write(s, "lib/b.lua", "return 'b-main'\n");
	h_write(s, "lib/c.lua", "return 'c-main'\n");
	h_write(s, "y.lua", "main\n");
	h_write(s, "main.lua", dl_main_lua);
	DL_GIT(s, "init", "-q");
	DL_GIT(s, "add", "-A");
	DL_GIT(s, "commit", "-q", "-m", "main");
	DL_GIT(s, "checkout", "-q", "-b", "nolib");
	DL_GIT(s, "rm", "-q", "-r", "lib");
	h_write(s, "y.lua", "nolib\n");
	DL_GIT(s, "commit", "-q", "-a", "-m", "nolib");
	DL_GIT(s, "checkout", "-q", "main");
}

#define DL_MAIN "state a=a-main b=b-main c=c-main y=main"
#define DL_NOLIB "state a=none b=none c=none y=nolib"

/* The session started on main: checkouts to nolib and back, twice. Each shows exactly
 * its branch's state; lib/'s loss is said once each time; no complaint about watching. */
static void dl_checkouts_both_ways(struct h_session *s)
{
	char gone[PATH_MAX + 64];
	snprintf(gone, sizeof gone, "directory '%s' is gone", h_file(s, "lib"));
	lv_expect(s, DL_MAIN, 1);
	DL_GIT(s, "checkout", "-q", "nolib");
	int before = lv_settles_on(s, "state ", DL_NOLIB, 1, 0, 2);
	/* The directory stays gone a while: said once, looked for in silence. */
	h_sleep_ms(800); /* three polls of the directory (FILES_POLL_NS) */
	ck_assert_msg(h_count(s, gone) == 1, "'%s' said %d times:\n%s", gone, h_count(s, gone), lv_out_tail(s));
	ck_assert_msg(h_count(s, "forkmon: cannot") == 0, "%s", lv_out_tail(s));
	ck_assert_int_eq(lv_changes(s), before);

	DL_GIT(s, "checkout", "-q", "main");
	before += lv_settles_on(s, "state ", DL_MAIN, 2, before, 2);
	DL_GIT(s, "checkout", "-q", "nolib");
	before += lv_settles_on(s, "state ", DL_NOLIB, 2, before, 2);
	DL_GIT(s, "checkout", "-q", "main");
	lv_settles_on(s, "state ", DL_MAIN, 3, before, 2);
	ck_assert_msg(h_count(s, gone) == 2, "one line per loss of lib/:\n%s", lv_out_tail(s));
	ck_assert_msg(h_count(s, "forkmon: cannot") == 0, "%s", lv_out_tail(s));
}

START_TEST(test_a_checkout_that_deletes_a_directory_shows_each_branch)
{
	struct h_session s;
	h_init(&s);
	dl_two_branches(&s);
	char *argv[] = {lv_forkmon(), "run", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	dl_checkouts_both_ways(&s);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* The same by polling: forkmon in a user namespace of its own where no inotify instance
 * is left (the machine's limits are never touched). */
START_TEST(test_the_same_checkouts_by_polling)
{
	struct h_session s;
	h_init(&s);
	char *probe[] = {"unshare", "-Ur", "true", NULL};
	int st = h_run(&s, probe);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "deletions: no user namespace here, polling test skipped\n");
		h_cleanup(&s);
		return;
	}
	dl_two_branches(&s);
	char script[8192];
	snprintf(script, sizeof script,
		 "echo 0 > /proc/sys/user/max_inotify_instances && exec %s run -- lua5.4 main.lua", lv_forkmon());
	char *argv[] = {"unshare", "-Ur", "sh", "-c", script, NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "watching by polling", 1);
	dl_checkouts_both_ways(&s);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* x.txt, read with io.open: its first line, or "missing". */
static const char dl_read_x[] = "print('startup')\n"
				"local f = io.open('x.txt')\n"
				"print('x=' .. (f and f:read('l') or 'missing'))\n"
				"if f then f:close() end\n";

START_TEST(test_rm_of_a_watched_file_resumes_and_so_does_its_return)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "x.txt", "one\n");
	h_write(&s, "main.lua", dl_read_x);
	char *argv[] = {lv_forkmon(), "run", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "x=one", 1);
	lv_run_ok(&s, "rm", "x.txt", NULL);
	lv_expect(&s, "x=missing", 1);
	ck_assert_int_eq(lv_changes(&s), 1);
	h_write(&s, "x.txt", "two\n");
	lv_expect(&s, "x=two", 1);
	h_sleep_ms(600);
	ck_assert_msg(lv_changes(&s) == 2, "%s", lv_out_tail(&s));
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	ck_assert_int_eq(h_count(&s, "is gone"), 0); /* the directory is still there */
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* Five files read in a row: the later ones have no checkpoint of their own, so a
 * deletion resumes from an earlier one, and the copy's look for the missing file is no
 * read its hook reports: its return must still resume. */
START_TEST(test_the_return_of_a_file_read_without_its_own_checkpoint_resumes)
{
	struct h_session s;
	h_init(&s);
	const char *names[] = {"a", "b", "c", "d", "e"};
	char name[16], body[16];
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof name, "%s.txt", names[i]);
		snprintf(body, sizeof body, "%s1\n", names[i]);
		h_write(&s, name, body);
	}
	h_write(&s, "main.lua", "local t = {}\n"
				"for _, n in ipairs({'a', 'b', 'c', 'd', 'e'}) do\n"
				"  local f = io.open(n .. '.txt')\n"
				"  t[#t + 1] = f and f:read('l') or (n .. '-missing')\n"
				"  if f then f:close() end\n"
				"end\n"
				"print('state ' .. table.concat(t, ' '))\n");
	char *argv[] = {lv_forkmon(), "run", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "state a1 b1 c1 d1 e1", 1);
	int before = 0;
	lv_run_ok(&s, "rm", "e.txt", NULL);
	before += lv_settles_on(&s, "state ", "state a1 b1 c1 d1 e-missing", 1, before, 2);
	h_write(&s, "e.txt", "e2\n");
	before += lv_settles_on(&s, "state ", "state a1 b1 c1 d1 e2", 1, before, 2);
	lv_run_ok(&s, "rm", "c.txt", "d.txt", NULL);
	before += lv_settles_on(&s, "state ", "state a1 b1 c-missing d-missing e2", 1, before, 2);
	h_write(&s, "d.txt", "d3\n");
	before += lv_settles_on(&s, "state ", "state a1 b1 c-missing d3 e2", 1, before, 2);
	h_write(&s, "c.txt", "c3\n");
	lv_settles_on(&s, "state ", "state a1 b1 c3 d3 e2", 1, before, 2);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* An editor's save that deletes or renames the file away and writes it anew is one
 * change of the new content, never a deletion then a creation. */
START_TEST(test_a_vim_save_with_a_backup_and_a_delete_then_write_are_one_change_each)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "x.txt", "one\n");
	h_write(&s, "main.lua", dl_read_x);
	char *argv[] = {lv_forkmon(), "run", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "x=one", 1);
	/* backupcopy=no: vim renames x.txt to x.txt~, writes a new x.txt, removes x.txt~. */
	lv_run_ok(&s, "vim", "-u", "NONE", "-i", "NONE", "-N", "-es", "-c", "set backup writebackup backupcopy=no",
		  "-c", "%s/one/two/", "-c", "wq", "x.txt", NULL);
	lv_expect(&s, "x=two", 1);
	h_sleep_ms(600);
	ck_assert_msg(lv_changes(&s) == 1, "%s", lv_out_tail(&s));
	lv_run_ok(&s, "sh", "-c", "rm x.txt; echo three > x.txt", NULL);
	lv_expect(&s, "x=three", 1);
	h_sleep_ms(600);
	ck_assert_msg(lv_changes(&s) == 2, "%s", lv_out_tail(&s));
	ck_assert_int_eq(h_count(&s, "x=missing"), 0);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* What tools and editors keep for themselves, and one file of the user's. */
static const char *const dl_ignored[] = {
	".git/HEAD", ".pytest_cache/v/cache/lastfailed", ".mypy_cache/3.11/m.data.json", "__pycache__/notes.txt",
	".main.lua.swp", "notes.txt~", ".#notes.txt",
};
#define DL_NIGNORED (sizeof dl_ignored / sizeof *dl_ignored)

static void dl_ignore_tree(struct h_session *s)
{
	lv_make_dir(s, ".git");
	lv_make_dir(s, ".pytest_cache");
	lv_make_dir(s, ".pytest_cache/v");
	lv_make_dir(s, ".pytest_cache/v/cache");
	lv_make_dir(s, ".mypy_cache");
	lv_make_dir(s, ".mypy_cache/3.11");
	lv_make_dir(s, "__pycache__");
	for (size_t i = 0; i < DL_NIGNORED; i++)
		h_write(s, dl_ignored[i], "v1\n");
	h_write(s, "data.txt", "d1\n");
	h_write(s, "main.lua", "print('startup')\n"
			       "local t = {}\n"
			       "for _, n in ipairs({'.git/HEAD', '.pytest_cache/v/cache/lastfailed',\n"
			       "    '.mypy_cache/3.11/m.data.json', '__pycache__/notes.txt', '.main.lua.swp',\n"
			       "    'notes.txt~', '.#notes.txt', 'data.txt'}) do\n"
			       "  local f = assert(io.open(n)); t[#t + 1] = f:read('l'); f:close()\n"
			       "end\n"
			       "print('read ' .. table.concat(t, ','))\n");
}

/* The watch line of a file of the session (static buffer). */
static const char *dl_watch_line(struct h_session *s, const char *name)
{
	static char line[PATH_MAX + 64];
	snprintf(line, sizeof line, "[forkmon] watch '%s'", h_file(s, name));
	return line;
}

static void dl_check_ignored(struct h_session *s, int watched)
{
	lv_expect(s, "read v1,v1,v1,v1,v1,v1,v1,d1", 1);
	lv_expect(s, dl_watch_line(s, "data.txt"), 1); /* the last read: the others came before */
	for (size_t i = 0; i < DL_NIGNORED; i++)
		ck_assert_msg(h_count(s, dl_watch_line(s, dl_ignored[i])) == watched, "%s watched %d times, not %d:\n%s",
			      dl_ignored[i], h_count(s, dl_watch_line(s, dl_ignored[i])), watched, lv_out_tail(s));
}

START_TEST(test_vcs_cache_and_swap_files_are_not_watched_by_default)
{
	struct h_session s;
	h_init(&s);
	dl_ignore_tree(&s);
	char *argv[] = {lv_forkmon(), "run", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	dl_check_ignored(&s, 0);
	h_write(&s, ".git/HEAD", "v2\n");
	h_write(&s, ".main.lua.swp", "v2\n");
	h_write(&s, ".pytest_cache/v/cache/lastfailed", "v2\n");
	h_sleep_ms(600); /* an edit there does nothing */
	ck_assert_msg(lv_changes(&s) == 0, "%s", lv_out_tail(&s));
	h_write(&s, "data.txt", "d2\n"); /* the session is alive: the user's file counts */
	lv_expect(&s, "read v2,v2,v1,v1,v2,v1,v1,d2", 1);
	ck_assert_int_eq(lv_changes(&s), 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_no_default_ignores_watches_them)
{
	struct h_session s;
	h_init(&s);
	dl_ignore_tree(&s);
	char *argv[] = {lv_forkmon(), "run", "--no-default-ignores", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	dl_check_ignored(&s, 1);
	h_write(&s, ".git/HEAD", "v2\n");
	lv_expect(&s, "read v2,v1,v1,v1,v1,v1,v1,d1", 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* The variable does what the option does, in forkmon run and in bare mode; bare mode
 * has the default ignores too. */
START_TEST(test_the_variable_and_bare_mode_follow_the_same_rule)
{
	struct h_session s;
	h_init(&s);
	dl_ignore_tree(&s);
	char *env[] = {"FORKMON_NO_DEFAULT_IGNORES=1", NULL};
	char *argv[] = {lv_forkmon(), "run", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, env);
	dl_check_ignored(&s, 1);
	lv_end_session(&s, SIGTERM, 0);

	char pre[4096];
	snprintf(pre, sizeof pre, "LD_PRELOAD=%s", h_path("build/forkmonhook.so"));
	char *bare[] = {"lua5.4", "main.lua", NULL};
	for (int off = 0; off < 2; off++) {
		h_init(&s);
		dl_ignore_tree(&s);
		char *benv[] = {pre, off ? "FORKMON_NO_DEFAULT_IGNORES=1" : NULL, NULL};
		h_start(&s, bare, benv);
		dl_check_ignored(&s, off);
		lv_end_session(&s, SIGTERM, 0);
	}
}
END_TEST

/* lib/ is replaced by a symlink to another directory (mv away, ln -s): the modules read
 * through the name are the other directory's from then on, a module first read after the
 * swap among them, and so are the files whose edits resume (the monitor keeps a
 * directory's real name only while it is the same directory: files.c). The old
 * directory, no longer read, is no longer a change. */
static const char dl_read_lib[] = "local function get(m)\n"
				  "  local ok, v = pcall(require, 'lib.' .. m)\n"
				  "  return ok and v or 'none'\n"
				  "end\n"
				  "print('state ' .. get('a') .. ' ' .. get('b'))\n";

START_TEST(test_a_directory_replaced_by_a_symlink_is_read_and_watched_through_it)
{
	struct h_session s;
	h_init(&s);
	lv_make_dir(&s, "lib");
	lv_make_dir(&s, "lib2");
	h_write(&s, "lib/a.lua", "return 'a1'\n");
	h_write(&s, "lib2/a.lua", "return 'a2'\n");
	h_write(&s, "lib2/b.lua", "return 'b2'\n");
	h_write(&s, "main.lua", dl_read_lib);
	char *argv[] = {lv_forkmon(), "run", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "state a1 none", 1);
	lv_run_ok(&s, "sh", "-c", "mv lib lib.old && ln -s lib2 lib", NULL);
	int before = lv_settles_on(&s, "state ", "state a2 b2", 1, 0, 3);
	h_write(&s, "lib2/b.lua", "return 'b3'\n");
	before += lv_settles_on(&s, "state ", "state a2 b3", 1, before, 1);
	h_write(&s, "lib.old/a.lua", "return 'old'\n");
	h_sleep_ms(600);
	ck_assert_msg(lv_changes(&s) == before, "an edit of the directory no longer read resumed:\n%s",
		      lv_out_tail(&s));
	ck_assert_int_eq(h_count(&s, "state a2 b3"), 1);
	ck_assert_msg(h_count(&s, "forkmon: cannot") == 0, "%s", lv_out_tail(&s));
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

Suite *deletions_suite(void)
{
	Suite *s = suite_create("deletions");
	TCase *tc = tcase_create("deletions");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_a_checkout_that_deletes_a_directory_shows_each_branch);
	tcase_add_test(tc, test_the_same_checkouts_by_polling);
	tcase_add_test(tc, test_rm_of_a_watched_file_resumes_and_so_does_its_return);
	tcase_add_test(tc, test_the_return_of_a_file_read_without_its_own_checkpoint_resumes);
	tcase_add_test(tc, test_a_directory_replaced_by_a_symlink_is_read_and_watched_through_it);
	tcase_add_test(tc, test_a_vim_save_with_a_backup_and_a_delete_then_write_are_one_change_each);
	tcase_add_test(tc, test_vcs_cache_and_swap_files_are_not_watched_by_default);
	tcase_add_test(tc, test_no_default_ignores_watches_them);
	tcase_add_test(tc, test_the_variable_and_bare_mode_follow_the_same_rule);
	suite_add_tcase(s, tc);
	return s;
}
