/*
 * monitor/missing.c — which watched files are missing now, cheaply. Runs in the monitor;
 * called by files.c (files_missing_after, at every rollback: a resume, a restart).
 *
 * A rollback must know which of the files read after its point are gone (see
 * files_missing_after). One access() per file is ~1 us: 1.1 ms for 1000 files, on the
 * monitor's processor right when the checkpoint's fork wants it. A file's presence only
 * changes with an entry of its directory, and that changes the directory's times; so a
 * directory whose identity and times are as at its last full look has every file as it
 * had then: one stat() for the directory instead of one access() per file.
 *
 * Times are coarse (the kernel's tick): a change in the same tick as the look leaves them
 * as they were. A look is trusted only when the directory's ctime (which no program sets)
 * was MISSING_SETTLED_NS older than the look: any later change then moves it. (A search
 * permission taken away from a parent, which changes only the parent, is not seen.) Files named
 * through a symlink (their name is not their real path) are access()ed every time: the
 * link's target may go without its directory seeing it.
 */
#include "session.h"

#include "path.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Longer than any tick (10 ms at HZ=100): a change after the look is in a later tick,
 * and its ctime another value. */
#define MISSING_SETTLED_NS 50000000ll

struct missing_dir {
	dev_t dev;
	ino_t ino;
	struct timespec mtime, ctime;
	int64_t looked;   /* CLOCK_REALTIME of the last full look, 0: never */
	unsigned look;    /* which full look that was */
	unsigned checked; /* the call that stat()ed it last */
	int same;         /* in that call: as at the last full look, and settled */
};

static struct {
	struct missing_dir *d;
	int nd, capd;
	struct strmap by_path;
	int *dir_of;  /* per file: its directory, -1: unknown, -2: access() it always */
	char *absent; /* per file: missing at its directory's full look number ... */
	unsigned *look; /* ... this one (0: never looked at) */
	int nf;
	unsigned call;
} M;

static int64_t missing_real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int missing_grow(void)
{
	if (M.nf >= F.n)
		return 0;
	int *d = realloc(M.dir_of, (size_t)F.n * sizeof *d);
	if (d)
		M.dir_of = d;
	char *a = d ? realloc(M.absent, (size_t)F.n) : NULL;
	if (a)
		M.absent = a;
	unsigned *l = a ? realloc(M.look, (size_t)F.n * sizeof *l) : NULL;
	if (!l)
		return -1;
	M.look = l;
	for (int i = M.nf; i < F.n; i++) {
		M.dir_of[i] = -1;
		M.absent[i] = 0;
		M.look[i] = 0;
	}
	M.nf = F.n;
	return 0;
}

/* The directory of file i (an index into M.d), -2 for a file access()ed every time. */
static int missing_dir_of(int i)
{
	if (M.dir_of[i] != -1)
		return M.dir_of[i];
	const struct wfile *f = &F.v[i];
	char dir[PATH_MAX];
	files_dir_of(f->named, dir, sizeof dir);
	int k = strmap_get(&M.by_path, dir);
	if (strcmp(f->named, f->real) != 0)
		k = -2;
	else if (k < 0) {
		if (M.nd == M.capd) {
			int cap = M.capd ? M.capd * 2 : 16;
			struct missing_dir *n = realloc(M.d, (size_t)cap * sizeof *n);
			if (!n)
				return -2;
			M.d = n;
			M.capd = cap;
		}
		k = M.nd++;
		M.d[k] = (struct missing_dir){0};
		strmap_put(&M.by_path, dir, k);
	}
	M.dir_of[i] = k;
	return k;
}

/* Directory k in this call: 1 when its files are as at its last full look. */
static int missing_dir_same(int k, const char *named)
{
	struct missing_dir *d = &M.d[k];
	if (d->checked == M.call)
		return d->same;
	d->checked = M.call;
	char dir[PATH_MAX];
	files_dir_of(named, dir, sizeof dir);
	struct stat st;
	int64_t now = missing_real_ns();
	if (stat(dir, &st) < 0) {
		d->looked = 0;
		d->same = 0;
		return 0;
	}
	int64_t ct = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
	d->same = d->looked && st.st_dev == d->dev && st.st_ino == d->ino &&
		  st.st_mtim.tv_sec == d->mtime.tv_sec && st.st_mtim.tv_nsec == d->mtime.tv_nsec &&
		  st.st_ctim.tv_sec == d->ctime.tv_sec && st.st_ctim.tv_nsec == d->ctime.tv_nsec &&
		  d->looked - ct > MISSING_SETTLED_NS;
	if (!d->same) {
		/* a full look now: every file of it is access()ed in this call */
		d->dev = st.st_dev;
		d->ino = st.st_ino;
		d->mtime = st.st_mtim;
		d->ctime = st.st_ctim;
		d->looked = now;
		d->look++;
	}
	return d->same;
}

void missing_begin(void)
{
	M.call++;
	if (missing_grow() < 0)
		M.call = 0; /* out of memory: missing_now looks at every file */
}

int missing_now(int i)
{
	if (!M.call || i >= M.nf)
		return access(F.v[i].named, F_OK) != 0;
	int k = missing_dir_of(i);
	if (k >= 0 && missing_dir_same(k, F.v[i].named) && M.look[i] == M.d[k].look)
		return M.absent[i];
	int gone = access(F.v[i].named, F_OK) != 0;
	if (k >= 0) {
		/* as of this call's look: any look before it was older than the file */
		M.absent[i] = (char)gone;
		M.look[i] = M.d[k].look;
	}
	return gone;
}
