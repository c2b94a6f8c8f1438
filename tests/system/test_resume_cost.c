/*
 * tests/system/test_resume_cost.c — what a resume costs must not change what it does: a
 * run resumed from its first module tells the monitor of every file it reads after it
 * (it waits for none), so each of them is watched and placed in the history as before,
 * a file new to it included; a replace ends the run's whole subtree, found by walking
 * down the session's own processes, and leaves nothing; a save of a file resumed from
 * before resumes a copy forked before the save (the spare); a copy resumed while other
 * files change takes its checkpoints.
 *
 * System suite (resume-cost). Shared helpers: live.h.
 */
#include "live.h"
#include "suites.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Modules m1..m60 and a main that requires them all (and, once m1 says so, extra.lua). */
static void rc_program(struct h_session *s)
{
	char name[32], text[128];
	for (int i = 1; i <= 60; i++) {
		snprintf(name, sizeof name, "m%d.lua", i);
		snprintf(text, sizeof text, "return {v = %d}\n", i == 1 ? 0 : 1);
		h_write(s, name, text);
	}
	h_write(s, "extra.lua", "return {v = 100}\n");
	h_write(s, "main.lua", "local n = 0\n"
			       "for i = 1, 60 do\n"
			       "  local m = require('m' .. i)\n"
			       "  n = n + m.v\n"
			       "  if m.extra then n = n + require('extra').v end\n"
			       "end\n"
			       "print('sum=' .. n .. ';')\n");
}

/* After a resume from the first module, a later module and a file the first run never
 * read are both watched, and their edits resume (never restart, never go unseen). */
START_TEST(test_a_run_resumed_from_the_first_module_watches_what_it_reads_after_it)
{
	struct h_session s;
	h_init(&s);
	rc_program(&s);
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect_exactly(&s, "sum=59;", 1);

	h_write(&s, "m1.lua", "return {v = 1000, extra = true}\n");
	lv_expect_exactly(&s, "sum=1159;", 1);
	/* from the main file's checkpoint, unless the few microseconds before m1.lua was
	 * read took longer than that checkpoint did: then m1.lua got one of its own */
	char any[4096];
	snprintf(any, sizeof any, "[forkmon] file '%s' changed, resuming from", h_file(&s, "m1.lua"));
	lv_expect(&s, any, 1);
	int from_it = h_count(&s, lv_resume_line(&s, "m1.lua"));
	int from_main = h_count(&s, lv_resume_from_line(&s, "m1.lua", "main.lua"));
	ck_assert_msg(from_it + from_main == 1, "%d + %d resumes for m1.lua:\n%s", from_it, from_main, lv_out_tail(&s));
	lv_expect_none(&s, lv_restart_line(&s, "m1.lua"));

	/* read only by the resumed run, told without waiting: watched all the same */
	h_write(&s, "extra.lua", "return {v = 200}\n");
	lv_expect_exactly(&s, "sum=1259;", 1);
	lv_expect_none(&s, lv_restart_line(&s, "extra.lua"));

	/* a module the resumed run read again: its first read is in the new history */
	h_write_rename(&s, "m40.lua", "return {v = 41}\n");
	lv_expect_exactly(&s, "sum=1299;", 1);
	lv_expect_none(&s, lv_restart_line(&s, "m40.lua"));
	/* and it changed once: its next edit resumes right from it (the one before may have,
	 * should the spacing have put a checkpoint there on a slow machine) */
	h_write(&s, "m40.lua", "return {v = 51}\n");
	lv_expect_exactly(&s, "sum=1309;", 1);
	lv_expect(&s, lv_resume_line(&s, "m40.lua"), 1);
	lv_assert_between(&s, lv_resume_line(&s, "m40.lua"), 1, 2);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* A run that started a subtree (a child in a session of its own, its grandchild in the
 * background) is replaced by a resume: all of them end, nothing is left behind. */
START_TEST(test_a_replace_ends_the_runs_whole_subtree)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "conf.lua", "return 'one'\n");
	h_write(&s, "main.lua", "local v = dofile('conf.lua')\n"
				"os.execute('setsid sh -c \"sleep 300 & sleep 301\" &')\n"
				"print('conf=' .. v .. ';')\n"
				"io.stdout:flush()\n"
				"io.read()\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect_exactly(&s, "conf=one;", 1);
	for (int i = 0; i < 3; i++) {
		char want[32];
		snprintf(want, sizeof want, "conf=v%d;", i);
		char text[32];
		snprintf(text, sizeof text, "return 'v%d'\n", i);
		h_write(&s, "conf.lua", text);
		lv_expect_exactly(&s, want, 1);
	}
	/* each copy started its two sleeps; the replaced ones' are gone (the last copy's
	 * end with the session, which lv_end_session checks) */
	double end = h_clock() + LV_WAIT;
	pid_t pids[256];
	int sleeps;
	do {
		sleeps = 0;
		int n = h_procs(&s, pids, 256);
		for (int k = 0; k < n; k++) {
			char path[64], comm[64] = "";
			snprintf(path, sizeof path, "/proc/%d/comm", (int)pids[k]);
			FILE *f = fopen(path, "r");
			if (f) {
				if (fgets(comm, sizeof comm, f))
					sleeps += strncmp(comm, "sleep", 5) == 0;
				fclose(f);
			}
		}
		if (sleeps > 2)
			h_sleep_ms(20);
	} while (sleeps > 2 && h_clock() < end);
	ck_assert_msg(sleeps <= 2, "%d sleeps alive after 3 replaces: %s", sleeps, h_describe(&s));
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* How many of the session's processes run python3 (by their command name). */
static int rc_pythons(struct h_session *s)
{
	pid_t pids[256];
	int n = h_procs(s, pids, 256), found = 0;
	for (int k = 0; k < n; k++) {
		char path[64], comm[64] = "";
		snprintf(path, sizeof path, "/proc/%d/comm", (int)pids[k]);
		FILE *f = fopen(path, "r");
		if (f) {
			if (fgets(comm, sizeof comm, f))
				found += strncmp(comm, "python3", 7) == 0;
			fclose(f);
		}
	}
	return found;
}

/* When process pid started, in clock ticks since boot (/proc/PID/stat, field 22). */
static long long rc_start_ticks(pid_t pid)
{
	char path[64], stat[1024] = "";
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "no process %d", (int)pid);
	size_t n = fread(stat, 1, sizeof stat - 1, f);
	fclose(f);
	stat[n] = '\0';
	char *p = strrchr(stat, ')');
	ck_assert_ptr_nonnull(p);
	/* after ")": field 3 (state) on; starttime is field 22 */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	ck_assert_ptr_nonnull(p);
	return atoll(p + 1);
}

static long long rc_now_ticks(void)
{
	struct timespec t;
	clock_gettime(CLOCK_BOOTTIME, &t);
	long hz = sysconf(_SC_CLK_TCK);
	return (long long)t.tv_sec * hz + (long long)t.tv_nsec / (1000000000ll / hz);
}

/* The pid the copy printed after "v=<want> pid=". */
static pid_t rc_copy_pid(struct h_session *s, const char *want)
{
	char needle[64];
	snprintf(needle, sizeof needle, "v=%s pid=", want);
	const char *at = strstr(h_output(s), needle);
	ck_assert_ptr_nonnull(at);
	return (pid_t)atoi(at + strlen(needle));
}

/* A file resumed from once is saved again: the copy that prints its new content is a
 * process that existed before the save (forked from the checkpoint while the user
 * edited), and it prints the new content, not the old. */
START_TEST(test_a_save_resumes_a_copy_forked_before_it)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "conf.txt", "1\n");
	h_write(&s, "main.py", "import os, time\n"
			       "with open('conf.txt') as f:\n"
			       "    v = f.read().strip()\n"
			       "print(f'v={v} pid={os.getpid()}', flush=True)\n"
			       "time.sleep(300)\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "conf%.txt$", "--", "/usr/bin/python3", "main.py", NULL};
	h_start(&s, argv, NULL);
	lv_expect_exactly(&s, "v=1 pid=", 1);
	h_write(&s, "conf.txt", "2\n");
	lv_expect_exactly(&s, "v=2 pid=", 1);
	for (int v = 3; v <= 4; v++) {
		/* the checkpoint, the run and the spare: three interpreters, then a moment for
		 * the spare's pid to reach the monitor */
		double end = h_clock() + LV_WAIT;
		while (rc_pythons(&s) < 3 && h_clock() < end)
			h_sleep_ms(20);
		ck_assert_msg(rc_pythons(&s) >= 3, "no spare after the resume: %s", h_describe(&s));
		h_sleep_ms(300);
		long long before = rc_now_ticks();
		char text[8], want[8];
		snprintf(text, sizeof text, "%d\n", v);
		snprintf(want, sizeof want, "%d", v);
		h_write(&s, "conf.txt", text);
		char needle[32];
		snprintf(needle, sizeof needle, "v=%d pid=", v);
		lv_expect_exactly(&s, needle, 1);
		pid_t pid = rc_copy_pid(&s, want);
		long long started = rc_start_ticks(pid);
		ck_assert_msg(started < before, "save %d: copy %d started at tick %lld, the save came at %lld:\n%s", v,
			      (int)pid, started, before, lv_out_tail(&s));
	}
	lv_expect_none(&s, lv_restart_line(&s, "conf.txt"));
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/*
 * A copy learns its pid from its checkpoint, which forks it. Here the checkpoints are
 * stopped while a save resumes one, and another file of the directory changes
 * meanwhile (every record of the watcher reads every connection, the copy's new one
 * among them, before the copy exists). The copy still takes its checkpoints: the file
 * that changed before gets its own, and its next save resumes from it, not from the main
 * file's (a copy taken for another process of the session was granted none).
 */
START_TEST(test_a_copy_resumed_while_other_files_change_still_takes_checkpoints)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "a.lua", "return 1\n");
	h_write(&s, "b.lua", "return 1\n");
	/* what it prints before b.lua makes a checkpoint there worth its cost */
	h_write(&s, "main.lua", "local a = dofile('a.lua')\n"
				"print('a=' .. a .. ';')\n"
				"io.stdout:flush()\n"
				"local b = dofile('b.lua')\n"
				"print('a=' .. a .. ' b=' .. b .. ';')\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect_exactly(&s, "a=1 b=1;", 1);
	/* b.lua changed before: its reads get checkpoints; the spare made after this resume
	 * is of b.lua's checkpoint, so a.lua's save below resumes a checkpoint itself */
	h_write(&s, "b.lua", "return 2\n");
	lv_expect_exactly(&s, "a=1 b=2;", 1);
	lv_expect(&s, lv_resume_line(&s, "b.lua"), 1);

	struct lv_pstat ck[64];
	int n = lv_checkpoints_of(s.pid, ck, 64);
	ck_assert_msg(n > 0, "no checkpoint: %s", h_describe(&s));
	for (int k = 0; k < n; k++)
		kill(ck[k].pid, SIGSTOP);
	h_write(&s, "a.lua", "return 2\n");
	char any[4096];
	snprintf(any, sizeof any, "[forkmon] file '%s' changed, resuming from", h_file(&s, "a.lua"));
	lv_expect(&s, any, 1); /* the RESUME is on its way to a stopped checkpoint */
	h_write(&s, "notes.txt", "not a module\n");
	h_sleep_ms(300);
	for (int k = 0; k < n; k++)
		kill(ck[k].pid, SIGCONT);
	lv_expect_exactly(&s, "a=2 b=2;", 1);

	h_write(&s, "b.lua", "return 3\n");
	lv_expect_exactly(&s, "a=2 b=3;", 1);
	lv_expect(&s, lv_resume_line(&s, "b.lua"), 2);
	lv_expect_none(&s, lv_resume_from_line(&s, "b.lua", "main.lua"));
	lv_expect_none(&s, lv_restart_line(&s, "b.lua"));
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/*
 * A checkpoint is taken without waiting for the monitor (FM_CFG_UNASKED): stopped, it
 * holds the program up at none of them. Once it runs again, it learns of the checkpoint
 * taken meanwhile, and a save of that file resumes from it: past the loop, with nothing
 * printed before it printed again (a copy of main.lua's checkpoint would print it).
 */
START_TEST(test_a_stopped_monitor_holds_up_no_checkpoint)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "m.lua", "return 1\n");
	h_write(&s, "main.lua", "print('waiting;')\n"
				"io.stdout:flush()\n"
				"while not io.open('go') do end\n"
				"local m = dofile('m.lua')\n"
				"print('m=' .. m .. ';')\n"
				"io.stdout:flush()\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "waiting;", 1);
	pid_t mon = lv_monitor_of(s.pid);
	ck_assert_msg(mon > 0, "no monitor: %s", h_describe(&s));
	ck_assert_int_eq(kill(mon, SIGSTOP), 0);
	h_write(&s, "go", "\n");
	int passed = h_wait_for(&s, "m=1;", 1, LV_WAIT);
	kill(mon, SIGCONT); /* before any assertion: never a stopped monitor left behind */
	ck_assert_msg(passed == 1, "the program waited for the stopped monitor: %s", h_describe(&s));
	lv_expect(&s, "[forkmon] watch '", 2); /* main.lua's, and m.lua's told meanwhile */
	h_write(&s, "m.lua", "return 2\n");
	lv_expect_exactly(&s, "m=2;", 1);
	lv_expect(&s, lv_resume_line(&s, "m.lua"), 1);
	lv_expect_none(&s, lv_resume_from_line(&s, "m.lua", "main.lua"));
	lv_assert_count(&s, "waiting;", 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

Suite *resume_cost_suite(void)
{
	Suite *su = suite_create("resume-cost");
	TCase *tc = tcase_create("resume-cost");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_a_run_resumed_from_the_first_module_watches_what_it_reads_after_it);
	tcase_add_test(tc, test_a_replace_ends_the_runs_whole_subtree);
	tcase_add_test(tc, test_a_save_resumes_a_copy_forked_before_it);
	tcase_add_test(tc, test_a_copy_resumed_while_other_files_change_still_takes_checkpoints);
	tcase_add_test(tc, test_a_stopped_monitor_holds_up_no_checkpoint);
	suite_add_tcase(su, tc);
	return su;
}
