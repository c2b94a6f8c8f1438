/*
 * tests/system/watchlog.h — what the watcher tests (tests/system/test_inotify_*.c)
 * share: the watcher thread (watcher/inotify.h) started and stopped around each test,
 * the records it sends logged in order, waiting for a record with a deadline (never a
 * fixed sleep), files and directories made under one root per test case, tools run by
 * posix_spawn. Runs in the test's own process; Check forks one per test.
 *
 * FORKMON_TEST_TRACE=1 prints every record read to stderr (the sequences a save
 * produces are worth seeing when a tool changes its habits).
 */
#ifndef FORKMON_TESTS_WATCHLOG_H
#define FORKMON_TESTS_WATCHLOG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define WL_DEADLINE 20.0 /* seconds: generous, only reached when something is wrong */

/* All temporary directories of a test case live under wl_root, which the parent process
 * removes even when a test fails (unchecked fixture). wl_fd: the watcher's socket. */
extern char wl_root[PATH_MAX];
extern int wl_fd;

/* Fixtures: wl_root for a test case (unchecked), the watcher for a test (checked). */
void wl_root_setup(void);
void wl_root_teardown(void);
void wl_watcher_setup(void);
void wl_watcher_teardown(void);

/* The log of records read by the current test. */
void wl_log_clear(void);
/* Index of the first record at or after from with a bit of mask and this path, or -1. */
long wl_find(uint32_t mask, const char *path, size_t from);
size_t wl_count(uint32_t mask, const char *path);
/* Reads records (logging them) until one has a bit of mask and this path (path NULL:
 * any path). Returns its index in the log, or -1 at the deadline. */
long wl_wait_for(uint32_t mask, const char *path, double secs);

void wl_make_file(const char *path, const char *text);
void wl_check_content(const char *path, const char *text);
/* Creates path in a watched directory and reads up to its CLOSE_WRITE, so that the
 * save under test starts from an empty log. */
void wl_make_watched_file(const char *path, const char *text);
void wl_path_in(char *buf, size_t size, const char *dir, const char *name);
/* A fresh directory under wl_root; the same, watched. */
void wl_fresh_dir(char *dir, size_t size);
void wl_watched_dir(char *dir, size_t size);
void wl_rm_rf(const char *path);
/* Alternating writes to two files of dir (a, b): consecutive identical events would be
 * merged by the kernel, these are not. */
void wl_storm(const char *dir, long events);

/* Runs argv (stdin and stdout on /dev/null) and returns its exit status, -1 if it did
 * not exit normally. wl_run_to: stdout to out instead (when out >= 0). */
int wl_run_to(char *const argv[], int out);
int wl_run(char *const argv[]);

double wl_now(void);

#endif
