/*
 * monitor/guard.h — the session's guard (guard.c): the process the user started, a
 * subreaper above the monitor that kills whatever a dead monitor leaves behind.
 */
#ifndef FORKMON_GUARD_H
#define FORKMON_GUARD_H

/* Forks the monitor and becomes its guard; returns in the monitor only (or, when the
 * fork fails, in the one process, unguarded). Call before any thread exists. */
void guard_start(void);

/* 1 in a guarded monitor whose guard has died (SIGKILL of the pid the user started):
 * whoever ended it wants the session gone now, so no grace period is given. */
int guard_gone(void);

#endif
