/*
 * tests/system/test_helper.c — the helper front end: forkmon-client invocations served
 * warm by `forkmon helper`, with the client's own streams, environment and exit status.
 *
 * "Warm" is proven without timing: the Lua program burns 0.3 s of CPU in its start-up
 * and prints os.clock() (this process's CPU time) at the end. A copy resumed from a
 * checkpoint after the start-up is a new process that never ran it: its clock is small.
 *
 * The helpers a test talks to carry its tag (FORKMON_TEST_TAG, inherited from the client
 * that started them or given by the test): it ends those, by pid, and never another
 * `forkmon helper` of the machine — a user's own, or another test run's.
 */
#include "harness.h"
#include "helperd.h"
#include "suites.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT 30.0

static const char prog[] = "local t = dofile('startup.lua')\n"                  /* watched */
			   "while os.clock() < 0.3 do end\n"                     /* start-up work */
			   "local v = dofile('mod.lua')\n"                       /* watched */
			   "local line = io.read('l') or ''\n"                   /* the client's stdin */
			   "io.write(string.format('%s %s %s stdin=%s %s\\n', t, v, os.getenv('WHO') or '-',\n"
			   "  line, os.clock() < 0.3 and 'warm' or 'cold'))\n"
			   "os.exit(tonumber(os.getenv('CODE')) or 0)\n";

struct hsess {
	struct h_session s;
	char sock[4096], sockvar[4200], log[4096], logvar[4200];
	pid_t helper; /* a helper the test started itself, or 0 */
};

static void hs_init(struct hsess *h)
{
	h_init(&h->s);
	hx_paths(&h->s, h->sock, sizeof h->sock, h->sockvar, sizeof h->sockvar, h->log, sizeof h->log, h->logvar,
		 sizeof h->logvar);
	h_write(&h->s, "prog.lua", prog);
	h_write(&h->s, "startup.lua", "return 'S1'\n");
	h_write(&h->s, "mod.lua", "return 'M1'\n");
	h_write(&h->s, "in.txt", "hello\n");
	h->helper = 0;
}

static const char *hs_sock(struct hsess *h)
{
	return h->sock;
}

/* The helper, as the test's child, before any client runs: the client's few seconds for
 * a helper to come up are then never what a test depends on. */
static void hs_helper(struct hsess *h)
{
	h->helper = hx_start(&h->s, h->sock, h->log, NULL, NULL);
}

/* Whether pid's command line starts with these NUL-separated words (len with the NULs). */
static int hs_cmdline_is(pid_t pid, const char *words, size_t len)
{
	char p[64], cmd[256];
	snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, cmd, sizeof cmd);
	close(fd);
	return n >= (ssize_t)len && memcmp(cmd, words, len) == 0;
}

/* Processes of this test (by its tag, never by name) whose command line starts so. */
static int hs_tagged(struct hsess *h, const char *words, size_t len, pid_t *out, int max)
{
	pid_t pids[1024];
	int n = h_procs(&h->s, pids, 1024), k = 0;
	for (int i = 0; i < n && i < 1024; i++)
		if (hs_cmdline_is(pids[i], words, len) && k < max)
			out[k++] = pids[i];
	return k;
}

/* One invocation: `CODE=STATUS WHO=who forkmon-client lua5.4 prog.lua < in.txt`, waited
 * for. The same command every time (argv and cwd are what a session keeps warm). */
static int hs_call(struct hsess *h, const char *status, const char *who)
{
	char whovar[64], codevar[64];
	snprintf(whovar, sizeof whovar, "WHO=%s", who);
	snprintf(codevar, sizeof codevar, "CODE=%s", status);
	char client[4096], script[8192];
	snprintf(client, sizeof client, "%s", h_path("build/forkmon-client"));
	snprintf(script, sizeof script, "exec %s lua5.4 prog.lua < in.txt", client);
	char *env[] = {h->sockvar, h->logvar, whovar, codevar, NULL};
	char *argv[] = {"/bin/sh", "-c", script, NULL};
	h_start(&h->s, argv, env);
	ck_assert_msg(h_wait_exit(&h->s, WAIT), "the client did not finish; output:\n%s", h_output(&h->s));
	return h->s.status;
}

/* Ends the helper (and with it every session and checkpoint), then checks nothing is
 * left. Only this test's helpers get the signal: a user's own is none of its business. */
static void hs_end(struct hsess *h)
{
	static const char helper[] = "forkmon\0helper"; /* with both NULs */
	pid_t pids[64];
	int n = hs_tagged(h, helper, sizeof helper, pids, 64);
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGTERM); /* the tag check below covers strays */
	ck_assert_msg(h_none_left(&h->s, 20), "%d processes left:\n%s", h_left(&h->s), h_describe(&h->s));
	if (h->helper > 0)
		waitpid(h->helper, NULL, 0);
	ck_assert_msg(access(hs_sock(h), F_OK) != 0, "the helper left its socket behind");
	h_cleanup(&h->s);
}

/* The first call starts the helper. The client gives it a few seconds to come up and
 * runs the command directly if it did not (a loaded machine): which one happened shows
 * afterwards, as the checkpoints a served call leaves behind. A served first call makes
 * the second warm; a direct one leaves the session to the second, and the third is warm. */
START_TEST(test_helper_serves_repeated_invocations_warm_with_the_clients_streams)
{
	/* the same environment every time: it is part of what a session keeps warm
	 * (tests/system/test_helper_daemon.c shows another one gets a session of its own) */
	struct hsess h;
	hs_init(&h);
	int st = hs_call(&h, "3", "alice");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 3, "status 0x%x:\n%s", st, h_output(&h.s));
	ck_assert_int_eq(h_count(&h.s, "S1 M1 alice stdin=hello cold"), 1);
	hx_wait_socket(h.sock); /* the client did start a helper */
	pid_t ck[8];
	int served = hs_tagged(&h, "lua5.4", sizeof "lua5.4", ck, 8) > 0;
	st = hs_call(&h, "3", "alice");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 3, "status 0x%x", st);
	ck_assert_msg(h_count(&h.s, "S1 M1 alice stdin=hello warm") == served, "first call %s, second not as it should be:\n%s",
		      served ? "served" : "run directly", h_output(&h.s));
	st = hs_call(&h, "3", "alice");
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	ck_assert_msg(h_count(&h.s, "S1 M1 alice stdin=hello warm") == served + 1, "not served warm:\n%s",
		      h_output(&h.s));
	hs_end(&h);
}
END_TEST

START_TEST(test_a_changed_file_is_read_again_and_earlier_work_still_skipped)
{
	struct hsess h;
	hs_init(&h);
	hs_helper(&h);
	hs_call(&h, "0", "a");
	hs_call(&h, "0", "a");
	ck_assert_int_eq(h_count(&h.s, "S1 M1 a stdin=hello warm"), 1);
	/* mod.lua is read after the start-up: its checkpoint still skips the start-up */
	h_write_rename(&h.s, "mod.lua", "return 'M2'\n");
	for (int i = 0; i < 200 && !h_count(&h.s, "S1 M2 a"); i++) {
		/* the change reaches the helper asynchronously: call until it shows */
		hs_call(&h, "0", "a");
	}
	ck_assert_msg(h_count(&h.s, "S1 M2 a stdin=hello warm") >= 1, "output:\n%s", h_output(&h.s));
	/* startup.lua is read before the start-up: the next copy must redo it */
	h_write(&h.s, "startup.lua", "return 'S2'\n");
	for (int i = 0; i < 200 && !h_count(&h.s, "S2 M2 a"); i++)
		hs_call(&h, "0", "a");
	ck_assert_msg(h_count(&h.s, "S2 M2 a stdin=hello cold") == 1, "output:\n%s", h_output(&h.s));
	hs_end(&h);
}
END_TEST

START_TEST(test_ctrl_c_on_the_client_ends_the_command_with_sigint)
{
	struct hsess h;
	hs_init(&h);
	hs_helper(&h);
	/* perl dies of SIGINT (lua5.4 would turn it into "interrupted!" and status 1) */
	h_write(&h.s, "wait.pl", "$| = 1;\nopen(my $f, '<', 'mod.lua') or die;\nprint \"waiting\\n\";\nsleep 100;\n");
	char client[4096], script[8192];
	snprintf(client, sizeof client, "%s", h_path("build/forkmon-client"));
	snprintf(script, sizeof script, "exec %s perl wait.pl", client);
	char *env[] = {h.sockvar, h.logvar, NULL};
	char *argv[] = {"/bin/sh", "-c", script, NULL};
	h_start(&h.s, argv, env);
	ck_assert(h_wait_for(&h.s, "waiting", 1, WAIT));
	int st = h_stop(&h.s, SIGINT, 0); /* to the client only: it passes it on */
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT, "status 0x%x", st);
	hs_end(&h);
}
END_TEST

START_TEST(test_without_a_private_socket_directory_the_command_runs_directly)
{
	struct hsess h;
	hs_init(&h);
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/shared", h.s.dir);
	ck_assert_int_eq(mkdir(dir, 0777), 0);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	snprintf(h.sockvar, sizeof h.sockvar, "FORKMON_HELPER_SOCKET=%s/helper.sock", dir);
	int st = hs_call(&h, "5", "eve");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 5, "status 0x%x", st);
	ck_assert_int_eq(h_count(&h.s, "is not a private directory"), 1);
	ck_assert_int_eq(h_count(&h.s, "running the command directly"), 1);
	ck_assert_int_eq(h_count(&h.s, "S1 M1 eve stdin=hello cold"), 1);
	ck_assert(h_none_left(&h.s, 10));
	h_cleanup(&h.s);
}
END_TEST

START_TEST(test_malformed_messages_do_not_hurt_the_helper)
{
	struct hsess h;
	hs_init(&h);
	hs_helper(&h);
	hs_call(&h, "0", "first");
	char sock[4096];
	snprintf(sock, sizeof sock, "%s/run/helper.sock", h.s.dir);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
	const char *junk[] = {"x", "FK\x01\x0b garbage that is not a request", ""};
	for (int i = 0; i < 3; i++) {
		int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		ck_assert_int_eq(connect(s, (struct sockaddr *)&a, sizeof a), 0);
		if (junk[i][0])
			send(s, junk[i], strlen(junk[i]), MSG_NOSIGNAL);
		close(s);
	}
	hs_call(&h, "0", "first");
	ck_assert_int_eq(h_count(&h.s, "S1 M1 first stdin=hello warm"), 1);
	char log[4096];
	snprintf(log, sizeof log, "%s/helper.log", h.s.dir);
	FILE *f = fopen(log, "r");
	ck_assert_ptr_nonnull(f);
	char line[512];
	int malformed = 0;
	while (fgets(line, sizeof line, f))
		malformed += strstr(line, "forkmon: malformed request") != NULL;
	fclose(f);
	ck_assert_int_ge(malformed, 2);
	hs_end(&h);
}
END_TEST

START_TEST(test_a_link_named_after_the_command_runs_it_through_the_helper)
{
	struct hsess h;
	hs_init(&h);
	hs_helper(&h);
	char bin[4096], link[4200], pathvar[8300];
	snprintf(bin, sizeof bin, "%s/bin", h.s.dir);
	ck_assert_int_eq(mkdir(bin, 0755), 0);
	snprintf(link, sizeof link, "%s/lua5.4", bin);
	ck_assert_int_eq(symlink(h_path("build/forkmon-client"), link), 0);
	snprintf(pathvar, sizeof pathvar, "PATH=%s:%s", bin, getenv("PATH"));
	for (int i = 0; i < 2; i++) {
		char *env[] = {h.sockvar, h.logvar, pathvar, "WHO=masq", "FORKMON_USE_HELPER=1", NULL};
		char *argv[] = {"/bin/sh", "-c", "exec lua5.4 prog.lua < in.txt", NULL};
		h_start(&h.s, argv, env);
		ck_assert(h_wait_exit(&h.s, WAIT));
		ck_assert_msg(WIFEXITED(h.s.status) && WEXITSTATUS(h.s.status) == 0, "0x%x:\n%s", h.s.status,
			      h_output(&h.s));
	}
	ck_assert_int_eq(h_count(&h.s, "S1 M1 masq stdin=hello cold"), 1);
	ck_assert_int_eq(h_count(&h.s, "S1 M1 masq stdin=hello warm"), 1);
	hs_end(&h);
}
END_TEST

START_TEST(test_helper_cli)
{
	struct h_session s;
	h_init(&s);
	char fm[4096];
	snprintf(fm, sizeof fm, "%s", h_path("build/forkmon"));
	char *a1[] = {fm, "helper", "--help", NULL};
	h_start(&s, a1, NULL);
	ck_assert(h_wait_exit(&s, WAIT));
	ck_assert(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 0);
	ck_assert_int_eq(h_count(&s, "usage: forkmon helper"), 1);
	char *a2[] = {fm, "helper", "--timeout", "never", NULL};
	h_start(&s, a2, NULL);
	ck_assert(h_wait_exit(&s, WAIT));
	ck_assert(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 2);
	ck_assert_int_eq(h_count(&s, "forkmon: invalid timeout 'never'"), 1);
	char client[4096];
	snprintf(client, sizeof client, "%s", h_path("build/forkmon-client"));
	char *a3[] = {client, NULL};
	h_start(&s, a3, NULL);
	ck_assert(h_wait_exit(&s, WAIT));
	ck_assert(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 2);
	ck_assert_int_eq(h_count(&s, "forkmon: no command given"), 1);
	char *a4[] = {client, "--", "no-such-command-here", NULL};
	h_start(&s, a4, NULL);
	ck_assert(h_wait_exit(&s, WAIT));
	ck_assert(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 127);
	ck_assert(h_none_left(&s, 10));
	h_cleanup(&s);
}
END_TEST

Suite *helper_suite(void)
{
	Suite *s = suite_create("helper");
	TCase *tc = tcase_create("client and helper");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_helper_serves_repeated_invocations_warm_with_the_clients_streams);
	tcase_add_test(tc, test_a_changed_file_is_read_again_and_earlier_work_still_skipped);
	tcase_add_test(tc, test_ctrl_c_on_the_client_ends_the_command_with_sigint);
	tcase_add_test(tc, test_without_a_private_socket_directory_the_command_runs_directly);
	tcase_add_test(tc, test_malformed_messages_do_not_hurt_the_helper);
	tcase_add_test(tc, test_a_link_named_after_the_command_runs_it_through_the_helper);
	tcase_add_test(tc, test_helper_cli);
	suite_add_tcase(s, tc);
	return s;
}
