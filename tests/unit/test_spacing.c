/*
 * tests/unit/test_spacing.c — the hook's checkpoint spacing rule (hook/spacing.c), on a
 * fake clock: Check suite "spacing", in the unit suite of the one runner.
 *
 * The runner links forkmon's objects, not the hook's, so the rule's one file is compiled
 * in here (it is pure and libc-only: no hook state comes with it).
 */
#include "spacing.c"

#include "suites.h"

#define US 1000ll
#define MS 1000000ll

/* The monitor's defaults (monitor/monitor.c): 3 free, 10× the fork's cost, 2 ms. */
static const struct spacing_cfg run_cfg = {
	.run = 1,
	.free_checkpoints = 3,
	.gap_factor = 10,
	.min_gap_ns = 2 * MS,
	.max_checkpoints = 512,
};

/*
 * A run that reads nreads watched files, the first project_reads of them in the project,
 * doing work_ns of work before each; each checkpoint costs fork_ns more. Returns how
 * many checkpoints it takes; their read indices go to at (when not NULL).
 */
static int simulate(const struct spacing_cfg *cfg, int nreads, int project_reads, int64_t work_ns,
		    int64_t fork_ns, int *at)
{
	struct spacing s = {0};
	int64_t t = 0;
	int taken = 0;
	for (int i = 0; i < nreads; i++) {
		if (i > 0)
			t += work_ns;
		if (spacing_wanted(cfg, &s, t, i < project_reads, 1)) {
			t += fork_ns;
			spacing_forked(&s, t, fork_ns);
			if (at)
				at[taken] = i;
			taken++;
		}
	}
	ck_assert_int_eq(s.count, taken);
	return taken;
}

START_TEST(test_the_first_watched_read_always_gets_a_checkpoint)
{
	struct spacing_cfg c = run_cfg;
	c.free_checkpoints = 0;
	c.min_gap_ns = 3600 * 1000 * MS; /* an hour: no later one */
	struct spacing s = {0};
	ck_assert_int_eq(spacing_wanted(&c, &s, 0, 0, 1), 1);
	spacing_forked(&s, 300 * US, 300 * US);
	ck_assert_int_eq(spacing_wanted(&c, &s, 10 * MS, 0, 1), 0);
	ck_assert_int_eq(spacing_wanted(&c, &s, 10 * MS, 1, 1), 0);
}
END_TEST

START_TEST(test_the_projects_first_reads_get_the_free_checkpoints_regardless_of_cost)
{
	/* Forks of a second each, reads a microsecond apart: only the free ones are taken. */
	int at[8];
	ck_assert_int_eq(simulate(&run_cfg, 10, 10, 1 * US, 1000 * MS, at), 3);
	ck_assert_int_eq(at[0], 0);
	ck_assert_int_eq(at[1], 1);
	ck_assert_int_eq(at[2], 2);
}
END_TEST

START_TEST(test_a_first_read_outside_the_project_leaves_the_free_ones_to_the_project)
{
	struct spacing s = {0};
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 0, 0, 1), 1); /* /usr/share/...: the first */
	spacing_forked(&s, 1000 * MS, 1000 * MS);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 1000 * MS, 1, 1), 1);
		spacing_forked(&s, 1000 * MS, 1000 * MS);
	}
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 1000 * MS, 1, 1), 0);
	ck_assert_int_eq(s.count, 4);
}
END_TEST

START_TEST(test_asking_without_consuming_changes_nothing)
{
	struct spacing s = {0};
	spacing_forked(&s, 0, 1000 * MS);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 1, 1, 0), 1);
	ck_assert_int_eq(s.free_used, 0);
	ck_assert_int_eq(s.count, 1);
}
END_TEST

START_TEST(test_past_the_free_ones_one_per_gap_factor_times_the_last_forks_cost)
{
	struct spacing s = {.count = 3, .free_used = 3};
	spacing_forked(&s, 50 * MS, 300 * US); /* 10 × 300 µs = 3 ms > the 2 ms minimum */
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 53 * MS - 1, 1, 1), 0);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 53 * MS, 1, 1), 1);
	/* the last fork's cost is what counts: a dearer one widens the gap */
	spacing_forked(&s, 60 * MS, 2 * MS);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 79 * MS, 0, 1), 0);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 80 * MS, 0, 1), 1);
}
END_TEST

START_TEST(test_at_least_min_gap_of_work_when_forks_are_cheap)
{
	struct spacing s = {.count = 5, .free_used = 3};
	spacing_forked(&s, 10 * MS, 10 * US); /* 10 × 10 µs = 100 µs < 2 ms */
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 12 * MS - 1, 0, 1), 0);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 12 * MS, 0, 1), 1);
}
END_TEST

START_TEST(test_never_past_max_checkpoints)
{
	struct spacing_cfg c = run_cfg;
	c.max_checkpoints = 2;
	ck_assert_int_eq(simulate(&c, 1000, 1000, 10 * MS, 1 * US, NULL), 2);
	c.every = 1;
	ck_assert_int_eq(simulate(&c, 1000, 0, 0, 1 * US, NULL), 2);
	c.max_checkpoints = 0;
	ck_assert_int_eq(simulate(&c, 10, 10, 10 * MS, 1 * US, NULL), 0);
}
END_TEST

START_TEST(test_every_read_gets_one_with_every)
{
	struct spacing_cfg c = run_cfg;
	c.every = 1;
	ck_assert_int_eq(simulate(&c, 100, 0, 1 * US, 1000 * MS, NULL), 100);
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
	/* The checkpoint's copy of the state is from before its fork was counted. */
	struct spacing at_ckpt = {.count = 3, .free_used = 3, .last_end_ns = 10 * MS, .last_fork_ns = 300 * US};
	struct spacing s = at_ckpt;
	spacing_resumed(&s, 500 * MS);
	ck_assert_int_eq(s.count, 4);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 503 * MS - 1, 1, 1), 0);
	ck_assert_int_eq(spacing_wanted(&run_cfg, &s, 503 * MS, 1, 1), 1);
	struct spacing_cfg c = run_cfg;
	c.max_checkpoints = 4;
	ck_assert_int_eq(spacing_wanted(&c, &s, 900 * MS, 1, 1), 0);
}
END_TEST

START_TEST(test_1000_reads_100us_apart_with_300us_forks_get_34_checkpoints)
{
	/* Outside the project: the first read, then one per 3 ms of work (10 × 300 µs):
	 * 30 reads of 100 µs after each fork. Reads 0, 30, 60, ..., 990. */
	int at[64];
	ck_assert_int_eq(simulate(&run_cfg, 1000, 0, 100 * US, 300 * US, at), 34);
	for (int k = 0; k < 34; k++)
		ck_assert_int_eq(at[k], 30 * k);
}
END_TEST

START_TEST(test_1000_reads_with_the_project_first_get_36_checkpoints)
{
	/* The 3 free ones at reads 0, 1, 2 (the first counts among them), then reads 32,
	 * 62, ..., 992: 33 more. */
	int at[64];
	ck_assert_int_eq(simulate(&run_cfg, 1000, 10, 100 * US, 300 * US, at), 36);
	ck_assert_int_eq(at[2], 2);
	ck_assert_int_eq(at[3], 32);
	ck_assert_int_eq(at[35], 992);
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
	tcase_add_test(tc, test_the_projects_first_reads_get_the_free_checkpoints_regardless_of_cost);
	tcase_add_test(tc, test_a_first_read_outside_the_project_leaves_the_free_ones_to_the_project);
	tcase_add_test(tc, test_asking_without_consuming_changes_nothing);
	tcase_add_test(tc, test_past_the_free_ones_one_per_gap_factor_times_the_last_forks_cost);
	tcase_add_test(tc, test_at_least_min_gap_of_work_when_forks_are_cheap);
	tcase_add_test(tc, test_never_past_max_checkpoints);
	tcase_add_test(tc, test_every_read_gets_one_with_every);
	tcase_add_test(tc, test_a_process_that_is_not_the_run_never_gets_one);
	tcase_add_test(tc, test_a_resumed_run_counts_its_checkpoint_and_works_from_the_resume);
	tcase_add_test(tc, test_1000_reads_100us_apart_with_300us_forks_get_34_checkpoints);
	tcase_add_test(tc, test_1000_reads_with_the_project_first_get_36_checkpoints);
	tcase_add_test(tc, test_the_project_is_the_session_directory_and_below);
	suite_add_tcase(s, tc);
	return s;
}
