/*
 * helper/daemon.h — the helper daemon's state and its parts (private to helper/: the
 * contract is helper.h). Runs in the `forkmon helper` process, in its one thread.
 *
 *   helper.c   options, the socket, the loop (signals, idle timer), shutdown
 *   request.c  connections: accept, wait for the request (2 s at most), check it
 *   session.c  the sessions: one child per (cwd, argv), started, handed requests, reaped
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

struct session {
	char *key; /* cwd, then argv, NUL-separated */
	size_t keylen;
	pid_t pid;
	int fd; /* our end of its request socket */
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
	char socket[PATH_MAX];
	ino_t sock_ino;
	sigset_t orig_mask; /* before the loop blocked its signals: the sessions get it */
};

extern struct helper_daemon helperd;

/* helper.c: (re)arms the idle timer: it runs only with no session and no connection. */
void helper_idle_rearm(void);

/* request.c */
void request_on_listen(struct loop *l, int ls, unsigned events, void *arg);
void request_on_deadline(struct loop *l, void *arg);
void request_close_all(void);

/* session.c */
struct session *session_find(const char *key, size_t keylen);
struct session *session_start(const char *key, size_t keylen, char **argv, const char *path_env);
/* Hands the client's HELPER_RUN (msg) over, with conn and its 4 descriptors. 0 or -1. */
int session_hand_over(struct session *s, int conn, const void *msg, const int *fds);
/* Reaps ended children; returns how many sessions ended. */
int session_reap(void);
/* SIGTERM to every session, then waits for them all. */
void session_end_all(void);

#endif
