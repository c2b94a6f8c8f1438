/*
 * hook/spacing.h — when a watched read gets a checkpoint: the spacing rule, pure.
 *
 * A fork is not free (about 150 µs at 1 MB resident, 20 ms at 1 GB), so the run takes a
 * checkpoint at the first watched read, at the project's first few reads regardless of
 * cost, and past them only when it has worked long enough since the last checkpoint to
 * be worth one: at least gap_factor × the last fork's cost, and at least min_gap_ns.
 * Start-up overhead is then a bounded fraction of the work, whatever the number of files.
 *
 * Pure and libc-only: the caller gives the time (`now`, any monotonic nanosecond clock),
 * and the state lives in the caller's struct spacing; no global, no system call. The
 * hook (hook/ckpt.c) calls it with its real clock before each watched read of the run;
 * tests/unit/test_spacing.c with a fake one.
 */
#ifndef FORKMON_HOOK_SPACING_H
#define FORKMON_HOOK_SPACING_H

#include <stdint.h>

/* What the monitor said (HELLO_OK), and the process's role. */
struct spacing_cfg {
	int run;                   /* this process is the run: only the run is checkpointed */
	int every;                 /* a checkpoint at every watched read (--every) */
	unsigned free_checkpoints; /* the first read and the project's first reads, so many */
	unsigned gap_factor;       /* then one per this many times the last fork's cost */
	int64_t min_gap_ns;        /* and at least this much work since the last one */
	unsigned max_checkpoints;  /* never more (counted along the run's history) */
};

/* Zero-initialised at start: no checkpoint yet. */
struct spacing {
	int count;           /* checkpoints taken by this run and the runs it resumed from */
	int free_used;       /* free checkpoints taken at the project's reads */
	int64_t last_end_ns; /* when the last checkpoint's fork ended (or the run resumed) */
	int64_t last_fork_ns; /* what the last fork cost */
};

/* Does a watched read at time now get a checkpoint? in_project: the path is under the
 * session's directory (spacing_in_project). consume: 1 when the checkpoint is taken if
 * wanted (a free one is used up); 0 to ask without changing anything. */
int spacing_wanted(const struct spacing_cfg *cfg, struct spacing *s, int64_t now, int in_project,
		   int consume);

/* A checkpoint was taken: its fork ended at now and cost fork_cost_ns. */
void spacing_forked(struct spacing *s, int64_t now, int64_t fork_cost_ns);

/* This process is a run just resumed, at now, from a checkpoint taken with s as it was
 * before spacing_forked(): that checkpoint counts, and the work starts again at now. */
void spacing_resumed(struct spacing *s, int64_t now);

/* Is the absolute path under the directory project ("" : nothing is)? */
int spacing_in_project(const char *project, const char *path);

#endif
