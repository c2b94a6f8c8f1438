/*
 * tests/system/test_inotify_watches.c — the watcher thread (watcher/inotify.c) and its watch table: directories re-created
 * (read or not), moved away, added twice or by a symlink, refused; descriptors never
 * inherited.
 *
 * System suite (inotify-watches). Every test watches a fresh temporary directory and reads records
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

START_TEST(dir_recreated)
{
	char dir[PATH_MAX], sub[PATH_MAX], x[PATH_MAX], a[PATH_MAX], z[PATH_MAX], ay[PATH_MAX];
	int round;

	wl_fresh_dir(dir, sizeof dir);
	wl_path_in(sub, sizeof sub, dir, "sub");
	wl_path_in(x, sizeof x, sub, "x");
	/* Neighbours whose names sort around sub's, so that the library's name table has
	 * entries on both sides of the ones we retire. */
	wl_path_in(a, sizeof a, dir, "sua");
	wl_path_in(z, sizeof z, dir, "sub0");
	wl_path_in(ay, sizeof ay, a, "y");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(mkdir(a, 0755), 0);
	ck_assert_int_eq(mkdir(z, 0755), 0);
	ck_assert_int_eq(watcher_add_dir(a), 0);
	ck_assert_int_eq(watcher_add_dir(sub), 0);
	ck_assert_int_eq(watcher_add_dir(z), 0);
	ck_assert_int_eq(watcher_count(), 3);

	for (round = 0; round < 3; round++) {
		long gone;

		wl_log_clear();
		ck_assert_int_eq(rmdir(sub), 0);
		/* The records of the directory itself carry its path, no trailing slash. */
		gone = wl_wait_for(IN_IGNORED, sub, WL_DEADLINE);
		ck_assert_int_ge(gone, 0);
		ck_assert_int_ge(wl_find(IN_DELETE_SELF, sub, 0), 0);
		ck_assert_int_lt(wl_find(IN_DELETE_SELF, sub, 0), gone);
		ck_assert_int_eq(watcher_count(), 2);

		ck_assert_int_eq(mkdir(sub, 0755), 0);
		ck_assert_int_eq(watcher_add_dir(sub), 0);
		ck_assert_int_eq(watcher_count(), 3);
		wl_make_file(x, "x\n");
		ck_assert_int_ge(wl_wait_for(IN_CLOSE_WRITE, x, WL_DEADLINE), 0);
		ck_assert_int_eq(unlink(x), 0);
		ck_assert_int_ge(wl_wait_for(IN_DELETE, x, WL_DEADLINE), 0);
	}
	wl_make_file(ay, "y\n");
	ck_assert_int_ge(wl_wait_for(IN_CLOSE_WRITE, ay, WL_DEADLINE), 0);
	wl_rm_rf(dir);
}
END_TEST

START_TEST(dir_recreated_unread)
{
	char dir[PATH_MAX], sub[PATH_MAX], x[PATH_MAX];

	/* Re-created and re-added before the thread could see the IN_IGNORED (it is stuck
	 * on the socket behind a storm nobody reads, with thousands of events still queued
	 * in front): watcher_add_dir() must not take the dead watch for the new one. */
	wl_watched_dir(dir, sizeof dir);
	wl_path_in(sub, sizeof sub, dir, "sub");
	wl_path_in(x, sizeof x, sub, "x");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(watcher_add_dir(sub), 0);
	wl_storm(dir, 5000);
	ck_assert_int_eq(rmdir(sub), 0);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(watcher_add_dir(sub), 0);
	ck_assert_int_eq(watcher_count(), 2);
	wl_make_file(x, "x\n");
	ck_assert_int_ge(wl_wait_for(IN_CLOSE_WRITE, x, WL_DEADLINE), 0);
	ck_assert_int_ge(wl_find(IN_IGNORED, sub, 0), 0);
	wl_rm_rf(dir);
}
END_TEST

START_TEST(dir_moved_away)
{
	char dir[PATH_MAX], sub[PATH_MAX], old[PATH_MAX], x[PATH_MAX], ox[PATH_MAX];
	long gone;

	wl_fresh_dir(dir, sizeof dir);
	wl_path_in(sub, sizeof sub, dir, "sub");
	wl_path_in(old, sizeof old, dir, "old");
	wl_path_in(x, sizeof x, sub, "x");
	wl_path_in(ox, sizeof ox, old, "x");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(watcher_add_dir(sub), 0);
	ck_assert_int_eq(rename(sub, old), 0);
	/* The watch would follow the directory to a path it cannot name: dropped. */
	gone = wl_wait_for(IN_IGNORED, sub, WL_DEADLINE);
	ck_assert_int_ge(gone, 0);
	ck_assert_int_ge(wl_find(IN_MOVE_SELF, sub, 0), 0);
	ck_assert_int_eq(watcher_count(), 0);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(watcher_add_dir(sub), 0);
	ck_assert_int_eq(watcher_count(), 1);
	wl_make_file(ox, "old\n"); /* not watched any more: must not show up as sub/x */
	wl_make_file(x, "x\n");
	ck_assert_int_ge(wl_wait_for(IN_CLOSE_WRITE, x, WL_DEADLINE), 0);
	ck_assert_int_eq(wl_count(IN_CLOSE_WRITE, x), 1);
	wl_rm_rf(dir);
}
END_TEST

START_TEST(add_idempotent)
{
	char dir[PATH_MAX], slash[PATH_MAX + 1], f[PATH_MAX], g[PATH_MAX];

	wl_watched_dir(dir, sizeof dir);
	snprintf(slash, sizeof slash, "%s/", dir);
	ck_assert_int_eq(watcher_add_dir(dir), 0);
	ck_assert_int_eq(watcher_add_dir(dir), 0);
	ck_assert_int_eq(watcher_add_dir(slash), 0);
	ck_assert_int_eq(watcher_count(), 1);
	wl_path_in(f, sizeof f, dir, "f");
	wl_path_in(g, sizeof g, dir, "g");
	wl_make_file(f, "a\n");
	wl_make_file(g, "b\n");
	/* g is the marker: everything about f has arrived by then, exactly once. */
	ck_assert_int_ge(wl_wait_for(IN_CLOSE_WRITE, g, WL_DEADLINE), 0);
	ck_assert_uint_eq(wl_count(IN_CLOSE_WRITE, f), 1);
	ck_assert_uint_eq(wl_count(IN_CREATE, f), 1);
	wl_rm_rf(dir);
}
END_TEST

START_TEST(symlinked_dir)
{
	char dir[PATH_MAX], real[PATH_MAX], lnk[PATH_MAX], lx[PATH_MAX], rx[PATH_MAX];

	wl_fresh_dir(dir, sizeof dir);
	wl_path_in(real, sizeof real, dir, "real");
	wl_path_in(lnk, sizeof lnk, dir, "lnk");
	wl_path_in(lx, sizeof lx, lnk, "x");
	wl_path_in(rx, sizeof rx, real, "x");
	ck_assert_int_eq(mkdir(real, 0755), 0);
	ck_assert_int_eq(symlink("real", lnk), 0);
	/* The symlink is followed, and the records use the path we were given. */
	ck_assert_int_eq(watcher_add_dir(lnk), 0);
	ck_assert_int_eq(watcher_add_dir(lnk), 0);
	ck_assert_int_eq(watcher_count(), 1);
	/* The same directory by another path stays one watch, named by the first path. */
	ck_assert_int_eq(watcher_add_dir(real), 0);
	ck_assert_int_eq(watcher_count(), 1);
	wl_make_file(rx, "x\n");
	ck_assert_int_ge(wl_wait_for(IN_CLOSE_WRITE, lx, WL_DEADLINE), 0);
	ck_assert_int_eq(wl_find(IN_ALL_EVENTS, rx, 0), -1);
	wl_rm_rf(dir);
}
END_TEST

START_TEST(add_errors)
{
	char dir[PATH_MAX], f[PATH_MAX];

	wl_watched_dir(dir, sizeof dir);
	wl_path_in(f, sizeof f, dir, "f");
	wl_make_file(f, "a\n");
	errno = 0;
	ck_assert_int_eq(watcher_add_dir("/nonexistent-forkmon-dir/sub"), -1);
	ck_assert_int_eq(errno, ENOENT);
	errno = 0;
	ck_assert_int_eq(watcher_add_dir(f), -1);
	ck_assert_int_eq(errno, ENOTDIR);
	errno = 0;
	ck_assert_int_eq(watcher_add_dir("relative/dir"), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(watcher_count(), 1);
	wl_rm_rf(dir);
}
END_TEST

/* The inotify descriptors open in this process. */
static size_t inotify_fds(int *fds, size_t max)
{
	size_t n = 0;
	int fd;

	for (fd = 0; fd < 4096 && n < max; fd++) {
		char link[64], target[64];
		ssize_t t;

		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		t = readlink(link, target, sizeof target - 1);
		if (t < 0)
			continue;
		target[t] = '\0';
		if (!strcmp(target, "anon_inode:inotify"))
			fds[n++] = fd;
	}
	return n;
}

START_TEST(cloexec)
{
	char out[65536], sock[64];
	char *ls[] = { "/bin/ls", "-l", "/proc/self/fd/", NULL };
	int fds[16], p[2], fl;
	size_t n, i, got = 0;
	struct stat st;
	ssize_t r;

	n = inotify_fds(fds, 16);
	ck_assert_uint_ge(n, 1);
	for (i = 0; i < n; i++) {
		ck_assert_int_lt(fds[i], FD_SETSIZE);
		fl = fcntl(fds[i], F_GETFD);
		ck_assert_msg(fl >= 0 && (fl & FD_CLOEXEC), "inotify fd %d inheritable", fds[i]);
	}
	fl = fcntl(wl_fd, F_GETFD);
	ck_assert(fl >= 0 && (fl & FD_CLOEXEC));
	fl = fcntl(wl_fd, F_GETFL);
	ck_assert(fl >= 0 && (fl & O_NONBLOCK));

	/* And what an exec'd program really gets. */
	ck_assert_int_eq(fstat(wl_fd, &st), 0);
	snprintf(sock, sizeof sock, "socket:[%lu]", (unsigned long)st.st_ino);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(wl_run_to(ls, p[1]), 0);
	close(p[1]);
	while (got < sizeof out - 1 && (r = read(p[0], out + got, sizeof out - 1 - got)) > 0)
		got += (size_t)r;
	close(p[0]);
	out[got] = '\0';
	ck_assert_msg(strstr(out, "/proc/self/fd") || strstr(out, " -> "), "ls output: %s", out);
	ck_assert_msg(!strstr(out, "anon_inode:inotify"), "inherited: %s", out);
	ck_assert_msg(!strstr(out, sock), "inherited: %s", out);
}
END_TEST

Suite *inotify_watches_suite(void)
{
	Suite *s = suite_create("inotify-watches");
	TCase *tc = tcase_create("watch table");

	tcase_add_unchecked_fixture(tc, wl_root_setup, wl_root_teardown);
	tcase_add_checked_fixture(tc, wl_watcher_setup, wl_watcher_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, dir_recreated);
	tcase_add_test(tc, dir_recreated_unread);
	tcase_add_test(tc, dir_moved_away);
	tcase_add_test(tc, add_idempotent);
	tcase_add_test(tc, symlinked_dir);
	tcase_add_test(tc, add_errors);
	tcase_add_test(tc, cloexec);
	suite_add_tcase(s, tc);
	return s;
}
