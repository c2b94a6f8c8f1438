/*
 * include/forkmon_proto.h — the one message vocabulary of forkmon.
 *
 * Spoken between the hook (inside every process of the user's program), the monitor
 * (forkmon's own process) and the helper front end. Every process talks to the monitor
 * over its own SOCK_SEQPACKET connection to one abstract UNIX socket (named in
 * FORKMON_SOCKET, peer uid checked by the monitor): one message per datagram, so a
 * message is never split or merged, and per connection messages arrive in order and
 * exactly once.
 *
 * Conversations:
 *   every process   HELLO → HELLO_OK       once per process image, before anything else
 *                                          (with the connection's ring: struct fm_ring)
 *                   RING_WAKE              records in the ring while the monitor slept
 *                   READ → READ_REPLY      first read of a candidate path, or a read that
 *                                          asks for a checkpoint; the monitor watches the
 *                                          file before it answers, so no change is missed
 *                   READ_AGAIN             a watched path read again (no answer)
 *                   NOTE                   something the user should hear about (no answer)
 *                   OWN, OWN_DONE          the process is about to change a path that may
 *                                          be watched (sent before the system call), and
 *                                          the call returned: the change is the session's
 *                                          own, not an edit (no answer)
 *   a checkpoint    CKPT_REGISTER, CKPT_PID  on its own connection, opened by the run just
 *                                          before it forks the checkpoint
 *                   ← RESUME               fork a new run from here (in helper mode with
 *                                          the client's descriptors and environment)
 *                   RESUMED                the new run's pid
 *   a helper client HELPER_RUN →           run argv in cwd with env (SCM_RIGHTS: the cwd,
 *                                          fds 0, 1, 2), to the helper, which hands the
 *                                          connection to the command's session
 *                   ← HELPER_STARTED       the command runs (from here on, only its
 *                                          status ends the call)
 *                   HELPER_SIGNAL →        a signal the client got, for the command
 *                   ← HELPER_EXIT          the command's wait status; or
 *                   ← HELPER_ERROR         cannot serve: the client runs the command itself
 *                                          (so it does on an end before HELPER_STARTED)
 *   helper control  HELPER_CTL →           status or stop (`forkmon helper status|stop`)
 *                   ← HELPER_TEXT          the status report; a stop ends with the
 *                                          connection, once the helper is gone
 *
 * Versioned: a HELLO of another version gets HELLO_OK with status FM_ERR_VERSION and the
 * hook stays out of the way; a helper request of another version gets HELPER_ERROR in the
 * helper's own version, on which the client restarts the helper (version 3: HELPER_RUN
 * carries the client's pid; HELPER_STARTED, HELPER_CTL, HELPER_TEXT; version 4: HELLO_OK
 * lists the hot paths; version 5: HELLO_OK brings a ring, below). All integers are host
 * order (one machine).
 */
#ifndef FORKMON_PROTO_H
#define FORKMON_PROTO_H

#include <stdint.h>

#define FM_MAGIC 0x464bu /* "FK" */
#define FM_VERSION 9
#define FM_PATH_MAX 4096
#define FM_MAX_HINTS 16
#define FM_HINT_LEN 64
#define FM_MAX_HOT 128

enum fm_type {
	FM_HELLO = 1,
	FM_HELLO_OK,
	FM_READ,
	FM_READ_REPLY,
	FM_READ_AGAIN,
	FM_NOTE,
	FM_CKPT_REGISTER,
	FM_CKPT_PID,
	FM_RESUME,
	FM_RESUMED,
	FM_HELPER_RUN,
	FM_HELPER_SIGNAL,
	FM_HELPER_EXIT,
	FM_HELPER_ERROR,
	FM_OWN,
	FM_OWN_DONE,
	FM_HELPER_STARTED,
	FM_HELPER_CTL,
	FM_HELPER_TEXT,
	FM_RING_WAKE, /* the ring has records, and the monitor slept (no body, no answer) */
	FM_SPARE_PID, /* a checkpoint forked a spare (FM_RESUME_SPARE): its pid, or -errno */
};

/* The largest message: a helper request or a resume with a client's environment. */
#define FM_MSG_MAX (256 * 1024)

/* A HELPER_RUN holds at most so many arguments and environment strings (the hook's copy
 * of a client's environment has room for FM_HELPER_MAX_ENV), all within FM_MSG_MAX - 1
 * bytes: a larger request is refused, and the client runs the command itself. */
#define FM_HELPER_MAX_ARGS 4096
#define FM_HELPER_MAX_ENV 4095

struct fm_header {
	uint16_t magic;
	uint8_t version;
	uint8_t type;
	uint32_t len; /* whole datagram, header included */
};

/* HELLO flags */
#define FM_HELLO_RESUMED 1u /* a run just forked from a checkpoint */

struct fm_hello {
	struct fm_header h; /* the sender's pid: SO_PEERCRED */
	uint32_t flags;
	uint32_t pad;
	/* Never read: HELLO keeps version 1's size, because a version-1 monitor ignores a
	 * shorter HELLO without answering (its hook would wait forever) and answers one of
	 * its own size with FM_ERR_VERSION. */
	uint8_t v1_size[16];
};

enum fm_role { FM_ROLE_SUB = 0, FM_ROLE_RUN = 1 };
enum fm_status { FM_OK = 0, FM_ERR_VERSION = 1 };

/* HELLO_OK flags */
#define FM_CFG_ALL_CANDIDATES 1u /* some pattern has no literal hint: ask about every path */
#define FM_CFG_EVERY 2u          /* checkpoint at every watched read */
#define FM_CFG_ASK 4u            /* ask about every new path (more files changed than
				    HELLO_OK's hot list holds: the monitor may grant
				    checkpoints unasked) */
#define FM_CFG_REREADS 8u        /* report reads of paths already reported (READ_AGAIN):
				    the events file lists every read */
#define FM_CFG_SERVE 16u         /* a helper session: checkpoints serve later clients, so
				    they hold none of this run's client descriptors and are
				    taken only while the run is clean (hook/clean.c) */
#define FM_CFG_RING 32u          /* SCM_RIGHTS carry the connection's ring (a memfd of
				    FM_RING_BYTES) and its eventfd: see struct fm_ring */
#define FM_CFG_UNASKED 64u       /* a checkpoint the run wants is taken without waiting
				    for a grant (FM_READ_TAKEN): nothing the monitor
				    records at a grant moves meanwhile (no stdin fed) */

/* What a path must look like to match a filter: start with prefix, end with suffix,
 * and hold need somewhere ("" each: no such condition). */
struct fm_hint {
	char prefix[FM_HINT_LEN];
	char suffix[FM_HINT_LEN];
	char need[FM_HINT_LEN];
};

struct fm_hello_ok {
	struct fm_header h;
	int32_t status;
	int32_t role;
	uint32_t flags;
	uint32_t nhints;
	uint32_t free_checkpoints; /* the first read and the project's first reads, up to so
				      many in all, get one regardless of cost; then ... */
	uint32_t gap_factor;       /* ... one after this many times the last checkpoint's
				      cost (the fork alone in serve mode: hook/spacing.h) */
	int64_t min_gap_ns;        /* ... and at least this much work since the last one */
	uint32_t max_checkpoints;
	uint32_t pad;
	char project[1024]; /* the session's directory: its first files read get the free checkpoints */
	struct fm_hint hints[FM_MAX_HINTS];
	/* The paths of files that changed before (fm_path_hash of each name): a read of one
	 * asks, since the monitor grants it a checkpoint unasked; any other read is only told,
	 * and never waits (unless it wants a checkpoint itself). */
	uint32_t nhot;
	uint32_t pad2;
	uint64_t hot[FM_MAX_HOT];
	/* The last components of the same names, two bits each (fm_name_bits): a candidate
	 * whose last component lacks one of its two is in no hot list, and the hook needs
	 * neither its absolute path nor its hash before the program's open (hook/decide.c).
	 * One bit each let one name in 128 through: "init.lua" shared one with m1.lua, and
	 * a resumed Lua run took every module's three init.lua tries the long way. */
	uint64_t hot_names[4];
};

/* The hash that names a path in HELLO_OK's hot list (never 0). Eight bytes at a time:
 * the hook hashes every candidate name (Lua tries 8 per module), and a byte at a time
 * (FNV-1a, version 4) was ~70 ns of the program's time for each. */
static inline uint64_t fm_path_hash(const char *p, unsigned long n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
	unsigned long i = 0;
	for (; i + 8 <= n; i += 8) {
		__builtin_memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	w = 0;
	for (unsigned k = 0; i < n; i++, k += 8)
		w |= (uint64_t)(unsigned char)p[i] << k;
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 32;
	return h | 1;
}

/* The two bits of HELLO_OK's hot_names for a last component name of n bytes. */
static inline void fm_name_bits(const char *name, unsigned long n, unsigned *a, unsigned *b)
{
	uint64_t h = fm_path_hash(name, n);
	*a = (unsigned)(h >> 56);
	*b = (unsigned)(h >> 48) & 255u;
}

static inline void fm_name_set(uint64_t *bits, const char *name, unsigned long n)
{
	unsigned a, b;
	fm_name_bits(name, n, &a, &b);
	bits[a / 64] |= 1ull << (a % 64);
	bits[b / 64] |= 1ull << (b % 64);
}

static inline int fm_name_in(const uint64_t *bits, const char *name, unsigned long n)
{
	unsigned a, b;
	fm_name_bits(name, n, &a, &b);
	return (int)((bits[a / 64] >> (a % 64)) & (bits[b / 64] >> (b % 64)) & 1);
}

/* READ flags */
#define FM_READ_WANT_CKPT 1u /* the run would take a checkpoint before this read */
#define FM_READ_NO_REPLY 2u  /* said, not asked: the program reads on at once; the
				 monitor compares the file with what the hook saw (below)
				 once its watch is in place, and a difference is a change */
/* A look, not a read (always with NO_REPLY, never a checkpoint): the program stat()ed or
 * access()ed the path (LOOK), found nothing there (LOOK|ABSENT: its creation is a
 * change), or listed the directory (DIR: a new or removed entry that matches is a
 * change). A file the session also reads counts from its first read, not its look. */
#define FM_READ_LOOK 4u
#define FM_READ_ABSENT 8u
#define FM_READ_DIR 16u
/* With NO_REPLY: the run takes a checkpoint before this read without asking (HELLO_OK's
 * FM_CFG_UNASKED), registered under the token in pad (FM_CKPT_REGISTER's seq), which the
 * monitor matches to this read's seq; a checkpoint it does not grant is closed. */
#define FM_READ_TAKEN 32u

struct fm_read {
	struct fm_header h;
	uint32_t flags;
	uint32_t pad;
	/* READ: the file as the hook's stat() saw it, just before the program opens it (read
	 * by the monitor with FM_READ_NO_REPLY); READ_AGAIN: zero (only the path counts) */
	uint64_t dev, ino;
	int64_t size, mtime_ns, ctime_ns;
	char path[FM_PATH_MAX]; /* absolute, lexically normalised; only used bytes are sent */
};

/*
 * The ring of a connection: what the process says without waiting for an answer (READ
 * with FM_READ_NO_REPLY, READ_AGAIN, OWN, OWN_DONE, NOTE), appended to shared memory
 * without a system call; only asks (READ waiting for its READ_REPLY), HELLO and RING_WAKE
 * use the socket, and nothing is said after an ask before its answer, so the monitor
 * hears everything in the order it was said.
 * Made by the monitor for each HELLO; written only by the process that said that HELLO
 * (its children of a fork, its checkpoints and their copies inherit the mapping, never
 * write it: each says HELLO on a connection of its own). The monitor reads the ring
 * before each message of the connection's socket and at its end, so the order of what
 * was said is kept; and whenever it is awake (it looks at every ring before it sleeps).
 * Records are whole messages (header first), each at an offset that is a multiple of 8;
 * one that would cross the end is preceded by a header of type 0 (FM_RING_WRAP), and
 * starts again at 0. Full: the writer waits for room (as on a full socket). A monitor
 * about to sleep sets sleeping; the writer that finds it set clears it and sends
 * RING_WAKE on the socket (read, as any message, after the ring).
 */
#define FM_RING_BYTES (256u * 1024u) /* the data, after the header page */
#define FM_RING_DATA 4096u            /* offset of the data in the memfd */
#define FM_RING_WRAP 0

struct fm_ring {
	uint64_t head;     /* bytes read so far (the monitor) */
	uint8_t pad1[56];  /* head and tail on lines of their own */
	uint64_t tail;     /* bytes written so far (the process) */
	uint8_t pad2[56];
	uint32_t sleeping; /* the monitor sleeps: the writer clears it and writes the eventfd */
	uint32_t closed;   /* the monitor reads no more (the connection ended): use the socket */
};

enum fm_verdict { FM_IGNORED = 0, FM_WATCHED = 1, FM_NOT_NOW = 2 /* ask again later */ };

struct fm_read_reply {
	struct fm_header h;
	int32_t verdict;
	int32_t grant; /* 1: take a checkpoint now, registered under seq */
	uint64_t seq;
};

enum fm_note_kind {
	FM_NOTE_THREADS = 1, /* value: number of threads; no checkpoint taken */
	FM_NOTE_CHILDREN,    /* the run has child processes; no checkpoint taken */
	FM_NOTE_FORK_FAILED, /* value: errno */
};

struct fm_note {
	struct fm_header h;
	int32_t kind;
	int32_t value;
};

/* OWN: the process is about to change path (what: FM_OWN_OPEN, opened for writing: done
 * at its last close; FM_OWN_CHANGE: renamed, removed, truncated: done when the call
 * returns). OWN_DONE (path ""): the call with this id returned (what: 1 if it worked). */
#define FM_OWN_OPEN 1u
#define FM_OWN_CHANGE 2u

struct fm_own {
	struct fm_header h;
	uint32_t id; /* per process: OWN_DONE names the OWN it ends */
	uint32_t what;
	char path[FM_PATH_MAX]; /* OWN: absolute, lexically normalised; only used bytes sent */
};

struct fm_ckpt_register {
	struct fm_header h; /* the run's pid: SO_PEERCRED */
	uint64_t seq;       /* its grant's (READ_REPLY), or FM_CKPT_TOKEN | the token of the
			       FM_READ_TAKEN read told before it (its pad) */
};
#define FM_CKPT_TOKEN (1ull << 63)

struct fm_pid {
	struct fm_header h; /* FM_CKPT_PID, FM_RESUMED or FM_SPARE_PID */
	int32_t pid;
	int32_t pad;
};

/* RESUME flags */
#define FM_RESUME_CLIENT 1u /* SCM_RIGHTS carry cwd, 0, 1, 2; data holds envc "K=V" strings */
#define FM_RESUME_STDIN 2u  /* SCM_RIGHTS carry the new run's fd 0 (forkmon run's stdin, fed
			       by the monitor from where the checkpoint stood) */
#define FM_RESUME_CONN 4u   /* the last descriptor SCM_RIGHTS carry is the new run's
			       connection to the session, the monitor's HELLO_OK already on it:
			       the run reads it instead of connecting and asking (a round trip
			       through the monitor, ~0.1 ms, off the path of every save) */
#define FM_RESUME_SPARE 8u  /* a helper session's spare: the one descriptor is its own
			       socket; the copy makes the pages it shares with the checkpoint
			       its own, then waits there for the RESUME of its call (helper/spare.c) */

struct fm_resume {
	struct fm_header h;
	int32_t monitor_pid;
	int32_t job_pgid;
	uint32_t flags;
	uint32_t envc;
	char data[]; /* with FM_RESUME_CLIENT */
};

struct fm_helper_run {
	struct fm_header h;
	uint32_t argc, envc;
	int32_t pid; /* the client's, for the helper's log */
	uint32_t pad;
	char data[]; /* argc then envc NUL-terminated strings */
};

struct fm_helper_signal {
	struct fm_header h;
	int32_t signo;
	int32_t pad;
};

struct fm_helper_exit {
	struct fm_header h;
	int32_t status; /* as from waitpid() */
	int32_t pad;
};

/* HELPER_STARTED: struct fm_pid (the command's pid, or 0 for a copy resumed). */

enum fm_helper_op { FM_CTL_STATUS = 1, FM_CTL_STOP = 2 };

struct fm_helper_ctl {
	struct fm_header h;
	int32_t op;
	int32_t pad;
};

struct fm_helper_text {
	struct fm_header h;
	char text[]; /* NUL-terminated */
};

struct fm_helper_error {
	struct fm_header h;
	char message[256];
};

static inline void fm_init(struct fm_header *h, enum fm_type type, uint32_t len)
{
	h->magic = FM_MAGIC;
	h->version = FM_VERSION;
	h->type = (uint8_t)type;
	h->len = len;
}

#endif
