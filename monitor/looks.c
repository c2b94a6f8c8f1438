/*
 * monitor/looks.c — what the program looked at without reading it: a file it stat()ed
 * (watched like a read one), a path it found missing (its creation is a change), a
 * directory it listed (a matching entry that comes or goes is a change). Runs in the
 * monitor's event loop; called by conn.c (a READ with FM_READ_LOOK) and files.c (an
 * event on an entry that is no watched file).
 *
 * A look has a sequence number like a read (policy_look), and counts for a file the
 * session never read: make stat()s util.c and compiles nothing, so a change of util.c
 * resumes from before make looked. A look never takes a checkpoint.
 */
#include "session.h"

#include "debounce.h"
#include "path.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

struct looks_dir {
	int file;
	char *real;
	uint64_t sig; /* its matching entries when listed (looks_sig) */
};

static struct {
	struct strmap dirs;  /* a listed directory's real path → its file id */
	struct strmap fresh; /* an entry created in a listed directory, being written → 1 */
	struct looks_dir *v;
	int n, cap;
	int absent; /* files watched only for their creation */
} L;

/* The set of entries of dir that would match (files, not directories), as one number:
 * the count and the sum of their names' hashes (order does not matter). */
static uint64_t looks_sig(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	uint64_t sum = 0, count = 0;
	struct dirent *e;
	char path[PATH_MAX + 256];
	while ((e = readdir(d))) {
		if (e->d_type == DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof path, "%s/%s", strcmp(dir, "/") ? dir : "", e->d_name);
		if (!files_wanted(path, path))
			continue;
		uint64_t h = 1469598103934665603ull; /* FNV-1a */
		for (const char *c = e->d_name; *c; c++)
			h = (h ^ (unsigned char)*c) * 1099511628211ull;
		sum += h;
		count++;
	}
	closedir(d);
	return sum + count * 0x9e3779b97f4a7c15ull;
}

/* A missing path that would match: watched for its creation, in a directory that exists. */
static int looks_absent(const char *named)
{
	int id = strmap_get(&F.names, named);
	if (id >= 0)
		return id; /* known: watched already (another process looked, or read it) */
	int verdict;
	if ((id = files_for(named, &verdict)) >= 0) {
		own_defer_change(id); /* there since the look: by whom? */
		return id;
	}
	char dir[PATH_MAX], rdir[PATH_MAX], key[PATH_MAX + 256];
	files_dir_of(named, dir, sizeof dir);
	if (!realpath(dir, rdir))
		return -1;
	snprintf(key, sizeof key, "%s/%s", strcmp(rdir, "/") ? rdir : "", path_last(named));
	if (!files_wanted(named, key) || (id = strmap_get(&F.keys, key)) >= 0)
		return id;
	struct stat none = {0};
	files_set_quiet(1); /* make and pytest look for many names that never come */
	id = files_add(named, key, &none);
	files_set_quiet(0);
	if (id < 0)
		return -1;
	F.v[id].gone = 1; /* not there: the poll (without a watch) waits for it */
	L.absent++;
	strmap_put(&F.names, named, id);
	return id;
}

static int looks_dir(const char *named)
{
	char real[PATH_MAX];
	struct stat st;
	if (!realpath(named, real) || stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
		return -1;
	int id = strmap_get(&L.dirs, real);
	if (id >= 0)
		return id;
	if (files_watch_if_there(real) < 0)
		return -1;
	if (L.n == L.cap) {
		int cap = L.cap ? L.cap * 2 : 16;
		struct looks_dir *v = realloc(L.v, (size_t)cap * sizeof *v);
		if (!v)
			return -1;
		L.v = v;
		L.cap = cap;
	}
	char *r = strdup(real);
	files_set_quiet(1);
	id = r ? files_add(named, real, &st) : -1;
	files_set_quiet(0);
	if (id < 0) {
		free(r);
		return -1;
	}
	L.v[L.n++] = (struct looks_dir){.file = id, .real = r, .sig = looks_sig(real)};
	strmap_put(&L.dirs, real, id);
	return id;
}

int looks_only(void)
{
	return L.absent + L.n;
}

void looks_on_read(int conn, const struct fm_read *m)
{
	int file, verdict;
	if (m->flags & FM_READ_DIR) {
		file = looks_dir(m->path);
	} else if (m->flags & FM_READ_ABSENT) {
		file = looks_absent(m->path);
	} else {
		file = files_for(m->path, &verdict);
		if (file >= 0)
			F.v[file].looked = 1; /* its times were seen (serve.c: no same-bytes rule) */
		if (file >= 0 && files_changed_since(file, m))
			own_defer_change(file); /* before our watch */
	}
	if (file >= 0)
		conn_event_watch(file, policy_look(S.pol, file), C.v[conn]->pid);
}

/*
 * Of a complete set of changed files, those that changed: a listed directory whose
 * matching entries are the same set as when it was listed is left out (a save by
 * rename makes and removes a temporary entry; a file saved in place is there still).
 * One that did change counts from now on with its new entries.
 */
int looks_keep(const int *files, int n, int *out)
{
	int k = 0;
	for (int i = 0; i < n; i++) {
		int j = 0;
		while (j < L.n && L.v[j].file != files[i])
			j++;
		if (j < L.n) {
			uint64_t now = looks_sig(L.v[j].real);
			if (now == L.v[j].sig)
				continue;
			L.v[j].sig = now;
		}
		out[k++] = files[i];
	}
	return k;
}

/* An event on dir/name that is no watched file: an entry of a listed directory? Only a
 * file that would match counts (directories do not: what is made in them later is not
 * in the listing). */
void looks_on_entry(const char *path, uint32_t mask, int64_t now)
{
	char dir[PATH_MAX];
	files_dir_of(path, dir, sizeof dir);
	int id = strmap_get(&L.dirs, dir);
	if (id < 0 || (mask & IN_ISDIR) || !files_wanted(path, path))
		return;
	int fresh = strmap_get(&L.fresh, path) == 1;
	if (mask & IN_CREATE) {
		strmap_put(&L.fresh, path, 1);
		debounce_event(S.deb, id, DEB_WRITING, 0, now);
	} else if (mask & (IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM)) {
		strmap_put(&L.fresh, path, 0);
		debounce_event(S.deb, id, DEB_DONE, 0, now);
	} else if (fresh && (mask & IN_CLOSE_WRITE)) {
		strmap_put(&L.fresh, path, 0);
		debounce_event(S.deb, id, DEB_DONE, 0, now);
	} else if (fresh && (mask & IN_MODIFY)) {
		debounce_event(S.deb, id, DEB_WRITING, 0, now);
	}
}
