/*
 * monitor/end.c — the end of a session: every process of it ends, the summary is
 * told, the monitor exits with the right status (re-raising the signal that ended it).
 * Runs in the monitor; called from the loop's callbacks (a signal, the run's end, the
 * helper gone, serve mode's idle timeout, a broken watcher).
 */
#include "guard.h"
#include "session.h"

#include "inotify.h"
#include "out.h"
#include "serve.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

static void end_summary(void)
{
	if (!R.stats.copies)
		return;
	out_status("%u cop%s run, %u resume%s, %u restart%s; %.2f s of start-up work skipped", R.stats.copies,
		   R.stats.copies == 1 ? "y" : "ies", R.stats.resumes, R.stats.resumes == 1 ? "" : "s",
		   R.stats.restarts, R.stats.restarts == 1 ? "" : "s", (double)R.stats.saved_ns / 1e9);
	if (out_events_enabled())
		out_event("end", json_pack("{s:i, s:i, s:i, s:f}", "copies", (int)R.stats.copies, "resumes",
					   (int)R.stats.resumes, "restarts", (int)R.stats.restarts, "saved_ms",
					   (double)R.stats.saved_ns / 1e6));
}

/* Sleeps until a child ends (SIGCHLD, blocked since the start) or until deadline. The
 * last of the session's processes to end always signals us: orphans are re-parented to
 * the monitor (a subreaper) before they can become the last. */
static void end_wait(int64_t deadline)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	int64_t left = deadline - clock_ns();
	if (left < 0)
		left = 0;
	struct timespec ts = {(time_t)(left / 1000000000), (long)(left % 1000000000)};
	sigtimedwait(&chld, NULL, &ts);
}

/* SIGTERM (and SIGCONT) to every process of the session; SIGKILL past the grace period. */
static void end_processes(void)
{
	ckpt_drop_all();
	spare_drop(); /* every signal blocked, like a checkpoint: SIGKILL, not the grace period */
	int64_t deadline = clock_ns() + (guard_gone() ? 0 : S.o->grace_ns);
	int hard = 0;
	for (;;) {
		while (waitpid(-1, NULL, WNOHANG | __WALL) > 0)
			;
		pid_t keep[1];
		if (proc_descendants(S.self, 0, keep, 0, &R.victims) <= 0) /* the end: a full scan */
			break;
		int64_t now = clock_ns();
		if (!hard) {
			proc_terminate(&R.victims);
		}
		if (now >= deadline) {
			proc_signal(&R.victims, SIGKILL);
			hard = 1;
			deadline = now + 2000000000ll;
		}
		end_wait(deadline);
	}
	while (waitpid(-1, NULL, WNOHANG | __WALL) > 0)
		;
}

__attribute__((noreturn)) void end_session(int sig, int status)
{
	end_processes();
	watcher_stop();
	end_summary();
	out_drain(2000);
#ifdef __SANITIZE_ADDRESS__
	/* make sanitize: _exit and a re-raised signal skip LeakSanitizer's check at exit */
	__lsan_do_leak_check();
#endif
	if (sig) {
		signal(sig, SIG_DFL);
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, sig);
		sigprocmask(SIG_UNBLOCK, &s, NULL);
		kill(getpid(), sig);
		_exit(128 + sig);
	}
	_exit(status);
}
