/*
 * monitor/guard.c — the session's guard: the process the user started (`forkmon run`),
 * parent of the monitor and a child subreaper above everything the session starts.
 * Runs in forkmon's first process: guard_start() is called by main.c just before the
 * monitor starts, returns in the monitor (a fork of ours) and never in the guard.
 *
 * Why a process more: the monitor is the subreaper of the session (it waits for its
 * runs and checkpoints), so when it is killed outright (SIGKILL) its orphans went to
 * init and lived on: a program's os.execute("sleep 30"), a script's `sleep 300 &`. The
 * guard is the next subreaper up: what a dead monitor leaves comes to it, and it kills
 * every descendant it has (SIGKILL: the monitor's grace period died with it), again and
 * again until none is left, then ends as the monitor ended. Re-parenting to a subreaper
 * follows the process tree alone: a daemon that double-forked, or left with setsid()
 * or setpgid(), is still a descendant and ends too. Only a process that makes itself a
 * child of something outside the tree (there is no such call) would escape.
 *
 * The other way round, the monitor dies with the guard (its parent-death signal is
 * SIGHUP): a SIGKILL of the pid the user started ends the session as a hangup does, and
 * the monitor, still the subreaper of everything, ends every process of it.
 *
 * What the user sees does not change: the guard passes on the signals that end a session
 * (INT, TERM, HUP, QUIT: a `kill` of the pid the shell knows; the terminal sends its own
 * to the whole job, so the monitor may get one twice, which changes nothing), exits with
 * the monitor's status or dies of its signal, and stops with its job on Ctrl-Z (SIGTSTP
 * keeps its default: the shell sees the job stop and continue as before). It holds no
 * descriptor but 0-2, and costs one fork of a small process at start.
 */
#include "guard.h"

#include "proc.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Any child left? None means no descendant either: every orphan below us comes to us. */
static int guard_has_children(void)
{
	siginfo_t si;
	si.si_pid = 0;
	return !(waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0 && errno == ECHILD);
}

/* Kills every descendant until none is left (or 10 s went by: a process that cannot be
 * killed, in uninterruptible sleep, is not ours to wait for forever). */
static void guard_clear(const sigset_t *chld)
{
	struct proc_set set = {0};
	struct timespec start, now, nap = {0, 10000000};
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		while (waitpid(-1, NULL, WNOHANG | __WALL) > 0)
			;
		if (!guard_has_children())
			break;
		if (proc_descendants(getpid(), 0, NULL, 0, &set) > 0)
			proc_signal(&set, SIGKILL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 10)
			break;
		sigtimedwait(chld, NULL, &nap);
	}
	free(set.pids);
}

/* Ends as the monitor ended: its exit status, or its signal (without a core of ours). */
static __attribute__((noreturn)) void guard_exit(int st)
{
	if (!WIFSIGNALED(st))
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
	int sig = WTERMSIG(st);
	struct rlimit none = {0, 0};
	setrlimit(RLIMIT_CORE, &none);
	signal(sig, SIG_DFL);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	kill(getpid(), sig);
	_exit(128 + sig);
}

static __attribute__((noreturn)) void guard_loop(pid_t mon, const sigset_t *sigs)
{
	close_range(3, ~0u, 0);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	int st = 0;
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(sigs, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(mon, sig);
			continue;
		}
		int done = 0, s;
		pid_t p;
		while ((p = waitpid(-1, &s, WNOHANG | __WALL)) > 0)
			if (p == mon) {
				st = s;
				done = 1;
			}
		if (done)
			break;
	}
	guard_clear(&chld);
	guard_exit(st);
}

static pid_t guard_pid; /* in the monitor: its guard, or 0 when unguarded */

int guard_gone(void)
{
	return guard_pid && getppid() != guard_pid;
}

void guard_start(void)
{
	sigset_t sigs, old;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);
	/* Blocked before the fork: a signal meanwhile waits for one of us. */
	sigprocmask(SIG_BLOCK, &sigs, &old);
	/* A subreaper from before the monitor exists: it may die at once. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	pid_t guard = getpid();
	pid_t mon = fork();
	if (mon > 0)
		guard_loop(mon, &sigs);
	if (mon == 0) {
		prctl(PR_SET_CHILD_SUBREAPER, 0); /* not inherited; said for the reader */
		prctl(PR_SET_PDEATHSIG, SIGHUP);
		guard_pid = guard;
		if (getppid() != guard)
			kill(getpid(), SIGHUP); /* the guard is gone already: so are we (nothing started) */
	} else {
		prctl(PR_SET_CHILD_SUBREAPER, 0); /* no fork: the session runs unguarded */
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}
