/* watcher/debounce.c — completion of saves (see debounce.h). */
#include "debounce.h"

#include <stdlib.h>
#include <string.h>

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
	int64_t last; /* time of the last event of any file */
};

struct debounce *debounce_new(const struct debounce_cfg *cfg)
{
	struct debounce *d = calloc(1, sizeof *d);
	if (d)
		d->cfg = *cfg;
	return d;
}

void debounce_free(struct debounce *d)
{
	if (d) {
		free(d->p);
		free(d);
	}
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
	int64_t q = d->last + d->cfg.quiet_ns;
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
