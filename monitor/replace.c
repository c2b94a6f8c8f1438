/*
 * monitor/replace.c — replacing the run, pure (see replace.h). Runs in the monitor;
 * called by run.c (the timer, reaping, the messages of a resumed run) and by
 * helper/serve.c. Every effect on processes goes through r->ops.
 */
#include "replace.h"

#include "debounce.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

void replace_init(struct replace *r, const struct replace_ops *ops, void *ctx, struct debounce *deb,
		  int64_t grace_ns)
{
	memset(r, 0, sizeof *r);
	r->ops = ops;
	r->ctx = ctx;
	r->deb = deb;
	r->grace_ns = grace_ns;
	r->phase = REPLACE_IDLE;
	r->resume_ckpt = -1;
}

void replace_free(struct replace *r)
{
	free(r->changed);
	r->changed = NULL;
	r->nchanged = r->capchanged = 0;
}

/* Room for n more changed files; -1 when out of memory. */
static int replace_room(struct replace *r, int n)
{
	if (r->nchanged + n <= r->capchanged)
		return 0;
	int cap = r->capchanged ? r->capchanged : 64;
	while (cap < r->nchanged + n)
		cap *= 2;
	int *p = realloc(r->changed, (size_t)cap * sizeof *p);
	if (!p)
		return -1;
	r->changed = p;
	r->capchanged = cap;
	return 0;
}

int replace_add_changed(struct replace *r, int file)
{
	if (replace_room(r, 1) < 0)
		return -1;
	r->changed[r->nchanged++] = file;
	return 0;
}

/* Takes the whole complete set of saves out of the debounce into r->changed: every file
 * counts (a checkout of hundreds of files is one change). Out of memory, what did not
 * fit stays in the debounce and makes a change of its own right after this one. */
static void replace_take_complete(struct replace *r, int64_t now)
{
	int want = debounce_pending(r->deb);
	if (want <= 0)
		return;
	if (replace_room(r, want) < 0 && replace_room(r, 1) < 0)
		return;
	r->nchanged += debounce_poll(r->deb, now, r->changed + r->nchanged, r->capchanged - r->nchanged);
}

/* Every victim is gone: resume from the checkpoint, or start again. */
static void replace_finish(struct replace *r, int64_t now)
{
	int told = r->dec.action == POLICY_RESUME ? r->ops->resume(r->ctx, &r->dec) : -1;
	if (told == 0) {
		replace_resuming(r, r->dec.ckpt, now);
		return;
	}
	if (told == 1) {
		r->phase = REPLACE_IDLE; /* the new run is known already (a spare) */
		return;
	}
	/* No checkpoint to resume from (or it is gone): the run is gone already, so the
	 * command starts again, with every file as it is now. */
	r->ops->restart(r->ctx);
	r->phase = REPLACE_IDLE;
}

void replace_change(struct replace *r, int64_t now)
{
	if (r->phase != REPLACE_IDLE) {
		r->pending = 1;
		return;
	}
	r->pending = 0;
	int go = r->ops->decide(r->ctx, r->changed, r->nchanged, &r->dec);
	r->nchanged = 0;
	if (!go)
		return;
	/* KILLING before the victims are looked at: what they said until now is read as
	 * theirs, and no checkpoint is granted to a run being replaced. */
	r->phase = REPLACE_KILLING;
	if (r->ops->victims(r->ctx, 1) <= 0) {
		replace_finish(r, now);
		return;
	}
	r->ops->signal_victims(r->ctx, SIGTERM);
	r->ops->signal_victims(r->ctx, SIGCONT); /* a stopped process must see its SIGTERM */
	r->kill_at = now + r->grace_ns;
}

void replace_pending(struct replace *r, int64_t now)
{
	if (r->phase == REPLACE_IDLE && r->pending)
		replace_change(r, now);
}

int64_t replace_deadline(const struct replace *r)
{
	switch (r->phase) {
	case REPLACE_IDLE:
		return r->due ? r->retry : debounce_deadline(r->deb);
	case REPLACE_KILLING:
		return r->kill_at;
	case REPLACE_RESUMING:
		return r->resume_by;
	}
	return -1;
}

/* Is the complete set of saves to be held back a little longer? */
static int replace_postpone(struct replace *r, int64_t now)
{
	int64_t at = debounce_deadline(r->deb);
	if (r->phase != REPLACE_IDLE || at < 0 || now < at)
		return 0;
	struct settle_in in = {0};
	r->ops->settle_inputs(r->ctx, &in);
	/* An event taken in just now may be later than now: it holds the set back too. */
	if ((in.busy || debounce_last(r->deb) > now) && (!r->due || now - r->due < SETTLE_MAX_NS)) {
		if (!r->due)
			r->due = now;
		r->retry = now + SETTLE_RETRY_NS;
		return 1;
	}
	return 0;
}

void replace_timer(struct replace *r, int64_t now)
{
	if (r->phase == REPLACE_KILLING && now >= r->kill_at) {
		if (r->ops->victims(r->ctx, 0) <= 0) {
			replace_finish(r, now);
			return;
		}
		r->ops->signal_victims(r->ctx, SIGKILL);
		r->kill_at = now + r->grace_ns;
	} else if (r->phase == REPLACE_RESUMING && now >= r->resume_by) {
		r->ops->abandon(r->ctx, r->resume_ckpt);
		r->dec.action = POLICY_RESTART;
		r->phase = REPLACE_KILLING;
		replace_finish(r, now);
		return;
	}
	if (replace_postpone(r, now))
		return;
	r->due = 0;
	if (r->phase != REPLACE_IDLE)
		return;
	replace_take_complete(r, now);
	if (r->nchanged)
		replace_change(r, now);
}

void replace_reaped(struct replace *r, int64_t now)
{
	if (r->phase == REPLACE_KILLING && r->ops->victims(r->ctx, 0) == 0)
		replace_finish(r, now);
}

void replace_resuming(struct replace *r, int ckpt, int64_t now)
{
	r->phase = REPLACE_RESUMING;
	r->resume_ckpt = ckpt;
	r->resume_by = now + RESUME_WAIT_NS;
}

int replace_waits_for(const struct replace *r, int ckpt)
{
	return r->phase == REPLACE_RESUMING && r->resume_ckpt == ckpt;
}

void replace_run_known(struct replace *r)
{
	if (r->phase == REPLACE_RESUMING)
		r->phase = REPLACE_IDLE;
}

void replace_retry(struct replace *r, int64_t now)
{
	/* The history after the checkpoint was thrown away with the run: what remains to do
	 * for the change is to start the command again. */
	r->dec.action = POLICY_RESTART;
	r->phase = REPLACE_KILLING;
	replace_finish(r, now);
}
