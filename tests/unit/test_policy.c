/* tests/unit/test_policy.c — monitor/policy.c, the resume rule: which checkpoint a set of
 * changed files resumes from, or a restart (pure logic, no process). Unit suite. */
#include "suites.h"

#include "policy.h"

#include <stdio.h>
#include <stdlib.h>

enum { A, B, C, D };

START_TEST(test_change_resumes_from_the_checkpoint_before_its_first_read)
{
	struct policy *p = policy_new();
	uint64_t sa = policy_read(p, A);
	policy_checkpoint_add(p, 10, sa);
	uint64_t sb = policy_read(p, B);
	policy_checkpoint_add(p, 11, sb);
	policy_read(p, C);
	policy_checkpoint_add(p, 12, policy_next_seq(p) - 1);
	int files[] = {B};
	struct policy_decision d;
	policy_decide(p, files, 1, &d);
	ck_assert_int_eq(d.action, POLICY_RESUME);
	ck_assert_int_eq(d.ckpt, 11);
	ck_assert_int_eq(d.first_file, B);
	int dropped[8];
	ck_assert_int_eq(policy_rollback(p, d.seq, dropped, 8), 1);
	ck_assert_int_eq(dropped[0], 12);
	ck_assert_int_eq(policy_first_read(p, C), 0); /* read after the checkpoint: forgotten */
	ck_assert_int_eq(policy_first_read(p, B), sb); /* the resumed run's first read */
	/* so a save of B completing while the run is replaced still resumes (again) */
	policy_decide(p, files, 1, &d);
	ck_assert_int_eq(d.action, POLICY_RESUME);
	ck_assert_int_eq(d.ckpt, 11);
	ck_assert_int_eq(policy_first_read(p, A), sa);
	policy_free(p);
}
END_TEST

START_TEST(test_two_files_resume_from_the_earlier_one)
{
	struct policy *p = policy_new();
	policy_checkpoint_add(p, 1, policy_read(p, A));
	policy_checkpoint_add(p, 2, policy_read(p, B));
	policy_checkpoint_add(p, 3, policy_read(p, C));
	int files[] = {C, B};
	struct policy_decision d;
	policy_decide(p, files, 2, &d);
	ck_assert_int_eq(d.action, POLICY_RESUME);
	ck_assert_int_eq(d.ckpt, 2);
	ck_assert_int_eq(d.first_file, B);
	policy_free(p);
}
END_TEST

START_TEST(test_spaced_checkpoints_resume_from_the_latest_before)
{
	/* only A and D got checkpoints (spacing); a change of C resumes from A */
	struct policy *p = policy_new();
	policy_checkpoint_add(p, 1, policy_read(p, A));
	policy_read(p, B);
	policy_read(p, C);
	policy_checkpoint_add(p, 4, policy_read(p, D));
	int files[] = {C};
	struct policy_decision d;
	policy_decide(p, files, 1, &d);
	ck_assert_int_eq(d.action, POLICY_RESUME);
	ck_assert_int_eq(d.ckpt, 1);
	policy_free(p);
}
END_TEST

START_TEST(test_no_checkpoint_before_the_read_restarts)
{
	struct policy *p = policy_new();
	policy_read(p, A); /* read by a subprocess: no checkpoint */
	policy_checkpoint_add(p, 7, policy_read(p, B));
	int files[] = {A};
	struct policy_decision d;
	policy_decide(p, files, 1, &d);
	ck_assert_int_eq(d.action, POLICY_RESTART);
	int dropped[8];
	ck_assert_int_eq(policy_reset(p, dropped, 8), 1);
	ck_assert_int_eq(dropped[0], 7);
	ck_assert_int_eq(policy_checkpoint_count(p), 0);
	ck_assert_int_eq(policy_first_read(p, A), 0);
	policy_free(p);
}
END_TEST

START_TEST(test_file_not_read_in_this_lineage_needs_nothing)
{
	struct policy *p = policy_new();
	policy_checkpoint_add(p, 1, policy_read(p, A));
	policy_read(p, B);
	int dropped[8];
	policy_rollback(p, 1, dropped, 8); /* resumed from A: B not read yet */
	ck_assert_int_eq(policy_first_read(p, A), 1);
	int files[] = {B};
	struct policy_decision d;
	policy_decide(p, files, 1, &d);
	ck_assert_int_eq(d.action, POLICY_NONE);
	policy_free(p);
}
END_TEST

START_TEST(test_repeated_reads_keep_the_first)
{
	struct policy *p = policy_new();
	uint64_t first = policy_read(p, A);
	policy_checkpoint_add(p, 1, policy_read(p, B));
	policy_read(p, A);
	ck_assert_int_eq(policy_first_read(p, A), first);
	int files[] = {A};
	struct policy_decision d;
	policy_decide(p, files, 1, &d);
	ck_assert_int_eq(d.action, POLICY_RESTART); /* A was first read before any checkpoint */
	policy_checkpoint_gone(p, 1);
	ck_assert_int_eq(policy_checkpoint_count(p), 0);
	policy_free(p);
}
END_TEST

/* make stat()s util.c (a look) and never opens it: a change resumes from before the look.
 * Python stat()s a module, then opens it under a checkpoint: the read counts, not the look. */
START_TEST(test_a_look_counts_until_the_file_is_read)
{
	struct policy *p = policy_new();
	policy_checkpoint_add(p, 1, policy_read(p, A));
	uint64_t look = policy_look(p, B);
	ck_assert_int_eq(policy_first_read(p, B), look);
	policy_look(p, C);
	uint64_t read = policy_read(p, C);
	policy_checkpoint_add(p, 2, read);
	ck_assert_int_eq(policy_first_read(p, C), read);
	policy_look(p, B); /* a second look changes nothing */
	ck_assert_int_eq(policy_first_read(p, B), look);
	int files[] = {C};
	struct policy_decision d;
	policy_decide(p, files, 1, &d);
	ck_assert_int_eq(d.action, POLICY_RESUME);
	ck_assert_int_eq(d.ckpt, 2);
	files[0] = B;
	policy_decide(p, files, 1, &d);
	ck_assert_int_eq(d.ckpt, 1);
	int dropped[4];
	ck_assert_int_eq(policy_rollback(p, d.seq, dropped, 4), 1);
	ck_assert_int_eq(policy_first_read(p, B), 0); /* looked at after the checkpoint */
	ck_assert_int_eq(policy_first_read(p, C), 0);
	policy_free(p);
}
END_TEST

Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("resume rule");
	tcase_add_test(tc, test_change_resumes_from_the_checkpoint_before_its_first_read);
	tcase_add_test(tc, test_two_files_resume_from_the_earlier_one);
	tcase_add_test(tc, test_spaced_checkpoints_resume_from_the_latest_before);
	tcase_add_test(tc, test_no_checkpoint_before_the_read_restarts);
	tcase_add_test(tc, test_file_not_read_in_this_lineage_needs_nothing);
	tcase_add_test(tc, test_repeated_reads_keep_the_first);
	tcase_add_test(tc, test_a_look_counts_until_the_file_is_read);
	suite_add_tcase(s, tc);
	return s;
}

