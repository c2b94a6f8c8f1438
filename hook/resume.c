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
#include "slice.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
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
		candidate_cwd_changed(); /* the client's, not the checkpoint's */
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
 * has already, or does within a few microseconds (it only forks us and exits): we look
 * for 30 us. Else we sleep until its exit re-parents us: the kernel sends the signal
 * asked by PR_SET_PDEATHSIG once it has given us our new parent. No sched_yield(): on a
 * loaded machine a yield gives the core to whatever else is runnable, busy loops
 * included, and the save we were resumed for waits behind them.
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
	/* The intermediate process exits right after its fork: on another processor that
	 * is microseconds away, less than a sleep and its wake-up cost. A short look first
	 * (bounded by the clock: on a loaded machine it ends soon, and the sleep below is
	 * as before). */
	int64_t until = hk_now_ns() + 30000;
	while (hk_now_ns() < until)
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

static void resume_become_run(int ctl, const struct fm_resume *r, const int *fds, int nfds);

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* A spare makes at most so much of its memory its own (a larger program's spare still
 * saves its call the fork, and the faults of what it wrote first). */
#define RESUME_PREFAULT_MAX (64L << 20)

/* A mapping larger than this is not looked at: a reservation (an allocator's arena, a
 * sanitizer's shadow) would cost a mincore() per 2 MB of address space for nothing. */
#define RESUME_PREFAULT_SPAN (1L << 30)

/*
 * Makes the resident pages of one private writable mapping this process's own, as if it
 * wrote each (MADV_POPULATE_WRITE: the copy-on-write copies, made now instead of one
 * fault at a time during the call). Never a page that is not there: a reserved heap
 * that was never touched stays unallocated (mincore). Between chunks, a waiting call
 * ends it. Returns 0 to go on, 1 when the call came or the budget is spent, -1 when
 * the kernel cannot (before Linux 5.14: its first use fails).
 */
static int resume_prefault_range(uintptr_t a, uintptr_t end, int sfd, long *budget, int *works)
{
	enum { CHUNK = 512 }; /* pages, then a look at the socket */
	unsigned char vec[CHUNK];
	long page = sysconf(_SC_PAGESIZE);
	if (page <= 0 || end - a > (uintptr_t)RESUME_PREFAULT_SPAN)
		return 0;
	for (; a < end; a += (uintptr_t)CHUNK * (uintptr_t)page) {
		uintptr_t e = end - a > (uintptr_t)CHUNK * (uintptr_t)page ? a + (uintptr_t)CHUNK * (uintptr_t)page : end;
		if (mincore((void *)a, e - a, vec) < 0)
			return 0; /* not ours to touch (a guard, a gap): the next mapping */
		size_t n = (e - a + (uintptr_t)page - 1) / (uintptr_t)page;
		for (size_t i = 0; i < n;) {
			if (!(vec[i] & 1)) {
				i++;
				continue;
			}
			size_t j = i;
			while (j < n && (vec[j] & 1))
				j++;
			if (madvise((void *)(a + i * (uintptr_t)page), (j - i) * (uintptr_t)page, MADV_POPULATE_WRITE) == 0)
				*works = 1;
			else if (errno == EINVAL && !*works)
				return -1; /* no such advice here */
			else if (errno == EINVAL)
				return 0; /* this mapping takes none (a device's): the next one */
			*budget -= (long)(j - i) * page;
			i = j;
		}
		struct pollfd p = {.fd = sfd, .events = POLLIN};
		if (*budget <= 0 || poll(&p, 1, 0) != 0)
			return 1;
	}
	return 0;
}

/* Every private writable mapping of /proc/self/maps, in order, through a small buffer
 * (read with the system call itself: the hook's read() would take fd 0's place for the
 * program's stdin, were 0 the descriptor opened). */
static void resume_prefault(int sfd)
{
	int fd = real_raw_open("/proc/self/maps", O_RDONLY);
	if (fd < 0)
		return;
	char buf[2048];
	size_t have = 0;
	long budget = RESUME_PREFAULT_MAX;
	int skip = 0, works = 0, stop = 0;
	while (!stop) {
		ssize_t n = syscall(SYS_read, fd, buf + have, sizeof buf - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		char *line = buf, *nl;
		while (!stop && (nl = strchr(line, '\n'))) {
			*nl = '\0';
			unsigned long lo, hi;
			char perms[8];
			/* "lo-hi perms offset dev inode path": private and writable only (a shared
			 * mapping, the connection's ring, is the same pages in every process) */
			if (!skip && sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && perms[0] == 'r' &&
			    perms[1] == 'w' && perms[3] == 'p')
				stop = resume_prefault_range(lo, hi, sfd, &budget, &works) != 0;
			skip = 0;
			line = nl + 1;
		}
		have = (size_t)(buf + have - line);
		memmove(buf, line, have);
		if (have >= sizeof buf - 1) {
			have = 0; /* a line longer than the buffer (a long path): up to its end, skipped */
			skip = 1;
		}
	}
	close(fd);
}

/*
 * A helper session's spare (FM_RESUME_SPARE): a copy forked before its call comes. Once
 * the session's child, it copies the pages it shares with its checkpoint, which the call
 * would otherwise fault in one at a time (an interpreter's exit frees every object: a
 * warm Python call spent some 6 ms there), then waits on its own socket for the call's
 * RESUME and becomes that run. The session's end (EOF, or its death) ends it.
 */
static void resume_as_spare(int sfd, pid_t monitor)
{
	resume_wait_reparent();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != monitor)
		_exit(1);
	resume_prefault(sfd);
	int fds[PEER_MAX_FDS], nfds = 0;
	ssize_t n = peer_recv(sfd, &resume_msg, sizeof resume_msg, fds, &nfds, 0);
	if (n <= 0 || resume_msg.r.h.type != FM_RESUME || (resume_msg.r.flags & FM_RESUME_SPARE))
		_exit(0); /* the session is gone, or dropped us */
	close(sfd);
	resume_become_run(-1, &resume_msg.r, fds, nfds);
}

/* In the grandchild of the checkpoint: from here on, the run. */
static void resume_become_run(int ctl, const struct fm_resume *r, const int *fds, int nfds)
{
	if (ctl >= 0)
		close(ctl);
	if (r->flags & FM_RESUME_SPARE) {
		if (nfds != 1)
			_exit(1);
		resume_as_spare(fds[0], r->monitor_pid);
		return;
	}
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
	slice_default(); /* the program's own again (common/slice.h) */
	sigprocmask(SIG_SETMASK, &hk.saved_mask, NULL);
	clean_after_fork(); /* what the interpreter does in a child of its own fork() */
}

/* What the message telling the pid of the RESUME's copy is (a spare's, or a run's). */
static int resume_pid_type(void)
{
	return (resume_msg.r.flags & FM_RESUME_SPARE) ? FM_SPARE_PID : FM_RESUMED;
}

/* Tells the monitor that no new run (or spare: type) came of its RESUME. */
static void resume_failed(int ctl, int type, int err)
{
	struct fm_pid p = {0};
	fm_init(&p.h, (enum fm_type)type, sizeof p);
	p.pid = -err;
	peer_send(ctl, &p, NULL, 0, 0);
}

/*
 * In a process group of its own, so that the terminal's signals do not reach it, all
 * signals blocked, waiting for RESUME. Each RESUME forks a new run, the monitor's child
 * by a double fork; the checkpoint stays for next time.
 */
void resume_wait(int ctl, int runfd)
{
	setpgid(0, 0);
	slice_short(); /* its wake-up, its fork and its copy's first steps: forkmon's hops */
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
		/*
		 * A double fork: the new run is forked by fork() (so that the program's fork
		 * handlers run in it, as in a child of its own fork at this open: a
		 * library's reseeding, a cached pid) from an intermediate vfork child, which
		 * borrows our memory and exits as soon as it forked; the run is then the
		 * monitor's (a subreaper's). It says its own pid, first of all it says (the
		 * monitor reads it before the run's first word: conn.c).
		 */
		pid_t m = vfork();
		if (m == 0 && ckpt_middle(ctl, resume_pid_type(), 1)) {
			ckpt_say_pid(ctl, resume_pid_type());
			resume_become_run(ctl, &resume_msg.r, fds, nfds);
			return;
		}
		int e = errno;
		for (int i = 0; i < nfds; i++)
			close(fds[i]); /* they went to the new run (or, failed, to nobody) */
		if (m < 0) {
			resume_failed(ctl, resume_pid_type(), e);
			continue;
		}
		while (waitpid(m, NULL, 0) < 0 && errno == EINTR)
			;
	}
}
