/*
 * tests/test_inotify.c — the watcher thread against real saves.
 *
 * Every test watches a fresh temporary directory, saves a file the way a tool does
 * (running the real program where there is one), and reads records until the one that
 * completes the save arrives, within a generous deadline: never a fixed sleep.
 *
 * FORKMON_TEST_TRACE=1 prints every record read to stderr (the sequences a save
 * produces are worth seeing when a tool changes its habits).
 */
#include "inotify.h"
#include "suites.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEADLINE 20.0 /* seconds: generous, only reached when something is wrong */
#define LOG_MAX 4096

/* All temporary directories of a test case live under root, which the parent process
 * removes even when a test fails (unchecked fixture). */
static char root[PATH_MAX];
static int wfd = -1;

/* Records read by the current test, in order. */
static struct {
	size_t n;
	uint32_t mask[LOG_MAX];
	char *path[LOG_MAX];
} lg;

/* ---- helpers ---- */

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void log_clear(void)
{
	size_t i;

	for (i = 0; i < lg.n; i++)
		free(lg.path[i]);
	lg.n = 0;
}

static void mask_str(uint32_t mask, char *buf, size_t size)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{ IN_ACCESS, "ACCESS" }, { IN_MODIFY, "MODIFY" }, { IN_ATTRIB, "ATTRIB" },
		{ IN_CLOSE_WRITE, "CLOSE_WRITE" }, { IN_CLOSE_NOWRITE, "CLOSE_NOWRITE" },
		{ IN_OPEN, "OPEN" }, { IN_MOVED_FROM, "MOVED_FROM" }, { IN_MOVED_TO, "MOVED_TO" },
		{ IN_CREATE, "CREATE" }, { IN_DELETE, "DELETE" }, { IN_DELETE_SELF, "DELETE_SELF" },
		{ IN_MOVE_SELF, "MOVE_SELF" }, { IN_UNMOUNT, "UNMOUNT" },
		{ IN_Q_OVERFLOW, "Q_OVERFLOW" }, { IN_IGNORED, "IGNORED" }, { IN_ISDIR, "ISDIR" },
	};
	size_t i, at = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (mask & names[i].bit)
			at += snprintf(buf + at, at < size ? size - at : 0, "%s%s", at ? "|" : "",
				names[i].name);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Index in lg of the first record at or after from with a bit of mask and this path. */
static long find(uint32_t mask, const char *path, size_t from)
{
	size_t i;

	for (i = from; i < lg.n; i++)
		if ((lg.mask[i] & mask) && !strcmp(lg.path[i], path))
			return (long)i;
	return -1;
}

static size_t count(uint32_t mask, const char *path)
{
	size_t i, n = 0;

	for (i = 0; i < lg.n; i++)
		if ((lg.mask[i] & mask) && !strcmp(lg.path[i], path))
			n++;
	return n;
}

/* Reads records (logging them) until one has a bit of mask and this path (path NULL:
 * any path). Returns its index in lg, or -1 at the deadline. */
static long wait_for(uint32_t mask, const char *path, double secs)
{
	double end = now() + secs;
	int trace = getenv("FORKMON_TEST_TRACE") != NULL;

	for (;;) {
		struct fsevent ev;
		struct pollfd p = { .fd = wfd, .events = POLLIN };
		double left;
		int r = watcher_read(wfd, &ev);

		ck_assert_msg(r >= 0, "watcher_read: thread gone (%s)", strerror(errno));
		if (r == 1) {
			long at;

			if (trace) {
				char m[128];

				mask_str(ev.mask, m, sizeof m);
				fprintf(stderr, "  record %-24s %s\n", m, ev.path);
			}
			/* Only storms fill the log, and they look at no indices. */
			if (lg.n == LOG_MAX)
				log_clear();
			lg.mask[lg.n] = ev.mask;
			lg.path[lg.n] = strdup(ev.path);
			ck_assert_ptr_nonnull(lg.path[lg.n]);
			at = (long)lg.n++;
			if ((ev.mask & mask) && (!path || !strcmp(ev.path, path)))
				return at;
			continue;
		}
		left = end - now();
		if (left <= 0)
			return -1;
		poll(&p, 1, (int)(left * 1000) + 1);
	}
}

static void make_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(close(fd), 0);
}

static void check_content(const char *path, const char *text)
{
	char buf[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, text);
}

/* Runs argv (stdin and stdout on /dev/null) and returns its exit status, -1 if it did
 * not exit normally. With out != NULL, stdout goes to that descriptor instead. */
static int run_to(char *const argv[], int out)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, err;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out >= 0)
		posix_spawn_file_actions_adddup2(&fa, out, 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_msg(err == 0, "spawn %s: %s", argv[0], strerror(err));
	while (waitpid(pid, &st, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run(char *const argv[])
{
	return run_to(argv, -1);
}

static void path_in(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	ck_assert(n > 0 && (size_t)n < size);
}

/* A fresh directory under root. */
static void fresh_dir(char *dir, size_t size)
{
	path_in(dir, size, root, "t-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* A fresh directory under root, watched. */
static void watched_dir(char *dir, size_t size)
{
	fresh_dir(dir, size);
	ck_assert_int_eq(watcher_add_dir(dir), 0);
}

/* Creates path in a watched directory and reads up to its CLOSE_WRITE, so that the
 * save under test starts from an empty log. */
static void make_watched_file(const char *path, const char *text)
{
	make_file(path, text);
	ck_assert_int_ge(wait_for(IN_CLOSE_WRITE, path, DEADLINE), 0);
	log_clear();
}

/* ---- fixtures ---- */

static void root_setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(root, sizeof root, "%s/forkmon-test-inotify-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		abort();
	}
}

static void root_teardown(void)
{
	rm_rf(root);
}

static void watcher_setup(void)
{
	log_clear();
	wfd = watcher_start();
	ck_assert_msg(wfd >= 0, "watcher_start: %s", strerror(errno));
}

static void watcher_teardown(void)
{
	watcher_stop();
	wfd = -1;
	log_clear();
}

/* ---- saves ---- */

START_TEST(write_in_place)
{
	char dir[PATH_MAX], f[PATH_MAX];
	long done;
	int fd;

	watched_dir(dir, sizeof dir);
	path_in(f, sizeof f, dir, "f");
	make_watched_file(f, "a\n");

	fd = open(f, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "b\n", 2), 2);
	ck_assert_int_eq(close(fd), 0);
	done = wait_for(IN_CLOSE_WRITE, f, DEADLINE);
	ck_assert_int_ge(done, 0);
	ck_assert_int_ge(find(IN_MODIFY, f, 0), 0);
	ck_assert_int_lt(find(IN_MODIFY, f, 0), done);
	ck_assert_int_eq(find(IN_CREATE | IN_DELETE | IN_MOVED_TO, f, 0), -1);
	check_content(f, "b\n");
	rm_rf(dir);
}
END_TEST

START_TEST(rename_over)
{
	char dir[PATH_MAX], f[PATH_MAX], tmp[PATH_MAX];
	char *mv[] = { "/bin/mv", tmp, f, NULL };
	long done;

	watched_dir(dir, sizeof dir);
	path_in(f, sizeof f, dir, "f");
	path_in(tmp, sizeof tmp, dir, ".f.tmp");
	make_watched_file(f, "a\n");
	make_file(tmp, "b\n");
	ck_assert_int_eq(run(mv), 0);
	done = wait_for(IN_MOVED_TO, f, DEADLINE);
	ck_assert_int_ge(done, 0);
	/* The temporary was written, then left under its own name. */
	ck_assert_int_ge(find(IN_CLOSE_WRITE, tmp, 0), 0);
	ck_assert_int_ge(find(IN_MOVED_FROM, tmp, 0), 0);
	ck_assert_int_lt(find(IN_MOVED_FROM, tmp, 0), done);
	check_content(f, "b\n");
	rm_rf(dir);
}
END_TEST

START_TEST(sed_in_place)
{
	char dir[PATH_MAX], f[PATH_MAX];
	char *sed[] = { "/bin/sed", "-i", "s/a/b/", f, NULL };
	long done;

	watched_dir(dir, sizeof dir);
	path_in(f, sizeof f, dir, "f");
	make_watched_file(f, "a\n");
	ck_assert_int_eq(run(sed), 0);
	/* sed writes dir/sedXXXXXX and renames it over f. */
	done = wait_for(IN_MOVED_TO, f, DEADLINE);
	ck_assert_int_ge(done, 0);
	ck_assert_int_eq(find(IN_DELETE, f, 0), -1);
	check_content(f, "b\n");
	rm_rf(dir);
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
	watched_dir(dir, sizeof dir);
	path_in(f, sizeof f, dir, "f");
	make_watched_file(f, "a\n");
	ck_assert_int_eq(run(vim), 0);
	done = wait_for(IN_CLOSE_WRITE, f, DEADLINE);
	ck_assert_int_ge(done, 0);
	ck_assert_int_ge(find(IN_MODIFY, f, 0), 0);
	ck_assert_int_lt(find(IN_MODIFY, f, 0), done);
	ck_assert_int_eq(find(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO, f, 0), -1);
	check_content(f, "b\n");
	rm_rf(dir);
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
	watched_dir(dir, sizeof dir);
	path_in(f, sizeof f, dir, "f");
	path_in(backup, sizeof backup, dir, "f~");
	make_watched_file(f, "a\n");
	ck_assert_int_eq(run(vim), 0);
	done = wait_for(IN_CLOSE_WRITE, f, DEADLINE);
	ck_assert_int_ge(done, 0);
	created = find(IN_CREATE, f, 0);
	ck_assert_int_ge(created, 0);
	ck_assert_int_lt(created, done);
	ck_assert_int_ge(find(IN_MOVED_FROM, f, 0), 0);
	ck_assert_int_lt(find(IN_MOVED_FROM, f, 0), created);
	ck_assert_int_ge(find(IN_MOVED_TO, backup, 0), 0);
	ck_assert_int_ge(wait_for(IN_DELETE, backup, DEADLINE), 0);
	check_content(f, "b\n");
	rm_rf(dir);
}
END_TEST

START_TEST(cp_over)
{
	char dir[PATH_MAX], f[PATH_MAX], src[PATH_MAX];
	char *cp[] = { "/bin/cp", src, f, NULL };
	long done;

	watched_dir(dir, sizeof dir);
	path_in(f, sizeof f, dir, "f");
	path_in(src, sizeof src, dir, "src");
	make_file(f, "a\n");
	make_watched_file(src, "b\n");
	ck_assert_int_eq(run(cp), 0);
	/* cp opens the existing f with O_TRUNC: written in place. */
	done = wait_for(IN_CLOSE_WRITE, f, DEADLINE);
	ck_assert_int_ge(done, 0);
	ck_assert_int_eq(find(IN_CREATE | IN_DELETE | IN_MOVED_TO, f, 0), -1);
	check_content(f, "b\n");
	rm_rf(dir);
}
END_TEST

START_TEST(delete_recreate)
{
	char dir[PATH_MAX], f[PATH_MAX];
	long del, cre, done;

	watched_dir(dir, sizeof dir);
	path_in(f, sizeof f, dir, "f");
	make_watched_file(f, "a\n");
	ck_assert_int_eq(unlink(f), 0);
	make_file(f, "b\n");
	done = wait_for(IN_CLOSE_WRITE, f, DEADLINE);
	ck_assert_int_ge(done, 0);
	del = find(IN_DELETE, f, 0);
	cre = find(IN_CREATE, f, 0);
	ck_assert_int_ge(del, 0);
	ck_assert_int_gt(cre, del);
	ck_assert_int_gt(done, cre);
	rm_rf(dir);
}
END_TEST

/* ---- the watch table ---- */

/* Alternating writes to two files: consecutive identical events would be merged by the
 * kernel, these are not. */
static void storm(const char *dir, long events)
{
	char a[PATH_MAX], b[PATH_MAX];
	int fa, fb;
	long i;

	path_in(a, sizeof a, dir, "a");
	path_in(b, sizeof b, dir, "b");
	fa = open(a, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	fb = open(b, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert(fa >= 0 && fb >= 0);
	for (i = 0; i < events; i++)
		ck_assert_int_eq(pwrite(i & 1 ? fb : fa, "x", 1, 0), 1);
	close(fa);
	close(fb);
}


START_TEST(dir_recreated)
{
	char dir[PATH_MAX], sub[PATH_MAX], x[PATH_MAX], a[PATH_MAX], z[PATH_MAX], ay[PATH_MAX];
	int round;

	fresh_dir(dir, sizeof dir);
	path_in(sub, sizeof sub, dir, "sub");
	path_in(x, sizeof x, sub, "x");
	/* Neighbours whose names sort around sub's, so that the library's name table has
	 * entries on both sides of the ones we retire. */
	path_in(a, sizeof a, dir, "sua");
	path_in(z, sizeof z, dir, "sub0");
	path_in(ay, sizeof ay, a, "y");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(mkdir(a, 0755), 0);
	ck_assert_int_eq(mkdir(z, 0755), 0);
	ck_assert_int_eq(watcher_add_dir(a), 0);
	ck_assert_int_eq(watcher_add_dir(sub), 0);
	ck_assert_int_eq(watcher_add_dir(z), 0);
	ck_assert_int_eq(watcher_count(), 3);

	for (round = 0; round < 3; round++) {
		long gone;

		log_clear();
		ck_assert_int_eq(rmdir(sub), 0);
		/* The records of the directory itself carry its path, no trailing slash. */
		gone = wait_for(IN_IGNORED, sub, DEADLINE);
		ck_assert_int_ge(gone, 0);
		ck_assert_int_ge(find(IN_DELETE_SELF, sub, 0), 0);
		ck_assert_int_lt(find(IN_DELETE_SELF, sub, 0), gone);
		ck_assert_int_eq(watcher_count(), 2);

		ck_assert_int_eq(mkdir(sub, 0755), 0);
		ck_assert_int_eq(watcher_add_dir(sub), 0);
		ck_assert_int_eq(watcher_count(), 3);
		make_file(x, "x\n");
		ck_assert_int_ge(wait_for(IN_CLOSE_WRITE, x, DEADLINE), 0);
		ck_assert_int_eq(unlink(x), 0);
		ck_assert_int_ge(wait_for(IN_DELETE, x, DEADLINE), 0);
	}
	make_file(ay, "y\n");
	ck_assert_int_ge(wait_for(IN_CLOSE_WRITE, ay, DEADLINE), 0);
	rm_rf(dir);
}
END_TEST

START_TEST(dir_recreated_unread)
{
	char dir[PATH_MAX], sub[PATH_MAX], x[PATH_MAX];

	/* Re-created and re-added before the thread could see the IN_IGNORED (it is stuck
	 * on the socket behind a storm nobody reads, with thousands of events still queued
	 * in front): watcher_add_dir() must not take the dead watch for the new one. */
	watched_dir(dir, sizeof dir);
	path_in(sub, sizeof sub, dir, "sub");
	path_in(x, sizeof x, sub, "x");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(watcher_add_dir(sub), 0);
	storm(dir, 5000);
	ck_assert_int_eq(rmdir(sub), 0);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(watcher_add_dir(sub), 0);
	ck_assert_int_eq(watcher_count(), 2);
	make_file(x, "x\n");
	ck_assert_int_ge(wait_for(IN_CLOSE_WRITE, x, DEADLINE), 0);
	ck_assert_int_ge(find(IN_IGNORED, sub, 0), 0);
	rm_rf(dir);
}
END_TEST

START_TEST(dir_moved_away)
{
	char dir[PATH_MAX], sub[PATH_MAX], old[PATH_MAX], x[PATH_MAX], ox[PATH_MAX];
	long gone;

	fresh_dir(dir, sizeof dir);
	path_in(sub, sizeof sub, dir, "sub");
	path_in(old, sizeof old, dir, "old");
	path_in(x, sizeof x, sub, "x");
	path_in(ox, sizeof ox, old, "x");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(watcher_add_dir(sub), 0);
	ck_assert_int_eq(rename(sub, old), 0);
	/* The watch would follow the directory to a path it cannot name: dropped. */
	gone = wait_for(IN_IGNORED, sub, DEADLINE);
	ck_assert_int_ge(gone, 0);
	ck_assert_int_ge(find(IN_MOVE_SELF, sub, 0), 0);
	ck_assert_int_eq(watcher_count(), 0);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(watcher_add_dir(sub), 0);
	ck_assert_int_eq(watcher_count(), 1);
	make_file(ox, "old\n"); /* not watched any more: must not show up as sub/x */
	make_file(x, "x\n");
	ck_assert_int_ge(wait_for(IN_CLOSE_WRITE, x, DEADLINE), 0);
	ck_assert_int_eq(count(IN_CLOSE_WRITE, x), 1);
	rm_rf(dir);
}
END_TEST

START_TEST(add_idempotent)
{
	char dir[PATH_MAX], slash[PATH_MAX + 1], f[PATH_MAX], g[PATH_MAX];

	watched_dir(dir, sizeof dir);
	snprintf(slash, sizeof slash, "%s/", dir);
	ck_assert_int_eq(watcher_add_dir(dir), 0);
	ck_assert_int_eq(watcher_add_dir(dir), 0);
	ck_assert_int_eq(watcher_add_dir(slash), 0);
	ck_assert_int_eq(watcher_count(), 1);
	path_in(f, sizeof f, dir, "f");
	path_in(g, sizeof g, dir, "g");
	make_file(f, "a\n");
	make_file(g, "b\n");
	/* g is the marker: everything about f has arrived by then, exactly once. */
	ck_assert_int_ge(wait_for(IN_CLOSE_WRITE, g, DEADLINE), 0);
	ck_assert_uint_eq(count(IN_CLOSE_WRITE, f), 1);
	ck_assert_uint_eq(count(IN_CREATE, f), 1);
	rm_rf(dir);
}
END_TEST

START_TEST(symlinked_dir)
{
	char dir[PATH_MAX], real[PATH_MAX], lnk[PATH_MAX], lx[PATH_MAX], rx[PATH_MAX];

	fresh_dir(dir, sizeof dir);
	path_in(real, sizeof real, dir, "real");
	path_in(lnk, sizeof lnk, dir, "lnk");
	path_in(lx, sizeof lx, lnk, "x");
	path_in(rx, sizeof rx, real, "x");
	ck_assert_int_eq(mkdir(real, 0755), 0);
	ck_assert_int_eq(symlink("real", lnk), 0);
	/* The symlink is followed, and the records use the path we were given. */
	ck_assert_int_eq(watcher_add_dir(lnk), 0);
	ck_assert_int_eq(watcher_add_dir(lnk), 0);
	ck_assert_int_eq(watcher_count(), 1);
	/* The same directory by another path stays one watch, named by the first path. */
	ck_assert_int_eq(watcher_add_dir(real), 0);
	ck_assert_int_eq(watcher_count(), 1);
	make_file(rx, "x\n");
	ck_assert_int_ge(wait_for(IN_CLOSE_WRITE, lx, DEADLINE), 0);
	ck_assert_int_eq(find(IN_ALL_EVENTS, rx, 0), -1);
	rm_rf(dir);
}
END_TEST

START_TEST(add_errors)
{
	char dir[PATH_MAX], f[PATH_MAX];

	watched_dir(dir, sizeof dir);
	path_in(f, sizeof f, dir, "f");
	make_file(f, "a\n");
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
	rm_rf(dir);
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
	fl = fcntl(wfd, F_GETFD);
	ck_assert(fl >= 0 && (fl & FD_CLOEXEC));
	fl = fcntl(wfd, F_GETFL);
	ck_assert(fl >= 0 && (fl & O_NONBLOCK));

	/* And what an exec'd program really gets. */
	ck_assert_int_eq(fstat(wfd, &st), 0);
	snprintf(sock, sizeof sock, "socket:[%lu]", (unsigned long)st.st_ino);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(run_to(ls, p[1]), 0);
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

START_TEST(restart)
{
	char dir[PATH_MAX], f[PATH_MAX], a[PATH_MAX], b[PATH_MAX], h[PATH_MAX];
	int i;

	watched_dir(dir, sizeof dir);
	path_in(f, sizeof f, dir, "f");
	path_in(a, sizeof a, dir, "a");
	path_in(b, sizeof b, dir, "b");
	path_in(h, sizeof h, dir, "h");
	ck_assert_int_eq(watcher_start(), -1);
	ck_assert_int_eq(errno, EBUSY);
	make_file(f, "a\n");
	ck_assert_int_ge(wait_for(IN_CLOSE_WRITE, f, DEADLINE), 0);

	/* Left unread at stop, some of it inside libinotifytools' own buffer: after the
	 * storm the thread is stalled on the full socket; reading a couple of thousand
	 * records makes it drain again, stopping at its per-drain limit with thousands more
	 * queued, and stall again. None of it may surface in the next instance, where this
	 * directory gets the same wd. */
	storm(dir, 20000);
	for (i = 0; i < 2000; i++)
		ck_assert_int_ge(wait_for(IN_MODIFY, NULL, DEADLINE), 0);
	watcher_stop();
	ck_assert_int_eq(watcher_count(), 0);
	log_clear();
	wfd = watcher_start();
	ck_assert_int_ge(wfd, 0);
	ck_assert_int_eq(watcher_count(), 0);
	ck_assert_int_eq(watcher_add_dir(dir), 0);
	ck_assert_int_eq(watcher_count(), 1);
	make_file(h, "c\n");
	ck_assert_int_ge(wait_for(IN_CLOSE_WRITE, h, DEADLINE), 0);
	ck_assert_int_eq(find(IN_ALL_EVENTS, a, 0), -1);
	ck_assert_int_eq(find(IN_ALL_EVENTS, b, 0), -1);
	rm_rf(dir);
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
	watched_dir(dir, sizeof dir);
	path_in(f, sizeof f, dir, "f");
	path_in(sub, sizeof sub, dir, "sub");
	path_in(x, sizeof x, sub, "x");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(watcher_add_dir(sub), 0);
	/* Nobody reads: the thread stalls on the full socket, the kernel queue overflows. */
	storm(dir, 2 * queued + 20000);
	/* Its IN_DELETE_SELF and IN_IGNORED are lost to the full queue. */
	ck_assert_int_eq(rmdir(sub), 0);
	ck_assert_int_ge(wait_for(IN_Q_OVERFLOW, "", DEADLINE), 0);
	/* The overflow made the thread ask the kernel which watches are left. */
	ck_assert_int_ge(wait_for(IN_IGNORED, sub, DEADLINE), 0);
	ck_assert_int_eq(watcher_count(), 1);
	/* dir's watch survived, and the thread carries on. */
	make_file(f, "a\n");
	ck_assert_int_ge(wait_for(IN_CLOSE_WRITE, f, DEADLINE), 0);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(watcher_add_dir(sub), 0);
	ck_assert_int_eq(watcher_count(), 2);
	make_file(x, "x\n");
	ck_assert_int_ge(wait_for(IN_CLOSE_WRITE, x, DEADLINE), 0);
	rm_rf(dir);
}
END_TEST

START_TEST(stop_unread)
{
	char dir[PATH_MAX];
	double t;

	/* The thread is stuck sending to a main loop that does not read; stop must still
	 * return (the test's timeout is the failure). */
	watched_dir(dir, sizeof dir);
	storm(dir, 20000);
	t = now();
	watcher_stop();
	ck_assert_double_lt(now() - t, DEADLINE);
	rm_rf(dir);
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

	fresh_dir(dir, sizeof dir);
	for (i = 0; i < 3; i++) {
		char name[] = { 'd', (char)('0' + i), '\0' };

		path_in(sub[i], sizeof sub[i], dir, name);
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
	rm_rf(dir);
}
END_TEST

Suite *inotify_suite(void)
{
	Suite *s = suite_create("inotify");
	TCase *tc = tcase_create("watcher");
	TCase *lim = tcase_create("limit");

	tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
	tcase_add_checked_fixture(tc, watcher_setup, watcher_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, write_in_place);
	tcase_add_test(tc, rename_over);
	tcase_add_test(tc, sed_in_place);
	tcase_add_test(tc, vim_write);
	tcase_add_test(tc, vim_write_renaming);
	tcase_add_test(tc, cp_over);
	tcase_add_test(tc, delete_recreate);
	tcase_add_test(tc, dir_recreated);
	tcase_add_test(tc, dir_recreated_unread);
	tcase_add_test(tc, dir_moved_away);
	tcase_add_test(tc, add_idempotent);
	tcase_add_test(tc, symlinked_dir);
	tcase_add_test(tc, add_errors);
	tcase_add_test(tc, cloexec);
	tcase_add_test(tc, restart);
	tcase_add_test(tc, overflow);
	tcase_add_test(tc, stop_unread);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(lim, root_setup, root_teardown);
	tcase_set_timeout(lim, 60);
	tcase_add_test(lim, watch_limit);
	suite_add_tcase(s, lim);
	return s;
}
