/*
 * tests/system/test_helper_requests.c — a live `forkmon helper` against requests no
 * client of ours sends (counts that do not match the bytes, an environment count that
 * once wrapped the helper's allocation) and against an environment too large for a
 * request: the helper refuses each one with a HELPER_ERROR and a line in its log,
 * survives, and serves the next good request; the client runs an oversized command
 * itself, saying so in one line.
 *
 * The helper is the test's own child, tagged (FORKMON_TEST_TAG): it is ended by pid.
 */
#include "harness.h"
#include "helperd.h"
#include "suites.h"

#include "forkmon_proto.h"

#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT 30.0

struct hr {
	struct h_session s;
	char sock[4096], sockvar[4200], log[4096], logvar[4200];
	pid_t helper;
};

static void hr_start(struct hr *h)
{
	h_init(&h->s);
	hx_paths(&h->s, h->sock, sizeof h->sock, h->sockvar, sizeof h->sockvar, h->log, sizeof h->log, h->logvar,
		 sizeof h->logvar);
	h->helper = hx_start(&h->s, h->sock, h->log, NULL, NULL);
}

/* Sends a HELPER_RUN of these bytes after the header (with the cwd, 0, 1, 2) and
 * returns the type of the helper's answer (0: none, the connection closed). */
static int hr_send(struct hr *h, const void *body, size_t len, char *why, size_t whylen)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", h->sock);
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	ck_assert_int_eq(connect(s, (struct sockaddr *)&a, sizeof a), 0);
	char *m = malloc(8 + len);
	fm_init((struct fm_header *)m, FM_HELPER_RUN, (uint32_t)(8 + len));
	memcpy(m + 8, body, len);
	int fds[4] = {open(h->s.dir, O_PATH | O_DIRECTORY), 0, 1, 2};
	struct iovec iov = {.iov_base = m, .iov_len = 8 + len};
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(sizeof fds)];
	} cb;
	memset(&cb, 0, sizeof cb);
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cb, .msg_controllen = sizeof cb};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof fds);
	memcpy(CMSG_DATA(c), fds, sizeof fds);
	ck_assert_int_eq(sendmsg(s, &mh, MSG_NOSIGNAL), (ssize_t)(8 + len));
	close(fds[0]);
	free(m);
	struct fm_helper_error e;
	memset(&e, 0, sizeof e);
	ssize_t n = recv(s, &e, sizeof e, 0); /* blocks: the helper answers or closes */
	close(s);
	snprintf(why, whylen, "%.*s", (int)sizeof e.message, e.message);
	return n >= (ssize_t)sizeof e.h ? e.h.type : 0;
}

/* A good call through the helper: `forkmon-client /bin/echo WORD`, with env added. */
static void hr_call(struct hr *h, const char *word, char *extra)
{
	char client[4096], want[128];
	snprintf(client, sizeof client, "%s", h_path("build/forkmon-client"));
	char *argv[] = {client, "/bin/echo", (char *)word, NULL};
	char *env[] = {h->sockvar, h->logvar, extra, NULL};
	int before = h_count(&h->s, word);
	h_start(&h->s, argv, env);
	ck_assert_msg(h_wait_exit(&h->s, WAIT), "the client did not finish:\n%s", h_output(&h->s));
	ck_assert_msg(WIFEXITED(h->s.status) && WEXITSTATUS(h->s.status) == 0, "status 0x%x:\n%s", h->s.status,
		      h_output(&h->s));
	snprintf(want, sizeof want, "%s", word);
	ck_assert_int_eq(h_count(&h->s, want), before + 1);
}

static void hr_end(struct hr *h)
{
	ck_assert_msg(kill(h->helper, 0) == 0, "the helper is gone");
	kill(h->helper, SIGTERM); /* our own child, by pid */
	int st;
	ck_assert_int_eq(waitpid(h->helper, &st, 0), h->helper);
	ck_assert_msg(h_none_left(&h->s, 20), "%d processes left:\n%s", h_left(&h->s), h_describe(&h->s));
	h_cleanup(&h->s);
}

START_TEST(test_requests_whose_counts_lie_are_refused_and_the_helper_serves_on)
{
	struct hr h;
	hr_start(&h);
	hr_call(&h, "first-call", NULL);
	struct {
		uint32_t argc, envc;
		int32_t pid, pad;
		char data[64];
	} b = {.pid = getpid()};
	char why[300];
	/* envc + 3 wrapped to 2 once: the strings that came were written past the array */
	b.argc = 1;
	b.envc = 0xFFFFFFFFu;
	memcpy(b.data, "/bin/echo\0A=1\0B=2\0C=3\0D=4", 26);
	ck_assert_int_eq(hr_send(&h, &b, 16 + 26, why, sizeof why), FM_HELPER_ERROR);
	ck_assert_msg(strstr(why, "4294967295 environment strings"), "refused as: %s", why);
	/* fewer strings than counted, more than counted, an argc beyond the limit */
	b.envc = 5;
	ck_assert_int_eq(hr_send(&h, &b, 16 + 26, why, sizeof why), FM_HELPER_ERROR);
	b.envc = 2;
	ck_assert_int_eq(hr_send(&h, &b, 16 + 26, why, sizeof why), FM_HELPER_ERROR);
	b.argc = FM_HELPER_MAX_ARGS + 1;
	ck_assert_int_eq(hr_send(&h, &b, 16 + 26, why, sizeof why), FM_HELPER_ERROR);
	ck_assert_msg(strstr(why, "arguments"), "refused as: %s", why);
	/* a string that does not end */
	b.argc = 1;
	b.envc = 0;
	memcpy(b.data, "/bin/echo", 9);
	ck_assert_int_eq(hr_send(&h, &b, 16 + 9, why, sizeof why), FM_HELPER_ERROR); /* no NUL at its end */
	ck_assert_int_ge(hx_log_count(h.log, "forkmon: malformed request"), 5);
	hr_call(&h, "after-bad-requests", NULL);
	hr_end(&h);
}
END_TEST

START_TEST(test_an_environment_too_large_for_the_helper_is_said_once_and_run_directly)
{
	struct hr h;
	hr_start(&h);
	/* three of 100 KiB: under the kernel's limit on one string, over the request's */
	size_t big = 100 * 1024;
	char *vars[3];
	for (int i = 0; i < 3; i++) {
		vars[i] = malloc(big + 8);
		memcpy(vars[i], "BIGVAR_=", 8);
		vars[i][6] = (char)('A' + i);
		memset(vars[i] + 8, 'x', big - 1);
		vars[i][big + 7] = '\0';
	}
	char client[4096];
	snprintf(client, sizeof client, "%s", h_path("build/forkmon-client"));
	char *argv[] = {client, "/bin/echo", "big-call", NULL};
	char *env[] = {h.sockvar, h.logvar, vars[0], vars[1], vars[2], NULL};
	h_start(&h.s, argv, env);
	ck_assert(h_wait_exit(&h.s, WAIT));
	ck_assert_msg(WIFEXITED(h.s.status) && WEXITSTATUS(h.s.status) == 0, "status 0x%x", h.s.status);
	ck_assert_int_eq(h_count(&h.s, "big-call"), 1);
	ck_assert_msg(h_count(&h.s, "forkmon: the command and its environment are too large for the helper") == 1,
		      "no line, or more than one:\n%.2000s", h_output(&h.s));
	for (int i = 0; i < 3; i++)
		free(vars[i]);
	hr_call(&h, "small-call", NULL);
	hr_end(&h);
}
END_TEST

Suite *helper_requests_suite(void)
{
	Suite *s = suite_create("helper_requests");
	TCase *tc = tcase_create("bad requests");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_requests_whose_counts_lie_are_refused_and_the_helper_serves_on);
	tcase_add_test(tc, test_an_environment_too_large_for_the_helper_is_said_once_and_run_directly);
	suite_add_tcase(s, tc);
	return s;
}
