/*
 * tests/system/watchlog.c — see watchlog.h.
 */
#include "watchlog.h"

#include "inotify.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
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

#define LOG_MAX 4096

/* All temporary directories of a test case live under wl_root, which the parent process
 * removes even when a test fails (unchecked fixture). */
char wl_root[PATH_MAX];
int wl_fd = -1;

/* Records read by the current test, in order. */
static struct {
	size_t n;
	uint32_t mask[LOG_MAX];
	char *path[LOG_MAX];
} wl_log;

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

void wl_rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void wl_log_clear(void)
{
	size_t i;

	for (i = 0; i < wl_log.n; i++)
		free(wl_log.path[i]);
	wl_log.n = 0;
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

double wl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Index in lg of the first record at or after from with a bit of mask and this path. */
long wl_find(uint32_t mask, const char *path, size_t from)
{
	size_t i;

	for (i = from; i < wl_log.n; i++)
		if ((wl_log.mask[i] & mask) && !strcmp(wl_log.path[i], path))
			return (long)i;
	return -1;
}

size_t wl_count(uint32_t mask, const char *path)
{
	size_t i, n = 0;

	for (i = 0; i < wl_log.n; i++)
		if ((wl_log.mask[i] & mask) && !strcmp(wl_log.path[i], path))
			n++;
	return n;
}

/* Reads records (logging them) until one has a bit of mask and this path (path NULL:
 * any path). Returns its index in lg, or -1 at the deadline. */
long wl_wait_for(uint32_t mask, const char *path, double secs)
{
	double end = wl_now() + secs;
	int trace = getenv("FORKMON_TEST_TRACE") != NULL;

	for (;;) {
		struct fsevent ev;
		struct pollfd p = { .fd = wl_fd, .events = POLLIN };
		double left;
		int r = watcher_read(wl_fd, &ev);

		ck_assert_msg(r >= 0, "watcher_read: thread gone (%s)", strerror(errno));
		if (r == 1) {
			long at;

			if (trace) {
				char m[128];

				mask_str(ev.mask, m, sizeof m);
				fprintf(stderr, "  record %-24s %s\n", m, ev.path);
			}
			/* Only storms fill the log, and they look at no indices. */
			if (wl_log.n == LOG_MAX)
				wl_log_clear();
			wl_log.mask[wl_log.n] = ev.mask;
			wl_log.path[wl_log.n] = strdup(ev.path);
			ck_assert_ptr_nonnull(wl_log.path[wl_log.n]);
			at = (long)wl_log.n++;
			if ((ev.mask & mask) && (!path || !strcmp(ev.path, path)))
				return at;
			continue;
		}
		left = end - wl_now();
		if (left <= 0)
			return -1;
		poll(&p, 1, (int)(left * 1000) + 1);
	}
}

void wl_make_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(close(fd), 0);
}

void wl_check_content(const char *path, const char *text)
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
int wl_run_to(char *const argv[], int out)
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

int wl_run(char *const argv[])
{
	return wl_run_to(argv, -1);
}

void wl_path_in(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	ck_assert(n > 0 && (size_t)n < size);
}

/* A fresh directory under root. */
void wl_fresh_dir(char *dir, size_t size)
{
	wl_path_in(dir, size, wl_root, "t-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* A fresh directory under wl_root, watched. */
void wl_watched_dir(char *dir, size_t size)
{
	wl_fresh_dir(dir, size);
	ck_assert_int_eq(watcher_add_dir(dir), 0);
}

/* Creates path in a watched directory and reads up to its CLOSE_WRITE, so that the
 * save under test starts from an empty log. */
void wl_make_watched_file(const char *path, const char *text)
{
	wl_make_file(path, text);
	ck_assert_int_ge(wl_wait_for(IN_CLOSE_WRITE, path, WL_DEADLINE), 0);
	wl_log_clear();
}

/* ---- fixtures ---- */

void wl_root_setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(wl_root, sizeof wl_root, "%s/forkmon-test-inotify-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(wl_root)) {
		perror("mkdtemp");
		abort();
	}
}

void wl_root_teardown(void)
{
	wl_rm_rf(wl_root);
}

void wl_watcher_setup(void)
{
	wl_log_clear();
	wl_fd = watcher_start();
	ck_assert_msg(wl_fd >= 0, "watcher_start: %s", strerror(errno));
}

void wl_watcher_teardown(void)
{
	watcher_stop();
	wl_fd = -1;
	wl_log_clear();
}

/* Alternating writes to two files: consecutive identical events would be merged by the
 * kernel, these are not. */
void wl_storm(const char *dir, long events)
{
	char a[PATH_MAX], b[PATH_MAX];
	int fa, fb;
	long i;

	wl_path_in(a, sizeof a, dir, "a");
	wl_path_in(b, sizeof b, dir, "b");
	fa = open(a, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	fb = open(b, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert(fa >= 0 && fb >= 0);
	for (i = 0; i < events; i++)
		ck_assert_int_eq(pwrite(i & 1 ? fb : fa, "x", 1, 0), 1);
	close(fa);
	close(fb);
}
