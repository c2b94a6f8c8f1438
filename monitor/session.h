/*
 * monitor/session.h — inside one forkmon session: its state, in the parts each file of
 * the monitor owns, and the calls between those files. Private to the monitor's files
 * and helper/serve.c (the session's serve mode); monitor.h is the contract for the rest.
 *
 *   monitor.c   S: set-up, the event loop, signals     conn.c   C: connections, messages
 *   ckpt.c      K: the checkpoint table                files.c  F: watched files
 *   spawn.c     the environment, starting the command  run.c    R: the run, replacing it
 *   end.c       the end of the session                 serve.c  helper mode's requests
 *
 * Priorities in the loop keep one order in every turn: what processes said comes before
 * what happened to them (connections, then the watcher, then signals, then the timer).
 */
#ifndef FORKMON_SESSION_H
#define FORKMON_SESSION_H

#include "forkmon_proto.h"
#include "loop.h"
#include "monitor.h"
#include "proc.h"
#include "replace.h"
#include "ring.h"
#include "strmap.h"

#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct loop;
struct policy;
struct debounce;

enum { PRIO_ACCEPT = -1, PRIO_CONN = 0, PRIO_OUT = 1, PRIO_WATCHER = 2, PRIO_SIGNAL = 3, PRIO_TIMER = 4,
       PRIO_SERVE = 5 };

/* ---- monitor.c: what is set up once ---------------------------------------------------- */
struct mon_session {
	struct monitor_opts *o;
	struct loop *loop;
	int timer;
	pid_t self, pgid;
	sigset_t orig_mask;
	struct sigaction orig_int, orig_quit;
	char sockname[108];
	int lfd, wfd;
	struct fm_hello_ok cfg; /* what every HELLO is answered with */
	struct policy *pol;
	struct debounce *deb;
	struct replace rep;
	int spin;  /* a processor to spare: poll a while after an unanswered read */
	int dirty; /* a callback ran this turn: the after-turn work has something to do */
};
extern struct mon_session S;

/* After a read its sender does not wait for, the loop polls this long before it sleeps. */
#define SPIN_NS 200000ll
/* After a read told through a ring: the rings are looked at every RING_NAP_NS for
 * RING_NAPS_NS before the monitor sleeps (and a writer must wake it). Seldom: each look
 * is a wake-up that takes the processor from the program when both share one (a copy
 * reading 1000 modules was switched out 30-60 times with 0.5 ms, 5-16 with 4 ms), and
 * nothing waits for what the ring holds: a change's event, a question, an exit read it
 * first. A writer that finds half the ring unread wakes the monitor at once. */
#define RING_NAP_NS 4000000ll
#define RING_NAPS_NS 12000000ll

/* ---- conn.c: connections and their messages --------------------------------------------- */
enum conn_kind { CONN_PROC, CONN_CKPT };

struct conn {
	int fd;
	pid_t pid; /* from SO_PEERCRED: the process that connected */
	enum conn_kind kind;
	int ckpt; /* CONN_CKPT: index in K.v */
	int role;
	struct ring ring; /* what it says without waiting (ring.h); ring.h NULL: none */
	int resumed_from; /* a new run's connection made by RESUME (pid 0 until its
			     checkpoint says it): that checkpoint's index in K.v, else -1 */
};

struct conn_table {
	struct conn **v;
	int n;
	int early, late; /* this turn's look for unregistered checkpoints is done */
};
extern struct conn_table C;

void conn_listen(void);
void conn_close(int i);
/* Like conn_close, but the descriptor stays open: returned, for the caller to close. */
int conn_forget(int i);
/* Checkpoint k is gone: a new run still waiting for its pid from it will not hear it. */
void conn_ckpt_gone(int k);
void conn_send(int i, const void *m);
/* Reads what connection i has to say, up to now. */
void conn_read(int i);
/* A granted checkpoint registers before what its run said after the grant: accept now,
 * once after the turn's connections (before the watcher, signals, the timer). */
void conn_accept_late(void);
/* Reads what every connection has to say, up to now, and the registrations of the
 * checkpoints granted by it. */
void conn_read_all(void);
/* The events file's "watch" record of file read (or looked at) at seq by pid. */
void conn_event_watch(int file, uint64_t seq, pid_t pid);
void conn_turn_end(void);
/* The session's end of the connection a RESUME of checkpoint ck hands to the new run:
 * added, and HELLO_OK sent on it, as if the run had connected and said HELLO. Its
 * index, or -1. */
int conn_add_resumed(int fd, int ck, pid_t pid);
/* Connection i (conn_add_resumed's) is that of a run of checkpoint ck, or of process pid
 * when known (a spare's). */
void conn_resumed_by(int i, int ck, pid_t pid);
/* The connection spawn_run() gave the run pid (spawn_conn_take): HELLO_OK on it now. */
void conn_add_given(int fd, pid_t pid);
/* rings.c: a new connection's ring, mapped into *r: the memfd for HELLO_OK (the caller
 * closes it), or -1 (then none). conn_ring_free: closed for the writer, unmapped. */
int conn_ring_make(struct ring *r);
void conn_ring_free(struct ring *r);

/* ---- ckpt.c: the checkpoint table --------------------------------------------------------- */
enum ckpt_state { CK_FREE, CK_PENDING, CK_READY };

struct ckpt {
	enum ckpt_state state;
	int conn;  /* index in C.v, -1 until registered */
	pid_t pid; /* 0 until known */
	uint64_t seq;
	int file;
	int64_t work_ns; /* the program's work before it: what resuming from it saves */
	uint64_t stdin_off; /* how much of the session's stdin it had consumed (feed.c) */
	unsigned resumes;   /* how many runs came of it (forkmon run: which one gets the spare) */
	uint32_t token;     /* granted to an FM_READ_TAKEN read: its token, and its process */
	pid_t token_pid;
};

struct ckpt_table {
	struct ckpt *v;
	int n;
};
extern struct ckpt_table K;

int ckpt_new(uint64_t seq, int file);
void ckpt_drop(int i);
void ckpt_drop_all(void);
/* The processes of the checkpoints a rollback dropped hear of it now (see ckpt.c), or
 * at ckpt_end_dropped_at() at the latest (-1: none waits). */
void ckpt_end_dropped(void);
int64_t ckpt_end_dropped_at(void);
#define CKPT_END_LATER_NS 100000000ll
/* Throws the history after seq away (restart: all of it): the policy forgets it, and
 * every checkpoint and grant of it ends. */
void ckpt_rollback(uint64_t seq, int restart);
int ckpt_unregistered(void);
int ckpt_pids(pid_t *out, int max);
/* The registered checkpoint with the largest seq, or -1. */
int ckpt_deepest(void);
/* Checkpoint i ended on its own (connection closed, reaped). */
void ckpt_lost(int i);

/* ---- files.c: watched files --------------------------------------------------------------- */
struct wfile {
	char *named; /* the name the program used first (absolute, normalised) */
	char *real;  /* the file itself, symlinks resolved */
	int polled;  /* its directory could not be watched: stat()ed every FILES_POLL_NS */
	int hot;     /* it changed once: likely to change again, so its reads get checkpoints */
	struct stat seen;
	int gone;
	/* helper mode: a digest of its content as read (helper/serve.c), when it had one;
	 * looked: stat()ed by name too (looks.c), so its times were seen, not only its bytes */
	int digested, looked;
	uint64_t digest;
};

struct file_table {
	struct wfile *v;
	int n, cap;
	struct strmap names, keys, dirs;
	/* directories whose name was found to be their real path (files_real): index into
	 * canon_id, the directory's identity then */
	struct strmap canon;
	struct canon_id {
		dev_t dev;
		ino_t ino;
	} *canon_id;
	int ncanon, canon_cap;
	/* files_for's stat of the file it returned, made with its directory watched already:
	 * files_changed_since takes it for its own (fresh_id -1: none) */
	int fresh_id;
	struct stat fresh_st;
	int npolled;
	int64_t next_poll;
	int any_hot;
	int watch_limit_noted;
	int no_watcher; /* no inotify instance: every file is polled */
};
extern struct file_table F;

#define FILES_POLL_NS 250000000ll

/* watcher_start() failed with err: say why, once, and poll every file from now on. */
void files_without_watcher(int err);
/* The file a watched name stands for, made and watched on first sight; -1: not watched. */
int files_for(const char *named, int *verdict);
const char *files_name(int id);
int files_wanted(const char *named, const char *real);
/* A file watched through its directory (real path real), from now on; its id or -1. */
int files_add(const char *named, const char *real, const struct stat *st);
void files_dir_of(const char *path, char *out, size_t len);
/* While set, files_add() prints no "watch" line (a missing path, a listed directory). */
void files_set_quiet(int quiet);
/* Watches directory dir if it is one: 0, or -1. */
int files_watch_if_there(const char *dir);
/* Does the file differ from what the hook saw before the program read it? */
int files_changed_since(int file, const struct fm_read *m);
void files_mark_hot(const int *ids, int n);
/* Is file's directory watched (not polled, no symlink in its name): then every change of
 * it from now on is an event, and a read told needs no comparison (files_changed_since). */
int files_watched_since(int file);
/* Watched files a rollback to seq (restart: all) forgets that are missing now (ids into
 * *out, malloc'd); the rollback keeps them read at its point: their return is a change. */
int files_missing_after(uint64_t seq, int restart, int **out);
/* missing.c: is watched file i missing now? One call of missing_now() per file after
 * missing_begin(): a directory unchanged since it was last looked at costs one stat(). */
void missing_begin(void);
int missing_now(int i);
/* Takes in the watcher's records (into the debounce). */
void files_take_records(void);
void files_on_watcher(struct loop *l, int fd, unsigned events, void *arg);
/* The polling fallback: when next, and the poll itself. */
int64_t files_poll_at(void);
void files_poll(int64_t now);

/* ---- own.c: the session's own changes are no edit ----------------------------------------- */
void own_on_begin(int conn, const struct fm_own *m);
void own_on_done(int conn, const struct fm_own *m);
void own_conn_gone(int conn);
/* An event (mask) on path (as events name it): 1 when it is the session's own change. */
int own_event(const char *path, uint32_t mask);
/* The file at key is as the session left it, or being changed by it now. */
int own_covers(const char *key);
/* file differs from what a hook saw before its read or look: a change, unless the
 * session made it (judged by own_flush(), after every connection is read). */
void own_defer_change(int file);
void own_flush(void);

/* ---- looks.c: what the program looked at, listed, found missing ---------------------------- */
void looks_on_read(int conn, const struct fm_read *m);
/* An event on an entry that is no watched file. */
void looks_on_entry(const char *path, uint32_t mask, int64_t now);
/* files (n) without the listed directories whose entries are as listed, into out: how many. */
int looks_keep(const int *files, int n, int *out);
/* How many watched files are a missing name or a listed directory: the program read
 * nothing there, so they alone are no reason to wait (python3 missing.py ends). */
int looks_only(void);

/* ---- spawn.c: the environment, starting the command ---------------------------------------- */
void spawn_init(void);
char **spawn_env(void);
/* Appends to env (k entries, room for SPAWN_UNBUFFERED_MAX more and a NULL) the switches
 * that make interpreters print unbuffered (PYTHONUNBUFFERED, PERL5OPT), those env does
 * not set already (nor PERLIO, for Perl); returns the new count. */
#define SPAWN_UNBUFFERED_MAX 2
size_t spawn_add_unbuffered(char **env, size_t k);
/* Starts the command from the beginning: fds (cwd, 0, 1, 2; NULL: ours), env (NULL: the
 * session's). Returns its pid, or -errno. */
pid_t spawn_run(const int *fds, char **env);
/* The monitor's end of the connection the run spawn_run() just started was given
 * (FORKMON_CONN), for conn_add_given(), or -1. */
int spawn_conn_take(void);
void spawn_error(int err);

/* ---- feed.c: the session's stdin, the same for every copy -------------------------------- */
void feed_init(void);
/* A new run's stdin, fed from byte off (its read end), or -1: the run gets ours. */
int feed_pipe(uint64_t off);
uint64_t feed_consumed(void);
int feed_active(void);

/* ---- run.c: the run, and replacing it -------------------------------------------------------- */
struct run_state {
	pid_t pid;
	int64_t started;
	int64_t lineage_start; /* when the run would have started, had it not resumed */
	struct {
		unsigned copies, resumes, restarts;
		int64_t saved_ns;
	} stats;
	struct {
		pid_t pid;
		int status;
	} unclaimed[32]; /* ended while resuming, before we knew the new run's pid */
	int nunclaimed;
	struct proc_set victims;
	/* forkmon run: the checkpoint last resumed, of which a spare (helper/spare.c) is
	 * made once the copy had RUN_SPARE_AFTER_NS to itself: the next save of the same
	 * file resumes a process forked and made its own before it. -1: none. */
	int spare_ck;
	uint64_t spare_seq;
	int64_t spare_at; /* 0: no spare to make */
};
#define RUN_SPARE_AFTER_NS 50000000ll
extern struct run_state R;

void run_init(void);
/* The new run's pid is known. */
void run_set(pid_t pid);
/* A run started from a checkpoint / from the beginning (counts it). */
void run_resumed(int ckpt);
void run_started(pid_t pid);
/* The run and everything it started: the monitor's descendants but the checkpoints. */
int run_find_victims(void);
void run_reap(void);
void run_on_timer(struct loop *l, void *arg);
int64_t run_timer_at(void);

/* ---- end.c --------------------------------------------------------------------------------- */
__attribute__((noreturn)) void end_session(int sig, int status);

#endif
