/*
 * tests/system/test_ring.c — reads told through the connection's ring (no system call in
 * the program) reach the monitor all the same: one read just before the program blocks
 * for good (the monitor asleep by then: the ring's wake-up), and a burst of reads larger
 * than the ring holds (the program waits for room, as on a full socket). Either way every
 * file is watched, and its edit resumes the run.
 *
 * System suite (ring). Shared helpers: live.h.
 */
#include "live.h"
#include "suites.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

/* A run that reads one file, works a while (the monitor has gone to sleep: it only spins
 * for 0.2 ms after a read), reads another, then waits on its stdin, which never comes. */
START_TEST(test_a_file_read_just_before_the_program_blocks_for_good_is_watched)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "first.lua", "return 'a'\n");
	h_write(&s, "late.lua", "return 'one'\n");
	h_write(&s, "main.lua", "local a = dofile('first.lua')\n"
				"local t = os.clock()\n"
				"while os.clock() - t < 0.05 do end\n"
				"local b = dofile('late.lua')\n"
				"print('late=' .. a .. b .. ';')\n"
				"io.stdout:flush()\n"
				"io.read()\n"
				"print('stdin ended')\n");
	int in[2];
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	/* -m 1: the one checkpoint is the first read's; every later read is told */
	char *argv[] = {lv_forkmon(), "run", "-m", "1", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start_io(&s, argv, NULL, in[0], -1);
	close(in[0]);
	lv_expect_exactly(&s, "late=aone;", 1);
	h_write(&s, "late.lua", "return 'two'\n");
	lv_expect_exactly(&s, "late=atwo;", 1);
	lv_expect_none(&s, lv_restart_line(&s, "late.lua"));
	h_write(&s, "late.lua", "return 'three'\n");
	lv_expect_exactly(&s, "late=athree;", 1);
	lv_expect_none(&s, "stdin ended");
	lv_end_session(&s, SIGTERM, 0);
	close(in[1]);
}
END_TEST

/* 3000 files read in a row (more records than the ring's room), then the run blocks:
 * the first and the last of them are watched, and their edits resume. */
START_TEST(test_a_burst_of_reads_larger_than_the_ring_is_all_watched)
{
	enum { N = 3000 };
	struct h_session s;
	h_init(&s);
	char name[32];
	for (int i = 1; i <= N; i++) {
		snprintf(name, sizeof name, "m%d.lua", i);
		h_write(&s, name, "return 1\n");
	}
	char main_lua[512];
	snprintf(main_lua, sizeof main_lua,
		 "local n = 0\n"
		 "for i = 1, %d do n = n + dofile('m' .. i .. '.lua') end\n"
		 "print('sum=' .. n .. ';')\n"
		 "io.stdout:flush()\n"
		 "io.read()\n",
		 N);
	h_write(&s, "main.lua", main_lua);
	int in[2];
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	char *argv[] = {lv_forkmon(), "run", "-q", "-m", "1", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start_io(&s, argv, NULL, in[0], -1);
	close(in[0]);
	lv_expect_exactly(&s, "sum=3000;", 1);
	snprintf(name, sizeof name, "m%d.lua", N);
	h_write(&s, name, "return 2\n");
	lv_expect_exactly(&s, "sum=3001;", 1);
	h_write(&s, "m1.lua", "return 3\n");
	lv_expect_exactly(&s, "sum=3003;", 1);
	lv_end_session(&s, SIGTERM, 0);
	close(in[1]);
}
END_TEST

Suite *ring_suite(void)
{
	Suite *su = suite_create("ring");
	TCase *tc = tcase_create("ring");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_a_file_read_just_before_the_program_blocks_for_good_is_watched);
	tcase_add_test(tc, test_a_burst_of_reads_larger_than_the_ring_is_all_watched);
	suite_add_tcase(su, tc);
	return su;
}
