/*
 * tests/system/test_live_state.c — what a resumed copy carries from its checkpoint: a
 * second thread (never run in a checkpoint, no deadlock on a lock it held), C stdio
 * buffers written before the checkpoint (printed once, to a file and to a pipe), file
 * offsets of unwatched files (read-only and read-write: the same bytes after every
 * resume).
 *
 * System suite (live-state). Shared helpers: live.h.
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

/* ---- threads ------------------------------------------------------------- */

/* Every checkpoint is a single thread. Returns how many checkpoints there are. */
static int checkpoints_single_threaded(struct h_session *s)
{
	struct lv_pstat ck[1024];
	int n = lv_checkpoints_of(s->pid, ck, 1024);
	for (int i = 0; i < n && i < 1024; i++)
		ck_assert_msg(ck[i].threads == 1, "checkpoint %d runs %d threads", (int)ck[i].pid, ck[i].threads);
	return n;
}

/* A thread's ticks come only from a live run, between its "run pid P" line and the
 * next run's: never from a checkpoint, never from a copy after it was replaced. */
static void ticks_only_from_live_runs(struct h_session *s)
{
	const char *out = h_output(s);
	int current = -1, runs = 0, ticks = 0;
	for (const char *l = out; *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		char line[512];
		snprintf(line, sizeof line, "%.*s", (int)(len < 511 ? len : 511), l);
		int n, pid;
		if (sscanf(line, "run pid %d", &pid) == 1) {
			current = pid;
			runs++;
		} else if (sscanf(line, "tick %d pid %d", &n, &pid) == 2) {
			ck_assert_msg(pid == current, "a tick from pid %d while the run is %d:\n%s", pid, current, lv_out_tail(s));
			ticks++;
		}
		l += len + (e ? 1 : 0);
	}
	ck_assert_int_gt(runs, 0);
	ck_assert_int_gt(ticks, 0);
}

START_TEST(test_second_thread_holding_a_lock_at_an_open_neither_deadlocks_nor_runs_in_checkpoints)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "first.txt", "f1\n");
	h_write(&s, "second.txt", "s1\n");
	h_write(&s, "third.txt", "t1\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.txt$", "--", lv_prog("threads"), "first.txt", "second.txt",
			"third.txt", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "second: s1", 1);
	lv_expect(&s, "third: t1", 1);
	lv_expect(&s, "main has the lock", 1);
	lv_expect(&s, "[forkmon] the program runs 2 threads", 1);
	lv_expect(&s, "tick 3 pid", 1);
	ck_assert_int_ge(checkpoints_single_threaded(&s), 1);

	/* a file read with two threads running: no checkpoint of its own, so the change
	 * resumes from the one before the thread started */
	h_write(&s, "third.txt", "t2\n");
	lv_expect_exactly(&s, "third: t2", 1);
	lv_expect_exactly(&s, lv_resume_from_line(&s, "third.txt", "first.txt"), 1);
	lv_expect(&s, "main has the lock", 2);
	lv_expect_exactly(&s, "run pid", 2);

	h_write(&s, "second.txt", "s2\n");
	lv_expect_exactly(&s, "second: s2", 1);
	lv_expect_exactly(&s, lv_resume_from_line(&s, "second.txt", "first.txt"), 1);
	lv_expect(&s, "main has the lock", 3);
	lv_expect_exactly(&s, "third: t2", 2);

	h_write(&s, "first.txt", "f2\n");
	lv_expect_exactly(&s, "first: f2", 1);
	lv_expect_exactly(&s, lv_resume_line(&s, "first.txt"), 1);
	lv_expect(&s, "main has the lock", 4);
	lv_expect_exactly(&s, "run pid", 4);
	int ticks = h_count(&s, "tick ");
	lv_expect(&s, "tick ", ticks + 3); /* the last run's thread goes on */
	ck_assert_int_ge(checkpoints_single_threaded(&s), 1);

	ck_assert_int_eq(h_count(&s, "threads start"), 1);
	ck_assert_int_eq(h_count(&s, "[forkmon] the program runs 2 threads"), 1);
	lv_expect_none(&s, "restarting");
	lv_stop_session(&s, SIGTERM, 0);
	/* the session's whole output: ticks only from the run of the moment */
	ticks_only_from_live_runs(&s);
	h_cleanup(&s);
}
END_TEST

/* ---- output buffers -------------------------------------------------------- */

START_TEST(test_c_stdio_output_before_a_checkpoint_appears_once_in_a_file_and_a_pipe)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "data.txt", "d0\n");
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t copier = h_copier(&s, p[0]);
	close(p[0]);
	char *argv[] = {lv_forkmon(), "run", "-f", "%.txt$", "--", lv_prog("outbuf"), "out.log", "data.txt", NULL};
	h_start_io(&s, argv, NULL, -1, p[1]); /* stdout and stderr: a pipe */
	close(p[1]);
	lv_expect(&s, "pipe after: d0", 1);
	for (int k = 1; k <= 5; k++) {
		char c[32], want[64];
		snprintf(c, sizeof c, "d%d\n", k);
		h_write(&s, "data.txt", c);
		snprintf(want, sizeof want, "pipe after: d%d", k);
		lv_expect_exactly(&s, want, 1);
		lv_expect_exactly(&s, lv_resume_line(&s, "data.txt"), k);
		/* the log is written at exit (fclose): poll for it */
		snprintf(want, sizeof want, "log after: d%d\n", k);
		double end = h_clock() + LV_WAIT;
		while (!strstr(lv_file_text(&s, "out.log"), want) && h_clock() < end)
			h_sleep_ms(5); /* polling */
		const char *log = lv_file_text(&s, "out.log");
		ck_assert_msg(lv_text_count(log, want) == 1, "out.log:\n%s", log);
		ck_assert_msg(lv_text_count(log, "log before\n") == 1, "out.log:\n%s", log);
		ck_assert_msg(lv_text_count(log, "log after: ") == k + 1, "out.log:\n%s", log);
		ck_assert_int_eq(h_count(&s, "pipe before"), 1);
	}
	lv_stop_session(&s, SIGTERM, 0);
	int st;
	ck_assert_int_eq(waitpid(copier, &st, 0), copier); /* every writer of the pipe is gone */
	ck_assert_int_eq(h_count(&s, "pipe before"), 1);
	ck_assert_int_eq(h_count(&s, "pipe after: "), 6);
	h_cleanup(&s);
}
END_TEST

/* ---- file offsets -------------------------------------------------------- */

static void offsets_across_resumes(const char *mode)
{
	struct h_session s;
	h_init(&s);
	static char big[2000 * 10 + 1];
	for (int i = 0; i < 2000; i++)
		snprintf(big + 10 * i, 11, "line %04d\n", i + 1);
	h_write(&s, "big.dat", big);
	h_write(&s, "data.txt", "d0\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.txt$", "--", lv_prog("offsets"), (char *)mode, "big.dat", "data.txt",
			NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "stdio rest: ", 1);
	char rest[256];
	snprintf(rest, sizeof rest, "%s", lv_last_line_with(&s, "raw rest: "));
	ck_assert_str_eq(rest, "raw rest: 19980 bytes, sum 17551078121653752009");
	for (int k = 1; k <= 5; k++) {
		char c[32], want[64];
		snprintf(c, sizeof c, "d%d\n", k);
		h_write(&s, "data.txt", c);
		snprintf(want, sizeof want, "data: d%d", k);
		lv_expect_exactly(&s, want, 1);
		lv_expect_exactly(&s, "stdio rest: ", k + 1); /* the copy is done: all is printed */
		lv_assert_count(&s, "raw after: line 0002\n", k + 1);
		lv_assert_count(&s, "stdio after: line 0002\n", k + 1);
		lv_assert_count(&s, rest, k + 1);
		lv_assert_count(&s, "stdio rest: 1998 lines, last line 2000\n", k + 1);
	}
	ck_assert_int_eq(h_count(&s, "raw before"), 1);
	ck_assert_int_eq(h_count(&s, "stdio before"), 1);
	lv_end_session(&s, SIGTERM, 0);
}

START_TEST(test_unwatched_file_read_across_a_checkpoint_reads_the_same_bytes_after_every_resume)
{
	offsets_across_resumes("r");
}
END_TEST

/* The same, with the file opened for reading and writing (fopen "r+", O_RDWR): it is
 * only read, sequentially, so a resumed copy must read the same bytes too. */
START_TEST(test_file_opened_read_write_and_read_across_a_checkpoint_reads_the_same_bytes_after_every_resume)
{
	offsets_across_resumes("rw");
}
END_TEST

Suite *live_state_suite(void)
{
	Suite *s = suite_create("live-state");
	TCase *tc = tcase_create("what a copy carries");
	tcase_set_timeout(tc, 300); /* per test; each takes seconds at most when all is well */
	tcase_add_test(tc, test_second_thread_holding_a_lock_at_an_open_neither_deadlocks_nor_runs_in_checkpoints);
	tcase_add_test(tc, test_c_stdio_output_before_a_checkpoint_appears_once_in_a_file_and_a_pipe);
	tcase_add_test(tc, test_unwatched_file_read_across_a_checkpoint_reads_the_same_bytes_after_every_resume);
	tcase_add_test(tc, test_file_opened_read_write_and_read_across_a_checkpoint_reads_the_same_bytes_after_every_resume);
	suite_add_tcase(s, tc);
	return s;
}
