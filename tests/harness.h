/*
 * tests/harness.h — driving real programs under forkmon from Check tests.
 *
 * A session runs in a fresh temporary directory (its cwd), in a process group of its
 * own (like a shell job), with stdout and stderr going to one file the test polls. Every
 * process of the session carries FORKMON_TEST_TAG=<unique> in its environment, so the
 * test can prove that none is left afterwards. Waiting is by polling with generous
 * deadlines, never by fixed sleeps; if the test process dies, the session gets SIGTERM
 * (parent-death signal) and the temporary directory is removed at exit.
 */
#ifndef FORKMON_TESTS_HARNESS_H
#define FORKMON_TESTS_HARNESS_H

#include <limits.h>
#include <sys/types.h>

struct h_session {
	char dir[PATH_MAX];
	char out[PATH_MAX];
	char tag[64];
	pid_t pid;
	int status;
};

/* The source tree (FORKMON_TOP) and files in it. */
const char *h_top(void);
const char *h_path(const char *rel); /* static buffer, valid until the next call */

void h_init(struct h_session *s);
/* dir/name, a static buffer */
const char *h_file(struct h_session *s, const char *name);

/* Editors' ways of saving. */
void h_write(struct h_session *s, const char *name, const char *content);        /* in place */
void h_write_rename(struct h_session *s, const char *name, const char *content); /* tmp + mv */

/* Starts argv (argv[0] a path or a name in PATH) in s->dir with extra "K=V" variables. */
void h_start(struct h_session *s, char *const argv[], char *const env[]);

/* Output so far (static buffer), and occurrences of needle in it. */
const char *h_output(struct h_session *s);
int h_count(struct h_session *s, const char *needle);
/* Polls until needle occurs at least count times; 1 when it did within timeout_s. */
int h_wait_for(struct h_session *s, const char *needle, int count, double timeout_s);
/* Polls until the session ends by itself; 1 when it did (status in s->status). */
int h_wait_exit(struct h_session *s, double timeout_s);

/* Sends sig to the session's top process (group: to the whole process group, like a
 * terminal's Ctrl-C) and waits for it; returns the wait status. */
int h_stop(struct h_session *s, int sig, int group);

/* Number of live processes carrying the session's tag. */
int h_left(struct h_session *s);
/* Polls until no process of the session is left; 1 when none is. */
int h_none_left(struct h_session *s, double timeout_s);

/* Removes the temporary directory. */
void h_cleanup(struct h_session *s);

/* Removes a directory tree. */
void h_rm_rf(const char *dir);

/* ---- additions for the live suites (tests/system/test_live_*.c) ------------------ */

/* Runs argv (a path or a name in PATH) in s->dir, its stdin and output on /dev/null,
 * and waits for it by pid; returns its wait status. How a user's editor or tool runs. */
int h_run(struct h_session *s, char *const argv[]);

/* h_start with the session's stdin (in) and stdout+stderr (out) given; -1 keeps
 * h_start's choice (/dev/null, the output file). The fds stay open in the caller. */
void h_start_io(struct h_session *s, char *const argv[], char *const env[], int in, int out);

/* Copies everything read from fd to the session's output file in a process of its
 * own (which holds no other descriptor), until end of file (or EIO: a pseudo-terminal's
 * other side closed). Returns its pid; the caller waits for it. */
pid_t h_copier(struct h_session *s, int fd);

/* Sleeps: only to space a user's actions apart in time, never to wait for behaviour. */
void h_sleep_ms(int ms);

/* Seconds on a monotonic clock. */
double h_clock(void);

/* Live processes carrying the session's tag: up to max pids into pids; returns the
 * number found (may exceed max). */
int h_procs(struct h_session *s, pid_t *pids, int max);

/* The live processes carrying the session's tag, one per line: pid, state, parent, command
 * line (static buffer), for the message of a test that finds some left. */
const char *h_describe(struct h_session *s);

#define H_ENV_END ((char *)0)

#endif
