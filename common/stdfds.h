/*
 * common/stdfds.h — descriptors 0-2 that were closed when one of forkmon's programs
 * started. libc only; called first thing by the forkmon command (monitor/main.c: the
 * monitor, bare mode, the helper) and by forkmon-client.
 *
 * A program started with stdin, stdout or stderr closed would otherwise give those
 * numbers to the first descriptors it opens (an inotify descriptor at 0, a socket at
 * 1-2), and then its status lines would be written into them. So the closed ones are
 * taken at once by /dev/null (read-write), and forkmon's own descriptors are never 0-2.
 * What was closed is remembered: the command forkmon starts gets them closed again
 * (stdfds_reclose, in the child before it execs), as a direct run would have them.
 */
#ifndef FORKMON_STDFDS_H
#define FORKMON_STDFDS_H

/* Opens /dev/null on each of 0-2 that is closed. Returns 0, or -1 when /dev/null cannot
 * be opened (then nothing is said: stderr may be one of them). */
int stdfds_occupy(void);
/* Bit i set: descriptor i was closed when stdfds_occupy() ran. */
unsigned stdfds_closed(void);
/* Closes again what was closed (async-signal-safe: for a child before execve). */
void stdfds_reclose(void);

#endif
