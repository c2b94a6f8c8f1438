/*
 * helper/request.c — the helper's clients: accepted, their one request read when it
 * comes, checked, and handed to the command's session (session.c). Runs in the
 * `forkmon helper` process, from its loop (helper.c).
 *
 * A client sends its HELPER_RUN at once; one that sends nothing within 2 s is dropped
 * by a timer, and meanwhile every other client is served: nothing here blocks (every
 * connection is read without waiting, when the loop says it has something). A
 * request refused gets one error line in the helper's log and a HELPER_ERROR, on which
 * the client runs the command itself: so does one from a deleted directory, one whose counts or lengths do not match
 * the bytes that came, or exceed forkmon_proto.h's limits (wire.c checks them).
 */
#include "daemon.h"
#include "escape.h"
#include "loop.h"
#include "out.h"
#include "peer.h"
#include "wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Arms the drop timer for the earliest deadline. */
static void request_rearm(void)
{
	int64_t at = -1;
	for (int i = 0; i < helperd.np; i++)
		if (at < 0 || helperd.p[i].deadline < at)
			at = helperd.p[i].deadline;
	loop_timer_at(helperd.loop, helperd.drop_timer, at);
}

/* Stops waiting for connection i (the caller closes it). */
static void request_forget(int i)
{
	loop_del(helperd.loop, helperd.p[i].fd);
	helperd.p[i] = helperd.p[--helperd.np];
	request_rearm();
	helper_idle_rearm();
}

/*
 * Checks a HELPER_RUN as peer_recv() returned it (n) and takes it apart into r, with its
 * argv (NULL-ended) and the client's PATH. Returns 0, or -1 with why filled.
 */
static int request_check(const char *buf, ssize_t n, int nfds, struct wire_run *r, char **argv,
			 const char **path_env, char *why, size_t whylen)
{
	const struct fm_helper_run *m = (const void *)buf;
	if (n == PEER_VERSION) {
		snprintf(why, whylen, "client version %d, helper version %d", m->h.version, FM_VERSION);
		return -1;
	}
	if (n <= 0) {
		snprintf(why, whylen, "malformed request (%s)", peer_why(n));
		return -1;
	}
	if (nfds != 4) {
		snprintf(why, whylen, "malformed request (type %d, %d descriptors)", m->h.type, nfds);
		return -1;
	}
	if (wire_run_parse(buf, (size_t)n, r, why, whylen) < 0)
		return -1;
	wire_run_argv(r, argv);
	*path_env = NULL;
	for (const char *p = r->env; p < r->env + r->envlen; p += strlen(p) + 1)
		if (!strncmp(p, "PATH=", 5))
			*path_env = p + 5;
	return 0;
}

/*
 * The session's key: the client's cwd (the first descriptor), argv, and the environment
 * less FORKMON_* (forkmon's own: the socket, the log, a test's tag; nothing a program
 * is meant to read), in the client's order. What the program read of its environment
 * before a checkpoint is then always what the client has. NULL, with why filled, for a
 * cwd that was deleted (no session could start there) or no memory.
 */
static char *request_key(int cwd_fd, char **argv, const struct wire_run *r, size_t *keylen, char *why,
			 size_t whylen)
{
	char cwd[PATH_MAX], link[64];
	struct stat st;
	snprintf(link, sizeof link, "/proc/self/fd/%d", cwd_fd);
	ssize_t cl = readlink(link, cwd, sizeof cwd - 1);
	if (cl <= 0 || cwd[0] != '/' || fstat(cwd_fd, &st) < 0 || st.st_nlink == 0) {
		snprintf(why, whylen, "the working directory was deleted");
		return NULL;
	}
	cwd[cl] = '\0';
	size_t len = (size_t)cl + 1;
	for (char **a = argv; *a; a++)
		len += strlen(*a) + 1;
	len += r->envlen;
	char *key = malloc(len), *k = key;
	if (!key) {
		snprintf(why, whylen, "the helper is out of memory");
		return NULL;
	}
	k = stpcpy(k, cwd) + 1;
	for (char **a = argv; *a; a++)
		k = stpcpy(k, *a) + 1;
	for (const char *p = r->env; p < r->env + r->envlen; p += strlen(p) + 1)
		if (strncmp(p, "FORKMON_", 8) != 0)
			k = stpcpy(k, p) + 1;
	*keylen = (size_t)(k - key);
	return key;
}

/* The request's line in the helper's log: the client's pid, cwd and argv. */
static void request_log(const struct wire_run *r, const char *cwd, char **argv)
{
	if (helperd.log_fd < 0)
		return;
	static char line[8192], esc[4 * 4096 + 1];
	size_t n = (size_t)snprintf(line, sizeof line, "pid %d cwd ", (int)r->pid);
	escape_line(cwd, strlen(cwd), esc, sizeof esc);
	n += (size_t)snprintf(line + n, sizeof line - n, "%s:", esc);
	for (char **a = argv; *a && n < sizeof line - 1; a++) {
		escape_line(*a, strlen(*a), esc, sizeof esc);
		n += (size_t)snprintf(line + n, sizeof line - n, " %s", esc);
	}
	helper_log(line);
}

/* One request: find or start the session, hand everything over. */
static void request_serve(int conn, const char *buf, ssize_t n, const int *fds, int nfds)
{
	static char *argv[FM_HELPER_MAX_ARGS + 1];
	const char *path_env;
	char why[256];
	struct wire_run r;
	size_t keylen;
	if (request_check(buf, n, nfds, &r, argv, &path_env, why, sizeof why) < 0) {
		out_error("%s", why);
		peer_refuse(conn, why);
		return;
	}
	char *key = request_key(fds[0], argv, &r, &keylen, why, sizeof why);
	if (!key) {
		peer_refuse(conn, why);
		return;
	}
	request_log(&r, key, argv);
	struct session *s = session_find(key, keylen);
	if (!s)
		s = session_start(key, keylen, argv, path_env, why, sizeof why);
	free(key);
	if (!s)
		peer_refuse(conn, why);
	else if (session_hand_over(s, conn, buf, fds) < 0)
		peer_refuse(conn, "cannot reach the command's session");
}

static void request_on_readable(struct loop *l, int fd, unsigned events, void *arg)
{
	static char buf[FM_MSG_MAX];
	int fds[PEER_MAX_FDS], nfds = 0;
	ssize_t n = peer_recv(fd, buf, sizeof buf, fds, &nfds, MSG_DONTWAIT);
	if (n == PEER_ERROR && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	for (int i = 0; i < helperd.np; i++)
		if (helperd.p[i].fd == fd) {
			request_forget(i);
			break;
		}
	const struct fm_helper_ctl *ctl = (const void *)buf;
	if (n > 0 && ctl->h.type == FM_HELPER_CTL && nfds == 0) {
		ctl_serve(fd, ctl->op); /* a stop keeps fd until the helper is gone */
		if (helperd.stop_conn != fd)
			close(fd);
		helper_idle_rearm();
		return;
	}
	request_serve(fd, buf, n, fds, nfds);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	close(fd);
	helper_idle_rearm();
}

/* Waits for conn's request (at most HELPER_REQUEST_NS). */
static void request_wait(int conn)
{
	struct pending *p = realloc(helperd.p, (size_t)(helperd.np + 1) * sizeof *p);
	if (!p || loop_add(helperd.loop, conn, LOOP_IN, HELPER_PRIO_CLIENT, request_on_readable, NULL) < 0) {
		if (p)
			helperd.p = p;
		out_error("cannot take a client: %s", strerror(errno));
		close(conn);
		return;
	}
	helperd.p = p;
	helperd.p[helperd.np++] = (struct pending){.fd = conn, .deadline = clock_ns() + HELPER_REQUEST_NS};
	request_rearm();
	helper_idle_rearm();
}

void request_on_listen(struct loop *l, int ls, unsigned events, void *arg)
{
	int conn = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return;
	struct ucred cr = {.uid = (uid_t)-1};
	socklen_t len = sizeof cr;
	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || cr.uid != getuid()) {
		out_error("refused a client of uid %d (not ours)", (int)cr.uid);
		peer_refuse(conn, "not your helper");
		close(conn);
		return;
	}
	request_wait(conn);
}

void request_on_deadline(struct loop *l, void *arg)
{
	int64_t now = clock_ns();
	for (int i = helperd.np - 1; i >= 0; i--)
		if (helperd.p[i].deadline <= now) {
			int fd = helperd.p[i].fd;
			out_error("a client sent nothing; dropped");
			request_forget(i);
			close(fd);
		}
	request_rearm();
}

void request_close_all(void)
{
	while (helperd.np) {
		int fd = helperd.p[0].fd;
		request_forget(0);
		close(fd);
	}
}
