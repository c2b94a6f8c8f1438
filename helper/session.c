/*
 * helper/session.c — the helper's sessions: one child process per command kept warm,
 * keyed by (cwd, argv), running the monitor in serve mode (monitor_run with serve_fd).
 * Runs in the `forkmon helper` process; called by request.c (find, start, hand over)
 * and helper.c (reap on SIGCHLD, end all at shutdown).
 *
 * A session gets requests on its own SOCK_SEQPACKET pair: the client's HELPER_RUN as it
 * came, with the client's connection and its cwd, 0, 1, 2 attached, so the session
 * answers the client directly. A session keeps nothing else of the helper's: not the
 * listening socket, not the loop, not the connections and streams of the client whose
 * request made it start (held, they would keep that client's pipes open for the whole
 * life of the session).
 */
#include "daemon.h"
#include "helper.h"
#include "monitor.h"
#include "peer.h"
#include "sibling.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Forgets session i (its process has ended). */
static void session_forget(int i)
{
	close(helperd.s[i].fd);
	free(helperd.s[i].key);
	helperd.s[i] = helperd.s[--helperd.n];
}

static int session_index(pid_t pid)
{
	for (int i = 0; i < helperd.n; i++)
		if (helperd.s[i].pid == pid)
			return i;
	return -1;
}

int session_reap(void)
{
	int st, ended = 0;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		int i = session_index(pid);
		if (i >= 0) {
			session_forget(i);
			ended++;
		}
	}
	return ended;
}

struct session *session_find(const char *key, size_t keylen)
{
	for (int i = 0; i < helperd.n; i++)
		if (helperd.s[i].keylen == keylen && !memcmp(helperd.s[i].key, key, keylen))
			return &helperd.s[i];
	return NULL;
}

/* In the new child: only its request socket (as fd 3) and 0, 1, 2 stay; the signal mask
 * is the helper's own from before its loop; then the monitor, which never returns. */
static __attribute__((noreturn)) void session_child(int sock, const char *key, char **argv, const char *path_env)
{
	if (sock != 3 && dup2(sock, 3) < 0)
		_exit(1);
	closefrom(4);
	sigprocmask(SIG_SETMASK, &helperd.orig_mask, NULL);
	if (chdir(key) < 0) /* the key starts with the cwd */
		_exit(1);
	if (path_env)
		setenv("PATH", path_env, 1); /* find the command as the client would */
	struct monitor_opts o = {.listen_fd = -1, .serve_fd = 3};
	o.filter = helperd.filter;
	o.ignore = helperd.ignore;
	o.quiet = 1;
	o.delay_ns = 5000000;
	o.grace_ns = 1000000000;
	o.max_checkpoints = 512;
	o.idle_ns = helperd.idle_ns;
	o.argv = argv;
	char why[PATH_MAX + 128];
	o.hook = sibling_hook(why, sizeof why); /* checked by helper_main */
	monitor_run(&o);
}

/* Starts the session that keeps argv warm in cwd. */
struct session *session_start(const char *key, size_t keylen, char **argv, const char *path_env)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return NULL;
	int big = FM_MSG_MAX * 2;
	setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	setsockopt(sp[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	struct session *s = realloc(helperd.s, (size_t)(helperd.n + 1) * sizeof *s);
	char *k = malloc(keylen);
	if (s)
		helperd.s = s;
	pid_t pid = s && k ? fork() : -1;
	if (pid == 0)
		session_child(sp[1], key, argv, path_env);
	close(sp[1]);
	if (pid < 0) {
		free(k);
		close(sp[0]);
		return NULL;
	}
	s = &helperd.s[helperd.n++];
	memcpy(k, key, keylen);
	*s = (struct session){.key = k, .keylen = keylen, .pid = pid, .fd = sp[0]};
	return s;
}

int session_hand_over(struct session *s, int conn, const void *msg, const int *fds)
{
	int all[5] = {conn, fds[0], fds[1], fds[2], fds[3]};
	/* never wait: a session that does not take its requests costs its clients the
	 * helper (they run the command themselves), not every other client too */
	return peer_send(s->fd, msg, all, 5, MSG_DONTWAIT);
}

void session_end_all(void)
{
	for (int i = 0; i < helperd.n; i++)
		kill(helperd.s[i].pid, SIGTERM);
	while (helperd.n) {
		int st;
		pid_t pid = waitpid(-1, &st, 0);
		if (pid < 0)
			break;
		int i = session_index(pid);
		if (i >= 0)
			session_forget(i);
	}
}
