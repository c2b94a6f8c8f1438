/*
 * tests/system/helperd.c — the test's own `forkmon helper` (helperd.h). Runs in the
 * test's process; the helper is its child, in a session of its own.
 */
#include "helperd.h"

#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void hx_paths(struct h_session *s, char *sock, size_t socklen, char *sockvar, size_t sockvarlen, char *log,
	      size_t loglen, char *logvar, size_t logvarlen)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/run", s->dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(sock, socklen, "%s/helper.sock", dir);
	snprintf(sockvar, sockvarlen, "FORKMON_HELPER_SOCKET=%s", sock);
	snprintf(log, loglen, "%s/helper.log", s->dir);
	snprintf(logvar, logvarlen, "FORKMON_HELPER_LOG=%s", log);
}

void hx_wait_socket(const char *sock)
{
	double end = h_clock() + HX_WAIT;
	struct stat st;
	while (stat(sock, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		ck_assert_msg(h_clock() < end, "no helper listens on %s", sock);
		h_sleep_ms(5); /* polling */
	}
}

/* In the child: the client's way of starting a helper, as the test's own. */
static void hx_exec(struct h_session *s, const char *sock, const char *log, char *logvar, const char *max_sessions,
		    pid_t parent)
{
	char fm[4096], tag[128];
	snprintf(fm, sizeof fm, "%s", h_path("build/forkmon"));
	snprintf(tag, sizeof tag, "FORKMON_TEST_TAG=%s", s->tag);
	setsid();
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(126);
	int null = open("/dev/null", O_RDWR), lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	dup2(null, 0);
	dup2(null, 1);
	dup2(lfd >= 0 ? lfd : null, 2);
	for (int fd = 3; fd < 1024; fd++)
		close(fd); /* the runner's own descriptors are none of the helper's */
	putenv(tag);
	if (logvar)
		putenv(logvar);
	unsetenv("LD_PRELOAD");
	if (chdir("/") < 0)
		_exit(126);
	if (max_sessions)
		execl(fm, "forkmon", "helper", "--socket", sock, "--max-sessions", max_sessions, (char *)NULL);
	else
		execl(fm, "forkmon", "helper", "--socket", sock, (char *)NULL);
	_exit(127);
}

pid_t hx_start(struct h_session *s, const char *sock, const char *log, char *logvar, const char *max_sessions)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		hx_exec(s, sock, log, logvar, max_sessions, parent);
	hx_wait_socket(sock);
	return pid;
}

void hx_stop(pid_t pid, const char *sock)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	ck_assert_msg(access(sock, F_OK) != 0, "the helper left its socket behind");
}

/* Reads the terminal's output into buf until want shows (typing the key after "ready"),
 * the terminal ends, or the deadline passes. */
static int hx_key_dialogue(int m, const char *want)
{
	char buf[4096];
	size_t got = 0;
	int typed = 0;
	buf[0] = '\0';
	double end = h_clock() + HX_WAIT;
	while (!strstr(buf, want) && h_clock() < end) {
		struct pollfd p = {.fd = m, .events = POLLIN};
		if (poll(&p, 1, 50) > 0) {
			ssize_t n = read(m, buf + got, sizeof buf - 1 - got);
			if (n <= 0)
				break;
			got += (size_t)n;
			buf[got] = '\0';
		}
		if (!typed && strstr(buf, "ready")) {
			ck_assert_int_eq(write(m, "x", 1), 1); /* one key, no Enter */
			typed = 1;
		}
	}
	return strstr(buf, want) != NULL;
}

int hx_key_call(struct h_session *s, char *const env[], char *const argv[], const char *want)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	ck_assert_int_ge(m, 0);
	ck_assert_int_eq(grantpt(m), 0);
	ck_assert_int_eq(unlockpt(m), 0);
	int sl = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
	ck_assert_int_ge(sl, 0);
	h_start_io(s, (char **)argv, (char **)env, sl, sl);
	close(sl);
	int ok = hx_key_dialogue(m, want);
	if (!ok)
		kill(s->pid, SIGKILL); /* the client; its command follows (a dead client) */
	ck_assert(h_wait_exit(s, HX_WAIT));
	close(m);
	return ok;
}

int hx_log_count(const char *log, const char *needle)
{
	FILE *f = fopen(log, "r");
	char line[8192];
	int n = 0;
	while (f && fgets(line, sizeof line, f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

void hx_begin(struct hx *h)
{
	h_init(&h->s);
	hx_paths(&h->s, h->sock, sizeof h->sock, h->sockvar, sizeof h->sockvar, h->log, sizeof h->log, h->logvar,
		 sizeof h->logvar);
	h->helper = hx_start(&h->s, h->sock, h->log, NULL, NULL);
}

void hx_end(struct hx *h)
{
	hx_stop(h->helper, h->sock);
	ck_assert_msg(h_none_left(&h->s, 20), "%d processes left:\n%s", h_left(&h->s), h_describe(&h->s));
	h_cleanup(&h->s);
}
