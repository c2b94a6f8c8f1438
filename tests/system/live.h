/*
 * tests/system/live.h — what the live tests (tests/system/test_live_*.c) share: forkmon
 * and the test programs' paths, waiting for output and insisting on counts, ending a
 * session by a real signal with nothing left, the status lines forkmon prints, and the
 * session's processes as /proc shows them. Run in the test's own process (Check forks one
 * per test); the sessions themselves are the harness's (harness.h). The engine and
 * monitor suites use it too.
 *
 * Waiting is by polling with generous deadlines; the only sleeps space a user's actions
 * apart where the scenario is about that spacing. What the scheduler decides (whether
 * two quick saves make one resume or two) is asserted as a range, never as a count: the
 * exact rules are unit-tested on a fake clock (tests/unit/).
 */
#ifndef FORKMON_TESTS_LIVE_H
#define FORKMON_TESTS_LIVE_H

#include "harness.h"

#include <check.h>
#include <sys/types.h>

#define LV_WAIT 20.0 /* seconds: generous, for a slow shared machine */

/* build/forkmon, and build/progs/NAME (eight buffers in turn: several may be in use). */
char *lv_forkmon(void);
char *lv_prog(const char *name);

/* The end of the output so far, short enough for a Check message. */
const char *lv_out_tail(struct h_session *s);

/* Waits for count occurrences of needle (LV_WAIT at most), or fails the test. */
void lv_expect(struct h_session *s, const char *needle, int count);
/* Waits for count occurrences, then insists there are no more. */
void lv_expect_exactly(struct h_session *s, const char *needle, int count);
/* Insists on count occurrences now (what is printed before something already seen). */
void lv_assert_count(struct h_session *s, const char *needle, int count);
void lv_expect_none(struct h_session *s, const char *needle);
/* Fails unless needle occurs between lo and hi times (inclusive) now; returns the count. */
int lv_assert_between(struct h_session *s, const char *needle, int lo, int hi);

/* The versions shown (the number after each occurrence of prefix, in output order) only
 * grow, or the test fails; returns the last one (-1: none) and how many lines showed one. */
int lv_versions_grow(struct h_session *s, const char *prefix, int *lines);

/* Ends the session with a real signal (group: to its process group): forkmon must end
 * by it and nothing of the session be left. The output stays readable until h_cleanup;
 * lv_end_session cleans up too. */
void lv_stop_session(struct h_session *s, int sig, int group);
void lv_end_session(struct h_session *s, int sig, int group);

/* Runs a command (NULL-terminated arguments) in the session's directory, the way a
 * user's editor or tool runs, and insists it worked. */
void lv_run_ok(struct h_session *s, ...);

/* The text of the last line containing needle (static buffer), "" if none. */
const char *lv_last_line_with(struct h_session *s, const char *needle);

/* forkmon's change lines so far (resumes and restarts). */
int lv_changes(struct h_session *s);
/* After one user action: the line holding `want` shows (for the times-th time) and, once
 * no more changes come for LV_SETTLE_MS, the last line with `prefix` is it. The action
 * made between 1 and max changes since `before` (a machine under load may split a
 * checkout); returns how many. */
#define LV_SETTLE_MS 600
int lv_settles_on(struct h_session *s, const char *prefix, const char *want, int times, int before, int max);

/* forkmon's status lines for a change of file (static buffers). */
const char *lv_resume_line(struct h_session *s, const char *file);
const char *lv_resume_from_line(struct h_session *s, const char *file, const char *from);
const char *lv_restart_line(struct h_session *s, const char *file);

/* A process as /proc/PID/stat shows it. */
struct lv_pstat {
	pid_t pid, ppid, pgid;
	char state;
	int threads;
};

int lv_pstat_read(pid_t pid, struct lv_pstat *ps);
/* The checkpoints of a session: the monitor's live children in a process group of
 * their own. Returns how many (up to max into out). */
int lv_checkpoints_of(pid_t top, struct lv_pstat *out, int max);
/* The monitor of a session started as top (forkmon run: the guard's child; else top). */
pid_t lv_monitor_of(pid_t top);
/* Descriptors of pid whose link reads `what` (e.g. "anon_inode:inotify"). */
int lv_fds_named(pid_t pid, const char *what);

/* A file of the session's directory, read whole (static buffer); occurrences of needle
 * in a text; a directory made in the session's directory. */
const char *lv_file_text(struct h_session *s, const char *name);
int lv_text_count(const char *text, const char *needle);
void lv_make_dir(struct h_session *s, const char *name);

#endif
