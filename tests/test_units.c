/* tests/test_units.c — path normalisation, the resume rule, save completion (fake clock). */
#include "suites.h"

#include "debounce.h"
#include "path.h"
#include "policy.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- paths ---- */

/* A template for mkdtemp under TMPDIR (the runner's temporary root). */
static char *tmp_template(char *buf, size_t len)
{
	const char *t = getenv("TMPDIR");
	snprintf(buf, len, "%s/forkmon-path-XXXXXX", t && *t ? t : "/tmp");
	return buf;
}

static void join_is(const char *base, const char *rel, const char *want)
{
	char out[PATH_MAX];
	ck_assert_int_ge(path_join(base, rel, out, sizeof out), 1);
	ck_assert_str_eq(out, want);
}

START_TEST(test_relative_path_joins_the_cwd)
{
	join_is("/home/u/proj", "foo.lua", "/home/u/proj/foo.lua");
	join_is("/home/u/proj", "./lib/foo.lua", "/home/u/proj/lib/foo.lua");
	join_is("/", "foo.lua", "/foo.lua");
}
END_TEST

START_TEST(test_absolute_path_ignores_the_base)
{
	join_is("/elsewhere", "/a/b.lua", "/a/b.lua");
	join_is(NULL, "/a/b.lua", "/a/b.lua");
}
END_TEST

START_TEST(test_dot_dot_and_double_slashes_collapse)
{
	join_is("/a/b", "../c/./d.lua", "/a/c/d.lua");
	join_is("/a/b", "../../../../x.lua", "/x.lua");
	join_is("/a//b/", ".//c//d.lua", "/a/b/c/d.lua");
	join_is("/", "..", "/");
}
END_TEST

START_TEST(test_dirfd_base_is_used_like_cwd)
{
	/* openat(dirfd, rel): the hook reads dirfd's path from /proc/self/fd */
	char tmpl[PATH_MAX];
	ck_assert_ptr_nonnull(mkdtemp(tmp_template(tmpl, sizeof tmpl)));
	int d = open(tmpl, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(d, 0);
	char link[64], base[PATH_MAX], out[PATH_MAX], want[PATH_MAX];
	snprintf(link, sizeof link, "/proc/self/fd/%d", d);
	ssize_t n = readlink(link, base, sizeof base - 1);
	ck_assert_int_gt(n, 0);
	base[n] = '\0';
	ck_assert_int_gt(path_join(base, "sub/../m.lua", out, sizeof out), 0);
	snprintf(want, sizeof want, "%s/m.lua", tmpl);
	ck_assert_str_eq(out, want);
	close(d);
	rmdir(tmpl);
}
END_TEST

START_TEST(test_symlinked_dir_is_kept_lexically)
{
	/* The filter sees the name the program used; the monitor resolves links to watch. */
	char tmpl[PATH_MAX], real[PATH_MAX], link[PATH_MAX], out[PATH_MAX];
	ck_assert_ptr_nonnull(mkdtemp(tmp_template(tmpl, sizeof tmpl)));
	snprintf(real, sizeof real, "%s/real", tmpl);
	snprintf(link, sizeof link, "%s/link", tmpl);
	ck_assert_int_eq(mkdir(real, 0700), 0);
	ck_assert_int_eq(symlink(real, link), 0);
	ck_assert_int_gt(path_join(link, "x.lua", out, sizeof out), 0);
	ck_assert_str_eq(out + strlen(tmpl), "/link/x.lua");
	char resolved[PATH_MAX];
	ck_assert_int_eq(close(open(real, O_RDONLY)), 0);
	snprintf(resolved, sizeof resolved, "%s/x.lua", real);
	int fd = open(resolved, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	char rp[PATH_MAX];
	ck_assert_ptr_nonnull(realpath(out, rp));
	ck_assert_str_eq(rp + strlen(rp) - strlen("/real/x.lua"), "/real/x.lua");
	unlink(resolved);
	unlink(link);
	rmdir(real);
	rmdir(tmpl);
}
END_TEST

START_TEST(test_too_long_path_is_refused)
{
	char out[16];
	ck_assert_int_eq(path_join("/aaaaaaaa", "bbbbbbbbbbbb", out, sizeof out), -1);
	ck_assert_int_eq(path_join("relative", "x", out, sizeof out), -1);
}
END_TEST

START_TEST(test_dirlike_names_are_never_files)
{
	ck_assert(path_is_dirlike("a/"));
	ck_assert(path_is_dirlike("a/."));
	ck_assert(path_is_dirlike(".."));
	ck_assert(path_is_dirlike(""));
	ck_assert(!path_is_dirlike("a/b.lua"));
	ck_assert(!path_is_dirlike(".hidden"));
	ck_assert_str_eq(path_last("/a/b.lua"), "b.lua");
}
END_TEST

Suite *path_suite(void)
{
	Suite *s = suite_create("path");
	TCase *tc = tcase_create("join");
	tcase_add_test(tc, test_relative_path_joins_the_cwd);
	tcase_add_test(tc, test_absolute_path_ignores_the_base);
	tcase_add_test(tc, test_dot_dot_and_double_slashes_collapse);
	tcase_add_test(tc, test_dirfd_base_is_used_like_cwd);
	tcase_add_test(tc, test_symlinked_dir_is_kept_lexically);
	tcase_add_test(tc, test_too_long_path_is_refused);
	tcase_add_test(tc, test_dirlike_names_are_never_files);
	suite_add_tcase(s, tc);
	return s;
}

/* ---- the resume rule ---- */

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
	suite_add_tcase(s, tc);
	return s;
}

/* ---- save completion, on a fake clock ---- */

#define MS 1000000ll
static const struct debounce_cfg cfg = {.quiet_ns = 5 * MS, .empty_grace_ns = 400 * MS, .stale_ns = 1000 * MS};

static int poll_at(struct debounce *d, int64_t t, int *files)
{
	return debounce_poll(d, t, files, 16);
}

START_TEST(test_in_place_save_fires_once_after_the_quiet_window)
{
	struct debounce *d = debounce_new(&cfg);
	int f[16];
	debounce_event(d, 3, DEB_WRITING, 0, 100 * MS);
	debounce_event(d, 3, DEB_WRITING, 0, 101 * MS);
	ck_assert_int_eq(poll_at(d, 200 * MS, f), 0); /* never closed yet: still writing */
	debounce_event(d, 3, DEB_DONE, 0, 102 * MS);
	ck_assert_int_eq(debounce_deadline(d), 107 * MS);
	ck_assert_int_eq(poll_at(d, 106 * MS, f), 0);
	ck_assert_int_eq(poll_at(d, 107 * MS, f), 1);
	ck_assert_int_eq(f[0], 3);
	ck_assert_int_eq(poll_at(d, 500 * MS, f), 0); /* exactly once */
	ck_assert_int_eq(debounce_deadline(d), -1);
	debounce_free(d);
}
END_TEST

START_TEST(test_rename_over_counts_as_done)
{
	struct debounce *d = debounce_new(&cfg);
	int f[16];
	debounce_event(d, 1, DEB_DONE, 0, 10 * MS); /* MOVED_TO */
	ck_assert_int_eq(poll_at(d, 15 * MS, f), 1);
	debounce_free(d);
}
END_TEST

START_TEST(test_two_files_saved_together_fire_together)
{
	struct debounce *d = debounce_new(&cfg);
	int f[16];
	debounce_event(d, 1, DEB_DONE, 0, 10 * MS);
	debounce_event(d, 2, DEB_WRITING, 0, 12 * MS);
	ck_assert_int_eq(poll_at(d, 16 * MS, f), 0); /* the second is mid-write */
	debounce_event(d, 2, DEB_DONE, 0, 13 * MS);
	ck_assert_int_eq(poll_at(d, 18 * MS, f), 2);
	debounce_free(d);
}
END_TEST

START_TEST(test_deleted_file_waits_for_its_return)
{
	struct debounce *d = debounce_new(&cfg);
	int f[16];
	debounce_event(d, 1, DEB_GONE, 0, 10 * MS);
	ck_assert_int_eq(debounce_deadline(d), -1);
	ck_assert_int_eq(poll_at(d, 5000 * MS, f), 0);
	debounce_event(d, 1, DEB_WRITING, 0, 1010 * MS); /* created again */
	debounce_event(d, 1, DEB_DONE, 0, 1011 * MS);
	ck_assert_int_eq(poll_at(d, 1016 * MS, f), 1);
	debounce_free(d);
}
END_TEST

START_TEST(test_truncate_then_write_later_fires_once_with_content)
{
	struct debounce *d = debounce_new(&cfg);
	int f[16];
	debounce_event(d, 1, DEB_DONE, 1, 10 * MS); /* closed empty */
	ck_assert_int_eq(poll_at(d, 100 * MS, f), 0);
	debounce_event(d, 1, DEB_WRITING, 0, 160 * MS);
	debounce_event(d, 1, DEB_DONE, 0, 160 * MS);
	ck_assert_int_eq(poll_at(d, 165 * MS, f), 1);
	ck_assert_int_eq(poll_at(d, 900 * MS, f), 0);
	debounce_free(d);
}
END_TEST

START_TEST(test_emptied_file_fires_after_the_grace)
{
	struct debounce *d = debounce_new(&cfg);
	int f[16];
	debounce_event(d, 1, DEB_DONE, 1, 10 * MS);
	ck_assert_int_eq(debounce_deadline(d), 410 * MS);
	ck_assert_int_eq(poll_at(d, 410 * MS, f), 1);
	debounce_free(d);
}
END_TEST

START_TEST(test_writer_that_never_closes_fires_when_stale)
{
	struct debounce *d = debounce_new(&cfg);
	int f[16];
	debounce_event(d, 1, DEB_WRITING, 0, 10 * MS);
	ck_assert_int_eq(poll_at(d, 900 * MS, f), 0);
	ck_assert_int_eq(poll_at(d, 1010 * MS, f), 1);
	debounce_free(d);
}
END_TEST

START_TEST(test_edits_apart_fire_separately)
{
	struct debounce *d = debounce_new(&cfg);
	int f[16];
	debounce_event(d, 1, DEB_DONE, 0, 10 * MS);
	ck_assert_int_eq(poll_at(d, 15 * MS, f), 1);
	debounce_event(d, 1, DEB_DONE, 0, 130 * MS);
	ck_assert_int_eq(poll_at(d, 135 * MS, f), 1);
	ck_assert_int_eq(debounce_pending(d), 0);
	debounce_free(d);
}
END_TEST

Suite *debounce_suite(void)
{
	Suite *s = suite_create("debounce");
	TCase *tc = tcase_create("fake clock");
	tcase_add_test(tc, test_in_place_save_fires_once_after_the_quiet_window);
	tcase_add_test(tc, test_rename_over_counts_as_done);
	tcase_add_test(tc, test_two_files_saved_together_fire_together);
	tcase_add_test(tc, test_deleted_file_waits_for_its_return);
	tcase_add_test(tc, test_truncate_then_write_later_fires_once_with_content);
	tcase_add_test(tc, test_emptied_file_fires_after_the_grace);
	tcase_add_test(tc, test_writer_that_never_closes_fires_when_stale);
	tcase_add_test(tc, test_edits_apart_fire_separately);
	suite_add_tcase(s, tc);
	return s;
}
