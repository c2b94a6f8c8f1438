/*
 * tests/system/test_resume_cost.c — what a resume costs must not change what it does: a
 * run resumed from its first module tells the monitor of every file it reads after it
 * (it waits for none), so each of them is watched and placed in the history as before,
 * a file new to it included; a replace ends the run's whole subtree, found by walking
 * down the session's own processes, and leaves nothing.
 *
 * System suite (resume-cost). Shared helpers: live.h.
 */
#include "live.h"
#include "suites.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

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

Suite *resume_cost_suite(void)
{
	Suite *su = suite_create("resume-cost");
	TCase *tc = tcase_create("resume-cost");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_a_run_resumed_from_the_first_module_watches_what_it_reads_after_it);
	tcase_add_test(tc, test_a_replace_ends_the_runs_whole_subtree);
	suite_add_tcase(su, tc);
	return su;
}
