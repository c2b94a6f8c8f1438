/*
 * tests/system/test_live_scale.c — a thousand watched modules in one session: one
 * inotify instance, hundreds of checkpoints alive, edits to the first, a middle and the
 * last module resume.
 *
 * System suite (live-scale). Shared helpers: live.h.
 */
#include "live.h"
#include "suites.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>


/* 1000 watched modules in one session: one inotify instance, over a hundred checkpoints
 * alive, and edits to the first, a middle and the last module resume correctly. */
START_TEST(test_thousand_watched_modules_one_inotify_instance_hundreds_of_checkpoints)
{
	struct h_session s;
	h_init(&s);
	for (int d = 0; d < 10; d++) {
		char dir[16];
		snprintf(dir, sizeof dir, "m%d", d);
		lv_make_dir(&s, dir);
	}
	for (int i = 1; i <= 1000; i++) {
		char name[64], c[64];
		snprintf(name, sizeof name, "m%d/mod%04d.lua", i % 10, i);
		snprintf(c, sizeof c, "return %d\n", i);
		h_write(&s, name, c);
	}
	h_write(&s, "main.lua", "print('scale start')\n"
				"local t = {}\n"
				"for i = 1, 1000 do t[i] = dofile(string.format('m%d/mod%04d.lua', i % 10, i)) end\n"
				"local sum = 0\n"
				"for i = 1, 1000 do sum = sum + t[i] end\n"
				"print('m1=' .. t[1] .. ' m500=' .. t[500] .. ' m1000=' .. t[1000] .. ' sum=' .. sum .. ';')\n");
	/* --every: a checkpoint at every read, up to the default limit of 512 alive */
	char *argv[] = {lv_forkmon(), "run", "--every", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "m1=1 m500=500 m1000=1000 sum=500500;", 1);
	/* reads that want no checkpoint do not wait for their watch: the lines may follow */
	lv_expect_exactly(&s, "[forkmon] watch '", 1001);
	struct lv_pstat ck[1024];
	int n = lv_checkpoints_of(s.pid, ck, 1024);
	ck_assert_msg(n >= 100 && n <= 512, "%d checkpoints alive", n);
	ck_assert_int_eq(lv_fds_named(lv_monitor_of(s.pid), "anon_inode:inotify"), 1);

	h_write(&s, "m1/mod0001.lua", "return 1001\n");
	lv_expect_exactly(&s, "m1=1001 m500=500 m1000=1000 sum=501500;", 1);
	lv_expect_exactly(&s, lv_resume_line(&s, "m1/mod0001.lua"), 1);
	h_write_rename(&s, "m0/mod0500.lua", "return 5000\n");
	lv_expect_exactly(&s, "m1=1001 m500=5000 m1000=1000 sum=506000;", 1);
	h_write(&s, "m0/mod1000.lua", "return 10000\n");
	lv_expect_exactly(&s, "m1=1001 m500=5000 m1000=10000 sum=515000;", 1);
	lv_expect_exactly(&s, "changed, resuming from", 3);
	lv_expect_none(&s, "restarting");
	n = lv_checkpoints_of(s.pid, ck, 1024);
	ck_assert_msg(n >= 100 && n <= 512, "%d checkpoints alive", n);
	ck_assert_int_eq(lv_fds_named(lv_monitor_of(s.pid), "anon_inode:inotify"), 1);
	ck_assert_int_eq(h_count(&s, "scale start"), 1);
	lv_assert_count(&s, "[forkmon] watch '", 1001);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

Suite *live_scale_suite(void)
{
	Suite *s = suite_create("live-scale");
	TCase *tc = tcase_create("scale");
	tcase_set_timeout(tc, 300); /* per test; each takes seconds at most when all is well */
	tcase_add_test(tc, test_thousand_watched_modules_one_inotify_instance_hundreds_of_checkpoints);
	suite_add_tcase(s, tc);
	return s;
}
