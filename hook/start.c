/*
 * hook/start.c — the hook's constructor, and bare mode. Runs inside the user's program
 * when it is loaded (LD_PRELOAD), before main(); the fork handler in every child the
 * program forks.
 *
 * Bare mode: when FORKMON_SOCKET is not set, the constructor starts a session itself:
 * it forks, the original process execs the monitor (so the shell keeps waiting on the
 * monitor, which is the pid it started) and the child continues as the program.
 * `forkmon run` sets FORKMON_SOCKET and execs the program: both paths are one path.
 *
 * Serve mode: a helper session's run takes a checkpoint here, before the program's code
 * (start_serve_checkpoint; helper/startck.c decides when it may serve).
 */
#include "hook.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* This thread took the lock for its fork (start_atfork_prepare). */
static __thread int start_fork_locked;

/* Before the program forks: the lock, so that no other thread is halfway through the
 * state the child copies. Not when this thread is in the hook already (our own forks,
 * a signal handler's): it may hold the lock itself. */
static void start_atfork_prepare(void)
{
	start_fork_locked = hk_enter();
}

static void start_atfork_parent(void)
{
	if (start_fork_locked) {
		start_fork_locked = 0;
		hk_leave();
	}
}

static void start_atfork_child(void)
{
	/* A forked child of the program: its own process, its own connection later. The
	 * inherited descriptor belongs to the parent's conversation; leave it alone. */
	hk.pid = (pid_t)syscall(SYS_getpid);
	hk.fd = -1;
	hk.noted_threads = hk.noted_children = 0;
	if (hk.configured)
		hk.cfg.role = FM_ROLE_SUB; /* until the monitor says otherwise */
	spacing_reconfigured(&hk.spacing);
	/* The only thread here: whoever held the lock is not (a fork from inside the hook
	 * goes on as if it still held it, and releases it). */
	hk_lock_word = 0;
	candidate_cwd_reset_lock();
	if (start_fork_locked) {
		start_fork_locked = 0;
		hk_busy = 0;
	}
}

static int start_set_addr(const char *name)
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
static int start_monitor_path(char *out, size_t len)
{
	const char *env = getenv("FORKMON_MONITOR");
	if (env && *env) {
		snprintf(out, len, "%s", env);
		return 0;
	}
	Dl_info info;
	if (!dladdr((void *)&start_monitor_path, &info) || !info.dli_fname)
		return -1;
	snprintf(out, len, "%s", info.dli_fname);
	char *slash = strrchr(out, '/');
	if (!slash)
		return -1;
	snprintf(slash + 1, len - (size_t)(slash + 1 - out), "forkmon");
	return 0;
}

/* The monitor's environment: the program's, without LD_PRELOAD (or the monitor would
 * load this hook, and start bare mode in its turn). Static: no allocation. */
static char **start_monitor_env(char **envp)
{
	static char *menv[8192];
	int k = 0;
	for (char **e = envp; e && *e && k < 8191; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) != 0)
			menv[k++] = *e;
	menv[k] = NULL;
	return menv;
}

/*
 * Is mon forkmon's monitor, of our protocol? Once the original process has exec'd it,
 * it is too late to run the program without it (a FORKMON_MONITOR=/bin/false would end
 * the shell's job at once and take the waiting program with it). So it is asked first:
 * `mon --bare-probe FD` writes one line on FD (main.c); a vfork, about a millisecond.
 */
static int start_probe(const char *mon, char **envp)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	p[0] = real_raw_high(p[0], 1);
	p[1] = real_raw_high(p[1], 1);
	char fdbuf[16], want[32], got[32];
	snprintf(fdbuf, sizeof fdbuf, "%d", p[1]);
	snprintf(want, sizeof want, "forkmon monitor %d\n", FM_VERSION);
	char *pargv[] = {"forkmon", "--bare-probe", fdbuf, NULL};
	char **penv = start_monitor_env(envp);
	pid_t pid = p[0] < 0 || p[1] < 0 ? -1 : vfork();
	if (pid == 0) {
		fcntl(p[1], F_SETFD, 0); /* our descriptor table is our own, even in a vfork child */
		execve(mon, pargv, penv);
		_exit(127);
	}
	if (p[1] >= 0)
		close(p[1]);
	size_t n = 0;
	while (pid > 0 && n < sizeof got) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		int ready = poll(&pf, 1, 5000);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0) { /* it hangs: not ours */
			kill(pid, SIGKILL);
			break;
		}
		ssize_t r = read(p[0], got + n, sizeof got - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (p[0] >= 0)
		close(p[0]);
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return pid > 0 && n == strlen(want) && memcmp(got, want, n) == 0 ? 0 : -1;
}

/* Without a monitor: the original process waits for the program and ends as it did. */
static __attribute__((noreturn)) void start_transparent(pid_t child)
{
	int st;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st)) {
		signal(WTERMSIG(st), SIG_DFL);
		kill(getpid(), WTERMSIG(st));
	}
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
}

/* The original process becomes the monitor:
 * forkmon --bare LISTEN_FD CHILD EXE PRELOAD -- ARGV..., without LD_PRELOAD. */
static __attribute__((noreturn)) void start_exec_monitor(const char *mon, int ls, pid_t child, int argc,
							  char **argv, char **envp)
{
	static char *margv[4096];
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
	execve(mon, margv, start_monitor_env(envp));
	/* No monitor: release the child (its HELLO fails) and be a transparent parent. */
	hk_say("cannot start the monitor; not watching");
	close(ls);
	start_transparent(child);
}

/*
 * Bare mode (LD_PRELOAD=forkmonhook.so prog): fork; the original process becomes the
 * monitor (the shell waits on its pid), the child goes on as the program and waits in
 * HELLO until the monitor has checked the filters.
 */
static void start_bare(int argc, char **argv, char **envp)
{
	char name[96];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sizeof name, "@forkmon.%d.%ld", (int)getpid(), (long)(ts.tv_nsec ^ ts.tv_sec));
	char mon[PATH_MAX];
	if (start_set_addr(name) < 0 || start_monitor_path(mon, sizeof mon) < 0 || access(mon, X_OK) < 0) {
		hk_say("cannot find the monitor executable (set FORKMON_MONITOR); not watching");
		return;
	}
	if (start_probe(mon, envp) < 0) {
		char msg[PATH_MAX + 96];
		snprintf(msg, sizeof msg,
			 "cannot start the monitor '%s' (not forkmon's, or not of this version); not watching", mon);
		hk_say(msg);
		return;
	}
	/* inherited by the monitor (no close-on-exec); never 0-2 (see real_raw_high) */
	int ls = real_raw_high((int)syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET, 0), 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&hk.addr, hk.addrlen) < 0 || listen(ls, 128) < 0) {
		hk_say("cannot create the session socket; not watching");
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
	if (child > 0)
		start_exec_monitor(mon, ls, child, argc, argv, envp);
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
}

/*
 * Serve mode (a helper session sets FORKMON_START_CKPT in the environment of a run it
 * starts): a checkpoint here, before any of the program's code ran, so that a command
 * that reads no watched file (or any, before its first) is served without exec and
 * dynamic loading. Clean by construction: nothing read, written or drawn yet. The
 * session granted it in advance at seq 0 (helper/serve.c): before every read.
 */
static void start_serve_checkpoint(void)
{
	if (!getenv("FORKMON_START_CKPT"))
		return;
	unsetenv("FORKMON_START_CKPT"); /* the program and its children never see it */
	if (!hk_enter())
		return;
	if (conn_ready(0) == 0 && (hk.cfg.flags & FM_CFG_SERVE) && hk.cfg.role == FM_ROLE_RUN) {
		int safe = ckpt_safe();
		clean_armed = 0; /* the program's own start-up draws (hash seeds) still come */
		struct spacing keep = hk.spacing;
		/* In a run resumed from it, environ is the client's (resume.c): glibc hands
		 * main() environ as it is after the constructors, so main's third argument
		 * is the client's too. */
		if (!safe || ckpt_take(0) != 1)
			hk.spacing = keep; /* the program's checkpoints are spaced by its own */
	}
	hk_leave();
}

/* The connection the monitor made for this run and answered already (monitor/spawn.c,
 * FORKMON_CONN="FD:INODE"): ours when that descriptor is that socket. Taken now, so that
 * nothing the program runs inherits it (conn_adopt: close-on-exec); a child that forks
 * before its first read has a copy it does not use (conn_take_given). */
static void start_given_conn(void)
{
	const char *v = getenv("FORKMON_CONN");
	if (!v || !*v)
		return;
	long fd = 0;
	unsigned long long ino = 0;
	for (; *v >= '0' && *v <= '9' && fd < 1 << 20; v++)
		fd = fd * 10 + (*v - '0');
	if (*v++ != ':')
		return;
	for (; *v >= '0' && *v <= '9'; v++)
		ino = ino * 10 + (unsigned long long)(*v - '0');
	struct stat st;
	if (*v || fd < 3 || fstat((int)fd, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_ino != ino ||
	    fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0)
		return;
	conn_adopt((int)fd);
}

__attribute__((constructor)) static void start_init(int argc, char **argv, char **envp)
{
	real_resolve();
	hk.pid = getpid();
	conn_pid_word_init();
	pthread_atfork(start_atfork_prepare, start_atfork_parent, start_atfork_child);
	if (getenv("FORKMON_DISABLE"))
		return;
	const char *sock = getenv("FORKMON_SOCKET");
	if (sock && *sock) {
		if (start_set_addr(sock) == 0) {
			hk.active = 1;
			start_given_conn();
			start_serve_checkpoint();
		}
		return;
	}
	start_bare(argc, argv, envp);
}
