/*
 * tests/system/test_inotify_saves.c — the watcher thread (watcher/inotify.c) against real saves: writes in place, mv, sed -i, vim
 * (both ways it writes), cp, deletion and re-creation: the records that complete each.
 *
 * System suite (inotify-saves). Every test watches a fresh temporary directory and reads records
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

START_TEST(write_in_place)
{
	char dir[PATH_MAX], f[PATH_MAX];
	long done;
	int fd;

	wl_watched_dir(dir, sizeof dir);
	wl_path_in(f, sizeof f, dir, "f");
	wl_make_watched_file(f, "a\n");

	fd = open(f, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "b\n", 2), 2);
	ck_assert_int_eq(close(fd), 0);
	done = wl_wait_for(IN_CLOSE_WRITE, f, WL_DEADLINE);
	ck_assert_int_ge(done, 0);
	ck_assert_int_ge(wl_find(IN_MODIFY, f, 0), 0);
	ck_assert_int_lt(wl_find(IN_MODIFY, f, 0), done);
	ck_assert_int_eq(wl_find(IN_CREATE | IN_DELETE | IN_MOVED_TO, f, 0), -1);
	wl_check_content(f, "b\n");
	wl_rm_rf(dir);
}
END_TEST

START_TEST(rename_over)
{
	char dir[PATH_MAX], f[PATH_MAX], tmp[PATH_MAX];
	char *mv[] = { "/bin/mv", tmp, f, NULL };
	long done;

	wl_watched_dir(dir, sizeof dir);
	wl_path_in(f, sizeof f, dir, "f");
	wl_path_in(tmp, sizeof tmp, dir, ".f.tmp");
	wl_make_watched_file(f, "a\n");
	wl_make_file(tmp, "b\n");
	ck_assert_int_eq(wl_run(mv), 0);
	done = wl_wait_for(IN_MOVED_TO, f, WL_DEADLINE);
	ck_assert_int_ge(done, 0);
	/* The temporary was written, then left under its own name. */
	ck_assert_int_ge(wl_find(IN_CLOSE_WRITE, tmp, 0), 0);
	ck_assert_int_ge(wl_find(IN_MOVED_FROM, tmp, 0), 0);
	ck_assert_int_lt(wl_find(IN_MOVED_FROM, tmp, 0), done);
	wl_check_content(f, "b\n");
	wl_rm_rf(dir);
}
END_TEST

START_TEST(sed_in_place)
{
	char dir[PATH_MAX], f[PATH_MAX];
	char *sed[] = { "/bin/sed", "-i", "s/a/b/", f, NULL };
	long done;

	wl_watched_dir(dir, sizeof dir);
	wl_path_in(f, sizeof f, dir, "f");
	wl_make_watched_file(f, "a\n");
	ck_assert_int_eq(wl_run(sed), 0);
	/* sed writes dir/sedXXXXXX and renames it over f. */
	done = wl_wait_for(IN_MOVED_TO, f, WL_DEADLINE);
	ck_assert_int_ge(done, 0);
	ck_assert_int_eq(wl_find(IN_DELETE, f, 0), -1);
	wl_check_content(f, "b\n");
	wl_rm_rf(dir);
}
END_TEST

/* vim -u NONE runs Vi-compatible: 'backupcopy' yes, and no backup at all under /tmp
 * ('backupskip'). Observed:
 *   CREATE .f.swp, CREATE .f.swpx, CLOSE_WRITE .f.swpx, DELETE .f.swpx,
 *   CLOSE_WRITE .f.swp, DELETE .f.swp, CREATE .f.swp, MODIFY/ATTRIB .f.swp...,
 *   MODIFY f, ATTRIB f, CLOSE_WRITE f, ATTRIB f, MODIFY .f.swp, CLOSE_WRITE .f.swp,
 *   DELETE .f.swp
 * (outside /tmp a copy f~ is written first and deleted last). f is written in place. */
START_TEST(vim_write)
{
	char dir[PATH_MAX], f[PATH_MAX];
	char *vim[] = { "/usr/bin/vim", "-es", "-u", "NONE", "-c", "s/a/b/", "-c", "wq", f, NULL };
	long done;

	if (access(vim[0], X_OK)) {
		fprintf(stderr, "vim_write: %s missing, skipped\n", vim[0]);
		return;
	}
	wl_watched_dir(dir, sizeof dir);
	wl_path_in(f, sizeof f, dir, "f");
	wl_make_watched_file(f, "a\n");
	ck_assert_int_eq(wl_run(vim), 0);
	done = wl_wait_for(IN_CLOSE_WRITE, f, WL_DEADLINE);
	ck_assert_int_ge(done, 0);
	ck_assert_int_ge(wl_find(IN_MODIFY, f, 0), 0);
	ck_assert_int_lt(wl_find(IN_MODIFY, f, 0), done);
	ck_assert_int_eq(wl_find(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO, f, 0), -1);
	wl_check_content(f, "b\n");
	wl_rm_rf(dir);
}
END_TEST

/* vim as most people configure it ('backupcopy' auto), backups not skipped: it probes
 * the directory with a file named 4913, renames f to f~ and writes a new f. Observed:
 *   (swap file as above), CREATE 4913, ATTRIB 4913, CLOSE_WRITE 4913, DELETE 4913,
 *   MOVED_FROM f, MOVED_TO f~, CREATE f, MODIFY f, MODIFY f, ATTRIB f, CLOSE_WRITE f,
 *   ATTRIB f, MODIFY .f.swp, DELETE f~, CLOSE_WRITE .f.swp, DELETE .f.swp */
START_TEST(vim_write_renaming)
{
	char dir[PATH_MAX], f[PATH_MAX], backup[PATH_MAX];
	char *vim[] = { "/usr/bin/vim", "-es", "-u", "NONE", "-c", "set backupskip= backupcopy=auto",
		"-c", "s/a/b/", "-c", "wq", f, NULL };
	long done, created;

	if (access(vim[0], X_OK)) {
		fprintf(stderr, "vim_write_renaming: %s missing, skipped\n", vim[0]);
		return;
	}
	wl_watched_dir(dir, sizeof dir);
	wl_path_in(f, sizeof f, dir, "f");
	wl_path_in(backup, sizeof backup, dir, "f~");
	wl_make_watched_file(f, "a\n");
	ck_assert_int_eq(wl_run(vim), 0);
	done = wl_wait_for(IN_CLOSE_WRITE, f, WL_DEADLINE);
	ck_assert_int_ge(done, 0);
	created = wl_find(IN_CREATE, f, 0);
	ck_assert_int_ge(created, 0);
	ck_assert_int_lt(created, done);
	ck_assert_int_ge(wl_find(IN_MOVED_FROM, f, 0), 0);
	ck_assert_int_lt(wl_find(IN_MOVED_FROM, f, 0), created);
	ck_assert_int_ge(wl_find(IN_MOVED_TO, backup, 0), 0);
	ck_assert_int_ge(wl_wait_for(IN_DELETE, backup, WL_DEADLINE), 0);
	wl_check_content(f, "b\n");
	wl_rm_rf(dir);
}
END_TEST

START_TEST(cp_over)
{
	char dir[PATH_MAX], f[PATH_MAX], src[PATH_MAX];
	char *cp[] = { "/bin/cp", src, f, NULL };
	long done;

	wl_watched_dir(dir, sizeof dir);
	wl_path_in(f, sizeof f, dir, "f");
	wl_path_in(src, sizeof src, dir, "src");
	wl_make_file(f, "a\n");
	wl_make_watched_file(src, "b\n");
	ck_assert_int_eq(wl_run(cp), 0);
	/* cp opens the existing f with O_TRUNC: written in place. */
	done = wl_wait_for(IN_CLOSE_WRITE, f, WL_DEADLINE);
	ck_assert_int_ge(done, 0);
	ck_assert_int_eq(wl_find(IN_CREATE | IN_DELETE | IN_MOVED_TO, f, 0), -1);
	wl_check_content(f, "b\n");
	wl_rm_rf(dir);
}
END_TEST

START_TEST(delete_recreate)
{
	char dir[PATH_MAX], f[PATH_MAX];
	long del, cre, done;

	wl_watched_dir(dir, sizeof dir);
	wl_path_in(f, sizeof f, dir, "f");
	wl_make_watched_file(f, "a\n");
	ck_assert_int_eq(unlink(f), 0);
	wl_make_file(f, "b\n");
	done = wl_wait_for(IN_CLOSE_WRITE, f, WL_DEADLINE);
	ck_assert_int_ge(done, 0);
	del = wl_find(IN_DELETE, f, 0);
	cre = wl_find(IN_CREATE, f, 0);
	ck_assert_int_ge(del, 0);
	ck_assert_int_gt(cre, del);
	ck_assert_int_gt(done, cre);
	wl_rm_rf(dir);
}
END_TEST

Suite *inotify_saves_suite(void)
{
	Suite *s = suite_create("inotify-saves");
	TCase *tc = tcase_create("saves");

	tcase_add_unchecked_fixture(tc, wl_root_setup, wl_root_teardown);
	tcase_add_checked_fixture(tc, wl_watcher_setup, wl_watcher_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, write_in_place);
	tcase_add_test(tc, rename_over);
	tcase_add_test(tc, sed_in_place);
	tcase_add_test(tc, vim_write);
	tcase_add_test(tc, vim_write_renaming);
	tcase_add_test(tc, cp_over);
	tcase_add_test(tc, delete_recreate);
	suite_add_tcase(s, tc);
	return s;
}
