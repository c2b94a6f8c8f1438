/*
 * hook/hook.c — forkmonhook.so, preloaded into the user's program.
 *
 * This code runs inside other people's programs, so it obeys three rules:
 *   - libc only, and no allocation on the path of an open(): all state is static;
 *   - nothing that is unsafe after fork(): no locks held across our own forks but the
 *     one we own, raw system calls for our own file access;
 *   - export only the functions it interposes (hook/exports.map).
 *
 * Just before a read-only open of an existing regular file whose absolute path may
 * match the filters, the hook asks the monitor (forkmon's own process) whether the
 * path is watched. The monitor adds the watch before it answers, and may grant the
 * run (the main copy of the program) a checkpoint: the hook then forks a suspended
 * copy of the process, blocked on its own connection to the monitor. When a watched
 * file changes, the monitor tells that checkpoint to RESUME: it forks a new run, which
 * returns from the very open() the checkpoint was taken in and reads the new file.
 *
 * A read that wants no checkpoint (most of them: checkpoints are spaced by their cost)
 * is not waited for: it is reported right after the program's open, with what was
 * opened, and a name that does not exist costs nothing of ours.
 *
 * Everything heavy (Lua patterns, inotify, policy) lives in the monitor. The hook only
 * rejects locally what cannot match (literal prefixes and suffixes of the patterns,
 * handed over in HELLO_OK) and remembers its answers per path.
 *
 * Bare mode: when FORKMON_SOCKET is not set, the constructor starts a session itself:
 * it forks, the original process execs the monitor (so the shell keeps waiting on the
 * monitor) and the child continues as the program.
 */
#include "fdpass.h"
#include "forkmon_proto.h"
#include "path.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

extern char **environ;

/* ---- the real functions ------------------------------------------------------ */

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open2_fn)(const char *, int);
typedef int (*openat2_fn)(int, const char *, int);
typedef FILE *(*fopen_fn)(const char *, const char *);
typedef FILE *(*freopen_fn)(const char *, const char *, FILE *);

static struct {
	open_fn open, open64;
	openat_fn openat, openat64;
	open2_fn open_2, open64_2;
	openat2_fn openat_2, openat64_2;
	fopen_fn fopen, fopen64;
	freopen_fn freopen, freopen64;
} real;

static void hook_resolve(void)
{
	real.open = (open_fn)dlsym(RTLD_NEXT, "open");
	real.open64 = (open_fn)dlsym(RTLD_NEXT, "open64");
	real.openat = (openat_fn)dlsym(RTLD_NEXT, "openat");
	real.openat64 = (openat_fn)dlsym(RTLD_NEXT, "openat64");
	real.open_2 = (open2_fn)dlsym(RTLD_NEXT, "__open_2");
	real.open64_2 = (open2_fn)dlsym(RTLD_NEXT, "__open64_2");
	real.openat_2 = (openat2_fn)dlsym(RTLD_NEXT, "__openat_2");
	real.openat64_2 = (openat2_fn)dlsym(RTLD_NEXT, "__openat64_2");
	real.fopen = (fopen_fn)dlsym(RTLD_NEXT, "fopen");
	real.fopen64 = (fopen_fn)dlsym(RTLD_NEXT, "fopen64");
	real.freopen = (freopen_fn)dlsym(RTLD_NEXT, "freopen");
	real.freopen64 = (freopen_fn)dlsym(RTLD_NEXT, "freopen64");
}

/* Our own file access goes through raw system calls: calling open() here would come
 * back into the interposer. */
static int raw_open(const char *p, int flags)
{
	return (int)syscall(SYS_openat, AT_FDCWD, p, flags | O_CLOEXEC, 0);
}

/* ---- state ------------------------------------------------------------------- */

enum { CONN_FD_MIN = 900 }; /* keep our sockets out of the way of the program's fds */

static struct {
	int active;    /* a session exists (FORKMON_SOCKET known) */
	int dead;      /* the monitor is gone or refused us: stay out of the way */
	struct sockaddr_un addr;
	socklen_t addrlen;
	int fd;        /* connection to the monitor, -1 until needed */
	ino_t fd_ino;  /* to notice a program that closed or reused our descriptor */
	pid_t pid;     /* this process; a vfork child still sees its parent's */
	pid_t fd_pid;  /* the process that opened fd */
	int configured;
	struct fm_hello_ok cfg;
	/* checkpoints */
	int ckpt_count;
	int free_used; /* checkpoints taken in the project's files without regard to cost */
	int64_t last_ckpt_end_ns;
	int64_t last_fork_ns;
	int noted_threads, noted_children;
	sigset_t saved_mask; /* the program's signal mask, restored in a resumed run */
	uint64_t resumed_seq;
} hk = {.fd = -1};

static volatile int hk_lock_word;
static __thread int hk_busy;

static void hk_lock(void)
{
	while (__atomic_exchange_n(&hk_lock_word, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void hk_unlock(void)
{
	__atomic_store_n(&hk_lock_word, 0, __ATOMIC_RELEASE);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void hook_say(const char *msg)
{
	/* One line, straight to fd 2: stdio may be in any state. */
	char buf[512];
	size_t n = 0, l = strlen(msg);
	const char *pre = "forkmon: ";
	memcpy(buf, pre, strlen(pre));
	n = strlen(pre);
	if (l > sizeof buf - n - 2)
		l = sizeof buf - n - 2;
	memcpy(buf + n, msg, l);
	n += l;
	buf[n++] = '\n';
	ssize_t w = write(2, buf, n);
	(void)w;
}

/* ---- the per-path answer cache ----------------------------------------------- */
/*
 * Open addressing over a static table; path bytes live in a static arena. When either
 * is full we simply stop remembering (and ask the monitor again): never allocate.
 */
enum { CACHE_SLOTS = 1 << 14, ARENA_SIZE = 1 << 20 };

struct slot {
	uint64_t hash;
	uint32_t off;
	uint16_t len;
	uint8_t used, verdict;
};
static struct slot cache[CACHE_SLOTS];
static char arena[ARENA_SIZE];
static size_t arena_used;
static unsigned cache_used;

static uint64_t hash_path(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h | 1;
}

static struct slot *cache_find(const char *p, size_t n, uint64_t h)
{
	for (unsigned i = (unsigned)h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
		struct slot *s = &cache[i];
		if (!s->used)
			return s;
		if (s->hash == h && s->len == n && memcmp(arena + s->off, p, n) == 0)
			return s;
	}
}

static void cache_put(struct slot *s, const char *p, size_t n, uint64_t h, int verdict)
{
	if (s->used) {
		s->verdict = (uint8_t)verdict;
		return;
	}
	if (cache_used >= CACHE_SLOTS / 2 || arena_used + n > ARENA_SIZE || n > UINT16_MAX)
		return;
	memcpy(arena + arena_used, p, n);
	s->off = (uint32_t)arena_used;
	s->len = (uint16_t)n;
	s->hash = h;
	s->verdict = (uint8_t)verdict;
	s->used = 1;
	arena_used += n;
	cache_used++;
}

/* ---- talking to the monitor ---------------------------------------------------- */

static int conn_open(void)
{
	int s = (int)syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&hk.addr, hk.addrlen) < 0) {
		close(s);
		return -1;
	}
	int hi = fcntl(s, F_DUPFD_CLOEXEC, CONN_FD_MIN);
	if (hi >= 0) {
		close(s);
		s = hi;
	}
	return s;
}

static int conn_send(int fd, const void *m, size_t n)
{
	for (;;) {
		ssize_t w = send(fd, m, n, MSG_NOSIGNAL);
		if (w == (ssize_t)n)
			return 0;
		if (w < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

static int conn_recv(int fd, void *m, size_t n, enum fm_type want)
{
	for (;;) {
		ssize_t r = recv(fd, m, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < (ssize_t)sizeof(struct fm_header))
			return -1;
		struct fm_header *h = m;
		if (h->magic != FM_MAGIC || h->type != want)
			return -1;
		return (int)r;
	}
}

static void hook_give_up(void)
{
	if (hk.fd >= 0)
		close(hk.fd);
	hk.fd = -1;
	hk.dead = 1;
}

/* Makes sure this process has its own live connection, introduced with HELLO. */
static int conn_ready(uint32_t hello_flags)
{
	if (hk.fd >= 0 && hk.fd_pid == hk.pid) {
		struct stat st;
		if (fstat(hk.fd, &st) == 0 && st.st_ino == hk.fd_ino)
			return 0;
		hk.fd = -1; /* the program closed or reused it: not ours to close */
	}
	int fd = conn_open();
	if (fd < 0) {
		hook_give_up();
		return -1;
	}
	struct fm_hello m = {0};
	fm_init(&m.h, FM_HELLO, sizeof m);
	m.flags = hello_flags;
	struct fm_hello_ok ok;
	struct stat st;
	if (conn_send(fd, &m, sizeof m) < 0 || conn_recv(fd, &ok, sizeof ok, FM_HELLO_OK) < 0 ||
	    fstat(fd, &st) < 0) {
		close(fd);
		hook_give_up();
		return -1;
	}
	if (ok.status != FM_OK) {
		if (ok.status == FM_ERR_VERSION)
			hook_say("this hook and the monitor are of different versions; not watching");
		close(fd);
		hook_give_up();
		return -1;
	}
	hk.cfg = ok;
	hk.configured = 1;
	hk.fd = fd;
	hk.fd_ino = st.st_ino;
	hk.fd_pid = hk.pid;
	return 0;
}

static void hook_note(int kind, int value)
{
	struct fm_note n = {0};
	fm_init(&n.h, FM_NOTE, sizeof n);
	n.kind = kind;
	n.value = value;
	conn_send(hk.fd, &n, sizeof n);
}

/* ---- candidates ----------------------------------------------------------------- */

static int ends_with(const char *s, size_t n, const char *suf)
{
	size_t l = strlen(suf);
	return l <= n && memcmp(s + n - l, suf, l) == 0;
}

/* May the absolute path p match some pattern? Only meaningful once configured. */
static int hints_allow(const char *p, size_t n)
{
	if (hk.cfg.flags & FM_CFG_ALL_CANDIDATES)
		return 1;
	for (unsigned i = 0; i < hk.cfg.nhints; i++) {
		const struct fm_hint *h = &hk.cfg.hints[i];
		if (strncmp(p, h->prefix, strlen(h->prefix)) == 0 && ends_with(p, n, h->suffix))
			return 1;
	}
	return 0;
}

/*
 * Before computing an absolute path (a getcwd, a normalisation), try to reject a name by
 * its last component: normalising keeps it, so the suffix of the absolute path is the
 * suffix of that component whenever the hint's suffix has no '/' and fits in it.
 */
static int hints_reject_name(const char *rel)
{
	if (!hk.configured || (hk.cfg.flags & FM_CFG_ALL_CANDIDATES))
		return 0;
	const char *last = path_last(rel);
	size_t n = strlen(last);
	for (unsigned i = 0; i < hk.cfg.nhints; i++) {
		const char *suf = hk.cfg.hints[i].suffix;
		size_t l = strlen(suf);
		if (l == 0 || l > n || memchr(suf, '/', l))
			return 0; /* undecided by the name alone */
		if (memcmp(last + n - l, suf, l) == 0)
			return 0;
	}
	return 1;
}

static int absolute_path(int dirfd, const char *path, char *out, size_t outlen)
{
	char base[FM_PATH_MAX];
	if (path[0] == '/')
		return path_join(NULL, path, out, outlen);
	if (dirfd == AT_FDCWD) {
		if (syscall(SYS_getcwd, base, sizeof base) < 0)
			return -1;
	} else {
		char link[64];
		snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
		ssize_t n = readlink(link, base, sizeof base - 1);
		if (n <= 0)
			return -1;
		base[n] = '\0';
	}
	return path_join(base, path, out, outlen);
}

/* ---- checkpoints ------------------------------------------------------------------ */

/* File offsets shared with the checkpoint (fork shares open file descriptions): saved
 * just before the checkpoint is forked, put back in every run resumed from it. */
enum { MAX_OFFSETS = 256 };
static struct {
	int fd;
	off_t off;
} offsets[MAX_OFFSETS];
static int noffsets;

/*
 * Files the program itself opened for reading and writing (O_RDWR, fopen "r+"): their
 * offsets are restored too. A read-write description inherited from elsewhere may be
 * shared with processes outside the program (a test runner's log), so only these are;
 * device and inode tell a reused descriptor number from the file we saw opened.
 */
enum { MAX_OWN_RW = 64 };
static struct {
	int fd;
	dev_t dev;
	ino_t ino;
} own_rw[MAX_OWN_RW];
static int nown_rw, own_rw_next;

static void own_rw_add(int fd)
{
	struct stat st;
	if (fd < 0 || !hk.active || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	hk_lock();
	int i;
	for (i = 0; i < nown_rw && own_rw[i].fd != fd; i++)
		;
	if (i == nown_rw) {
		if (nown_rw < MAX_OWN_RW)
			nown_rw++;
		else
			i = own_rw_next++ % MAX_OWN_RW; /* forget the oldest */
	}
	own_rw[i].fd = fd;
	own_rw[i].dev = st.st_dev;
	own_rw[i].ino = st.st_ino;
	hk_unlock();
}

static int own_rw_has(int fd)
{
	struct stat st;
	for (int i = 0; i < nown_rw; i++)
		if (own_rw[i].fd == fd)
			return fstat(fd, &st) == 0 && st.st_dev == own_rw[i].dev && st.st_ino == own_rw[i].ino;
	return 0;
}

static void offsets_save(int skip)
{
	noffsets = 0;
	int d = raw_open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
	if (d < 0)
		return;
	char buf[4096];
	for (;;) {
		long n = syscall(SYS_getdents64, d, buf, sizeof buf);
		if (n <= 0)
			break;
		for (long i = 0; i < n;) {
			struct dirent64 *e = (struct dirent64 *)(buf + i);
			i += e->d_reclen;
			if (e->d_name[0] < '0' || e->d_name[0] > '9')
				continue;
			int fd = atoi(e->d_name);
			if (fd == d || fd == skip || fd == hk.fd || noffsets >= MAX_OFFSETS)
				continue;
			/* Files open for reading alone, and read-write files the program opened
			 * itself: a description open for writing may be shared with processes
			 * outside the program (a shell's output file), and output must go after
			 * what earlier copies wrote, not over it. */
			int fl = fcntl(fd, F_GETFL);
			if (fl < 0 || (fl & O_APPEND) ||
			    ((fl & O_ACCMODE) != O_RDONLY && !((fl & O_ACCMODE) == O_RDWR && own_rw_has(fd))))
				continue;
			off_t off = lseek(fd, 0, SEEK_CUR);
			if (off < 0)
				continue; /* pipes, terminals, sockets */
			offsets[noffsets].fd = fd;
			offsets[noffsets].off = off;
			noffsets++;
		}
	}
	close(d);
}

static void offsets_restore(void)
{
	for (int i = 0; i < noffsets; i++)
		lseek(offsets[i].fd, offsets[i].off, SEEK_SET);
}

/* Number of threads of this process, or -1. The kernel counts them into the link count
 * of /proc/self/task (2 + threads): a stat, cheaper than formatting /proc/self/stat. */
static int thread_count(void)
{
	struct stat st;
	if (syscall(SYS_newfstatat, AT_FDCWD, "/proc/self/task", &st, 0) == 0 && st.st_nlink >= 3)
		return (int)st.st_nlink - 2;
	/* else field 20 of /proc/self/stat */
	char buf[1024];
	int fd = raw_open("/proc/self/stat", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p)
		return -1;
	/* after ")" come fields 3..: state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice num_threads */
	int field = 2;
	for (; *p && field < 20; p++)
		if (*p == ' ')
			field++;
	return atoi(p);
}

/* 1 when the process has live child processes: a copy could never wait for them. */
static int has_children(void)
{
	siginfo_t si;
	si.si_pid = 0;
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno != ECHILD;
	return 1;
}

/* Is this a good moment for a checkpoint, before reading path? The first watched read
 * always is, and so are the first few reads of the project's own files (under the
 * directory the session started in): those are the files people edit. */
static int ckpt_wanted(int64_t now, const char *path, int consume)
{
	if (hk.cfg.role != FM_ROLE_RUN || hk.ckpt_count >= (int)hk.cfg.max_checkpoints)
		return 0;
	if (hk.cfg.flags & FM_CFG_EVERY)
		return 1;
	size_t pl = strlen(hk.cfg.project);
	int in_project = pl && strncmp(path, hk.cfg.project, pl) == 0 &&
			 (path[pl] == '/' || hk.cfg.project[pl - 1] == '/');
	/* The first read (often the program's own main file) counts as one of the project's. */
	if (hk.ckpt_count == 0 || (in_project && hk.free_used < (int)hk.cfg.free_checkpoints)) {
		hk.free_used += consume && in_project;
		return 1;
	}
	int64_t gap = hk.cfg.min_gap_ns;
	int64_t cost = hk.last_fork_ns * (int64_t)hk.cfg.gap_factor;
	if (cost > gap)
		gap = cost;
	return now - hk.last_ckpt_end_ns >= gap;
}

static int ckpt_safe(void)
{
	int t = thread_count();
	if (t != 1) {
		if (!hk.noted_threads++)
			hook_note(FM_NOTE_THREADS, t);
		return 0;
	}
	if (has_children()) {
		if (!hk.noted_children++)
			hook_note(FM_NOTE_CHILDREN, 0);
		return 0;
	}
	return 1;
}

static void become_run(int ctl, const struct fm_resume *r, const int *fds, int nfds);

/*
 * The intermediate process of a double fork, a vfork child sharing its parent's memory
 * and stack: it forks the real child, reports its pid (FM_CKPT_PID or FM_RESUMED) and
 * exits. Returns 1 in that child. A function of its own, so that nothing it does lands
 * in the caller's frame, which the suspended parent still owns.
 */
static __attribute__((noinline)) int ckpt_middle(int ctl, int type)
{
	pid_t c = fork();
	if (c == 0)
		return 1;
	struct fm_pid p = {0};
	fm_init(&p.h, (enum fm_type)type, sizeof p);
	p.pid = c < 0 ? -errno : c;
	conn_send(ctl, &p, sizeof p);
	_exit(c < 0);
}

/* A RESUME, with the helper client's descriptors when it brings some. Static: a
 * checkpoint waits here, and a resumed run keeps the environment strings it points to. */
static union {
	struct fm_resume r;
	char raw[FM_MSG_MAX];
} resume_msg;

static int ckpt_recv(int ctl, int *fds, int *nfds)
{
	ssize_t n = fm_recv_fds(ctl, &resume_msg, sizeof resume_msg - 1, fds, nfds, 0);
	if (n < (ssize_t)sizeof(struct fm_resume) || resume_msg.r.h.magic != FM_MAGIC ||
	    resume_msg.r.h.type != FM_RESUME) {
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		return -1;
	}
	resume_msg.raw[n] = '\0';
	return (int)n;
}

/*
 * The suspended checkpoint: a child of the monitor (re-parented after a double fork),
 * in a process group of its own so that the terminal's signals do not reach it, all
 * signals blocked, waiting for RESUME. Returns only in a new run.
 */
static void ckpt_wait(int ctl, int runfd)
{
	setpgid(0, 0);
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	if (runfd >= 0)
		close(runfd); /* the run's connection is the run's */
	hk.fd = -1;
	for (;;) {
		int fds[FM_MAX_FDS], nfds;
		if (ckpt_recv(ctl, fds, &nfds) < 0)
			_exit(0); /* the monitor is gone or dropped us */
		/* vfork: the intermediate process borrows our memory instead of copying it
		 * (every signal is blocked here, so no handler runs in it) */
		pid_t m = vfork();
		if (m == 0 && ckpt_middle(ctl, FM_RESUMED)) {
			become_run(ctl, &resume_msg.r, fds, nfds);
			return;
		}
		if (m < 0) {
			struct fm_pid p = {0};
			fm_init(&p.h, FM_RESUMED, sizeof p);
			p.pid = -errno;
			conn_send(ctl, &p, sizeof p);
			continue;
		}
		for (int i = 0; i < nfds; i++)
			close(fds[i]); /* they went to the new run */
		while (waitpid(m, NULL, 0) < 0 && errno == EINTR)
			;
	}
}

/* Helper mode: the new run takes the client's cwd, fds 0-2 and environment. */
static void become_client(const struct fm_resume *r, const int *fds, int nfds)
{
	static char *env[4096];
	if (nfds >= 4) {
		if (fchdir(fds[0]) < 0)
			_exit(126);
		for (int i = 0; i < 3; i++)
			if (dup2(fds[i + 1], i) < 0)
				_exit(126);
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	const char *p = r->data, *end = (const char *)r + r->h.len;
	unsigned k = 0;
	for (; k < r->envc && k < 4095 && p < end; k++) {
		env[k] = (char *)p;
		p += strnlen(p, (size_t)(end - p)) + 1;
	}
	env[k] = NULL;
	environ = env;
}

static void become_run(int ctl, const struct fm_resume *r, const int *fds, int nfds)
{
	close(ctl);
	if (r->flags & FM_RESUME_CLIENT)
		become_client(r, fds, nfds);
	else
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
	/* The middle process exits at once: wait to be the monitor's child, then die with
	 * it (a death signal set earlier would fire when the middle process exits). */
	for (int i = 0; getppid() != r->monitor_pid && i < 100000; i++)
		sched_yield();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != r->monitor_pid)
		_exit(1);
	setpgid(0, r->job_pgid); /* back in the terminal's foreground job */
	hk.pid = getpid();
	hk.fd = -1;
	hk.last_ckpt_end_ns = now_ns();
	offsets_restore();
	sigprocmask(SIG_SETMASK, &hk.saved_mask, NULL);
}

/*
 * Takes a checkpoint registered under seq. Returns 0 in the run that goes on, 1 in a
 * run resumed from the checkpoint (later, after a change), -1 when none was taken.
 */
static int ckpt_take(uint64_t seq)
{
	fflush(NULL); /* or buffered output would be printed again by every resumed run */
	int ctl = conn_open();
	if (ctl < 0)
		return -1;
	struct fm_ckpt_register reg = {0};
	fm_init(&reg.h, FM_CKPT_REGISTER, sizeof reg);
	reg.seq = seq;
	if (conn_send(ctl, &reg, sizeof reg) < 0) {
		close(ctl);
		return -1;
	}
	offsets_save(ctl);

	/* No signal handler of the program may run in the vfork child (it shares our stack),
	 * and our intermediate child must not disturb the program's SIGCHLD handling. */
	sigset_t all, chld, old, pend;
	sigfillset(&all);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &all, &old);
	hk.saved_mask = old;
	sigpending(&pend);
	int was_pending = sigismember(&pend, SIGCHLD);

	int runfd = hk.fd;
	hk.ckpt_count++; /* counted in the checkpoint's copy too */
	int64_t t0 = now_ns();
	/*
	 * Double fork, so that the checkpoint is re-parented to the monitor and the program
	 * never sees a child of ours in wait(). The intermediate process is a vfork child:
	 * it borrows our memory (no page tables copied) while we are suspended, forks the
	 * checkpoint from it, reports the pid and exits — one real fork per checkpoint.
	 */
	pid_t m = vfork();
	if (m == 0 && ckpt_middle(ctl, FM_CKPT_PID)) {
		ckpt_wait(ctl, runfd);
		return 1; /* a new run */
	}
	int err = errno;
	close(ctl);
	int ok = 0;
	if (m > 0) {
		int st;
		while (waitpid(m, &st, 0) < 0 && errno == EINTR)
			;
		ok = 1;
	}
	if (!was_pending) {
		siginfo_t si;
		si.si_pid = 0;
		/* consume our SIGCHLD unless another child of the program is waiting too */
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0) {
			struct timespec zero = {0, 0};
			sigtimedwait(&chld, NULL, &zero);
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	int64_t t1 = now_ns();
	if (!ok) {
		hk.ckpt_count--;
		hook_note(FM_NOTE_FORK_FAILED, err);
		return -1;
	}
	hk.last_fork_ns = t1 - t0;
	hk.last_ckpt_end_ns = t1;
	return 0;
}

/* ---- the decision before each open ---------------------------------------------- */

/* May this process talk to the monitor now? (Not in a vfork child: it shares our memory
 * and has not run the fork handlers, so it still sees its parent's pid in hk.pid.) */
static int hook_may_talk(void)
{
	return getpid() == hk.pid && !hk.dead && conn_ready(0) == 0;
}

/* A read reported once the program has opened the file: set in hook_before, taken by
 * hook_after in the same call of the same thread. One at a time (another thread meanwhile
 * reports before its open); not thread-local, so that the program's thread-local page,
 * written at every failed call (errno), does not grow: each page the run writes after a
 * fork is a page more per checkpoint. */
static struct {
	pthread_t owner; /* 0: free */
	size_t n;
	uint64_t hash;
	char path[FM_PATH_MAX];
} pend;

static void read_fill(struct fm_read *m, const char *p, size_t n, const struct stat *st, uint32_t flags)
{
	fm_init(&m->h, FM_READ, (uint32_t)(offsetof(struct fm_read, path) + n + 1));
	m->flags = flags;
	m->pad = 0;
	m->dev = st->st_dev;
	m->ino = st->st_ino;
	m->size = st->st_size;
	m->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	m->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	memcpy(m->path, p, n + 1);
}

/* Tells the monitor of a first read without waiting for its answer, and remembers the
 * path (slot s, hash h) as watched. */
static void read_tell(struct slot *s, const char *p, size_t n, uint64_t h, const struct stat *st)
{
	struct fm_read m;
	read_fill(&m, p, n, st, FM_READ_NO_REPLY);
	if (conn_send(hk.fd, &m, m.h.len) < 0)
		hook_give_up();
	else
		cache_put(s, p, n, h, FM_WATCHED);
}

/* Returns 1 in a run just resumed from a checkpoint taken before this read, else 0.
 * defer: the read may be reported after the open (hook_after), when no checkpoint is
 * wanted. */
static int hook_read(const char *p, size_t n, int defer)
{
	uint64_t h = hash_path(p, n);
	struct slot *s = cache_find(p, n, h);
	if (s->used) {
		if (s->verdict == FM_IGNORED || !(hk.cfg.flags & FM_CFG_REREADS))
			return 0;
		/* A read of a path this process already reported: never checkpointed (a change
		 * of it resumes from before its first read; Lua opens every module twice), and
		 * said only when the monitor keeps an events file. */
		if (!hook_may_talk())
			return 0;
		struct fm_read m;
		fm_init(&m.h, FM_READ_AGAIN, (uint32_t)(offsetof(struct fm_read, path) + n + 1));
		m.flags = 0;
		m.pad = 0;
		memcpy(m.path, p, n + 1);
		if (conn_send(hk.fd, &m, m.h.len) < 0)
			hook_give_up();
		return 0;
	}
	int64_t now = now_ns();
	/* Runs after a change ask about every new path: the monitor may want a checkpoint at
	 * a file that changed before. */
	int ask = (hk.cfg.flags & FM_CFG_ASK) || hk.resumed_seq;
	if (defer && !ask && !pend.owner && !ckpt_wanted(now, p, 0)) {
		/* No checkpoint wanted here, and nothing to ask: the program opens first, and we
		 * report what it opened (see hook_after). A name that does not exist (a search
		 * path's misses) then costs no system call of ours. */
		memcpy(pend.path, p, n + 1);
		pend.n = n;
		pend.hash = h;
		pend.owner = pthread_self();
		return 0;
	}
	struct stat st;
	if (stat(p, &st) < 0 || !S_ISREG(st.st_mode))
		return 0; /* not there (yet), or not a file: ask again next time */
	if (!hook_may_talk())
		return 0;
	int want = ckpt_wanted(now, p, 1);
	if (want && !ckpt_safe())
		want = 0;
	/* No checkpoint wanted: say it and read on, without waiting for the watch. A change
	 * between our stat() and the watch is still seen: the monitor compares the file
	 * with what we saw. */
	if (!want && !ask) {
		read_tell(s, p, n, h, &st);
		return 0;
	}
	struct fm_read m;
	read_fill(&m, p, n, &st, want ? FM_READ_WANT_CKPT : 0);
	struct fm_read_reply r;
	if (conn_send(hk.fd, &m, m.h.len) < 0 || conn_recv(hk.fd, &r, sizeof r, FM_READ_REPLY) < 0) {
		hook_give_up();
		return 0;
	}
	if (r.verdict != FM_NOT_NOW)
		cache_put(s, p, n, h, r.verdict);
	if (r.verdict != FM_WATCHED || !r.grant)
		return 0;
	/* The monitor may grant one unasked (a file that changed before): check then. */
	if (!want && !ckpt_safe())
		return 0;
	if (ckpt_take(r.seq) == 1) {
		/* A resumed run: introduce ourselves, then redo this read for the monitor. */
		hk.resumed_seq = r.seq;
		if (conn_ready(FM_HELLO_RESUMED) == 0) {
			fm_init(&m.h, FM_READ_AGAIN, m.h.len);
			m.flags = FM_READ_RESUMED;
			if (conn_send(hk.fd, &m, m.h.len) < 0)
				hook_give_up();
		}
		return 1;
	}
	return 0;
}

static int readonly_flags(int flags)
{
	return (flags & O_ACCMODE) == O_RDONLY && !(flags & (O_DIRECTORY | O_PATH | O_TRUNC));
}

/*
 * Python reads DIR/__pycache__/NAME.cpython-311.pyc instead of DIR/NAME.py while the
 * cache is valid: that read stands for a read of the source, and is reported as one.
 * Returns the new length, or n when p is not such a path.
 */
static int pyc_source(char *p, int n)
{
	static const char pycache[] = "/__pycache__/";
	if (n < 5 || memcmp(p + n - 4, ".pyc", 4) != 0)
		return n;
	char *name = strrchr(p, '/');
	if (!name || name - p < (int)sizeof pycache - 2 ||
	    memcmp(name - (sizeof pycache - 2), pycache, sizeof pycache - 2) != 0)
		return n;
	char *dot = strchr(name + 1, '.');
	if (!dot || dot == name + 1)
		return n;
	char *dir = name - (sizeof pycache - 2); /* "/__pycache__" starts here */
	size_t len = (size_t)(dot - name);     /* "/NAME" */
	memmove(dir, name, len);
	memcpy(dir + len, ".py", 4);
	return (int)(dir + len + 3 - p);
}

/*
 * Before each open. Returns 1 when this open must fail with ENOENT instead: in a run
 * resumed at the open of a Python bytecode file. CPython checked that file against the
 * source's size and time before it opened it, and that was before the change; without
 * the cached file it compiles the source it finds now.
 */
static int hook_before(int dirfd, const char *path, int flags)
{
	if (!hk.active || hk.dead || hk_busy || !path || !readonly_flags(flags))
		return 0;
	/* Most opens end here: the last component decides, before any path arithmetic. */
	if (path_is_dirlike(path) || (!ends_with(path, strlen(path), ".pyc") && hints_reject_name(path)))
		return 0;
	hk_busy = 1;
	int saved = errno, fail = 0;
	char abs[FM_PATH_MAX];
	int n = absolute_path(dirfd, path, abs, sizeof abs), pyc = 0;
	if (n > 0) {
		int m = pyc_source(abs, n);
		pyc = m != n;
		n = m;
	}
	int known = hk.configured; /* the monitor's hints are known: check them here */
	if (n > 0 && (!known || hints_allow(abs, (size_t)n))) {
		hk_lock();
		/* The first time, the hints come with the monitor's answer to HELLO. (In a vfork
		 * child, hook_may_talk() and hook_read() do nothing: see there.) */
		if (known || (hook_may_talk() && hints_allow(abs, (size_t)n)))
			fail = hook_read(abs, (size_t)n, known && !pyc) && pyc;
		hk_unlock();
	}
	errno = saved;
	hk_busy = 0;
	return fail;
}

/* After the open: reports a read deferred by hook_read, with what the program opened. */
static void hook_after(int fd)
{
	if (!__atomic_load_n(&pend.owner, __ATOMIC_RELAXED) || hk_busy)
		return;
	int saved = errno;
	hk_busy = 1;
	hk_lock();
	if (!pthread_equal(pend.owner, pthread_self())) {
		hk_unlock();
		hk_busy = 0;
		return;
	}
	size_t n = pend.n;
	pend.owner = 0;
	struct stat st;
	uint64_t h = pend.hash;
	struct slot *s = cache_find(pend.path, n, h);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && !s->used && hook_may_talk())
		read_tell(s, pend.path, n, h, &st);
	hk_unlock();
	hk_busy = 0;
	errno = saved;
}

static int fopen_readonly(const char *mode)
{
	return mode && mode[0] == 'r' && !strchr(mode, '+');
}

/* ---- the interposers ----------------------------------------------------------------- */

#define NEEDS_MODE(f) (((f) & O_CREAT) || ((f) & O_TMPFILE) == O_TMPFILE)
#define GET_MODE(flags, mode)                                                                \
	do {                                                                                 \
		if (NEEDS_MODE(flags)) {                                                     \
			va_list ap;                                                          \
			va_start(ap, flags);                                                 \
			mode = (mode_t)va_arg(ap, int);                                      \
			va_end(ap);                                                          \
		}                                                                            \
	} while (0)

EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	GET_MODE(flags, mode);
	if (hook_before(AT_FDCWD, path, flags)) {
		errno = ENOENT;
		return -1;
	}
	int fd = real.open ? real.open(path, flags, mode)
			 : (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
	hook_after(fd);
	if ((flags & O_ACCMODE) == O_RDWR)
		own_rw_add(fd);
	return fd;
}

EXPORT int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	GET_MODE(flags, mode);
	if (hook_before(AT_FDCWD, path, flags)) {
		errno = ENOENT;
		return -1;
	}
	int fd = real.open64 ? real.open64(path, flags, mode)
			 : (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_LARGEFILE, mode);
	hook_after(fd);
	if ((flags & O_ACCMODE) == O_RDWR)
		own_rw_add(fd);
	return fd;
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	GET_MODE(flags, mode);
	if (hook_before(dirfd, path, flags)) {
		errno = ENOENT;
		return -1;
	}
	int fd = real.openat ? real.openat(dirfd, path, flags, mode)
			 : (int)syscall(SYS_openat, dirfd, path, flags, mode);
	hook_after(fd);
	if ((flags & O_ACCMODE) == O_RDWR)
		own_rw_add(fd);
	return fd;
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	GET_MODE(flags, mode);
	if (hook_before(dirfd, path, flags)) {
		errno = ENOENT;
		return -1;
	}
	int fd = real.openat64 ? real.openat64(dirfd, path, flags, mode)
			 : (int)syscall(SYS_openat, dirfd, path, flags | O_LARGEFILE, mode);
	hook_after(fd);
	if ((flags & O_ACCMODE) == O_RDWR)
		own_rw_add(fd);
	return fd;
}

EXPORT int __open_2(const char *path, int flags)
{
	if (hook_before(AT_FDCWD, path, flags)) {
		errno = ENOENT;
		return -1;
	}
	int fd = real.open_2 ? real.open_2(path, flags)
			 : (int)syscall(SYS_openat, AT_FDCWD, path, flags, 0);
	hook_after(fd);
	if ((flags & O_ACCMODE) == O_RDWR)
		own_rw_add(fd);
	return fd;
}

EXPORT int __open64_2(const char *path, int flags)
{
	if (hook_before(AT_FDCWD, path, flags)) {
		errno = ENOENT;
		return -1;
	}
	int fd = real.open64_2 ? real.open64_2(path, flags)
			 : (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_LARGEFILE, 0);
	hook_after(fd);
	if ((flags & O_ACCMODE) == O_RDWR)
		own_rw_add(fd);
	return fd;
}

EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	if (hook_before(dirfd, path, flags)) {
		errno = ENOENT;
		return -1;
	}
	int fd = real.openat_2 ? real.openat_2(dirfd, path, flags)
			 : (int)syscall(SYS_openat, dirfd, path, flags, 0);
	hook_after(fd);
	if ((flags & O_ACCMODE) == O_RDWR)
		own_rw_add(fd);
	return fd;
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	if (hook_before(dirfd, path, flags)) {
		errno = ENOENT;
		return -1;
	}
	int fd = real.openat64_2 ? real.openat64_2(dirfd, path, flags)
			 : (int)syscall(SYS_openat, dirfd, path, flags | O_LARGEFILE, 0);
	hook_after(fd);
	if ((flags & O_ACCMODE) == O_RDWR)
		own_rw_add(fd);
	return fd;
}

EXPORT FILE *fopen(const char *path, const char *mode)
{
	if (fopen_readonly(mode) && hook_before(AT_FDCWD, path, O_RDONLY)) {
		errno = ENOENT;
		return NULL;
	}
	if (!real.fopen)
		hook_resolve();
	FILE *f = real.fopen(path, mode);
	hook_after(f ? fileno(f) : -1);
	if (f && mode && strchr(mode, '+'))
		own_rw_add(fileno(f));
	return f;
}

EXPORT FILE *fopen64(const char *path, const char *mode)
{
	if (fopen_readonly(mode) && hook_before(AT_FDCWD, path, O_RDONLY)) {
		errno = ENOENT;
		return NULL;
	}
	if (!real.fopen64)
		hook_resolve();
	FILE *f = real.fopen64(path, mode);
	hook_after(f ? fileno(f) : -1);
	if (f && mode && strchr(mode, '+'))
		own_rw_add(fileno(f));
	return f;
}

EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream)
{
	if (path && fopen_readonly(mode))
		hook_before(AT_FDCWD, path, O_RDONLY); /* failing would close stream: never */
	if (!real.freopen)
		hook_resolve();
	FILE *f = real.freopen(path, mode, stream);
	hook_after(f ? fileno(f) : -1);
	if (f && mode && strchr(mode, '+'))
		own_rw_add(fileno(f));
	return f;
}

EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
	if (path && fopen_readonly(mode))
		hook_before(AT_FDCWD, path, O_RDONLY); /* failing would close stream: never */
	if (!real.freopen64)
		hook_resolve();
	FILE *f = real.freopen64(path, mode, stream);
	hook_after(f ? fileno(f) : -1);
	if (f && mode && strchr(mode, '+'))
		own_rw_add(fileno(f));
	return f;
}

/* ---- start-up ----------------------------------------------------------------------- */

static void hook_atfork_child(void)
{
	/* A forked child of the program: its own process, its own connection later. The
	 * inherited descriptor belongs to the parent's conversation; leave it alone. */
	hk.pid = (pid_t)syscall(SYS_getpid);
	hk.fd = -1;
	hk.noted_threads = hk.noted_children = 0;
	hk.resumed_seq = 0;
	if (hk.configured)
		hk.cfg.role = FM_ROLE_SUB; /* until the monitor says otherwise */
	hk_lock_word = 0;
}

static int set_addr(const char *name)
{
	size_t l = strlen(name);
	if (l == 0 || l + 1 > sizeof hk.addr.sun_path)
		return -1;
	memset(&hk.addr, 0, sizeof hk.addr);
	hk.addr.sun_family = AF_UNIX;
	/* "@name" is an abstract socket: nothing on disk to leave behind */
	if (name[0] == '@') {
		hk.addr.sun_path[0] = '\0';
		memcpy(hk.addr.sun_path + 1, name + 1, l - 1);
	} else {
		memcpy(hk.addr.sun_path, name, l);
	}
	hk.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l);
	return 0;
}

/* The monitor executable: $FORKMON_MONITOR, else "forkmon" next to this library. */
static int monitor_path(char *out, size_t len)
{
	const char *env = getenv("FORKMON_MONITOR");
	if (env && *env) {
		snprintf(out, len, "%s", env);
		return 0;
	}
	Dl_info info;
	if (!dladdr((void *)&monitor_path, &info) || !info.dli_fname)
		return -1;
	snprintf(out, len, "%s", info.dli_fname);
	char *slash = strrchr(out, '/');
	if (!slash)
		return -1;
	snprintf(slash + 1, len - (size_t)(slash + 1 - out), "forkmon");
	return 0;
}

/*
 * Bare mode (LD_PRELOAD=forkmonhook.so prog): fork; the original process becomes the
 * monitor (the shell waits on its pid), the child goes on as the program and waits in
 * HELLO until the monitor has checked the filters.
 */
static void hook_start_bare(int argc, char **argv, char **envp)
{
	char name[96];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sizeof name, "@forkmon.%d.%ld", (int)getpid(), (long)(ts.tv_nsec ^ ts.tv_sec));
	char mon[PATH_MAX];
	if (set_addr(name) < 0 || monitor_path(mon, sizeof mon) < 0 || access(mon, X_OK) < 0) {
		hook_say("cannot find the monitor executable (set FORKMON_MONITOR); not watching");
		return;
	}
	int ls = (int)syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&hk.addr, hk.addrlen) < 0 || listen(ls, 128) < 0) {
		hook_say("cannot create the session socket; not watching");
		if (ls >= 0)
			close(ls);
		return;
	}
	fflush(NULL);
	pid_t parent = getpid();
	pid_t child = fork();
	if (child < 0) {
		close(ls);
		return;
	}
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		close(ls);
		setenv("FORKMON_SOCKET", name, 1);
		hk.pid = getpid();
		hk.active = 1;
		/* Wait for the monitor's go: it refuses (and kills us) on a bad filter. */
		if (conn_ready(0) < 0)
			hk.dead = 1;
		return;
	}
	/* The monitor: argv = forkmon --bare LISTEN_FD CHILD EXE PRELOAD -- ARGV... */
	static char *margv[4096];
	static char *menv[8192];
	char fdbuf[16], pidbuf[16], exe[PATH_MAX];
	ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[el > 0 ? el : 0] = '\0';
	snprintf(fdbuf, sizeof fdbuf, "%d", ls);
	snprintf(pidbuf, sizeof pidbuf, "%d", (int)child);
	const char *pre = getenv("LD_PRELOAD");
	int k = 0;
	margv[k++] = "forkmon";
	margv[k++] = "--bare";
	margv[k++] = fdbuf;
	margv[k++] = pidbuf;
	margv[k++] = exe;
	margv[k++] = (char *)(pre ? pre : "");
	margv[k++] = "--";
	for (int i = 0; i < argc && k < 4095; i++)
		margv[k++] = argv[i];
	margv[k] = NULL;
	k = 0;
	for (char **e = envp; e && *e && k < 8191; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) != 0)
			menv[k++] = *e;
	menv[k] = NULL;
	execve(mon, margv, menv);
	/* No monitor: release the child (its HELLO fails) and be a transparent parent. */
	hook_say("cannot start the monitor; not watching");
	close(ls);
	int st;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st)) {
		signal(WTERMSIG(st), SIG_DFL);
		kill(getpid(), WTERMSIG(st));
	}
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
}

__attribute__((constructor)) static void hook_init(int argc, char **argv, char **envp)
{
	hook_resolve();
	hk.pid = getpid();
	pthread_atfork(NULL, NULL, hook_atfork_child);
	if (getenv("FORKMON_DISABLE"))
		return;
	const char *sock = getenv("FORKMON_SOCKET");
	if (sock && *sock) {
		if (set_addr(sock) == 0)
			hk.active = 1;
		return;
	}
	hook_start_bare(argc, argv, envp);
}
