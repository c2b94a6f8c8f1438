/*
 * tests/system/test_live_misbehave.c — programs that misbehave: crashes and failures are
 * reported and the next change still resumes; a copy that ignores SIGTERM is killed
 * after the grace period; saves made during such a slow replacement are not lost.
 *
 * System suite (live-misbehaving). Shared helpers: live.h.
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


START_TEST(test_crash_and_failure_are_reported_and_the_next_change_still_resumes)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "mode.txt", "ok 0\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.txt$", "--", lv_prog("misbehave"), "mode.txt", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "mode ok 0", 1);
	h_write(&s, "mode.txt", "exit 3\n");
	lv_expect(&s, "mode exit 3", 1);
	lv_expect_exactly(&s, "[forkmon] exited with status 3\n", 1);
	h_write(&s, "mode.txt", "segv\n");
	lv_expect(&s, "mode segv", 1);
	lv_expect_exactly(&s, "[forkmon] killed by SIGSEGV\n", 1);
	h_write(&s, "mode.txt", "ok 1\n");
	lv_expect_exactly(&s, "mode ok 1", 1);
	h_write(&s, "mode.txt", "exit 4\n");
	lv_expect_exactly(&s, "[forkmon] exited with status 4\n", 1);
	h_write(&s, "mode.txt", "ok 2\n");
	lv_expect_exactly(&s, "mode ok 2", 1);
	lv_expect_exactly(&s, lv_resume_line(&s, "mode.txt"), 5);
	ck_assert_int_eq(h_count(&s, "misbehave start"), 1);
	ck_assert_int_eq(h_count(&s, "[forkmon] exited with status"), 2);
	ck_assert_int_eq(h_count(&s, "[forkmon] killed by"), 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

static int process_alive(pid_t pid)
{
	struct lv_pstat ps;
	return lv_pstat_read(pid, &ps) == 0 && ps.state != 'Z' && ps.state != 'X';
}

/* A copy that ignores SIGTERM is still replaced: SIGKILL after the grace period. */
START_TEST(test_copy_ignoring_sigterm_is_killed_after_the_grace_period_and_replaced)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "mode.txt", "ignore-term 1\n");
	char *argv[] = {lv_forkmon(), "run", "-g", "300", "-f", "%.txt$", "--", lv_prog("misbehave"), "mode.txt", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "ignoring SIGTERM pid", 1);
	for (int k = 2; k <= 4; k++) {
		int old;
		ck_assert_int_eq(sscanf(lv_last_line_with(&s, "ignoring SIGTERM pid"), "ignoring SIGTERM pid %d", &old), 1);
		char c[64], want[64];
		snprintf(c, sizeof c, "ignore-term %d\n", k);
		double t0 = h_clock();
		h_write(&s, "mode.txt", c);
		snprintf(want, sizeof want, "mode ignore-term %d", k);
		lv_expect_exactly(&s, want, 1);
		double took = h_clock() - t0;
		ck_assert_msg(!process_alive(old), "the replaced copy %d still runs", old);
		ck_assert_msg(took >= 0.25, "replaced after %.3f s: before the grace period?", took);
		lv_expect_exactly(&s, "ignoring SIGTERM pid", k);
	}
	h_write(&s, "mode.txt", "ok\n");
	lv_expect_exactly(&s, "mode ok", 1);
	ck_assert_int_eq(h_count(&s, "misbehave start"), 1);
	/* and the session ends on SIGTERM while a copy ignores it */
	h_write(&s, "mode.txt", "ignore-term 5\n");
	lv_expect_exactly(&s, "ignoring SIGTERM pid", 5);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* Two saves 120 ms apart while the copy is being replaced (it ignores SIGTERM: the
 * replacement takes the 300 ms grace period): neither save is lost, the last wins, and
 * promptly. Whether the second save gets a resume of its own or joins the first one's
 * is the scheduler's (a loaded machine coalesces them): one or two resumes a round. (A
 * copy resumed for the first save may be replaced by the second before it prints
 * anything: what counts is the status lines and the last copy's output.) That two saves
 * during a slow replacement give two resumes is the fake-clock unit tests' to say. */
START_TEST(test_two_saves_120ms_apart_during_a_slow_replacement_both_resume_and_the_last_wins)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "mode.txt", "ignore-term 0\n");
	char *argv[] = {lv_forkmon(), "run", "-g", "300", "-f", "%.txt$", "--", lv_prog("misbehave"), "mode.txt", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "ignoring SIGTERM pid", 1);
	for (int k = 1; k <= 3; k++) {
		char c[64], want[64];
		snprintf(c, sizeof c, "ignore-term %d\n", 2 * k - 1);
		h_write(&s, "mode.txt", c);
		h_sleep_ms(120); /* the second save follows 120 ms later */
		snprintf(c, sizeof c, "ignore-term %d\n", 2 * k);
		h_write(&s, "mode.txt", c);
		double t0 = h_clock();
		snprintf(want, sizeof want, "mode ignore-term %d", 2 * k);
		lv_expect(&s, want, 1); /* twice if the first copy read it too */
		/* two grace periods and two resumes: well under a second; allow for a slow
		 * machine, but not for a save left waiting on an unrelated timer */
		double took = h_clock() - t0;
		ck_assert_msg(took < 5.0, "the second save was shown %.2f s after it completed:\n%s", took,
			      lv_out_tail(&s));
		lv_expect(&s, "ignoring SIGTERM pid", k + 1);
		lv_assert_between(&s, lv_resume_line(&s, "mode.txt"), k, 2 * k);
		ck_assert_int_eq(lv_versions_grow(&s, "mode ignore-term ", NULL), 2 * k);
	}
	ck_assert_int_eq(h_count(&s, "misbehave start"), 1);
	lv_expect_none(&s, "restarting");
	lv_stop_session(&s, SIGTERM, 0);
	/* nothing came late, nothing went back */
	lv_assert_between(&s, lv_resume_line(&s, "mode.txt"), 3, 6);
	ck_assert_int_eq(lv_versions_grow(&s, "mode ignore-term ", NULL), 6);
	ck_assert_str_eq(lv_last_line_with(&s, "mode "), "mode ignore-term 6");
	h_cleanup(&s);
}
END_TEST

Suite *live_misbehave_suite(void)
{
	Suite *s = suite_create("live-misbehaving");
	TCase *tc = tcase_create("misbehaving programs");
	tcase_set_timeout(tc, 300); /* per test; each takes seconds at most when all is well */
	tcase_add_test(tc, test_crash_and_failure_are_reported_and_the_next_change_still_resumes);
	tcase_add_test(tc, test_copy_ignoring_sigterm_is_killed_after_the_grace_period_and_replaced);
	tcase_add_test(tc, test_two_saves_120ms_apart_during_a_slow_replacement_both_resume_and_the_last_wins);
	suite_add_tcase(s, tc);
	return s;
}
