/*
 * monitor/proc.h — the processes of a session, found in /proc.
 *
 * The monitor is a child subreaper: every process of the session descends from it,
 * orphans included. The run and everything it started are the monitor's descendants
 * outside the checkpoints' subtrees. (This kernel has no /proc/PID/task/TID/children,
 * so the tree is rebuilt from every /proc/PID/stat.)
 */
#ifndef FORKMON_PROC_H
#define FORKMON_PROC_H

#include <sys/types.h>

struct proc_set {
	pid_t *pids;
	int n, cap;
};

/* Fills out with the live (non-zombie) descendants of root, not counting root itself
 * nor anything at or below a pid in keep. Returns out->n, or -1. Only pids from min_pid
 * on are read: every descendant of root is younger than root, so while pids have not
 * wrapped around since root started, its descendants have larger pids (reading each
 * /proc/PID/stat is most of the cost on a busy machine). */
int proc_descendants(pid_t root, pid_t min_pid, const pid_t *keep, int nkeep, struct proc_set *out);

/* Sends sig to each process of the set. */
void proc_signal(const struct proc_set *s, int sig);
/* SIGTERM, then SIGCONT: a stopped process (Ctrl-Z) must see its SIGTERM. */
void proc_terminate(const struct proc_set *s);


#endif
