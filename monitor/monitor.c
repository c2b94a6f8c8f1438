/*
 * monitor/monitor.c — one forkmon session (see monitor.h): setting it up, and the loop.
 * Runs in the monitor process; main.c (and helper.c, for serve mode) call monitor_run.
 *
 * Everything the session waits on is an event of one loop (common/loop.h), run in this
 * order in every turn by priority, so that what a process said is known before what
 * happened to it:
 *   1. connections (conn.c): new processes introduce themselves, report reads, register
 *      checkpoints (a run registers a checkpoint's connection before it forks it); the
 *      client being served (serve mode);
 *   2. output waiting for a slow reader (out.c);
 *   3. the watcher's records (files.c): file-system events, fed to the debounce;
 *   4. signals: children that ended (run.c reaps them: the monitor is their subreaper),
 *      and the user's Ctrl-C / SIGTERM / SIGHUP / SIGQUIT that end the session (end.c);
 *   5. the timer (run.c): a save became complete, a run being replaced outlived its
 *      grace period, a polled file is due, a serve-mode session idled out;
 *   6. requests handed over by the helper (helper/serve.c).
 * After the turn: the next request is served, output is watched, the timer re-armed.
 */
#include "session.h"

#include "debounce.h"
#include "events.h"
#include "filter.h"
#include "hints.h"
#include "inotify.h"
#include "out.h"
#include "policy.h"
#include "serve.h"
#include "slice.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct mon_session S;

/* What every HELLO is answered with: the hook's configuration. */
static void mon_hints(void)
{
	struct fm_hello_ok *c = &S.cfg;
	memset(c, 0, sizeof *c);
	fm_init(&c->h, FM_HELLO_OK, sizeof *c);
	c->status = FM_OK;
	/*
	 * The first watched read and the project's first reads get a checkpoint each
	 * regardless of cost (those are the files people edit: a change of one resumes from
	 * it), unless the run wrote nothing since its last one and did less work than that
	 * one cost (hook/spacing.h). Past them, a checkpoint must be preceded by gap_factor
	 * times what the last one cost the run (its question, its fork and the page faults after it:
	 * hook/spacing.h), so that start-up overhead stays a bounded share of the work (3%)
	 * whatever the number of files. A helper session wants depth (its checkpoints serve
	 * every later call; its first run's cost matters little): one per ten times the
	 * fork's cost alone.
	 */
	int serve = S.o->serve_fd >= 0;
	c->free_checkpoints = 3;
	if (!getcwd(c->project, sizeof c->project))
		c->project[0] = '\0';
	c->gap_factor = serve ? 10 : 30;
	c->min_gap_ns = 2000000;
	c->max_checkpoints = (uint32_t)S.o->max_checkpoints;
	if (S.o->every)
		c->flags |= FM_CFG_EVERY;
	/* A re-read changes nothing for the resume rule (a file resumes from before its first
	 * read): only the events file wants to hear of it. */
	if (out_events_enabled())
		c->flags |= FM_CFG_REREADS;
	if (S.o->serve_fd >= 0)
		c->flags |= FM_CFG_SERVE;
	int n = hints_make(S.o->filter, c->hints, FM_MAX_HINTS);
	if (n < 0)
		c->flags |= FM_CFG_ALL_CANDIDATES;
	else
		c->nhints = (uint32_t)n;
}

/* The session socket: ours (an abstract name), or the one bare mode was started with. */
static void mon_socket(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (S.o->listen_fd >= 0) {
		S.lfd = S.o->listen_fd;
		fcntl(S.lfd, F_SETFD, FD_CLOEXEC);
		fcntl(S.lfd, F_SETFL, fcntl(S.lfd, F_GETFL) | O_NONBLOCK);
		socklen_t l = sizeof a;
		if (getsockname(S.lfd, (struct sockaddr *)&a, &l) == 0 && l > offsetof(struct sockaddr_un, sun_path) + 1) {
			size_t n = l - offsetof(struct sockaddr_un, sun_path);
			S.sockname[0] = '@';
			memcpy(S.sockname + 1, a.sun_path + 1, n - 1);
			S.sockname[n] = '\0';
		}
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(S.sockname, sizeof S.sockname, "@forkmon.%d.%ld", (int)S.self, (long)(ts.tv_nsec ^ ts.tv_sec));
	size_t l = strlen(S.sockname);
	memcpy(a.sun_path + 1, S.sockname + 1, l - 1);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l)) < 0 ||
	    listen(s, 512) < 0) {
		out_error("cannot create the session socket: %s", strerror(errno));
		exit(1);
	}
	S.lfd = s;
}

static void mon_on_writable(struct loop *l, int fd, unsigned events, void *arg)
{
	S.dirty = 1;
	out_on_writable((int)(intptr_t)arg);
}

/* Output that waits for a slow reader is written when its descriptor takes more. */
static void mon_out_watch(void)
{
	static int registered[4]; /* by sink id: its descriptor + 1, 0: not watched */
	int fds[4], ids[4], want[4] = {0};
	int n = out_pending(fds, ids, 4);
	for (int k = 0; k < n; k++)
		want[ids[k]] = fds[k] + 1;
	for (int id = 0; id < 4; id++) {
		if (want[id] && !registered[id]) {
			if (loop_add(S.loop, want[id] - 1, LOOP_OUT, PRIO_OUT, mon_on_writable, (void *)(intptr_t)id) == 0)
				registered[id] = want[id];
		} else if (!want[id] && registered[id]) {
			loop_del(S.loop, registered[id] - 1);
			registered[id] = 0;
		}
	}
}

static void mon_on_signal(struct loop *l, const struct signalfd_siginfo *si, void *arg)
{
	S.dirty = 1;
	conn_accept_late();
	switch (si->ssi_signo) {
	case SIGCHLD:
		run_reap();
		break;
	case SIGINT:
	case SIGTERM:
	case SIGHUP:
	case SIGQUIT:
		end_session((int)si->ssi_signo, 0);
	}
	/* A change that waited for the replacement begins after the turn (mon_after_turn):
	 * a SIGTERM read with this SIGCHLD ends the session first. */
}

/* The events FIFO had no reader: try again (out.c says when). */
static int mon_events_timer = -1;

static void mon_on_events_timer(struct loop *l, void *arg)
{
	S.dirty = 1;
	out_events_retry();
}

static void mon_after_turn(struct loop *l, void *arg)
{
	if (!S.dirty)
		return; /* nothing ran (a spin): nothing changed */
	S.dirty = 0;
	conn_accept_late();
	replace_pending(&S.rep, clock_ns());
	if (S.o->serve_fd >= 0)
		serve_next();
	mon_out_watch();
	/* every turn: a phase may have changed what the timer waits for */
	loop_timer_at(l, S.timer, run_timer_at());
	loop_timer_at(l, mon_events_timer, out_events_retry_at());
	conn_turn_end();
}

/* The loop, with signals read from its signalfd: blocked before the watcher thread
 * exists, or the kernel may hand them to that thread. */
static void mon_loop_setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	/* A shell starts background jobs with SIGINT and SIGQUIT ignored; forkmon still
	 * ends its session on them (the runs get the dispositions we were given). */
	sigaction(SIGINT, NULL, &S.orig_int);
	sigaction(SIGQUIT, NULL, &S.orig_quit);
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);
	sigprocmask(SIG_SETMASK, NULL, &S.orig_mask);
	S.loop = loop_new();
	if (!S.loop || loop_signals(S.loop, &sigs, PRIO_SIGNAL, mon_on_signal, NULL) < 0 ||
	    (S.timer = loop_timer_new(S.loop, PRIO_TIMER, run_on_timer, NULL)) < 0 ||
	    (mon_events_timer = loop_timer_new(S.loop, PRIO_TIMER, mon_on_events_timer, NULL)) < 0) {
		out_error("cannot set up the event loop: %s", strerror(errno));
		if (S.o->first_run > 0)
			kill(S.o->first_run, SIGKILL);
		exit(1);
	}
	loop_after_turn(S.loop, mon_after_turn, NULL);
}

/* The first run's connection (spawn_conn_take), until HELLO_OK can be said on it. */
static int mon_first_conn = -1;

/* The first run, started as early as it is safe (monitor_run): the socket listens, our
 * signals are blocked, we are the subreaper, its environment is ready. */
static void mon_spawn_first(void)
{
	pid_t pid = spawn_run(NULL, NULL);
	if (pid < 0) {
		spawn_error(pid);
		out_drain(1000);
		exit(pid == -ENOENT ? 127 : 126);
	}
	R.pid = pid;
	R.started = R.lineage_start = clock_ns();
	mon_first_conn = spawn_conn_take(); /* answered once the answer is known (mon_hints) */
}

/* The first run: started already (mon_spawn_first, or bare mode: the program waits in
 * its HELLO); none in serve mode, where runs start when clients ask. */
static void mon_first_run(void)
{
	if (S.o->serve_fd >= 0) {
		fcntl(S.o->serve_fd, F_SETFD, FD_CLOEXEC);
		serve_start();
	}
	if (!R.started)
		R.started = R.lineage_start = clock_ns();
	R.stats.copies = S.o->serve_fd < 0;
	if (out_events_enabled() && S.o->serve_fd < 0) {
		json_t *f = json_pack("{s:i, s:i}", "pid", (int)R.pid, "monitor", (int)S.self);
		size_t n = 0;
		while (S.o->argv[n])
			n++;
		events_set_texts(f, "command", (const char *const *)S.o->argv, n);
		out_event("start", f);
	}
}

/* A pattern too costly on a path (filters/match.h), said once per pattern. */
static void mon_say_costly(const char *line)
{
	out_error("%s", line);
}

void monitor_run(struct monitor_opts *o)
{
	S.o = o;
	/* Giving up on a path never gets it watched: a filter pattern counts as not
	 * matching, an ignore pattern as matching (the path stays unwatched either way). */
	filter_on_costly(o->filter, 0, "pattern", mon_say_costly);
	filter_on_costly(o->ignore, 1, "ignore pattern", mon_say_costly);
	S.self = getpid();
	S.pgid = getpgrp();
	R.pid = o->first_run;
	slice_short(); /* a hop on the path of every save; the watcher thread inherits it */
	feed_init(); /* before any descriptor of ours could take a closed stdin's place */
	mon_loop_setup(); /* signals blocked: before the watcher thread exists */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	mon_socket();
	spawn_init();
	/*
	 * The program starts here, and the rest of the set-up overlaps with its exec and its
	 * own start-up (a millisecond or so before its first open): its HELLO waits in the
	 * listening socket until the loop runs. Whatever must fail before the command runs
	 * (patterns, the events file) failed before (main.c).
	 */
	out_start();
	if (S.o->serve_fd < 0 && R.pid == 0)
		mon_spawn_first();
	/* The watcher before the loop accepts any connection (no descriptor of ours is
	 * opened before it but these few): libinotifytools' select() aborts on descriptors
	 * >= 1024. */
	S.wfd = watcher_start();
	if (S.wfd < 0)
		files_without_watcher(errno); /* the program still runs: its files are polled */
	S.pol = policy_new();
	/* gone_grace: editors delete or rename a file away and write it anew within
	 * milliseconds; a file not back after this long was deleted. No -d: the window is
	 * learnt (debounce.h); files completed within link_ns of each other are taken for
	 * one writer's (an editor's "save all", a tool), a person's two saves are further apart. */
	struct debounce_cfg dc = {.quiet_ns = o->delay_ns < 0 ? 0 : o->delay_ns, .empty_grace_ns = 400000000,
				  .stale_ns = 1000000000, .gone_grace_ns = 300000000, .adaptive = o->delay_ns < 0,
				  .link_ns = 50000000};
	S.deb = debounce_new(&dc);
	run_init();
	mon_hints();
	if (mon_first_conn >= 0)
		conn_add_given(mon_first_conn, R.pid);
	conn_listen();
	if (S.wfd >= 0 && loop_add(S.loop, S.wfd, LOOP_IN, PRIO_WATCHER, files_on_watcher, NULL) < 0) {
		out_error("cannot set up the event loop: %s", strerror(errno));
		exit(1);
	}
	mon_first_run();
	/*
	 * While a program reports reads it does not wait for (start-up: a module after the
	 * next), the loop polls for a short while before it sleeps (conn.c): a message to a
	 * monitor that is not asleep costs its sender no wake-up (on a VM, an
	 * inter-processor interrupt). Only with a processor to spare, and never longer than
	 * SPIN_NS after the last such message.
	 */
	S.spin = sysconf(_SC_NPROCESSORS_ONLN) > 1;
	S.dirty = 1;
	mon_after_turn(S.loop, NULL);
	loop_run(S.loop);
	out_error("epoll: %s", strerror(errno));
	end_session(0, 1);
}
