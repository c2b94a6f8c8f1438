/*
 * client/client.c — forkmon-client: run a command through forkmon's helper.
 *
 *   forkmon-client [-s SOCKET] [--] COMMAND [ARG]...    (or `forkmon client ...`)
 *   NAME [ARG]...        (a symlink named NAME to forkmon-client: runs the NAME found
 *                         further on PATH, as ccache's masquerade does; through the
 *                         helper only when FORKMON_USE_HELPER says so, Kart's rule)
 *
 * The client connects to the helper (starting it, fully detached, when nobody answers,
 * and waiting until it says it listens), sends argv and its environment with its
 * working directory and fds 0, 1, 2 as descriptors, passes on the signals it gets (INT,
 * TERM, HUP, QUIT, WINCH, USR1, USR2), and exits with the command's status, or dies of
 * the command's signal. When the helper cannot be reached, refuses, or ends before it
 * said the command started (HELPER_STARTED), the client runs the command itself, with
 * one line saying why: the helper never costs the user their command. A helper of
 * another version is restarted (as Spring does) and the request sent again. This program
 * stays small: libc and common/ only (loop, peer, exe, sockpath); no Lua, no inotify.
 */
#include "escape.h"
#include "exe.h"
#include "forkmon_proto.h"
#include "loop.h"
#include "peer.h"
#include "sibling.h"
#include "sockpath.h"
#include "stdfds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char usage[] = "usage: forkmon-client [-s SOCKET] [--] COMMAND [ARG]...";

/* How long a helper we started may take to listen. */
#define CLIENT_START_NS (3 * (int64_t)1000000000)

/* How the loop ended (loop_stop codes). */
enum { CLIENT_GONE = 1, CLIENT_EXITED, CLIENT_REFUSED, CLIENT_READY, CLIENT_TIMEOUT, CLIENT_OLD };

/* The command being served. */
static struct {
	int sock;
	int status;  /* CLIENT_EXITED: the command's wait status */
	int started; /* HELPER_STARTED came: the command runs there, never here too */
	int version; /* CLIENT_OLD: the helper's */
} client = {.sock = -1};

/* One line "forkmon: ...", the names in it escaped (common/escape.h). */
static void client_say(const char *fmt, const char *a, const char *b)
{
	char msg[4096], line[4 * sizeof msg];
	int n = snprintf(msg, sizeof msg, fmt, a, b);
	if (n < 0)
		return;
	escape_line(msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1, line, sizeof line);
	/* one write, so that the line comes whole among other processes' output (musl's
	 * unbuffered stderr would write a long one in pieces) */
	char out[sizeof line + 16];
	int len = snprintf(out, sizeof out, "forkmon: %s\n", line);
	if (len < 0)
		return;
	size_t left = (size_t)len < sizeof out ? (size_t)len : sizeof out - 1;
	for (const char *p = out; left > 0;) {
		ssize_t w = write(2, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		left -= (size_t)w;
	}
}

/* The signal mask through the system call itself: musl's sigprocmask() leaves the
 * signals it keeps for itself (32-34) out of the old mask it returns, so a command run
 * here would get them unblocked where the client's parent had them blocked. */
static void client_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	(void)syscall(SYS_rt_sigprocmask, how, set, old, (size_t)(_NSIG / 8));
}

/* Closes every descriptor from lo on (closefrom(), which musl lacks): close_range, else
 * each one /proc/self/fd lists, else up to the limit. */
static void client_close_from(int lo)
{
	if (syscall(SYS_close_range, (unsigned)lo, ~0U, 0) == 0)
		return;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		int fds[1024], n = 0, more = 1;
		while (more) { /* a batch, then closed: closing while reading would skip some */
			struct dirent *e;
			n = 0;
			rewinddir(d);
			while (n < 1024 && (e = readdir(d))) {
				int fd = atoi(e->d_name);
				if (fd >= lo && fd != dirfd(d))
					fds[n++] = fd;
			}
			more = n == 1024;
			for (int i = 0; i < n; i++)
				close(fds[i]);
		}
		closedir(d);
		return;
	}
	struct rlimit r;
	long max = getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur != RLIM_INFINITY ? (long)r.rlim_cur : 65536;
	for (long fd = lo; fd < max; fd++)
		close((int)fd);
}

/* The executable for cmd: a name with a '/' as it is (execv then reports what is wrong
 * with it), else found on PATH, skipping this very program (a masquerading link). */
static int client_find(const char *cmd, char *out, size_t len)
{
	if (strchr(cmd, '/')) {
		snprintf(out, len, "%s", cmd);
		return 0;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = '\0';
	return exe_find(cmd, getenv("PATH"), n > 0 ? self : NULL, out, len) == 0 ? 0 : -1;
}

static __attribute__((noreturn)) void client_run_directly(char **argv, const char *exe)
{
	stdfds_reclose(); /* what was closed when we started is closed for the command */
	execv(exe, argv);
	if (errno == ENOEXEC) {
		/* a script without `#!`: /bin/sh runs it, as execvp and a shell would */
		size_t n = 0;
		while (argv[n])
			n++;
		char **sh = calloc(n + 3, sizeof *sh);
		if (sh && exe_shell_argv(exe, argv, sh, n + 3) == 0)
			execv(EXE_SHELL, sh);
		errno = ENOEXEC; /* what is wrong is the command, not /bin/sh */
	}
	client_say("%s: %s", argv[0], strerror(errno));
	exit(errno == ENOENT ? 127 : 126);
}

static int client_connect(const char *sock)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(sock) >= sizeof a.sun_path)
		return -1;
	snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
		int big = FM_MSG_MAX * 2;
		setsockopt(s, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
		return s;
	}
	close(s);
	return -1;
}

/* Starts `forkmon helper --socket sock --ready-fd 3` fully detached: double fork, new
 * session, no terminal, nothing inherited but a log (FORKMON_HELPER_LOG) or /dev/null,
 * and ready (the write end of the pipe we wait on) as descriptor 3. */
static void client_start_helper(const char *sock, int ready)
{
	char mon[PATH_MAX];
	/* build/forkmon beside us, or PREFIX/lib/forkmon/forkmon from PREFIX/bin */
	if (sibling_path("forkmon", mon, sizeof mon) < 0)
		return;
	if (access(mon, X_OK) < 0 && sibling_path("../lib/forkmon/forkmon", mon, sizeof mon) < 0)
		return;
	pid_t pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		setsid();
		if (fork() != 0)
			_exit(0);
		int keep = fcntl(ready, F_DUPFD, 10); /* out of the way of 0, 1, 2 */
		int null = open("/dev/null", O_RDWR);
		const char *log = getenv("FORKMON_HELPER_LOG");
		int err = log && *log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0600) : -1;
		dup2(null, 0);
		dup2(null, 1);
		dup2(err >= 0 ? err : null, 2);
		dup2(keep, 3);
		client_close_from(4);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (chdir("/") < 0)
			_exit(1);
		execl(mon, "forkmon", "helper", "--socket", sock, "--ready-fd", "3", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
}

static void client_on_ready(struct loop *l, int fd, unsigned events, void *arg)
{
	loop_stop(l, CLIENT_READY); /* a byte: listening; end-of-file: it gave up */
}

static void client_on_start_timeout(struct loop *l, void *arg)
{
	loop_stop(l, CLIENT_TIMEOUT);
}

/* Starts a helper and waits (at most CLIENT_START_NS) until it listens or gives up
 * (another helper may have come up meanwhile: the connect after this finds it). */
static void client_start_and_wait(struct loop *l, const char *sock)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	client_start_helper(sock, p[1]);
	close(p[1]);
	int t = loop_timer_new(l, 1, client_on_start_timeout, NULL);
	if (t >= 0 && loop_add(l, p[0], LOOP_IN, 0, client_on_ready, NULL) == 0) {
		loop_timer_at(l, t, clock_ns() + CLIENT_START_NS);
		loop_run(l);
		loop_del(l, p[0]);
	}
	loop_timer_at(l, t, -1);
	close(p[0]);
}

/* A connection to the helper (started if need be), or -1; -2 when a line said why not. */
static int client_connect_or_start(struct loop *l, const char *sock)
{
	int s = client_connect(sock);
	if (s >= 0)
		return s;
	char err[512];
	if (helper_private_dir(sock, err, sizeof err) < 0) {
		client_say("%s; running the command directly", err, "");
		return -2; /* said */
	}
	client_start_and_wait(l, sock);
	return client_connect(sock);
}

/* The request for argv and our environment, or NULL (then the command runs here): one
 * too large for the helper (forkmon_proto.h's limits) is said, in one line. */
static struct fm_helper_run *client_request(char **argv)
{
	size_t len = offsetof(struct fm_helper_run, data);
	uint32_t argc = 0, envc = 0;
	for (char **a = argv; *a; a++, argc++)
		len += strlen(*a) + 1;
	for (char **e = environ; e && *e; e++, envc++)
		len += strlen(*e) + 1;
	char what[96] = "";
	if (len > FM_MSG_MAX - 1)
		snprintf(what, sizeof what, "%zu bytes, at most %d", len, FM_MSG_MAX - 1);
	else if (argc > FM_HELPER_MAX_ARGS)
		snprintf(what, sizeof what, "%u arguments, at most %d", argc, FM_HELPER_MAX_ARGS);
	else if (envc > FM_HELPER_MAX_ENV)
		snprintf(what, sizeof what, "%u environment strings, at most %d", envc, FM_HELPER_MAX_ENV);
	if (what[0]) {
		client_say("the command and its environment are too large for the helper (%s); running it "
			   "directly", what, "");
		return NULL;
	}
	struct fm_helper_run *m = malloc(len);
	if (!m)
		return NULL;
	fm_init(&m->h, FM_HELPER_RUN, (uint32_t)len);
	m->pid = (int32_t)getpid();
	m->pad = 0;
	m->argc = argc;
	m->envc = envc;
	char *p = m->data;
	for (char **a = argv; *a; a++)
		p = stpcpy(p, *a) + 1;
	for (char **e = environ; e && *e; e++)
		p = stpcpy(p, *e) + 1;
	return m;
}

static int client_send_request(int s, const struct fm_helper_run *m)
{
	int fds[4] = {open(".", O_PATH | O_DIRECTORY | O_CLOEXEC), 0, 1, 2};
	if (fds[0] < 0)
		return -1;
	int r = peer_send(s, m, fds, 4, 0);
	close(fds[0]);
	return r;
}

static void client_on_signal(struct loop *l, const struct signalfd_siginfo *si, void *arg)
{
	struct fm_helper_signal m = {0};
	fm_init(&m.h, FM_HELPER_SIGNAL, sizeof m);
	m.signo = (int)si->ssi_signo;
	peer_send(client.sock, &m, NULL, 0, 0);
	if (m.signo == SIGTSTP)
		kill(getpid(), SIGSTOP); /* Ctrl-Z: the command stops, and so do we, as a job */
}

/* The helper's answer: the command's status, or a refusal. */
static void client_on_reply(struct loop *l, int fd, unsigned events, void *arg)
{
	union {
		struct fm_header h;
		struct fm_helper_exit x;
		struct fm_helper_error e;
	} m;
	ssize_t n = peer_recv(fd, &m, sizeof m, NULL, NULL, MSG_DONTWAIT);
	if (n == PEER_ERROR && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n > 0 && m.h.type == FM_HELPER_STARTED) {
		client.started = 1;
	} else if (n > 0 && m.h.type == FM_HELPER_EXIT) {
		client.status = m.x.status;
		loop_stop(l, CLIENT_EXITED);
	} else if (n > 0 && m.h.type == FM_HELPER_ERROR) {
		m.e.message[sizeof m.e.message - 1] = '\0';
		client_say("the helper refused (%s); running the command directly", m.e.message, "");
		loop_stop(l, CLIENT_REFUSED);
	} else if (n == PEER_VERSION) {
		/* its refusal of our request, in its own version's words */
		client.version = m.h.version;
		loop_stop(l, CLIENT_OLD);
	} else {
		loop_stop(l, CLIENT_GONE);
	}
}

/* Ends this process the way the command ended. */
static int client_exit_like(int st)
{
	if (WIFSIGNALED(st)) {
		int sig = WTERMSIG(st);
		signal(sig, SIG_DFL);
		sigset_t one;
		sigemptyset(&one);
		sigaddset(&one, sig);
		sigprocmask(SIG_UNBLOCK, &one, NULL);
		raise(sig);
		return 128 + sig;
	}
	return WEXITSTATUS(st);
}

/* Whether process pid is named forkmon (its comm): what listens on our socket is then
 * a helper, not some other program the client must not signal. */
static int client_is_forkmon(pid_t pid)
{
	char path[64], comm[32] = "";
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, comm, sizeof comm - 1) : -1;
	if (fd >= 0)
		close(fd);
	comm[n > 0 ? n : 0] = '\0';
	return !strcmp(comm, "forkmon\n");
}

/* The helper on s is of another version: it gets SIGTERM (it is ours: same uid, its
 * pid from the socket), and once it is gone a helper of ours starts. The new
 * connection, or -1 (-2: a line said why). */
static int client_restart(struct loop *l, const char *sock, int s)
{
	struct ucred cr = {.uid = (uid_t)-1};
	socklen_t len = sizeof cr;
	int ok = getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 && cr.uid == getuid() && cr.pid > 0 &&
		 client_is_forkmon(cr.pid);
	close(s);
	if (!ok || kill(cr.pid, SIGTERM) < 0)
		return -1;
	/* gone: no such process, nobody listens on the socket (it may be a zombie still),
	 * or another helper does (another client restarted it first) */
	int64_t end = clock_ns() + CLIENT_START_NS;
	while (kill(cr.pid, 0) == 0 && clock_ns() < end) {
		int c = client_connect(sock);
		struct ucred now = {.pid = cr.pid};
		len = sizeof now;
		if (c >= 0)
			getsockopt(c, SOL_SOCKET, SO_PEERCRED, &now, &len);
		if (c >= 0)
			close(c);
		if (c < 0 || now.pid != cr.pid)
			break;
		struct timespec ts = {0, 2000000}; /* it ends its sessions first: a few ms */
		nanosleep(&ts, NULL);
	}
	return client_connect_or_start(l, sock);
}

/* Why the command runs here after all: one line, then the command. */
static __attribute__((noreturn)) void client_fall_back(char **cmd, const char *exe, const sigset_t *old,
							const char *why, const char *arg)
{
	if (why)
		client_say(why, arg, "");
	client_sigmask(SIG_SETMASK, old, NULL);
	client_run_directly(cmd, exe);
}

/* Sends the request on s and waits for the end: how the loop ended. */
static int client_ask(struct loop *l, int s, const struct fm_helper_run *req)
{
	client.sock = s;
	client.started = 0;
	if (loop_add(l, s, LOOP_IN, 1, client_on_reply, NULL) < 0 || client_send_request(s, req) < 0)
		return -1;
	int how = loop_run(l);
	loop_del(l, s);
	return how;
}

/* Runs cmd through the helper; runs it directly when the helper cannot. */
static int client_run(char **cmd, const char *exe, const char *sock_opt)
{
	char sock[PATH_MAX], v[16];
	helper_socket_path(sock_opt, sock, sizeof sock);
	sigset_t sigs, old;
	sigemptyset(&sigs);
	int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1, SIGUSR2, SIGTSTP, SIGCONT};
	for (size_t i = 0; i < sizeof fwd / sizeof *fwd; i++)
		sigaddset(&sigs, fwd[i]);
	/* blocked from here: a signal during the start-up goes to the command */
	sigemptyset(&old);
	client_sigmask(SIG_BLOCK, &sigs, &old);
	struct fm_helper_run *req = client_request(cmd);
	struct loop *l = req ? loop_new() : NULL;
	if (!l)
		client_fall_back(cmd, exe, &old, req ? "out of memory; running the command directly%s" : NULL, "");
	int s = client_connect_or_start(l, sock);
	if (s == -2)
		client_fall_back(cmd, exe, &old, NULL, "");
	if (s < 0)
		client_fall_back(cmd, exe, &old, "no helper answers on '%s'; running the command directly", sock);
	/* the request goes last: once it is sent, the command runs there, never here too
	 * (without a signalfd, signals stay blocked: the command still runs) */
	loop_signals(l, &sigs, 0, client_on_signal, NULL);
	int how = client_ask(l, s, req);
	if (how == CLIENT_OLD) {
		snprintf(v, sizeof v, "%d", client.version);
		s = client_restart(l, sock, s);
		if (s == -2)
			client_fall_back(cmd, exe, &old, NULL, "");
		if (s < 0)
			client_fall_back(cmd, exe, &old,
					 "the helper is of another version (%s) and could not be restarted; running "
					 "the command directly", v);
		how = client_ask(l, s, req);
	}
	free(req);
	loop_free(l); /* before this process ends like the command: maybe by its signal */
	if (how == CLIENT_EXITED)
		return client_exit_like(client.status);
	close(s);
	if (how == CLIENT_REFUSED)
		client_fall_back(cmd, exe, &old, NULL, "");
	if (how == CLIENT_OLD)
		client_fall_back(cmd, exe, &old, "the helper is still of another version (%s); running the command "
				 "directly", v);
	if (how < 0 || !client.started)
		client_fall_back(cmd, exe, &old, "the helper ended before '%s' started; running it directly", cmd[0]);
	client_say("the helper went away while running '%s'%s", cmd[0], "");
	return 125;
}

/* Kart's rule for KART_USE_HELPER: unset, empty, "0" or a value with leading spaces is
 * off; anything else on. */
static int client_use_helper(void)
{
	const char *v = getenv("FORKMON_USE_HELPER");
	return v && *v && strcmp(v, "0") != 0 && *v != ' ' && *v != '\t';
}

/* The command line: the command (cmd, its executable in exe) and the socket option.
 * Returns -1 to go on, else the exit status. */
static int client_args(int argc, char **argv, char ***cmd, char *exe, size_t len, const char **sock_opt,
		       int *masquerade)
{
	const char *name = strrchr(argv[0], '/');
	name = name ? name + 1 : argv[0];
	if ((*masquerade = strcmp(name, "forkmon-client") != 0)) {
		/* masquerade: run the real NAME, found on PATH past ourselves */
		if (client_find(name, exe, len) < 0) {
			client_say("%s: command not found%s", name, "");
			return 127;
		}
		argv[0] = exe;
		*cmd = argv;
		return -1;
	}
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket")) {
			if (i + 1 >= argc) {
				client_say("option '%s' needs a value%s", argv[i], "");
				fprintf(stderr, "%s\n", usage);
				return 2;
			}
			*sock_opt = argv[++i];
		} else if (!strncmp(argv[i], "--socket=", 9)) {
			*sock_opt = argv[i] + 9;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("%s\n\nRuns COMMAND through forkmon's helper (see 'forkmon helper --help'):\n"
			       "a warm copy of an earlier run of it skips the start-up. A symlink to\n"
			       "forkmon-client named after a command runs that command this way.\n", usage);
			return 0;
		} else {
			client_say("unknown option '%s'", argv[i], "");
			fprintf(stderr, "%s\n", usage);
			return 2;
		}
	}
	if (i >= argc) {
		client_say("no command given%s", "", "");
		fprintf(stderr, "%s\n", usage);
		return 2;
	}
	*cmd = argv + i;
	if (client_find((*cmd)[0], exe, len) < 0) {
		client_say("%s: command not found%s", (*cmd)[0], "");
		return 127;
	}
	return -1;
}

int main(int argc, char **argv)
{
	/* none of our descriptors may be 0-2 (common/stdfds.h); failing that, run directly */
	int occupied = stdfds_occupy();
	const char *sock_opt = NULL;
	char **cmd;
	static char exe[PATH_MAX]; /* argv[0] of a masquerade points here */
	int masquerade;
	int rc = client_args(argc, argv, &cmd, exe, sizeof exe, &sock_opt, &masquerade);
	if (rc >= 0)
		return rc;
	/* A command started with 0-2 closed runs here, where it sees them closed: the helper
	 * could only give it our /dev/null in their place. A masquerading link is the
	 * command itself unless FORKMON_USE_HELPER turns the helper on. */
	if (getenv("FORKMON_NO_HELPER") || stdfds_closed() || occupied < 0 || (masquerade && !client_use_helper()))
		client_run_directly(cmd, exe);
	return client_run(cmd, exe, sock_opt);
}
