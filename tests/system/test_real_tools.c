/*
 * tests/system/test_real_tools.c — forkmon under the everyday tools of issue 10: a real
 * `git checkout` rewriting 150 modules at once, a hundred files saved together, no
 * inotify instance (or watch) left for the user, and Python's and Perl's own output
 * buffers. Suite "real-tools", in the system suite; runs in the test's process (Check
 * forks one per test), the sessions are the harness's (harness.h, live.h).
 *
 * Python and Perl run with PYTHONUNBUFFERED, PERLIO and PERL5OPT removed from the
 * environment (the test runner's may set them): what they buffer is then forkmon's. git runs
 * with no system or global configuration, its identity on the command line, so it
 * behaves the same on a fresh machine.
 */
#include "suites.h"

#include "harness.h"
#include "live.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RT_MODULES 150
#define RT_SAVED 100

/* The interpreters' own buffering, as a user's shell has it by default. */
static void rt_plain_env(void)
{
	unsetenv("PYTHONUNBUFFERED");
	unsetenv("PERLIO");
	unsetenv("PERL5OPT");
}

/* git in the session's directory, configured by nothing but its arguments. */
#define RT_GIT(s, ...)                                                                                     \
	lv_run_ok(s, "env", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=/nonexistent",    \
		  "git", "-c", "user.name=forkmon test", "-c", "user.email=test@forkmon.invalid", "-c",      \
		  "init.defaultBranch=main", __VA_ARGS__, NULL)

/* Every module m/mNNN.lua returns the branch's name. */
static void rt_write_modules(struct h_session *s, const char *branch)
{
	char name[64], body[64];
	for (int i = 1; i <= RT_MODULES; i++) {
		snprintf(name, sizeof name, "m/m%03d.lua", i);
		snprintf(body, sizeof body, "return '%s'\n", branch);
		h_write(s, name, body);
	}
}

/* A repository on branch main, with a branch feat where every module differs. The
 * program reads them from m041 on, round to m040: git writes them in name order, so the
 * earliest read is none of the first or last few written (a table that kept only some
 * files of a change would leave the others stale). */
static void rt_two_branches(struct h_session *s)
{
	lv_make_dir(s, "m");
	rt_write_modules(s, "main");
	h_write(s, "app.lua", "print('startup')\n"
			      "local c = {main = 0, feat = 0}\n"
			      "for i = 0, 149 do\n"
			      "  local v = dofile(string.format('m/m%03d.lua', (i + 40) % 150 + 1))\n"
			      "  c[v] = c[v] + 1\n"
			      "end\n"
			      "print(string.format('state feat=%d main=%d', c.feat, c.main))\n");
	RT_GIT(s, "init", "-q");
	RT_GIT(s, "add", "-A");
	RT_GIT(s, "commit", "-q", "-m", "main");
	RT_GIT(s, "checkout", "-q", "-b", "feat");
	rt_write_modules(s, "feat");
	RT_GIT(s, "commit", "-q", "-a", "-m", "feat");
	RT_GIT(s, "checkout", "-q", "main");
}

/* The status lines of changes so far ("file '...' changed, resuming/restarting"). */
START_TEST(test_a_git_checkout_of_150_modules_shows_the_whole_new_branch)
{
	struct h_session s;
	h_init(&s);
	rt_two_branches(&s);
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "app.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "state feat=0 main=150", 1);
	RT_GIT(&s, "checkout", "-q", "feat");
	int n = lv_settles_on(&s, "state ", "state feat=150 main=0", 1, 0, 3);
	/* One change: it names the checkout's files together (all 150, unless some came
	 * after the copy had read them already: those it read new, and need no change). */
	if (n == 1)
		ck_assert_msg(h_count(&s, " more) changed") == 1, "%s", lv_out_tail(&s));
	int before = lv_changes(&s);
	RT_GIT(&s, "checkout", "-q", "main");
	lv_settles_on(&s, "state ", "state feat=0 main=150", 1, before, 3);
	ck_assert_int_le(h_count(&s, "startup"), 3); /* resumed, not restarted each time */
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_100_files_saved_together_all_count_in_python)
{
	rt_plain_env();
	struct h_session s;
	h_init(&s);
	lv_make_dir(&s, "m");
	char name[64];
	for (int i = 0; i < RT_SAVED; i++) {
		snprintf(name, sizeof name, "m/f%03d.txt", i);
		h_write(&s, name, "old\n");
	}
	h_write(&s, "app.py", "print('startup')\n"
			      "n = {'old': 0, 'new': 0}\n"
			      "for i in range(100):\n"
			      "    with open('m/f%03d.txt' % i) as f:\n"
			      "        n[f.read().strip()] += 1\n"
			      "print('state new=%d old=%d' % (n['new'], n['old']))\n");
	char *env[] = {"PYTHONDONTWRITEBYTECODE=1", NULL};
	char *argv[] = {lv_forkmon(), "run", "-f", "%.txt$", "--", "/usr/bin/python3", "app.py", NULL};
	h_start(&s, argv, env);
	lv_expect(&s, "state new=0 old=100", 1);
	/* One program saves them all at once, as a "save all" or a formatter does. */
	lv_run_ok(&s, "/usr/bin/python3", "-c",
		  "for i in range(100):\n"
		  "    with open('m/f%03d.txt' % i, 'w') as f: f.write('new\\n')\n",
		  NULL);
	int n = lv_settles_on(&s, "state ", "state new=100 old=0", 1, 0, 3);
	if (n == 1)
		ck_assert_int_eq(h_count(&s, "(and 99 more) changed"), 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* ---- no inotify left for the user ------------------------------------------- */

/* Can we make a user namespace of our own (where inotify limits are private)? */
static int rt_userns_ok(struct h_session *s)
{
	char *argv[] = {"unshare", "-Ur", "true", NULL};
	int st = h_run(s, argv);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	fprintf(stderr, "real-tools: no user namespace here, inotify limit test skipped\n");
	return 0;
}

/*
 * forkmon in a user namespace of its own whose limit `knob` (/proc/sys/user/...) is 0:
 * its inotify instances or watches are used up there and only there (the machine's
 * limits, those of the initial namespace, are never touched). The program must run, one
 * line say why files are polled, and an edit still resume.
 */
static void rt_without_inotify(const char *knob, const char *line)
{
	struct h_session s;
	h_init(&s);
	if (!rt_userns_ok(&s)) {
		h_cleanup(&s);
		return;
	}
	h_write(&s, "main.lua", "print('startup')\nprint('value=' .. dofile('mod.lua'))\n");
	h_write(&s, "mod.lua", "return 1\n");
	char script[8192];
	snprintf(script, sizeof script, "echo 0 > /proc/sys/user/%s && exec %s run -f '%%.lua$' -- lua5.4 main.lua",
		 knob, lv_forkmon());
	char *argv[] = {"unshare", "-Ur", "sh", "-c", script, NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "value=1", 1);
	h_write(&s, "mod.lua", "return 2\n");
	lv_expect(&s, "value=2", 1);
	h_write_rename(&s, "mod.lua", "return 3\n");
	lv_expect(&s, "value=3", 1);
	ck_assert_msg(h_count(&s, line) == 1, "wanted once: %s\n%s", line, lv_out_tail(&s));
	ck_assert_int_eq(h_count(&s, "forkmon: "), 1); /* that line, and no other complaint */
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	lv_expect_exactly(&s, lv_resume_line(&s, "mod.lua"), 2);
	lv_end_session(&s, SIGTERM, 0);
}

START_TEST(test_out_of_inotify_instances_the_program_runs_and_edits_resume_by_polling)
{
	rt_without_inotify("max_inotify_instances",
			   "forkmon: the user's inotify instances are used up (0): watching by polling every 250 ms\n");
}
END_TEST

START_TEST(test_out_of_inotify_watches_the_program_runs_and_edits_resume_by_polling)
{
	rt_without_inotify("max_inotify_watches", "forkmon: the user's inotify watches are used up (0): "
						  "watching further directories by polling every 250 ms\n");
}
END_TEST

/* ---- interpreters' output buffers ------------------------------------------- */

/* A program, its module, and how to run it. */
struct rt_prog {
	const char *main, *main_body; /* the program's file and text */
	const char *module, *fmt;     /* the module it reads; its text, %s: the value */
	char *cmd[4];                 /* the command, after `forkmon run -f ... --` */
};

/*
 * The program prints a header (buffered, unless forkmon says otherwise: its output is a
 * file or a pipe), then reads a watched module, then prints value=V. After an edit of the
 * module, the new value is printed once, and the header `headers` times in all (once:
 * forkmon's default; the user's own setting may say otherwise), showing `seen`: the
 * interpreter's variable as the program saw it.
 */
static void rt_header_once(const struct rt_prog *pr, char *const env[], int to_pipe, const char *seen, int headers)
{
	struct h_session s;
	h_init(&s);
	char body[256];
	h_write(&s, pr->main, pr->main_body);
	snprintf(body, sizeof body, pr->fmt, "first");
	h_write(&s, pr->module, body);
	int p[2] = {-1, -1};
	pid_t copier = -1;
	if (to_pipe) {
		ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
		copier = h_copier(&s, p[0]);
		close(p[0]);
	}
	char *argv[12] = {lv_forkmon(), "run", "-f", "%.p[ly]$", "--"};
	for (int i = 0; pr->cmd[i]; i++)
		argv[5 + i] = pr->cmd[i];
	h_start_io(&s, argv, env, -1, to_pipe ? p[1] : -1);
	if (to_pipe)
		close(p[1]);
	lv_expect(&s, "value=first", 1);
	snprintf(body, sizeof body, pr->fmt, "second");
	h_write_rename(&s, pr->module, body);
	lv_expect(&s, "value=second", 1);
	/* A header written out (unbuffered) keeps the module its checkpoint: a resume from
	 * before would print it again. One the interpreter holds is printed by each copy
	 * whichever checkpoint it came from, and the main file's may serve the module when
	 * the little work between took less than that checkpoint (a slow fork: the
	 * sanitizers' build). */
	if (headers == 1)
		lv_expect_exactly(&s, lv_resume_line(&s, pr->module), 1);
	else {
		char any[4096];
		snprintf(any, sizeof any, "[forkmon] file '%s' changed, resuming from", h_file(&s, pr->module));
		lv_expect_exactly(&s, any, 1);
		int from_it = h_count(&s, lv_resume_line(&s, pr->module));
		int from_main = h_count(&s, lv_resume_from_line(&s, pr->module, pr->main));
		ck_assert_msg(from_it + from_main == 1, "resumed from neither:\n%s", lv_out_tail(&s));
	}
	lv_stop_session(&s, SIGTERM, 0);
	if (copier > 0) {
		int st;
		ck_assert_int_eq(waitpid(copier, &st, 0), copier); /* every writer of the pipe is gone */
	}
	ck_assert_msg(h_count(&s, "header") == headers, "%d headers, wanted %d:\n%s", h_count(&s, "header"),
		      headers, lv_out_tail(&s));
	ck_assert_msg(h_count(&s, seen) == headers, "wanted '%s':\n%s", seen, lv_out_tail(&s));
	ck_assert_int_eq(h_count(&s, "value=first"), 1);
	ck_assert_int_eq(h_count(&s, "value=second"), 1);
	h_cleanup(&s);
}

static const struct rt_prog rt_python = {
	.main = "app.py",
	.main_body = "import os, sys\n"
		     /* one write of a whole line, buffered or not: a status line never lands in it */
		     "sys.stdout.write('header %r\\n' % (os.environ.get('PYTHONUNBUFFERED'),))\n"
		     "with open('mod.py') as f:\n"
		     "    exec(f.read())\n"
		     "print('value=' + V)\n",
	.module = "mod.py",
	.fmt = "V = '%s'\n",
	.cmd = {"/usr/bin/python3", "app.py", NULL},
};

static const struct rt_prog rt_perl = {
	.main = "main.pl",
	/* the layers of a file it reads: forkmon's switch leaves reading buffered */
	.main_body = "open my $in, '<', '/dev/null' or die;\n"
		     "my $layers = join ',', PerlIO::get_layers($in);\n"
		     "close $in;\n"
		     "print 'header ', ($ENV{PERLIO} // 'unset'), ' ', ($ENV{PERL5OPT} // 'unset'), \" $layers\\n\";\n"
		     "require './lib.pl';\n"
		     "print 'value=', value(), \"\\n\";\n",
	.module = "lib.pl",
	.fmt = "sub value { '%s' }\n1;\n",
	.cmd = {"perl", "main.pl", NULL},
};

static char *rt_no_bytecode[] = {"PYTHONDONTWRITEBYTECODE=1", NULL};

START_TEST(test_python_to_a_pipe_prints_its_header_once)
{
	rt_plain_env();
	rt_header_once(&rt_python, rt_no_bytecode, 1, "header '1'\n", 1);
}
END_TEST

START_TEST(test_python_to_a_file_prints_its_header_once)
{
	rt_plain_env();
	rt_header_once(&rt_python, rt_no_bytecode, 0, "header '1'\n", 1);
}
END_TEST

START_TEST(test_perl_to_a_file_prints_its_header_once)
{
	rt_plain_env();
	rt_header_once(&rt_perl, NULL, 0, "header unset -Mstrict();BEGIN{$|=1} unix,perlio\n", 1);
}
END_TEST

START_TEST(test_perl_to_a_pipe_prints_its_header_once)
{
	rt_plain_env();
	rt_header_once(&rt_perl, NULL, 1, "header unset -Mstrict();BEGIN{$|=1} unix,perlio\n", 1);
}
END_TEST

/* The user's own value is theirs, whatever it is: forkmon does not replace it. */
START_TEST(test_a_pythonunbuffered_the_user_set_is_kept_even_0)
{
	rt_plain_env();
	char *env[] = {"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=0", NULL};
	/* The program sees the user's '0', not forkmon's '1': Python reads it as a number,
	 * 0 keeps the buffer, and each copy prints the header it held at the fork. */
	rt_header_once(&rt_python, env, 0, "header '0'\n", 2);
}
END_TEST

START_TEST(test_a_perlio_the_user_set_is_kept_even_buffered)
{
	rt_plain_env();
	/* Buffered on the user's word: each copy prints the header it held at the fork. */
	char *env[] = {"PERLIO=:perlio", NULL};
	rt_header_once(&rt_perl, env, 0, "header :perlio unset unix,perlio\n", 2);
}
END_TEST

START_TEST(test_a_perl5opt_the_user_set_is_kept)
{
	rt_plain_env();
	char *env[] = {"PERL5OPT=-Mwarnings", NULL};
	rt_header_once(&rt_perl, env, 0, "header unset -Mwarnings unix,perlio\n", 2);
}
END_TEST

Suite *real_tools_suite(void)
{
	Suite *s = suite_create("real-tools");
	TCase *tc = tcase_create("real tools");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_a_git_checkout_of_150_modules_shows_the_whole_new_branch);
	tcase_add_test(tc, test_100_files_saved_together_all_count_in_python);
	tcase_add_test(tc, test_out_of_inotify_instances_the_program_runs_and_edits_resume_by_polling);
	tcase_add_test(tc, test_out_of_inotify_watches_the_program_runs_and_edits_resume_by_polling);
	tcase_add_test(tc, test_python_to_a_pipe_prints_its_header_once);
	tcase_add_test(tc, test_python_to_a_file_prints_its_header_once);
	tcase_add_test(tc, test_perl_to_a_file_prints_its_header_once);
	tcase_add_test(tc, test_perl_to_a_pipe_prints_its_header_once);
	tcase_add_test(tc, test_a_pythonunbuffered_the_user_set_is_kept_even_0);
	tcase_add_test(tc, test_a_perlio_the_user_set_is_kept_even_buffered);
	tcase_add_test(tc, test_a_perl5opt_the_user_set_is_kept);
	suite_add_tcase(s, tc);
	return s;
}
