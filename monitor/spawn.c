/*
 * monitor/spawn.c — the environment of the session's runs, and starting the command
 * from the beginning. Runs in the monitor; called by monitor.c (the first run), run.c
 * (restarts) and helper/serve.c (a client's run, with its descriptors and environment).
 * A script without `#!` is run by /bin/sh, as execvp(3) and shells run it.
 */
#include "session.h"

#include "exe.h"
#include "out.h"
#include "slice.h"
#include "stdfds.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* make sanitize builds the hook with ASan, whose runtime must be loaded first in the
 * program (before libc): that build names it (FORKMON_SAN_RUNTIME), others have none. */
#ifdef FORKMON_SAN_RUNTIME
#define SPAWN_RUNTIME FORKMON_SAN_RUNTIME ":"
#else
#define SPAWN_RUNTIME ""
#endif

static char **spawn_envp;

/*
 * A run we start from the beginning (the first, a restart) finds its connection made:
 * the monitor answers its HELLO before the program runs, on one end of a socket pair,
 * and the program inherits the other end, named in FORKMON_CONN ("FD:INODE"; the inode
 * tells it from a descriptor of the same number elsewhere). Its hook takes it at start
 * (close-on-exec from then on: nothing the program runs inherits it) and reads HELLO_OK
 * at its first watched read, without a round trip: a connect, an accept, and the two
 * wake-ups of a HELLO and its answer (lua5.4 on 120 modules: start-up p50 7.80 -> 7.24 ms
 * in 60 interleaved rounds, plain 4.98). A program without the hook (static, or
 * set-user-ID) keeps it unused, at a high number.
 */
static char **spawn_conn_envp; /* spawn_envp, and FORKMON_CONN */
static char spawn_conn_var[64];
static int spawn_conn = -1; /* the monitor's end, until spawn_conn_take() */
static int spawn_conn_far = -1; /* the program's, while it is spawned */
static char spawn_exe[PATH_MAX]; /* found before the vfork: the child allocates nothing */
static char **spawn_sh;          /* `/bin/sh spawn_exe ARG...`, for a script without `#!` */

static char *spawn_var(const char *name, const char *value)
{
	size_t l = strlen(name) + strlen(value) + 2;
	char *s = malloc(l);
	if (s)
		snprintf(s, l, "%s=%s", name, value);
	return s;
}

/*
 * Interpreters that buffer their output in the process: what a checkpoint holds in such
 * a buffer when it is forked is printed again by every copy resumed from it (a pytest
 * header once per copy). These switches make the output go out as it is printed. A
 * variable the user set (to anything, empty included) is theirs: then we add nothing.
 *
 * Perl: PERLIO=:unix would unbuffer every handle, input too; Perl then reads its
 * sources and files a byte per read() (measured: start-up with POSIX, Data::Dumper and
 * File::Temp 20 -> 66 ms, 82 -> 289757 reads; a 1.2 MB file read by lines 20x slower).
 * So Perl gets `$| = 1` on STDOUT (STDERR is unbuffered already) before the program is
 * compiled, through PERL5OPT: `use strict ()` loads strict.pm without importing anything
 * (no effect on the program), and the rest of the -M text is Perl code. Perl ignores
 * PERL5OPT in taint mode. A user who set PERLIO chose Perl's buffering: left alone.
 */
static const struct {
	const char *set;   /* the variable, as it goes into the environment */
	const char *unless; /* nor when the user set this one ("NAME=") */
} spawn_unbuffered[SPAWN_UNBUFFERED_MAX] = {
	{"PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED="}, /* python: stdout and stderr unbuffered */
	{"PERL5OPT=-Mstrict();BEGIN{$|=1}", "PERLIO="},
};

static int spawn_has(char *const *env, size_t n, const char *var)
{
	size_t len = strcspn(var, "=") + 1;
	for (size_t i = 0; i < n && env[i]; i++)
		if (strncmp(env[i], var, len) == 0)
			return 1;
	return 0;
}

size_t spawn_add_unbuffered(char **env, size_t k)
{
	for (size_t i = 0; i < SPAWN_UNBUFFERED_MAX; i++)
		if (!spawn_has(env, k, spawn_unbuffered[i].set) && !spawn_has(env, k, spawn_unbuffered[i].unless))
			env[k++] = (char *)spawn_unbuffered[i].set;
	env[k] = NULL;
	return k;
}

/* The environment of every run: ours, plus the session socket, the hook and the
 * interpreters' switches (spawn_unbuffered). */
void spawn_init(void)
{
	size_t n = 0;
	while (environ[n])
		n++;
	spawn_envp = calloc(n + 3 + SPAWN_UNBUFFERED_MAX, sizeof *spawn_envp);
	size_t k = 0;
	const char *pre = NULL;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0) {
			pre = environ[i] + 11;
			continue;
		}
		if (strncmp(environ[i], "FORKMON_SOCKET=", 15) == 0 || strncmp(environ[i], "FORKMON_CONN=", 13) == 0)
			continue;
		spawn_envp[k++] = environ[i];
	}
	spawn_envp[k++] = spawn_var("FORKMON_SOCKET", S.sockname);
	if (S.o->hook) {
		char buf[8192];
		if (pre && *pre)
			snprintf(buf, sizeof buf, SPAWN_RUNTIME "%s:%s", S.o->hook, pre);
		else
			snprintf(buf, sizeof buf, SPAWN_RUNTIME "%s", S.o->hook);
		spawn_envp[k++] = spawn_var("LD_PRELOAD", buf);
	} else if (S.o->preload && *S.o->preload) {
		spawn_envp[k++] = spawn_var("LD_PRELOAD", S.o->preload);
	}
	spawn_envp[k] = NULL;
	k = spawn_add_unbuffered(spawn_envp, k);
	spawn_conn_envp = calloc(k + 2, sizeof *spawn_conn_envp);
	if (spawn_conn_envp) {
		memcpy(spawn_conn_envp, spawn_envp, k * sizeof *spawn_envp);
		spawn_conn_envp[k] = spawn_conn_var;
	}
}

char **spawn_env(void)
{
	return spawn_envp;
}

static int spawn_find_exe(void)
{
	if (S.o->exe && *S.o->exe) {
		snprintf(spawn_exe, sizeof spawn_exe, "%s", S.o->exe);
		return 0;
	}
	return exe_find(S.o->argv[0], getenv("PATH"), NULL, spawn_exe, sizeof spawn_exe);
}

/* The parent's side: did the child's execve fail (it wrote errno into the pipe)? */
static pid_t spawn_wait_exec(pid_t pid, int rfd)
{
	int e = 0;
	ssize_t r;
	while ((r = read(rfd, &e, sizeof e)) < 0 && errno == EINTR)
		;
	close(rfd);
	if (r == (ssize_t)sizeof e) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return -e;
	}
	return pid;
}

/* A socket pair for a run's connection: the program's end (high, close-on-exec until
 * the child clears it), named in spawn_conn_var, or -1 (then it connects as any other). */
static int spawn_conn_make(void)
{
	int sv[2];
	struct stat st;
	if (!spawn_conn_envp || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	int far = fcntl(sv[1], F_DUPFD_CLOEXEC, 900);
	close(sv[1]);
	if (far < 0 || fstat(far, &st) < 0) {
		if (far >= 0)
			close(far);
		close(sv[0]);
		return -1;
	}
	snprintf(spawn_conn_var, sizeof spawn_conn_var, "FORKMON_CONN=%d:%llu", far, (unsigned long long)st.st_ino);
	spawn_conn = sv[0];
	return far;
}

static void spawn_conn_drop(void)
{
	if (spawn_conn >= 0)
		close(spawn_conn);
	spawn_conn = -1;
}

int spawn_conn_take(void)
{
	int fd = spawn_conn;
	spawn_conn = -1;
	return fd;
}

/* Nothing here changes across the vfork: the child shares our stack. */
static pid_t spawn_vfork(const int *fds, char **env)
{
	int in = fds ? -1 : feed_pipe(0); /* our stdin, kept for every copy (feed.c) */
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	/* vfork: the child borrows our memory until it execs (no page tables to copy, no
	 * copy-on-write faults for us afterwards); it only makes system calls. */
	pid_t pid = vfork();
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		sigaction(SIGINT, &S.orig_int, NULL);
		sigaction(SIGQUIT, &S.orig_quit, NULL);
		sigprocmask(SIG_SETMASK, &S.orig_mask, NULL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != S.self)
			_exit(127);
		slice_default(); /* the program runs as the kernel would run it (common/slice.h) */
		if (fds && (fchdir(fds[0]) < 0 || dup2(fds[1], 0) < 0 || dup2(fds[2], 1) < 0 || dup2(fds[3], 2) < 0))
			_exit(126);
		if (in >= 0 && dup2(in, 0) < 0)
			_exit(126);
		if (!fds)
			stdfds_reclose(); /* closed when forkmon started: closed for the command too */
		if (spawn_conn_far >= 0 && fcntl(spawn_conn_far, F_SETFD, 0) < 0)
			_exit(126);
		execve(spawn_exe, S.o->argv, env);
		int e = errno;
		if (e == ENOEXEC && spawn_sh) {
			/* no executable format (a script without `#!`): as execvp and shells do */
			execve(EXE_SHELL, spawn_sh, env);
			e = ENOEXEC; /* the command's fault, not /bin/sh's */
		}
		ssize_t w = write(pfd[1], &e, sizeof e);
		(void)w;
		_exit(127);
	}
	int e = errno;
	close(pfd[1]);
	if (spawn_conn_far >= 0)
		close(spawn_conn_far);
	spawn_conn_far = -1;
	if (pid < 0) {
		close(pfd[0]);
		spawn_conn_drop();
		return -e;
	}
	pid = spawn_wait_exec(pid, pfd[0]);
	if (pid < 0)
		spawn_conn_drop();
	return pid;
}

/* The shell's argv for spawn_exe (spawn_sh), built before the vfork; NULL when there is
 * no memory for it (then a script without `#!` fails as execve does). */
static void spawn_shell_argv(void)
{
	static size_t cap;
	size_t n = 0;
	while (S.o->argv[n])
		n++;
	if (n + 3 > cap) {
		char **v = realloc(spawn_sh, (n + 3) * sizeof *v);
		if (!v) {
			free(spawn_sh);
			spawn_sh = NULL;
			cap = 0;
			return;
		}
		spawn_sh = v;
		cap = n + 3;
	}
	exe_shell_argv(spawn_exe, S.o->argv, spawn_sh, cap);
}

pid_t spawn_run(const int *fds, char **env)
{
	int err = spawn_find_exe();
	if (err < 0)
		return err;
	spawn_shell_argv();
	spawn_conn_drop(); /* not taken: the last run's, never added */
	if (!fds && !env && S.o->serve_fd < 0)
		spawn_conn_far = spawn_conn_make();
	return spawn_vfork(fds, spawn_conn_far >= 0 ? spawn_conn_envp : env ? env : spawn_envp);
}

void spawn_error(int err)
{
	if (err == -ENOENT)
		out_error("%s: command not found", S.o->argv[0]);
	else
		out_error("%s: %s", S.o->argv[0], strerror(-err));
}
