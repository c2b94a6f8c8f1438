/*
 * hook/resume.c — the suspended checkpoint, and the run it becomes on RESUME. Runs
 * inside a copy of the user's program: the checkpoint forked by ckpt_take(), which calls
 * resume_wait() and returns from it only in a new run.
 *
 * The checkpoint is single-threaded, every signal blocked, a child of the monitor; if
 * the monitor dies its control connection reaches EOF and it exits by itself.
 */
#include "hook.h"
#include "peer.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* A RESUME, with the helper client's descriptors when it brings some. Static: a
 * checkpoint waits here, and a resumed run keeps the environment strings it points to. */
static union {
	struct fm_resume r;
	char raw[FM_MSG_MAX];
} resume_msg;

/* The client's environment as the program's own would be: a malloc'd array of malloc'd
 * strings, which a program may realloc or free (perl does: a static array aborted it).
 * A new run, one thread: allocating is safe here. */
static void resume_client_env(const struct fm_resume *r)
{
	/* peer_recv() saw the tail end in NUL */
	const char *p = r->data, *end = (const char *)r + r->h.len;
	char **env = malloc(((size_t)r->envc + 1) * sizeof *env);
	if (!env)
		_exit(126);
	unsigned k = 0;
	for (; k < r->envc && p < end; k++) {
		size_t n = strnlen(p, (size_t)(end - p));
		if (!(env[k] = malloc(n + 1)))
			_exit(126);
		memcpy(env[k], p, n);
		env[k][n] = '\0';
		p += n + 1;
	}
	env[k] = NULL;
	environ = env; /* the checkpoint's own array is left as it was: the program's */
}

/* Helper mode: the new run takes the client's cwd, fds 0-2 and environment. */
static void resume_become_client(const struct fm_resume *r, const int *fds, int nfds)
{
	if (nfds >= 4) {
		if (fchdir(fds[0]) < 0)
			_exit(126);
		for (int i = 0; i < 3; i++)
			if (dup2(fds[i + 1], i) < 0)
				_exit(126);
		clean_client_fds(fds + 1);
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	resume_client_env(r);
}

/*
 * Until the intermediate process has exited and we are the monitor's child. Usually it
 * has already. Else we sleep until its exit re-parents us: the kernel sends the signal
 * asked by PR_SET_PDEATHSIG once it has given us our new parent. No spin and no
 * sched_yield(): on a loaded machine a yield gives the core to whatever else is
 * runnable, busy loops included, and the save we were resumed for waits behind them.
 * The signal is one whose default is to be ignored (every signal is blocked here, and
 * the one sent is taken below), in case one ever came late. The timed wait is a
 * safety net: should the exit and our prctl() cross, no signal comes, and looking at
 * the parent again ends the wait.
 */
#define RESUME_REPARENT_SIG SIGURG

static void resume_wait_reparent(void)
{
	if (getppid() != hk.middle_pid)
		return;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, RESUME_REPARENT_SIG);
	prctl(PR_SET_PDEATHSIG, RESUME_REPARENT_SIG);
	struct timespec look = {0, 2000000}, late = {0, 100000};
	int got = 0;
	while (!got && getppid() == hk.middle_pid)
		got = sigtimedwait(&s, NULL, &look) == RESUME_REPARENT_SIG;
	if (!got) /* re-parented without it: one on its way is taken here */
		sigtimedwait(&s, NULL, &late);
}

/* In the grandchild of the checkpoint: from here on, the run. */
static void resume_become_run(int ctl, const struct fm_resume *r, const int *fds, int nfds)
{
	close(ctl);
	if ((r->flags & FM_RESUME_CONN) && nfds >= 1)
		conn_adopt(fds[--nfds]); /* always the last one */
	if (r->flags & FM_RESUME_CLIENT)
		resume_become_client(r, fds, nfds);
	else if ((r->flags & FM_RESUME_STDIN) && nfds == 1) {
		/* A fresh pipe of the session's stdin, from where this checkpoint stood, in
		 * place of the old one; only while fd 0 is a pipe: a program that closed its
		 * stdin, or put a file there, keeps what it did. */
		struct stat st;
		if (fds[0] != 0 && fstat(0, &st) == 0 && S_ISFIFO(st.st_mode) && dup2(fds[0], 0) < 0)
			_exit(126);
		close(fds[0]);
	} else
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
	/* The middle process exits at once: wait to be the monitor's child, then die with
	 * it (a death signal set earlier would fire when the middle process exits). The
	 * wait has no bound but the middle's exit: on a loaded machine it may not run for a
	 * long while, and a copy that gave up would lose the save it was resumed for. */
	resume_wait_reparent();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != r->monitor_pid)
		_exit(1); /* the monitor died meanwhile: we belong to no session */
	setpgid(0, r->job_pgid); /* back in the terminal's foreground job */
	hk.pid = getpid();
	hk.fd = -1;
	spacing_resumed(&hk.spacing, hk_now_ns());
	offsets_restore();
	sigprocmask(SIG_SETMASK, &hk.saved_mask, NULL);
	clean_after_fork(); /* what the interpreter does in a child of its own fork() */
}

/* Tells the monitor that no new run came of its RESUME. */
static void resume_failed(int ctl, int err)
{
	struct fm_pid p = {0};
	fm_init(&p.h, FM_RESUMED, sizeof p);
	p.pid = -err;
	peer_send(ctl, &p, NULL, 0, 0);
}

/*
 * In a process group of its own, so that the terminal's signals do not reach it, all
 * signals blocked, waiting for RESUME. Each RESUME forks a new run (a double fork, as
 * in ckpt_take()); the checkpoint stays for next time.
 */
void resume_wait(int ctl, int runfd)
{
	setpgid(0, 0);
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	if (runfd >= 0)
		close(runfd); /* the run's connection is the run's */
	hk.fd = -1;
	conn_drop_ring(); /* and so is its ring */
	/* a helper session: the client whose run this was keeps none of its streams here
	 * (its `$(...)` or pipe would wait for the whole life of the checkpoint) */
	if (hk.cfg.flags & FM_CFG_SERVE)
		clean_checkpoint_fds();
	for (;;) {
		int fds[PEER_MAX_FDS], nfds = 0;
		ssize_t n = peer_recv(ctl, &resume_msg, sizeof resume_msg, fds, &nfds, 0);
		if (n <= 0 || resume_msg.r.h.type != FM_RESUME)
			_exit(0); /* the monitor is gone or dropped us */
		/* vfork: the intermediate process borrows our memory instead of copying it
		 * (every signal is blocked here, so no handler runs in it) */
		pid_t m = vfork();
		if (m == 0 && ckpt_middle(ctl, FM_RESUMED)) {
			resume_become_run(ctl, &resume_msg.r, fds, nfds);
			return;
		}
		int e = errno;
		for (int i = 0; i < nfds; i++)
			close(fds[i]); /* they went to the new run (or, failed, to nobody) */
		if (m < 0) {
			resume_failed(ctl, e);
			continue;
		}
		while (waitpid(m, NULL, 0) < 0 && errno == EINTR)
			;
	}
}
