/*
 * client/client.c — forkmon-client: run a command through forkmon's helper.
 *
 *   forkmon-client [-s SOCKET] [--] COMMAND [ARG]...
 *   NAME [ARG]...        (a symlink named NAME to forkmon-client: runs the NAME found
 *                         further on PATH, as ccache's masquerade does)
 *
 * The client connects to the helper (starting it, fully detached, when nobody answers),
 * sends argv and its environment with its working directory and fds 0, 1, 2 as
 * descriptors, passes on the signals it gets (INT, TERM, HUP, QUIT, WINCH, USR1, USR2),
 * and exits with the command's status, or dies of the command's signal. When the helper
 * cannot be reached or refuses, the client runs the command itself: the helper never
 * costs the user their command. This program stays small: no Lua, no inotify.
 */
#include "fdpass.h"
#include "forkmon_proto.h"
#include "sockpath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char usage[] = "usage: forkmon-client [-s SOCKET] [--] COMMAND [ARG]...";

static void say(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "forkmon: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
}

/* The executable named cmd on PATH, skipping this very program (a masquerading link). */
static int find_exe(const char *cmd, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = '\0';
	if (strchr(cmd, '/')) {
		snprintf(out, len, "%s", cmd);
		return 0;
	}
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path;;) {
		const char *e = strchr(p, ':');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		char cand[PATH_MAX], real[PATH_MAX];
		snprintf(cand, sizeof cand, "%.*s%s%s", (int)l, p, l ? "/" : "", cmd);
		if (access(cand, X_OK) == 0 && realpath(cand, real) && strcmp(real, self) != 0) {
			snprintf(out, len, "%s", cand);
			return 0;
		}
		if (!e)
			return -1;
		p = e + 1;
	}
}

static __attribute__((noreturn)) void run_directly(char **argv, const char *exe)
{
	execv(exe, argv);
	say("%s: %s", argv[0], strerror(errno));
	exit(errno == ENOENT ? 127 : 126);
}

static int try_connect(const char *sock)
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

/* Starts `forkmon helper --socket sock` fully detached: double fork, new session, no
 * terminal, nothing inherited but a log (FORKMON_HELPER_LOG) or /dev/null. */
static void start_helper(const char *sock)
{
	char self[PATH_MAX], mon[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(mon, sizeof mon, "%s/forkmon", self);
	if (access(mon, X_OK) < 0)
		snprintf(mon, sizeof mon, "%s/../lib/forkmon/forkmon", self);
	pid_t pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		setsid();
		if (fork() != 0)
			_exit(0);
		int null = open("/dev/null", O_RDWR);
		const char *log = getenv("FORKMON_HELPER_LOG");
		int err = log && *log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0600) : -1;
		dup2(null, 0);
		dup2(null, 1);
		dup2(err >= 0 ? err : null, 2);
		closefrom(3);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (chdir("/") < 0)
			_exit(1);
		execl(mon, "forkmon", "helper", "--socket", sock, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
}

static int connect_or_start(const char *sock)
{
	int s = try_connect(sock);
	if (s >= 0)
		return s;
	char err[512];
	if (helper_private_dir(sock, err, sizeof err) < 0) {
		say("%s; running the command directly", err, "");
		return -1;
	}
	start_helper(sock);
	struct timespec nap = {0, 5000000};
	for (int i = 0; i < 600; i++) { /* up to 3 s for a helper to come up */
		s = try_connect(sock);
		if (s >= 0)
			return s;
		nanosleep(&nap, NULL);
	}
	return -1;
}

static int send_request(int s, char **argv)
{
	size_t len = offsetof(struct fm_helper_run, data);
	uint32_t argc = 0, envc = 0;
	for (char **a = argv; *a; a++, argc++)
		len += strlen(*a) + 1;
	for (char **e = environ; e && *e; e++, envc++)
		len += strlen(*e) + 1;
	if (len > FM_MSG_MAX - 1)
		return -1;
	struct fm_helper_run *m = malloc(len);
	if (!m)
		return -1;
	fm_init(&m->h, FM_HELPER_RUN, (uint32_t)len);
	m->argc = argc;
	m->envc = envc;
	char *p = m->data;
	for (char **a = argv; *a; a++)
		p = stpcpy(p, *a) + 1;
	for (char **e = environ; e && *e; e++)
		p = stpcpy(p, *e) + 1;
	int fds[4] = {open(".", O_PATH | O_DIRECTORY | O_CLOEXEC), 0, 1, 2};
	if (fds[0] < 0) {
		free(m);
		return -1;
	}
	ssize_t w = fm_send_fds(s, m, len, fds, 4);
	close(fds[0]);
	free(m);
	return w == (ssize_t)len ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/');
	name = name ? name + 1 : argv[0];
	const char *sock_opt = NULL;
	char **cmd;
	char exe[PATH_MAX];
	if (strcmp(name, "forkmon-client") == 0) {
		int i = 1;
		for (; i < argc && argv[i][0] == '-'; i++) {
			if (!strcmp(argv[i], "--")) {
				i++;
				break;
			}
			if ((!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket")) && i + 1 < argc) {
				sock_opt = argv[++i];
			} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
				printf("%s\n\nRuns COMMAND through forkmon's helper (see 'forkmon helper --help'):\n"
				       "a warm copy of an earlier run of it skips the start-up. A symlink to\n"
				       "forkmon-client named after a command runs that command this way.\n", usage);
				return 0;
			} else {
				say("unknown option '%s'", argv[i], "");
				fprintf(stderr, "%s\n", usage);
				return 2;
			}
		}
		if (i >= argc) {
			say("no command given%s", "", "");
			fprintf(stderr, "%s\n", usage);
			return 2;
		}
		cmd = argv + i;
		if (find_exe(cmd[0], exe, sizeof exe) < 0) {
			say("%s: command not found%s", cmd[0], "");
			return 127;
		}
	} else {
		/* masquerade: run the real NAME, found on PATH past ourselves */
		if (find_exe(name, exe, sizeof exe) < 0) {
			say("%s: command not found%s", name, "");
			return 127;
		}
		argv[0] = exe;
		cmd = argv;
	}
	if (getenv("FORKMON_NO_HELPER"))
		run_directly(cmd, exe);

	char sock[PATH_MAX];
	helper_socket_path(sock_opt, sock, sizeof sock);
	sigset_t sigs, old;
	sigemptyset(&sigs);
	int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof fwd / sizeof *fwd; i++)
		sigaddset(&sigs, fwd[i]);
	sigprocmask(SIG_BLOCK, &sigs, &old);
	int s = connect_or_start(sock);
	if (s < 0 || send_request(s, cmd) < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		run_directly(cmd, exe);
	}
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	for (;;) {
		struct pollfd pf[2] = {{.fd = s, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				struct fm_helper_signal m = {0};
				fm_init(&m.h, FM_HELPER_SIGNAL, sizeof m);
				m.signo = (int)si.ssi_signo;
				send(s, &m, sizeof m, MSG_NOSIGNAL);
			}
		}
		if (!pf[0].revents)
			continue;
		union {
			struct fm_header h;
			struct fm_helper_exit x;
			struct fm_helper_error e;
		} m;
		ssize_t n = recv(s, &m, sizeof m, 0);
		if (n >= (ssize_t)sizeof m.x && m.h.magic == FM_MAGIC && m.h.type == FM_HELPER_EXIT) {
			int st = m.x.status;
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
		if (n >= (ssize_t)sizeof m.e && m.h.magic == FM_MAGIC && m.h.type == FM_HELPER_ERROR) {
			m.e.message[sizeof m.e.message - 1] = '\0';
			say("the helper refused (%s); running the command directly", m.e.message, "");
			close(s);
			sigprocmask(SIG_SETMASK, &old, NULL);
			run_directly(cmd, exe);
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	say("the helper went away while running '%s'%s", cmd[0], "");
	return 125;
}
