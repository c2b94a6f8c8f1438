/*
 * tests/system/test_live_commands.c — commands that are not one program: files read only
 * by subprocesses restart the command; a script running forkmon in the background
 * without a terminal ends it with SIGTERM and is never left waiting.
 *
 * System suite (live-commands). Shared helpers: live.h.
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


/* Files read only by the program's subprocesses have no checkpoint: a change restarts
 * the command, which then reads the new content. */
START_TEST(test_file_read_by_a_subprocess_restarts_the_command_with_the_new_content)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "a.txt", "A0\n");
	h_write(&s, "b.txt", "B0\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.txt$", "--", "sh", "-c", "cat a.txt; cat b.txt; echo done",
			NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "done", 1);
	for (int k = 1; k <= 5; k++) {
		char c[32], want[64];
		snprintf(c, sizeof c, "B%d\n", k);
		h_write(&s, "b.txt", c);
		snprintf(want, sizeof want, "A0\nB%d\ndone\n", k);
		lv_expect_exactly(&s, want, 1);
		lv_expect_exactly(&s, lv_restart_line(&s, "b.txt"), k);
		lv_expect_exactly(&s, "done", k + 1);
	}
	h_write(&s, "a.txt", "A1\n");
	lv_expect_exactly(&s, "A1\nB5\ndone\n", 1);
	lv_expect_exactly(&s, lv_restart_line(&s, "a.txt"), 1);
	lv_expect_none(&s, "resuming");
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* A script runs forkmon in the background with stdin closed, waits for the program's
 * output, then ends the session with SIGTERM: it is never left waiting on forkmon. The
 * script waits as long as it takes; the test gives each phase a deadline of its own (the
 * output, then the end after SIGTERM), so a slow start is never taken for a hang. */
START_TEST(test_script_running_forkmon_without_a_terminal_ends_it_with_sigterm)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "a.txt", "A0\n");
	static const char script[] =
		"\"$1\" run -f '%.txt$' -- sh -c 'cat a.txt; cat -; echo \"stdin: $?\"' <&- >fm.log 2>&1 &\n"
		"pid=$!\n"
		"until grep -q 'stdin: ' fm.log; do sleep 0.05; done\n"
		"echo 'script: sending SIGTERM'\n"
		"kill -TERM $pid\n"
		"wait $pid\n"
		"echo \"forkmon ended with $?\"\n"
		"cat fm.log\n";
	char *argv[] = {"/bin/sh", "-c", (char *)script, "sh", lv_forkmon(), NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "script: sending SIGTERM", 1);
	ck_assert_msg(h_wait_exit(&s, LV_WAIT), "the script is left waiting on forkmon:\n%s", lv_out_tail(&s));
	ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 0, "script: 0x%x", s.status);
	lv_expect_exactly(&s, "forkmon ended with 143", 1);
	lv_expect_exactly(&s, "A0\n", 1);
	ck_assert_msg(h_none_left(&s, 10), "%d processes of the session are left:\n%s", h_left(&s), h_describe(&s));
	h_cleanup(&s);
}
END_TEST

Suite *live_commands_suite(void)
{
	Suite *s = suite_create("live-commands");
	TCase *tc = tcase_create("subprocesses and scripts");
	tcase_set_timeout(tc, 300); /* per test; each takes seconds at most when all is well */
	tcase_add_test(tc, test_file_read_by_a_subprocess_restarts_the_command_with_the_new_content);
	tcase_add_test(tc, test_script_running_forkmon_without_a_terminal_ends_it_with_sigterm);
	suite_add_tcase(s, tc);
	return s;
}
