/*
 * tests/unit/test_spacing.c — the hook's checkpoint spacing rule (hook/spacing.c), on a
 * fake clock and a fake fault counter: Check suite "spacing", in the unit suite of the
 * one runner.
 *
 * The runner links forkmon's objects, not the hook's, so the rule's one file is compiled
 * in here (it is pure and libc-only: no hook state comes with it).
 */
#include "spacing.c"

#include "suites.h"

#define US 1000ll
#define MS 1000000ll

/* The monitor's numbers (monitor/monitor.c mon_hints) for a run: 3 free, 30 × what the
 * last checkpoint cost, 2 ms; faults counted (fake_faults_now). */
static long fake_faults, fake_asked;
static long fake_faults_now(void)
{
	fake_asked++;
	return fake_faults;
}

/* What the run did that a resume would show again (spacing.h effects_now). */
static long fake_effects, fake_effects_asked;
static long fake_effects_now(void)
{
	fake_effects_asked++;
	return fake_effects;
}

static const struct spacing_cfg run_cfg = {
	.run = 1,
	.free_checkpoints = 3,
	.gap_factor = 30,
	.min_gap_ns = 2 * MS,
	.max_checkpoints = 512,
	.faults_now = fake_faults_now,
};

/* A helper session's (serve mode): 3 free, 10 × the fork's cost, 2 ms; no fault counted. */
static const struct spacing_cfg serve_cfg = {
	.run = 1,
	.free_checkpoints = 3,
	.gap_factor = 10,
	.min_gap_ns = 2 * MS,
	.max_checkpoints = 512,
};

/*
 * A run that reads nreads watched files, the first project_reads of them in the project,
 * doing work_ns of work and faults_per_read page faults before each; each checkpoint
 * costs cost_ns more. Returns how many checkpoints it takes; their read indices go to at
 * (when not NULL).
 */
static int simulate_faults(const struct spacing_cfg *cfg, int nreads, int project_reads, int64_t work_ns,
			   long faults_per_read, int64_t cost_ns, int *at)
{
	struct spacing s = {0};
	int64_t t = 0;
	int taken = 0;
	fake_faults = 0;
	for (int i = 0; i < nreads; i++) {
		if (i > 0) {
			t += work_ns;
			fake_faults += faults_per_read;
		}
		if (spacing_wanted(cfg, &s, t, i < project_reads, 1)) {
			t += cost_ns;
			spacing_forked(&s, t, cost_ns, cfg->faults_now ? fake_faults : 0);
			if (cfg->effects_now)
				spacing_effects_from(&s, cfg->effects_now());
			if (at)
				at[taken] = i;
			taken++;
		}
	}
	ck_assert_int_eq(s.count, taken);
	return taken;
}

static int simulate(const struct spacing_cfg *cfg, int nreads, int project_reads, int64_t work_ns,
		    int64_t cost_ns, int *at)
{
	return simulate_faults(cfg, nreads, project_reads, work_ns, 0, cost_ns, at);
}

START_TEST(test_the_first_watched_read_always_gets_a_checkpoint)
{
	struct spacing_cfg c = run_cfg;
	c.free_checkpoints = 0;
	c.min_gap_ns = 3600 * 1000 * MS; /* an hour: no later one */
	struct spacing s = {0};
	ck_assert_int_eq(spacing_wanted(&c, &s, 0, 0, 1), 1);
	spacing_forked(&s, 300 * US, 300 * US, 0);
	ck_assert_int_eq(spacing_wanted(&c, &s, 10 * MS, 0, 1), 0);
	ck_assert_int_eq(spacing_wanted(&c, &s, 10 * MS, 1, 1), 0);
	c = serve_cfg;
	c.free_checkpoints = 0;
	s = (struct spacing){0};
	ck_assert_int_eq(spacing_wanted(&c, &s, 0, 1, 1), 1);
}
END_TEST

START_TEST(test_past_the_free_ones_a_runs_checkpoints_are_by_cost_alone)
{
	/* 120 trivial modules of the project, 15 µs apart, a checkpoint costing 0.6 ms:
	 * the main file and the first two modules get one, no other is worth it. */
	int at[8];
	ck_assert_int_eq(simulate(&run_cfg, 121, 121, 15 * US, 600 * US, at), 3);
	ck_assert_int_eq(at[2], 2);
}
END_TEST

START_TEST(test_the_projects_first_reads_get_the_free_checkpoints_regardless_of_cost)
{
	/* Forks of a second each, reads a microsecond apart: only the free ones are taken. */
	int at[8];
	ck_assert_int_eq(simulate(&serve_cfg, 10, 10, 1 * US, 1000 * MS, at), 3);
	ck_assert_int_eq(simulate(&run_cfg, 10, 10, 1 * US, 1000 * MS, NULL), 3);
	ck_assert_int_eq(at[0], 0);
	ck_assert_int_eq(at[1], 1);
	ck_assert_int_eq(at[2], 2);
}
END_TEST

START_TEST(test_a_first_read_outside_the_project_leaves_the_free_ones_to_the_project)
{
	struct spacing s = {0};
	ck_assert_int_eq(spacing_wanted(&serve_cfg, &s, 0, 0, 1), 1); /* /usr/share/...: the first */
	spacing_forked(&s, 1000 * MS, 1000 * MS, 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(spacing_wanted(&serve_cfg, &s, 1000 * MS, 1, 1), 1);
		spacing_forked(&s, 1000 * MS, 1000 * MS, 0);
	}
	ck_assert_int_eq(spacing_wanted(&serve_cfg, &s, 1000 * MS, 1, 1), 0);
	ck_assert_int_eq(s.count, 4);
}
END_TEST

START_TEST(test_asking_without_consuming_changes_nothing)
{
	struct spacing s = {0};
	spacing_forked(&s, 0, 1000 * MS, 0);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(spacing_wanted(&serve_cfg, &s, 1, 1, 0), 1);
	ck_assert_int_eq(s.free_used, 0);
	ck_assert_int_eq(s.count, 1);
}
END_TEST

START_TEST(test_past_the_first_one_per_gap_factor_times_the_last_checkpoints_cost)
{
	fake_faults = 0;
	struct spacing s = {.count = 3, .free_used = 3};
	spacing_forked(&s, 50 * MS, 300 * US, 0); /* 30 × 300 µs = 9 ms > the 2 ms minimum */
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 59 * MS - 1, 1, 1), 0);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 59 * MS, 1, 1), 1);
	/* the last checkpoint's cost is what counts: a dearer one widens the gap */
	spacing_forked(&s, 60 * MS, 2 * MS, 0);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 120 * MS - 1, 0, 1), 0);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 120 * MS, 0, 1), 1);
	/* a helper session's: ten times */
	spacing_forked(&s, 60 * MS, 2 * MS, 0);
	ck_assert_int_eq(spacing_wanted(&serve_cfg, &s, 80 * MS - 1, 0, 1), 0);
	ck_assert_int_eq(spacing_wanted(&serve_cfg, &s, 80 * MS, 0, 1), 1);
}
END_TEST

START_TEST(test_at_least_min_gap_of_work_when_checkpoints_are_cheap)
{
	fake_faults = 0;
	struct spacing s = {.count = 5, .free_used = 3};
	spacing_forked(&s, 10 * MS, 10 * US, 0); /* 30 × 10 µs = 300 µs < 2 ms */
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 12 * MS - 1, 0, 1), 0);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 12 * MS, 0, 1), 1);
}
END_TEST

START_TEST(test_the_faults_after_a_checkpoint_count_in_its_cost)
{
	/* A 300 µs checkpoint, then 600 faults of 2 µs: it cost 1.5 ms, so the next one
	 * waits for 45 ms of work, not 9. */
	struct spacing s = {0};
	fake_faults = 1000;
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 0, 0, 1), 1);
	spacing_forked(&s, 300 * US, 300 * US, fake_faults);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 300 * US + 9 * MS, 0, 1), 1); /* no fault yet */
	fake_faults = 1600;
	ck_assert_int_eq(spacing_cost(&run_cfg, &s), 1500 * US);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 300 * US + 9 * MS, 0, 1), 0);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 300 * US + 45 * MS - 1, 0, 1), 0);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 300 * US + 45 * MS, 0, 1), 1);
	/* a helper session counts the fork alone */
	ck_assert_int_eq(spacing_wanted(&serve_cfg, &s, 300 * US + 3 * MS, 0, 1), 1);
}
END_TEST

START_TEST(test_the_faults_are_counted_only_once_the_cheap_bound_allows_one)
{
	struct spacing s = {0};
	fake_faults = 0;
	spacing_forked(&s, 0, 300 * US, 0);
	fake_asked = 0;
	for (int64_t t = 0; t < 9 * MS; t += 100 * US)
		ck_assert_int_eq(spacing_wanted(&run_cfg, &s, t, 0, 0), 0);
	ck_assert_int_eq(fake_asked, 0);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 9 * MS, 0, 0), 1);
	ck_assert_int_eq(fake_asked, 1);
}
END_TEST

START_TEST(test_faults_that_ruled_one_out_are_not_asked_again_before_they_could_allow_one)
{
	/* A 300 µs checkpoint, then 600 faults (1.5 ms in all): none before 45 ms of work.
	 * Asked at 9 ms (the cheap bound allows one there), the faults are not asked again
	 * before 45 ms, and the answers are those of counting every time. */
	struct spacing s = {0};
	fake_faults = 1000;
	spacing_forked(&s, 0, 300 * US, fake_faults);
	fake_faults = 1600;
	fake_asked = 0;
	for (int64_t t = 9 * MS; t < 45 * MS; t += 100 * US) {
		ck_assert_int_eq(spacing_wanted(&run_cfg, &s, t, 0, 1), 0);
		fake_faults++; /* they grow meanwhile: the bound only moves later */
	}
	ck_assert_int_eq(fake_asked, 1);
	/* at the bound they are counted again: 960 faults since, 2.22 ms, 66.6 ms of work */
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 45 * MS, 0, 1), 0);
	ck_assert_int_eq(fake_asked, 2);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 66600 * US - 1, 0, 1), 0);
	ck_assert_int_eq(fake_asked, 2);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 66600 * US, 0, 1), 1);
	/* a new checkpoint forgets the bound */
	spacing_forked(&s, 70 * MS, 300 * US, fake_faults);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 79 * MS, 0, 1), 1);
}
END_TEST

START_TEST(test_a_measured_fault_cost_replaces_the_default_and_outliers_are_left_out)
{
	struct spacing s = {0};
	spacing_forked(&s, 0, 0, 0);
	fake_faults = 1000;
	ck_assert_int_eq(spacing_cost(&run_cfg, &s), 1000 * SPACING_FAULT_NS);
	spacing_fault_sample(&s, 1000);
	ck_assert_int_eq(spacing_cost(&run_cfg, &s), 1000 * US);
	spacing_fault_sample(&s, 5000); /* a moving average: a quarter of the way */
	ck_assert_int_eq(s.fault_ns, 2000);
	spacing_fault_sample(&s, 20); /* no fault took place (the page was ours) */
	spacing_fault_sample(&s, 5 * MS); /* preempted in the middle */
	ck_assert_int_eq(s.fault_ns, 2000);
}
END_TEST

START_TEST(test_never_past_max_checkpoints)
{
	struct spacing_cfg c = serve_cfg;
	c.max_checkpoints = 2;
	ck_assert_int_eq(simulate(&c, 1000, 1000, 10 * MS, 1 * US, NULL), 2);
	c.every = 1;
	ck_assert_int_eq(simulate(&c, 1000, 0, 0, 1 * US, NULL), 2);
	c.max_checkpoints = 0;
	ck_assert_int_eq(simulate(&c, 10, 10, 10 * MS, 1 * US, NULL), 0);
	c = run_cfg;
	c.max_checkpoints = 3;
	ck_assert_int_eq(simulate(&c, 1000, 1000, 10 * MS, 1 * US, NULL), 3);
}
END_TEST

START_TEST(test_every_read_gets_one_with_every)
{
	struct spacing_cfg c = run_cfg;
	c.every = 1;
	ck_assert_int_eq(simulate_faults(&c, 100, 0, 1 * US, 1000, 1000 * MS, NULL), 100);
}
END_TEST

START_TEST(test_a_process_that_is_not_the_run_never_gets_one)
{
	struct spacing_cfg c = run_cfg;
	c.run = 0;
	ck_assert_int_eq(simulate(&c, 100, 100, 10 * MS, 1 * US, NULL), 0);
	c.every = 1;
	ck_assert_int_eq(simulate(&c, 100, 100, 10 * MS, 1 * US, NULL), 0);
}
END_TEST

START_TEST(test_a_resumed_run_counts_its_checkpoint_and_works_from_the_resume)
{
	/* The checkpoint's copy of the state is from before its fork was counted, with its
	 * own cost (hook/ckpt.c); the resumed run counts its faults from its start. */
	struct spacing at_ckpt = {.count = 3, .free_used = 3, .last_end_ns = 10 * MS, .last_cost_ns = 300 * US, .faults_at_end = 50};
	struct spacing s = at_ckpt;
	spacing_resumed(&s, 500 * MS);
	fake_faults = 7;
	spacing_faults_from(&s, fake_faults);
	ck_assert_int_eq(s.count, 4);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 509 * MS - 1, 1, 1), 0);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 509 * MS, 1, 1), 1);
	struct spacing_cfg c = run_cfg;
	c.max_checkpoints = 4;
	ck_assert_int_eq(spacing_wanted(&c, &s, 900 * MS, 1, 1), 0);
}
END_TEST

START_TEST(test_1000_reads_100us_apart_with_300us_checkpoints_get_12)
{
	/* Outside the project: the first read, then one per 9 ms of work (30 × 300 µs):
	 * 90 reads of 100 µs after each. Reads 0, 90, 180, ..., 990. */
	int at[64];
	ck_assert_int_eq(simulate(&run_cfg, 1000, 0, 100 * US, 300 * US, at), 12);
	for (int k = 0; k < 12; k++)
		ck_assert_int_eq(at[k], 90 * k);
}
END_TEST

/*
 * spacing_may_want, asked at every candidate's open (five misses of a search path, then
 * the module), answers as spacing_wanted without consuming does, asked on a copy of the
 * state each time; and once it said no, it asks neither the rule nor the faults again
 * until the answer may change.
 */
START_TEST(test_may_want_remembers_its_no_and_answers_as_the_rule_does)
{
	const struct spacing_cfg *cfgs[] = {&run_cfg, &serve_cfg};
	for (int k = 0; k < 2; k++) {
		const struct spacing_cfg *c = cfgs[k];
		struct spacing s = {0};
		int64_t t = 0;
		int taken = 0;
		fake_faults = 0;
		for (int i = 0; i < 1000; i++) {
			for (int miss = 0; miss < 6; miss++) {
				t += 3 * US;
				fake_faults += i % 7 == 0;
				struct spacing copy = s;
				int want = spacing_wanted(c, &copy, t, i < 40, 0);
				ck_assert_int_eq(spacing_may_want(c, &s, t, i < 40), want);
			}
			t += 80 * US;
			if (spacing_wanted(c, &s, t, i < 40, 1)) {
				t += 300 * US;
				spacing_forked(&s, t, 300 * US, c->faults_now ? fake_faults : 0);
				taken++;
			}
		}
		ck_assert_int_gt(taken, 3);
	}
	/* a no is remembered: asked a million times before it can change, the faults once */
	struct spacing s = {0};
	spacing_wanted(&run_cfg, &s, 0, 0, 1);
	spacing_forked(&s, 300 * US, 300 * US, 0);
	fake_faults = 1000; /* 2 ms of faults: no checkpoint before 9.3 + 60 ms */
	fake_asked = 0;
	for (int i = 0; i < 1000000; i++)
		ck_assert_int_eq(spacing_may_want(&run_cfg, &s, 10 * MS + i, 0), 0);
	ck_assert_int_eq(fake_asked, 1);
	ck_assert_int_eq(spacing_may_want(&run_cfg, &s, 70 * MS, 0), 1);
	/* a new configuration is asked anew */
	struct spacing_cfg every = run_cfg;
	every.every = 1;
	ck_assert_int_eq(spacing_may_want(&run_cfg, &s, 20 * MS, 0), 0);
	spacing_reconfigured(&s);
	ck_assert_int_eq(spacing_may_want(&every, &s, 20 * MS, 0), 1);
}
END_TEST

START_TEST(test_1000_reads_of_a_helper_session_with_the_project_first_get_36)
{
	/* The 3 free ones at reads 0, 1, 2 (the first counts among them), then reads 32,
	 * 62, ..., 992: one per 3 ms (10 × 300 µs), 33 more. */
	int at[64];
	ck_assert_int_eq(simulate(&serve_cfg, 1000, 10, 100 * US, 300 * US, at), 36);
	ck_assert_int_eq(at[2], 2);
	ck_assert_int_eq(at[3], 32);
	ck_assert_int_eq(at[35], 992);
}
END_TEST

START_TEST(test_a_short_program_growing_its_memory_stays_deep_in_a_helper_session)
{
	/* 50 ms of imports, 500 reads 100 µs apart, 20 fresh pages each (10000 faults in
	 * all): counted as a run's cost they leave it a few checkpoints past the free ones;
	 * a helper session's checkpoints stay one per 3 ms. */
	int run = simulate_faults(&run_cfg, 500, 500, 100 * US, 20, 300 * US, NULL);
	int serve = simulate_faults(&serve_cfg, 500, 500, 100 * US, 20, 300 * US, NULL);
	ck_assert_int_le(run, 6);
	ck_assert_int_ge(serve, 15);
}
END_TEST

/* The run as the hook has it: its effects counted (fake_effects_now), nothing shown. */
static struct spacing_cfg quiet_cfg(void)
{
	struct spacing_cfg c = run_cfg;
	c.effects_now = fake_effects_now;
	fake_effects = 7;
	fake_effects_asked = 0;
	return c;
}

START_TEST(test_a_free_checkpoint_soon_after_the_last_with_nothing_shown_between_is_skipped)
{
	/* 120 trivial modules 15 µs apart, printing nothing: the main file's checkpoint
	 * serves the first modules too (a change of one redoes 15 µs), and their free
	 * ones are used up; the effects were asked at the two of them (and after the one
	 * checkpoint), not at every read. */
	struct spacing_cfg c = quiet_cfg();
	int at[8];
	ck_assert_int_eq(simulate(&c, 121, 121, 15 * US, 600 * US, at), 1);
	ck_assert_int_eq(at[0], 0);
	ck_assert_int_eq(fake_effects_asked, 3);
}
END_TEST

START_TEST(test_output_since_the_last_checkpoint_keeps_the_free_one)
{
	struct spacing_cfg c = quiet_cfg();
	struct spacing s = {0};
	ck_assert_int_eq(spacing_wanted(&c, &s, 0, 1, 1), 1);
	spacing_forked(&s, 300 * US, 300 * US, 0);
	spacing_effects_from(&s, fake_effects);
	fake_effects++; /* a write, or output the C library holds */
	ck_assert_int_eq(spacing_wanted(&c, &s, 310 * US, 1, 1), 1);
	spacing_forked(&s, 620 * US, 300 * US, 0);
	spacing_effects_from(&s, fake_effects);
	/* quiet since that one, 10 µs of work: skipped, and the last free one is used up */
	ck_assert_int_eq(spacing_wanted(&c, &s, 630 * US, 1, 1), 0);
	ck_assert_int_eq(s.free_used, 3);
	fake_effects++;
	ck_assert_int_eq(spacing_wanted(&c, &s, 640 * US, 1, 1), 0); /* past the free ones: by cost */
	ck_assert_int_eq(s.count, 2);
}
END_TEST

START_TEST(test_work_longer_than_the_last_checkpoint_cost_keeps_the_free_one)
{
	/* 2 ms of quiet start-up before each module: redoing it costs more than a
	 * checkpoint does */
	struct spacing_cfg c = quiet_cfg();
	ck_assert_int_eq(simulate(&c, 10, 10, 2 * MS, 600 * US, NULL), 3);
	/* the same when the effects cannot be known (no /proc) */
	c = quiet_cfg();
	fake_effects = -1;
	ck_assert_int_eq(simulate(&c, 10, 10, 1 * US, 600 * US, NULL), 3);
}
END_TEST

START_TEST(test_asking_whether_one_may_be_wanted_does_not_count_the_effects)
{
	struct spacing_cfg c = quiet_cfg();
	struct spacing s = {0};
	ck_assert_int_eq(spacing_wanted(&c, &s, 0, 1, 1), 1);
	spacing_forked(&s, 300 * US, 300 * US, 0);
	spacing_effects_from(&s, fake_effects);
	fake_effects_asked = 0;
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(spacing_wanted(&c, &s, 310 * US, 1, 0), 1);
	ck_assert_int_eq(fake_effects_asked, 0);
	ck_assert_int_eq(s.free_used, 1);
}
END_TEST

START_TEST(test_the_project_is_the_session_directory_and_below)
{
	ck_assert_int_eq(spacing_in_project("/home/u/app", "/home/u/app/main.lua"), 1);
	ck_assert_int_eq(spacing_in_project("/home/u/app", "/home/u/app/lib/m.lua"), 1);
	ck_assert_int_eq(spacing_in_project("/home/u/app", "/home/u/apple/m.lua"), 0);
	ck_assert_int_eq(spacing_in_project("/", "/usr/share/lua/5.4/m.lua"), 1);
	ck_assert_int_eq(spacing_in_project("/home/u/app/", "/home/u/app/m.lua"), 1);
	ck_assert_int_eq(spacing_in_project("", "/home/u/app/m.lua"), 0);
}
END_TEST

Suite *spacing_suite(void)
{
	Suite *s = suite_create("spacing");
	TCase *tc = tcase_create("fake clock");
	tcase_add_test(tc, test_the_first_watched_read_always_gets_a_checkpoint);
	tcase_add_test(tc, test_past_the_free_ones_a_runs_checkpoints_are_by_cost_alone);
	tcase_add_test(tc, test_the_projects_first_reads_get_the_free_checkpoints_regardless_of_cost);
	tcase_add_test(tc, test_a_first_read_outside_the_project_leaves_the_free_ones_to_the_project);
	tcase_add_test(tc, test_asking_without_consuming_changes_nothing);
	tcase_add_test(tc, test_past_the_first_one_per_gap_factor_times_the_last_checkpoints_cost);
	tcase_add_test(tc, test_at_least_min_gap_of_work_when_checkpoints_are_cheap);
	tcase_add_test(tc, test_the_faults_after_a_checkpoint_count_in_its_cost);
	tcase_add_test(tc, test_the_faults_are_counted_only_once_the_cheap_bound_allows_one);
	tcase_add_test(tc, test_faults_that_ruled_one_out_are_not_asked_again_before_they_could_allow_one);
	tcase_add_test(tc, test_a_measured_fault_cost_replaces_the_default_and_outliers_are_left_out);
	tcase_add_test(tc, test_never_past_max_checkpoints);
	tcase_add_test(tc, test_every_read_gets_one_with_every);
	tcase_add_test(tc, test_a_process_that_is_not_the_run_never_gets_one);
	tcase_add_test(tc, test_a_resumed_run_counts_its_checkpoint_and_works_from_the_resume);
	tcase_add_test(tc, test_1000_reads_100us_apart_with_300us_checkpoints_get_12);
	tcase_add_test(tc, test_may_want_remembers_its_no_and_answers_as_the_rule_does);
	tcase_add_test(tc, test_1000_reads_of_a_helper_session_with_the_project_first_get_36);
	tcase_add_test(tc, test_a_short_program_growing_its_memory_stays_deep_in_a_helper_session);
	tcase_add_test(tc, test_a_free_checkpoint_soon_after_the_last_with_nothing_shown_between_is_skipped);
	tcase_add_test(tc, test_output_since_the_last_checkpoint_keeps_the_free_one);
	tcase_add_test(tc, test_work_longer_than_the_last_checkpoint_cost_keeps_the_free_one);
	tcase_add_test(tc, test_asking_whether_one_may_be_wanted_does_not_count_the_effects);
	tcase_add_test(tc, test_the_project_is_the_session_directory_and_below);
	suite_add_tcase(s, tc);
	return s;
}
