/*
 * helper/serve.h — serve mode: a session of the helper (helper.c forks it) that keeps
 * one command warm and runs it for clients, one at a time.
 *
 * Runs in that session's monitor process, in its event loop (monitor/session.h). The
 * helper hands each request over on the serve socket (HELPER_RUN with the client's
 * connection, cwd, 0, 1, 2); the session serves it from the deepest clean checkpoint —
 * one taken before anything touched the client's streams (streams.c) and before the
 * program itself wrote a byte anywhere, so the client still sees everything the command
 * prints — or starts the command. The client's
 * signals are passed on; the command's wait status goes back (HELPER_EXIT).
 */
#ifndef FORKMON_SERVE_H
#define FORKMON_SERVE_H

#include <stdint.h>
#include <sys/stat.h>
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
/* A subprocess of the run said hello (monitor/conn.c): what it does to the client's
 * streams is seen there (streams.c); only a strict call takes it as a taint. */
void serve_sub_seen(void);
/* A digest of the file at path if it is still the version st describes (a regular file
 * of at most SERVE_DIGEST_MAX bytes): 0, or -1. */
#define SERVE_DIGEST_MAX (256 * 1024)
int serve_digest(const char *path, const struct stat *st, uint64_t *out);
/* The first read of watched file `file`, as the hook saw it (m's identity, size, times):
 * its digest, if the file is still that version (else it has none, and any change of it
 * counts). */
struct fm_read;
void serve_digest_read(int file, const struct fm_read *m);
/* Of these changed files, keeps (in place, in order) those whose content changed: one
 * written again with the bytes it had at its read is not, and is known as it is now.
 * Returns how many are kept. */
int serve_keep_changed(int *files, int n);
/* These files' changes were taken in (run.c): what they are now is what is known. */
void serve_seen(const int *files, int n);
/* The run read file (monitor/conn.c): the last one becomes hot when the call ends
 * (serve_done). */
void serve_run_read(int file);
/* May the run, process pid, still be checkpointed for later clients? */
int serve_may_checkpoint(pid_t pid);

/* What a session publishes for `forkmon helper status` (helper/ctl.c): a page the
 * helper maps shared before it forks the session (helper/session.c); NULL outside one.
 * Written by the session only, read by the helper: plain ints, relaxed atomics. */
struct serve_stats {
	int grants_pending; /* checkpoints granted and not registered (yet) */
	int spare_pid;      /* the spare (spare.c), 0: none */
};
extern struct serve_stats *serve_stats;

/* ---- startck.c: the start checkpoint (taken by the hook's constructor) ---- */

/* A run is about to start: its start checkpoint is granted. */
void startck_grant(void);
/* That run ended, its exec failed, or it registered a later checkpoint: a grant it did
 * not take ends (the run's start is past). */
void startck_end(void);
/* How many start checkpoint grants wait for their registration (0 or 1). */
int startck_pending(void);
/* May start checkpoint k serve? 0 yes; -1 never again (a file it mapped changed). */
int startck_usable(int k);

/* ---- spare.c: the copy the next call will be, made before it comes ---- */

/* A spare of checkpoint k (K.v), unless one is there or k cannot make one. */
void spare_make(int k);
/* Checkpoint k said the pid of the spare it forked (FM_SPARE_PID; -errno: none). */
void spare_forked(int k, pid_t pid);
/* For a call served from checkpoint k: the spare's socket (the caller sends it the
 * RESUME, then closes it) and its pid in *pid; -1 when there is no spare of k (one of
 * another checkpoint is dropped). */
int spare_take(int k, pid_t *pid);
/* Ends the spare, if any. */
void spare_drop(void);
/* Process pid ended: 1 when it was the spare. */
int spare_reaped(pid_t pid);
/* The checkpoint the spare is (to be) a copy of, or -1. */
int spare_of(void);
/* Drops the spare if its checkpoint is gone (monitor/ckpt.c, after each drop). */
void spare_check(void);
/* The spare's pid into out (for the processes a kill or a signal leaves alone): 0 or 1. */
int spare_pids(pid_t *out, int max);

/* ---- streams.c: the client's streams during its call ---- */

/* The call with these streams (the client's 0, 1, 2) starts: watch them. */
void streams_begin(const int *std);
/* Were they read (stdin) or written (stdout, stderr) by anyone, or a terminal's modes
 * changed, since? Also 1 once the call has ended. */
int streams_touched(void);
/* Could they not all be watched? Then the strict rule holds (serve.c). */
int streams_strict(void);
/* The call ended: its watches and descriptors go. */
void streams_end(void);

#endif
