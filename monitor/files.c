/*
 * monitor/files.c — the files a session watches. Runs in the monitor.
 *
 * A file is watched through its directory (a directory watch survives the renames
 * editors save with); a file named through a symlink is also watched as the link. Past
 * the kernel's watch limit, without an inotify instance at all (the user's are used up),
 * and while its directory is gone, a file is polled instead (stat() every FILES_POLL_NS):
 * slower to notice, the same pipeline after. Every event becomes a debounce event
 * (watcher/debounce.h). A deletion is a change like any other (the debounce tells it from
 * the first half of an editor's save); a directory that is gone is said once, tried
 * again in silence, and its return is a change of each of its files.
 * Called by conn.c (a read names a file), run.c (the timer: polling; the settle rule:
 * events on their way) and the loop (the watcher's records).
 */
#include "session.h"

#include "serve.h"

#include "debounce.h"
#include "filter.h"
#include "inotify.h"
#include "out.h"
#include "path.h"
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

struct file_table F = {.fresh_id = -1};

/* A limit of the user's inotify use: the lower of our user namespace's (user/NAME) and
 * the system-wide one (fs/inotify/NAME); inside a namespace of its own either may be the
 * one in force. -1: unknown. */
static long files_inotify_limit(const char *user_name, const char *fs_name)
{
	const char *paths[2] = {user_name, fs_name};
	long lim = -1;
	for (int i = 0; i < 2; i++) {
		char p[96], buf[32];
		snprintf(p, sizeof p, i ? "/proc/sys/fs/inotify/%s" : "/proc/sys/user/%s", paths[i]);
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		long v = strtol(buf, NULL, 10);
		if (v >= 0 && (lim < 0 || v < lim))
			lim = v;
	}
	return lim;
}

void files_without_watcher(int err)
{
	F.no_watcher = 1;
	/* EMFILE is also our own descriptor table being full: if another descriptor can
	 * still be opened, it was the inotify instances. */
	int probe = err == EMFILE ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
	if (probe >= 0) {
		close(probe);
		out_error("the user's inotify instances are used up (%ld): watching by polling every %lld ms",
			  files_inotify_limit("max_inotify_instances", "max_user_instances"), FILES_POLL_NS / 1000000);
	} else {
		out_error("cannot start inotify (%s): watching by polling every %lld ms", strerror(err),
			  FILES_POLL_NS / 1000000);
	}
}

/* F.dirs: a directory's state. (-1: never tried.) */
enum { DIR_UNWATCHED = 0, DIR_WATCHED = 1, DIR_GONE = 2 /* said so */, DIR_REFUSED = 3 /* said so */ };

/* Returns 0, or -1 with errno (ENOSPC: the kernel's watch limit, or no watcher at all:
 * the file is to be polled). Each problem is said once: a directory known to be gone is
 * tried again in silence until it returns. */
static int files_watch_dir(const char *dir)
{
	if (F.no_watcher) {
		errno = ENOSPC;
		return -1;
	}
	int was = strmap_get(&F.dirs, dir);
	if (was == DIR_WATCHED)
		return 0;
	if (watcher_add_dir(dir) < 0) {
		int e = errno;
		if (e == ENOSPC && !F.watch_limit_noted++)
			out_error("the user's inotify watches are used up (%ld): watching further directories by "
				  "polling every %lld ms",
				  files_inotify_limit("max_inotify_watches", "max_user_watches"), FILES_POLL_NS / 1000000);
		else if (e != ENOSPC && !(was == DIR_GONE && (e == ENOENT || e == ENOTDIR)) && was != DIR_REFUSED) {
			out_error("cannot watch '%s': %s", dir, strerror(e));
			strmap_put(&F.dirs, dir, DIR_REFUSED);
		}
		errno = e;
		return -1;
	}
	strmap_put(&F.dirs, dir, DIR_WATCHED);
	return 0;
}

/* Says once that a directory of watched files is gone (until it is back). */
static void files_dir_gone(const char *dir)
{
	if (strmap_get(&F.dirs, dir) == DIR_GONE)
		return;
	strmap_put(&F.dirs, dir, DIR_GONE);
	out_status("directory '%s' is gone: its files count as deleted until it is back", dir);
}

void files_dir_of(const char *path, char *out, size_t len)
{
	snprintf(out, len, "%s", path);
	char *s = strrchr(out, '/');
	if (s == out)
		s[1] = '\0';
	else if (s)
		*s = '\0';
}

int files_watch_if_there(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return -1;
	return files_watch_dir(dir);
}

/* From now on the file is stat()ed by files_poll. */
static void files_poll_one(struct wfile *f)
{
	f->polled = 1;
	if (!F.npolled++)
		F.next_poll = clock_ns() + FILES_POLL_NS;
}

/* A new file: its directory watched (or polled past the limit). Returns its id or -1. */
static int files_quiet; /* files_add says nothing (files_set_quiet) */

void files_set_quiet(int quiet)
{
	files_quiet = quiet;
}

int files_add(const char *named, const char *real, const struct stat *st)
{
	char dir[PATH_MAX];
	files_dir_of(real, dir, sizeof dir);
	int polled = 0;
	if (files_watch_dir(dir) < 0) {
		if (errno != ENOSPC)
			return -1;
		polled = 1;
	}
	if (F.n == F.cap) {
		int cap = F.cap ? F.cap * 2 : 64;
		struct wfile *f = realloc(F.v, (size_t)cap * sizeof *f);
		if (!f)
			return -1;
		F.v = f;
		F.cap = cap;
	}
	int id = F.n++;
	F.v[id] = (struct wfile){.named = strdup(named), .real = strdup(real), .seen = *st};
	if (polled)
		files_poll_one(&F.v[id]);
	strmap_put(&F.keys, real, id);
	if (!files_quiet)
		out_status("watch '%s'", named);
	return id;
}

int files_wanted(const char *named, const char *real)
{
	int same = strcmp(real, named) == 0;
	if (!(filter_match(S.o->filter, named) || (!same && filter_match(S.o->filter, real))))
		return 0;
	return !(S.o->ignore && (filter_match(S.o->ignore, named) || (!same && filter_match(S.o->ignore, real))));
}

/*
 * The real path of named and its stat: 0, or -1. realpath() reads every component's
 * link (4 system calls for /tmp/a/b/f.lua), for every new file of the program's; a
 * directory whose name was its real path and that is still the same directory (its
 * identity) needs only the file's own lstat(), and a stat() of the directory.
 */
static int files_real(const char *named, char *real, struct stat *st)
{
	char dir[PATH_MAX];
	files_dir_of(named, dir, sizeof dir);
	int k = strmap_get(&F.canon, dir);
	struct stat ds;
	if (k >= 0 && stat(dir, &ds) == 0 && ds.st_dev == F.canon_id[k].dev && ds.st_ino == F.canon_id[k].ino) {
		if (lstat(named, st) < 0)
			return -1;
		if (!S_ISLNK(st->st_mode)) {
			snprintf(real, PATH_MAX, "%s", named);
			return 0;
		}
	}
	if (!realpath(named, real) || stat(real, st) < 0)
		return -1;
	/* the directory's name is real: remember it (until it is another directory) */
	char rdir[PATH_MAX];
	files_dir_of(real, rdir, sizeof rdir);
	if (strcmp(rdir, dir) == 0 && stat(dir, &ds) == 0) {
		if (k < 0 && F.ncanon == F.canon_cap) {
			int cap = F.canon_cap ? 2 * F.canon_cap : 16;
			struct canon_id *v = realloc(F.canon_id, (size_t)cap * sizeof *v);
			if (!v)
				return 0;
			F.canon_id = v;
			F.canon_cap = cap;
		}
		if (k < 0)
			strmap_put(&F.canon, dir, k = F.ncanon++);
		F.canon_id[k] = (struct canon_id){ds.st_dev, ds.st_ino};
	}
	return 0;
}

int files_for(const char *named, int *verdict)
{
	F.fresh_id = -1;
	int id = strmap_get(&F.names, named);
	if (id >= 0) {
		*verdict = FM_WATCHED;
		return id;
	}
	char real[PATH_MAX], ndir[PATH_MAX];
	struct stat st;
	/* a stat made while the directory is watched already serves the comparison with
	 * what the hook saw (files_changed_since): a change after it is an event */
	files_dir_of(named, ndir, sizeof ndir);
	int watched = strmap_get(&F.dirs, ndir) == DIR_WATCHED;
	if (files_real(named, real, &st) < 0) {
		*verdict = FM_NOT_NOW;
		return -1;
	}
	*verdict = FM_IGNORED;
	if (!S_ISREG(st.st_mode) || !files_wanted(named, real))
		return -1;
	id = strmap_get(&F.keys, real);
	if (id < 0 && (id = files_add(named, real, &st)) < 0)
		return -1;
	if (strcmp(real, named) != 0) {
		/* Named through a symlink: a change of the link itself matters too. */
		char dir[PATH_MAX], rdir[PATH_MAX], key[PATH_MAX + 256];
		files_dir_of(named, dir, sizeof dir);
		if (realpath(dir, rdir)) {
			snprintf(key, sizeof key, "%s/%s", strcmp(rdir, "/") ? rdir : "", path_last(named));
			if (strmap_get(&F.keys, key) < 0 && files_watch_dir(rdir) == 0)
				strmap_put(&F.keys, key, id);
		}
	}
	/* Its events may come under the name too: a directory reached through a symlink
	 * and watched under another path is one watch, reported under the path it was
	 * first added with (watcher_add_dir), e.g. the name of a directory that a symlink
	 * to the real one has replaced. */
	if (strcmp(real, named) != 0 && strmap_get(&F.keys, named) < 0)
		strmap_put(&F.keys, named, id);
	strmap_put(&F.names, named, id);
	*verdict = FM_WATCHED;
	if (watched && strcmp(real, named) == 0 && !F.v[id].polled) {
		F.fresh_id = id;
		F.fresh_st = st;
	}
	return id;
}

const char *files_name(int id)
{
	return id >= 0 && id < F.n ? F.v[id].named : "?";
}

int files_changed_since(int file, const struct fm_read *m)
{
	struct stat st;
	if (file == F.fresh_id)
		st = F.fresh_st;
	else if (stat(F.v[file].real, &st) < 0)
		return 1;
	F.fresh_id = -1;
	return (uint64_t)st.st_dev != m->dev || (uint64_t)st.st_ino != m->ino || st.st_size != m->size ||
	       (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != m->mtime_ns ||
	       (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec != m->ctime_ns;
}

int files_watched_since(int file)
{
	const struct wfile *f = &F.v[file];
	if (f->polled || f->gone || F.no_watcher || strcmp(f->named, f->real) != 0)
		return 0; /* polled, or through a symlink (two watches): compare */
	char d[PATH_MAX];
	files_dir_of(f->real, d, sizeof d);
	return strmap_get(&F.dirs, d) == DIR_WATCHED;
}

void files_mark_hot(const int *ids, int n)
{
	for (int k = 0; k < n; k++)
		F.v[ids[k]].hot = F.any_hot = 1;
}

/* Files a rollback to seq (restart: every read) is about to forget that are missing
 * now. The copy resumed will look for them where the history did and find nothing, which
 * its hook does not report (a name that does not exist costs nothing of ours); unless
 * they stay in the history, their return would change nothing. Returns how many, their
 * ids in *out (malloc'd, the caller frees). */
int files_missing_after(uint64_t seq, int restart, int **out)
{
	int n = 0;
	*out = NULL;
	missing_begin();
	for (int i = 0; i < F.n; i++) {
		uint64_t r = policy_first_read(S.pol, i);
		if (!r || (!restart && r <= seq) || !missing_now(i))
			continue;
		int *p = realloc(*out, (size_t)(n + 1) * sizeof *p);
		if (!p)
			break;
		*out = p;
		p[n++] = i;
	}
	return n;
}

int64_t files_poll_at(void)
{
	return F.npolled ? F.next_poll : -1;
}

/* One polled file: a file whose identity, size or times changed was saved (done), one
 * that vanished is gone; the debounce takes it from there. The name the program used is
 * looked at: a symlink pointed elsewhere shows as another file, as the link's watch would
 * have shown it. */
static void files_poll_file(int i, int64_t now)
{
	struct wfile *f = &F.v[i];
	/* Watching is better than polling: try again (the limit may have room now, or the
	 * directory came back). A watch in place before the stat() below misses nothing. */
	char d[PATH_MAX];
	files_dir_of(f->real, d, sizeof d);
	if (files_watch_dir(d) == 0) {
		f->polled = 0;
		F.npolled--;
	}
	struct stat st;
	if (stat(f->named, &st) < 0) {
		if (!f->gone)
			debounce_event(S.deb, i, DEB_GONE, 0, now);
		f->gone = 1;
		struct stat ds;
		if (stat(d, &ds) < 0 && (errno == ENOENT || errno == ENOTDIR))
			files_dir_gone(d); /* polled, so no watch said it */
		return;
	}
	if (!f->gone && own_covers(f->real)) {
		f->seen = st; /* the session's own change */
		return;
	}
	if (f->gone || st.st_dev != f->seen.st_dev || st.st_ino != f->seen.st_ino ||
	    st.st_size != f->seen.st_size || st.st_mtim.tv_sec != f->seen.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != f->seen.st_mtim.tv_nsec || st.st_ctim.tv_sec != f->seen.st_ctim.tv_sec ||
	    st.st_ctim.tv_nsec != f->seen.st_ctim.tv_nsec)
		debounce_event(S.deb, i, DEB_DONE, st.st_size == 0, now);
	f->gone = 0;
	f->seen = st;
	if (strmap_get(&F.dirs, d) == DIR_GONE)
		strmap_put(&F.dirs, d, DIR_UNWATCHED); /* back: a next loss is said again */
}

/* The fallback past the watch limit, without a watcher, and while a directory is gone. */
void files_poll(int64_t now)
{
	F.next_poll = now + FILES_POLL_NS;
	for (int i = 0; i < F.n; i++)
		if (F.v[i].polled)
			files_poll_file(i, now);
}

/* A directory of watched files went away (deleted, moved): its files are polled until
 * it can be watched again (see files_poll), and count as deleted meanwhile. */
static void files_dir_lost(const char *dir, int64_t now)
{
	strmap_put(&F.dirs, dir, DIR_UNWATCHED);
	files_dir_gone(dir);
	char d[PATH_MAX];
	for (int i = 0; i < F.n; i++) {
		struct wfile *f = &F.v[i];
		files_dir_of(f->real, d, sizeof d);
		if (f->polled || strcmp(d, dir) != 0)
			continue;
		files_poll_one(f);
		f->gone = 1;
		debounce_event(S.deb, i, DEB_GONE, 0, now);
	}
}

/* A gone directory appeared again where its parent's watch sees it: look at its files
 * now rather than at the next poll, so that they join the save they are part of (a
 * checkout writes them together with the files around). */
static void files_dir_back(const char *dir, int64_t now)
{
	char d[PATH_MAX];
	for (int i = 0; i < F.n; i++) {
		files_dir_of(F.v[i].real, d, sizeof d);
		if (F.v[i].polled && strcmp(d, dir) == 0)
			files_poll_file(i, now);
	}
}

static void files_on_event(const struct fsevent *ev, int64_t now)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		out_status("file-system events were lost; treating every file as changed");
		for (int i = 0; i < F.n; i++)
			debounce_event(S.deb, i, DEB_DONE, 0, now);
		return;
	}
	if ((ev->mask & IN_IGNORED) && strmap_get(&F.dirs, ev->path) == DIR_WATCHED) {
		files_dir_lost(ev->path, now);
		return;
	}
	if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
	    strmap_get(&F.dirs, ev->path) == DIR_GONE) {
		files_dir_back(ev->path, now);
		return;
	}
	if (own_event(ev->path, ev->mask))
		return; /* the session's own change (own.c) */
	int id = strmap_get(&F.keys, ev->path);
	if (id < 0) {
		looks_on_entry(ev->path, ev->mask, now);
		return;
	}
	enum deb_kind kind;
	if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
		kind = DEB_DONE;
	else if (ev->mask & (IN_MODIFY | IN_CREATE))
		kind = DEB_WRITING;
	else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
		kind = DEB_GONE;
	else
		return;
	int empty = 0;
	if (kind == DEB_DONE) {
		struct stat st;
		empty = stat(F.v[id].real, &st) == 0 && st.st_size == 0;
	}
	debounce_event(S.deb, id, kind, empty, now);
}

void files_take_records(void)
{
	static struct fsevent ev;
	int64_t now = clock_ns();
	int r;
	if (S.wfd < 0)
		return; /* no watcher: polling only */
	while ((r = watcher_read(S.wfd, &ev)) == 1)
		files_on_event(&ev, now);
	if (r < 0) {
		out_error("the watcher thread stopped");
		end_session(0, 1);
	}
}

void files_on_watcher(struct loop *l, int fd, unsigned events, void *arg)
{
	S.dirty = 1;
	conn_accept_late();
	conn_read_all(); /* what the session said of its own changes comes before their events */
	own_flush();
	files_take_records();
}
