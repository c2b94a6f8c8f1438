/*
 * tests/system/test_engine.c — forkmon end to end, with real programs under the hook.
 *
 * Each test starts a real interpreter or C program through `forkmon run` (or bare,
 * LD_PRELOAD=forkmonhook.so), edits files the way editors save them, and reads the
 * program's output: what was printed before the edited file was read must not be
 * printed again, what comes after must show the new content. Every test ends the
 * session with a real signal and proves that no process of it is left.
 */
#include "live.h"
#include "suites.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char lua_main[] = "print('startup')\n"
			       "local v = dofile('foo.lua')\n"
			       "print('got ' .. v)\n"
			       "print('finished')\n";

START_TEST(test_lua_resumes_from_the_edited_module_in_place_and_by_rename)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "example.lua", lua_main);
	h_write(&s, "foo.lua", "return 'one'\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "example.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "got one", 1);
	lv_expect(&s, "finished", 1);
	char line[4096];
	snprintf(line, sizeof line, "[forkmon] watch '%s'", h_file(&s, "foo.lua"));
	lv_expect_exactly(&s, line, 1); /* said as the monitor reads it: maybe after "finished" */

	h_write(&s, "foo.lua", "return 'two'\n");
	lv_expect(&s, "got two", 1);
	lv_expect(&s, "finished", 2);
	snprintf(line, sizeof line, "[forkmon] file '%s' changed, resuming from it", h_file(&s, "foo.lua"));
	ck_assert_int_eq(h_count(&s, line), 1);

	h_write_rename(&s, "foo.lua", "return 'three'\n");
	lv_expect(&s, "got three", 1);
	lv_expect(&s, "finished", 3);

	/* startup ran once: every copy resumed from the middle */
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	ck_assert_int_eq(h_count(&s, "got one"), 1);
	ck_assert_int_eq(h_count(&s, "got two"), 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_bare_mode_resumes_and_ctrl_c_ends_with_sigint)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "example.lua", lua_main);
	h_write(&s, "foo.lua", "return 'one'\n");
	char pre[4096];
	snprintf(pre, sizeof pre, "LD_PRELOAD=%s", h_path("build/forkmonhook.so"));
	char *env[] = {pre, "FORKMON_FILTER=%.lua$", NULL};
	char *argv[] = {"lua5.4", "example.lua", NULL};
	h_start(&s, argv, env);
	lv_expect(&s, "finished", 1);
	char line[4096];
	snprintf(line, sizeof line, "[forkmon] watch '%s'", h_file(&s, "example.lua"));
	lv_expect_exactly(&s, line, 1); /* said as the monitor reads it: maybe after "finished" */
	h_write(&s, "foo.lua", "return 'two'\n");
	lv_expect(&s, "got two", 1);
	lv_expect(&s, "finished", 2);
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	lv_end_session(&s, SIGINT, 1); /* Ctrl-C: the terminal signals the whole job */
}
END_TEST

/* An unanchored filter: the part of the path it needs ('conf/') is checked in the
 * program (monitor/hints.c, hook/candidate.c); a file with it is watched and resumes,
 * one without it is not watched. */
START_TEST(test_an_unanchored_filter_watches_the_paths_holding_its_literal)
{
	struct h_session s;
	h_init(&s);
	lv_make_dir(&s, "conf");
	h_write(&s, "conf/a.lua", "return 'one'\n");
	h_write(&s, "lib.lua", "return 'lib'\n");
	h_write(&s, "example.lua", "print('startup')\n"
				   "local l = dofile('lib.lua')\n"
				   "local v = dofile('conf/a.lua')\n"
				   "print('got ' .. l .. ' ' .. v)\n");
	char pre[4096];
	snprintf(pre, sizeof pre, "LD_PRELOAD=%s", h_path("build/forkmonhook.so"));
	char *env[] = {pre, "FORKMON_FILTER=conf/", NULL};
	char *argv[] = {"lua5.4", "example.lua", NULL};
	h_start(&s, argv, env);
	lv_expect(&s, "got lib one", 1);
	char line[4096];
	snprintf(line, sizeof line, "[forkmon] watch '%s'", h_file(&s, "conf/a.lua"));
	lv_expect(&s, line, 1);
	h_write(&s, "conf/a.lua", "return 'two'\n");
	lv_expect(&s, "got lib two", 1);
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	snprintf(line, sizeof line, "[forkmon] watch '%s'", h_file(&s, "lib.lua"));
	ck_assert_int_eq(h_count(&s, line), 0);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_quiet_bare_mode_prints_nothing_of_its_own)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "example.lua", lua_main);
	h_write(&s, "foo.lua", "return 'one'\n");
	char pre[4096];
	snprintf(pre, sizeof pre, "LD_PRELOAD=%s", h_path("build/forkmonhook.so"));
	char *env[] = {pre, "FORKMON_FILTER=%.lua$", "FORKMON_QUIET=1", NULL};
	char *argv[] = {"lua5.4", "example.lua", NULL};
	h_start(&s, argv, env);
	lv_expect(&s, "finished", 1);
	h_write(&s, "foo.lua", "return 'two'\n");
	lv_expect(&s, "finished", 2);
	ck_assert_int_eq(h_count(&s, "forkmon"), 0);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_python_resumes_from_the_import_of_the_edited_module)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "app.py", "print('boot', flush=True)\nimport a\nprint('done', flush=True)\n");
	h_write(&s, "a.py", "print('a start', flush=True)\nimport b\nprint('a end %s' % b.VALUE, flush=True)\n");
	h_write(&s, "b.py", "VALUE = 1\n");
	char *env[] = {"PYTHONDONTWRITEBYTECODE=1", NULL};
	char *argv[] = {lv_forkmon(), "run", "--every", "-f", "%.py$", "--", "/usr/bin/python3", "app.py", NULL};
	h_start(&s, argv, env);
	lv_expect(&s, "a end 1", 1);
	lv_expect(&s, "done", 1);
	h_write(&s, "b.py", "VALUE = 2\n");
	lv_expect(&s, "a end 2", 1);
	lv_expect(&s, "done", 2);
	char line[4096];
	snprintf(line, sizeof line, "[forkmon] file '%s' changed, resuming from it", h_file(&s, "b.py"));
	ck_assert_int_eq(h_count(&s, line), 1);
	ck_assert_int_eq(h_count(&s, "boot"), 1);
	ck_assert_int_eq(h_count(&s, "a start"), 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_python_with_a_warm_bytecode_cache_still_sees_its_modules)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "app.py", "print('boot', flush=True)\nimport mod\nprint('value %s' % mod.VALUE, flush=True)\n");
	h_write(&s, "mod.py", "VALUE = 'cached'\n");
	/* Warm the cache first: Python then reads __pycache__/mod.cpython-*.pyc, not mod.py,
	 * and checks it against the size and time it saw of mod.py before that open. */
	char *env[] = {"PYTHONDONTWRITEBYTECODE=", NULL};
	char *warm[] = {"/usr/bin/python3", "app.py", NULL};
	sleep(1); /* a source older than a second, as sources usually are (Python's pyc
		     records its time in whole seconds) */
	h_start(&s, warm, env);
	ck_assert(h_wait_exit(&s, LV_WAIT));
	char *argv[] = {lv_forkmon(), "run", "--every", "-f", "%.py$", "--", "/usr/bin/python3", "app.py", NULL};
	h_start(&s, argv, env);
	lv_expect(&s, "value cached", 2);
	const char *values[] = {"fresh", "newer", "x", "last"}; /* sizes change, and not */
	for (int i = 0; i < 4; i++) {
		char body[64], want[64];
		snprintf(body, sizeof body, "VALUE = '%s'\n", values[i]);
		snprintf(want, sizeof want, "value %s\n", values[i]);
		h_write(&s, "mod.py", body);
		lv_expect(&s, want, 1);
	}
	ck_assert_int_eq(h_count(&s, "boot"), 2); /* once warming, once under forkmon */
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_perl_require_resumes_from_the_require)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.pl", "$| = 1;\nprint \"perl start\\n\";\nrequire './lib.pl';\n"
			       "print 'value ', value(), \"\\n\";\n");
	h_write(&s, "lib.pl", "sub value { 'first' }\n1;\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.pl$", "--", "perl", "main.pl", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "value first", 1);
	h_write_rename(&s, "lib.pl", "sub value { 'second' }\n1;\n");
	lv_expect(&s, "value second", 1);
	ck_assert_int_eq(h_count(&s, "perl start"), 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

static void c_reader(const char *prog, const char *mode)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "data.txt", "content one\n");
	char path[4096];
	snprintf(path, sizeof path, "%s", h_path(prog));
	char *argv[] = {lv_forkmon(), "run", "-f", "%.txt$", "--", path, (char *)mode, "data.txt", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "content one", 1);
	lv_expect(&s, "reader end", 1);
	h_write(&s, "data.txt", "content two\n");
	lv_expect(&s, "content two", 1);
	lv_expect(&s, "reader end", 2);
	/* printf'd into a file before the checkpoint: flushed there, never repeated */
	ck_assert_int_eq(h_count(&s, "reader start"), 1);
	lv_end_session(&s, SIGTERM, 0);
}

START_TEST(test_c_open64_is_seen)
{
	c_reader("build/progs/reader", "open64");
}
END_TEST

START_TEST(test_c_fortified_open_2_is_seen)
{
	c_reader("build/progs/reader32", "open"); /* __open_2 */
}
END_TEST

START_TEST(test_c_fortified_open64_2_is_seen)
{
	c_reader("build/progs/reader", "open"); /* __open64_2 */
}
END_TEST

START_TEST(test_c_openat_and_fopen_are_seen)
{
	c_reader("build/progs/reader32", "openat");
	c_reader("build/progs/reader", "fopen");
}
END_TEST

/* forkmon's processes ask the scheduler for short slices (common/slice.h); the program
 * runs with the one it would have had directly, in its first run and in a resumed copy. */
START_TEST(test_the_program_keeps_its_own_scheduler_slice)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "data.txt", "one\n");
	char path[4096], cmd[8192], line[256];
	snprintf(path, sizeof path, "%s", h_path("build/progs/slice"));
	/* directly: the kernel's default (popen waits for it) */
	snprintf(cmd, sizeof cmd, "'%s' '%s'", path, h_file(&s, "data.txt"));
	FILE *f = popen(cmd, "r");
	ck_assert(f != NULL);
	unsigned long long def = 0, start = 0, first = 0, copy = 0;
	if (fgets(line, sizeof line, f))
		sscanf(line, "start %llu", &def);
	pclose(f);
	char *argv[] = {lv_forkmon(), "run", "-q", "-f", "%.txt$", "--", path, "data.txt", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "after ", 1);
	h_write(&s, "data.txt", "two\n");
	lv_expect(&s, " two\n", 1);
	const char *o = h_output(&s), *p;
	if ((p = strstr(o, "start ")))
		start = strtoull(p + 6, NULL, 10);
	if ((p = strstr(o, "after ")))
		first = strtoull(p + 6, NULL, 10);
	if ((p = strstr(o, " two\n"))) {
		while (p > o && p[-1] != ' ')
			p--;
		copy = strtoull(p, NULL, 10);
	}
	ck_assert_msg(def > 0 && start == def && first == def && copy == def,
		      "slice directly %llu; under forkmon: at start %llu, after the read %llu, in the copy %llu:\n%s", def,
		      start, first, copy, o);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_ctrl_c_ends_everything_the_program_started)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.lua", "print('start')\nlocal v = dofile('foo.lua')\nprint('v=' .. v)\n"
				"io.stdout:flush()\nos.execute('sleep 300')\n");
	h_write(&s, "foo.lua", "return 1\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "v=1", 1);
	h_write(&s, "foo.lua", "return 2\n");
	lv_expect(&s, "v=2", 1); /* the first copy and its sleep were replaced */
	ck_assert_int_eq(h_count(&s, "start\n"), 1);
	lv_end_session(&s, SIGINT, 1);
}
END_TEST

START_TEST(test_sigterm_ends_a_busy_session_with_143)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.lua", "local v = dofile('foo.lua')\nprint('v=' .. v)\nio.stdout:flush()\n"
				"os.execute('sleep 300')\n");
	h_write(&s, "foo.lua", "return 1\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "v=1", 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_sigkill_of_forkmon_takes_every_copy_with_it)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.lua", "local v = dofile('foo.lua')\nprint('v=' .. v)\nio.stdout:flush()\n"
				"while true do end\n");
	h_write(&s, "foo.lua", "return 1\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "v=1", 1);
	h_write(&s, "foo.lua", "return 2\n");
	lv_expect(&s, "v=2", 1);
	kill(s.pid, SIGKILL);
	ck_assert(h_wait_exit(&s, LV_WAIT));
	ck_assert_msg(h_none_left(&s, 10), "%d processes left after SIGKILL of forkmon", h_left(&s));
	h_cleanup(&s);
}
END_TEST

START_TEST(test_deleted_file_is_waited_for)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "example.lua", lua_main);
	h_write(&s, "foo.lua", "return 'one'\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "example.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "finished", 1);
	ck_assert_int_eq(unlink(h_file(&s, "foo.lua")), 0);
	h_write(&s, "foo.lua", "return 'back'\n");
	lv_expect(&s, "got back", 1);
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	ck_assert_int_eq(h_count(&s, "finished"), 2);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_past_the_watch_limit_files_are_polled_and_still_resume)
{
	/* Three directories, room for one watch: in a user namespace of its own, where the
	 * limit (/proc/sys/user/max_inotify_watches) is private, unlike the system-wide
	 * fs.inotify.max_user_watches. */
	struct h_session s;
	h_init(&s);
	char d[4096];
	snprintf(d, sizeof d, "%s/a", s.dir);
	ck_assert_int_eq(mkdir(d, 0755), 0);
	snprintf(d, sizeof d, "%s/b", s.dir);
	ck_assert_int_eq(mkdir(d, 0755), 0);
	h_write(&s, "main.lua", "print('startup')\nprint('a=' .. dofile('a/m.lua'))\n"
				"print('b=' .. dofile('b/m.lua'))\n");
	h_write(&s, "a/m.lua", "return 1\n");
	h_write(&s, "b/m.lua", "return 1\n");
	char script[8192];
	snprintf(script, sizeof script,
		 "echo 1 > /proc/sys/user/max_inotify_watches && exec %s run -f '%%.lua$' -- lua5.4 main.lua",
		 lv_forkmon());
	char *argv[] = {"unshare", "-Ur", "sh", "-c", script, NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "b=1", 1);
	ck_assert_int_eq(h_count(&s, "forkmon: the user's inotify watches are used up (1): watching further directories by polling every 250 ms"), 1);
	h_write(&s, "b/m.lua", "return 2\n");
	lv_expect(&s, "b=2", 1);
	h_write_rename(&s, "a/m.lua", "return 3\n");
	lv_expect(&s, "a=3", 1);
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	ck_assert_int_eq(h_count(&s, "changed, resuming from it"), 2);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_a_deleted_and_recreated_directory_is_watched_again)
{
	struct h_session s;
	h_init(&s);
	char d[4096];
	snprintf(d, sizeof d, "%s/lib", s.dir);
	ck_assert_int_eq(mkdir(d, 0755), 0);
	h_write(&s, "main.lua", "print('startup')\nprint('v=' .. dofile('lib/m.lua'))\n");
	h_write(&s, "lib/m.lua", "return 1\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "v=1", 1);
	/* rm -rf lib; mkdir lib; write it again (a build step, a git checkout) */
	ck_assert_int_eq(unlink(h_file(&s, "lib/m.lua")), 0);
	ck_assert_int_eq(rmdir(d), 0);
	ck_assert_int_eq(mkdir(d, 0755), 0);
	h_write(&s, "lib/m.lua", "return 2\n");
	lv_expect(&s, "v=2", 1);
	/* and later saves in it are seen too */
	h_write(&s, "lib/m.lua", "return 3\n");
	lv_expect(&s, "v=3", 1);
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_malformed_pattern_is_named_and_nothing_runs)
{
	struct h_session s;
	h_init(&s);
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$;[a", "--", "sh", "-c", "echo ran", NULL};
	h_start(&s, argv, NULL);
	ck_assert(h_wait_exit(&s, LV_WAIT));
	ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 2, "status 0x%x", s.status);
	ck_assert_int_eq(h_count(&s, "forkmon: malformed pattern '[a': "), 1);
	ck_assert_int_eq(h_count(&s, "ran"), 0);
	ck_assert(h_none_left(&s, 10));
	h_cleanup(&s);
}
END_TEST

START_TEST(test_malformed_pattern_in_bare_mode_stops_the_program)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "p.lua", "print('ran')\n");
	char pre[4096];
	snprintf(pre, sizeof pre, "LD_PRELOAD=%s", h_path("build/forkmonhook.so"));
	char *env[] = {pre, "FORKMON_FILTER=%", NULL};
	char *argv[] = {"lua5.4", "p.lua", NULL};
	h_start(&s, argv, env);
	ck_assert(h_wait_exit(&s, LV_WAIT));
	ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 2, "status 0x%x", s.status);
	ck_assert_int_eq(h_count(&s, "forkmon: malformed pattern '%': "), 1);
	ck_assert_int_eq(h_count(&s, "ran"), 0);
	ck_assert(h_none_left(&s, 10));
	h_cleanup(&s);
}
END_TEST

START_TEST(test_unknown_option_and_missing_command_exit_2)
{
	const char *cases[][4] = {{"run", "--bogus", "true", NULL}, {"run", NULL}, {"frobnicate", NULL}};
	for (int i = 0; i < 3; i++) {
		struct h_session s;
		h_init(&s);
		char *argv[6] = {lv_forkmon()};
		for (int k = 0; cases[i][k]; k++)
			argv[k + 1] = (char *)cases[i][k];
		h_start(&s, argv, NULL);
		ck_assert(h_wait_exit(&s, LV_WAIT));
		ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 2, "case %d: 0x%x", i, s.status);
		ck_assert_int_eq(h_count(&s, "forkmon: "), 1);
		ck_assert_int_eq(h_count(&s, "usage: forkmon run"), 1);
		h_cleanup(&s);
	}
}
END_TEST

START_TEST(test_missing_command_exits_127)
{
	struct h_session s;
	h_init(&s);
	char *argv[] = {lv_forkmon(), "run", "--", "no-such-command-here", NULL};
	h_start(&s, argv, NULL);
	ck_assert(h_wait_exit(&s, LV_WAIT));
	ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 127, "0x%x", s.status);
	ck_assert_int_eq(h_count(&s, "forkmon: no-such-command-here: command not found"), 1);
	h_cleanup(&s);
}
END_TEST

/* A shell left in a directory that was deleted runs the command anyway; so does forkmon:
 * one line says nothing is watched by default, and the program's status comes back. */
START_TEST(test_deleted_cwd_still_runs_the_program)
{
	struct h_session s;
	h_init(&s);
	char *argv[] = {"/bin/sh", "-c",
			"mkdir gone && cd gone && rmdir ../gone && exec \"$0\" run -- /bin/sh -c 'echo ran here; exit 3'",
			lv_forkmon(), NULL};
	h_start(&s, argv, NULL);
	ck_assert(h_wait_exit(&s, LV_WAIT));
	ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 3, "0x%x:\n%s", s.status, h_output(&s));
	ck_assert_int_eq(h_count(&s, "ran here"), 1);
	ck_assert_int_eq(h_count(&s, "forkmon: cannot read the current directory (it was deleted)"), 1);
	ck_assert(h_none_left(&s, LV_WAIT));
	h_cleanup(&s);
}
END_TEST

START_TEST(test_nothing_matched_exits_with_the_program_status)
{
	struct h_session s;
	h_init(&s);
	char *argv[] = {lv_forkmon(), "run", "-f", "%.nothing$", "--", "sh", "-c", "exit 3", NULL};
	h_start(&s, argv, NULL);
	ck_assert(h_wait_exit(&s, LV_WAIT));
	ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 3, "0x%x", s.status);
	h_cleanup(&s);
}
END_TEST

START_TEST(test_a_hook_that_cannot_be_read_is_named_and_nothing_runs)
{
	struct h_session s;
	h_init(&s);
	char *argv[] = {lv_forkmon(), "run", "--", "sh", "-c", "echo ran", NULL};
	char *env[] = {"FORKMON_HOOK=/nonexistent/forkmonhook.so", H_ENV_END};
	h_start(&s, argv, env);
	ck_assert(h_wait_exit(&s, LV_WAIT));
	ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 1, "0x%x", s.status);
	ck_assert_int_eq(h_count(&s, "forkmon: cannot read the hook '/nonexistent/forkmonhook.so' (FORKMON_HOOK)"), 1);
	ck_assert_int_eq(h_count(&s, "ran"), 0);
	h_cleanup(&s);
}
END_TEST

Suite *engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("real programs");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_lua_resumes_from_the_edited_module_in_place_and_by_rename);
	tcase_add_test(tc, test_bare_mode_resumes_and_ctrl_c_ends_with_sigint);
	tcase_add_test(tc, test_quiet_bare_mode_prints_nothing_of_its_own);
	tcase_add_test(tc, test_an_unanchored_filter_watches_the_paths_holding_its_literal);
	tcase_add_test(tc, test_python_resumes_from_the_import_of_the_edited_module);
	tcase_add_test(tc, test_python_with_a_warm_bytecode_cache_still_sees_its_modules);
	tcase_add_test(tc, test_perl_require_resumes_from_the_require);
	tcase_add_test(tc, test_c_open64_is_seen);
	tcase_add_test(tc, test_c_fortified_open_2_is_seen);
	tcase_add_test(tc, test_c_fortified_open64_2_is_seen);
	tcase_add_test(tc, test_c_openat_and_fopen_are_seen);
	tcase_add_test(tc, test_ctrl_c_ends_everything_the_program_started);
	tcase_add_test(tc, test_sigterm_ends_a_busy_session_with_143);
	tcase_add_test(tc, test_sigkill_of_forkmon_takes_every_copy_with_it);
	tcase_add_test(tc, test_deleted_file_is_waited_for);
	tcase_add_test(tc, test_past_the_watch_limit_files_are_polled_and_still_resume);
	tcase_add_test(tc, test_a_deleted_and_recreated_directory_is_watched_again);
	tcase_add_test(tc, test_malformed_pattern_is_named_and_nothing_runs);
	tcase_add_test(tc, test_malformed_pattern_in_bare_mode_stops_the_program);
	tcase_add_test(tc, test_unknown_option_and_missing_command_exit_2);
	tcase_add_test(tc, test_missing_command_exits_127);
	tcase_add_test(tc, test_deleted_cwd_still_runs_the_program);
	tcase_add_test(tc, test_nothing_matched_exits_with_the_program_status);
	tcase_add_test(tc, test_a_hook_that_cannot_be_read_is_named_and_nothing_runs);
	tcase_add_test(tc, test_the_program_keeps_its_own_scheduler_slice);
	suite_add_tcase(s, tc);
	return s;
}
