/*
 * monitor/ckpt.c — the checkpoint table of a session. Runs in the monitor.
 *
 * A checkpoint is granted (PENDING, at a read's seq) in the answer to a read; the run
 * forks it, and it registers on its own connection (READY: the policy knows it). Called
 * by conn.c (grants, registration), run.c and helper/serve.c (rollbacks, resumes).
 */
#include "session.h"

#include "policy.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

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

/* Ends a checkpoint: its connection closes (it exits on EOF) and it is killed. */
void ckpt_drop(int i)
{
	struct ckpt *k = &K.v[i];
	if (k->state == CK_FREE)
		return;
	if (k->state == CK_READY)
		policy_checkpoint_gone(S.pol, i);
	if (k->conn >= 0)
		conn_close(k->conn);
	if (k->pid > 0)
		kill(k->pid, SIGKILL);
	*k = (struct ckpt){.state = CK_FREE, .conn = -1};
}

void ckpt_drop_all(void)
{
	for (int i = 0; i < K.n; i++)
		ckpt_drop(i);
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
		ckpt_drop(dropped[k]);
	/* Grants not registered yet belong to the run going away, when later than seq. */
	uint64_t after = restart ? 0 : seq;
	for (int i = 0; i < K.n; i++)
		if (K.v[i].state == CK_PENDING && K.v[i].seq > after)
			ckpt_drop(i);
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
