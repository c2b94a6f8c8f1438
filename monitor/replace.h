/*
 * monitor/replace.h — replacing the run: the state machine and the settle rule, pure.
 *
 * Runs in the monitor (run.c drives it, helper/serve.c starts resumes of its own); no
 * clock, no /proc, no system call: the caller passes `now` and a table of operations on
 * the session's processes, so tests/unit/test_replace.c drives it with a fake clock and
 * fake processes (entr's xfork/xkill pointers are the model).
 *
 *   IDLE ──change──▶ KILLING ──victims gone──▶ RESUMING ──new run known──▶ IDLE
 *                      │ (SIGTERM, SIGKILL        │ (no answer in RESUME_WAIT_NS:
 *                      │  each grace_ns after)    │  restart)
 *                      └──restart: spawn──────────┴──▶ IDLE
 *
 * The run and every process it started get SIGTERM (and SIGCONT), then SIGKILL each
 * grace_ns until none is left; checkpoints are spared. Saves that complete meanwhile
 * stay in the debounce until IDLE: they are a change of their own, resumed after the
 * first (the last content wins).
 *
 * The settle rule: once the debounce says a set of saves is complete, it still waits
 * (looking again every SETTLE_RETRY_NS, at most SETTLE_MAX_NS in all) while events are
 * on their way to us. How long a save of several files takes is the debounce's to learn
 * (from the gaps it measures), never guessed from the machine's load.
 */
#ifndef FORKMON_REPLACE_H
#define FORKMON_REPLACE_H

#include "policy.h"

#include <stdint.h>

struct debounce;

#define RESUME_WAIT_NS 5000000000ll /* a checkpoint told to resume answers within it */
#define SETTLE_MAX_NS 50000000ll    /* a complete set waits at most so long for stragglers */
#define SETTLE_RETRY_NS 200000ll    /* looking again so often: the records are µs away */

enum replace_phase { REPLACE_IDLE, REPLACE_KILLING, REPLACE_RESUMING };

/* Read by the caller just before the settle rule needs them. */
struct settle_in {
	int busy; /* events are on their way: the kernel's queue, the watcher thread */
};

struct replace_ops {
	/* What a change of files calls for (policy_decide, and telling the user); returns 1
	 * when the run is to be replaced as d says, 0 when nothing (more) is to be done. */
	int (*decide)(void *ctx, const int *files, int n, struct policy_decision *d);
	/* The processes of the run still alive (checkpoints excluded). first: the
	 * replacement begins, so their connections close (their history is thrown away). */
	int (*victims)(void *ctx, int first);
	void (*signal_victims)(void *ctx, int sig);
	/* Every victim is gone: throw away the history after d->seq and tell checkpoint
	 * d->ckpt to fork a new run. 0: told; 1: told, and the new run is known already (a
	 * spare made before the save took it); -1: it is gone (the caller dropped it). */
	int (*resume)(void *ctx, const struct policy_decision *d);
	/* Every victim is gone: throw away all history, start the command again. */
	void (*restart)(void *ctx);
	/* The checkpoint told to resume did not answer in time: drop it. */
	void (*abandon)(void *ctx, int ckpt);
	/* Takes in the events already on their way (into the debounce), then fills in. */
	void (*settle_inputs)(void *ctx, struct settle_in *in);
};

struct replace {
	const struct replace_ops *ops;
	void *ctx;
	struct debounce *deb;
	int64_t grace_ns;
	enum replace_phase phase;
	struct policy_decision dec;
	int *changed; /* every file of the change, however many (grown as needed) */
	int nchanged, capchanged;
	int64_t kill_at;   /* KILLING: the next SIGKILL */
	int resume_ckpt;   /* RESUMING: the checkpoint told to fork */
	int64_t resume_by; /* RESUMING: restart if it has not answered by then */
	int pending;       /* a change completed while not IDLE */
	int64_t due;       /* the settle rule holds a complete set back since then, 0: not */
	int64_t retry;     /* and looks again then */
};

void replace_init(struct replace *r, const struct replace_ops *ops, void *ctx, struct debounce *deb,
		  int64_t grace_ns);

/* Releases what replace_init() and the changes allocated. */
void replace_free(struct replace *r);
/* Adds file to r->changed; -1 when out of memory. */
int replace_add_changed(struct replace *r, int file);
/* The changes in r->changed are complete: decide and begin (or wait for IDLE). */
void replace_change(struct replace *r, int64_t now);
/* At a turn's end: a change that waited for IDLE begins. */
void replace_pending(struct replace *r, int64_t now);
/* When replace_timer wants to run next (absolute), or -1. */
int64_t replace_deadline(const struct replace *r);
/* The timer: the kill and resume deadlines, the settle rule, completed saves. */
void replace_timer(struct replace *r, int64_t now);
/* A process of the session ended (reaped): the replacement may go on. */
void replace_reaped(struct replace *r, int64_t now);

/* Checkpoint ckpt was told to fork the new run (by us, or by serve mode). */
void replace_resuming(struct replace *r, int ckpt, int64_t now);
/* Is the replacement waiting for checkpoint ckpt to fork the new run? */
int replace_waits_for(const struct replace *r, int ckpt);
/* The new run is known (RESUMED, or its HELLO): IDLE. */
void replace_run_known(struct replace *r);
/* The checkpoint we waited for is gone or could not fork: the command restarts (the
 * run it replaced is gone already). */
void replace_retry(struct replace *r, int64_t now);

#endif
