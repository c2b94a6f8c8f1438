/*
 * watcher/out.h — what the monitor tells the user, on stderr.
 *
 * Status lines are "[forkmon] ..." (silenced by quiet); errors are "forkmon: ..." and
 * never silenced. Colours only when stderr is a terminal, and never with NO_COLOR or
 * FORKMON_NO_COLORS set.
 */
#ifndef FORKMON_OUT_H
#define FORKMON_OUT_H

void out_init(int quiet);
void out_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void out_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
