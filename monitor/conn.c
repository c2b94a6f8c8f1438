/*
 * monitor/conn.c — the session's connections and what comes on them. Runs in the
 * monitor's event loop.
 *
 * Every process of the session (the run, its subprocesses, each checkpoint) connects to
 * the session socket once per process image (a run started or resumed finds its
 * connection made, HELLO answered: spawn.c, run.c) and speaks include/forkmon_proto.h through
 * common/peer.h: HELLO, READ (answered: the watch is in place first), READ_AGAIN, NOTE;
 * a checkpoint registers on a connection of its own and reports its pid and, once told
 * to resume, the new run's. Called by the loop (monitor.c registers the socket), by
 * ckpt.c (a dropped checkpoint's connection closes) and run.c (victims' connections).
 */
#include "session.h"

#include "debounce.h"
#include "events.h"
#include "out.h"
#include "peer.h"
#include "policy.h"
#include "serve.h"
#include "slice.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn_table C;

static void conn_on_ready(struct loop *l, int fd, unsigned events, void *arg);

int conn_forget(int i)
{
	struct conn *c = C.v[i];
	if (!c)
		return -1;
	int fd = c->fd;
	loop_del(S.loop, fd);
	conn_ring_free(&c->ring); /* the hook sees it closed: it says the rest on the socket */
	if (c->kind == CONN_CKPT && c->ckpt >= 0 && K.v[c->ckpt].conn == i)
		K.v[c->ckpt].conn = -1;
	own_conn_gone(i);
	free(c);
	C.v[i] = NULL;
	return fd;
}

void conn_close(int i)
{
	int fd = conn_forget(i);
	if (fd >= 0)
		close(fd);
}

static int conn_add(int fd, pid_t pid)
{
	int i;
	for (i = 0; i < C.n && C.v[i]; i++)
		;
	if (i == C.n) {
		struct conn **n = realloc(C.v, (size_t)(C.n + 16) * sizeof *n);
		if (!n)
			return -1;
		memset(n + C.n, 0, 16 * sizeof *n);
		C.v = n;
		C.n += 16;
	}
	struct conn *c = calloc(1, sizeof *c);
	if (!c || loop_add(S.loop, fd, LOOP_IN, PRIO_CONN, conn_on_ready, (void *)(intptr_t)i) < 0) {
		free(c);
		return -1;
	}
	*c = (struct conn){.fd = fd, .pid = pid, .kind = CONN_PROC, .ckpt = -1, .resumed_from = -1};
	C.v[i] = c;
	return i;
}

/* Never blocks: a process that does not take our answer has gone astray. */
void conn_send(int i, const void *m)
{
	if (C.v[i] && peer_send(C.v[i]->fd, m, NULL, 0, MSG_DONTWAIT) < 0)
		conn_close(i);
}

void conn_event_watch(int file, uint64_t seq, pid_t pid)
{
	if (out_events_enabled()) {
		json_t *f = json_pack("{s:I, s:i}", "seq", (json_int_t)seq, "pid", (int)pid);
		events_set_text(f, "path", F.v[file].named, strlen(F.v[file].named));
		out_event("watch", f);
	}
}

/* The files that changed before, by name and real path, into ok's hot list: their reads
 * are asked (conn_grant gives them a checkpoint); past the list's room, every read is. */
static void conn_hot_name(struct fm_hello_ok *ok, const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	fm_name_set(ok->hot_names, b, strlen(b));
}

static void conn_hot_list(struct fm_hello_ok *ok)
{
	ok->nhot = 0;
	memset(ok->hot_names, 0, sizeof ok->hot_names);
	for (int k = 0; F.any_hot && k < F.n; k++) {
		const struct wfile *f = &F.v[k];
		if (!f->hot)
			continue;
		if (ok->nhot + 2 > FM_MAX_HOT) {
			ok->flags |= FM_CFG_ASK;
			ok->nhot = 0;
			return;
		}
		ok->hot[ok->nhot++] = fm_path_hash(f->named, strlen(f->named));
		conn_hot_name(ok, f->named);
		if (strcmp(f->real, f->named) != 0) {
			ok->hot[ok->nhot++] = fm_path_hash(f->real, strlen(f->real));
			conn_hot_name(ok, f->real);
		}
	}
}

/* HELLO_OK to connection i, with a ring of its own. */
static void conn_answer_hello(int i)
{
	struct conn *c = C.v[i];
	struct fm_hello_ok ok = S.cfg;
	int memfd = c->ring.h ? -1 : conn_ring_make(&c->ring);
	if (memfd >= 0)
		ok.flags |= FM_CFG_RING;
	/* a helper session's grants follow its client's streams (serve.c), and a fed
	 * stdin's position is taken at the grant: those runs ask */
	if (S.o->serve_fd < 0 && !feed_active())
		ok.flags |= FM_CFG_UNASKED;
	ok.role = c->role;
	conn_hot_list(&ok);
	if (peer_send(c->fd, &ok, &memfd, memfd >= 0, MSG_DONTWAIT) < 0)
		conn_close(i);
	if (memfd >= 0)
		close(memfd);
}

static void conn_on_hello(int i, const struct fm_hello *m)
{
	struct conn *c = C.v[i];
	if ((m->flags & FM_HELLO_RESUMED) && S.rep.phase == REPLACE_RESUMING && R.pid == 0)
		run_set(c->pid);
	c->role = c->pid == R.pid ? FM_ROLE_RUN : FM_ROLE_SUB;
	if (c->role == FM_ROLE_SUB && S.o->serve_fd >= 0 && R.pid)
		serve_sub_seen(); /* a strict call takes no checkpoint past it (serve.c) */
	conn_answer_hello(i);
}

int conn_add_resumed(int fd, int ck, pid_t pid)
{
	int i = conn_add(fd, 0);
	if (i < 0) {
		close(fd);
		return -1;
	}
	conn_resumed_by(i, ck, pid);
	C.v[i]->role = FM_ROLE_RUN; /* the run to be: R.pid is 0 until its pid comes */
	conn_answer_hello(i);
	return C.v[i] ? i : -1;
}

void conn_resumed_by(int i, int ck, pid_t pid)
{
	if (i < 0 || i >= C.n || !C.v[i])
		return;
	C.v[i]->pid = pid;
	C.v[i]->resumed_from = pid ? -1 : ck; /* a spare's pid is known (helper/spare.c) */
}

void conn_add_given(int fd, pid_t pid)
{
	conn_add_resumed(fd, -1, pid); /* its pid known: as a spare's */
}

/*
 * A new run's connection made by RESUME learns its pid from the checkpoint's, which
 * the run's first word always follows (the run says its pid there before anything
 * else): that is read first. spoke: the run's first word is here (its ring or socket
 * holds it). Only then is the pid given up on when it is not said; before, the
 * connection is only being looked at (every record of the watcher reads every
 * connection), maybe before the checkpoint even forked the run, and its FM_RESUMED
 * gives the pid when it comes (conn_resumed_pid). Giving up then left a run without its
 * pid: taken for another process of the session, it was granted no checkpoint.
 */
static void conn_learn_pid(int i, int spoke)
{
	int k = C.v[i]->resumed_from;
	if (k < 0 || C.v[i]->pid != 0)
		return;
	if (K.v[k].conn >= 0 && C.v[K.v[k].conn])
		conn_read(K.v[k].conn);
	if (C.v[i] && spoke)
		C.v[i]->resumed_from = -1; /* said or not, only once */
}

void conn_ckpt_gone(int k)
{
	for (int i = 0; i < C.n; i++)
		if (C.v[i] && C.v[i]->resumed_from == k)
			C.v[i]->resumed_from = -1; /* the slot may serve another checkpoint next */
}

/* FM_RESUMED of checkpoint k: the connection its RESUME made is that run's. */
static void conn_resumed_pid(int k, pid_t pid)
{
	for (int i = 0; i < C.n; i++)
		if (C.v[i] && C.v[i]->resumed_from == k && C.v[i]->pid == 0) {
			C.v[i]->pid = pid;
			C.v[i]->resumed_from = -1;
		}
}

/* A hook of another version: it hears so, and stays out of the way. */
static void conn_refuse_version(int i)
{
	struct fm_hello_ok ok = S.cfg;
	ok.status = FM_ERR_VERSION;
	conn_send(i, &ok);
}

/* May the read at seq by connection c get a checkpoint? Then it is granted. */
static int conn_grant(const struct conn *c, const struct fm_read *m, int file, uint64_t seq)
{
	/* helper mode: only checkpoints from before the program wrote anything serve */
	int clean = S.o->serve_fd < 0 || serve_may_checkpoint(c->pid);
	/* The hook asks by cost; a file that changed before gets one regardless, so that
	 * every later edit of it resumes from right before its read. */
	int wanted = (m->flags & FM_READ_WANT_CKPT) || F.v[file].hot;
	if ((m->flags & FM_READ_NO_REPLY) && !(m->flags & FM_READ_TAKEN))
		wanted = 0; /* no answer: the run would never hear of the grant */
	/* the run's last read is the next call's tail (serve.c), whether or not its streams
	 * look touched now: a read told through the ring is read here later, maybe after
	 * the program printed; the next call asks at it, and that answer is exact */
	if (S.o->serve_fd >= 0 && c->role == FM_ROLE_RUN && S.rep.phase == REPLACE_IDLE)
		serve_run_read(file);
	int k;
	if (!wanted || c->role != FM_ROLE_RUN || S.rep.phase != REPLACE_IDLE || !clean ||
	    policy_checkpoint_count(S.pol) >= S.o->max_checkpoints || (k = ckpt_new(seq, file)) < 0)
		return 0;
	K.v[k].work_ns = clock_ns() - R.lineage_start;
	/* the run waits for our answer: it reads nothing; or (TAKEN) no stdin is fed */
	K.v[k].stdin_off = feed_consumed();
	if (m->flags & FM_READ_TAKEN) {
		K.v[k].token = m->pad;
		K.v[k].token_pid = c->pid;
	}
	return 1;
}

static int conn_drain(int i);

/* Before a read that waits for its answer (which may grant a checkpoint): what the other
 * connections' rings hold, so that a read told earlier by another process of the session
 * takes its place in the history before the checkpoint, however long the monitor napped
 * (RING_NAP_NS). */
static void conn_drain_others(int i)
{
	for (int j = 0; j < C.n; j++)
		if (j != i && C.v[j] && C.v[j]->ring.h && ring_pending(&C.v[j]->ring))
			conn_drain(j);
}

static void conn_on_read(int i, const struct fm_read *m)
{
	if (!(m->flags & FM_READ_NO_REPLY) || (m->flags & FM_READ_TAKEN)) {
		conn_drain_others(i);
		if (!C.v[i])
			return;
	}
	struct conn *c = C.v[i];
	struct fm_read_reply r = {0};
	fm_init(&r.h, FM_READ_REPLY, sizeof r);
	if (m->path[0] != '/') {
		conn_close(i); /* not our hook */
		return;
	}
	if (m->flags & FM_READ_LOOK) {
		looks_on_read(i, m); /* never answered */
		return;
	}
	int verdict;
	int known = strmap_get(&F.names, m->path) >= 0; /* watched before this read */
	int file = files_for(m->path, &verdict);
	r.verdict = verdict;
	/* A file watched since before the hook's stat() needs no comparison: a change after
	 * it is an event of the watch (one per read told, ~1.5 us, the monitor's largest) */
	if (file >= 0 && (m->flags & FM_READ_NO_REPLY) && !(known && files_watched_since(file)) &&
	    files_changed_since(file, m))
		own_defer_change(file); /* before our watch, unless the session's own (own.c) */
	if (file >= 0 && !known && S.o->serve_fd >= 0)
		serve_digest_read(file, m); /* the version this read saw, before a later one */
	if (file >= 0) {
		r.seq = policy_read(S.pol, file);
		c->role = c->pid == R.pid ? FM_ROLE_RUN : FM_ROLE_SUB;
		r.grant = conn_grant(c, m, file, r.seq);
		conn_event_watch(file, r.seq, c->pid);
	}
	if (!(m->flags & FM_READ_NO_REPLY))
		conn_send(i, &r);
	else if (c->ring.h)
		/* more are likely to follow, through the ring: looked at every RING_NAP_NS, so
		 * that they need no wake-up, without a processor spent spinning (on two, the
		 * program's other one) */
		loop_nap_until(S.loop, clock_ns() + RING_NAPS_NS, RING_NAP_NS);
	else if (S.spin)
		loop_spin_until(S.loop, clock_ns() + SPIN_NS); /* more are likely to follow */
}

static void conn_on_read_again(int i, const struct fm_read *m)
{
	int file = strmap_get(&F.names, m->path);
	if (file >= 0)
		conn_event_watch(file, policy_read(S.pol, file), C.v[i]->pid);
}

static void conn_on_note(const struct fm_note *m)
{
	static int noted[8];
	int k = m->kind;
	if (k < 0 || k >= 8 || noted[k]++)
		return;
	switch (k) {
	case FM_NOTE_THREADS:
		out_status("the program runs %d threads: no checkpoint is taken while it does "
			   "(changes resume from an earlier one, or restart)", m->value);
		break;
	case FM_NOTE_CHILDREN:
		out_status("the program has child processes running: no checkpoint is taken "
			   "while it does");
		break;
	case FM_NOTE_FORK_FAILED:
		out_error("cannot fork a checkpoint: %s", strerror(m->value));
		break;
	}
}

/* The connection of process pid that reads are told on (not a checkpoint's), or -1. */
static int conn_of_pid(pid_t pid, int but)
{
	for (int j = 0; j < C.n; j++)
		if (j != but && C.v[j] && C.v[j]->pid == pid && C.v[j]->kind != CONN_CKPT)
			return j;
	return -1;
}

/*
 * A checkpoint registers under its grant's seq, or (FM_CKPT_TOKEN) under the token of
 * the FM_READ_TAKEN read its run told before it connected: that read is in the run's
 * ring or on its socket, maybe not read yet, and is read first (its grant, at its place
 * in the history, comes of it; a copy's pid first, from its checkpoint's connection).
 */
static void conn_on_register(int i, const struct fm_ckpt_register *m)
{
	struct conn *c = C.v[i];
	uint32_t token = (m->seq & FM_CKPT_TOKEN) ? (uint32_t)m->seq : 0;
	if (token) {
		/* the run's connection, or (a copy whose pid its checkpoint has not said yet:
		 * none is known as its) every connection, the checkpoints' among them */
		int run = conn_of_pid(c->pid, i);
		for (int j = 0; j < C.n && C.v[i]; j++)
			if (j != i && C.v[j] && (run < 0 || j == run))
				conn_read(j);
		if (!C.v[i])
			return;
		c = C.v[i];
	}
	for (int k = 0; k < K.n; k++) {
		struct ckpt *ck = &K.v[k];
		int mine = token ? ck->token == token && ck->token_pid == c->pid : ck->seq == m->seq && !ck->token;
		if (ck->state == CK_PENDING && mine && ck->conn < 0) {
			ck->state = CK_READY;
			ck->conn = i;
			c->kind = CONN_CKPT;
			c->ckpt = k;
			policy_checkpoint_add(S.pol, k, ck->seq);
			if (ck->seq > 0 && S.o->serve_fd >= 0)
				startck_end(); /* the run is past its start (helper/startck.c) */
			return;
		}
	}
	conn_close(i); /* a grant of a history already thrown away: the checkpoint exits */
}

static void conn_on_pid(int i, const struct fm_pid *m)
{
	struct conn *c = C.v[i];
	int k = c->ckpt;
	if (c->kind != CONN_CKPT || k < 0)
		return;
	if (m->h.type == FM_CKPT_PID) {
		struct ckpt *ck = &K.v[k];
		ck->pid = m->pid;
		if (out_events_enabled()) {
			const char *path = files_name(ck->file); /* -1: a start checkpoint (helper/startck.c) */
			json_t *f = json_pack("{s:I, s:i}", "seq", (json_int_t)ck->seq, "pid", (int)ck->pid);
			events_set_text(f, "path", path, strlen(path));
			out_event("checkpoint", f);
		}
		return;
	}
	if (m->h.type == FM_SPARE_PID) {
		spare_forked(k, m->pid);
		return;
	}
	/* FM_RESUMED */
	if (m->pid > 0)
		conn_resumed_pid(k, m->pid);
	if (!replace_waits_for(&S.rep, k))
		return;
	if (m->pid > 0) {
		if (R.pid == 0)
			run_set(m->pid);
		return;
	}
	out_error("cannot fork from the checkpoint: %s", strerror(-m->pid));
	ckpt_drop(k); /* closes this connection */
	replace_retry(&S.rep, clock_ns()); /* the run is gone: restart */
}

union conn_msg {
	struct fm_header h;
	struct fm_hello hello;
	struct fm_read read;
	struct fm_note note;
	struct fm_ckpt_register reg;
	struct fm_pid pid;
	struct fm_own own;
	char raw[sizeof(struct fm_read) + 64];
};

/* peer_recv checked the header, the size for the type and the string's end. */
static void conn_dispatch(int i, const union conn_msg *m)
{
	switch (m->h.type) {
	case FM_HELLO:
		conn_on_hello(i, &m->hello);
		break;
	case FM_READ:
		conn_on_read(i, &m->read);
		break;
	case FM_READ_AGAIN:
		conn_on_read_again(i, &m->read);
		break;
	case FM_NOTE:
		conn_on_note(&m->note);
		break;
	case FM_CKPT_REGISTER:
		conn_on_register(i, &m->reg);
		break;
	case FM_OWN:
		own_on_begin(i, &m->own);
		break;
	case FM_OWN_DONE:
		own_on_done(i, &m->own);
		break;
	case FM_CKPT_PID:
	case FM_RESUMED:
	case FM_SPARE_PID:
		conn_on_pid(i, &m->pid);
		break;
	case FM_RING_WAKE:
		break; /* what it woke us for was read before it */
	default:
		conn_close(i); /* a message not for us */
	}
}

/* What connection i's ring holds, in order, before anything on its socket: 0, or -1
 * when the connection is closed now. */
static int conn_drain(int i)
{
	union conn_msg m;
	if (C.v[i] && C.v[i]->resumed_from >= 0)
		conn_learn_pid(i, C.v[i]->ring.h && ring_pending(&C.v[i]->ring));
	while (C.v[i] && C.v[i]->ring.h) {
		long n = ring_get(&C.v[i]->ring, &m, sizeof m);
		if (n == 0)
			return 0;
		if (n < 0) {
			conn_close(i); /* not our hook */
			return -1;
		}
		conn_dispatch(i, &m);
	}
	return C.v[i] ? 0 : -1;
}

/* The other end closed: what its ring still holds first (written before it ended); a
 * checkpoint that dies on its own is dropped. */
static void conn_gone(int i)
{
	if (conn_drain(i) < 0)
		return;
	struct conn *c = C.v[i];
	int ck = c->kind == CONN_CKPT ? c->ckpt : -1;
	conn_close(i);
	if (ck >= 0 && K.v[ck].state != CK_FREE)
		ckpt_lost(ck);
}

void conn_read(int i)
{
	union conn_msg m;
	while (C.v[i]) {
		if (conn_drain(i) < 0)
			return;
		ssize_t n = peer_recv(C.v[i]->fd, &m, sizeof m, NULL, NULL, MSG_DONTWAIT);
		if (n > 0) {
			if (C.v[i]->resumed_from >= 0)
				conn_learn_pid(i, 1); /* its first word came by the socket */
			if (C.v[i])
				conn_dispatch(i, &m);
		} else if (n == PEER_ERROR && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		} else if (n == PEER_VERSION && m.h.type == FM_HELLO) {
			conn_refuse_version(i);
		} else if (n == PEER_EOF || n == PEER_ERROR) {
			conn_gone(i);
			return;
		} else {
			conn_close(i); /* malformed: not our hook */
			return;
		}
	}
}

static void conn_accept(void);

void conn_read_all(void)
{
	for (int i = 0; i < C.n; i++)
		if (C.v[i])
			conn_read(i);
	/* a checkpoint taken unasked (FM_READ_TAKEN) is granted only now, by its read, but
	 * connected before its run went on: registered before what comes of this reading */
	if (ckpt_unregistered())
		conn_accept();
}

static void conn_accept(void)
{
	for (;;) {
		int fd = accept4(S.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		struct ucred cr;
		socklen_t l = sizeof cr;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 || cr.uid != getuid()) {
			if (l == sizeof cr)
				out_error("refused a connection from uid %d (not ours)", (int)cr.uid);
			close(fd);
			continue;
		}
		int i = conn_add(fd, cr.pid);
		if (i < 0) {
			close(fd);
			continue;
		}
		conn_read(i);
	}
}

/* Before the turn's first message: a checkpoint granted earlier registers first. */
static void conn_accept_early(void)
{
	if (C.early)
		return;
	C.early = 1;
	if (ckpt_unregistered())
		conn_accept();
}

void conn_accept_late(void)
{
	if (C.late)
		return;
	C.late = 1;
	if (ckpt_unregistered())
		conn_accept(); /* checkpoints registered by a run that has moved on */
}

void conn_turn_end(void)
{
	C.early = C.late = 0;
}

static void conn_on_ready(struct loop *l, int fd, unsigned events, void *arg)
{
	S.dirty = 1;
	conn_accept_early();
	conn_read((int)(intptr_t)arg);
	own_flush();
}

static void conn_on_listen(struct loop *l, int fd, unsigned events, void *arg)
{
	S.dirty = 1;
	C.early = 1;
	conn_accept();
	own_flush();
}

/* Before every wait of the loop: the rings, which no descriptor shows. Awake, what they
 * hold is read now; before a sleep, each is marked (its writer wakes us with RING_WAKE),
 * and one that filled meanwhile keeps us awake. */
/*
 * The loop's own slice (common/slice.h): short while it sleeps for what may come (a
 * save's event must preempt background work at once), the kernel's default while it
 * naps between a running program's reads (then its wake-ups, every RING_NAP_NS, would
 * preempt that program on its own processor: a resume from the first of 1000 modules
 * took 1 ms longer). Changed only when it changes.
 */
static void conn_slice(int idle)
{
	static int now = 1; /* monitor.c starts it short */
	if (idle == now)
		return;
	now = idle;
	if (idle)
		slice_short();
	else
		slice_default();
}

static int conn_before_wait(struct loop *l, int will_sleep, void *arg)
{
	int busy = 0;
	for (int i = 0; i < C.n; i++) {
		struct conn *c = C.v[i];
		if (!c || !c->ring.h)
			continue;
		if (ring_pending(&c->ring)) {
			S.dirty = 1;
			conn_accept_early();
			conn_read(i);
			busy = 1;
			continue;
		}
		if (!will_sleep)
			ring_awake(&c->ring);
		else if (!busy && !ring_may_sleep(&c->ring))
			busy = 1;
	}
	if (busy)
		own_flush(); /* and S.dirty: the turn's end does the rest (monitor.c) */
	conn_slice(!busy && will_sleep);
	return busy;
}

void conn_listen(void)
{
	loop_before_wait(S.loop, conn_before_wait, NULL);
	if (loop_add(S.loop, S.lfd, LOOP_IN, PRIO_ACCEPT, conn_on_listen, NULL) < 0) {
		out_error("cannot set up the event loop: %s", strerror(errno));
		exit(1);
	}
}
