/*
 * monitor/own.c — the session's own changes of files: what a process of the session
 * writes, renames, removes or truncates is not an edit. Runs in the monitor's event loop;
 * called by conn.c (OWN, OWN_DONE, a closed connection) and files.c (each file-system
 * event on an entry, the poll, a read compared with what the hook saw).
 *
 * The hook says OWN before the system call, so the message is in the monitor's socket
 * before the kernel can queue the inotify event, and the loop reads connections before
 * the watcher's records (files_on_watcher drains them first). From OWN on, events on the
 * path are the session's, until the change is complete: OWN_DONE for a rename, removal
 * or truncate; for a file opened for writing, its last close (IN_CLOSE_WRITE; a killed
 * process's files are closed by the kernel too). Then the file's state (identity, size,
 * times; or its absence) is the session's own version: an event that finds the file in
 * that state is ours (a late one), any other state is someone else's edit.
 *
 * A change whose process dies between OWN and OWN_DONE ends with its connection.
 */
#include "session.h"

#include "debounce.h"
#include "path.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

struct own_rec {
	char *key;   /* the path as events name it: its directory's real path, its name */
	int pending; /* OWN said, OWN_DONE not yet */
	int writers; /* opened for writing by the session, not yet closed */
	int settled; /* complete: exists and st are the session's version */
	int exists;
	struct stat st;
};

struct own_pend {
	int conn;
	uint32_t id;
	int rec;
	uint32_t what;
};

static struct {
	struct own_rec *v;
	int n, cap;
	struct strmap keys;
	struct own_pend *p;
	int np, capp;
} O;

/* The name events give path: the real path of its directory, then its last name. */
static void own_key(const char *path, char *out, size_t len)
{
	char dir[PATH_MAX], rdir[PATH_MAX];
	files_dir_of(path, dir, sizeof dir);
	if (!realpath(dir, rdir)) {
		snprintf(out, len, "%s", path);
		return;
	}
	snprintf(out, len, "%s/%s", strcmp(rdir, "/") ? rdir : "", path_last(path));
}

static int own_rec_of(const char *key)
{
	int r = strmap_get(&O.keys, key);
	if (r >= 0)
		return r;
	if (O.n == O.cap) {
		int cap = O.cap ? O.cap * 2 : 32;
		struct own_rec *v = realloc(O.v, (size_t)cap * sizeof *v);
		if (!v)
			return -1;
		O.v = v;
		O.cap = cap;
	}
	char *k = strdup(key);
	if (!k)
		return -1;
	O.v[O.n] = (struct own_rec){.key = k};
	strmap_put(&O.keys, key, O.n);
	return O.n++;
}

/* A directory the session made stays its own whatever is made in it (its times change
 * with each entry): its identity is its state. */
static int own_same(const struct stat *a, const struct stat *b)
{
	if (S_ISDIR(a->st_mode) || S_ISDIR(b->st_mode))
		return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Once nothing of the session is changing it: its state now is the session's. */
static void own_settle(struct own_rec *r)
{
	if (r->pending > 0 || r->writers > 0)
		return;
	r->exists = stat(r->key, &r->st) == 0;
	r->settled = 1;
}

/* Is the file at key in a state of the session's making (or being made now)? */
static int own_now(struct own_rec *r)
{
	if (r->pending > 0 || r->writers > 0)
		return 1;
	if (!r->settled)
		return 0;
	struct stat st;
	int exists = stat(r->key, &st) == 0;
	if (exists == r->exists && (!exists || own_same(&st, &r->st)))
		return 1;
	r->settled = 0; /* someone else's version now */
	return 0;
}

void own_on_begin(int conn, const struct fm_own *m)
{
	if (m->path[0] != '/')
		return;
	char key[PATH_MAX];
	own_key(m->path, key, sizeof key);
	if (!files_wanted(m->path, key))
		return; /* never watched: its events do not matter */
	int r = own_rec_of(key);
	if (r < 0)
		return;
	if (O.np == O.capp) {
		int cap = O.capp ? O.capp * 2 : 32;
		struct own_pend *p = realloc(O.p, (size_t)cap * sizeof *p);
		if (!p)
			return;
		O.p = p;
		O.capp = cap;
	}
	O.p[O.np++] = (struct own_pend){.conn = conn, .id = m->id, .rec = r, .what = m->what};
	O.v[r].pending++;
	O.v[r].settled = 0;
	/* Its completion must be seen: a file opened for writing is done at its close. */
	char dir[PATH_MAX];
	files_dir_of(key, dir, sizeof dir);
	files_watch_if_there(dir);
}

static void own_end(int k, int worked)
{
	struct own_pend p = O.p[k];
	O.p[k] = O.p[--O.np];
	struct own_rec *r = &O.v[p.rec];
	r->pending--;
	if (p.what == FM_OWN_OPEN && worked)
		r->writers++;
	own_settle(r);
}

void own_on_done(int conn, const struct fm_own *m)
{
	for (int k = 0; k < O.np; k++)
		if (O.p[k].conn == conn && O.p[k].id == m->id) {
			own_end(k, m->what == 1);
			return;
		}
}

void own_conn_gone(int conn)
{
	for (int k = O.np - 1; k >= 0; k--)
		if (O.p[k].conn == conn)
			own_end(k, 0);
}

int own_event(const char *path, uint32_t mask)
{
	int i = strmap_get(&O.keys, path);
	if (i < 0)
		return 0;
	struct own_rec *r = &O.v[i];
	if ((mask & IN_CLOSE_WRITE) && r->writers > 0) {
		r->writers--;
		own_settle(r);
		return 1;
	}
	return own_now(r);
}

/* Files that differ from what a hook saw, to be judged once everything said up to now is
 * read: the session's own change of it may be said on a connection not yet read. */
static struct {
	int *v;
	int n, cap, busy;
} D;

void own_defer_change(int file)
{
	if (D.n == D.cap) {
		int cap = D.cap ? D.cap * 2 : 16;
		int *v = realloc(D.v, (size_t)cap * sizeof *v);
		if (!v) {
			debounce_event(S.deb, file, DEB_DONE, 0, clock_ns()); /* rather too many */
			return;
		}
		D.v = v;
		D.cap = cap;
	}
	D.v[D.n++] = file;
}

void own_flush(void)
{
	if (D.busy || !D.n)
		return;
	D.busy = 1;
	conn_read_all(); /* the change was made after the look: its OWN is in a socket now */
	int64_t now = clock_ns();
	for (int k = 0; k < D.n; k++)
		if (!own_covers(F.v[D.v[k]].real))
			debounce_event(S.deb, D.v[k], DEB_DONE, 0, now);
	D.n = 0;
	D.busy = 0;
}

int own_covers(const char *key)
{
	int i = strmap_get(&O.keys, key);
	return i >= 0 && own_now(&O.v[i]);
}
