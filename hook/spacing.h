/*
 * hook/spacing.h — when a watched read gets a checkpoint: the spacing rule, pure.
 *
 * A checkpoint is not free, and most of what it costs the run comes after its fork: every
 * page the run writes afterwards is copied once while the checkpoint shares it (about
 * 2 µs a page; an interpreter's first checkpoint costs it some 0.6 ms in all, several
 * times its fork). So a run takes a checkpoint at the first watched read and at the
 * project's first few reads regardless of cost (the files people edit), and past them
 * only when it has worked at least gap_factor times what the last checkpoint really
 * cost it since that one (and at least min_gap_ns): from the question to the monitor
 * to the end of the fork, plus the page faults taken since, at fault_ns each. The
 * fault count is asked (faults_now) only once the first part alone would allow a
 * checkpoint. Start-up overhead is then a bounded share of the work (1 / gap_factor),
 * whatever the number of files.
 *
 * A free checkpoint is only worth its cost when a resume from it differs from a resume
 * from the last one: when the run worked longer since that one than that one cost, or
 * did something a user would see twice (effects_now: its writes, its unwritten output).
 * Else it is skipped, and used up: the main file's checkpoint serves the modules read
 * a few microseconds after it, quietly (a change of one of them redoes that little).
 *
 * A helper session (serve mode) wants depth instead: its checkpoints serve every later
 * call, and its first run's cost matters little (a short program that grows its memory
 * would count most of its work as faults). There a checkpoint's cost is its fork
 * alone (faults_now NULL), with a smaller factor.
 *
 * Pure and libc-only: the caller gives the time (`now`, any monotonic nanosecond clock)
 * and the fault counter, and the state lives in the caller's struct spacing; no global,
 * no system call of its own. The hook (hook/ckpt.c) calls it with its real clock before
 * each watched read of the run; tests/unit/test_spacing.c with a fake one.
 */
#ifndef FORKMON_HOOK_SPACING_H
#define FORKMON_HOOK_SPACING_H

#include <stdint.h>

/* What a fault costs until one was measured (hook/ckpt.c measures it at each checkpoint). */
#define SPACING_FAULT_NS 2000

/* What the monitor said (HELLO_OK), and the process's role. */
struct spacing_cfg {
	int run;                   /* this process is the run: only the run is checkpointed */
	int every;                 /* a checkpoint at every watched read (--every) */
	unsigned free_checkpoints; /* the first read and the project's first reads, so many */
	unsigned gap_factor;       /* then one per this many times the last checkpoint's cost */
	int64_t min_gap_ns;        /* and at least this much work since the last one */
	unsigned max_checkpoints;  /* never more (counted along the run's history) */
	/* The process's page faults so far; NULL: a checkpoint's cost is what was measured
	 * (spacing_forked) alone. Asked only when that alone allows a checkpoint. */
	long (*faults_now)(void);
	/* What the run did that a resume from an earlier checkpoint would show again, as a
	 * count that only grows (-1: not known); NULL: never asked, every free checkpoint is
	 * taken. Asked only for a free checkpoint that is cheap to do without. */
	long (*effects_now)(void);
};

/* Zero-initialised at start: no checkpoint yet. */
struct spacing {
	int count;            /* checkpoints taken by this run and the runs it resumed from */
	int free_used;        /* free checkpoints taken at the project's reads */
	int64_t last_end_ns;  /* when the last checkpoint's fork ended (or the run resumed) */
	int64_t last_cost_ns; /* what the last checkpoint cost until then */
	long faults_at_end;   /* faults_now() at last_end_ns */
	int64_t fault_ns;     /* what one page fault costs (0: SPACING_FAULT_NS) */
	/* No checkpoint before this time (0: none known): the faults counted last allowed
	 * none before it, and faults only grow. Until then they are not asked again (a
	 * getrusage() is ~0.8 us, and past the cheap bound every watched read asked it). */
	int64_t faults_next_ns;
	long effects_at_end; /* effects_now() at last_end_ns */
	/* spacing_may_want() says no before this time (0: not known); every change of the
	 * state, and of the configuration (spacing_reconfigured), forgets it. */
	int64_t quiet_until_ns;
};

/* Does a watched read at time now get a checkpoint? in_project: the path is under the
 * session's directory (spacing_in_project). consume: 1 when the checkpoint is taken if
 * wanted (a free one is used up); 0 to ask without changing anything. */
int spacing_wanted(const struct spacing_cfg *cfg, struct spacing *s, int64_t now, int in_project,
		   int consume);

/*
 * spacing_wanted(cfg, s, now, in_project, 0), remembering how long the answer stays no:
 * before that time it is one comparison (the hook asks at every candidate's open, most
 * of them names a search path misses). cfg and in_project are the same at every call
 * until spacing_reconfigured(s).
 */
int spacing_may_want(const struct spacing_cfg *cfg, struct spacing *s, int64_t now, int in_project);
void spacing_reconfigured(struct spacing *s);

/* What the last checkpoint costs the run by now: what was measured, and (faults_now)
 * the faults since at fault_ns each. */
int64_t spacing_cost(const struct spacing_cfg *cfg, const struct spacing *s);

/* A checkpoint was taken: the run went on at now, having given cost_ns for it, with
 * faults page faults so far (0 when they are not counted). */
void spacing_forked(struct spacing *s, int64_t now, int64_t cost_ns, long faults);

/* This process is a run just resumed, at now, from a checkpoint taken with s as it was
 * before spacing_forked() (its last_cost_ns that checkpoint's own: hook/ckpt.c): that
 * checkpoint counts, and the work starts again at now. Its faults are counted from
 * spacing_faults_from(). */
void spacing_resumed(struct spacing *s, int64_t now);
void spacing_faults_from(struct spacing *s, long faults);

/* effects_now() when the last checkpoint was taken (in the run going on) or the run
 * resumed (in the new run, whose counters start again). */
void spacing_effects_from(struct spacing *s, long effects);

/* One page fault was seen to cost sample_ns: folded into s->fault_ns (a moving
 * average; samples out of reason, a preemption in the middle, are left out). */
void spacing_fault_sample(struct spacing *s, int64_t sample_ns);

/* Is the absolute path under the directory project ("" : nothing is)? */
int spacing_in_project(const char *project, const char *path);

#endif
