/*
 * tests/system/test_inotify_storms.c — the watcher thread (watcher/inotify.c) under storms nobody reads: a restart leaves
 * nothing of the old instance, the kernel queue overflows and the thread recovers, stop
 * returns while stuck; and the kernel's watch limit.
 *
 * System suite (inotify-storms). Every test watches a fresh temporary directory and reads records
 * until the one it waits for arrives, within a generous deadline (watchlog.h).
 */
#include "inotify.h"
#include "suites.h"
#include "watchlog.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(restart)
{
	char dir[PATH_MAX], f[PATH_MAX], a[PATH_MAX], b[PATH_MAX], h[PATH_MAX];
	int i;

	wl_watched_dir(dir, sizeof dir);
	wl_path_in(f, sizeof f, dir, "f");
	wl_path_in(a, sizeof a, dir, "a");
	wl_path_in(b, sizeof b, dir, "b");
	wl_path_in(h, sizeof h, dir, "h");
	ck_assert_int_eq(watcher_start(), -1);
	ck_assert_int_eq(errno, EBUSY);
	wl_make_file(f, "a\n");
	ck_assert_int_ge(wl_wait_for(IN_CLOSE_WRITE, f, WL_DEADLINE), 0);

	/* Left unread at stop, some of it inside libinotifytools' own buffer: after the
	 * storm the thread is stalled on the full socket; reading a couple of thousand
	 * records makes it drain again, stopping at its per-drain limit with thousands more
	 * queued, and stall again. None of it may surface in the next instance, where this
	 * directory gets the same wd. */
	wl_storm(dir, 20000);
	for (i = 0; i < 2000; i++)
		ck_assert_int_ge(wl_wait_for(IN_MODIFY, NULL, WL_DEADLINE), 0);
	watcher_stop();
	ck_assert_int_eq(watcher_count(), 0);
	wl_log_clear();
	wl_fd = watcher_start();
	ck_assert_int_ge(wl_fd, 0);
	ck_assert_int_eq(watcher_count(), 0);
	ck_assert_int_eq(watcher_add_dir(dir), 0);
	ck_assert_int_eq(watcher_count(), 1);
	wl_make_file(h, "c\n");
	ck_assert_int_ge(wl_wait_for(IN_CLOSE_WRITE, h, WL_DEADLINE), 0);
	ck_assert_int_eq(wl_find(IN_ALL_EVENTS, a, 0), -1);
	ck_assert_int_eq(wl_find(IN_ALL_EVENTS, b, 0), -1);
	wl_rm_rf(dir);
}
END_TEST

START_TEST(overflow)
{
	char dir[PATH_MAX], f[PATH_MAX], sub[PATH_MAX], x[PATH_MAX];
	long queued = 0;
	FILE *q = fopen("/proc/sys/fs/inotify/max_queued_events", "re");

	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(fscanf(q, "%ld", &queued), 1);
	fclose(q);
	if (queued > 200000) {
		fprintf(stderr, "overflow: max_queued_events %ld too large, skipped\n", queued);
		return;
	}
	wl_watched_dir(dir, sizeof dir);
	wl_path_in(f, sizeof f, dir, "f");
	wl_path_in(sub, sizeof sub, dir, "sub");
	wl_path_in(x, sizeof x, sub, "x");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(watcher_add_dir(sub), 0);
	/* Nobody reads: the thread stalls on the full socket, the kernel queue overflows. */
	wl_storm(dir, 2 * queued + 20000);
	/* Its IN_DELETE_SELF and IN_IGNORED are lost to the full queue. */
	ck_assert_int_eq(rmdir(sub), 0);
	ck_assert_int_ge(wl_wait_for(IN_Q_OVERFLOW, "", WL_DEADLINE), 0);
	/* The overflow made the thread ask the kernel which watches are left. */
	ck_assert_int_ge(wl_wait_for(IN_IGNORED, sub, WL_DEADLINE), 0);
	ck_assert_int_eq(watcher_count(), 1);
	/* dir's watch survived, and the thread carries on. */
	wl_make_file(f, "a\n");
	ck_assert_int_ge(wl_wait_for(IN_CLOSE_WRITE, f, WL_DEADLINE), 0);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(watcher_add_dir(sub), 0);
	ck_assert_int_eq(watcher_count(), 2);
	wl_make_file(x, "x\n");
	ck_assert_int_ge(wl_wait_for(IN_CLOSE_WRITE, x, WL_DEADLINE), 0);
	wl_rm_rf(dir);
}
END_TEST

START_TEST(stop_unread)
{
	char dir[PATH_MAX];
	double t;

	/* The thread is stuck sending to a main loop that does not read; stop must still
	 * return (the test's timeout is the failure). */
	wl_watched_dir(dir, sizeof dir);
	wl_storm(dir, 20000);
	t = wl_now();
	watcher_stop();
	ck_assert_double_lt(wl_now() - t, WL_DEADLINE);
	wl_rm_rf(dir);
}
END_TEST

/*
 * The kernel's watch limit, in a user namespace of our own whose limit
 * (/proc/sys/user/max_inotify_watches) we may lower without touching the machine's.
 * In a child: unshare() wants a single-threaded process.
 */
START_TEST(watch_limit)
{
	char dir[PATH_MAX], sub[3][PATH_MAX];
	pid_t pid;
	int i, st;

	wl_fresh_dir(dir, sizeof dir);
	for (i = 0; i < 3; i++) {
		char name[] = { 'd', (char)('0' + i), '\0' };

		wl_path_in(sub[i], sizeof sub[i], dir, name);
		ck_assert_int_eq(mkdir(sub[i], 0755), 0);
	}
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char map[64];
		uid_t uid = getuid();
		int fd, n;

		if (unshare(CLONE_NEWUSER) < 0)
			_exit(77);
		n = snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
		fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, map, n) != n)
			_exit(77);
		close(fd);
		fd = open("/proc/sys/user/max_inotify_watches", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "2\n", 2) != 2)
			_exit(77);
		close(fd);
		if (watcher_start() < 0)
			_exit(10);
		if (watcher_add_dir(sub[0]) || watcher_add_dir(sub[1]))
			_exit(11);
		errno = 0;
		if (watcher_add_dir(sub[2]) != -1)
			_exit(12);
		if (errno != ENOSPC)
			_exit(13);
		if (watcher_count() != 2)
			_exit(14);
		watcher_stop();
		_exit(0);
	}
	while (waitpid(pid, &st, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	ck_assert(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		fprintf(stderr, "watch_limit: no user namespace here, skipped\n");
	else
		ck_assert_int_eq(WEXITSTATUS(st), 0);
	wl_rm_rf(dir);
}
END_TEST

Suite *inotify_storms_suite(void)
{
	Suite *s = suite_create("inotify-storms");
	TCase *tc = tcase_create("storms");
	TCase *lim = tcase_create("limit");

	tcase_add_unchecked_fixture(tc, wl_root_setup, wl_root_teardown);
	tcase_add_checked_fixture(tc, wl_watcher_setup, wl_watcher_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, restart);
	tcase_add_test(tc, overflow);
	tcase_add_test(tc, stop_unread);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(lim, wl_root_setup, wl_root_teardown);
	tcase_set_timeout(lim, 60);
	tcase_add_test(lim, watch_limit);
	suite_add_tcase(s, lim);
	return s;
}
