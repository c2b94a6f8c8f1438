/*
 * monitor/policy.h — the resume rule, without processes or clocks (unit-tested alone).
 *
 * Every watched read of the current lineage gets a sequence number; a checkpoint taken
 * just before read s is registered under s. When a set of files changes, let r be the
 * earliest read of any of them in the current lineage: resume from the latest checkpoint
 * registered at or before r. Reads at or after that checkpoint, and later checkpoints,
 * belong to a history that is thrown away. When no checkpoint qualifies, restart.
 * Files never read in the current lineage do not matter to it: no action.
 */
#ifndef FORKMON_POLICY_H
#define FORKMON_POLICY_H

#include <stdint.h>

struct policy;

struct policy *policy_new(void);
void policy_free(struct policy *p);

/* Records a read of file (an id >= 0 chosen by the caller); returns its sequence number. */
uint64_t policy_read(struct policy *p, int file);

/* Records a look at file (a stat, a listing): its sequence number. A look counts as the
 * file's earliest read only until the file is read: then the read does (a program that
 * looks and then reads depends on what it read). */
uint64_t policy_look(struct policy *p, int file);

/* The next sequence number policy_read will hand out (for a checkpoint grant). */
uint64_t policy_next_seq(const struct policy *p);

/* Earliest read of file in the current lineage, or 0 when none. */
uint64_t policy_first_read(const struct policy *p, int file);

/* A checkpoint (an id chosen by the caller) now exists at seq / is gone. */
void policy_checkpoint_add(struct policy *p, int ckpt, uint64_t seq);
void policy_checkpoint_gone(struct policy *p, int ckpt);
int policy_checkpoint_count(const struct policy *p);

enum policy_action { POLICY_NONE, POLICY_RESUME, POLICY_RESTART };

struct policy_decision {
	enum policy_action action;
	int ckpt;       /* POLICY_RESUME: the checkpoint to resume */
	uint64_t seq;   /* its sequence number */
	uint64_t first; /* r: the earliest read of a changed file */
	int first_file; /* the changed file read first */
};

/* Decides what a change of these files calls for; changes nothing. */
void policy_decide(const struct policy *p, const int *files, int n, struct policy_decision *d);

/*
 * Commits to resuming from the checkpoint at seq: forgets reads after seq (the read at
 * seq is the first thing the resumed run does: it stays) and drops every checkpoint
 * after it. Writes the dropped checkpoints' ids to dropped (up to
 * max) and returns how many were dropped.
 */
int policy_rollback(struct policy *p, uint64_t seq, int *dropped, int max);

/* Commits to a restart: forgets every read; drops every checkpoint (as rollback). */
int policy_reset(struct policy *p, int *dropped, int max);

#endif
