/*
 * monitor/run.c — the run: its processes, its end, and replacing it. Runs in the
 * monitor's event loop.
 *
 * The pure rules live in replace.c; this file gives them the session's real processes
 * (run_ops: the walk down our process tree, signals, RESUME messages, spawning) and the real clock. Called
 * by the loop (SIGCHLD: run_reap; the timer: run_on_timer), by conn.c (the new run's
 * pid) and helper/serve.c.
 */
#include "session.h"

#include "debounce.h"
#include "inotify.h"
#include "events.h"
#include "out.h"
#include "peer.h"
#include "policy.h"
#include "serve.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct run_state R;

static void run_exited(int st);

void run_set(pid_t pid)
{
	R.pid = pid;
	R.started = clock_ns();
	R.stats.copies++;
	replace_run_known(&S.rep);
	for (int i = 0; i < R.nunclaimed; i++)
		if (R.unclaimed[i].pid == pid) {
			int st = R.unclaimed[i].status;
			R.unclaimed[i] = R.unclaimed[--R.nunclaimed];
			run_exited(st);
			return;
		}
}

void run_started(pid_t pid)
{
	R.pid = pid;
	R.stats.copies++;
	R.started = R.lineage_start = clock_ns();
}

void run_resumed(int ckpt)
{
	R.stats.resumes++;
	R.stats.saved_ns += K.v[ckpt].work_ns;
	R.lineage_start = clock_ns() - K.v[ckpt].work_ns;
}

/* Has the kernel's pid counter wrapped since we started? Then a descendant may have a
 * smaller pid than ours, and only a full scan finds it (without children files). */
static int run_pids_wrapped(void)
{
	static int wrapped;
	static long last;
	if (wrapped)
		return 1;
	char buf[32] = "";
	int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	long now = n > 0 ? atol(buf) : -1;
	if (now < 0 || now < S.self || now < last)
		wrapped = 1;
	last = now;
	return wrapped;
}

int run_find_victims(void)
{
	static pid_t keep[4096];
	int nkeep = ckpt_pids(keep, 4095);
	nkeep += spare_pids(keep + nkeep, 4096 - nkeep); /* a helper session's next copy */
	/* The walk goes down from us: the run's subtree and orphans re-parented to us */
	pid_t from = proc_walkable() || !run_pids_wrapped() ? S.self : 0;
	return proc_descendants(S.self, from, keep, nkeep, &R.victims);
}

/* Tells the user (and the events file) what a change calls for. */
static void run_announce(const int *files, int n, const struct policy_decision *d)
{
	const char *what = files_name(d->first_file);
	char others[64] = "";
	if (n > 1)
		snprintf(others, sizeof others, " (and %d more)", n - 1);
	if (out_events_enabled()) {
		const char **paths = malloc(((size_t)n + 1) * sizeof *paths);
		json_t *f = json_object();
		for (int k = 0; paths && k < n; k++)
			paths[k] = files_name(files[k]);
		if (paths)
			events_set_texts(f, "paths", paths, (size_t)n);
		free(paths);
		out_event("change", f);
	}
	if (d->action == POLICY_RESUME) {
		int from = K.v[d->ckpt].file;
		if (from == d->first_file)
			out_status("file '%s'%s changed, resuming from it", what, others);
		else
			out_status("file '%s'%s changed, resuming from '%s'", what, others, files_name(from));
		if (out_events_enabled()) {
			json_t *f = json_pack("{s:I}", "seq", (json_int_t)d->seq);
			events_set_text(f, "path", files_name(from), strlen(files_name(from)));
			events_set_text(f, "changed", what, strlen(what));
			out_event("resume", f);
		}
		return;
	}
	out_status("file '%s'%s changed, restarting", what, others);
	if (out_events_enabled()) {
		char why[PATH_MAX + 64];
		snprintf(why, sizeof why, "no checkpoint before the first read of '%s'", what);
		json_t *f = json_object();
		events_set_text(f, "reason", why, strlen(why));
		out_event("restart", f);
	}
}

static int run_decide_files(const int *files, int n, struct policy_decision *d)
{
	if (n == 0) {
		memset(d, 0, sizeof *d);
		d->action = POLICY_NONE;
		return 0;
	}
	files_mark_hot(files, n);
	policy_decide(S.pol, files, n, d);
	if (d->action == POLICY_NONE)
		return 0;
	if (S.o->serve_fd >= 0) {
		/* helper mode: what was taken after the first read of the file is stale; the
		 * copy running for a client is never interrupted */
		ckpt_rollback(d->first, 0);
		serve_seen(files, n);
		if (R.pid)
			serve_taint();
		else
			spare_make(ckpt_deepest()); /* the next call's copy, if the change took it */
		return 0;
	}
	run_announce(files, n, d);
	return 1;
}

static int run_decide(void *ctx, const int *changed, int nchanged, struct policy_decision *d)
{
	/* a directory listed whose entries are back as they were did not change (looks.c) */
	int *kept = malloc((size_t)(nchanged > 0 ? nchanged : 1) * sizeof *kept);
	int n = kept ? looks_keep(changed, nchanged, kept) : nchanged;
	if (kept && S.o->serve_fd >= 0)
		n = serve_keep_changed(kept, n); /* helper mode: a rewrite with the same bytes is none */
	const int *files = kept ? kept : changed;
	int go = run_decide_files(files, n, d);
	free(kept);
	return go;
}

static int run_victims(void *ctx, int first)
{
	/* A spare whose pid its checkpoint has not told yet would be taken for one of the
	 * run's processes, and, every signal blocked, hold the replacement for the grace
	 * period: it goes (EOF on its socket), a new one comes after the next resume. */
	if (first && S.o->serve_fd < 0 && spare_of() >= 0 && spare_pids(&(pid_t){0}, 1) == 0)
		spare_drop();
	int nv = run_find_victims();
	if (!first)
		return nv;
	/* What the replaced run and its processes say from now on belongs to a history
	 * being thrown away: their connections close (their hooks go quiet). */
	for (int i = 0; i < C.n; i++) {
		struct conn *c = C.v[i];
		if (!c || c->kind != CONN_PROC)
			continue;
		int victim = c->pid == R.pid;
		for (int k = 0; k < R.victims.n && !victim; k++)
			victim = R.victims.pids[k] == c->pid;
		if (victim) {
			conn_read(i); /* what it said before: still its history */
			if (C.v[i])
				conn_close(i);
		}
	}
	return nv;
}

static void run_signal_victims(void *ctx, int sig)
{
	proc_signal(&R.victims, sig);
}

/* The spare of the checkpoint last resumed (forkmon run): made once its copy had the
 * machine to itself for a while; an existing spare of a checkpoint resumed more often
 * stays (one spare a session, as in a helper session). */
static void run_spare_make(void)
{
	R.spare_at = 0;
	int k = R.spare_ck;
	if (S.o->serve_fd >= 0 || k < 0 || k >= K.n || K.v[k].state != CK_READY || K.v[k].seq != R.spare_seq)
		return;
	int cur = spare_of();
	if (cur >= 0 && cur != k && K.v[cur].resumes > K.v[k].resumes)
		return;
	spare_make(k);
}

/*
 * Tells checkpoint d->ckpt, or the spare made of it before the save (helper/spare.c),
 * to be the new run. A spare is a process already: it skips the fork, the wait to be
 * re-parented, and the copy-on-write faults of its first writes, and its pid is known
 * (1: the run is known). 0: the checkpoint was told; -1: it is gone.
 */
static int run_resume(void *ctx, const struct policy_decision *d)
{
	R.pid = 0;
	struct ckpt *ck = &K.v[d->ckpt];
	struct fm_resume r = {0};
	fm_init(&r.h, FM_RESUME, sizeof r);
	r.monitor_pid = S.self;
	r.job_pgid = S.pgid;
	if (S.o->clear)
		out_clear_screen();
	int in = feed_active() ? feed_pipe(ck->stdin_off) : -1, fds[2], nfds = 0;
	if (in >= 0) {
		r.flags |= FM_RESUME_STDIN; /* the new run's stdin, from where the checkpoint was */
		fds[nfds++] = in;
	}
	/* the new run's connection, answered below while the copy forks */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		sv[0] = sv[1] = -1;
	else {
		r.flags |= FM_RESUME_CONN;
		fds[nfds++] = sv[1];
	}
	pid_t warm = 0;
	int to = spare_of() == d->ckpt ? spare_take(d->ckpt, &warm) : -1;
	/* Its HELLO_OK is on the connection before the RESUME goes: the new run, woken on
	 * our processor, would else run at once only to wait for it. */
	int ci = sv[0] >= 0 ? conn_add_resumed(sv[0], d->ckpt, warm) : -1;
	if (to >= 0 && peer_send(to, &r, fds, nfds, MSG_DONTWAIT) < 0) {
		warm = 0; /* it died before the save: the checkpoint itself, at once */
		conn_resumed_by(ci, d->ckpt, 0);
	}
	if (to >= 0)
		close(to);
	int sent = warm > 0 || (ck->conn >= 0 && C.v[ck->conn]);
	if (sent && !warm && peer_send(C.v[ck->conn]->fd, &r, fds, nfds, MSG_DONTWAIT) < 0) {
		conn_close(ck->conn);
		sent = 0;
	}
	if (sv[1] >= 0)
		close(sv[1]);
	if (!sent && ci >= 0)
		conn_close(ci);
	/* The history after it goes once the checkpoint is on its way: the rollback (the
	 * files missing now, the later checkpoints) takes its time while the copy forks;
	 * nothing the copy says is read before it is done. */
	ckpt_rollback(d->seq, 0);
	if (ck->conn < 0 && !warm) {
		ckpt_drop(d->ckpt);
		return -1;
	}
	run_resumed(d->ckpt);
	ck->resumes++;
	R.spare_ck = d->ckpt;
	R.spare_seq = ck->seq;
	R.spare_at = clock_ns() + RUN_SPARE_AFTER_NS;
	if (warm) {
		run_set(warm); /* as the checkpoint's FM_RESUMED would */
		return 1;
	}
	return 0;
}

static void run_restart(void *ctx)
{
	R.pid = 0;
	if (S.o->serve_fd >= 0) {
		/* a client's run starts only for that client; the other checkpoints stay warm */
		serve_lost();
		return;
	}
	ckpt_rollback(0, 1);
	R.spare_at = 0; /* every checkpoint is gone, with its spare */
	if (S.o->clear)
		out_clear_screen();
	pid_t pid = spawn_run(NULL, NULL);
	R.stats.restarts++;
	if (pid < 0)
		spawn_error(pid);
	else {
		run_started(pid);
		int fd = spawn_conn_take();
		if (fd >= 0)
			conn_add_given(fd, pid);
	}
}

static void run_abandon(void *ctx, int ckpt)
{
	out_error("the checkpoint did not resume; restarting");
	ckpt_drop(ckpt);
}

static void run_settle_inputs(void *ctx, struct settle_in *in)
{
	/* Before a set of saves counts as complete, take in every event already on its
	 * way: on a busy machine the second file of a save can be a few ms behind. */
	files_take_records();
	in->busy = watcher_busy();
}

static const struct replace_ops run_ops = {
	.decide = run_decide,
	.victims = run_victims,
	.signal_victims = run_signal_victims,
	.resume = run_resume,
	.restart = run_restart,
	.abandon = run_abandon,
	.settle_inputs = run_settle_inputs,
};

void run_init(void)
{
	replace_init(&S.rep, &run_ops, NULL, S.deb, S.o->grace_ns);
	R.spare_ck = -1;
}

static void run_exited(int st)
{
	/* a helper session: what the run said before it ended, told through its ring and
	 * not read yet, is still the run's (its last read is the next call's tail: serve.c) */
	if (S.o->serve_fd >= 0)
		conn_read_all();
	R.pid = 0;
	ckpt_end_dropped(); /* the run's start is past: nothing to wait for */
	int replaced = S.rep.phase != REPLACE_IDLE;
	if (out_events_enabled()) {
		double ms = (double)(clock_ns() - R.started) / 1e6;
		const char *sig = WIFSIGNALED(st) && sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?";
		out_event("exit", WIFSIGNALED(st) ? json_pack("{s:s, s:f, s:b}", "signal", sig, "run_ms", ms,
							      "replaced", replaced)
						  : json_pack("{s:i, s:f, s:b}", "status", WEXITSTATUS(st), "run_ms",
							      ms, "replaced", replaced));
	}
	if (S.o->serve_fd >= 0) {
		serve_done(st);
		return;
	}
	if (replaced)
		return; /* we are replacing it: no news */
	if (R.spare_at)
		run_spare_make(); /* the machine is free now */
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		out_status("exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		out_status("killed by SIG%s%s", sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?",
			   WCOREDUMP(st) ? " (core dumped)" : "");
	if (F.n - looks_only() == 0 && policy_checkpoint_count(S.pol) == 0) {
		/* Nothing was read that the filters match: waiting would be for nothing. */
		out_status("no file read matched the filters; nothing to watch");
		end_session(0, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
}

void run_reap(void)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG | __WALL)) > 0) {
		if (pid == R.pid) {
			run_exited(st);
			continue;
		}
		if (spare_reaped(pid))
			continue;
		int known = 0;
		for (int i = 0; i < K.n; i++)
			if (K.v[i].state != CK_FREE && K.v[i].pid == pid) {
				known = 1;
				ckpt_lost(i);
			}
		if (!known && S.rep.phase == REPLACE_RESUMING && R.pid == 0) {
			/* maybe the new run, ended before we learnt its pid */
			if (R.nunclaimed == 32)
				R.nunclaimed = 0;
			R.unclaimed[R.nunclaimed].pid = pid;
			R.unclaimed[R.nunclaimed++].status = st;
		}
	}
	replace_reaped(&S.rep, clock_ns());
}

void run_on_timer(struct loop *l, void *arg)
{
	S.dirty = 1;
	conn_accept_late();
	int64_t now = clock_ns();
	int64_t end = ckpt_end_dropped_at();
	if (end >= 0 && now >= end)
		ckpt_end_dropped();
	if (S.o->serve_fd >= 0)
		serve_timer(now);
	if (F.npolled && now >= F.next_poll)
		files_poll(now);
	replace_timer(&S.rep, now);
	if (R.spare_at && now >= R.spare_at && S.rep.phase == REPLACE_IDLE)
		run_spare_make();
}

int64_t run_timer_at(void)
{
	int64_t at = replace_deadline(&S.rep);
	int64_t poll = files_poll_at();
	if (poll >= 0 && (at < 0 || poll < at))
		at = poll;
	int64_t end = ckpt_end_dropped_at();
	if (end >= 0 && (at < 0 || end < at))
		at = end;
	int64_t idle = serve_idle_deadline();
	if (idle >= 0 && (at < 0 || idle < at))
		at = idle;
	if (R.spare_at && S.rep.phase == REPLACE_IDLE && (at < 0 || R.spare_at < at))
		at = R.spare_at; /* while a replacement runs, it waits for its end */
	return at;
}
