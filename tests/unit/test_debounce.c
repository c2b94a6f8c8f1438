/* tests/unit/test_debounce.c — watcher/debounce.c on a fake clock: when a save is
 * complete (quiet window, renames, deletions, emptied files, stale writers). Unit suite. */
#include "suites.h"

#include "debounce.h"

#include <stdio.h>
#include <stdlib.h>

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

/* A checkout rewrites hundreds of files at once: one set, every file of it. */
START_TEST(test_a_set_of_150_files_fires_once_with_every_file)
{
	struct debounce *d = debounce_new(&cfg);
	int f[200], seen[150] = {0};
	for (int i = 0; i < 150; i++) {
		debounce_event(d, i, DEB_GONE, 0, 10 * MS); /* unlink, then create anew */
		debounce_event(d, i, DEB_WRITING, 0, 10 * MS + i * 10000);
		debounce_event(d, i, DEB_DONE, 0, 10 * MS + i * 10000);
	}
	ck_assert_int_eq(debounce_pending(d), 150);
	ck_assert_int_eq(debounce_poll(d, 14 * MS, f, 200), 0); /* the quiet window */
	ck_assert_int_eq(debounce_poll(d, 20 * MS, f, 200), 150);
	for (int k = 0; k < 150; k++) {
		ck_assert(f[k] >= 0 && f[k] < 150);
		ck_assert_int_eq(seen[f[k]]++, 0);
	}
	ck_assert_int_eq(debounce_pending(d), 0);
	ck_assert_int_eq(debounce_deadline(d), -1);
	debounce_free(d);
}
END_TEST

/* Less room than the set: nothing is forgotten, the rest comes at the same time. */
START_TEST(test_a_set_larger_than_the_room_keeps_the_rest)
{
	struct debounce *d = debounce_new(&cfg);
	int f[64], seen[100] = {0}, total = 0;
	for (int i = 0; i < 100; i++)
		debounce_event(d, i, DEB_DONE, 0, 10 * MS);
	debounce_event(d, 500, DEB_GONE, 0, 10 * MS); /* deleted: waits, never fires */
	for (int round = 0; round < 3; round++) {
		int n = debounce_poll(d, 15 * MS, f, 64);
		for (int k = 0; k < n; k++)
			ck_assert_int_eq(seen[f[k]]++, 0);
		total += n;
	}
	ck_assert_int_eq(total, 100);
	ck_assert_int_eq(debounce_pending(d), 1);
	ck_assert_int_eq(debounce_deadline(d), -1);
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
	tcase_add_test(tc, test_a_set_of_150_files_fires_once_with_every_file);
	tcase_add_test(tc, test_a_set_larger_than_the_room_keeps_the_rest);
	suite_add_tcase(s, tc);
	return s;
}
