/*
 * helper/serve.h — serve mode: a session of the helper (helper.c forks it) that keeps
 * one command warm and runs it for clients, one at a time.
 *
 * Runs in that session's monitor process, in its event loop (monitor/session.h). The
 * helper hands each request over on the serve socket (HELPER_RUN with the client's
 * connection, cwd, 0, 1, 2); the session serves it from the deepest clean checkpoint —
 * one taken before the program wrote anything (no bytes written, no subprocess), so the
 * client still sees everything the command prints — or starts the command. The client's
 * signals are passed on; the command's wait status goes back (HELPER_EXIT).
 */
#ifndef FORKMON_SERVE_H
#define FORKMON_SERVE_H

#include <stdint.h>
#include <sys/types.h>

/* Watches the serve socket (S.o->serve_fd) and starts the idle clock. */
void serve_start(void);
/* After a turn: serves the next request once nothing runs. */
void serve_next(void);
/* The run of the client being served ended with wait status st. */
void serve_done(int st);
/* The checkpoint resumed for the client did not start its run: the client is told
 * (it runs the command itself), before anything of the command ran. */
void serve_lost(void);
/* When serve_timer() is due next (a dead client's command to kill, a session nobody
 * uses to end: the idle timeout), or -1. */
int64_t serve_idle_deadline(void);
/* From the session's timer: kills what a dead client left running past the grace
 * period; ends the session when it idled out. */
void serve_timer(int64_t now);
/* The run did something a later client would miss: no more checkpoints from it. */
void serve_taint(void);
/* These files' changes were taken in (run.c): what they are now is what is known. */
void serve_seen(const int *files, int n);
/* May the run, process pid, still be checkpointed for later clients? */
int serve_may_checkpoint(pid_t pid);

#endif
