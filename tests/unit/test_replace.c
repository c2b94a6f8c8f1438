/*
 * tests/unit/test_replace.c — replacing the run and the settle rule (monitor/replace.c)
 * on a fake clock with fake processes; the real resume rule (policy.c) and the real
 * debounce (watcher/debounce.c) decide. Exact counts and times belong here: nothing
 * here waits for a scheduler. Suite "replace", in the unit suite.
 */
#include "suites.h"

#include "debounce.h"
#include "policy.h"
#include "replace.h"

#include <signal.h>
#include <string.h>

#define MS 1000000ll
#define DELAY (5 * MS)
#define GRACE (1000 * MS)

/* The session as replace.c sees it: a run with some processes, checkpoints, a clock. */
struct fake {
	struct replace r;
	struct policy *pol;
	struct debounce *deb;
	int64_t now;
	int alive;       /* processes of the run still alive */
	int term_kills;  /* SIGTERM ends them at once (else they ignore it) */
	int nterm, ncont, nkill;
	int64_t kill_at[8];
	int decides, resumes, restarts, abandons;
	int resumed[8];          /* the checkpoints told to resume, in order */
	int64_t resumed_when[8]; /* and when */
	int gone_ckpt;           /* this checkpoint has no connection any more (-1: none) */
	int busy;
	int settle_calls;
	int last_n; /* files of the last change decided */
};

static int fake_decide(void *ctx, const int *files, int n, struct policy_decision *d)
{
	struct fake *f = ctx;
	f->decides++;
	f->last_n = n;
	policy_decide(f->pol, files, n, d);
	return d->action != POLICY_NONE;
}

static int fake_victims(void *ctx, int first)
{
	return ((struct fake *)ctx)->alive;
}

static void fake_signal(void *ctx, int sig)
{
	struct fake *f = ctx;
	if (sig == SIGTERM) {
		f->nterm++;
		if (f->term_kills)
			f->alive = 0; /* reaped by the test */
	} else if (sig == SIGCONT) {
		f->ncont++;
	} else if (sig == SIGKILL) {
		if (f->nkill < 8)
			f->kill_at[f->nkill] = f->now;
		f->nkill++;
	}
}

static int fake_resume(void *ctx, const struct policy_decision *d)
{
	struct fake *f = ctx;
	int dropped[16];
	policy_rollback(f->pol, d->seq, dropped, 16);
	if (d->ckpt == f->gone_ckpt) {
		policy_checkpoint_gone(f->pol, d->ckpt);
		return -1;
	}
	if (f->resumes < 8) {
		f->resumed[f->resumes] = d->ckpt;
		f->resumed_when[f->resumes] = f->now;
	}
	f->resumes++;
	return 0;
}

static void fake_restart(void *ctx)
{
	struct fake *f = ctx;
	int dropped[16];
	policy_reset(f->pol, dropped, 16);
	f->restarts++;
}

static void fake_abandon(void *ctx, int ckpt)
{
	struct fake *f = ctx;
	f->abandons++;
	policy_checkpoint_gone(f->pol, ckpt);
}

static void fake_settle_inputs(void *ctx, struct settle_in *in)
{
	struct fake *f = ctx;
	f->settle_calls++;
	in->busy = f->busy;
}

static const struct replace_ops fake_ops = {fake_decide,  fake_victims, fake_signal,       fake_resume,
					    fake_restart, fake_abandon, fake_settle_inputs};

static const struct debounce_cfg deb_cfg = {.quiet_ns = DELAY, .empty_grace_ns = 400 * MS, .stale_ns = 1000 * MS};

/* A run that read file 0 with a checkpoint (id 7) just before it, and file 1 after. */
static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof *f);
	f->pol = policy_new();
	f->deb = debounce_new(&deb_cfg);
	f->gone_ckpt = -1;
	f->now = 1000 * MS;
	f->alive = 2;
	f->term_kills = 1;
	uint64_t seq = policy_read(f->pol, 0);
	policy_checkpoint_add(f->pol, 7, seq);
	policy_read(f->pol, 1);
	replace_init(&f->r, &fake_ops, f, f->deb, GRACE);
}

static void fake_free(struct fake *f)
{
	policy_free(f->pol);
	debounce_free(f->deb);
	replace_free(&f->r);
}

/* The clock moves to t; the timer runs if it is due. */
static void fake_at(struct fake *f, int64_t t)
{
	f->now = t;
	int64_t at = replace_deadline(&f->r);
	if (at >= 0 && at <= t)
		replace_timer(&f->r, t);
}

/* Runs every timer due until t, at its exact time. */
static void fake_until(struct fake *f, int64_t t)
{
	int64_t at;
	while ((at = replace_deadline(&f->r)) >= 0 && at <= t)
		fake_at(f, at > f->now ? at : f->now);
	f->now = t;
}

static void fake_save(struct fake *f, int file)
{
	debounce_event(f->deb, file, DEB_WRITING, 0, f->now);
	debounce_event(f->deb, file, DEB_DONE, 0, f->now);
}

/* The resumed run is known, and reads on past its checkpoint (file 1 again). */
static void fake_new_run(struct fake *f)
{
	f->alive = 2;
	replace_run_known(&f->r);
	policy_read(f->pol, 1);
}

/* The processes of the run end, and are reaped. */
static void fake_reap_all(struct fake *f)
{
	f->alive = 0;
	replace_reaped(&f->r, f->now);
}

START_TEST(test_a_save_resumes_from_the_checkpoint_once_the_run_is_gone)
{
	struct fake f;
	fake_init(&f);
	f.term_kills = 0;
	fake_save(&f, 0);
	fake_until(&f, f.now + DELAY - 1);
	ck_assert_int_eq(f.decides, 0); /* the quiet window is not over */
	fake_until(&f, f.now + 1);
	ck_assert_int_eq(f.decides, 1);
	ck_assert_int_eq(f.r.phase, REPLACE_KILLING);
	ck_assert_int_eq(f.nterm, 1);
	ck_assert_int_eq(f.ncont, 1);
	ck_assert_int_eq(f.resumes, 0); /* not while its processes live */
	fake_reap_all(&f);
	ck_assert_int_eq(f.resumes, 1);
	ck_assert_int_eq(f.resumed[0], 7);
	ck_assert_int_eq(f.r.phase, REPLACE_RESUMING);
	ck_assert(replace_waits_for(&f.r, 7));
	replace_run_known(&f.r);
	ck_assert_int_eq(f.r.phase, REPLACE_IDLE);
	ck_assert_int_eq(f.restarts, 0);
	fake_free(&f);
}
END_TEST

START_TEST(test_a_run_already_gone_resumes_at_once_without_signals)
{
	struct fake f;
	fake_init(&f);
	f.alive = 0;
	fake_save(&f, 1);
	fake_until(&f, f.now + DELAY);
	ck_assert_int_eq(f.nterm, 0);
	ck_assert_int_eq(f.resumes, 1);
	ck_assert_int_eq(f.r.phase, REPLACE_RESUMING);
	fake_free(&f);
}
END_TEST

START_TEST(test_a_change_with_no_checkpoint_before_it_restarts)
{
	struct fake f;
	fake_init(&f);
	policy_checkpoint_gone(f.pol, 7);
	fake_save(&f, 1);
	fake_until(&f, f.now + DELAY);
	fake_reap_all(&f);
	ck_assert_int_eq(f.resumes, 0);
	ck_assert_int_eq(f.restarts, 1);
	ck_assert_int_eq(f.r.phase, REPLACE_IDLE); /* a restart knows its run at once */
	fake_free(&f);
}
END_TEST

START_TEST(test_a_file_the_run_never_read_changes_nothing)
{
	struct fake f;
	fake_init(&f);
	fake_save(&f, 5);
	fake_until(&f, f.now + 10 * DELAY);
	ck_assert_int_eq(f.decides, 1);
	ck_assert_int_eq(f.nterm, 0);
	ck_assert_int_eq(f.resumes + f.restarts, 0);
	ck_assert_int_eq(f.r.phase, REPLACE_IDLE);
	ck_assert_int_eq(replace_deadline(&f.r), -1); /* nothing left to wait for */
	fake_free(&f);
}
END_TEST

START_TEST(test_a_run_that_ignores_sigterm_gets_sigkill_exactly_after_grace)
{
	struct fake f;
	fake_init(&f);
	f.term_kills = 0;
	fake_save(&f, 0);
	fake_until(&f, f.now + DELAY);
	int64_t t0 = f.now;
	ck_assert_int_eq(replace_deadline(&f.r), t0 + GRACE);
	fake_until(&f, t0 + GRACE - 1);
	ck_assert_int_eq(f.nkill, 0);
	fake_until(&f, t0 + GRACE);
	ck_assert_int_eq(f.nkill, 1);
	ck_assert_int_eq(f.kill_at[0], t0 + GRACE);
	/* still there (a process in the kernel): again each grace period */
	fake_until(&f, t0 + 2 * GRACE);
	ck_assert_int_eq(f.nkill, 2);
	ck_assert_int_eq(f.kill_at[1], t0 + 2 * GRACE);
	ck_assert_int_eq(f.resumes, 0);
	fake_reap_all(&f);
	ck_assert_int_eq(f.resumes, 1);
	ck_assert_int_eq(f.nterm, 1); /* SIGTERM once, at the start */
	fake_free(&f);
}
END_TEST

START_TEST(test_a_run_gone_by_the_sigkill_deadline_is_resumed_then)
{
	struct fake f;
	fake_init(&f);
	f.term_kills = 0;
	fake_save(&f, 0);
	fake_until(&f, f.now + DELAY);
	int64_t t0 = f.now;
	f.alive = 0; /* ended, its SIGCHLD not read yet */
	fake_until(&f, t0 + GRACE);
	ck_assert_int_eq(f.nkill, 0);
	ck_assert_int_eq(f.resumes, 1);
	fake_free(&f);
}
END_TEST

START_TEST(test_a_checkpoint_that_does_not_resume_in_5_s_restarts)
{
	struct fake f;
	fake_init(&f);
	f.alive = 0;
	fake_save(&f, 0);
	fake_until(&f, f.now + DELAY);
	int64_t t0 = f.now;
	ck_assert_int_eq(f.resumes, 1);
	ck_assert_int_eq(replace_deadline(&f.r), t0 + RESUME_WAIT_NS);
	fake_until(&f, t0 + RESUME_WAIT_NS - 1);
	ck_assert_int_eq(f.restarts, 0);
	fake_until(&f, t0 + RESUME_WAIT_NS);
	ck_assert_int_eq(f.abandons, 1);
	ck_assert_int_eq(f.restarts, 1);
	ck_assert_int_eq(f.r.phase, REPLACE_IDLE);
	fake_free(&f);
}
END_TEST

START_TEST(test_two_saves_during_a_slow_replacement_give_two_resumes_and_the_last_wins)
{
	struct fake f;
	fake_init(&f);
	f.term_kills = 0; /* the run takes its time to end */
	fake_save(&f, 0);
	fake_until(&f, f.now + DELAY);
	ck_assert_int_eq(f.r.phase, REPLACE_KILLING);
	fake_until(&f, f.now + 120 * MS);
	int64_t second = f.now;
	fake_save(&f, 0); /* while the first replacement goes on */
	fake_until(&f, f.now + 50 * MS);
	ck_assert_int_eq(f.decides, 1); /* it waits for the first */
	fake_reap_all(&f);
	ck_assert_int_eq(f.resumes, 1);
	fake_until(&f, f.now + 30 * MS);
	ck_assert_int_eq(f.decides, 1); /* and for the first's new run */
	f.alive = 1;
	replace_run_known(&f.r);
	fake_until(&f, f.now); /* the second save is long complete: it goes at once */
	ck_assert_int_eq(f.decides, 2);
	ck_assert_int_eq(f.r.phase, REPLACE_KILLING);
	ck_assert_int_eq(f.nterm, 2);
	fake_reap_all(&f);
	ck_assert_int_eq(f.resumes, 2);
	ck_assert_int_eq(f.resumed[1], 7);
	ck_assert_int_ge(f.resumed_when[1], second); /* the last resume follows the last save */
	replace_run_known(&f.r);
	fake_until(&f, f.now + 10 * GRACE);
	ck_assert_int_eq(f.resumes, 2); /* and nothing more */
	ck_assert_int_eq(f.restarts, 0);
	fake_free(&f);
}
END_TEST

START_TEST(test_a_save_during_a_grace_period_waits_for_it)
{
	struct fake f;
	fake_init(&f);
	f.term_kills = 0;
	fake_save(&f, 0);
	fake_until(&f, f.now + DELAY);
	int64_t t0 = f.now;
	fake_until(&f, t0 + 300 * MS);
	fake_save(&f, 1);
	/* the timer waits for the SIGKILL, not for the save's quiet window */
	ck_assert_int_eq(replace_deadline(&f.r), t0 + GRACE);
	fake_until(&f, t0 + GRACE);
	ck_assert_int_eq(f.nkill, 1);
	ck_assert_int_eq(f.decides, 1);
	fake_reap_all(&f);
	fake_new_run(&f);
	fake_until(&f, f.now);
	ck_assert_int_eq(f.decides, 2);
	ck_assert_int_eq(f.nterm, 2);
	fake_reap_all(&f);
	ck_assert_int_eq(f.resumes, 2);
	fake_free(&f);
}
END_TEST

START_TEST(test_a_save_while_resuming_waits_for_the_new_run)
{
	struct fake f;
	fake_init(&f);
	f.alive = 0;
	fake_save(&f, 0);
	fake_until(&f, f.now + DELAY);
	ck_assert_int_eq(f.r.phase, REPLACE_RESUMING);
	fake_save(&f, 0);
	fake_until(&f, f.now + 100 * MS);
	ck_assert_int_eq(f.decides, 1);
	replace_run_known(&f.r);
	fake_until(&f, f.now);
	ck_assert_int_eq(f.decides, 2);
	ck_assert_int_eq(f.resumes, 2);
	fake_free(&f);
}
END_TEST

START_TEST(test_a_checkpoint_gone_before_its_resume_restarts_the_command)
{
	struct fake f;
	fake_init(&f);
	f.alive = 0;
	f.gone_ckpt = 7;
	fake_save(&f, 0);
	fake_until(&f, f.now + DELAY);
	ck_assert_int_eq(f.resumes, 0);
	ck_assert_int_eq(f.restarts, 1);
	ck_assert_int_eq(f.r.phase, REPLACE_IDLE);
	ck_assert(!replace_waits_for(&f.r, 7));
	fake_free(&f);
}
END_TEST

/* A checkout of 151 files (more than any fixed table): one change, every file in it, and
 * one resume from before the earliest read among them. */
START_TEST(test_a_change_of_151_files_is_one_resume_from_the_earliest_read)
{
	struct fake f;
	fake_init(&f);
	for (int i = 2; i <= 150; i++)
		policy_read(f.pol, i);
	for (int i = 150; i >= 0; i--)
		debounce_event(f.deb, i, DEB_DONE, 0, f.now);
	fake_until(&f, f.now + DELAY);
	ck_assert_int_eq(f.decides, 1);
	ck_assert_int_eq(f.last_n, 151);
	fake_reap_all(&f);
	ck_assert_int_eq(f.resumes, 1);
	ck_assert_int_eq(f.resumed[0], 7);
	ck_assert_int_eq(debounce_pending(f.deb), 0);
	fake_until(&f, f.now + 10 * DELAY);
	ck_assert_int_eq(f.decides, 1); /* nothing left over for a second change */
	fake_free(&f);
}
END_TEST

START_TEST(test_a_change_completed_while_replacing_begins_once_idle)
{
	struct fake f;
	fake_init(&f);
	f.term_kills = 0;
	fake_save(&f, 0);
	fake_until(&f, f.now + DELAY);
	ck_assert_int_eq(replace_add_changed(&f.r, 1), 0);
	replace_change(&f.r, f.now);
	replace_pending(&f.r, f.now);
	ck_assert_int_eq(f.decides, 1); /* held until IDLE */
	fake_reap_all(&f);
	fake_new_run(&f);
	replace_pending(&f.r, f.now);
	ck_assert_int_eq(f.decides, 2);
	ck_assert_int_eq(f.r.phase, REPLACE_KILLING);
	fake_free(&f);
}
END_TEST

/* ---- the settle rule ---- */

START_TEST(test_a_complete_save_fires_at_the_quiet_window_when_nothing_is_on_its_way)
{
	struct fake f;
	fake_init(&f);
	int64_t t0 = f.now;
	fake_save(&f, 0);
	fake_until(&f, t0 + DELAY);
	ck_assert_int_eq(f.decides, 1);
	ck_assert_int_eq(f.settle_calls, 1);
	fake_free(&f);
}
END_TEST

START_TEST(test_the_postponement_waits_while_events_are_on_their_way)
{
	struct fake f;
	fake_init(&f);
	int64_t t0 = f.now;
	fake_save(&f, 0);
	f.busy = 1;
	fake_until(&f, t0 + DELAY);
	ck_assert_int_eq(f.decides, 0);
	ck_assert_int_eq(replace_deadline(&f.r), t0 + DELAY + SETTLE_RETRY_NS);
	fake_until(&f, t0 + DELAY + 3 * SETTLE_RETRY_NS);
	ck_assert_int_eq(f.decides, 0);
	f.busy = 0;
	fake_until(&f, t0 + DELAY + 4 * SETTLE_RETRY_NS);
	ck_assert_int_eq(f.decides, 1);
	fake_free(&f);
}
END_TEST

START_TEST(test_the_postponement_lasts_at_most_its_maximum)
{
	struct fake f;
	fake_init(&f);
	int64_t t0 = f.now;
	fake_save(&f, 0);
	f.busy = 1; /* forever */
	fake_until(&f, t0 + DELAY + SETTLE_MAX_NS - 1);
	ck_assert_int_eq(f.decides, 0);
	fake_until(&f, t0 + DELAY + SETTLE_MAX_NS);
	ck_assert_int_eq(f.decides, 1);
	/* the next set is held back afresh */
	replace_run_known(&f.r);
	f.alive = 0;
	fake_reap_all(&f);
	replace_run_known(&f.r);
	int64_t t1 = f.now;
	fake_save(&f, 0);
	fake_until(&f, t1 + DELAY + SETTLE_MAX_NS - 1);
	ck_assert_int_eq(f.decides, 1);
	fake_free(&f);
}
END_TEST

/* No -d: a save with nothing else on its way is decided at its own time, and one with
 * events on their way as soon as they are in; the machine's load is no input at all. */
START_TEST(test_the_adaptive_window_decides_a_save_at_once)
{
	static const struct debounce_cfg adaptive = {
		.empty_grace_ns = 400 * MS, .stale_ns = 1000 * MS, .gone_grace_ns = 300 * MS, .adaptive = 1, .link_ns = 50 * MS};
	struct fake f;
	fake_init(&f);
	debounce_free(f.deb);
	f.r.deb = f.deb = debounce_new(&adaptive);
	int64_t t0 = f.now;
	fake_save(&f, 0);
	ck_assert_int_eq(replace_deadline(&f.r), t0);
	fake_until(&f, t0);
	ck_assert_int_eq(f.decides, 1);
	fake_reap_all(&f);
	fake_new_run(&f);
	int64_t t1 = t0 + 200 * MS;
	fake_until(&f, t1);
	fake_save(&f, 0);
	f.busy = 1;
	fake_until(&f, t1);
	ck_assert_int_eq(f.decides, 1);
	f.busy = 0;
	fake_until(&f, t1 + SETTLE_RETRY_NS);
	ck_assert_int_eq(f.decides, 2);
	fake_free(&f);
}
END_TEST

Suite *replace_suite(void)
{
	Suite *s = suite_create("replace");
	TCase *tc = tcase_create("replacing the run");
	tcase_add_test(tc, test_a_save_resumes_from_the_checkpoint_once_the_run_is_gone);
	tcase_add_test(tc, test_a_run_already_gone_resumes_at_once_without_signals);
	tcase_add_test(tc, test_a_change_with_no_checkpoint_before_it_restarts);
	tcase_add_test(tc, test_a_file_the_run_never_read_changes_nothing);
	tcase_add_test(tc, test_a_run_that_ignores_sigterm_gets_sigkill_exactly_after_grace);
	tcase_add_test(tc, test_a_run_gone_by_the_sigkill_deadline_is_resumed_then);
	tcase_add_test(tc, test_a_checkpoint_that_does_not_resume_in_5_s_restarts);
	tcase_add_test(tc, test_two_saves_during_a_slow_replacement_give_two_resumes_and_the_last_wins);
	tcase_add_test(tc, test_a_save_during_a_grace_period_waits_for_it);
	tcase_add_test(tc, test_a_save_while_resuming_waits_for_the_new_run);
	tcase_add_test(tc, test_a_checkpoint_gone_before_its_resume_restarts_the_command);
	tcase_add_test(tc, test_a_change_completed_while_replacing_begins_once_idle);
	tcase_add_test(tc, test_a_change_of_151_files_is_one_resume_from_the_earliest_read);
	suite_add_tcase(s, tc);
	TCase *st = tcase_create("settle rule");
	tcase_add_test(st, test_a_complete_save_fires_at_the_quiet_window_when_nothing_is_on_its_way);
	tcase_add_test(st, test_the_postponement_waits_while_events_are_on_their_way);
	tcase_add_test(st, test_the_postponement_lasts_at_most_its_maximum);
	tcase_add_test(st, test_the_adaptive_window_decides_a_save_at_once);
	suite_add_tcase(s, st);
	return s;
}
