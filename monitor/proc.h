/*
 * monitor/proc.h — the processes of a session, found in /proc.
 *
 * The monitor is a child subreaper: every process of the session descends from it,
 * orphans included. The run and everything it started are the monitor's descendants
 * outside the checkpoints' subtrees. The tree is walked down from its root through
 * /proc/PID/task/TID/children: what is read grows with the session's own processes, not
 * with the host's (a run that ended and left nothing costs the root's files alone). A
 * kernel without those files (CONFIG_PROC_CHILDREN) gets the old way: every
 * /proc/PID/stat read, and the tree rebuilt from the parents.
 */
#ifndef FORKMON_PROC_H
#define FORKMON_PROC_H

#include <sys/types.h>

struct proc_set {
	pid_t *pids;
	int n, cap;
};

/* Fills out with the live (non-zombie) descendants of root, not counting root itself
 * nor anything at or below a pid in keep. Returns out->n, or -1. Without children files
 * (proc_walkable() is 0) only pids from min_pid on are read: every descendant of root is
 * younger than root, so while pids have not wrapped around since root started, its
 * descendants have larger pids. */
int proc_descendants(pid_t root, pid_t min_pid, const pid_t *keep, int nkeep, struct proc_set *out);

/* Does this kernel list each thread's children (/proc/PID/task/TID/children)? */
int proc_walkable(void);

/* Sends sig to each process of the set. */
void proc_signal(const struct proc_set *s, int sig);
/* SIGTERM, then SIGCONT: a stopped process (Ctrl-Z) must see its SIGTERM. */
void proc_terminate(const struct proc_set *s);


#endif
