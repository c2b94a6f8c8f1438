/*
 * tests/system/test_helper_streams.c — the helper's checkpoints let go of the client's
 * streams. A checkpoint taken in a client's run used to keep that client's stdout open
 * until the session ended (300 s unused): `out=$(forkmon-client CMD)` waited that long
 * after CMD had finished (found by make valgrind's scenario). Check suite "helper streams".
 */
#include "live.h"
#include "suites.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define HS_WAIT 30.0 /* seconds: the bug made it 300 */

static const char hs_prog[] = "while os.clock() < 0.2 do end\n" /* start-up work */
			      "local v = dofile('mod.lua')\n"     /* watched: a checkpoint */
			      "print(v .. ' ' .. (os.clock() < 0.2 and 'warm' or 'cold'))\n";

/* The helper as the test's child (its own session), listening on dir/run/helper.sock. */
static void hs_start_helper(struct h_session *hs, char *sock, size_t len)
{
	h_init(hs);
	snprintf(sock, len, "%s/run", hs->dir);
	ck_assert_int_eq(mkdir(sock, 0700), 0);
	strncat(sock, "/helper.sock", len - strlen(sock) - 1);
	char *argv[] = {lv_forkmon(), "helper", "--socket", sock, NULL};
	h_start(hs, argv, NULL);
	double end = h_clock() + HS_WAIT;
	struct stat st;
	while (stat(sock, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		ck_assert_msg(h_clock() < end, "no helper listens on %s:\n%s", sock, h_output(hs));
		h_sleep_ms(5); /* polling */
	}
}

/* `out=$(forkmon-client lua5.4 prog.lua); echo "got:$out"` in s, waited for. */
static void hs_captured_call(struct h_session *s, const char *sock)
{
	char script[8192];
	snprintf(script, sizeof script, "out=$(%s -s %s lua5.4 prog.lua </dev/null); echo \"got:$out\"",
		 h_path("build/forkmon-client"), sock);
	char *argv[] = {"/bin/sh", "-c", script, NULL};
	h_start(s, argv, NULL);
	ck_assert_msg(h_wait_exit(s, HS_WAIT), "the captured call did not end within %.0f s:\n%s", HS_WAIT,
		      h_output(s));
}

START_TEST(test_a_captured_call_ends_with_its_command_not_with_the_session)
{
	struct h_session hs, s;
	char sock[4096];
	hs_start_helper(&hs, sock, sizeof sock);
	h_init(&s);
	h_write(&s, "prog.lua", hs_prog);
	h_write(&s, "mod.lua", "return 'M1'\n");
	hs_captured_call(&s, sock); /* cold: its run leaves checkpoints */
	ck_assert_msg(h_count(&s, "got:M1 cold") == 1, "output:\n%s", h_output(&s));
	hs_captured_call(&s, sock); /* warm: a checkpoint writes to this call's stdout */
	ck_assert_msg(h_count(&s, "got:M1 warm") == 1, "output:\n%s", h_output(&s));
	/* the helper's end ends its sessions and their checkpoints */
	int st = h_stop(&hs, SIGTERM, 0);
	ck_assert_msg(WIFEXITED(st) || WIFSIGNALED(st), "helper status 0x%x", st);
	ck_assert_msg(h_none_left(&hs, 20), "left:\n%s", h_describe(&hs));
	ck_assert_msg(h_none_left(&s, 20), "left:\n%s", h_describe(&s));
	h_cleanup(&s);
	h_cleanup(&hs);
}
END_TEST

Suite *helper_streams_suite(void)
{
	Suite *su = suite_create("helper streams");
	TCase *tc = tcase_create("captured");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_a_captured_call_ends_with_its_command_not_with_the_session);
	suite_add_tcase(su, tc);
	return su;
}
