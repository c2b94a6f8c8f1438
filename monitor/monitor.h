/*
 * monitor/monitor.h — the monitor: one session of forkmon, in forkmon's own process.
 *
 * The monitor owns the filters, the watcher thread, the checkpoint table and the resume
 * policy. It is a child subreaper, so every process of the session (the run, the
 * checkpoints, whatever the program starts, orphans included) stays below it; in
 * `forkmon run` it is itself the child of a guard (guard.c), the next subreaper up,
 * which ends whatever a killed monitor leaves. One
 * event loop (common/loop.h) serves the session socket and its connections, the
 * watcher's records, signals, timers, pending output and, in serve mode, the helper's
 * requests; no work is done in signal handlers. Its parts: monitor/session.h.
 *
 * Called by main.c, once per process: monitor_run() does not return.
 */
#ifndef FORKMON_MONITOR_H
#define FORKMON_MONITOR_H

#include <stdint.h>
#include <sys/types.h>

struct filter;

struct monitor_opts {
	struct filter *filter;  /* what to watch (at least one pattern) */
	struct filter *ignore;  /* what never to watch (may be empty) */
	int quiet;
	int64_t delay_ns;       /* fixed quiet window after a completed save, -1: adaptive */
	int64_t grace_ns;       /* SIGTERM to SIGKILL when replacing a run */
	int every;              /* checkpoint at every watched read */
	int clear;              /* clear the terminal before each new copy runs */
	int max_checkpoints;
	/* the command */
	char **argv;            /* argv of the program */
	const char *exe;        /* bare mode: the program's executable, else NULL (PATH) */
	const char *hook;       /* path of forkmonhook.so (run mode) */
	const char *preload;    /* bare mode: the program's own LD_PRELOAD */
	/* helper mode: requests come on this socket (see helper/helper.c), -1 otherwise */
	int serve_fd;
	int64_t idle_ns;        /* helper mode: end after so long without a request */
	/* bare mode: the session socket and the first run already exist */
	int listen_fd;          /* -1: create one */
	pid_t first_run;        /* 0: start the command */
};

/* Runs the session until a signal ends it; exits the process with the right status. */
__attribute__((noreturn)) void monitor_run(struct monitor_opts *o);

#endif
