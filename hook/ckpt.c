/*
 * hook/ckpt.c — taking a checkpoint: is one wanted here (the spacing rule), is this a
 * safe moment (one thread, no child), and the fork that leaves a suspended copy of the
 * run as a child of the monitor (a sibling of the run, or by a double fork). Runs
 * inside the user's program, in the run, under hk_lock(); called by decide.c before a
 * watched read.
 */
#include "hook.h"
#include "peer.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The process's page faults so far (minor and major: a copy-on-write fault is minor). */
static long ckpt_faults(void)
{
	struct rusage ru;
	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt + ru.ru_majflt : 0;
}

/*
 * What a resume from an earlier checkpoint would show again (spacing.h): the write
 * system calls of this process so far (syscw of /proc/self/io; a send on a socket, as
 * ours to the monitor, is none), and one more while the C library holds output for
 * stdout or stderr (a checkpoint writes it out: skipped, the run would show it again
 * after a resume from before). -1 when it cannot be known.
 */
static long ckpt_effects(void)
{
	char buf[256];
	int fd = real_raw_open("/proc/self/io", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = strstr(buf, "syscw:");
	if (!p)
		return -1;
	long w = strtol(p + 6, NULL, 10);
	return w + (__fpending(stdout) > 0 || __fpending(stderr) > 0);
}

/* After a checkpoint, or at a resume: where the effects count from, while a free
 * checkpoint may still ask (ckpt_effects is a few microseconds). */
static void ckpt_effects_from(int serve)
{
	if (!serve && hk.spacing.free_used < (int)hk.cfg.free_checkpoints)
		spacing_effects_from(&hk.spacing, ckpt_effects());
}

/* hk.ckpt_asked_ns: when the read that may take a checkpoint began asking (ckpt_wanted
 * with consume): a checkpoint's cost counts from there, the question to the monitor
 * included. hk.ckpt_from_ns: where the cost of the checkpoint being taken counts from
 * (not a local: a vfork child shares our frame). */

/* The rule is pure (spacing.c); here it gets the monitor's numbers, the real clock and
 * the fault counter. A helper session's rule is the fork's alone (spacing.h): its
 * checkpoints serve later calls, and depth is what they are for. */
static void ckpt_cfg(struct spacing_cfg *c)
{
	int serve = (hk.cfg.flags & FM_CFG_SERVE) != 0;
	*c = (struct spacing_cfg){
		.run = hk.cfg.role == FM_ROLE_RUN,
		.every = (hk.cfg.flags & FM_CFG_EVERY) != 0,
		.free_checkpoints = hk.cfg.free_checkpoints,
		.gap_factor = hk.cfg.gap_factor,
		.min_gap_ns = hk.cfg.min_gap_ns,
		.max_checkpoints = hk.cfg.max_checkpoints,
		.faults_now = serve ? NULL : ckpt_faults,
		.effects_now = serve ? NULL : ckpt_effects,
	};
}

int ckpt_wanted(int64_t now, const char *path, int consume)
{
	struct spacing_cfg c;
	ckpt_cfg(&c);
	if (consume)
		hk.ckpt_asked_ns = now;
	return spacing_wanted(&c, &hk.spacing, now, spacing_in_project(hk.cfg.project, path), consume);
}

int ckpt_may_want(int64_t now)
{
	if (hk.spacing.quiet_until_ns && now < hk.spacing.quiet_until_ns)
		return 0; /* most candidates' opens: no configuration to build */
	struct spacing_cfg c;
	ckpt_cfg(&c);
	/* a path in the project may get a free one: the widest answer, changing nothing */
	return spacing_may_want(&c, &hk.spacing, now, hk.cfg.project[0] != 0);
}

/*
 * What a copy-on-write fault costs here and now: a page of our own, written before the
 * fork, is written again after it (the checkpoint shares it: the write copies it). One
 * fault of the many the run takes after each checkpoint anyway.
 */
static char ckpt_probe[4096] __attribute__((aligned(4096)));

static void ckpt_probe_fault(void)
{
	volatile char *p = ckpt_probe;
	int64_t t = hk_now_ns();
	p[0]++;
	spacing_fault_sample(&hk.spacing, hk_now_ns() - t);
}

/* Number of threads of this process, or -1. The kernel counts them into the link count
 * of /proc/self/task (2 + threads): a stat, cheaper than formatting /proc/self/stat. */
static int ckpt_thread_count(void)
{
	struct stat st;
	if (syscall(SYS_newfstatat, AT_FDCWD, "/proc/self/task", &st, 0) == 0 && st.st_nlink >= 3)
		return (int)st.st_nlink - 2;
	/* else field 20 of /proc/self/stat */
	char buf[1024];
	int fd = real_raw_open("/proc/self/stat", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p)
		return -1;
	/* after ")" come fields 3..: state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice num_threads */
	int field = 2;
	for (; *p && field < 20; p++)
		if (*p == ' ')
			field++;
	return atoi(p);
}

/* 1 when the process has live child processes: a copy could never wait for them. */
static int ckpt_has_children(void)
{
	siginfo_t si;
	si.si_pid = 0;
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno != ECHILD;
	return 1;
}

/* A multi-threaded process is never checkpointed: the missing threads would deadlock the
 * copy. Each reason is told to the monitor once per process. */
int ckpt_safe(void)
{
	int t = ckpt_thread_count();
	if (t != 1) {
		if (!hk.noted_threads++)
			conn_note(FM_NOTE_THREADS, t);
		return 0;
	}
	if (ckpt_has_children()) {
		if (!hk.noted_children++)
			conn_note(FM_NOTE_CHILDREN, 0);
		return 0;
	}
	/* a helper session's checkpoint serves later calls: only while nothing of this
	 * call's own (its stdin, its terminal, its randomness) went into it */
	if ((hk.cfg.flags & FM_CFG_SERVE) && !clean_ok())
		return 0;
	return 1;
}

/*
 * The intermediate process of a double fork, a vfork child sharing its parent's memory
 * and stack: it forks the real child, and exits. Returns 1 in that child. The child's
 * pid (type: FM_CKPT_PID or FM_RESUMED) is reported here before the exit, or with
 * child_says by the child itself (ckpt_say_pid): then this process exits as soon as it
 * has forked, and the child, which waits to be the monitor's, waits the least. A
 * failure is always reported here. A function of its own, so that nothing it does lands
 * in the caller's frame, which the suspended parent still owns.
 */
/* Tells the monitor on ctl the pid (or -errno) of a new checkpoint or run (type). */
static void ckpt_send_pid(int ctl, int type, pid_t pid)
{
	struct fm_pid p = {0};
	fm_init(&p.h, (enum fm_type)type, sizeof p);
	p.pid = pid;
	peer_send(ctl, &p, NULL, 0, 0);
}

__attribute__((noinline)) int ckpt_middle(int ctl, int type, int child_says)
{
	/* written into the suspended parent's memory too (vfork): only ever read by the
	 * child forked below, from its own copy */
	hk.middle_pid = getpid();
	pid_t c = fork();
	if (c == 0)
		return 1;
	if (c < 0 || !child_says)
		ckpt_send_pid(ctl, type, c < 0 ? -errno : c);
	_exit(c < 0);
}

/*
 * A copy of this process whose parent is our parent (CLONE_PARENT): when that is the
 * monitor, its child from its first instruction, with no intermediate process to fork
 * it, report it and exit. Returns as fork() does. The system call itself: glibc's
 * fork() has no such flag, and what it does besides is left out: the thread's id kept
 * in its descriptor stays the original's, and no fork handler runs. Only for a
 * checkpoint, which runs none of the program's code: each run resumed from it is
 * forked by fork() (resume.c), and is in every way a child of one fork of the program
 * at its open, its fork handlers run once.
 */
pid_t ckpt_fork_sibling(void)
{
	return (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), 0UL, NULL, NULL, 0UL);
}

/* The monitor's pid: the peer of our connection (SO_PEERCRED), or -1. */
static pid_t ckpt_monitor_pid(void)
{
	struct ucred cr;
	socklen_t len = sizeof cr;
	if (hk.fd < 0 || getsockopt(hk.fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -1;
	return cr.pid;
}

void ckpt_say_pid(int ctl, int type)
{
	ckpt_send_pid(ctl, type, getpid());
}

/* The control connection of a new checkpoint, registered under seq, or -1. */
static int ckpt_register(uint64_t seq)
{
	int ctl = conn_open();
	if (ctl < 0)
		return -1;
	struct fm_ckpt_register reg = {0};
	fm_init(&reg.h, FM_CKPT_REGISTER, sizeof reg);
	reg.seq = seq;
	if (peer_send(ctl, &reg, NULL, 0, 0) < 0) {
		close(ctl);
		return -1;
	}
	return ctl;
}

/* After the double fork, with every signal blocked: the SIGCHLD of our intermediate
 * child is ours, not the program's, unless one was pending before or another child of
 * the program is waiting too. */
static void ckpt_take_sigchld(int was_pending)
{
	if (was_pending)
		return;
	siginfo_t si;
	si.si_pid = 0;
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0) {
		sigset_t chld;
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		struct timespec zero = {0, 0};
		sigtimedwait(&chld, NULL, &zero);
	}
}

int ckpt_take(uint64_t seq)
{
	int64_t asked = hk.ckpt_asked_ns, t0 = hk_now_ns();
	hk.ckpt_asked_ns = 0;
	/* granted unasked: the cost counts from here */
	hk.ckpt_from_ns = asked > 0 && asked <= t0 ? asked : t0;
	int serve = (hk.cfg.flags & FM_CFG_SERVE) != 0;
	fflush(NULL); /* or buffered output would be printed again by every resumed run */
	int ctl = ckpt_register(seq);
	if (ctl < 0)
		return -1;
	offsets_save(ctl);

	/* No signal handler of the program may run in the vfork child (it shares our stack),
	 * and our intermediate child must not disturb the program's SIGCHLD handling. */
	sigset_t all, old, pend;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	hk.saved_mask = old;
	sigpending(&pend);
	int was_pending = sigismember(&pend, SIGCHLD);

	int runfd = hk.fd;
	if (serve)
		hk.ckpt_from_ns = hk_now_ns(); /* a helper session's rule: the fork alone (spacing.h) */
	/* the first few checkpoints measure a fault, then one in 16: the probe's page is
	 * made private before those forks only, so that between them it stays shared with
	 * the checkpoints (written before every fork, it cost each checkpoint a page) */
	int probe = !serve && (hk.spacing.count < 4 || hk.spacing.count % 16 == 0);
	if (probe)
		ckpt_probe[0]++;
	/*
	 * The checkpoint must be the monitor's child, and the program must never see a
	 * child of ours in wait(). The run's parent is the monitor (forkmon run, bare mode,
	 * a resumed run): the checkpoint is forked as the run's sibling. Else a double fork
	 * re-parents it to the monitor (a subreaper); its intermediate process is a vfork
	 * child, which borrows our memory (no page tables copied) while we are suspended,
	 * forks the checkpoint from it, reports the pid and exits.
	 */
	int sibling = getppid() == ckpt_monitor_pid();
	pid_t m = sibling ? ckpt_fork_sibling() : vfork();
	if (m == 0 && (sibling || ckpt_middle(ctl, FM_CKPT_PID, 0))) {
		/* the checkpoint: what it cost so far is the measure of the runs resumed from
		 * it, which count their faults from their own start */
		hk.spacing.last_cost_ns = hk_now_ns() - hk.ckpt_from_ns;
		spacing_reconfigured(&hk.spacing);
		resume_wait(ctl, runfd);
		spacing_faults_from(&hk.spacing, ckpt_faults());
		ckpt_effects_from(serve);
		return 1; /* a new run */
	}
	int err = errno;
	if (sibling && m > 0)
		ckpt_send_pid(ctl, FM_CKPT_PID, m); /* before anything more of ours */
	close(ctl);
	if (m > 0 && !sibling) {
		int st;
		while (waitpid(m, &st, 0) < 0 && errno == EINTR)
			;
		ckpt_take_sigchld(was_pending);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (m < 0) {
		conn_note(FM_NOTE_FORK_FAILED, err);
		return -1;
	}
	if (probe)
		ckpt_probe_fault();
	int64_t t1 = hk_now_ns();
	spacing_forked(&hk.spacing, t1, t1 - hk.ckpt_from_ns, serve ? 0 : ckpt_faults());
	ckpt_effects_from(serve);
	return 0;
}
