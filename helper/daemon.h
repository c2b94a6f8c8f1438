/*
 * helper/daemon.h — the helper daemon's state and its parts (private to helper/: the
 * contract is helper.h). Runs in the `forkmon helper` process, in its one thread.
 *
 *   helper.c   options, the socket, the loop (signals, idle timer), shutdown
 *   request.c  connections: accept, wait for the request (2 s at most), check it
 *   session.c  the sessions: one child per (cwd, argv, environment), started, handed
 *              requests (queued here while the session's socket is full), reaped; at
 *              most max_sessions, the least recently used ended first
 *   ctl.c      `forkmon helper status|stop`: both ends (the client side, and the report)
 *
 * Loop priorities: a child's end (SIGCHLD) is seen before a request in the same turn, so
 * a request never goes to a session already gone; a request that arrived before its
 * deadline is read before the deadline drops it.
 */
#ifndef FORKMON_HELPER_DAEMON_H
#define FORKMON_HELPER_DAEMON_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct filter;
struct loop;

enum { HELPER_PRIO_SIGNAL = 0, HELPER_PRIO_CLIENT = 1, HELPER_PRIO_TIMER = 2 };

/* A client's request must arrive within this of its connection. */
#define HELPER_REQUEST_NS (2 * (int64_t)1000000000)

/* Checkpoints one session keeps at most: with max_sessions, what bounds its memory
 * (a checkpoint is a copy-on-write process: ~130 kB PSS for a small interpreter). */
#define HELPER_SESSION_CHECKPOINTS 512

/* Requests for one session at most queued in the helper (its socket takes 10). */
#define HELPER_BACKLOG 256

/* A request the session's socket had no room for yet: the client's HELPER_RUN, with its
 * connection, cwd, 0, 1, 2 (ours, duplicated). */
struct handover {
	void *msg;
	int fds[5];
};

struct session {
	char *key; /* cwd, then argv, then the environment less FORKMON_*, NUL-separated */
	size_t keylen;
	int argc;      /* in the key, after the cwd */
	pid_t pid;
	int fd;        /* our end of its request socket */
	int64_t used;  /* clock_ns() of its last request: the least recently used ends first */
	int ending;    /* SIGTERM sent (too many sessions); not reaped yet */
	struct handover *q;
	int nq;
	struct serve_stats *stats; /* a page shared with it: what it publishes (serve.h), or NULL */
};

/* A connection accepted whose request has not come yet. */
struct pending {
	int fd;
	int64_t deadline; /* clock_ns() */
};

struct helper_daemon {
	struct loop *loop;
	int ls; /* the listening socket */
	struct session *s;
	int n;
	struct pending *p;
	int np;
	int idle_timer, drop_timer;
	int64_t idle_ns;
	struct filter *filter, *ignore;
	int max_sessions; /* --max-sessions, within a quarter of the user's inotify instances */
	int log_fd;       /* FORKMON_HELPER_LOG: a line per request; -1 */
	int stop_conn;    /* the `forkmon helper stop` waiting for our end; -1 */
	char socket[PATH_MAX];
	ino_t sock_ino;
	sigset_t orig_mask; /* before the loop blocked its signals: the sessions get it */
};

extern struct helper_daemon helperd;

/* helper.c: (re)arms the idle timer: it runs only with no session and no connection. */
void helper_idle_rearm(void);

/* helper.c: one line in the helper's log (FORKMON_HELPER_LOG), the time first. */
void helper_log(const char *line);

/* request.c */
void request_on_listen(struct loop *l, int ls, unsigned events, void *arg);
void request_on_deadline(struct loop *l, void *arg);
void request_close_all(void);

/* session.c */
struct session *session_find(const char *key, size_t keylen);
/* Starts one (ending the least recently used one first when there are max_sessions);
 * NULL, with why filled, when it cannot. */
struct session *session_start(const char *key, size_t keylen, char **argv, const char *path_env, char *why,
			      size_t whylen);
/* Hands the client's HELPER_RUN (msg) over, with conn and its 4 descriptors. 0 or -1. */
int session_hand_over(struct session *s, int conn, const void *msg, const int *fds);
/* Reaps ended children; returns how many sessions ended. */
int session_reap(void);
/* SIGTERM to every session, then waits for them all. */
void session_end_all(void);
/* ctl.c */
/* A HELPER_CTL from a client (already checked): answered; a stop ends the loop. */
void ctl_serve(int conn, int op);
/* `forkmon helper status|stop [-s PATH]`: the exit status. */
int ctl_main(int argc, char **argv);

#endif
