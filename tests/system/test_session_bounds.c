/*
 * tests/system/test_session_bounds.c — nothing of a session outlives it, and its stdin is
 * the same for every copy. Real programs (lua5.4, python3 without PYTHONUNBUFFERED, sh):
 *   - subprocesses at depth 2-3, background sleeps and a daemon that double-forked
 *     through setsid() are all gone after SIGKILL of forkmon's top process, SIGKILL of
 *     its monitor, SIGTERM, a hangup of its process group;
 *   - stdin from a pipe: every copy (a checkpoint before the first read of stdin, one
 *     after reading part of it) reads the same bytes, the end of stdin included, even
 *     when it comes after the checkpoint; stdin from a file: each copy reads from where
 *     its checkpoint stood.
 *
 * System suite (session-bounds). Shared helpers: live.h. Runs in the test's own process.
 */
#include "live.h"
#include "suites.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- nothing outlives the session --------------------------------------------------- */

/* Lua: os.execute at depth 2 and 3, a script's background sleeps, a blocking sleep. */
static const char lua_spawner[] = "local v = dofile('mod.lua')\n"
				  "os.execute('sh bg.sh')\n"
				  "print('v=' .. v .. ' started')\n"
				  "io.stdout:flush()\n"
				  "os.execute('sleep 302')\n";
static const char lua_bg[] = "sleep 300 &\nsh -c 'sh -c \"sleep 301\" & sleep 301' &\n";

/* Python: subprocesses, a shell's background job, a daemon (fork, setsid, fork). */
static const char py_spawner[] = "import os, subprocess, time\n"
				 "v = open('v.txt').read().strip()\n"
				 "subprocess.Popen(['sleep', '300'])\n"
				 "subprocess.Popen(['sh', '-c', 'sh -c \"sleep 301\" & sleep 301'])\n"
				 "if os.fork() == 0:\n"
				 "    os.setsid()\n"
				 "    if os.fork() == 0:\n"
				 "        os.execvp('sleep', ['sleep', '303'])\n"
				 "    os._exit(0)\n"
				 "os.wait()\n"
				 "print('v=' + v + ' started')\n"
				 "time.sleep(300)\n";

enum ender { KILL_TOP, KILL_MONITOR, TERM_TOP, HUP_GROUP };

/* Polls until at least n processes carry the session's tag. */
static int at_least(struct h_session *s, int n)
{
	double end = h_clock() + LV_WAIT;
	while (h_left(s) < n && h_clock() < end)
		h_sleep_ms(20);
	return h_left(s) >= n;
}

/* After a failure: what forkmon left, ended by pid (each carries this test's tag). */
static void kill_left(struct h_session *s)
{
	pid_t pids[256];
	for (int round = 0; round < 50 && h_left(s) > 0; round++) {
		int n = h_procs(s, pids, 256);
		for (int i = 0; i < n && i < 256; i++)
			kill(pids[i], SIGKILL);
		h_sleep_ms(20);
	}
}

/* The session of a program that starts subprocesses (`want`: how many processes of the
 * session there are then, at least), resumed once, then ended by `how`. */
static void bounds_scenario(int python, enum ender how, int want)
{
	struct h_session s;
	h_init(&s);
	unsetenv("PYTHONUNBUFFERED");
	if (python) {
		h_write(&s, "main.py", py_spawner);
		h_write(&s, "v.txt", "1\n");
	} else {
		h_write(&s, "main.lua", lua_spawner);
		h_write(&s, "mod.lua", "return 1\n");
		h_write(&s, "bg.sh", lua_bg);
	}
	char *pyv[] = {lv_forkmon(), "run", "-f", "%.txt$", "--", "/usr/bin/python3", "main.py", NULL};
	char *luav[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, python ? pyv : luav, NULL);
	lv_expect(&s, "v=1 started", 1);
	h_write(&s, python ? "v.txt" : "mod.lua", python ? "2\n" : "return 2\n");
	lv_expect(&s, "v=2 started", 1);
	/* guard, monitor, run, a checkpoint, and the program's own processes */
	ck_assert_msg(at_least(&s, want), "only %d processes:\n%s", h_left(&s), h_describe(&s));
	double t0 = h_clock();
	int sig = how == HUP_GROUP ? SIGHUP : how == TERM_TOP ? SIGTERM : SIGKILL;
	if (how == KILL_MONITOR) {
		pid_t mon = lv_monitor_of(s.pid);
		ck_assert_int_ne(mon, s.pid);
		kill(mon, SIGKILL);
		ck_assert(h_wait_exit(&s, LV_WAIT));
	} else {
		s.status = h_stop(&s, sig, how == HUP_GROUP);
	}
	ck_assert_msg(WIFSIGNALED(s.status) && WTERMSIG(s.status) == sig, "forkmon ended with status 0x%x",
		      s.status);
	if (!h_none_left(&s, 10)) {
		char what[4096];
		snprintf(what, sizeof what, "%s", h_describe(&s));
		int n = h_left(&s);
		double took = h_clock() - t0;
		kill_left(&s);
		h_cleanup(&s);
		ck_abort_msg("%d processes left %.2f s after the end:\n%s", n, took, what);
	}
	h_cleanup(&s);
}

START_TEST(test_sigkill_of_the_top_process_ends_every_lua_subprocess)
{
	bounds_scenario(0, KILL_TOP, 7);
}
END_TEST

START_TEST(test_sigkill_of_the_top_process_ends_every_python_subprocess_and_daemon)
{
	bounds_scenario(1, KILL_TOP, 8);
}
END_TEST

START_TEST(test_sigkill_of_the_monitor_ends_every_subprocess_and_daemon)
{
	bounds_scenario(1, KILL_MONITOR, 8);
}
END_TEST

START_TEST(test_sigterm_of_the_top_process_ends_every_subprocess)
{
	bounds_scenario(0, TERM_TOP, 7);
}
END_TEST

START_TEST(test_hangup_of_the_job_ends_every_subprocess_and_daemon)
{
	bounds_scenario(1, HUP_GROUP, 8);
}
END_TEST

/* A subprocess that ignores SIGTERM, and a grace period (-g) of 60 s: SIGKILL of the top
 * process ends it at once all the same (whoever killed forkmon wants the session gone
 * now), so that it is gone well within the 20 s the test waits. */
START_TEST(test_sigkill_of_the_top_process_ends_a_term_ignoring_subprocess_without_the_grace)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.lua", lua_spawner);
	h_write(&s, "mod.lua", "return 1\n");
	h_write(&s, "bg.sh", "sh -c \"trap '' TERM; exec sleep 305\" &\n");
	char *argv[] = {lv_forkmon(), "run", "-g", "60000", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "v=1 started", 1);
	ck_assert_msg(at_least(&s, 5), "only %d processes:\n%s", h_left(&s), h_describe(&s));
	s.status = h_stop(&s, SIGKILL, 0);
	if (!h_none_left(&s, LV_WAIT)) {
		char what[4096];
		snprintf(what, sizeof what, "%s", h_describe(&s));
		kill_left(&s);
		h_cleanup(&s);
		ck_abort_msg("processes left after SIGKILL of the top process:\n%s", what);
	}
	h_cleanup(&s);
}
END_TEST

/* ---- stdin, the same for every copy ----------------------------------------------- */

/* Starts argv with stdin from a new pipe; returns its write end. */
static int start_piped(struct h_session *s, char *const argv[])
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0); /* the write end is the test's alone */
	h_start_io(s, argv, NULL, p[0], -1);
	close(p[0]);
	return p[1];
}

static void put(int fd, const char *text)
{
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

/* Three edits, each resumed: every copy prints `line` (with v=K) once. */
static void stdin_edits(struct h_session *s, const char *file, const char *fmt_content, const char *fmt_line)
{
	char content[64], line[128];
	for (int k = 1; k <= 3; k++) {
		if (k > 1) {
			snprintf(content, sizeof content, fmt_content, k);
			h_write(s, file, content);
		}
		snprintf(line, sizeof line, fmt_line, k);
		lv_expect_exactly(s, line, 1);
	}
	lv_expect_exactly(s, lv_resume_line(s, file), 2);
}

START_TEST(test_piped_stdin_is_read_whole_by_every_copy_from_a_checkpoint_before_it)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "count.lua", "local v = dofile('mod.lua')\nlocal n = 0\n"
				 "for _ in io.lines() do n = n + 1 end\nprint('lines=' .. n .. ' v=' .. v)\n");
	h_write(&s, "mod.lua", "return 1\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "mod%.lua$", "--", "lua5.4", "count.lua", NULL};
	int w = start_piped(&s, argv);
	put(w, "a\nb\nc\n");
	close(w);
	stdin_edits(&s, "mod.lua", "return %d\n", "lines=3 v=%d\n");
	lv_expect_none(&s, "lines=0");
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_piped_stdin_a_copy_reads_what_followed_its_checkpoint)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "rest.lua", "local first = io.read('l')\nlocal v = dofile('mod.lua')\nlocal n = 0\n"
				"for _ in io.lines() do n = n + 1 end\n"
				"print('first=' .. first .. ' rest=' .. n .. ' v=' .. v)\n");
	h_write(&s, "mod.lua", "return 1\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "mod%.lua$", "--", "lua5.4", "rest.lua", NULL};
	int w = start_piped(&s, argv);
	put(w, "a\nb\nc\n");
	close(w);
	stdin_edits(&s, "mod.lua", "return %d\n", "first=a rest=2 v=%d\n");
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* Python reads exactly 2 bytes (os.read), then the checkpoint; stdin ends only later,
 * once the first copy waits for it; after the end a read returns nothing (no hang). */
static const char py_reader[] = "import os\n"
				"first = os.read(0, 2)\n"
				"v = open('v.txt').read().strip()\n"
				"print('got first')\n"
				"rest = b''\n"
				"while True:\n"
				"    b = os.read(0, 4096)\n"
				"    if not b:\n"
				"        break\n"
				"    rest += b\n"
				"again = os.read(0, 16)\n"
				"print('first=%s rest=%d v=%s again=%d' % (first.decode().strip(), rest.count(b'\\n'), v,"
				" len(again)))\n";

START_TEST(test_piped_stdin_ending_after_the_checkpoint_ends_for_every_copy)
{
	struct h_session s;
	h_init(&s);
	unsetenv("PYTHONUNBUFFERED");
	h_write(&s, "read.py", py_reader);
	h_write(&s, "v.txt", "1\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.txt$", "--", "/usr/bin/python3", "read.py", NULL};
	int w = start_piped(&s, argv);
	put(w, "a\nb\n");
	lv_expect(&s, "got first", 1);
	put(w, "c\nd\n");
	close(w); /* the end, in the middle of the first copy's reading */
	stdin_edits(&s, "v.txt", "%d\n", "first=a rest=3 v=%d again=0\n");
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_stdin_from_a_file_each_copy_reads_from_where_its_checkpoint_stood)
{
	struct h_session s;
	h_init(&s);
	unsetenv("PYTHONUNBUFFERED");
	h_write(&s, "read.py", py_reader);
	h_write(&s, "v.txt", "1\n");
	h_write(&s, "input", "a\nb\nc\nd\n");
	int in = open(h_file(&s, "input"), O_RDONLY);
	ck_assert_int_ge(in, 0);
	char *argv[] = {lv_forkmon(), "run", "-f", "%.txt$", "--", "/usr/bin/python3", "read.py", NULL};
	h_start_io(&s, argv, NULL, in, -1);
	close(in);
	stdin_edits(&s, "v.txt", "%d\n", "first=a rest=3 v=%d again=0\n");
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* A checkpoint taken in a resumed copy stands at an offset of the whole stdin too. */
static const char py_two[] = "import os\n"
			     "a = os.read(0, 2)\n"
			     "x = open('a.txt').read().strip()\n"
			     "b = os.read(0, 2)\n"
			     "y = open('b.txt').read().strip()\n"
			     "rest = b''\n"
			     "while True:\n"
			     "    c = os.read(0, 4096)\n"
			     "    if not c:\n"
			     "        break\n"
			     "    rest += c\n"
			     "print('a=%s b=%s rest=%d x=%s y=%s' % (a.decode().strip(), b.decode().strip(),"
			     " rest.count(b'\\n'), x, y))\n";

START_TEST(test_piped_stdin_a_checkpoint_of_a_resumed_copy_keeps_its_place)
{
	struct h_session s;
	h_init(&s);
	unsetenv("PYTHONUNBUFFERED");
	h_write(&s, "two.py", py_two);
	h_write(&s, "a.txt", "1\n");
	h_write(&s, "b.txt", "1\n");
	char *argv[] = {lv_forkmon(), "run", "-e", "-f", "%.txt$", "--", "/usr/bin/python3", "two.py", NULL};
	int w = start_piped(&s, argv);
	put(w, "1\n2\n3\n4\n");
	close(w);
	lv_expect_exactly(&s, "a=1 b=2 rest=2 x=1 y=1\n", 1);
	h_write(&s, "a.txt", "2\n"); /* resumes before a.txt: b.txt gets a new checkpoint */
	lv_expect_exactly(&s, "a=1 b=2 rest=2 x=2 y=1\n", 1);
	h_write(&s, "b.txt", "2\n"); /* resumes from that one */
	lv_expect_exactly(&s, "a=1 b=2 rest=2 x=2 y=2\n", 1);
	lv_expect_exactly(&s, lv_resume_line(&s, "b.txt"), 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* A change of a file only a subprocess read restarts the command: the restarted run
 * reads stdin from the beginning, from a pipe as from a file. */
static void stdin_restarts(int piped)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "count.lua", "local n = 0\nfor _ in io.lines() do n = n + 1 end\n"
				 "local v = io.popen('cat sub.txt'):read('l')\nprint('lines=' .. n .. ' v=' .. v)\n");
	h_write(&s, "sub.txt", "1\n");
	h_write(&s, "input", "a\nb\nc\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "sub%.txt$", "--", "lua5.4", "count.lua", NULL};
	if (piped) {
		int w = start_piped(&s, argv);
		put(w, "a\nb\nc\n");
		close(w);
	} else {
		int in = open(h_file(&s, "input"), O_RDONLY);
		ck_assert_int_ge(in, 0);
		h_start_io(&s, argv, NULL, in, -1);
		close(in);
	}
	char content[16], line[32];
	for (int k = 1; k <= 3; k++) {
		if (k > 1) {
			snprintf(content, sizeof content, "%d\n", k);
			h_write(&s, "sub.txt", content);
		}
		snprintf(line, sizeof line, "lines=3 v=%d\n", k);
		lv_expect_exactly(&s, line, 1);
	}
	lv_expect_exactly(&s, lv_restart_line(&s, "sub.txt"), 2);
	lv_expect_none(&s, "lines=0");
	lv_end_session(&s, SIGTERM, 0);
}

START_TEST(test_piped_stdin_a_restarted_command_reads_it_from_the_beginning)
{
	stdin_restarts(1);
}
END_TEST

START_TEST(test_stdin_from_a_file_a_restarted_command_reads_it_from_the_beginning)
{
	stdin_restarts(0);
}
END_TEST

Suite *session_bounds_suite(void)
{
	Suite *s = suite_create("session-bounds");
	TCase *t = tcase_create("bounds");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_sigkill_of_the_top_process_ends_every_lua_subprocess);
	tcase_add_test(t, test_sigkill_of_the_top_process_ends_every_python_subprocess_and_daemon);
	tcase_add_test(t, test_sigkill_of_the_monitor_ends_every_subprocess_and_daemon);
	tcase_add_test(t, test_sigkill_of_the_top_process_ends_a_term_ignoring_subprocess_without_the_grace);
	tcase_add_test(t, test_sigterm_of_the_top_process_ends_every_subprocess);
	tcase_add_test(t, test_hangup_of_the_job_ends_every_subprocess_and_daemon);
	tcase_add_test(t, test_piped_stdin_is_read_whole_by_every_copy_from_a_checkpoint_before_it);
	tcase_add_test(t, test_piped_stdin_a_copy_reads_what_followed_its_checkpoint);
	tcase_add_test(t, test_piped_stdin_ending_after_the_checkpoint_ends_for_every_copy);
	tcase_add_test(t, test_stdin_from_a_file_each_copy_reads_from_where_its_checkpoint_stood);
	tcase_add_test(t, test_piped_stdin_a_checkpoint_of_a_resumed_copy_keeps_its_place);
	tcase_add_test(t, test_piped_stdin_a_restarted_command_reads_it_from_the_beginning);
	tcase_add_test(t, test_stdin_from_a_file_a_restarted_command_reads_it_from_the_beginning);
	suite_add_tcase(s, t);
	return s;
}
