/*
 * helper/session.c — the helper's sessions: one child process per command kept warm,
 * keyed by (cwd, argv, environment), running the monitor in serve mode (monitor_run with
 * serve_fd). Runs in the `forkmon helper` process; called by request.c (find, start,
 * hand over) and helper.c (reap on SIGCHLD, end all at shutdown).
 *
 * A session gets requests on its own SOCK_SEQPACKET pair: the client's HELPER_RUN as it
 * came, with the client's connection and its cwd, 0, 1, 2 attached, so the session
 * answers the client directly. A session keeps nothing else of the helper's: not the
 * listening socket, not the loop, not the connections and streams of the client whose
 * request made it start (held, they would keep that client's pipes open for the whole
 * life of the session). The kernel queues 10 requests on such a socket
 * (net.unix.max_dgram_qlen); more wait here, in order, until it has room.
 *
 * Bounded: each session holds an inotify instance (its watcher) and its checkpoints,
 * and a user has few instances (fs.inotify.max_user_instances, often 128). There are
 * at most helperd.max_sessions sessions, never more than a quarter of that limit; the
 * least recently used one ends to make room for a new one.
 */
#include "daemon.h"
#include "helper.h"
#include "loop.h"
#include "monitor.h"
#include "peer.h"
#include "serve.h"
#include "sibling.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long a new session waits for the least recently used one to end. */
#define SESSION_EVICT_NS (500 * (int64_t)1000000)

static void session_handover_free(struct handover *h)
{
	for (int k = 0; k < 5; k++)
		if (h->fds[k] >= 0)
			close(h->fds[k]);
	free(h->msg);
}

/* Forgets session i (its process has ended): what still waited for it is refused, and
 * those clients run their commands themselves. */
static void session_forget(int i)
{
	struct session *s = &helperd.s[i];
	if (s->nq && helperd.loop)
		loop_del(helperd.loop, s->fd);
	for (int k = 0; k < s->nq; k++) {
		peer_refuse(s->q[k].fds[0], "the command's session ended before it took the request");
		session_handover_free(&s->q[k]);
	}
	free(s->q);
	close(s->fd);
	free(s->key);
	if (s->stats)
		munmap(s->stats, sizeof *s->stats);
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
		if (!helperd.s[i].ending && helperd.s[i].keylen == keylen && !memcmp(helperd.s[i].key, key, keylen))
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
	o.max_checkpoints = HELPER_SESSION_CHECKPOINTS;
	o.idle_ns = helperd.idle_ns;
	o.argv = argv;
	char why[PATH_MAX + 128];
	o.hook = sibling_hook(why, sizeof why); /* checked by helper_main */
	monitor_run(&o);
}

/*
 * Room for one more session: with max_sessions of them, the least recently used gets
 * SIGTERM, and we wait (briefly) until it has ended, its inotify instance with it, so
 * that the share is never exceeded. Returns 0, or -1 with why filled.
 */
static int session_make_room(char *why, size_t whylen)
{
	if (helperd.n < helperd.max_sessions)
		return 0;
	int lru = -1, ending = 0;
	for (int i = 0; i < helperd.n; i++) {
		ending += helperd.s[i].ending;
		if (!helperd.s[i].ending && (lru < 0 || helperd.s[i].used < helperd.s[lru].used))
			lru = i;
	}
	if (lru >= 0 && !ending) {
		kill(helperd.s[lru].pid, SIGTERM);
		helperd.s[lru].ending = 1;
	}
	int64_t end = clock_ns() + SESSION_EVICT_NS;
	while (helperd.n >= helperd.max_sessions && clock_ns() < end) {
		if (!session_reap()) {
			struct timespec ts = {0, 2000000}; /* a session ends in a few ms */
			nanosleep(&ts, NULL);
		}
	}
	if (helperd.n < helperd.max_sessions)
		return 0;
	snprintf(why, whylen, "%d sessions already (at most %d); the least recently used one is ending", helperd.n,
		 helperd.max_sessions);
	return -1;
}

struct session *session_start(const char *key, size_t keylen, char **argv, const char *path_env, char *why,
			      size_t whylen)
{
	if (session_make_room(why, whylen) < 0)
		return NULL;
	snprintf(why, whylen, "cannot start a session for this command: %s", strerror(ENOMEM));
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
	struct serve_stats *st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st == MAP_FAILED)
		st = NULL; /* its status then says less */
	pid_t pid = s && k ? fork() : -1;
	if (pid == 0) {
		for (int i = 0; i < helperd.n; i++)
			if (helperd.s[i].stats)
				munmap(helperd.s[i].stats, sizeof *helperd.s[i].stats); /* the others' */
		serve_stats = st;
		session_child(sp[1], key, argv, path_env);
	}
	close(sp[1]);
	if (pid < 0) {
		if (st)
			munmap(st, sizeof *st);
		free(k);
		close(sp[0]);
		return NULL;
	}
	int argc = 0;
	while (argv[argc])
		argc++;
	s = &helperd.s[helperd.n++];
	memcpy(k, key, keylen);
	*s = (struct session){.key = k, .keylen = keylen, .argc = argc, .pid = pid, .fd = sp[0], .used = clock_ns(),
				   .stats = st};
	return s;
}

/* Sends what waited for s, in order, while its socket has room. */
static void session_flush(struct session *s)
{
	int k = 0;
	for (; k < s->nq; k++) {
		if (peer_send(s->fd, s->q[k].msg, s->q[k].fds, 5, MSG_DONTWAIT) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			peer_refuse(s->q[k].fds[0], "cannot reach the command's session");
		}
		session_handover_free(&s->q[k]);
	}
	memmove(s->q, s->q + k, (size_t)(s->nq - k) * sizeof *s->q);
	s->nq -= k;
	if (!s->nq)
		loop_del(helperd.loop, s->fd);
}

static void session_on_writable(struct loop *l, int fd, unsigned events, void *arg)
{
	for (int i = 0; i < helperd.n; i++)
		if (helperd.s[i].fd == fd) {
			session_flush(&helperd.s[i]);
			return;
		}
	loop_del(l, fd);
}

/* Keeps a request for s until its socket has room: copies of the message and of the
 * descriptors (the caller closes its own). 0, or -1. */
static int session_queue(struct session *s, const void *msg, const int *all)
{
	const struct fm_header *h = msg;
	struct handover *q = s->nq < HELPER_BACKLOG ? realloc(s->q, (size_t)(s->nq + 1) * sizeof *q) : NULL;
	if (!q)
		return -1;
	s->q = q;
	struct handover ho = {.msg = malloc(h->len)};
	for (int k = 0; k < 5; k++)
		ho.fds[k] = fcntl(all[k], F_DUPFD_CLOEXEC, 3);
	int bad = !ho.msg;
	for (int k = 0; k < 5; k++)
		bad |= ho.fds[k] < 0;
	if (bad || (!s->nq && loop_add(helperd.loop, s->fd, LOOP_OUT, HELPER_PRIO_CLIENT, session_on_writable, NULL) < 0)) {
		session_handover_free(&ho);
		return -1;
	}
	memcpy(ho.msg, msg, h->len);
	s->q[s->nq++] = ho;
	return 0;
}

int session_hand_over(struct session *s, int conn, const void *msg, const int *fds)
{
	int all[5] = {conn, fds[0], fds[1], fds[2], fds[3]};
	s->used = clock_ns();
	/* never wait: a session slow to take its requests keeps them queued here, and
	 * every other client is served meanwhile */
	if (!s->nq && peer_send(s->fd, msg, all, 5, MSG_DONTWAIT) == 0)
		return 0;
	if (!s->nq && errno != EAGAIN && errno != EWOULDBLOCK)
		return -1;
	return session_queue(s, msg, all);
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
