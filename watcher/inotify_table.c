/*
 * watcher/inotify_table.c — the watcher's bookkeeping of libinotifytools (see
 * inotify_int.h): which watch descriptors are live, the library's name table (dead
 * entries retired by renaming them, a resync against the kernel after an overflow), and
 * finding the library's descriptor. Runs in the monitor, under watcher_lock, called by
 * inotify.c only.
 *
 * The library keeps a watch in its table after the kernel dropped it (IN_IGNORED), and
 * cannot delete it (inotifytools_remove_watch_by_wd() calls inotify_rm_watch(), gets
 * EINVAL, prints to stderr and keeps the entry); the stale entry keeps owning the name.
 * So our own set of live watch descriptors (watcher.live) is the truth: a name the table
 * maps to a wd that is not live is asked about again (of the kernel), and a dead entry is
 * retired by renaming it out of the way (watcher_retire()), which frees its name for the
 * re-created directory. Retired entries are freed by inotifytools_cleanup().
 */
#include "inotify_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <inotifytools/inotifytools.h>

/* Tombstone names must never repeat (see watcher_retire()); not reset by stop. */
static uint64_t watcher_tomb_seq;

/* ---- the set of live watch descriptors ---- */

/* Index of wd in watcher.live, or of where it would go. */
static size_t watcher_live_pos(int wd)
{
	size_t lo = 0, hi = watcher.nlive;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (watcher.live[mid] < wd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int watcher_live_has(int wd)
{
	size_t i = watcher_live_pos(wd);

	return i < watcher.nlive && watcher.live[i] == wd;
}

int watcher_live_add(int wd)
{
	size_t i = watcher_live_pos(wd);

	if (i < watcher.nlive && watcher.live[i] == wd)
		return 0;
	if (watcher.nlive == watcher.caplive) {
		size_t cap = watcher.caplive ? 2 * watcher.caplive : 64;
		int *p = realloc(watcher.live, cap * sizeof *p);

		if (!p)
			return -1;
		watcher.live = p;
		watcher.caplive = cap;
	}
	memmove(watcher.live + i + 1, watcher.live + i, (watcher.nlive - i) * sizeof *watcher.live);
	watcher.live[i] = wd;
	watcher.nlive++;
	return 0;
}

void watcher_live_del(int wd)
{
	size_t i = watcher_live_pos(wd);

	if (i == watcher.nlive || watcher.live[i] != wd)
		return;
	memmove(watcher.live + i, watcher.live + i + 1, (watcher.nlive - i - 1) * sizeof *watcher.live);
	watcher.nlive--;
}

/* ---- the library's table ---- */

/*
 * Retires watch wd (named libname), which the kernel no longer has or is about to drop.
 *
 * The library's name table is a tree ordered by strcmp() of the names, and
 * inotifytools_set_filename_by_wd() changes a name without re-inserting the entry. So the
 * new name must sort exactly where the old one did: libname + "\001" + a hex number that
 * decreases with every retirement. Only earlier tombstones of the same name sort between
 * libname and it, and they sort after it. The name is free again for a re-created
 * directory, and the entry (unreachable by name) is freed by inotifytools_cleanup().
 */
void watcher_retire(int wd, const char *libname)
{
	char tomb[PATH_MAX + 32];

	snprintf(tomb, sizeof tomb, "%s\001%016" PRIx64, libname, UINT64_MAX - ++watcher_tomb_seq);
	inotifytools_set_filename_by_wd(wd, tomb);
	watcher_live_del(wd);
}

/* After IN_Q_OVERFLOW, the IN_IGNORED of a vanished directory may have been among the
 * lost events. The kernel lists the watches it still has in fdinfo ("inotify wd:%x ...");
 * anything we believe live and it does not list is reported and retired. */
void watcher_resync(void)
{
	char fdinfo[64], *line = NULL;
	size_t linecap = 0, nalive = 0, capalive = 0, i;
	int *alive = NULL, ok = 1;
	FILE *f;

	snprintf(fdinfo, sizeof fdinfo, "/proc/self/fdinfo/%d", watcher.ino_fd);
	f = fopen(fdinfo, "re");
	if (!f)
		return; /* cannot tell: keep believing the table */
	while (getline(&line, &linecap, f) > 0) {
		unsigned int wd;

		if (sscanf(line, "inotify wd:%x", &wd) != 1)
			continue;
		if (nalive == capalive) {
			size_t cap = capalive ? 2 * capalive : 64;
			int *p = realloc(alive, cap * sizeof *p);

			if (!p) {
				ok = 0;
				break;
			}
			alive = p;
			capalive = cap;
		}
		alive[nalive++] = (int)wd;
	}
	free(line);
	fclose(f);
	/* Walk backwards: watcher_retire() removes the current element. */
	for (i = watcher.nlive; ok && i-- > 0;) {
		int wd = watcher.live[i];
		const char *name;
		size_t j;

		for (j = 0; j < nalive && alive[j] != wd; j++)
			;
		if (j < nalive)
			continue;
		name = inotifytools_filename_from_wd(wd);
		if (name) {
			watcher_queue(IN_IGNORED, name, "");
			watcher_retire(wd, name);
		} else {
			watcher_live_del(wd);
		}
	}
	free(alive);
}

/* ---- finding the library's descriptor ---- */

/* The inotify descriptors open in this process, into a malloc'd array. */
static int watcher_inotify_fds(int **out, size_t *n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int *fds = NULL;
	size_t cap = 0;

	*n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char link[64], target[32];
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		ssize_t t;

		if (end == e->d_name || *end || fd == dirfd(d))
			continue;
		snprintf(link, sizeof link, "/proc/self/fd/%ld", fd);
		t = readlink(link, target, sizeof target - 1);
		if (t < 0)
			continue;
		target[t] = '\0';
		if (strcmp(target, "anon_inode:inotify"))
			continue;
		if (*n == cap) {
			int *p;

			cap = cap ? 2 * cap : 8;
			p = realloc(fds, cap * sizeof *p);
			if (!p) {
				free(fds);
				closedir(d);
				return -1;
			}
			fds = p;
		}
		fds[(*n)++] = (int)fd;
	}
	closedir(d);
	*out = fds;
	return 0;
}

/* Is fd an inotify instance? */
static int watcher_is_inotify(int fd)
{
	char link[64], target[32];
	ssize_t t;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	t = readlink(link, target, sizeof target - 1);
	if (t < 0)
		return 0;
	target[t] = '\0';
	return strcmp(target, "anon_inode:inotify") == 0;
}

/* The lowest free descriptor, when this process has no other thread to open one before
 * our next call, else -1. (/proc/self/task's link count is 2 + the threads.) */
static int watcher_next_fd(void)
{
	struct stat st;
	int fd;

	if (stat("/proc/self/task", &st) < 0 || st.st_nlink != 3)
		return -1;
	fd = open("/", O_PATH | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	return fd;
}

/*
 * Initialises libinotifytools and returns its descriptor. The library's inotify_init()
 * takes the lowest free descriptor: when this process has one thread (the monitor when
 * it starts the watcher), that is the one free just before, if it is an inotify instance
 * just after. Else it is the one inotify descriptor that appeared across
 * inotifytools_initialize(): comparing the sets, rather than taking the highest inotify
 * descriptor, is what makes it ours even if the process already has other inotify
 * instances. (The sets cost a readlink per open descriptor, twice: 0.4 ms of processor
 * time at every start, while the program starts on the other.)
 */
int watcher_find_fd(void)
{
	int *before = NULL, *after = NULL, fd = -1, err = EIO;
	size_t nbefore, nafter, i, j, found = 0;
	int next = watcher_next_fd();

	if (next >= 0) {
		if (!inotifytools_initialize()) {
			errno = inotifytools_error() > 0 ? inotifytools_error() : EIO;
			return -1;
		}
		if (watcher_is_inotify(next))
			return next;
		/* not there: the library was already initialised, or /proc failed us */
		inotifytools_cleanup();
		errno = EIO;
		return -1;
	}
	if (watcher_inotify_fds(&before, &nbefore) < 0) {
		errno = ENOSYS; /* no /proc: the descriptor cannot be found */
		return -1;
	}
	if (!inotifytools_initialize()) {
		err = inotifytools_error() > 0 ? inotifytools_error() : EIO;
		free(before);
		errno = err;
		return -1;
	}
	if (watcher_inotify_fds(&after, &nafter) == 0) {
		for (i = 0; i < nafter; i++) {
			for (j = 0; j < nbefore && before[j] != after[i]; j++)
				;
			if (j == nbefore) {
				fd = after[i];
				found++;
			}
		}
	}
	free(before);
	free(after);
	if (found != 1) {
		/* None: the library was already initialised (or /proc failed us). Several:
		 * another thread opened one meanwhile, and we cannot tell which is ours. */
		inotifytools_cleanup();
		errno = err;
		return -1;
	}
	return fd;
}

/* The watch descriptor the library has for dir ("dir/" for a directory, "dir" when dir
 * is a symlink to one: the library keys by lstat()), or -1. */
int watcher_lookup(const char *dir, const char *key)
{
	int wd = inotifytools_wd_from_filename(key);

	if (wd < 0 && strcmp(key, dir))
		wd = inotifytools_wd_from_filename(dir);
	return wd;
}
