/*
 * helper/helper.c — `forkmon helper`: the daemon of the helper front end.
 *
 * After Kart's CLI helper: a background process on a UNIX socket keeps commands warm,
 * so that repeated invocations skip their start-up. The client (helper/client.c) sends
 * HELPER_RUN with argv and the environment, and its cwd, stdin, stdout and stderr as
 * descriptors. The helper keys the request by (cwd, argv) and hands it — descriptors
 * and the client's connection included — to that command's session: a child running the
 * monitor in serve mode (monitor.c), which answers the client directly (exit status,
 * signals). Sessions end after --timeout seconds unused; the helper ends when it has no
 * session left for as long.
 *
 * The socket lives in a directory of our own with mode 0700 (checked, never trusted
 * blindly), and every peer's uid is checked with SO_PEERCRED. A live helper's socket is
 * never unlinked: a second helper finds it answering and leaves.
 */
#include "helper.h"

#include "filter.h"
#include "fdpass.h"
#include "forkmon_proto.h"
#include "monitor.h"
#include "out.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct session {
	char *key; /* cwd, then argv, NUL-separated */
	size_t keylen;
	pid_t pid;
	int fd; /* our end of its request socket */
};

static struct {
	struct session *s;
	int n;
	int ls;
	int64_t idle_ns;
	struct filter *filter, *ignore;
	char socket[PATH_MAX];
	ino_t sock_ino;
} H;

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void helper_reap(void)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (int i = 0; i < H.n; i++)
			if (H.s[i].pid == pid) {
				close(H.s[i].fd);
				free(H.s[i].key);
				H.s[i] = H.s[--H.n];
				break;
			}
}

/* Starts the session that keeps argv warm in cwd. */
static struct session *session_start(const char *key, size_t keylen, char **argv, const char *path_env)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return NULL;
	int big = FM_MSG_MAX * 2;
	setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	setsockopt(sp[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	pid_t pid = fork();
	if (pid < 0) {
		close(sp[0]);
		close(sp[1]);
		return NULL;
	}
	if (pid == 0) {
		close(sp[0]);
		close(H.ls);
		for (int i = 0; i < H.n; i++)
			close(H.s[i].fd);
		if (chdir(key) < 0) /* the key starts with the cwd */
			_exit(1);
		if (path_env)
			setenv("PATH", path_env, 1); /* find the command as the client would */
		struct monitor_opts o = {.listen_fd = -1, .serve_fd = sp[1]};
		o.filter = H.filter;
		o.ignore = H.ignore;
		o.quiet = 1;
		o.delay_ns = 5000000;
		o.grace_ns = 1000000000;
		o.max_checkpoints = 512;
		o.idle_ns = H.idle_ns;
		o.argv = argv;
		o.hook = helper_hook_path();
		monitor_run(&o);
	}
	close(sp[1]);
	struct session *s = realloc(H.s, (size_t)(H.n + 1) * sizeof *s);
	if (!s) {
		kill(pid, SIGKILL);
		close(sp[0]);
		return NULL;
	}
	H.s = s;
	s = &H.s[H.n++];
	s->key = malloc(keylen);
	memcpy(s->key, key, keylen);
	s->keylen = keylen;
	s->pid = pid;
	s->fd = sp[0];
	return s;
}

static void helper_refuse(int conn, const char *why)
{
	struct fm_helper_error e = {0};
	fm_init(&e.h, FM_HELPER_ERROR, sizeof e);
	snprintf(e.message, sizeof e.message, "%s", why);
	send(conn, &e, sizeof e, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* One client: read its request, find or start the session, hand everything over. */
static void helper_serve(int conn)
{
	static char buf[FM_MSG_MAX];
	/* the client sends at once; do not let a silent one hold the helper */
	struct pollfd pf = {.fd = conn, .events = POLLIN};
	if (poll(&pf, 1, 2000) <= 0) {
		out_error("a client sent nothing; dropped");
		return;
	}
	int fds[FM_MAX_FDS], nfds;
	ssize_t n = fm_recv_fds(conn, buf, sizeof buf, fds, &nfds, MSG_DONTWAIT);
	const struct fm_helper_run *m = (const void *)buf;
	char why[256] = "";
	if (n < (ssize_t)sizeof *m || m->h.magic != FM_MAGIC || m->h.len != (uint32_t)n)
		snprintf(why, sizeof why, "malformed request (%zd bytes)", n);
	else if (m->h.version != FM_VERSION)
		snprintf(why, sizeof why, "client version %d, helper version %d", m->h.version, FM_VERSION);
	else if (m->h.type != FM_HELPER_RUN || nfds != 4 || m->argc == 0 || m->argc > 4096)
		snprintf(why, sizeof why, "malformed request (type %d, %d descriptors)", m->h.type, nfds);
	char *argv[4097];
	const char *p = m->data, *end = buf + (n > 0 ? n : 0), *path_env = NULL;
	for (uint32_t i = 0; !why[0] && i < m->argc; i++) {
		size_t l = strnlen(p, (size_t)(end - p));
		if (p + l >= end) {
			snprintf(why, sizeof why, "malformed request (argv)");
			break;
		}
		argv[i] = (char *)p;
		p += l + 1;
	}
	for (uint32_t i = 0; !why[0] && i < m->envc && p < end; i++) {
		if (!strncmp(p, "PATH=", 5))
			path_env = p + 5;
		p += strnlen(p, (size_t)(end - p)) + 1;
	}
	if (why[0]) {
		out_error("%s", why);
		helper_refuse(conn, why);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return;
	}
	argv[m->argc] = NULL;
	/* the key: the client's cwd, then argv */
	char cwd[PATH_MAX], link[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fds[0]);
	ssize_t cl = readlink(link, cwd, sizeof cwd - 1);
	cwd[cl > 0 ? cl : 0] = '\0';
	size_t keylen = strlen(cwd) + 1;
	for (uint32_t i = 0; i < m->argc; i++)
		keylen += strlen(argv[i]) + 1;
	char *key = malloc(keylen), *k = key;
	k += sprintf(k, "%s", cwd) + 1;
	for (uint32_t i = 0; i < m->argc; i++)
		k += sprintf(k, "%s", argv[i]) + 1;
	struct session *s = NULL;
	for (int i = 0; i < H.n; i++)
		if (H.s[i].keylen == keylen && !memcmp(H.s[i].key, key, keylen))
			s = &H.s[i];
	if (!s)
		s = session_start(key, keylen, argv, path_env);
	free(key);
	int all[5] = {conn, fds[0], fds[1], fds[2], fds[3]};
	int ok = 0;
	if (s)
		ok = fm_send_fds(s->fd, buf, (size_t)n, all, 5) == n;
	if (!ok)
		helper_refuse(conn, "cannot start a session for this command");
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

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
	       "  -h, --help            this help\n",
	       HELPER_USAGE);
}

const char *helper_hook_path(void)
{
	static char buf[PATH_MAX];
	const char *env = getenv("FORKMON_HOOK");
	if (env && *env)
		return env;
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 64);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	char *s = strrchr(buf, '/');
	snprintf(s + 1, sizeof buf - (size_t)(s + 1 - buf), "forkmonhook.so");
	return buf;
}

static volatile sig_atomic_t helper_stop;
static void helper_on_signal(int sig)
{
	helper_stop = sig;
}

int helper_main(int argc, char **argv)
{
	static const struct option longs[] = {
		{"socket", required_argument, 0, 's'}, {"timeout", required_argument, 0, 't'},
		{"filter", required_argument, 0, 'f'}, {"ignore", required_argument, 0, 'i'},
		{"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
	};
	const char *sock = NULL;
	long timeout = 300;
	H.filter = filter_new();
	H.ignore = filter_new();
	char err[1024];
	int c, nfilters = 0;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:s:t:f:i:h", longs, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 't': {
			char *end;
			timeout = strtol(optarg, &end, 10);
			if (*end || end == optarg || timeout <= 0 || timeout > 86400 * 365) {
				out_error("invalid timeout '%s' (seconds, a whole number above 0)", optarg);
				fprintf(stderr, "%s\n", HELPER_USAGE);
				return 2;
			}
			break;
		}
		case 'f':
		case 'i':
			if (filter_add(c == 'f' ? H.filter : H.ignore, optarg, err, sizeof err) < 0) {
				out_error("%s", err);
				return 2;
			}
			nfilters += c == 'f';
			break;
		case 'h':
			helper_help();
			return 0;
		case ':':
			out_error("option '%s' needs a value", argv[optind - 1]);
			fprintf(stderr, "%s\n", HELPER_USAGE);
			return 2;
		default:
			out_error("unknown option '%s'", argv[optind - 1]);
			fprintf(stderr, "%s\n", HELPER_USAGE);
			return 2;
		}
	}
	if (optind < argc) {
		out_error("unexpected argument '%s'", argv[optind]);
		fprintf(stderr, "%s\n", HELPER_USAGE);
		return 2;
	}
	/* What keeps a checkpoint valid: by default every file the program read, but for
	 * the kernel's pseudo-files, which never report changes. */
	if (!nfilters)
		filter_add(H.filter, ".", err, sizeof err);
	filter_add(H.ignore, "^/proc/;^/sys/;^/dev/;^/run/", err, sizeof err);
	H.idle_ns = (int64_t)timeout * 1000000000;
	if (!helper_hook_path() || access(helper_hook_path(), R_OK) < 0) {
		out_error("cannot find forkmonhook.so next to the forkmon executable (set FORKMON_HOOK)");
		return 1;
	}
	helper_socket_path(sock, H.socket, sizeof H.socket);
	if (helper_private_dir(H.socket, err, sizeof err) < 0) {
		out_error("%s", err);
		return 1;
	}
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(H.socket) >= sizeof a.sun_path) {
		out_error("socket path too long: '%s'", H.socket);
		return 2;
	}
	snprintf(a.sun_path, sizeof a.sun_path, "%s", H.socket);
	int ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (connect(ls, (struct sockaddr *)&a, sizeof a) == 0) {
		out_error("a helper is already running on '%s'", H.socket);
		return 1;
	}
	close(ls);
	unlink(H.socket); /* nobody answers on it: a stale one */
	ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	mode_t old = umask(077);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 64) < 0) {
		out_error("cannot listen on '%s': %s", H.socket, strerror(errno));
		return 1;
	}
	umask(old);
	H.ls = ls;
	struct stat st;
	if (stat(H.socket, &st) == 0)
		H.sock_ino = st.st_ino;
	out_init(0);

	struct sigaction sa = {.sa_handler = helper_on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	int64_t idle_since = mono_ns();
	while (!helper_stop) {
		helper_reap();
		if (H.n)
			idle_since = mono_ns();
		int64_t left = idle_since + H.idle_ns - mono_ns();
		if (left <= 0)
			break;
		struct pollfd pf = {.fd = ls, .events = POLLIN};
		int wait_ms = left / 1000000 > 1000 ? 1000 : (int)(left / 1000000) + 1;
		if (poll(&pf, 1, wait_ms) <= 0)
			continue;
		int conn = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		struct ucred cr;
		socklen_t l = sizeof cr;
		if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 || cr.uid != getuid()) {
			out_error("refused a client of uid %d (not ours)", (int)cr.uid);
			helper_refuse(conn, "not your helper");
			close(conn);
			continue;
		}
		helper_serve(conn);
		close(conn);
		idle_since = mono_ns();
	}
	/* Only our own socket is removed: a newer helper may have taken the name. */
	if (stat(H.socket, &st) == 0 && st.st_ino == H.sock_ino)
		unlink(H.socket);
	for (int i = 0; i < H.n; i++)
		kill(H.s[i].pid, SIGTERM);
	while (H.n) {
		int st2;
		pid_t pid = waitpid(-1, &st2, 0);
		if (pid < 0)
			break;
		helper_reap();
		for (int i = 0; i < H.n; i++)
			if (H.s[i].pid == pid) {
				H.s[i] = H.s[--H.n];
				break;
			}
	}
	return helper_stop ? 128 + helper_stop : 0;
}
