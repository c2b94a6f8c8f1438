/* watcher/debounce.c — completion of saves, and the adaptive quiet window (see
 * debounce.h). Pure: the monitor (files.c, own.c, looks.c) feeds it on its own clock. */
#include "debounce.h"

#include <stdlib.h>
#include <string.h>

#define DEB_MS 1000000ll
#define DEB_FLOOR_NS (DEB_MS / 4) /* a halved window below this is no window */

struct pending {
	int file;
	enum deb_kind kind;
	int empty;
	int64_t since; /* time of the file's last event */
};

struct debounce {
	struct debounce_cfg cfg;
	struct pending *p;
	int n, cap;
	int64_t last;      /* time of the last event of any file */
	int64_t window;    /* the quiet window: fixed, or learnt */
	int64_t done_at;   /* adaptive: the last completed (non-empty) save ... */
	int done_file;     /* ... and its file, -1: none yet */
	int groups;        /* saves begun since the last multi-file writer was seen */
};

struct debounce *debounce_new(const struct debounce_cfg *cfg)
{
	struct debounce *d = calloc(1, sizeof *d);
	if (d) {
		d->cfg = *cfg;
		d->window = cfg->adaptive ? 0 : cfg->quiet_ns;
		d->done_file = -1;
	}
	return d;
}

void debounce_free(struct debounce *d)
{
	if (d) {
		free(d->p);
		free(d);
	}
}

/* A save of file completed at now: another file's, shortly before, shows a writer of
 * several files, and the window grows to hold its next save together; a save after a
 * pause begins a new group, and enough groups alone shrink the window again. */
static void deb_learn(struct debounce *d, int file, int64_t now)
{
	int64_t gap = now - d->done_at;
	if (d->done_file >= 0 && d->done_file != file && gap <= d->cfg.link_ns) {
		int64_t w = 2 * gap + DEB_MS;
		if (w > d->cfg.link_ns)
			w = d->cfg.link_ns;
		if (w > d->window)
			d->window = w;
		d->groups = 0;
	} else if (d->done_file < 0 || gap > d->cfg.link_ns) {
		if (++d->groups >= DEB_DECAY_GROUPS) {
			d->window /= 2;
			if (d->window < DEB_FLOOR_NS)
				d->window = 0;
			d->groups = 0;
		}
	}
	d->done_at = now;
	d->done_file = file;
}

void debounce_event(struct debounce *d, int file, enum deb_kind kind, int empty, int64_t now)
{
	struct pending *e = NULL;
	for (int i = 0; i < d->n; i++)
		if (d->p[i].file == file)
			e = &d->p[i];
	if (!e) {
		if (d->n == d->cap) {
			int cap = d->cap ? d->cap * 2 : 16;
			struct pending *np = realloc(d->p, (size_t)cap * sizeof *np);
			if (!np)
				return;
			d->p = np;
			d->cap = cap;
		}
		e = &d->p[d->n++];
		e->file = file;
	}
	e->kind = kind;
	e->empty = kind == DEB_DONE && empty;
	e->since = now;
	d->last = now;
	if (d->cfg.adaptive && kind == DEB_DONE && !empty)
		deb_learn(d, file, now);
}

/* When this file stops holding the set back (INT64_MIN: it never did). */
static int64_t deb_ready_at(const struct debounce *d, const struct pending *e)
{
	switch (e->kind) {
	case DEB_GONE:
		return e->since + d->cfg.gone_grace_ns; /* not back by then: gone it is */
	case DEB_WRITING:
		return e->since + d->cfg.stale_ns;
	case DEB_DONE:
		return e->empty ? e->since + d->cfg.empty_grace_ns : INT64_MIN;
	}
	return -1;
}

int64_t debounce_deadline(const struct debounce *d)
{
	int64_t at = INT64_MIN;
	if (!d->n)
		return -1;
	for (int i = 0; i < d->n; i++) {
		int64_t r = deb_ready_at(d, &d->p[i]);
		if (r > at)
			at = r;
	}
	int64_t q = d->last + d->window;
	return q > at ? q : at;
}

int debounce_poll(struct debounce *d, int64_t now, int *files, int max)
{
	int64_t at = debounce_deadline(d);
	if (at < 0 || now < at)
		return 0;
	/* Only what is written is forgotten: the rest keeps its (past) deadline. */
	int k = 0;
	for (int i = 0; i < d->n && k < max;) {
		files[k++] = d->p[i].file;
		d->p[i] = d->p[--d->n];
	}
	return k;
}

int64_t debounce_last(const struct debounce *d)
{
	return d->last;
}

int debounce_pending(const struct debounce *d)
{
	return d->n;
}

int64_t debounce_window(const struct debounce *d)
{
	return d->window;
}
