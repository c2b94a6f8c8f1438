/*
 * monitor/monitor.c — one forkmon session (see monitor.h).
 *
 * The loop below has four concerns, handled in this order in every turn so that what
 * a process said is known before what happened to it:
 *   1. connections: new processes introduce themselves, report reads, register
 *      checkpoints (a run registers a checkpoint's connection before it forks it);
 *   2. the watcher's records: file-system events, fed to the debounce;
 *   3. signals: children that ended (reaped here: the monitor is their subreaper),
 *      and the user's Ctrl-C / SIGTERM / SIGHUP that end the session;
 *   4. the timer: a save became complete (decide and act), or a run being replaced
 *      outlived its grace period.
 *
 * Replacing the run is a small state machine: IDLE → KILLING (the run and every
 * process it started get SIGTERM, then SIGKILL after the grace period; checkpoints
 * are spared) → RESUMING (a checkpoint was told to fork a new run) → IDLE once the new
 * run's pid is known. Changes that complete meanwhile wait for IDLE.
 */
#include "monitor.h"

#include "debounce.h"
#include "filter.h"
#include "fdpass.h"
#include "forkmon_proto.h"
#include "inotify.h"
#include "out.h"
#include "path.h"
#include "policy.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- a string → int map (paths to file ids) ------------------------------------- */

struct strmap {
	char **keys;
	int *vals;
	size_t cap, n;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static int strmap_get(const struct strmap *m, const char *k)
{
	if (!m->cap)
		return -1;
	for (size_t i = str_hash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->keys[i])
			return -1;
		if (strcmp(m->keys[i], k) == 0)
			return m->vals[i];
	}
}

static void strmap_put(struct strmap *m, const char *k, int v);

static void strmap_grow(struct strmap *m)
{
	struct strmap old = *m;
	m->cap = old.cap ? old.cap * 2 : 256;
	m->n = 0;
	m->keys = calloc(m->cap, sizeof *m->keys);
	m->vals = calloc(m->cap, sizeof *m->vals);
	if (!m->keys || !m->vals) {
		out_error("out of memory");
		exit(1);
	}
	for (size_t i = 0; i < old.cap; i++)
		if (old.keys[i]) {
			strmap_put(m, old.keys[i], old.vals[i]);
			free(old.keys[i]);
		}
	free(old.keys);
	free(old.vals);
}

static void strmap_put(struct strmap *m, const char *k, int v)
{
	if ((m->n + 1) * 2 > m->cap)
		strmap_grow(m);
	for (size_t i = str_hash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->keys[i]) {
			m->keys[i] = strdup(k);
			m->vals[i] = v;
			m->n++;
			return;
		}
		if (strcmp(m->keys[i], k) == 0) {
			m->vals[i] = v;
			return;
		}
	}
}

/* ---- state ---------------------------------------------------------------------------- */

enum conn_kind { CONN_PROC, CONN_CKPT };

struct conn {
	int fd;
	pid_t pid; /* from SO_PEERCRED: the process that connected */
	enum conn_kind kind;
	int ckpt;  /* CONN_CKPT: index in M.ckpts */
	int role;
};

enum ckpt_state { CK_FREE, CK_PENDING, CK_READY };

struct ckpt {
	enum ckpt_state state;
	int conn;        /* index in M.conns, -1 until registered */
	pid_t pid;       /* 0 until known */
	uint64_t seq;
	int file;
	int64_t work_ns; /* the program's work before it: what resuming from it saves */
};

struct wfile {
	char *named; /* the name the program used first (absolute, normalised) */
	char *real;  /* the file itself, symlinks resolved */
	int polled;  /* its directory could not be watched: stat()ed every POLL_NS */
	int hot;     /* it changed once: likely to change again, so its reads get checkpoints */
	struct stat seen;
	int gone;
};

/* Past the kernel's inotify watch limit, files are polled instead (see poll_files). */
#define POLL_NS 250000000ll
static void poll_file(struct wfile *f);

enum phase { PH_IDLE, PH_KILLING, PH_RESUMING };

enum { EV_LISTEN = 1, EV_SIGNAL, EV_TIMER, EV_WATCHER, EV_CONN, EV_OUT, EV_SERVE, EV_CLIENT };

/* Helper mode: an invocation of the command by a client, waiting to be served. */
struct request {
	int conn;     /* the client's connection: HELPER_SIGNAL in, HELPER_EXIT out */
	int fds[4];   /* its cwd, 0, 1, 2 */
	char *env;    /* envc NUL-terminated "K=V" strings */
	size_t envlen;
	uint32_t envc;
};

/* After a read its sender does not wait for, the event loop polls this long before it
 * sleeps (see monitor_run). */
#define SPIN_NS 200000ll

static struct {
	struct monitor_opts *o;
	int ep, lfd, sfd, tfd, wfd;
	pid_t self, pgid;
	sigset_t orig_mask;
	struct sigaction orig_int, orig_quit;
	char sockname[108];
	char **env;
	char exe[PATH_MAX];
	struct fm_hello_ok cfg;

	struct conn **conns;
	int nconns;
	struct ckpt *ckpts;
	int nckpts;
	struct wfile *files;
	int nfiles, capfiles;
	struct strmap names, keys, dirs;

	struct policy *pol;
	struct debounce *deb;

	pid_t run;
	int64_t run_started;
	int64_t lineage_start; /* when the current run would have started, had it not resumed */
	struct {
		unsigned copies, resumes, restarts;
		int64_t saved_ns;
	} stats;
	int out_registered[4];
	enum phase phase;
	struct policy_decision dec;
	int changed[64];
	int nchanged;
	int64_t kill_deadline;
	int resume_ckpt;
	int64_t resume_deadline;
	int pending_change; /* a change completed while not IDLE */

	struct {
		pid_t pid;
		int status;
	} unclaimed[32];
	int nunclaimed;

	int noted[8];
	int watch_limit_noted;
	int64_t spin_until; /* the event loop polls until then (see SPIN_NS); 0: sleeps */
	int spin;           /* a processor to spare for that */
	int npolled;
	int64_t next_poll;
	int any_hot;
	int64_t deb_due;   /* a complete set waits for events on their way since then */
	int64_t deb_retry; /* and looks again then */

	/* helper mode (o->serve_fd >= 0) */
	struct request *queue;
	int nqueue;
	int client;        /* connection of the client being served, -1 */
	int run_tainted;   /* a file the run read changed: no more checkpoints from it */
	int64_t idle_since;
} M;

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- environment and spawning ------------------------------------------------------- */

static char *env_make(const char *name, const char *value)
{
	size_t l = strlen(name) + strlen(value) + 2;
	char *s = malloc(l);
	if (s)
		snprintf(s, l, "%s=%s", name, value);
	return s;
}

/* The environment of every run: ours, plus the session socket and the hook. */
static void monitor_build_env(void)
{
	size_t n = 0;
	while (environ[n])
		n++;
	M.env = calloc(n + 3, sizeof *M.env);
	size_t k = 0;
	const char *pre = NULL;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0) {
			pre = environ[i] + 11;
			continue;
		}
		if (strncmp(environ[i], "FORKMON_SOCKET=", 15) == 0)
			continue;
		M.env[k++] = environ[i];
	}
	M.env[k++] = env_make("FORKMON_SOCKET", M.sockname);
	if (M.o->hook) {
		char buf[8192];
		if (pre && *pre)
			snprintf(buf, sizeof buf, "%s:%s", M.o->hook, pre);
		else
			snprintf(buf, sizeof buf, "%s", M.o->hook);
		M.env[k++] = env_make("LD_PRELOAD", buf);
	} else if (M.o->preload && *M.o->preload) {
		M.env[k++] = env_make("LD_PRELOAD", M.o->preload);
	}
	M.env[k] = NULL;
}

/* Finds the program like execvp would, before forking (no allocation after fork). */
static int monitor_find_exe(void)
{
	const char *cmd = M.o->argv[0];
	if (M.o->exe && *M.o->exe) {
		snprintf(M.exe, sizeof M.exe, "%s", M.o->exe);
		return 0;
	}
	if (strchr(cmd, '/')) {
		snprintf(M.exe, sizeof M.exe, "%s", cmd);
		return access(M.exe, X_OK) == 0 ? 0 : -errno;
	}
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	int err = -ENOENT;
	for (const char *p = path;;) {
		const char *e = strchr(p, ':');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		snprintf(M.exe, sizeof M.exe, "%.*s%s%s", (int)l, p, l ? "/" : "", cmd);
		struct stat st;
		if (stat(M.exe, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(M.exe, X_OK) == 0)
				return 0;
			err = -EACCES;
		}
		if (!e)
			break;
		p = e + 1;
	}
	return err;
}

/* A client's environment, plus the session socket and the hook (helper mode). Not
 * inlined: its locals must not live across monitor_spawn_for's vfork. */
static __attribute__((noinline)) char **client_env(const struct request *rq)
{
	char **env = calloc(rq->envc + 3, sizeof *env);
	if (!env)
		return NULL;
	size_t k = 0;
	const char *p = rq->env, *end = rq->env + rq->envlen;
	for (uint32_t i = 0; i < rq->envc && p < end; i++, p += strlen(p) + 1)
		if (strncmp(p, "LD_PRELOAD=", 11) && strncmp(p, "FORKMON_SOCKET=", 15))
			env[k++] = (char *)p;
	for (char **e = M.env; *e; e++)
		if (!strncmp(*e, "LD_PRELOAD=", 11) || !strncmp(*e, "FORKMON_SOCKET=", 15))
			env[k++] = *e;
	env[k] = NULL;
	return env;
}

/* Starts the command from the beginning (for the client rq, in helper mode). Returns
 * its pid, or -errno. */
static pid_t monitor_spawn_for(const struct request *rq)
{
	int err = monitor_find_exe();
	if (err < 0)
		return err;
	char **env = rq ? client_env(rq) : M.env;
	if (!env)
		return -ENOMEM;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	/* vfork: the child borrows our memory until it execs (no page tables to copy, no
	 * copy-on-write faults for us afterwards); it only makes system calls. */
	pid_t pid = vfork();
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		sigaction(SIGINT, &M.orig_int, NULL);
		sigaction(SIGQUIT, &M.orig_quit, NULL);
		sigprocmask(SIG_SETMASK, &M.orig_mask, NULL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != M.self)
			_exit(127);
		if (rq && (fchdir(rq->fds[0]) < 0 || dup2(rq->fds[1], 0) < 0 || dup2(rq->fds[2], 1) < 0 ||
			   dup2(rq->fds[3], 2) < 0))
			_exit(126);
		execve(M.exe, M.o->argv, env);
		int e = errno;
		ssize_t w = write(pfd[1], &e, sizeof e);
		(void)w;
		_exit(127);
	}
	close(pfd[1]);
	if (env != M.env)
		free(env);
	if (pid < 0) {
		close(pfd[0]);
		return -errno;
	}
	int e = 0;
	ssize_t r;
	while ((r = read(pfd[0], &e, sizeof e)) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (r == (ssize_t)sizeof e) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return -e;
	}
	M.run_started = mono_ns();
	return pid;
}

static pid_t monitor_spawn(void)
{
	return monitor_spawn_for(NULL);
}

static void spawn_error(int err)
{
	if (err == -ENOENT)
		out_error("%s: command not found", M.o->argv[0]);
	else
		out_error("%s: %s", M.o->argv[0], strerror(-err));
}

/* ---- connections ---------------------------------------------------------------------- */

static void conn_close(int i)
{
	struct conn *c = M.conns[i];
	if (!c)
		return;
	epoll_ctl(M.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->kind == CONN_CKPT && c->ckpt >= 0 && M.ckpts[c->ckpt].conn == i)
		M.ckpts[c->ckpt].conn = -1;
	free(c);
	M.conns[i] = NULL;
}

static int conn_add(int fd, pid_t pid)
{
	int i;
	for (i = 0; i < M.nconns && M.conns[i]; i++)
		;
	if (i == M.nconns) {
		struct conn **n = realloc(M.conns, (size_t)(M.nconns + 16) * sizeof *n);
		if (!n)
			return -1;
		memset(n + M.nconns, 0, 16 * sizeof *n);
		M.conns = n;
		M.nconns += 16;
	}
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	c->fd = fd;
	c->pid = pid;
	c->kind = CONN_PROC;
	c->ckpt = -1;
	M.conns[i] = c;
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)EV_CONN << 32) | (uint32_t)i};
	epoll_ctl(M.ep, EPOLL_CTL_ADD, fd, &ev);
	return i;
}

static void conn_send(int i, const void *m, size_t n)
{
	if (M.conns[i] && send(M.conns[i]->fd, m, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n)
		conn_close(i);
}

/* ---- checkpoints ------------------------------------------------------------------------ */

static int ckpt_new(uint64_t seq, int file)
{
	int i;
	for (i = 0; i < M.nckpts && M.ckpts[i].state != CK_FREE; i++)
		;
	if (i == M.nckpts) {
		struct ckpt *n = realloc(M.ckpts, (size_t)(M.nckpts + 32) * sizeof *n);
		if (!n)
			return -1;
		memset(n + M.nckpts, 0, 32 * sizeof *n);
		M.ckpts = n;
		M.nckpts += 32;
	}
	M.ckpts[i] = (struct ckpt){.state = CK_PENDING, .conn = -1, .seq = seq, .file = file};
	return i;
}

/* Ends a checkpoint: its connection closes (it exits on EOF) and it is killed. */
static void ckpt_drop(int i)
{
	struct ckpt *k = &M.ckpts[i];
	if (k->state == CK_FREE)
		return;
	if (k->state == CK_READY)
		policy_checkpoint_gone(M.pol, i);
	if (k->conn >= 0)
		conn_close(k->conn);
	if (k->pid > 0)
		kill(k->pid, SIGKILL);
	*k = (struct ckpt){.state = CK_FREE, .conn = -1};
}

/* Drops pending grants later than seq (their run is going away). */
static void ckpt_drop_pending_after(uint64_t seq)
{
	for (int i = 0; i < M.nckpts; i++)
		if (M.ckpts[i].state == CK_PENDING && M.ckpts[i].seq > seq)
			ckpt_drop(i);
}

/* A checkpoint granted whose connection has not been seen yet? */
static int ckpt_unregistered(void)
{
	for (int i = 0; i < M.nckpts; i++)
		if (M.ckpts[i].state == CK_PENDING)
			return 1;
	return 0;
}

static int ckpt_pids(pid_t *out, int max)
{
	int n = 0;
	for (int i = 0; i < M.nckpts && n < max; i++)
		if (M.ckpts[i].state != CK_FREE && M.ckpts[i].pid > 0)
			out[n++] = M.ckpts[i].pid;
	return n;
}

/* ---- files ------------------------------------------------------------------------------ */

/* Returns 0, or -1 with errno (ENOSPC: the kernel's watch limit). */
static int monitor_watch_dir(const char *dir)
{
	if (strmap_get(&M.dirs, dir) == 1)
		return 0;
	if (watcher_add_dir(dir) < 0) {
		int e = errno;
		if (e == ENOSPC && !M.watch_limit_noted++)
			out_error("the kernel's inotify watch limit is reached (sysctl "
				  "fs.inotify.max_user_watches); files in further directories are "
				  "polled every %lld ms instead", POLL_NS / 1000000);
		else if (e != ENOSPC)
			out_error("cannot watch '%s': %s", dir, strerror(e));
		errno = e;
		return -1;
	}
	strmap_put(&M.dirs, dir, 1);
	return 0;
}

static void dir_of(const char *path, char *out, size_t len)
{
	snprintf(out, len, "%s", path);
	char *s = strrchr(out, '/');
	if (s == out)
		s[1] = '\0';
	else if (s)
		*s = '\0';
}

/* The file a watched name stands for, made and watched on first sight; -1: not watched. */
static int file_for(const char *named, int *verdict)
{
	int id = strmap_get(&M.names, named);
	if (id >= 0) {
		*verdict = FM_WATCHED;
		return id;
	}
	char real[PATH_MAX];
	struct stat st;
	if (!realpath(named, real) || stat(real, &st) < 0) {
		*verdict = FM_NOT_NOW;
		return -1;
	}
	*verdict = FM_IGNORED;
	if (!S_ISREG(st.st_mode))
		return -1;
	int same = strcmp(real, named) == 0;
	if (!(filter_match(M.o->filter, named) || (!same && filter_match(M.o->filter, real))))
		return -1;
	if (M.o->ignore && (filter_match(M.o->ignore, named) || (!same && filter_match(M.o->ignore, real))))
		return -1;

	id = strmap_get(&M.keys, real);
	if (id < 0) {
		char dir[PATH_MAX];
		dir_of(real, dir, sizeof dir);
		int polled = 0;
		if (monitor_watch_dir(dir) < 0) {
			if (errno != ENOSPC)
				return -1;
			polled = 1;
		}
		if (M.nfiles == M.capfiles) {
			int cap = M.capfiles ? M.capfiles * 2 : 64;
			struct wfile *f = realloc(M.files, (size_t)cap * sizeof *f);
			if (!f)
				return -1;
			M.files = f;
			M.capfiles = cap;
		}
		id = M.nfiles++;
		memset(&M.files[id], 0, sizeof M.files[id]);
		M.files[id].named = strdup(named);
		M.files[id].real = strdup(real);
		M.files[id].seen = st;
		if (polled)
			poll_file(&M.files[id]);
		strmap_put(&M.keys, real, id);
		out_status("watch '%s'", named);
	}
	if (!same) {
		/* Named through a symlink: a change of the link itself matters too. */
		char dir[PATH_MAX], rdir[PATH_MAX], key[PATH_MAX + 256];
		dir_of(named, dir, sizeof dir);
		if (realpath(dir, rdir)) {
			snprintf(key, sizeof key, "%s/%s", strcmp(rdir, "/") ? rdir : "", path_last(named));
			if (strmap_get(&M.keys, key) < 0 && monitor_watch_dir(rdir) == 0)
				strmap_put(&M.keys, key, id);
		}
	}
	strmap_put(&M.names, named, id);
	*verdict = FM_WATCHED;
	return id;
}

/* ---- messages ----------------------------------------------------------------------------- */

static void run_exited(int status);
static int proc_clean(pid_t pid);

static void monitor_set_run(pid_t pid)
{
	M.run = pid;
	M.run_started = mono_ns();
	M.stats.copies++;
	if (M.phase == PH_RESUMING)
		M.phase = PH_IDLE;
	for (int i = 0; i < M.nunclaimed; i++)
		if (M.unclaimed[i].pid == pid) {
			int st = M.unclaimed[i].status;
			M.unclaimed[i] = M.unclaimed[--M.nunclaimed];
			run_exited(st);
			return;
		}
}

static void event_watch(int file, uint64_t seq, pid_t pid)
{
	if (out_events_enabled())
		out_event("watch", json_pack("{s:s, s:I, s:i}", "path", M.files[file].named, "seq",
					     (json_int_t)seq, "pid", (int)pid));
}

static void on_hello(int i, const struct fm_hello *m)
{
	struct conn *c = M.conns[i];
	struct fm_hello_ok ok = M.cfg;
	if (m->h.version != FM_VERSION) {
		ok.status = FM_ERR_VERSION;
		conn_send(i, &ok, sizeof ok);
		return;
	}
	if ((m->flags & FM_HELLO_RESUMED) && M.phase == PH_RESUMING && M.run == 0)
		monitor_set_run(c->pid);
	c->role = c->pid == M.run ? FM_ROLE_RUN : FM_ROLE_SUB;
	ok.role = c->role;
	if (M.any_hot)
		ok.flags |= FM_CFG_ASK;
	if (c->role == FM_ROLE_SUB && M.o->serve_fd >= 0 && M.run)
		M.run_tainted = 1; /* it may write what a later client would miss */
	conn_send(i, &ok, sizeof ok);
}

/* Does the file differ from what the hook saw before the program read it? */
static int changed_since(int file, const struct fm_read *m)
{
	struct stat st;
	if (stat(M.files[file].real, &st) < 0)
		return 1;
	return (uint64_t)st.st_dev != m->dev || (uint64_t)st.st_ino != m->ino || st.st_size != m->size ||
	       (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != m->mtime_ns ||
	       (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec != m->ctime_ns;
}

static void on_read(int i, const struct fm_read *m, size_t len)
{
	struct conn *c = M.conns[i];
	struct fm_read_reply r = {0};
	fm_init(&r.h, FM_READ_REPLY, sizeof r);
	if (len <= offsetof(struct fm_read, path) || ((const char *)m)[len - 1] != '\0' ||
	    m->path[0] != '/') {
		conn_close(i); /* malformed: this is not our hook */
		return;
	}
	int verdict;
	int file = file_for(m->path, &verdict);
	r.verdict = verdict;
	if (file >= 0 && (m->flags & FM_READ_NO_REPLY) && changed_since(file, m))
		debounce_event(M.deb, file, DEB_DONE, 0, mono_ns()); /* before our watch */
	if (file >= 0) {
		r.seq = policy_read(M.pol, file);
		c->role = c->pid == M.run ? FM_ROLE_RUN : FM_ROLE_SUB;
		int k;
		/* helper mode: only checkpoints from before the program wrote anything serve */
		int clean = M.o->serve_fd < 0 || (!M.run_tainted && proc_clean(c->pid));
		/* The hook asks by cost; a file that changed before gets one regardless, so
		 * that every later edit of it resumes from right before its read. */
		int wanted = (m->flags & FM_READ_WANT_CKPT) || M.files[file].hot;
		if (wanted && c->role == FM_ROLE_RUN && M.phase == PH_IDLE && clean &&
		    policy_checkpoint_count(M.pol) < M.o->max_checkpoints && (k = ckpt_new(r.seq, file)) >= 0) {
			r.grant = 1;
			M.ckpts[k].work_ns = mono_ns() - M.lineage_start;
		}
		event_watch(file, r.seq, c->pid);
	}
	if (!(m->flags & FM_READ_NO_REPLY))
		conn_send(i, &r, sizeof r);
	else if (M.spin)
		M.spin_until = mono_ns() + SPIN_NS; /* more are likely to follow */
}

static void on_read_again(int i, const struct fm_read *m, size_t len)
{
	if (len <= offsetof(struct fm_read, path) || ((const char *)m)[len - 1] != '\0')
		return;
	int file = strmap_get(&M.names, m->path);
	if (file >= 0)
		event_watch(file, policy_read(M.pol, file), M.conns[i]->pid);
}

static void on_note(int i, const struct fm_note *m)
{
	int k = m->kind;
	if (k < 0 || k >= 8 || M.noted[k]++)
		return;
	switch (k) {
	case FM_NOTE_THREADS:
		out_status("the program runs %d threads: no checkpoint is taken while it does "
			   "(changes resume from an earlier one, or restart)", m->value);
		break;
	case FM_NOTE_CHILDREN:
		out_status("the program has child processes running: no checkpoint is taken "
			   "while it does");
		break;
	case FM_NOTE_FORK_FAILED:
		out_error("cannot fork a checkpoint: %s", strerror(m->value));
		break;
	}
}

static void on_ckpt_register(int i, const struct fm_ckpt_register *m)
{
	struct conn *c = M.conns[i];
	for (int k = 0; k < M.nckpts; k++) {
		struct ckpt *ck = &M.ckpts[k];
		if (ck->state == CK_PENDING && ck->seq == m->seq && ck->conn < 0) {
			ck->state = CK_READY;
			ck->conn = i;
			c->kind = CONN_CKPT;
			c->ckpt = k;
			policy_checkpoint_add(M.pol, k, ck->seq);
			return;
		}
	}
	conn_close(i); /* a grant of a history already thrown away: the checkpoint exits */
}

static void start_change(void);

static void on_pid(int i, const struct fm_pid *m)
{
	struct conn *c = M.conns[i];
	if (c->kind != CONN_CKPT || c->ckpt < 0)
		return;
	if (m->h.type == FM_CKPT_PID) {
		struct ckpt *ck = &M.ckpts[c->ckpt];
		ck->pid = m->pid;
		if (out_events_enabled())
			out_event("checkpoint", json_pack("{s:s, s:I, s:i}", "path", M.files[ck->file].named,
							  "seq", (json_int_t)ck->seq, "pid", (int)ck->pid));
		return;
	}
	/* FM_RESUMED */
	if (M.phase != PH_RESUMING || M.resume_ckpt != c->ckpt)
		return;
	if (m->pid > 0) {
		if (M.run == 0)
			monitor_set_run(m->pid);
	} else {
		out_error("cannot fork from the checkpoint: %s", strerror(-m->pid));
		ckpt_drop(c->ckpt);
		M.phase = PH_IDLE;
		start_change(); /* same change, earlier checkpoint or restart */
	}
}

static void conn_read(int i)
{
	union {
		struct fm_header h;
		struct fm_hello hello;
		struct fm_read read;
		struct fm_note note;
		struct fm_ckpt_register reg;
		struct fm_pid pid;
		char raw[sizeof(struct fm_read) + 64];
	} m;
	while (M.conns[i]) {
		ssize_t n = recv(M.conns[i]->fd, &m, sizeof m, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			struct conn *c = M.conns[i];
			int ck = c->kind == CONN_CKPT ? c->ckpt : -1;
			conn_close(i);
			if (ck >= 0 && M.ckpts[ck].state != CK_FREE) {
				/* a checkpoint died on its own */
				int resuming = M.phase == PH_RESUMING && M.resume_ckpt == ck && M.run == 0;
				ckpt_drop(ck);
				if (resuming) {
					M.phase = PH_IDLE;
					start_change();
				}
			}
			return;
		}
		if ((size_t)n < sizeof m.h || m.h.magic != FM_MAGIC || m.h.len != (uint32_t)n) {
			conn_close(i);
			return;
		}
		switch (m.h.type) {
		case FM_HELLO:
			if ((size_t)n >= sizeof m.hello)
				on_hello(i, &m.hello);
			break;
		case FM_READ:
			on_read(i, &m.read, (size_t)n);
			break;
		case FM_READ_AGAIN:
			on_read_again(i, &m.read, (size_t)n);
			break;
		case FM_NOTE:
			if ((size_t)n >= sizeof m.note)
				on_note(i, &m.note);
			break;
		case FM_CKPT_REGISTER:
			if ((size_t)n >= sizeof m.reg)
				on_ckpt_register(i, &m.reg);
			break;
		case FM_CKPT_PID:
		case FM_RESUMED:
			if ((size_t)n >= sizeof m.pid)
				on_pid(i, &m.pid);
			break;
		default:
			conn_close(i);
			return;
		}
	}
}

static void on_accept(void)
{
	for (;;) {
		int fd = accept4(M.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		struct ucred cr;
		socklen_t l = sizeof cr;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 || cr.uid != getuid()) {
			if (l == sizeof cr)
				out_error("refused a connection from uid %d (not ours)", (int)cr.uid);
			close(fd);
			continue;
		}
		int i = conn_add(fd, cr.pid);
		if (i < 0) {
			close(fd);
			continue;
		}
		conn_read(i);
	}
}

/* ---- replacing the run -------------------------------------------------------------------- */

static struct proc_set victims;

/* Has the kernel's pid counter wrapped since we started? Then a descendant may have a
 * smaller pid than ours, and only a full scan finds it. */
static int pids_wrapped(void)
{
	static int wrapped;
	static long last;
	if (wrapped)
		return 1;
	char buf[32] = "";
	int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	long now = n > 0 ? atol(buf) : -1;
	if (now < 0 || now < M.self || now < last)
		wrapped = 1;
	last = now;
	return wrapped;
}

/* The run and everything it started: the monitor's descendants but the checkpoints. */
static int find_victims(void)
{
	pid_t keep[4096];
	int nkeep = ckpt_pids(keep, 4096);
	return proc_descendants(M.self, pids_wrapped() ? 0 : M.self, keep, nkeep, &victims);
}

static void arm_timer(void);

static const char *file_name(int id)
{
	return id >= 0 && id < M.nfiles ? M.files[id].named : "?";
}

static void finish_kill(void)
{
	struct policy_decision *d = &M.dec;
	int dropped[4096];
	M.run = 0;
	if (d->action == POLICY_RESUME) {
		int n = policy_rollback(M.pol, d->seq, dropped, 4096);
		for (int k = 0; k < n && k < 4096; k++)
			ckpt_drop(dropped[k]);
		ckpt_drop_pending_after(d->seq);
		struct ckpt *ck = &M.ckpts[d->ckpt];
		struct fm_resume r = {0};
		fm_init(&r.h, FM_RESUME, sizeof r);
		r.monitor_pid = M.self;
		r.job_pgid = M.pgid;
		if (M.o->clear)
			out_clear_screen();
		if (ck->conn >= 0)
			conn_send(ck->conn, &r, sizeof r);
		if (ck->conn < 0) {
			ckpt_drop(d->ckpt);
			M.phase = PH_IDLE;
			start_change();
			return;
		}
		M.phase = PH_RESUMING;
		M.resume_ckpt = d->ckpt;
		M.resume_deadline = mono_ns() + 5000000000ll;
		M.stats.resumes++;
		M.stats.saved_ns += ck->work_ns;
		M.lineage_start = mono_ns() - ck->work_ns;
	} else {
		int n = policy_reset(M.pol, dropped, 4096);
		for (int k = 0; k < n && k < 4096; k++)
			ckpt_drop(dropped[k]);
		ckpt_drop_pending_after(0);
		if (M.o->clear)
			out_clear_screen();
		pid_t pid = monitor_spawn();
		M.stats.restarts++;
		if (pid < 0) {
			spawn_error(pid);
		} else {
			M.run = pid;
			M.stats.copies++;
			M.lineage_start = M.run_started;
		}
		M.phase = PH_IDLE;
	}
	arm_timer();
}

/* Decides what the completed change M.changed calls for, and starts doing it. */
static void start_change(void)
{
	if (M.phase != PH_IDLE) {
		M.pending_change = 1;
		return;
	}
	M.pending_change = 0;
	for (int k = 0; k < M.nchanged; k++)
		M.files[M.changed[k]].hot = M.any_hot = 1;
	policy_decide(M.pol, M.changed, M.nchanged, &M.dec);
	if (M.dec.action == POLICY_NONE) {
		M.nchanged = 0;
		return;
	}
	if (M.o->serve_fd >= 0) {
		/* helper mode: what was taken after the first read of the file is stale */
		int dropped[4096];
		int n = policy_rollback(M.pol, M.dec.first, dropped, 4096);
		for (int k = 0; k < n && k < 4096; k++)
			ckpt_drop(dropped[k]);
		ckpt_drop_pending_after(M.dec.first);
		if (M.run)
			M.run_tainted = 1;
		M.nchanged = 0;
		return;
	}
	const char *what = file_name(M.dec.first_file);
	char others[64] = "";
	if (M.nchanged > 1)
		snprintf(others, sizeof others, " (and %d more)", M.nchanged - 1);
	if (out_events_enabled()) {
		json_t *paths = json_array();
		for (int k = 0; k < M.nchanged; k++)
			json_array_append_new(paths, json_string(file_name(M.changed[k])));
		out_event("change", json_pack("{s:o}", "paths", paths));
	}
	if (M.dec.action == POLICY_RESUME) {
		int from = M.ckpts[M.dec.ckpt].file;
		if (from == M.dec.first_file)
			out_status("file '%s'%s changed, resuming from it", what, others);
		else
			out_status("file '%s'%s changed, resuming from '%s'", what, others, file_name(from));
		if (out_events_enabled())
			out_event("resume", json_pack("{s:s, s:I, s:s}", "path", file_name(from), "seq",
						      (json_int_t)M.dec.seq, "changed", what));
	} else {
		out_status("file '%s'%s changed, restarting", what, others);
		if (out_events_enabled()) {
			char why[PATH_MAX + 64];
			snprintf(why, sizeof why, "no checkpoint before the first read of '%s'", what);
			out_event("restart", json_pack("{s:s}", "reason", why));
		}
	}
	M.nchanged = 0;
	M.phase = PH_KILLING;
	int nv = find_victims();
	/* What the replaced run and its processes say from now on belongs to a history
	 * being thrown away: their connections close (their hooks go quiet). */
	for (int i = 0; i < M.nconns; i++) {
		struct conn *c = M.conns[i];
		if (!c || c->kind != CONN_PROC)
			continue;
		int victim = c->pid == M.run;
		for (int k = 0; k < victims.n && !victim; k++)
			victim = victims.pids[k] == c->pid;
		if (victim) {
			conn_read(i); /* what it said before: still its history */
			if (M.conns[i])
				conn_close(i);
		}
	}
	if (nv <= 0) {
		finish_kill();
		return;
	}
	proc_signal(&victims, SIGTERM);
	proc_signal(&victims, SIGCONT);
	M.kill_deadline = mono_ns() + M.o->grace_ns;
	arm_timer();
}

/* ---- helper mode: serving clients from clean checkpoints ------------------------------------ */
/*
 * A session of the helper keeps one command (argv and cwd) warm. It serves each client
 * invocation from the deepest clean checkpoint: one taken before the program wrote
 * anything (no bytes written, no child reaped), so the client still sees everything the
 * command prints. A change to a file the program read drops the checkpoints taken after
 * that read; the copy that runs for a client is never interrupted by it.
 */

__attribute__((noreturn)) static void monitor_exit(int sig, int status);

static void request_free(struct request *rq)
{
	for (int k = 0; k < 4; k++)
		if (rq->fds[k] >= 0)
			close(rq->fds[k]);
	free(rq->env);
	rq->env = NULL;
}

/* Has process pid not written anything yet? (/proc/PID/io's wchar counts the bytes it
 * wrote, to any file; the hook's own messages are sends, which it does not count.) What
 * its subprocesses write is not counted: a subprocess that shows up taints the run
 * instead (on_hello). */
static int proc_clean(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	long long wchar = -1;
	while (fgets(buf, sizeof buf, f))
		if (sscanf(buf, "wchar: %lld", &wchar) == 1)
			break;
	fclose(f);
	return wchar == 0;
}

static void client_close(void)
{
	if (M.client < 0)
		return;
	epoll_ctl(M.ep, EPOLL_CTL_DEL, M.client, NULL);
	close(M.client);
	M.client = -1;
}

static void client_error(int conn, const char *msg)
{
	struct fm_helper_error e = {0};
	fm_init(&e.h, FM_HELPER_ERROR, sizeof e);
	snprintf(e.message, sizeof e.message, "%s", msg);
	send(conn, &e, sizeof e, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void serve_next(void);

/* The run of the client being served ended with wait status st. */
static void serve_done(int st)
{
	if (M.client >= 0) {
		struct fm_helper_exit x = {0};
		fm_init(&x.h, FM_HELPER_EXIT, sizeof x);
		x.status = st;
		send(M.client, &x, sizeof x, MSG_NOSIGNAL | MSG_DONTWAIT);
		client_close();
	}
	M.idle_since = mono_ns();
	serve_next();
}

/* Resumes checkpoint k for rq: its descriptors and environment go with RESUME. */
static int serve_resume(int k, const struct request *rq)
{
	struct ckpt *ck = &M.ckpts[k];
	if (ck->conn < 0 || !M.conns[ck->conn])
		return -1;
	size_t len = offsetof(struct fm_resume, data) + rq->envlen;
	if (len > FM_MSG_MAX - 1)
		return -1;
	struct fm_resume *r = calloc(1, len);
	if (!r)
		return -1;
	fm_init(&r->h, FM_RESUME, (uint32_t)len);
	r->monitor_pid = M.self;
	r->job_pgid = M.pgid;
	r->flags = FM_RESUME_CLIENT;
	r->envc = rq->envc;
	memcpy(r->data, rq->env, rq->envlen);
	ssize_t w = fm_send_fds(M.conns[ck->conn]->fd, r, len, rq->fds, 4);
	free(r);
	return w == (ssize_t)len ? 0 : -1;
}

static void serve_next(void)
{
	if (M.run || M.phase != PH_IDLE || M.client >= 0 || M.nqueue == 0)
		return;
	struct request rq = M.queue[0];
	memmove(M.queue, M.queue + 1, (size_t)--M.nqueue * sizeof *M.queue);
	M.client = rq.conn;
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)EV_CLIENT << 32};
	epoll_ctl(M.ep, EPOLL_CTL_ADD, M.client, &ev);
	M.run_tainted = 0;
	for (;;) {
		int best = -1;
		for (int k = 0; k < M.nckpts; k++)
			if (M.ckpts[k].state == CK_READY && M.ckpts[k].conn >= 0 &&
			    (best < 0 || M.ckpts[k].seq > M.ckpts[best].seq))
				best = k;
		if (best < 0)
			break;
		int dropped[4096];
		int n = policy_rollback(M.pol, M.ckpts[best].seq, dropped, 4096);
		for (int k = 0; k < n && k < 4096; k++)
			ckpt_drop(dropped[k]);
		ckpt_drop_pending_after(M.ckpts[best].seq);
		if (serve_resume(best, &rq) == 0) {
			M.phase = PH_RESUMING;
			M.resume_ckpt = best;
			M.resume_deadline = mono_ns() + 5000000000ll;
			M.stats.resumes++;
			M.stats.saved_ns += M.ckpts[best].work_ns;
			M.lineage_start = mono_ns() - M.ckpts[best].work_ns;
			request_free(&rq);
			arm_timer();
			return;
		}
		ckpt_drop(best); /* gone: try the next one */
	}
	int dropped[4096];
	int n = policy_reset(M.pol, dropped, 4096);
	for (int k = 0; k < n && k < 4096; k++)
		ckpt_drop(dropped[k]);
	ckpt_drop_pending_after(0);
	pid_t pid = monitor_spawn_for(&rq);
	request_free(&rq);
	if (pid < 0) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s: %s", M.o->argv[0], strerror(-pid));
		client_error(M.client, msg);
		client_close();
		serve_next();
		return;
	}
	M.run = pid;
	M.stats.copies++;
	M.lineage_start = M.run_started;
}

/* A request handed over by the helper: HELPER_RUN, with the client's connection, cwd,
 * 0, 1, 2 as descriptors. */
static void on_serve(void)
{
	static char buf[FM_MSG_MAX];
	for (;;) {
		int fds[FM_MAX_FDS], nfds;
		ssize_t n = fm_recv_fds(M.o->serve_fd, buf, sizeof buf, fds, &nfds, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			monitor_exit(0, 0); /* the helper is gone */
		const struct fm_helper_run *m = (const void *)buf;
		if (nfds != 5 || (size_t)n < sizeof *m || m->h.magic != FM_MAGIC || m->h.type != FM_HELPER_RUN) {
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			continue;
		}
		/* skip argv (the session's own), keep the environment */
		const char *p = m->data, *end = buf + n;
		for (uint32_t i = 0; i < m->argc && p < end; i++)
			p += strnlen(p, (size_t)(end - p)) + 1;
		struct request rq = {.conn = fds[0], .envc = m->envc};
		memcpy(rq.fds, fds + 1, 4 * sizeof(int));
		rq.envlen = p < end ? (size_t)(end - p) : 0;
		rq.env = malloc(rq.envlen + 1);
		struct request *q = realloc(M.queue, (size_t)(M.nqueue + 1) * sizeof *q);
		if (!rq.env || !q) {
			client_error(rq.conn, "the helper is out of memory");
			close(rq.conn);
			request_free(&rq);
			continue;
		}
		memcpy(rq.env, p, rq.envlen);
		rq.env[rq.envlen] = '\0';
		M.queue = q;
		M.queue[M.nqueue++] = rq;
	}
}

/* The client being served: a signal to pass on, or gone (then so is its command). */
static void on_client(void)
{
	for (;;) {
		struct fm_helper_signal m;
		ssize_t n = recv(M.client, &m, sizeof m, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n == (ssize_t)sizeof m && m.h.magic == FM_MAGIC && m.h.type == FM_HELPER_SIGNAL &&
		    m.signo > 0 && m.signo < 65) {
			/* as a terminal would: to the command and everything it started */
			if (find_victims() > 0)
				proc_signal(&victims, m.signo);
			continue;
		}
		client_close();
		if (find_victims() > 0) {
			proc_signal(&victims, SIGTERM);
			proc_signal(&victims, SIGCONT);
		}
		return;
	}
}

/* ---- children ----------------------------------------------------------------------------------- */

__attribute__((noreturn)) static void monitor_exit(int sig, int status);

static void run_exited(int st)
{
	M.run = 0;
	if (out_events_enabled()) {
		double ms = (double)(mono_ns() - M.run_started) / 1e6;
		json_t *f = WIFSIGNALED(st) ? json_pack("{s:s, s:f, s:b}", "signal",
							sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?",
							"run_ms", ms, "replaced", M.phase != PH_IDLE)
					    : json_pack("{s:i, s:f, s:b}", "status", WEXITSTATUS(st), "run_ms", ms,
							"replaced", M.phase != PH_IDLE);
		out_event("exit", f);
	}
	if (M.o->serve_fd >= 0) {
		serve_done(st);
		return;
	}
	if (M.phase != PH_IDLE)
		return; /* we are replacing it: no news */
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		out_status("exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		out_status("killed by SIG%s%s", sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?",
			   WCOREDUMP(st) ? " (core dumped)" : "");
	if (M.nfiles == 0 && policy_checkpoint_count(M.pol) == 0) {
		/* Nothing was read that the filters match: waiting would be for nothing. */
		out_status("no file read matched the filters; nothing to watch");
		monitor_exit(0, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
}

static void reap(void)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG | __WALL)) > 0) {
		if (pid == M.run) {
			run_exited(st);
			continue;
		}
		int known = 0;
		for (int i = 0; i < M.nckpts; i++)
			if (M.ckpts[i].state != CK_FREE && M.ckpts[i].pid == pid) {
				known = 1;
				int resuming = M.phase == PH_RESUMING && M.resume_ckpt == i && M.run == 0;
				ckpt_drop(i);
				if (resuming) {
					M.phase = PH_IDLE;
					start_change();
				}
			}
		if (!known && M.phase == PH_RESUMING && M.run == 0) {
			/* maybe the new run, ended before we learnt its pid */
			if (M.nunclaimed == 32)
				M.nunclaimed = 0;
			M.unclaimed[M.nunclaimed].pid = pid;
			M.unclaimed[M.nunclaimed++].status = st;
		}
	}
	if (M.phase == PH_KILLING && find_victims() == 0)
		finish_kill();
}

/* ---- the end ---------------------------------------------------------------------------------------- */

static void monitor_summary(void)
{
	if (!M.stats.copies)
		return;
	out_status("%u cop%s run, %u resume%s, %u restart%s; %.2f s of start-up work skipped",
		   M.stats.copies, M.stats.copies == 1 ? "y" : "ies", M.stats.resumes,
		   M.stats.resumes == 1 ? "" : "s", M.stats.restarts, M.stats.restarts == 1 ? "" : "s",
		   (double)M.stats.saved_ns / 1e9);
	if (out_events_enabled())
		out_event("end", json_pack("{s:i, s:i, s:i, s:f}", "copies", (int)M.stats.copies, "resumes",
					   (int)M.stats.resumes, "restarts", (int)M.stats.restarts, "saved_ms",
					   (double)M.stats.saved_ns / 1e6));
}

__attribute__((noreturn)) static void monitor_exit(int sig, int status)
{
	for (int i = 0; i < M.nckpts; i++)
		ckpt_drop(i);
	int64_t deadline = mono_ns() + M.o->grace_ns;
	int hard = 0;
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		while (waitpid(-1, NULL, WNOHANG | __WALL) > 0)
			;
		pid_t keep[1];
		if (proc_descendants(M.self, 0, keep, 0, &victims) <= 0) /* the end: a full scan */
			break;
		int64_t now = mono_ns();
		if (!hard) {
			proc_signal(&victims, SIGTERM);
			proc_signal(&victims, SIGCONT);
		}
		if (now >= deadline) {
			proc_signal(&victims, SIGKILL);
			hard = 1;
			deadline = now + 2000000000ll;
		}
		struct timespec ts = {0, 20000000}; /* wake on SIGCHLD, or look again */
		sigtimedwait(&chld, NULL, &ts);
	}
	while (waitpid(-1, NULL, WNOHANG | __WALL) > 0)
		;
	watcher_stop();
	monitor_summary();
	out_drain(2000);
	if (sig) {
		signal(sig, SIG_DFL);
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, sig);
		sigprocmask(SIG_UNBLOCK, &s, NULL);
		kill(getpid(), sig);
		_exit(128 + sig);
	}
	_exit(status);
}

/* ---- the loop ------------------------------------------------------------------------------------- */

/* Helper mode: a session nobody used for the idle timeout ends. */
static int64_t serve_idle_deadline(void)
{
	if (M.o->serve_fd < 0 || M.run || M.phase != PH_IDLE || M.client >= 0 || M.nqueue)
		return -1;
	return M.idle_since + M.o->idle_ns;
}

static void arm_timer(void)
{
	int64_t at = -1;
	if (M.phase == PH_IDLE)
		at = M.deb_due ? M.deb_retry : debounce_deadline(M.deb);
	else if (M.phase == PH_KILLING)
		at = M.kill_deadline;
	else if (M.phase == PH_RESUMING)
		at = M.resume_deadline;
	if (M.npolled && (at < 0 || M.next_poll < at))
		at = M.next_poll;
	int64_t idle = serve_idle_deadline();
	if (idle >= 0 && (at < 0 || idle < at))
		at = idle;
	struct itimerspec its = {0};
	if (at >= 0) {
		if (at <= 0)
			at = 1;
		its.it_value.tv_sec = at / 1000000000;
		its.it_value.tv_nsec = at % 1000000000;
	}
	timerfd_settime(M.tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* The fallback past the watch limit: a file whose identity, size or time changed was
 * saved (done), one that vanished is gone; the debounce takes it from there. */
static void poll_file(struct wfile *f)
{
	f->polled = 1;
	if (!M.npolled++)
		M.next_poll = mono_ns() + POLL_NS;
}

static void poll_files(int64_t now)
{
	M.next_poll = now + POLL_NS;
	for (int i = 0; i < M.nfiles; i++) {
		struct wfile *f = &M.files[i];
		if (!f->polled)
			continue;
		/* Watching is better than polling: try again (the limit may have room now, or
		 * the directory came back). */
		char d[PATH_MAX];
		dir_of(f->real, d, sizeof d);
		if (monitor_watch_dir(d) == 0) {
			f->polled = 0;
			M.npolled--;
		}
		struct stat st;
		if (stat(f->real, &st) < 0) {
			if (!f->gone)
				debounce_event(M.deb, i, DEB_GONE, 0, now);
			f->gone = 1;
			continue;
		}
		if (f->gone || st.st_ino != f->seen.st_ino || st.st_size != f->seen.st_size ||
		    st.st_mtim.tv_sec != f->seen.st_mtim.tv_sec || st.st_mtim.tv_nsec != f->seen.st_mtim.tv_nsec ||
		    st.st_ctim.tv_nsec != f->seen.st_ctim.tv_nsec)
			debounce_event(M.deb, i, DEB_DONE, st.st_size == 0, now);
		f->gone = 0;
		f->seen = st;
	}
}

static void on_watcher_records(void);

/* How long a complete set of saves may wait for events still on their way. */
#define POSTPONE_MAX_NS 50000000ll

/* More runnable tasks than processors? Then a save's files come further apart (the
 * writer waits for a processor between them), and the quiet window widens. */
static int saturated(void)
{
	char buf[128];
	int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	int running = 0;
	if (sscanf(buf, "%*f %*f %*f %d/", &running) != 1)
		return 0;
	static long cpus;
	if (!cpus)
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return running - 1 > cpus; /* ourselves excluded */
}

static void on_timer(void)
{
	uint64_t ticks;
	ssize_t r = read(M.tfd, &ticks, sizeof ticks);
	(void)r;
	int64_t now = mono_ns();
	int64_t idle = serve_idle_deadline();
	if (idle >= 0 && now >= idle)
		monitor_exit(0, 0);
	if (M.npolled && now >= M.next_poll)
		poll_files(now);
	if (M.phase == PH_KILLING && now >= M.kill_deadline) {
		if (find_victims() <= 0) {
			finish_kill();
			return;
		}
		proc_signal(&victims, SIGKILL);
		M.kill_deadline = now + M.o->grace_ns;
	} else if (M.phase == PH_RESUMING && now >= M.resume_deadline) {
		out_error("the checkpoint did not resume; restarting");
		ckpt_drop(M.resume_ckpt);
		M.phase = PH_IDLE;
		M.dec.action = POLICY_RESTART;
		M.phase = PH_KILLING;
		finish_kill();
		return;
	}
	if (M.phase == PH_IDLE && debounce_deadline(M.deb) >= 0 && now >= debounce_deadline(M.deb)) {
		/* Before a set of saves counts as complete, take in every event already on its
		 * way: on a busy machine the second file of a save can be a few ms behind. */
		on_watcher_records();
		int64_t wait = saturated() ? 4 * M.o->delay_ns : 0;
		if ((watcher_busy() || now - debounce_last(M.deb) < wait) &&
		    (!M.deb_due || now - M.deb_due < POSTPONE_MAX_NS)) {
			if (!M.deb_due)
				M.deb_due = now;
			M.deb_retry = now + 1000000;
			return;
		}
	}
	M.deb_due = 0;
	if (M.phase == PH_IDLE) {
		int files[64];
		int n = debounce_poll(M.deb, now, files, 64);
		for (int k = 0; k < n && M.nchanged < 64; k++)
			M.changed[M.nchanged++] = files[k];
		if (M.nchanged)
			start_change();
	}
	arm_timer();
}

/* A watched directory went away (deleted, moved): its files are polled until it can be
 * watched again (see poll_files), and count as gone meanwhile. */
static void dir_lost(const char *dir, int64_t now)
{
	strmap_put(&M.dirs, dir, 0);
	char d[PATH_MAX];
	for (int i = 0; i < M.nfiles; i++) {
		struct wfile *f = &M.files[i];
		dir_of(f->real, d, sizeof d);
		if (f->polled || strcmp(d, dir) != 0)
			continue;
		poll_file(f);
		f->gone = 1;
		debounce_event(M.deb, i, DEB_GONE, 0, now);
	}
}

static void on_fsevent(const struct fsevent *ev, int64_t now)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		out_status("file-system events were lost; treating every file as changed");
		for (int i = 0; i < M.nfiles; i++)
			debounce_event(M.deb, i, DEB_DONE, 0, now);
		return;
	}
	if ((ev->mask & IN_IGNORED) && strmap_get(&M.dirs, ev->path) == 1) {
		dir_lost(ev->path, now);
		return;
	}
	int id = strmap_get(&M.keys, ev->path);
	if (id < 0)
		return;
	enum deb_kind kind;
	if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
		kind = DEB_DONE;
	else if (ev->mask & (IN_MODIFY | IN_CREATE))
		kind = DEB_WRITING;
	else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
		kind = DEB_GONE;
	else
		return;
	int empty = 0;
	if (kind == DEB_DONE) {
		struct stat st;
		empty = stat(M.files[id].real, &st) == 0 && st.st_size == 0;
	}
	debounce_event(M.deb, id, kind, empty, now);
}

static void on_watcher_records(void)
{
	static struct fsevent ev;
	int64_t now = mono_ns();
	int r;
	while ((r = watcher_read(M.wfd, &ev)) == 1)
		on_fsevent(&ev, now);
	if (r < 0) {
		out_error("the watcher thread stopped");
		monitor_exit(0, 1);
	}
}

static void on_watcher(void)
{
	on_watcher_records();
	arm_timer();
}

static void on_signal(void)
{
	struct signalfd_siginfo si;
	while (read(M.sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap();
			break;
		case SIGINT:
		case SIGTERM:
		case SIGHUP:
		case SIGQUIT:
			monitor_exit((int)si.ssi_signo, 0);
		}
	}
	if (M.phase == PH_IDLE && M.pending_change)
		start_change();
	arm_timer();
}

static void hints_setup(void)
{
	struct fm_hello_ok *c = &M.cfg;
	memset(c, 0, sizeof *c);
	fm_init(&c->h, FM_HELLO_OK, sizeof *c);
	c->status = FM_OK;
	/* The first checkpoints are cheap insurance (about a millisecond each); past them, a
	 * checkpoint must be preceded by ten times its own cost in work, so that start-up
	 * overhead stays a bounded fraction whatever the number of files. */
	c->free_checkpoints = 3;
	if (!getcwd(c->project, sizeof c->project))
		c->project[0] = '\0';
	c->gap_factor = 10;
	c->min_gap_ns = 2000000;
	c->max_checkpoints = (uint32_t)M.o->max_checkpoints;
	if (M.o->every)
		c->flags |= FM_CFG_EVERY;
	/* A re-read changes nothing for the resume rule (a file resumes from before its first
	 * read): only the events file wants to hear of it. */
	if (out_events_enabled())
		c->flags |= FM_CFG_REREADS;
	int n = filter_count(M.o->filter);
	if (n > FM_MAX_HINTS) {
		c->flags |= FM_CFG_ALL_CANDIDATES;
		return;
	}
	for (int i = 0; i < n; i++) {
		struct filter_hint h;
		filter_hint(M.o->filter, i, &h);
		if (!h.prefix[0] && !h.suffix[0]) {
			c->flags |= FM_CFG_ALL_CANDIDATES;
			return;
		}
		snprintf(c->hints[i].prefix, FM_HINT_LEN, "%s", h.prefix);
		snprintf(c->hints[i].suffix, FM_HINT_LEN, "%s", h.suffix);
	}
	c->nhints = (uint32_t)n;
}

static int listen_socket(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(M.sockname, sizeof M.sockname, "@forkmon.%d.%ld", (int)M.self, (long)(ts.tv_nsec ^ ts.tv_sec));
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t l = strlen(M.sockname);
	memcpy(a.sun_path + 1, M.sockname + 1, l - 1);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l)) < 0 ||
	    listen(s, 512) < 0) {
		out_error("cannot create the session socket: %s", strerror(errno));
		exit(1);
	}
	return s;
}

/* Output that waits for a slow reader is written when its descriptor takes more. */
static void out_watch(void)
{
	int fds[4], ids[4], want[4] = {0};
	int n = out_pending(fds, ids, 4);
	for (int k = 0; k < n; k++)
		want[ids[k]] = fds[k] + 1;
	for (int id = 0; id < 4; id++) {
		if (want[id] && !M.out_registered[id]) {
			struct epoll_event ev = {.events = EPOLLOUT,
						 .data.u64 = ((uint64_t)EV_OUT << 32) | (uint32_t)id};
			if (epoll_ctl(M.ep, EPOLL_CTL_ADD, want[id] - 1, &ev) == 0)
				M.out_registered[id] = want[id];
		} else if (!want[id] && M.out_registered[id]) {
			epoll_ctl(M.ep, EPOLL_CTL_DEL, M.out_registered[id] - 1, NULL);
			M.out_registered[id] = 0;
		}
	}
}

static void epoll_add(int fd, int kind)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)kind << 32};
	epoll_ctl(M.ep, EPOLL_CTL_ADD, fd, &ev);
}

void monitor_run(struct monitor_opts *o)
{
	M.o = o;
	M.self = getpid();
	M.pgid = getpgrp();
	M.run = o->first_run;
	/* Signals are read from a signalfd: block them before the watcher thread exists,
	 * or the kernel may hand them to that thread. */
	signal(SIGPIPE, SIG_IGN);
	/* A shell starts background jobs with SIGINT and SIGQUIT ignored; forkmon still
	 * ends its session on them (the runs get the dispositions we were given). */
	sigaction(SIGINT, NULL, &M.orig_int);
	sigaction(SIGQUIT, NULL, &M.orig_quit);
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);
	sigprocmask(SIG_BLOCK, &sigs, &M.orig_mask);
	/* The watcher next: libinotifytools' select() aborts on descriptors >= 1024. */
	M.wfd = watcher_start();
	if (M.wfd < 0) {
		out_error("cannot start watching files: %s", strerror(errno));
		if (o->first_run > 0)
			kill(o->first_run, SIGKILL);
		exit(1);
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	M.sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	M.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	M.ep = epoll_create1(EPOLL_CLOEXEC);
	if (o->listen_fd >= 0) {
		M.lfd = o->listen_fd;
		fcntl(M.lfd, F_SETFD, FD_CLOEXEC);
		fcntl(M.lfd, F_SETFL, fcntl(M.lfd, F_GETFL) | O_NONBLOCK);
		struct sockaddr_un a;
		socklen_t l = sizeof a;
		if (getsockname(M.lfd, (struct sockaddr *)&a, &l) == 0 && l > offsetof(struct sockaddr_un, sun_path) + 1) {
			size_t n = l - offsetof(struct sockaddr_un, sun_path);
			M.sockname[0] = '@';
			memcpy(M.sockname + 1, a.sun_path + 1, n - 1);
			M.sockname[n] = '\0';
		}
	} else {
		M.lfd = listen_socket();
	}
	if (M.sfd < 0 || M.tfd < 0 || M.ep < 0) {
		out_error("cannot set up the event loop: %s", strerror(errno));
		exit(1);
	}
	M.pol = policy_new();
	struct debounce_cfg dc = {.quiet_ns = o->delay_ns, .empty_grace_ns = 400000000, .stale_ns = 1000000000};
	M.deb = debounce_new(&dc);
	hints_setup();
	monitor_build_env();
	epoll_add(M.lfd, EV_LISTEN);
	epoll_add(M.sfd, EV_SIGNAL);
	epoll_add(M.tfd, EV_TIMER);
	epoll_add(M.wfd, EV_WATCHER);

	out_start();
	M.client = -1;
	if (o->serve_fd >= 0) {
		/* helper mode: runs start when clients ask */
		fcntl(o->serve_fd, F_SETFD, FD_CLOEXEC);
		epoll_add(o->serve_fd, EV_SERVE);
		M.idle_since = mono_ns();
		arm_timer();
	} else if (M.run == 0) {
		pid_t pid = monitor_spawn();
		if (pid < 0) {
			spawn_error(pid);
			watcher_stop();
			out_drain(1000);
			exit(pid == -ENOENT ? 127 : 126);
		}
		M.run = pid;
	}
	M.run_started = M.lineage_start = mono_ns();
	M.stats.copies = o->serve_fd < 0;
	if (out_events_enabled() && o->serve_fd < 0) {
		json_t *argv = json_array();
		for (char **a = o->argv; *a; a++)
			json_array_append_new(argv, json_string(*a));
		out_event("start", json_pack("{s:o, s:i, s:i}", "command", argv, "pid", (int)M.run, "monitor",
					     (int)M.self));
	}

	/*
	 * While a program reports reads it does not wait for (start-up: a module after the
	 * next), the loop polls for a short while before it sleeps: a message to a monitor
	 * that is not asleep costs its sender no wake-up (on a VM, an inter-processor
	 * interrupt). Only with a processor to spare, and never longer than SPIN_NS after
	 * the last such message.
	 */
	M.spin = sysconf(_SC_NPROCESSORS_ONLN) > 1;
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(M.ep, evs, 64, M.spin_until ? 0 : -1);
		if (n == 0 && M.spin_until) {
			if (mono_ns() >= M.spin_until)
				M.spin_until = 0;
			continue;
		}
		if (n < 0 && errno != EINTR) {
			out_error("epoll: %s", strerror(errno));
			monitor_exit(0, 1);
		}
		/* What processes said comes before what happened to them. */
		int sig = 0, timer = 0, watch = 0, serve = 0;
		if (ckpt_unregistered())
			on_accept(); /* a run's checkpoint registers before the run goes on */
		for (int k = 0; k < n; k++) {
			int kind = (int)(evs[k].data.u64 >> 32);
			if (kind == EV_LISTEN)
				on_accept();
			else if (kind == EV_CONN)
				conn_read((int)(uint32_t)evs[k].data.u64);
			else if (kind == EV_SIGNAL)
				sig = 1;
			else if (kind == EV_TIMER)
				timer = 1;
			else if (kind == EV_WATCHER)
				watch = 1;
			else if (kind == EV_OUT)
				out_on_writable((int)(uint32_t)evs[k].data.u64);
			else if (kind == EV_SERVE)
				serve = 1;
			else if (kind == EV_CLIENT && M.client >= 0)
				on_client();
		}
		if (ckpt_unregistered())
			on_accept(); /* checkpoints registered by a run that has moved on */
		if (watch)
			on_watcher();
		if (sig)
			on_signal();
		if (timer)
			on_timer();
		if (serve)
			on_serve();
		serve_next();
		out_watch();
		arm_timer(); /* every turn: a phase may have changed what the timer waits for */
	}
}
