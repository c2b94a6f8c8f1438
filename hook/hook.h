/*
 * hook/hook.h — the hook's private contract: its one state, its lock, and what its files
 * call of each other. Runs inside the user's program (forkmonhook.so); nothing here is
 * exported (the .so is built with -fvisibility=hidden and hook/exports.map; the pragma
 * below also lets the compiler call these directly, without the PLT or the GOT).
 *
 * The files, in the order an open() meets them:
 *   interpose.c  the interposers, generated from interposers.def
 *   decide.c     before and after each open: candidate? ask or tell the monitor? checkpoint?
 *   own.c        the program's own changes (writes, renames, removals): said before
 *   look.c       what the program looked at (stat, access) or listed (opendir): said after
 *   candidate.c  which opens may be of a watched file (flags, the hints, absolute paths)
 *   cache.c      the per-path answer cache
 *   conn.c       the connection to the monitor (HELLO, notes), over common/peer.h
 *   ckpt.c       taking a checkpoint (is it wanted, is it safe, the fork)
 *   spacing.c    the spacing rule (pure)
 *   offsets.c    the file offsets a resumed run gets back
 *   resume.c     the suspended checkpoint and the run it becomes
 *   real.c       the real functions, resolved with dlsym, and raw system calls
 *   state.c      hk, the lock, the one-line message
 *   start.c      the constructor and bare mode (the monitor started from here)
 *   clean.c      a helper session's clean checkpoints (stdin, terminal, randomness, fds)
 *
 * Rules for all of them: libc only; no allocation on the path of an open() (all state is
 * static); nothing unsafe after fork() (no lock held across our own forks but hk's); our
 * own file access through raw system calls (open() would come back into the hook).
 */
#ifndef FORKMON_HOOK_H
#define FORKMON_HOOK_H

#include "forkmon_proto.h"
#include "ring.h"
#include "spacing.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#pragma GCC visibility push(hidden)

/* ---- state.c: the one state, shared by every thread; hk_lock() guards it ----------- */

struct hook_state {
	int active;    /* a session exists (FORKMON_SOCKET known) */
	int dead;      /* the monitor is gone or refused us: stay out of the way */
	struct sockaddr_un addr;
	socklen_t addrlen;
	int fd;        /* connection to the monitor, -1 until needed */
	ino_t fd_ino;  /* to notice a program that closed or reused our descriptor */
	pid_t pid;     /* this process; a vfork child still sees its parent's */
	pid_t fd_pid;  /* the process that opened fd */
	int given_fd;  /* a connection RESUME brought, HELLO_OK waiting on it (conn_adopt), or -1 */
	pid_t given_pid; /* the process it was given to */
	ino_t given_ino; /* and its inode: the program may have closed or reused the number */
	int configured; /* cfg holds the monitor's HELLO_OK */
	struct fm_hello_ok cfg;
	struct ring ring; /* fd's ring (conn.c): ring.h NULL when none */
	pid_t ring_pid;   /* the process that said the HELLO it came with: only it writes */
	uint64_t ring_woken_head; /* ring_half_full()'s: the head when it last woke the monitor */
	struct spacing spacing; /* this run's checkpoints (hook/spacing.h) */
	/* ckpt.c, beside spacing: a run writes the pages it touches after each checkpoint
	 * once more (a copy-on-write fault, and a page the checkpoint keeps), so what every
	 * checkpoint writes lives together here */
	int64_t ckpt_asked_ns; /* when the read that may take a checkpoint began asking */
	int64_t ckpt_from_ns;  /* where the cost of the checkpoint being taken counts from */
	pid_t middle_pid;      /* the last intermediate process, as its child sees it */
	uint32_t ckpt_token;   /* the last FM_READ_TAKEN read's token (this process's) */
	/* cache.c, on the same page for the same reason (every watched read writes
	 * ckpt_asked_ns): what each newly reported path writes but its slot and its bytes */
	size_t cache_arena_used;
	unsigned cache_used;
	uint64_t cache_bits[128]; /* one bit per hash: clear, the path is not in the table */
	int noted_threads, noted_children;
	sigset_t saved_mask; /* the program's signal mask, restored in a resumed run */
	/* look.c: 1 for each byte a path that may match can end with (from the hints) */
	uint8_t look_last[256];
	/* look.c, for candidate_name_rejected: each hint's suffix length, and whether the
	 * last component alone decides nothing (a suffix empty or with a '/', or every
	 * path a candidate) */
	uint16_t hint_suflen[FM_MAX_HINTS];
	int names_undecided;
};
extern struct hook_state hk;

/*
 * The lock: a spin lock, no pthread mutex (a fork in another thread could leave one
 * held). Re-entrancy: a thread takes it only with hk_busy set, and everything that
 * takes it first checks hk_busy and, when set, steps aside (the call goes straight to
 * the real function, unreported). So a signal handler that opens a file while its own
 * thread is inside the hook (holding the lock or about to) never waits for itself; a
 * handler on another thread waits for a lock that is released. fork(): the fork
 * handlers (start.c) take the lock around the fork, so that the child's copy of the
 * state is whole, and release it in both; a fork from inside the hook (our own
 * checkpoints, a handler's fork) takes nothing, and the child starts unlocked.
 */
extern volatile int hk_lock_word;
/* Set while this thread is inside the hook: our own opens (stdio, dlsym) pass through. */
extern __thread int hk_busy;

static inline void hk_lock(void)
{
	while (__atomic_exchange_n(&hk_lock_word, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

static inline void hk_unlock(void)
{
	__atomic_store_n(&hk_lock_word, 0, __ATOMIC_RELEASE);
}

/* Enters the hook and takes the lock: 0 when this thread is in the hook already (a
 * signal handler's open, our own opens): then the caller does nothing of ours. */
static inline int hk_enter(void)
{
	if (hk_busy)
		return 0;
	hk_busy = 1;
	/* no reordering across: a handler must never find the lock ours and hk_busy clear */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	hk_lock();
	return 1;
}

static inline void hk_leave(void)
{
	hk_unlock();
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	hk_busy = 0;
}

int64_t hk_now_ns(void);
/* One line "forkmon: msg" straight to fd 2: stdio may be in any state. */
void hk_say(const char *msg);

/* ---- real.c ---------------------------------------------------------------------------- */

typedef int (*real_plain_fn)(const char *, int, ...);
typedef int (*real_at_fn)(int, const char *, int, ...);
typedef int (*real_plain_2_fn)(const char *, int);
typedef int (*real_at_2_fn)(int, const char *, int);
typedef FILE *(*real_fopen_fn)(const char *, const char *);
typedef FILE *(*real_freopen_fn)(const char *, const char *, FILE *);
typedef int (*real_creat_fn)(const char *, mode_t);
typedef int (*real_trunc_fn)(const char *, off_t);
typedef int (*real_rename_fn)(const char *, const char *);
typedef int (*real_renameat_fn)(int, const char *, int, const char *);
typedef int (*real_renameat2_fn)(int, const char *, int, const char *, unsigned int);
typedef int (*real_unlink_fn)(const char *);
typedef int (*real_unlinkat_fn)(int, const char *, int);
typedef int (*real_mkdir_fn)(const char *, mode_t);
typedef int (*real_mkdirat_fn)(int, const char *, mode_t);
/* The stat buffers differ by symbol (struct stat, stat64, statx): one layout each, the
 * caller's, passed through. */
typedef int (*real_stat_fn)(const char *, void *);
typedef int (*real_lstat_fn)(const char *, void *);
typedef int (*real_fstatat_fn)(int, const char *, void *, int);
typedef int (*real_statx_fn)(int, const char *, int, unsigned int, void *);
typedef int (*real_xstat_fn)(int, const char *, void *);
typedef int (*real_lxstat_fn)(int, const char *, void *);
typedef int (*real_fxstatat_fn)(int, int, const char *, void *, int);
typedef int (*real_access_fn)(const char *, int);
typedef int (*real_eaccess_fn)(const char *, int);
typedef int (*real_faccessat_fn)(int, const char *, int, int);
typedef void *(*real_opendir_fn)(const char *);
typedef void *(*real_fdopendir_fn)(int);
typedef int (*real_scandir_fn)(const char *, void *, void *, void *);
typedef int (*real_chdir_fn)(const char *);
typedef int (*real_fchdir_fn)(int);

/* the clean-checkpoint interposers (clean.c) */
struct iovec;
struct termios;
typedef ssize_t (*real_read_fn)(int, void *, size_t);
typedef ssize_t (*real_readv_fn)(int, const struct iovec *, int);
typedef ssize_t (*real_getrandom_fn)(void *, size_t, unsigned int);
typedef int (*real_getentropy_fn)(void *, size_t);
typedef int (*real_tcsetattr_fn)(int, int, const struct termios *);

/* The next definition of each interposed function (NULL until resolved). */
struct hook_real {
#define INTERPOSER(name, kind, largefile) real_##kind##_fn name;
#include "interposers.def"
#undef INTERPOSER
};
extern struct hook_real real;

void real_resolve(void);
/* open(2) for our own use: close-on-exec, never through the interposers. */
int real_raw_open(const char *path, int flags);
/* fd itself, or (fd being one of 0-2) a copy of it above 2 (close-on-exec: cloexec),
 * the original closed; -1 when there is none. */
int real_raw_high(int fd, int cloexec);

/* ---- decide.c: called by every interposer ---------------------------------------------- */

/* A cache verdict of the hook's own: the path was looked at (look.c), not yet read. */
#define HOOK_LOOKED 3
struct fm_read;
void decide_fill(struct fm_read *m, int type, const char *p, size_t n, uint32_t flags);
void decide_fill_stat(struct fm_read *m, const struct stat *st);

/* Before an open: 1 when it must fail with ENOENT instead (see decide.c). */
int decide_before(int dirfd, const char *path, int flags);
/* After it, with the descriptor it gave (or -1): reports a deferred read. */
void decide_after(int fd);

/* ---- own.c: the program's own changes ------------------------------------------------- */

/* Flags of an open that may change the file (then its close completes the change). */
static inline int own_open_flags(int flags)
{
	return ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC))) && !(flags & O_PATH);
}

/* Before a call that changes path (what: FM_OWN_OPEN or FM_OWN_CHANGE): tells the monitor,
 * and returns the change's id, or 0 when the path cannot matter (or nothing was said).
 * After the call, own_after(id, it worked). Both keep errno. */
uint32_t own_before_say(int dirfd, const char *path, uint32_t what);
/* Inline, so that nothing of ours runs before the hook is set up: a sanitizer's runtime
 * calls mkdir() from its own start-up, when an instrumented function of ours (its stack
 * frame checked against a shadow memory not yet mapped) would crash (make sanitize). */
__attribute__((no_sanitize_address)) static inline uint32_t own_before(int dirfd, const char *path,
								     uint32_t what)
{
	if (!hk.active || hk.dead || hk_busy || !path)
		return 0;
	return own_before_say(dirfd, path, what);
}
void own_done(uint32_t id, int ok);
static inline void own_after(uint32_t id, int ok)
{
	if (id)
		own_done(id, ok);
}

/* ---- look.c: what the program looked at ------------------------------------------------ */

/* glibc declares the paths nonnull; a program may pass NULL all the same (and get EFAULT):
 * the check must not be optimised away. */
static inline int look_nonnull(const char *p)
{
	__asm__("" : "+r"(p));
	return p != NULL;
}

/* May a look at path be said at all? The cheap part, inline (every stat asks): once the
 * hints are known, a path whose last byte no hint's suffix ends with is not looked at. */
static inline int look_may(const char *path)
{
	if (!hk.active || hk.dead || hk_busy || !look_nonnull(path))
		return 0;
	if (!hk.configured)
		return 1;
	size_t n = strlen(path);
	return n > 0 && hk.look_last[(unsigned char)path[n - 1]];
}
#define LOOK_MAY(path) look_may(path)
/* Directories are listed rarely: only the state is checked. */
#define LOOK_MAY_DIR(path) (hk.active && !hk.dead && !hk_busy && look_nonnull(path))
/* Fills hk.look_last from hk.cfg (conn.c, on HELLO_OK). */
void look_configure(void);
/* After a stat or access of path: a first look at a path that may match is said. */
void look_path(int dirfd, const char *path);
/* After a directory was opened for listing (path relative to dirfd; "." for the fd itself). */
void look_dir(int dirfd, const char *path);

/* ---- candidate.c ----------------------------------------------------------------------- */

/* The flags of a read-only open of a file (inline: every open asks). */
static inline int candidate_flags(int flags)
{
	return (flags & O_ACCMODE) == O_RDONLY && !(flags & (O_DIRECTORY | O_PATH | O_TRUNC));
}

/* The same for fopen's mode. */
static inline int candidate_fopen_mode(const char *mode)
{
	return mode && mode[0] == 'r' && !strchr(mode, '+');
}

/* The name checks' table (hk.hint_suflen, hk.names_undecided) from hk.cfg's hints. */
void candidate_configure(void);
int candidate_name_rejected(const char *rel); /* cannot match, by its name alone */
/* The same for rel of length len; its last component (and that one's length) in *last
 * and *lastn when it is not rejected. */
int candidate_name_rejected_n(const char *rel, size_t len, const char **last, size_t *lastn);
int candidate_hints_allow(const char *p, size_t n); /* absolute p may match a pattern */
int candidate_absolute(int dirfd, const char *path, char *out, size_t outlen);
/* The working directory changed (chdir, fchdir): the cached name is stale. */
void candidate_cwd_changed(void);
/* In a forked child: the cache's lock may have been another thread's. */
void candidate_cwd_reset_lock(void);
int candidate_pyc_source(char *p, int n);

/* ---- cache.c --------------------------------------------------------------------------- */

struct cache_slot {
	uint64_t hash;
	uint32_t off;
	uint16_t len;
	uint8_t used, verdict;
};
uint64_t cache_hash(const char *p, size_t n);
/* The entry of p, or an empty one (s->used == 0) for cache_put, which places it. */
struct cache_slot *cache_find(const char *p, size_t n, uint64_t h);
void cache_put(struct cache_slot *s, const char *p, size_t n, uint64_t h, int verdict);

/* ---- conn.c ---------------------------------------------------------------------------- */

/* A new connection to the monitor (close-on-exec, a high descriptor), or -1. */
int conn_open(void);
/* Makes sure this process has its own live connection hk.fd, introduced with HELLO
 * (hello_flags: FM_HELLO_*). 0, or -1 when the hook gave up. */
int conn_ready(uint32_t hello_flags);
/* The connection a RESUME brought this new run (FM_RESUME_CONN): conn_ready() takes it
 * and reads the HELLO_OK already on it, instead of connecting and asking. */
void conn_adopt(int fd);
/* May this process talk to the monitor now (then hk.fd is ready)? */
int conn_may_talk(void);
/* Sends the message m on hk.fd: 0, or -1 when the hook gave up. */
int conn_send(const void *m);
/* May this process tell the monitor something now (conn_tell)? Cheaper than
 * conn_may_talk() while the ring is in use: no system call. */
int conn_may_tell(void);
/* The page conn_may_tell's pid check keeps its answer on (start.c, at load). */
void conn_pid_word_init(void);
/* Says m (READ with FM_READ_NO_REPLY, READ_AGAIN: no answer) through the ring, or the
 * socket without one: 0, or -1 when the hook gave up. */
int conn_tell(const void *m);
/* The same through the ring only: 0, or -1 when it must go by the socket (no ring). */
int conn_tell_ring(const void *m);
void conn_note(int kind, int value);
/* Stays out of the way from now on. */
void conn_give_up(void);
/* Unmaps the ring (a checkpoint's: the run's ring is the run's, and a mapping of it would
 * pin its memory and show in the checkpoint's maps). */
void conn_drop_ring(void);

/* ---- ckpt.c ---------------------------------------------------------------------------- */

int ckpt_wanted(int64_t now, const char *path, int consume);
/* Could a watched read of any path get a checkpoint now? Changes nothing. */
int ckpt_may_want(int64_t now);
int ckpt_safe(void);
/* Takes a checkpoint registered under seq (a grant's, or FM_CKPT_TOKEN | the token of
 * an FM_READ_TAKEN read told before): 0 in the run that goes on, 1 in a run resumed
 * from it (later, after a change), -1 when none was taken. */
int ckpt_take(uint64_t seq);
/* The vfork child of a double fork (see ckpt.c): returns 1 in the grandchild, which
 * says its own pid (ckpt_say_pid) when child_says. */
int ckpt_middle(int ctl, int type, int child_says);
void ckpt_say_pid(int ctl, int type);
/* fork(), the child's parent being ours (see ckpt.c). */
pid_t ckpt_fork_sibling(void);

/* ---- offsets.c ------------------------------------------------------------------------- */

void offsets_save(int skip);
void offsets_restore(void);
/* fd was opened by the program for reading and writing: its offset is restored too. */
void offsets_note_rw(int fd);

/* ---- resume.c -------------------------------------------------------------------------- */

/* The checkpoint's life on its control socket ctl: returns only in a new run. */
void resume_wait(int ctl, int runfd);

/* ---- clean.c: a helper session's clean checkpoints (FM_CFG_SERVE) --------------------- */

/* Set (a plain store: any thread, any handler) when the run read fd 0, changed a
 * terminal's modes, or drew from the kernel's randomness. */
extern volatile sig_atomic_t clean_stdin, clean_tty, clean_random;
/* A draw from the kernel's randomness. One before the run's first checkpoint was
 * considered (clean_armed: its first watched read) is the interpreter's own start-up —
 * perl's and CPython's hash seeds — and counts for nothing: every copy shares it, as
 * it shares the start-up itself (see clean.c). */
extern volatile sig_atomic_t clean_armed;
static inline void clean_note_random(void)
{
	if (clean_armed)
		clean_random = 1;
}
/* Opening the kernel's random devices is drawing from them too. */
static inline void clean_note_open(const char *p)
{
	if (p && p[0] == '/' && p[1] == 'd' && !strncmp(p, "/dev/", 5) &&
	    (!strcmp(p + 5, "urandom") || !strcmp(p + 5, "random")))
		clean_note_random();
}
/* May a checkpoint of this run serve later clients? */
int clean_ok(void);
/* In a new checkpoint: fds 0-2 and their copies become /dev/null (remembered). */
void clean_checkpoint_fds(void);
/* In a run resumed for a client: its 0, 1, 2 (std) onto those copies too. */
void clean_client_fds(const int *std);
/* In a resumed run: the interpreter's own after-fork handlers (CPython's), if any. */
void clean_after_fork(void);

#pragma GCC visibility pop

#endif
