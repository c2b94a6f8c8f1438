/* monitor/policy.c — the resume rule (see policy.h). */
#include "policy.h"

#include <stdlib.h>
#include <string.h>

struct ckpt {
	int id;
	uint64_t seq;
};

struct policy {
	uint64_t next;
	uint64_t *first; /* per file id: earliest read in the lineage, 0 = none */
	int nfiles;
	struct ckpt *ckpts; /* sorted by seq */
	int nckpts, capckpts;
};

struct policy *policy_new(void)
{
	struct policy *p = calloc(1, sizeof *p);
	if (p)
		p->next = 1;
	return p;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	free(p->first);
	free(p->ckpts);
	free(p);
}

static int policy_grow_files(struct policy *p, int file)
{
	if (file < p->nfiles)
		return 0;
	int n = p->nfiles ? p->nfiles : 64;
	while (n <= file)
		n *= 2;
	uint64_t *f = realloc(p->first, (size_t)n * sizeof *f);
	if (!f)
		return -1;
	memset(f + p->nfiles, 0, (size_t)(n - p->nfiles) * sizeof *f);
	p->first = f;
	p->nfiles = n;
	return 0;
}

/* A first[] that holds a look, not a read: a read takes its place. */
#define POLICY_LOOK (1ull << 63)

uint64_t policy_read(struct policy *p, int file)
{
	uint64_t seq = p->next++;
	if (file >= 0 && policy_grow_files(p, file) == 0 && (p->first[file] == 0 || (p->first[file] & POLICY_LOOK)))
		p->first[file] = seq;
	return seq;
}

uint64_t policy_look(struct policy *p, int file)
{
	uint64_t seq = p->next++;
	if (file >= 0 && policy_grow_files(p, file) == 0 && p->first[file] == 0)
		p->first[file] = seq | POLICY_LOOK;
	return seq;
}

uint64_t policy_next_seq(const struct policy *p)
{
	return p->next;
}

uint64_t policy_first_read(const struct policy *p, int file)
{
	return file >= 0 && file < p->nfiles ? p->first[file] & ~POLICY_LOOK : 0;
}

void policy_checkpoint_add(struct policy *p, int ckpt, uint64_t seq)
{
	if (p->nckpts == p->capckpts) {
		int n = p->capckpts ? p->capckpts * 2 : 16;
		struct ckpt *c = realloc(p->ckpts, (size_t)n * sizeof *c);
		if (!c)
			return;
		p->ckpts = c;
		p->capckpts = n;
	}
	int i = p->nckpts;
	while (i > 0 && p->ckpts[i - 1].seq > seq) {
		p->ckpts[i] = p->ckpts[i - 1];
		i--;
	}
	p->ckpts[i].id = ckpt;
	p->ckpts[i].seq = seq;
	p->nckpts++;
}

void policy_checkpoint_gone(struct policy *p, int ckpt)
{
	for (int i = 0; i < p->nckpts; i++)
		if (p->ckpts[i].id == ckpt) {
			memmove(p->ckpts + i, p->ckpts + i + 1, (size_t)(p->nckpts - i - 1) * sizeof *p->ckpts);
			p->nckpts--;
			return;
		}
}

int policy_checkpoint_count(const struct policy *p)
{
	return p->nckpts;
}

void policy_decide(const struct policy *p, const int *files, int n, struct policy_decision *d)
{
	memset(d, 0, sizeof *d);
	d->action = POLICY_NONE;
	d->ckpt = -1;
	d->first_file = -1;
	for (int i = 0; i < n; i++) {
		uint64_t f = policy_first_read(p, files[i]);
		if (f && (!d->first || f < d->first)) {
			d->first = f;
			d->first_file = files[i];
		}
	}
	if (!d->first)
		return;
	d->action = POLICY_RESTART;
	for (int i = p->nckpts - 1; i >= 0; i--)
		if (p->ckpts[i].seq <= d->first) {
			d->action = POLICY_RESUME;
			d->ckpt = p->ckpts[i].id;
			d->seq = p->ckpts[i].seq;
			return;
		}
}

int policy_rollback(struct policy *p, uint64_t seq, int *dropped, int max)
{
	/* The read at seq itself stays: it is the first thing the resumed run does. */
	for (int i = 0; i < p->nfiles; i++)
		if ((p->first[i] & ~POLICY_LOOK) > seq)
			p->first[i] = 0;
	int k = 0;
	while (p->nckpts > 0 && p->ckpts[p->nckpts - 1].seq > seq) {
		if (k < max)
			dropped[k] = p->ckpts[p->nckpts - 1].id;
		k++;
		p->nckpts--;
	}
	return k;
}

int policy_reset(struct policy *p, int *dropped, int max)
{
	int k = policy_rollback(p, 0, dropped, max);
	for (int i = 0; i < p->nfiles; i++)
		p->first[i] = 0;
	while (p->nckpts > 0) {
		if (k < max)
			dropped[k] = p->ckpts[p->nckpts - 1].id;
		k++;
		p->nckpts--;
	}
	return k;
}
