/*
 * tests/system/test_examples.c — the recipes of examples/: each runs its README's own
 * command line (the first ```sh block, line by line) under the built forkmon, on a copy
 * of its folder in the session's directory (the tree is never modified), edits a file
 * there the way editors save, and checks what survives the scheduler: the new output
 * appears, the start-up is not done again, no restart, nothing left.
 *
 * The command lines run in `sh -c` with build/ first on PATH (so `forkmon` and
 * `forkmon-client` are the built ones) and then a directory of the session holding
 * `python3` -> /usr/bin/python3 (Debian's, with python3-pytest; `python3` on these
 * machines' PATH is a pyenv shim). Python runs as a user's would: it writes its bytecode
 * caches (PYTHONDONTWRITEBYTECODE emptied, the harder case for pytest); output is
 * unbuffered (PYTHONUNBUFFERED=1), as a terminal's line buffering would be, since it
 * goes to a file here.
 *
 * System suite (examples). Shared helpers: live.h. The slow-cli test starts its own
 * helper (its own socket, the session's tag) and ends it by pid.
 */
#include "live.h"
#include "suites.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define EX_LINES 8

/* A recipe: its folder copied into a session, its README's command lines. */
struct ex {
	struct h_session s;
	char lines[EX_LINES][1024];
	int nlines;
	char pathvar[8192];
};

/* The first ```sh block of examples/NAME/README.md, a command per line. */
static void ex_read_lines(struct ex *e, const char *name)
{
	char rel[256];
	snprintf(rel, sizeof rel, "examples/%s/README.md", name);
	FILE *f = fopen(h_path(rel), "r");
	ck_assert_msg(f != NULL, "cannot read %s", rel);
	char line[1024];
	int in = 0;
	e->nlines = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!in) {
			in = !strcmp(line, "```sh");
			continue;
		}
		if (!strncmp(line, "```", 3))
			break;
		if (line[0] && e->nlines < EX_LINES)
			snprintf(e->lines[e->nlines++], sizeof e->lines[0], "%s", line);
	}
	fclose(f);
	ck_assert_msg(e->nlines > 0, "no ```sh block in %s", rel);
}

static void ex_init(struct ex *e, const char *name)
{
	h_init(&e->s);
	ex_read_lines(e, name);
	char src[4096], bin[4096];
	snprintf(src, sizeof src, "%s/examples/%s/.", h_top(), name);
	lv_run_ok(&e->s, "cp", "-R", src, e->s.dir, NULL);
	lv_make_dir(&e->s, ".python");
	char link[4096];
	snprintf(link, sizeof link, "%s/.python/python3", e->s.dir);
	ck_assert_int_eq(symlink("/usr/bin/python3", link), 0);
	ck_assert_ptr_nonnull(realpath(h_path("build"), bin));
	const char *path = getenv("PATH");
	snprintf(e->pathvar, sizeof e->pathvar, "PATH=%s:%s/.python:%s", bin, e->s.dir,
		 path ? path : "/usr/bin:/bin");
}

/* Starts line k of the recipe in the session (exec: forkmon is the session's process). */
static void ex_start(struct ex *e, int k)
{
	char script[1100];
	snprintf(script, sizeof script, "exec %s", e->lines[k]);
	char *env[] = {e->pathvar, "PYTHONDONTWRITEBYTECODE=", "PYTHONUNBUFFERED=1", NULL};
	char *argv[] = {"/bin/sh", "-c", script, NULL};
	h_start(&e->s, argv, env);
}

/* forkmon's line for a resume from the read of file, exactly count times by now. */
static void ex_resumed(struct ex *e, const char *file, int count)
{
	char line[4096];
	snprintf(line, sizeof line, "[forkmon] file '%s' changed, resuming from it", h_file(&e->s, file));
	lv_expect_exactly(&e->s, line, count);
	lv_expect_none(&e->s, "restarting");
}

/* forkmon's line for a resume after a change of file, from its read or an earlier one
 * (the spacing may have left a read a few microseconds after another without a
 * checkpoint of its own), exactly count times by now. */
static void ex_resumed_from_some(struct ex *e, const char *file, int count)
{
	char line[4096];
	snprintf(line, sizeof line, "[forkmon] file '%s' changed, resuming from ", h_file(&e->s, file));
	lv_expect_exactly(&e->s, line, count);
	lv_expect_none(&e->s, "restarting");
}

START_TEST(test_lua_modules_recipe_resumes_after_the_start_up)
{
	struct ex e;
	ex_init(&e, "lua-modules");
	ex_start(&e, 0);
	lv_expect(&e.s, "hello, world!", 1);
	h_write_rename(&e.s, "lib/greet.lua", "local M = {}\n"
					      "function M.message(who) return 'good morning, ' .. who end\n"
					      "return M\n");
	lv_expect(&e.s, "good morning, world!", 1);
	ex_resumed(&e, "lib/greet.lua", 1);
	h_write(&e.s, "lib/style.lua", "local M = {}\n"
				       "function M.shout(text) return text:upper() .. '!!!' end\n"
				       "return M\n");
	lv_expect(&e.s, "GOOD MORNING, WORLD!!!", 1);
	/* read a few microseconds after lib/greet.lua, with nothing shown between: the
	 * checkpoint there serves it, unless that little took longer than a checkpoint */
	char it[4096], greet[8192], any[4096];
	snprintf(any, sizeof any, "[forkmon] file '%s' changed, resuming from", h_file(&e.s, "lib/style.lua"));
	lv_expect(&e.s, any, 1);
	snprintf(it, sizeof it, "%s", lv_resume_line(&e.s, "lib/style.lua"));
	snprintf(greet, sizeof greet, "%s", lv_resume_from_line(&e.s, "lib/style.lua", "lib/greet.lua"));
	ck_assert_msg(h_count(&e.s, it) + h_count(&e.s, greet) == 1, "no resume for lib/style.lua:\n%s",
		      lv_out_tail(&e.s));
	lv_expect_none(&e.s, "restarting");
	lv_assert_count(&e.s, "loading the word list", 1);
	lv_assert_count(&e.s, "loaded 500000 entries", 1);
	lv_end_session(&e.s, SIGTERM, 0);
}
END_TEST

static const char stats_fixed[] = "def mean(xs):\n    return sum(xs) / len(xs)\n\n\n"
				  "def median(xs):\n    s = sorted(xs)\n    n = len(s)\n"
				  "    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2\n";

START_TEST(test_pytest_recipe_shows_the_new_result_of_the_edited_module)
{
	struct ex e;
	ex_init(&e, "pytest-package");
	ex_start(&e, 0);
	lv_expect(&e.s, "1 failed, 2 passed", 1);
	h_write_rename(&e.s, "calc/stats.py", stats_fixed); /* the fix */
	lv_expect(&e.s, "3 passed", 1);
	ex_resumed(&e, "calc/stats.py", 1);
	/* broken again, saved in place (and longer: Python's cache check is size + seconds) */
	h_write(&e.s, "calc/stats.py", "def mean(xs):\n    return sum(xs) / len(xs)\n\n\n"
				       "def median(xs):\n    return sorted(xs)[len(xs) // 2]  # broken again\n");
	lv_expect(&e.s, "1 failed, 2 passed", 2);
	ex_resumed(&e, "calc/stats.py", 2);
	lv_assert_count(&e.s, "3 passed", 1);
	/* the test, calc/__init__.py, calc/stats.py, and .python/python3, which Python
	 * stat()s to find itself (a look: watched too) */
	lv_expect_exactly(&e.s, "[forkmon] watch '", 4);
	struct stat st;
	ck_assert_msg(stat(h_file(&e.s, ".pytest_cache"), &st) != 0, "pytest wrote its cache");
	lv_end_session(&e.s, SIGTERM, 0);
}
END_TEST

START_TEST(test_tcc_recipe_recompiles_from_the_edited_header)
{
	struct ex e;
	ex_init(&e, "tcc-headers");
	ex_start(&e, 0);
	lv_expect(&e.s, "3 rows of '*'", 1);
	lv_expect_exactly(&e.s, "[forkmon] watch '", 3); /* main.c and its two local headers */
	h_write(&e.s, "config.h", "#define ROWS 5\n#define SYMBOL \"#\"\n");
	lv_expect(&e.s, "5 rows of '#'", 1);
	lv_assert_count(&e.s, "#####\n", 1);
	/* config.h is read right after main.c: its first save may resume from there */
	ex_resumed_from_some(&e, "config.h", 1);
	h_write_rename(&e.s, "config.h", "#define ROWS 2\n#define SYMBOL \"ab\"\n");
	lv_expect(&e.s, "2 rows of 'ab'", 1);
	lv_assert_count(&e.s, "abab\n", 1);
	ex_resumed_from_some(&e, "config.h", 2);
	lv_assert_between(&e.s, lv_resume_line(&e.s, "config.h"), 1, 2); /* changed once: from it */
	lv_end_session(&e.s, SIGTERM, 0);
}
END_TEST

START_TEST(test_shell_build_recipe_rebuilds_without_the_slow_step)
{
	struct ex e;
	ex_init(&e, "shell-build");
	ex_start(&e, 0);
	lv_expect(&e.s, "build: 2 pages", 1);
	h_write_rename(&e.s, "pages.txt", "index|Welcome\nabout|About us\nnews|Latest news\n");
	lv_expect(&e.s, "build: 3 pages", 1);
	lv_assert_count(&e.s, "page news.html: <h1>Latest news</h1>", 1);
	ex_resumed(&e, "pages.txt", 1);
	h_write(&e.s, "pages.txt", "index|Home\n");
	lv_expect(&e.s, "build: 1 pages", 1);
	lv_assert_count(&e.s, "page index.html: <h1>Home</h1>", 1);
	ex_resumed(&e, "pages.txt", 2);
	lv_assert_count(&e.s, "build: preparing", 1);
	lv_end_session(&e.s, SIGTERM, 0);
}
END_TEST

/* ---- the helper recipe ------------------------------------------------------------ */

/* Starts `forkmon helper --socket SOCK` as the test's child, with the session's tag, in
 * a session of its own (as the client would start it), and waits until it listens. */
static pid_t ex_helper(struct ex *e, const char *sock, const char *log)
{
	char fm[4096], tag[128];
	snprintf(fm, sizeof fm, "%s", lv_forkmon());
	snprintf(tag, sizeof tag, "FORKMON_TEST_TAG=%s", e->s.tag);
	pid_t parent = getpid(), pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setsid();
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(126);
		int null = open("/dev/null", O_RDWR);
		int err = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(null, 0);
		dup2(null, 1);
		dup2(err >= 0 ? err : null, 2);
		putenv(tag);
		unsetenv("LD_PRELOAD");
		if (chdir("/") < 0)
			_exit(126);
		execl(fm, "forkmon", "helper", "--socket", sock, (char *)NULL);
		_exit(127);
	}
	double end = h_clock() + LV_WAIT;
	struct stat st;
	while (stat(sock, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		ck_assert_msg(h_clock() < end, "no helper listens on %s", sock);
		h_sleep_ms(5); /* polling */
	}
	return pid;
}

/* Runs line k to its end (status 0); returns what it printed, in out, and its time. */
static double ex_call(struct ex *e, int k, char *const env[], char *out, size_t len)
{
	size_t before = strlen(h_output(&e->s));
	char *argv[] = {"/bin/sh", "-c", e->lines[k], NULL};
	char *envs[8] = {e->pathvar, "PYTHONDONTWRITEBYTECODE=", "PYTHONUNBUFFERED=1", env[0], env[1], NULL};
	double t0 = h_clock();
	h_start(&e->s, argv, envs);
	ck_assert_msg(h_wait_exit(&e->s, LV_WAIT), "'%s' did not finish:\n%s", e->lines[k], lv_out_tail(&e->s));
	double t = h_clock() - t0;
	ck_assert_msg(WIFEXITED(e->s.status) && WEXITSTATUS(e->s.status) == 0, "'%s': status 0x%x:\n%s",
		      e->lines[k], e->s.status, lv_out_tail(&e->s));
	snprintf(out, len, "%s", h_output(&e->s) + before);
	return t;
}

/* Ends the helper by its pid (with it its sessions and checkpoints); nothing is left. */
static void ex_helper_end(struct ex *e, pid_t helper)
{
	kill(helper, SIGTERM);
	waitpid(helper, NULL, 0);
	if (!h_none_left(&e->s, 20)) {
		const char *left = h_describe(&e->s);
		pid_t pids[64];
		int n = h_procs(&e->s, pids, 64);
		for (int i = 0; i < n && i < 64; i++)
			kill(pids[i], SIGKILL); /* only this test's, by its tag */
		ck_abort_msg("processes left after the helper ended:\n%s", left);
	}
	h_cleanup(&e->s);
}

START_TEST(test_slow_cli_recipe_is_served_warm_through_its_masquerade_link)
{
	struct ex e;
	ex_init(&e, "slow-cli");
	ck_assert_int_eq(e.nlines, 4); /* the link, two calls through it, a direct run */
	char sock[4200], sockvar[4300], log[4200], logvar[4300];
	snprintf(sock, sizeof sock, "%s/run", e.s.dir);
	ck_assert_int_eq(mkdir(sock, 0700), 0);
	snprintf(sock, sizeof sock, "%s/run/helper.sock", e.s.dir);
	snprintf(log, sizeof log, "%s/helper.log", e.s.dir);
	snprintf(sockvar, sizeof sockvar, "FORKMON_HELPER_SOCKET=%s", sock);
	snprintf(logvar, sizeof logvar, "FORKMON_HELPER_LOG=%s", log);
	char *env[] = {sockvar, logvar};
	pid_t helper = ex_helper(&e, sock, log);
	static char link[4096], cold[4096], warm[4096], direct[4096], again[4096];
	ex_call(&e, 0, env, link, sizeof link);
	double t_cold = ex_call(&e, 1, env, cold, sizeof cold);
	double t_warm = ex_call(&e, 2, env, warm, sizeof warm);
	ex_call(&e, 3, env, direct, sizeof direct);
	ck_assert_msg(strstr(direct, "   5 the\n") != NULL, "direct run:\n%s", direct);
	ck_assert_str_eq(cold, direct);
	ck_assert_str_eq(warm, direct);
	/* a run that sleeps 0.5 s cannot end sooner: the warm one skipped the start-up */
	ck_assert_msg(t_warm < 0.5 && t_warm < t_cold, "warm call %.3f s, cold %.3f s", t_warm, t_cold);
	/* the input is read after the checkpoint: the warm copy reads it as it is now */
	h_write_rename(&e.s, "sample.txt", "zebra zebra zebra zebra zebra zebra the\n");
	ex_call(&e, 2, env, again, sizeof again);
	ck_assert_str_eq(again, "   6 zebra\n   1 the\n");
	ex_helper_end(&e, helper);
}
END_TEST

Suite *examples_suite(void)
{
	Suite *s = suite_create("examples");
	TCase *tc = tcase_create("recipes");
	tcase_set_timeout(tc, 300); /* per test; each takes seconds at most when all is well */
	tcase_add_test(tc, test_lua_modules_recipe_resumes_after_the_start_up);
	tcase_add_test(tc, test_pytest_recipe_shows_the_new_result_of_the_edited_module);
	tcase_add_test(tc, test_tcc_recipe_recompiles_from_the_edited_header);
	tcase_add_test(tc, test_shell_build_recipe_rebuilds_without_the_slow_step);
	tcase_add_test(tc, test_slow_cli_recipe_is_served_warm_through_its_masquerade_link);
	suite_add_tcase(s, tc);
	return s;
}
