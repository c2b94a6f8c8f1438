/*
 * helper/serve.c — serve mode of a helper session (see serve.h). Runs in the session's
 * monitor process; called by its loop (the serve socket, the client's connection), by
 * monitor/run.c (the run ended, a change tainted it) and monitor/conn.c (may a read of
 * the run get a checkpoint?).
 *
 * A change to a file the program read drops the checkpoints taken after that read
 * (monitor/run.c); the copy that runs for a client is never interrupted by it.
 */
#include "serve.h"

#include "session.h"

#include "out.h"
#include "peer.h"
#include "policy.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* An invocation of the command by a client, waiting to be served. */
struct serve_request {
	int conn;   /* the client's connection: HELPER_SIGNAL in, HELPER_EXIT out */
	int fds[4]; /* its cwd, 0, 1, 2 */
	char *env;  /* envc NUL-terminated "K=V" strings */
	size_t envlen;
	uint32_t envc;
};

static struct {
	struct serve_request *queue;
	int nqueue;
	int client;      /* connection of the client being served, -1 */
	int run_tainted; /* a file the run read changed: no more checkpoints from it */
	int sub_seen;    /* a subprocess of the run said hello */
	int64_t idle_since;
	int64_t kill_at; /* the client died: its command gets SIGKILL then, if still there */
	int tail;        /* the run's last read (while it was untainted), -1 */
	int tails;       /* files made hot for being one (serve_done), at most SERVE_TAILS */
} V = {.client = -1, .tail = -1};

/* Files made hot as a call's tail, per session: a program that reads the same files
 * every call needs one; past a few the hook's hot list would fill (every read asked). */
#define SERVE_TAILS 8

struct serve_stats *serve_stats;

/* The session's figures into serve_stats, for `forkmon helper status`. */
static void serve_publish(void)
{
	if (!serve_stats)
		return;
	int n = 0;
	for (int i = 0; i < K.n; i++)
		n += K.v[i].state == CK_PENDING;
	__atomic_store_n(&serve_stats->grants_pending, n, __ATOMIC_RELAXED);
	pid_t spare = 0;
	spare_pids(&spare, 1);
	__atomic_store_n(&serve_stats->spare_pid, (int)spare, __ATOMIC_RELAXED);
}

static void serve_request_free(struct serve_request *rq)
{
	for (int k = 0; k < 4; k++)
		if (rq->fds[k] >= 0)
			close(rq->fds[k]);
	free(rq->env);
	rq->env = NULL;
}

/* Has process pid not written anything yet? /proc/PID/io's wchar counts the bytes it
 * wrote, to any file, since the session forked it (its exec's included), and those of
 * every subprocess it reaped; the hook's messages are sends, which it does not count.
 * Only the strict rule asks (a call whose streams are not watched, streams.c). */
static int serve_proc_clean(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	long long wchar = -1;
	while (fgets(buf, sizeof buf, f))
		if (sscanf(buf, "wchar: %lld", &wchar) == 1)
			break;
	fclose(f);
	return wchar == 0;
}

void serve_run_read(int file)
{
	if (!V.run_tainted) /* a run that read a file changed since gives no checkpoint */
		V.tail = file;
}

/*
 * The call's last read becomes hot: the next call asks at it, and is granted one there
 * (monitor/conn.c) if nothing of the call's streams was touched by then, unless one is
 * there already.
 * Spacing alone leaves up to ten forks' worth of work between the deepest checkpoint
 * and the end of the call (helper mode, monitor.c), which every warm call would redo;
 * a program that reads the same files each call is served from its last read on.
 */
static void serve_mark_tail(void)
{
	int f = V.tail;
	V.tail = -1;
	if (f < 0 || f >= F.n || F.v[f].hot || V.tails >= SERVE_TAILS)
		return;
	for (int k = 0; k < K.n; k++)
		if (K.v[k].state != CK_FREE && K.v[k].file == f)
			return;
	files_mark_hot(&f, 1);
	V.tails++;
}

void serve_taint(void)
{
	V.run_tainted = 1;
}

void serve_sub_seen(void)
{
	V.sub_seen = 1;
}

int serve_may_checkpoint(pid_t pid)
{
	if (V.run_tainted)
		return 0;
	/* What a later call would miss is what this one's streams got, whoever gave it:
	 * bytes a wrapper's `$(...)` wrote into its own pipe, or anyone wrote to
	 * /dev/null or to a file (a .pyc cache), are no part of it. Strict (a stream not
	 * watched): no subprocess at all, no byte written anywhere, as before streams.c. */
	if (streams_strict())
		return !V.sub_seen && serve_proc_clean(pid);
	return !streams_touched();
}

static void serve_client_close(void)
{
	streams_end(); /* no later checkpoint of this run serves (streams_touched) */
	if (V.client < 0)
		return;
	loop_del(S.loop, V.client);
	close(V.client);
	V.client = -1;
}

void serve_done(int st)
{
	V.kill_at = 0;
	serve_mark_tail();
	spare_make(ckpt_deepest()); /* after a cold call, or of a deeper checkpoint this one took */
	startck_end(); /* registered by now, if ever (the accept before the reap: monitor.c) */
	serve_publish(); /* before the client hears of the end: its status is current */
	if (V.client >= 0) {
		struct fm_helper_exit x = {0};
		fm_init(&x.h, FM_HELPER_EXIT, sizeof x);
		x.status = st;
		peer_send(V.client, &x, NULL, 0, MSG_DONTWAIT);
		serve_client_close();
	}
	V.idle_since = clock_ns();
	serve_next();
}

void serve_lost(void)
{
	if (V.client >= 0) {
		peer_refuse(V.client, "the warm copy of the command did not start");
		serve_client_close();
	}
	V.idle_since = clock_ns();
}

/* Resumes checkpoint k for rq: its descriptors and environment go with RESUME, to the
 * checkpoint, or to its spare (spare.c) when there is one: then the run's pid is known. */
static int serve_resume(int k, const struct serve_request *rq, pid_t *spare)
{
	struct ckpt *ck = &K.v[k];
	if (ck->conn < 0 || !C.v[ck->conn])
		return -1;
	size_t len = offsetof(struct fm_resume, data) + rq->envlen;
	if (len > FM_MSG_MAX - 1)
		return -1;
	struct fm_resume *r = calloc(1, len);
	if (!r)
		return -1;
	fm_init(&r->h, FM_RESUME, (uint32_t)len);
	r->monitor_pid = S.self;
	r->job_pgid = S.pgid;
	r->flags = FM_RESUME_CLIENT;
	r->envc = rq->envc;
	memcpy(r->data, rq->env, rq->envlen);
	/* and, resumed at a read, the new run's connection, its HELLO_OK sent below
	 * (FM_RESUME_CONN): such a run talks at once. A run from the start checkpoint may
	 * never talk (a C program that reads no watched file): it connects if it does. */
	int fds[5] = {rq->fds[0], rq->fds[1], rq->fds[2], rq->fds[3], -1}, sv[2] = {-1, -1};
	if (ck->seq > 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0) {
		r->flags |= FM_RESUME_CONN;
		fds[4] = sv[1];
	}
	int to = spare_take(k, spare);
	int w = peer_send(to >= 0 ? to : C.v[ck->conn]->fd, r, fds, fds[4] >= 0 ? 5 : 4, 0);
	if (to >= 0)
		close(to); /* the spare has its RESUME, or is no use: either way, ours no more */
	if (to < 0 || w < 0)
		*spare = 0;
	free(r);
	if (sv[1] >= 0)
		close(sv[1]);
	if (sv[0] >= 0 && w == 0)
		conn_add_resumed(sv[0], k, *spare);
	else if (sv[0] >= 0)
		close(sv[0]);
	if (w < 0 && to >= 0) {
		/* the spare died before its call: the checkpoint itself, at once */
		return serve_resume(k, rq, spare);
	}
	return w;
}

/* A client's environment, plus the session socket, the hook and (unless the client set
 * them) the interpreters' unbuffered switches. */
static char **serve_env(const struct serve_request *rq)
{
	char **env = wire_run_env(rq->env, rq->envlen, rq->envc, spawn_env());
	if (!env)
		return NULL;
	size_t k = 0;
	while (env[k])
		k++;
	char **more = realloc(env, (k + 2 + SPAWN_UNBUFFERED_MAX) * sizeof *env);
	if (!more) {
		free(env);
		return NULL;
	}
	k = spawn_add_unbuffered(more, k);
	/* the hook takes a checkpoint before the program's code runs (hook/start.c) */
	more[k++] = "FORKMON_START_CKPT=1";
	more[k] = NULL;
	return more;
}

/* Is st not the file as the session last knew it (f->seen)? */
static int serve_differs(const struct wfile *f, const struct stat *st)
{
	const struct stat *o = &f->seen;
	/* a directory looked at is watched for what it is, not its times: its listing is
	 * looks.c's (an entry made anywhere in it would change its mtime) */
	if (S_ISDIR(st->st_mode) && S_ISDIR(o->st_mode))
		return st->st_dev != o->st_dev || st->st_ino != o->st_ino;
	return st->st_dev != o->st_dev || st->st_ino != o->st_ino || st->st_size != o->st_size ||
	       st->st_mtim.tv_sec != o->st_mtim.tv_sec || st->st_mtim.tv_nsec != o->st_mtim.tv_nsec ||
	       st->st_ctim.tv_sec != o->st_ctim.tv_sec || st->st_ctim.tv_nsec != o->st_ctim.tv_nsec;
}

void serve_seen(const int *files, int n)
{
	for (int i = 0; i < n; i++)
		if (files[i] >= 0 && files[i] < F.n) {
			struct wfile *f = &F.v[files[i]];
			f->digested = stat(f->real, &f->seen) == 0 && serve_digest(f->real, &f->seen, &f->digest) == 0;
		}
}

/* Was watched file f written again with the bytes it had (its digest), now being st?
 * Only for a file the command read and never stat()ed by name: one it looked at may
 * matter for its times (make compares them, CPython checks its bytecode by them). */
static int serve_same_bytes(struct wfile *f, const struct stat *st)
{
	uint64_t d;
	return f->digested && !f->looked && serve_digest(f->real, st, &d) == 0 && d == f->digest;
}

int serve_keep_changed(int *files, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++) {
		struct stat st;
		int f = files[i];
		if (f >= 0 && f < F.n && stat(F.v[f].real, &st) == 0 && serve_same_bytes(&F.v[f], &st)) {
			F.v[f].seen = st;
			continue;
		}
		files[k++] = f;
	}
	return k;
}

void serve_digest_read(int file, const struct fm_read *m)
{
	struct wfile *f = &F.v[file];
	struct stat st;
	memset(&st, 0, sizeof st);
	st.st_mode = S_IFREG;
	st.st_dev = (dev_t)m->dev;
	st.st_ino = (ino_t)m->ino;
	st.st_size = (off_t)m->size;
	st.st_mtim.tv_sec = (time_t)(m->mtime_ns / 1000000000);
	st.st_mtim.tv_nsec = (long)(m->mtime_ns % 1000000000);
	st.st_ctim.tv_sec = (time_t)(m->ctime_ns / 1000000000);
	st.st_ctim.tv_nsec = (long)(m->ctime_ns % 1000000000);
	f->digested = m->ino && serve_digest(f->real, &st, &f->digest) == 0;
}

/* Is a regular file st the same file (identity, size, times) as o? */
static int serve_same_version(const struct stat *st, const struct stat *o)
{
	return st->st_dev == o->st_dev && st->st_ino == o->st_ino && st->st_size == o->st_size &&
	       st->st_mtim.tv_sec == o->st_mtim.tv_sec && st->st_mtim.tv_nsec == o->st_mtim.tv_nsec &&
	       st->st_ctim.tv_sec == o->st_ctim.tv_sec && st->st_ctim.tv_nsec == o->st_ctim.tv_nsec;
}

/*
 * A file's content, as a 64-bit digest (multiply-xorshift over 8-byte words, its length
 * folded in): what tells a rewrite with the same bytes from a change. Read through a
 * descriptor whose fstat() must still be st, so the bytes are that version's; a file
 * changed meanwhile, larger than SERVE_DIGEST_MAX or not regular gets none.
 */
int serve_digest(const char *path, const struct stat *st, uint64_t *out)
{
	if (!S_ISREG(st->st_mode) || st->st_size > SERVE_DIGEST_MAX)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	static unsigned char buf[SERVE_DIGEST_MAX + 8];
	struct stat now;
	ssize_t n = -1;
	if (fstat(fd, &now) == 0 && serve_same_version(&now, st))
		n = read(fd, buf, SERVE_DIGEST_MAX + 1);
	struct stat after;
	int same = n >= 0 && n == st->st_size && fstat(fd, &after) == 0 && serve_same_version(&after, st);
	close(fd);
	if (!same)
		return -1;
	memset(buf + n, 0, 8);
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
	for (ssize_t i = 0; i < n; i += 8) {
		uint64_t w;
		memcpy(&w, buf + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	*out = h;
	return 0;
}

/*
 * Right before a warm call: a save that inotify has not brought in yet (or that still
 * sits in the debounce) must not be missed, so every watched file is stat()ed now, and
 * one that differs from what the session knew drops the checkpoints taken after its
 * first read, as its change will (run.c). A few microseconds per file.
 */
static void serve_check_files(void)
{
	enum { MAX = 1024 };
	int changed[MAX], n = 0;
	for (int i = 0; i < F.n; i++) {
		struct stat st;
		int gone = stat(F.v[i].real, &st) < 0;
		if (gone ? F.v[i].gone : !serve_differs(&F.v[i], &st))
			continue; /* as the session knew it (still missing, or the same) */
		if (!gone && serve_same_bytes(&F.v[i], &st)) {
			F.v[i].seen = st; /* written again with the same bytes (mypy's snapshot) */
			continue;
		}
		if (!gone) {
			F.v[i].seen = st;
			F.v[i].digested = serve_digest(F.v[i].real, &st, &F.v[i].digest) == 0;
		}
		if (n < MAX)
			changed[n++] = i;
		else
			ckpt_rollback(0, 1); /* too many to tell: from the start */
	}
	if (!n)
		return;
	files_mark_hot(changed, n);
	struct policy_decision d;
	policy_decide(S.pol, changed, n, &d);
	if (d.action != POLICY_NONE)
		ckpt_rollback(d.first, 0);
}

/* From the deepest checkpoint that still answers: 0, or -1 when none does. */
static int serve_from_checkpoint(const struct serve_request *rq)
{
	int best;
	while ((best = ckpt_deepest()) >= 0) {
		if (K.v[best].seq == 0 && startck_usable(best) < 0) {
			ckpt_drop(best); /* a start checkpoint of an old executable */
			continue;
		}
		ckpt_rollback(K.v[best].seq, 0);
		pid_t spare = 0;
		if (serve_resume(best, rq, &spare) == 0) {
			replace_resuming(&S.rep, best, clock_ns());
			run_resumed(best);
			if (spare > 0)
				run_set(spare); /* as the checkpoint's FM_RESUMED would */
			return 0;
		}
		ckpt_drop(best); /* gone: try the next one */
	}
	return -1;
}

/* From the beginning: 0, or -1 (the client was told why). */
static int serve_from_start(const struct serve_request *rq)
{
	ckpt_rollback(0, 1);
	char **env = serve_env(rq);
	if (env)
		startck_grant();
	pid_t pid = env ? spawn_run(rq->fds, env) : -ENOMEM;
	free(env);
	if (pid < 0) {
		startck_end();
		char msg[256];
		snprintf(msg, sizeof msg, "%s: %s", S.o->argv[0], strerror(-pid));
		peer_refuse(V.client, msg);
		serve_client_close();
		return -1;
	}
	run_started(pid);
	return 0;
}

static void serve_on_client(struct loop *l, int fd, unsigned events, void *arg);

/* Has the client on connection conn gone (hung up, or died) while its request waited?
 * Then its command is never run. */
static int serve_client_gone(int conn)
{
	struct pollfd p = {.fd = conn, .events = POLLRDHUP};
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL));
}

void serve_next(void)
{
	serve_publish(); /* after every turn */
	for (;;) {
		if (R.pid || S.rep.phase != REPLACE_IDLE || V.client >= 0 || V.nqueue == 0)
			return;
		struct serve_request rq = V.queue[0];
		memmove(V.queue, V.queue + 1, (size_t)--V.nqueue * sizeof *V.queue);
		if (serve_client_gone(rq.conn)) {
			close(rq.conn);
			serve_request_free(&rq);
			continue;
		}
		V.client = rq.conn;
		loop_add(S.loop, V.client, LOOP_IN, PRIO_CONN, serve_on_client, NULL);
		V.run_tainted = V.sub_seen = 0;
		V.tail = -1;
		streams_begin(rq.fds + 1); /* before anything of the command runs */
		serve_check_files();
		int ok = serve_from_checkpoint(&rq) == 0 || serve_from_start(&rq) == 0;
		serve_request_free(&rq);
		if (ok) {
			peer_started(V.client, R.pid); /* the client no longer runs it itself */
			serve_publish(); /* the spare it took is no longer one */
			return;
		}
	}
}

/* Queues a request: HELPER_RUN with the client's connection, cwd, 0, 1, 2. */
static void serve_queue(const struct fm_helper_run *m, size_t n, const int *fds)
{
	/* the helper checked it already; a session trusts nobody's counts all the same */
	struct wire_run r;
	char why[256];
	struct serve_request rq = {.conn = fds[0]};
	memcpy(rq.fds, fds + 1, 4 * sizeof(int));
	if (wire_run_parse(m, n, &r, why, sizeof why) < 0) {
		out_error("%s", why);
		peer_refuse(rq.conn, why);
		close(rq.conn);
		serve_request_free(&rq);
		return;
	}
	rq.envc = r.envc;
	rq.envlen = r.envlen;
	rq.env = malloc(rq.envlen + 1);
	struct serve_request *q = realloc(V.queue, (size_t)(V.nqueue + 1) * sizeof *q);
	if (q)
		V.queue = q;
	if (!rq.env || !q) {
		peer_refuse(rq.conn, "the helper is out of memory");
		close(rq.conn);
		serve_request_free(&rq);
		return;
	}
	memcpy(rq.env, r.env, rq.envlen);
	rq.env[rq.envlen] = '\0';
	V.queue[V.nqueue++] = rq;
}

static void serve_on_socket(struct loop *l, int fd, unsigned events, void *arg)
{
	static char buf[FM_MSG_MAX];
	S.dirty = 1;
	conn_accept_late();
	for (;;) {
		int fds[PEER_MAX_FDS], nfds;
		ssize_t n = peer_recv(fd, buf, sizeof buf, fds, &nfds, MSG_DONTWAIT);
		if (n == PEER_ERROR && errno == EAGAIN)
			return;
		if (n == PEER_EOF || n == PEER_ERROR)
			end_session(0, 0); /* the helper is gone */
		if (n < 0)
			continue; /* malformed, or of another version: its descriptors are closed */
		const struct fm_helper_run *m = (const void *)buf;
		if (nfds != 5 || m->h.type != FM_HELPER_RUN) {
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			continue;
		}
		serve_queue(m, (size_t)n, fds);
	}
}

/* The client being served: a signal to pass on, or gone (then so is its command). */
static void serve_on_client(struct loop *l, int fd, unsigned events, void *arg)
{
	S.dirty = 1;
	for (;;) {
		struct fm_helper_signal m;
		ssize_t n = peer_recv(V.client, &m, sizeof m, NULL, NULL, MSG_DONTWAIT);
		if (n == PEER_ERROR && (errno == EAGAIN || errno == EINTR))
			return;
		if (n > 0 && m.h.type == FM_HELPER_SIGNAL && m.signo > 0 && m.signo < 65) {
			/* as a terminal would: to the command and everything it started. Ctrl-Z
			 * as SIGSTOP: the kernel drops SIGTSTP sent to the copy's process group,
			 * which no terminal job control knows of (orphaned) */
			if (run_find_victims() > 0)
				proc_signal(&R.victims, m.signo == SIGTSTP ? SIGSTOP : m.signo);
			continue;
		}
		/* as when a terminal hangs up: SIGTERM, and SIGKILL past the grace period
		 * (serve_timer) for a command that ignores it and would hold the session */
		serve_client_close();
		if (run_find_victims() > 0) {
			proc_terminate(&R.victims);
			V.kill_at = clock_ns() + S.o->grace_ns;
		}
		return;
	}
}

void serve_start(void)
{
	V.idle_since = clock_ns();
	if (loop_add(S.loop, S.o->serve_fd, LOOP_IN, PRIO_SERVE, serve_on_socket, NULL) < 0) {
		out_error("cannot set up the event loop: %s", strerror(errno));
		exit(1);
	}
}

void serve_timer(int64_t now)
{
	if (V.kill_at && now >= V.kill_at) {
		V.kill_at = 0;
		if (R.pid && V.client < 0 && run_find_victims() > 0)
			proc_signal(&R.victims, SIGKILL);
	}
	int64_t idle = serve_idle_deadline();
	if (idle >= 0 && now >= idle)
		end_session(0, 0);
}

int64_t serve_idle_deadline(void)
{
	if (V.kill_at)
		return V.kill_at;
	if (S.o->serve_fd < 0 || R.pid || S.rep.phase != REPLACE_IDLE || V.client >= 0 || V.nqueue)
		return -1;
	return V.idle_since + S.o->idle_ns;
}
