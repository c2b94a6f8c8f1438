/*
 * helper/helper.c — `forkmon helper`: the daemon of the helper front end; its options,
 * its socket, its loop and its end. Runs in the helper process; called by
 * monitor/main.c.
 *
 * After Kart's CLI helper: a background process on a UNIX socket keeps commands warm,
 * so that repeated invocations skip their start-up. The client (client/client.c) sends
 * HELPER_RUN with argv and the environment, and its cwd, stdin, stdout and stderr as
 * descriptors. The helper keys the request by (cwd, argv, environment) and hands it — descriptors
 * and the client's connection included — to that command's session: a child running the
 * monitor in serve mode, which answers the client directly (exit status, signals).
 * Requests: request.c; sessions: session.c. Sessions end after --timeout seconds
 * unused (or, when there are --max-sessions, the least recently used one ends); the
 * helper ends when it has no session left for as long, or on `forkmon helper stop`.
 *
 * One loop (common/loop.h): the listening socket, each client until its request came,
 * SIGINT/SIGTERM/SIGHUP (the end) and SIGCHLD (a session ended) as events, a timer for
 * the idle end and one for the clients' deadlines. No signal handler.
 *
 * The socket lives in a directory of our own with mode 0700 (checked, never trusted
 * blindly), and every peer's uid is checked with SO_PEERCRED. A live helper's socket is
 * never unlinked: a second helper finds it answering and leaves.
 */
#include "helper.h"

#include "daemon.h"
#include "defaults.h"
#include "filter.h"
#include "slice.h"
#include "loop.h"
#include "optname.h"
#include "out.h"
#include "sibling.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct helper_daemon helperd = {.ls = -1, .idle_timer = -1, .drop_timer = -1, .log_fd = -1, .stop_conn = -1};

/* What the command line asked for. */
struct helper_args {
	const char *sock;
	long timeout;
	long max_sessions; /* 0: the share of inotify instances */
	int ready_fd;      /* -1: none */
};

void helper_help(void)
{
	printf("%s\n\n"
	       "The helper keeps commands warm for forkmon-client, after Kart's CLI helper: a\n"
	       "client sends its command, environment, working directory and standard streams;\n"
	       "the helper serves it from a checkpoint of an earlier run of the same command in\n"
	       "the same directory, taken before that run wrote anything, so the start-up is\n"
	       "skipped; the exit status goes back to the client. A change to any file the\n"
	       "command read before the checkpoint makes it start afresh from the last\n"
	       "checkpoint before that read. Clients start the helper when none answers.\n\n"
	       "  -s, --socket PATH     the socket (default $XDG_RUNTIME_DIR/forkmon/helper.sock,\n"
	       "                        or /tmp/forkmon-UID/helper.sock)  [FORKMON_HELPER_SOCKET]\n"
	       "  -t, --timeout SECONDS end a command's session, and then the helper, after so\n"
	       "                        long unused (300)\n"
	       "  -f, --filter PATTERN  files whose change invalidates checkpoints (default: all)\n"
	       "  -i, --ignore PATTERN  files that never do (always: /proc, /sys, /dev, /run)\n"
	       "      --no-default-ignores  VCS directories (.git...), Python's bytecode and\n"
	       "                        editors' swap and backup files count too (tools' caches\n"
	       "                        always do here) [FORKMON_NO_DEFAULT_IGNORES]\n"
	       "  -n, --max-sessions N  commands kept warm at once, the least recently used\n"
	       "                        ending first (default and most: a quarter of\n"
	       "                        fs.inotify.max_user_instances; each holds one)\n"
	       "      --ready-fd N      once listening, write a byte to descriptor N and close it\n"
	       "                        (how forkmon-client knows the helper it started is up)\n"
	       "  -h, --help            this help\n\n"
	       "  forkmon helper status [-s PATH]   its sessions: commands, warm depth, memory\n"
	       "  forkmon helper stop [-s PATH]     ends it (and its sessions), once they are gone\n\n"
	       "FORKMON_HELPER_LOG=FILE: a line per request (time, client pid, cwd, argv) and\n"
	       "the helper's errors.\n",
	       HELPER_USAGE);
}

static int helper_usage_error(const char *fmt, const char *arg)
{
	out_error(fmt, arg);
	fprintf(stderr, "%s\n", HELPER_USAGE);
	return 2;
}

/* A number for an option: from 0 (or 1) to max, else -1. */
static long helper_number(const char *s, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	return errno || *end || end == s || v < min || v > max ? -1 : v;
}

/* Options into a and the filters. Returns -1 to go on, else the exit status. */
static int helper_options(int argc, char **argv, struct helper_args *a)
{
	static const struct option longs[] = {
		{"socket", required_argument, 0, 's'}, {"timeout", required_argument, 0, 't'},
		{"filter", required_argument, 0, 'f'}, {"ignore", required_argument, 0, 'i'},
		{"ready-fd", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'},
		{"no-default-ignores", no_argument, 0, 'I'}, {"max-sessions", required_argument, 0, 'n'},
		{0, 0, 0, 0},
	};
	char err[1024];
	int c, nfilters = 0, before, defaults = filter_default_ignores_wanted();
	opterr = 0;
	optind = 1;
	while ((before = optind, c = getopt_long(argc, argv, "+:s:t:f:i:n:h", longs, NULL)) != -1) {
		switch (c) {
		case 's':
			a->sock = optarg;
			break;
		case 't':
			if ((a->timeout = helper_number(optarg, 1, 86400 * 365)) < 0)
				return helper_usage_error("invalid timeout '%s' (seconds, a whole number above 0)", optarg);
			break;
		case 'n':
			if ((a->max_sessions = helper_number(optarg, 1, 1 << 20)) < 0)
				return helper_usage_error("invalid number of sessions '%s' (a whole number above 0)", optarg);
			break;
		case 'r':
			if ((a->ready_fd = (int)helper_number(optarg, 0, INT_MAX)) < 0)
				return helper_usage_error("invalid descriptor '%s' for --ready-fd (a whole number from 0)", optarg);
			break;
		case 'f':
		case 'i':
			if (filter_add(c == 'f' ? helperd.filter : helperd.ignore, optarg, err, sizeof err) < 0) {
				out_error("%s", err);
				return 2;
			}
			nfilters += c == 'f';
			break;
		case 'h':
			helper_help();
			return 0;
		case 'I': /* long only */
			defaults = 0;
			break;
		default: /* '?', ':' */
			optname_fault(c, argv, before, longs, err, sizeof err);
			return helper_usage_error("%s", err);
		}
	}
	if (optind < argc)
		return helper_usage_error("unexpected argument '%s'", argv[optind]);
	/* What keeps a checkpoint valid: by default every file the program read, but for
	 * the kernel's pseudo-files, which never report changes. */
	if (!nfilters)
		filter_add(helperd.filter, ".", err, sizeof err);
	filter_add(helperd.ignore, "^/proc/;^/sys/;^/dev/;^/run/", err, sizeof err);
	if (defaults)
		filter_add(helperd.ignore, filter_helper_ignores(), err, sizeof err);
	return -1;
}

/* Listens on a's path unless a helper answers there. Returns -1 to go on, else the
 * exit status. */
static int helper_bind(const struct sockaddr_un *a)
{
	int ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (connect(ls, (const struct sockaddr *)a, sizeof *a) == 0) {
		out_error("a helper is already running on '%s'", helperd.socket);
		return 1;
	}
	close(ls);
	unlink(helperd.socket); /* nobody answers on it: a stale one */
	ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	mode_t old = umask(077);
	if (ls < 0 || bind(ls, (const struct sockaddr *)a, sizeof *a) < 0 || listen(ls, 64) < 0) {
		out_error("cannot listen on '%s': %s", helperd.socket, strerror(errno));
		return 1;
	}
	umask(old);
	helperd.ls = ls;
	struct stat st;
	if (stat(helperd.socket, &st) == 0)
		helperd.sock_ino = st.st_ino;
	return -1;
}

/*
 * The socket, listening. Returns -1 to go on, else the exit status.
 *
 * Clients started at once start helpers at once. Between "nobody answers" and listen()
 * another helper could unlink the name of one that has bound but not yet listens, and
 * leave it orphaned; a lock on the socket's (private) directory makes the check, the
 * unlink and the listen one step.
 */
static int helper_listen(const char *sock)
{
	char err[1024], dir[PATH_MAX];
	helper_socket_path(sock, helperd.socket, sizeof helperd.socket);
	if (helper_private_dir(helperd.socket, err, sizeof err) < 0) {
		out_error("%s", err);
		return 1;
	}
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(helperd.socket) >= sizeof a.sun_path) {
		out_error("socket path too long: '%s'", helperd.socket);
		return 2;
	}
	snprintf(a.sun_path, sizeof a.sun_path, "%s", helperd.socket);
	snprintf(dir, sizeof dir, "%s", helperd.socket);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	int lock = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock >= 0)
		flock(lock, LOCK_EX); /* released by close() */
	int rc = helper_bind(&a);
	if (lock >= 0)
		close(lock);
	return rc;
}

/* Tells whoever started us (--ready-fd) that clients may connect now. */
static void helper_ready(int fd)
{
	if (fd < 0)
		return;
	ssize_t w;
	do
		w = write(fd, "1", 1);
	while (w < 0 && errno == EINTR);
	close(fd);
}

void helper_idle_rearm(void)
{
	int idle = helperd.n == 0 && helperd.np == 0;
	loop_timer_at(helperd.loop, helperd.idle_timer, idle ? clock_ns() + helperd.idle_ns : -1);
}

static void helper_on_idle(struct loop *l, void *arg)
{
	loop_stop(l, 0);
}

static void helper_on_signal(struct loop *l, const struct signalfd_siginfo *si, void *arg)
{
	if (si->ssi_signo != SIGCHLD) {
		loop_stop(l, 128 + (int)si->ssi_signo);
		return;
	}
	if (session_reap())
		helper_idle_rearm();
}

/* The loop, until a signal or the idle timer ends it. Returns the exit status. */
static int helper_loop(void)
{
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGCHLD);
	sigprocmask(SIG_BLOCK, NULL, &helperd.orig_mask);
	signal(SIGPIPE, SIG_IGN);
	struct loop *l = helperd.loop = loop_new();
	if (!l || loop_signals(l, &sigs, HELPER_PRIO_SIGNAL, helper_on_signal, NULL) < 0 ||
	    loop_add(l, helperd.ls, LOOP_IN, HELPER_PRIO_CLIENT, request_on_listen, NULL) < 0 ||
	    (helperd.idle_timer = loop_timer_new(l, HELPER_PRIO_TIMER, helper_on_idle, NULL)) < 0 ||
	    (helperd.drop_timer = loop_timer_new(l, HELPER_PRIO_TIMER, request_on_deadline, NULL)) < 0) {
		out_error("cannot set up the event loop: %s", strerror(errno));
		return 1;
	}
	helper_idle_rearm();
	int rc = loop_run(l);
	if (rc < 0) {
		out_error("epoll: %s", strerror(errno));
		rc = 1;
	}
	return rc;
}

/* Only our own socket is removed: a newer helper may have taken the name. */
static void helper_shutdown(void)
{
	struct stat st;
	if (stat(helperd.socket, &st) == 0 && st.st_ino == helperd.sock_ino)
		unlink(helperd.socket);
	if (helperd.loop)
		request_close_all();
	session_end_all();
	loop_free(helperd.loop);
	helperd.loop = NULL;
	close(helperd.ls);
	free(helperd.s); /* nothing is left for valgrind to find at exit */
	helperd.s = NULL;
	filter_free(helperd.filter);
	filter_free(helperd.ignore);
	helperd.filter = helperd.ignore = NULL;
	/* a `forkmon helper stop` waits for this: everything of ours has ended */
	if (helperd.stop_conn >= 0)
		close(helperd.stop_conn);
}

/* At most a quarter of the user's inotify instances (each session's watcher holds one;
 * the user's editors, other watchers and forkmon runs need theirs), and at most asked. */
static int helper_max_sessions(long asked)
{
	long limit = 128;
	FILE *f = fopen("/proc/sys/fs/inotify/max_user_instances", "re");
	if (f) {
		if (fscanf(f, "%ld", &limit) != 1)
			limit = 128;
		fclose(f);
	}
	long share = limit / 4 > 1 ? limit / 4 : 1;
	return (int)(asked > 0 && asked < share ? asked : share);
}

void helper_log(const char *line)
{
	if (helperd.log_fd < 0)
		return;
	char buf[9000], when[32];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	int n = snprintf(buf, sizeof buf, "%s.%03ldZ %s\n", when, ts.tv_nsec / 1000000, line);
	if (n > (int)sizeof buf - 1) {
		n = (int)sizeof buf - 1;
		buf[n - 1] = '\n';
	}
	ssize_t w = write(helperd.log_fd, buf, (size_t)n); /* O_APPEND: one line, whole */
	(void)w;
}

/* FORKMON_HELPER_LOG, opened for our request lines (the client that started us made it
 * our stderr too, for errors). */
static void helper_open_log(void)
{
	const char *log = getenv("FORKMON_HELPER_LOG");
	if (log && *log)
		helperd.log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

int helper_main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "status") || !strcmp(argv[1], "stop")))
		return ctl_main(argc - 1, argv + 1);
	struct helper_args a = {.timeout = 300, .ready_fd = -1};
	helperd.filter = filter_new();
	helperd.ignore = filter_new();
	int rc = helper_options(argc, argv, &a);
	if (rc >= 0)
		return rc;
	slice_short(); /* it hands every call on (common/slice.h) */
	helperd.idle_ns = (int64_t)a.timeout * 1000000000;
	helperd.max_sessions = helper_max_sessions(a.max_sessions);
	char why[PATH_MAX + 128];
	if (!sibling_hook(why, sizeof why)) {
		out_error("%s", why);
		return 1;
	}
	if ((rc = helper_listen(a.sock)) >= 0)
		return rc;
	out_init(0);
	helper_open_log();
	helper_ready(a.ready_fd);
	rc = helper_loop();
	helper_shutdown();
	return rc;
}
