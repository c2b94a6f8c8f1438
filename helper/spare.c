/*
 * helper/spare.c — a helper session's spare: the copy its next call will be, forked from
 * the deepest checkpoint before that call comes. Runs in the session's monitor process;
 * called by serve.c (when to make one, and to hand one a call), monitor/conn.c (its pid,
 * from the checkpoint) and monitor/run.c (its end; the processes a kill spares).
 *
 * A call served from a checkpoint pays for the fork (about 0.5 ms for an interpreter
 * with heavy imports), then, one fault at a time, for every page it writes that it still
 * shares with the checkpoint: an interpreter's exit frees every object, and a warm
 * Python call spent some 6 ms of its end there. The spare pays both before the call:
 * the hook (hook/resume.c, FM_RESUME_SPARE) makes its resident pages its own, then waits
 * on a socket of its own for the call's RESUME, and becomes that run as a copy resumed
 * at once would. A call that comes before the spare is done stops it there.
 *
 * One spare per session, of one checkpoint: made after each call is given its copy (on
 * the other processor, while the call runs) and after a cold call; dropped when its
 * checkpoint is no longer the one a call is served from (a deeper one came, a change
 * dropped it). `forkmon run` has one too (monitor/run.c): of the checkpoint last
 * resumed, for the next save of the same file. What it costs: one process, its memory its own (at most 64 MB of it made
 * so), for as long as the session lives.
 */
#include "serve.h"

#include "session.h"

#include "peer.h"

#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct {
	int fd;        /* our end of its socket, -1: no spare */
	int ck;        /* the checkpoint it is a copy of (K.v) */
	pid_t ck_pid;  /* that checkpoint's process, which the slot's next one is not */
	uint64_t seq;  /* and its seq */
	pid_t pid;     /* the spare, 0 until the checkpoint says */
} P = {.fd = -1, .ck = -1};

/* The last children reaped that were not the spare (nor the run, nor a checkpoint). */
#define SPARE_REAPED 16
static pid_t reaped[SPARE_REAPED];
static unsigned nreaped;

/* Is the spare still of the checkpoint it was made of (its slot may hold another)? */
static int spare_valid(void)
{
	return P.ck >= 0 && P.ck < K.n && K.v[P.ck].state != CK_FREE && K.v[P.ck].pid == P.ck_pid &&
	       K.v[P.ck].seq == P.seq;
}

void spare_drop(void)
{
	if (P.fd < 0)
		return;
	if (P.pid > 0)
		kill(P.pid, SIGKILL); /* our child, not reaped yet: no other process has its pid */
	close(P.fd);
	P.fd = P.ck = -1;
	P.pid = P.ck_pid = 0;
}

void spare_make(int k)
{
	if (P.fd >= 0 && (P.ck != k || !spare_valid()))
		spare_drop(); /* of a checkpoint no longer the deepest (its slot may hold another) */
	if (P.fd >= 0 || k < 0 || k >= K.n || K.v[k].state != CK_READY || K.v[k].pid <= 0)
		return;
	const struct ckpt *ck = &K.v[k];
	if (ck->conn < 0 || !C.v[ck->conn])
		return;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	struct fm_resume r = {0};
	fm_init(&r.h, FM_RESUME, (uint32_t)offsetof(struct fm_resume, data));
	r.monitor_pid = S.self;
	r.job_pgid = S.pgid;
	r.flags = FM_RESUME_SPARE;
	int w = peer_send(C.v[ck->conn]->fd, &r, &sv[1], 1, MSG_DONTWAIT);
	close(sv[1]);
	if (w < 0) {
		close(sv[0]);
		return;
	}
	P.fd = sv[0];
	P.ck = k;
	P.ck_pid = ck->pid;
	P.seq = ck->seq;
	P.pid = 0;
}

void spare_forked(int k, pid_t pid)
{
	if (P.fd < 0 || k != P.ck || P.pid != 0)
		return;
	/* it may have died, and been reaped, before this word came: then its pid is no
	 * longer ours to signal */
	int dead = 0;
	for (int i = 0; i < SPARE_REAPED; i++)
		dead |= pid > 0 && reaped[i] == pid;
	if (pid > 0 && !dead)
		P.pid = pid;
	else
		spare_drop(); /* the checkpoint could not fork, or the spare is gone */
}

int spare_of(void)
{
	return P.fd >= 0 && spare_valid() ? P.ck : -1;
}

void spare_check(void)
{
	if (P.fd >= 0 && !spare_valid())
		spare_drop();
}

int spare_take(int k, pid_t *pid)
{
	if (P.fd < 0)
		return -1;
	if (P.ck != k || P.pid <= 0 || !spare_valid()) {
		spare_drop(); /* of another checkpoint (or not forked yet): of no use now */
		return -1;
	}
	int fd = P.fd;
	*pid = P.pid;
	P.fd = P.ck = -1;
	P.pid = P.ck_pid = 0;
	return fd;
}

int spare_reaped(pid_t pid)
{
	if (pid > 0 && pid != P.pid) {
		reaped[nreaped++ % SPARE_REAPED] = pid; /* perhaps a spare whose pid is yet to come */
		return 0;
	}
	if (pid <= 0)
		return 0;
	P.pid = 0; /* dead before its call: a new one is made after the next */
	spare_drop();
	return 1;
}

int spare_pids(pid_t *out, int max)
{
	if (P.fd < 0 || P.pid <= 0 || max < 1)
		return 0;
	out[0] = P.pid;
	return 1;
}
