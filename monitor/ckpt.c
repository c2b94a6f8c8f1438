/*
 * monitor/ckpt.c — the checkpoint table of a session. Runs in the monitor.
 *
 * A checkpoint is granted (PENDING, at a read's seq) in the answer to a read; the run
 * forks it, and it registers on its own connection (READY: the policy knows it). Called
 * by conn.c (grants, registration), run.c and helper/serve.c (rollbacks, resumes).
 */
#include "session.h"

#include "policy.h"
#include "serve.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ckpt_table K;

int ckpt_new(uint64_t seq, int file)
{
	int i;
	for (i = 0; i < K.n && K.v[i].state != CK_FREE; i++)
		;
	if (i == K.n) {
		struct ckpt *n = realloc(K.v, (size_t)(K.n + 32) * sizeof *n);
		if (!n)
			return -1;
		memset(n + K.n, 0, 32 * sizeof *n);
		K.v = n;
		K.n += 32;
	}
	K.v[i] = (struct ckpt){.state = CK_PENDING, .conn = -1, .seq = seq, .file = file};
	return i;
}

/*
 * Checkpoints dropped by a rollback end later (ckpt_end_dropped): each one's end (the
 * EOF on its connection, SIGKILL) wakes it, and it runs at once where it wakes, before
 * the monitor or the copy resumed go on: it frees its memory, ~80 us a checkpoint, at
 * the very moment the copy starts (measured: 14 of them, 1.2 ms before the RESUME left).
 * They end when the run exits, or CKPT_END_LATER_NS after the rollback (the timer, run.c).
 * Until then they are out of the table, their connections out of the loop, and their
 * pids are not the run's (ckpt_pids).
 */
enum { CKPT_LATER_MAX = 1024 };
static struct {
	int fd[CKPT_LATER_MAX];
	pid_t pid[CKPT_LATER_MAX];
	int n;
	int64_t at; /* when they end at the latest */
} later;

int64_t ckpt_end_dropped_at(void)
{
	return later.n ? later.at : -1;
}

void ckpt_end_dropped(void)
{
	for (int k = 0; k < later.n; k++) {
		if (later.fd[k] >= 0)
			close(later.fd[k]);
		if (later.pid[k] > 0)
			kill(later.pid[k], SIGKILL);
	}
	later.n = 0;
}

/* Ends checkpoint i; its process hears of it now, or with ckpt_end_dropped (defer). */
static void ckpt_drop_as(int i, int defer)
{
	struct ckpt *k = &K.v[i];
	if (k->state == CK_FREE)
		return;
	if (k->state == CK_READY)
		policy_checkpoint_gone(S.pol, i);
	if (defer && later.n == CKPT_LATER_MAX)
		defer = 0;
	int fd = -1;
	if (k->conn >= 0)
		fd = defer ? conn_forget(k->conn) : (conn_close(k->conn), -1);
	if (defer) {
		if (!later.n)
			later.at = clock_ns() + CKPT_END_LATER_NS;
		later.fd[later.n] = fd;
		later.pid[later.n++] = k->pid;
	} else if (k->pid > 0)
		kill(k->pid, SIGKILL);
	*k = (struct ckpt){.state = CK_FREE, .conn = -1};
	conn_ckpt_gone(i);
	spare_check(); /* a copy of it, made for later, is of a history gone */
}

/* Ends a checkpoint: its connection closes (it exits on EOF) and it is killed. */
void ckpt_drop(int i)
{
	ckpt_drop_as(i, 0);
}

void ckpt_drop_all(void)
{
	for (int i = 0; i < K.n; i++)
		ckpt_drop(i);
	ckpt_end_dropped();
}

void ckpt_rollback(uint64_t seq, int restart)
{
	enum { MAX = 4096 };
	int dropped[MAX], *missing;
	int nmissing = files_missing_after(seq, restart, &missing);
	int n = restart ? policy_reset(S.pol, dropped, MAX) : policy_rollback(S.pol, seq, dropped, MAX);
	/* A deleted file stays read, as if first thing by the run resumed (or restarted):
	 * every checkpoint after it is dropped, so its return resumes from this one. */
	for (int k = 0; k < nmissing; k++)
		policy_read(S.pol, missing[k]);
	free(missing);
	for (int k = 0; k < n && k < MAX; k++)
		ckpt_drop_as(dropped[k], 1);
	/* Grants not registered yet belong to the run going away, when later than seq. */
	uint64_t after = restart ? 0 : seq;
	for (int i = 0; i < K.n; i++)
		if (K.v[i].state == CK_PENDING && K.v[i].seq > after)
			ckpt_drop_as(i, 1);
}

int ckpt_unregistered(void)
{
	for (int i = 0; i < K.n; i++)
		if (K.v[i].state == CK_PENDING)
			return 1;
	return 0;
}

int ckpt_pids(pid_t *out, int max)
{
	int n = 0;
	for (int i = 0; i < K.n && n < max; i++)
		if (K.v[i].state != CK_FREE && K.v[i].pid > 0)
			out[n++] = K.v[i].pid;
	for (int k = 0; k < later.n && n < max; k++)
		if (later.pid[k] > 0)
			out[n++] = later.pid[k]; /* blocks every signal: only SIGKILL ends it */
	return n;
}

int ckpt_deepest(void)
{
	int best = -1;
	for (int k = 0; k < K.n; k++)
		if (K.v[k].state == CK_READY && K.v[k].conn >= 0 && (best < 0 || K.v[k].seq > K.v[best].seq))
			best = k;
	return best;
}

void ckpt_lost(int i)
{
	int resuming = replace_waits_for(&S.rep, i) && R.pid == 0;
	ckpt_drop(i);
	if (resuming)
		replace_retry(&S.rep, clock_ns()); /* the run is gone: restart */
}
