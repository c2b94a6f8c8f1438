/* tests/unit/test_debounce.c — watcher/debounce.c on a fake clock: when a save is
 * complete (quiet window, renames, deletions and the saves that begin with one, emptied
 * files, stale writers), with a fixed window (`-d 5`) and with the adaptive one (the
 * default: 0 until a writer of several files is seen). Unit suite. */
#include "suites.h"

#include "debounce.h"

#include <stdio.h>
#include <stdlib.h>

#define MS 1000000ll
static const struct debounce_cfg cfg = {
	.quiet_ns = 5 * MS, .empty_grace_ns = 400 * MS, .stale_ns = 1000 * MS, .gone_grace_ns = 300 * MS};

/* forkmon run without -d */
static const struct debounce_cfg acfg = {.empty_grace_ns = 400 * MS, .stale_ns = 1000 * MS, .gone_grace_ns = 300 * MS,
					 .adaptive = 1, .link_ns = 50 * MS};

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

/* A deletion is a change: once it is clear the file is not coming back. */
START_TEST(test_deleted_file_fires_after_the_gone_grace)
{
	struct debounce *d = debounce_new(&cfg);
	int f[16];
	debounce_event(d, 1, DEB_GONE, 0, 10 * MS);
	ck_assert_int_eq(debounce_deadline(d), 310 * MS);
	ck_assert_int_eq(poll_at(d, 309 * MS, f), 0);
	ck_assert_int_eq(poll_at(d, 310 * MS, f), 1);
	ck_assert_int_eq(f[0], 1);
	ck_assert_int_eq(poll_at(d, 5000 * MS, f), 0); /* once */
	/* Its return, later, is a change of its own. */
	debounce_event(d, 1, DEB_WRITING, 0, 1010 * MS);
	debounce_event(d, 1, DEB_DONE, 0, 1011 * MS);
	ck_assert_int_eq(poll_at(d, 1016 * MS, f), 1);
	debounce_free(d);
}
END_TEST

/* An editor deletes (or renames away) and writes anew: ONE change, of the new content,
 * as soon as the write is done; never a deletion first. */
START_TEST(test_delete_then_recreate_is_one_change_of_the_new_content)
{
	struct debounce *d = debounce_new(&cfg);
	int f[16];
	debounce_event(d, 1, DEB_GONE, 0, 10 * MS);     /* rename to the backup, or unlink */
	ck_assert_int_eq(poll_at(d, 12 * MS, f), 0);
	debounce_event(d, 1, DEB_WRITING, 0, 40 * MS);  /* created */
	ck_assert_int_eq(poll_at(d, 100 * MS, f), 0);   /* mid-write */
	debounce_event(d, 1, DEB_DONE, 0, 41 * MS);     /* closed */
	ck_assert_int_eq(debounce_deadline(d), 46 * MS); /* the quiet window, no longer the grace */
	ck_assert_int_eq(poll_at(d, 46 * MS, f), 1);
	ck_assert_int_eq(poll_at(d, 1000 * MS, f), 0);
	ck_assert_int_eq(debounce_pending(d), 0);
	debounce_free(d);
}
END_TEST

/* A checkout deletes some files and rewrites others: one set, once the deleted ones
 * are known to stay deleted. */
START_TEST(test_deleted_and_saved_files_fire_together)
{
	struct debounce *d = debounce_new(&cfg);
	int f[16];
	debounce_event(d, 1, DEB_GONE, 0, 10 * MS);
	debounce_event(d, 2, DEB_GONE, 0, 10 * MS);
	debounce_event(d, 3, DEB_WRITING, 0, 11 * MS);
	debounce_event(d, 3, DEB_DONE, 0, 11 * MS);
	ck_assert_int_eq(poll_at(d, 16 * MS, f), 0); /* not the saved one alone */
	ck_assert_int_eq(poll_at(d, 310 * MS, f), 3);
	debounce_free(d);
}
END_TEST

/* A file renamed over by a rename-based save (MOVED_TO) never looked gone at all. */
START_TEST(test_a_gone_file_renamed_back_into_place_is_done)
{
	struct debounce *d = debounce_new(&cfg);
	int f[16];
	debounce_event(d, 1, DEB_GONE, 0, 10 * MS);
	debounce_event(d, 1, DEB_DONE, 0, 20 * MS); /* MOVED_TO */
	ck_assert_int_eq(poll_at(d, 25 * MS, f), 1);
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
	for (int round = 0; round < 3; round++) {
		int n = debounce_poll(d, 15 * MS, f, 64);
		for (int k = 0; k < n; k++)
			ck_assert_int_eq(seen[f[k]]++, 0);
		total += n;
	}
	ck_assert_int_eq(total, 100);
	ck_assert_int_eq(debounce_pending(d), 0);
	ck_assert_int_eq(debounce_deadline(d), -1);
	debounce_free(d);
}
END_TEST

/* ---- the adaptive window ---- */

/* One file saved in place, nothing else in flight: complete at the close itself. */
START_TEST(test_adaptive_single_save_fires_at_once)
{
	struct debounce *d = debounce_new(&acfg);
	int f[16];
	ck_assert_int_eq(debounce_window(d), 0);
	debounce_event(d, 3, DEB_WRITING, 0, 100 * MS);
	ck_assert_int_eq(poll_at(d, 150 * MS, f), 0); /* still open for writing */
	debounce_event(d, 3, DEB_DONE, 0, 151 * MS);
	ck_assert_int_eq(debounce_deadline(d), 151 * MS);
	ck_assert_int_eq(poll_at(d, 151 * MS, f), 1);
	ck_assert_int_eq(f[0], 3);
	ck_assert_int_eq(poll_at(d, 500 * MS, f), 0);
	/* by rename: the MOVED_TO alone */
	debounce_event(d, 4, DEB_DONE, 0, 600 * MS);
	ck_assert_int_eq(poll_at(d, 600 * MS, f), 1);
	ck_assert_int_eq(f[0], 4);
	ck_assert_int_eq(debounce_window(d), 0);
	debounce_free(d);
}
END_TEST

/* Another file still being written holds the completed one back: one set, at once
 * when the last closes. */
START_TEST(test_adaptive_waits_for_a_write_in_flight)
{
	struct debounce *d = debounce_new(&acfg);
	int f[16];
	debounce_event(d, 2, DEB_WRITING, 0, 10 * MS);
	debounce_event(d, 1, DEB_WRITING, 0, 11 * MS);
	debounce_event(d, 1, DEB_DONE, 0, 11 * MS);
	ck_assert_int_eq(poll_at(d, 11 * MS, f), 0);
	ck_assert_int_eq(poll_at(d, 300 * MS, f), 0);
	debounce_event(d, 2, DEB_DONE, 0, 301 * MS);
	ck_assert_int_eq(poll_at(d, 301 * MS, f), 2);
	debounce_free(d);
}
END_TEST

/* A writer of two files 3 ms apart: the first time, the first file fires alone (nothing
 * said a second was coming); from then on the window holds both: ONE set with both. */
START_TEST(test_adaptive_learns_a_two_file_writer)
{
	struct debounce *d = debounce_new(&acfg);
	int f[16];
	debounce_event(d, 1, DEB_DONE, 0, 10 * MS);
	ck_assert_int_eq(poll_at(d, 10 * MS, f), 1);
	debounce_event(d, 2, DEB_DONE, 0, 13 * MS);
	ck_assert_int_eq(debounce_window(d), 7 * MS); /* twice the gap, and 1 ms */
	ck_assert_int_eq(poll_at(d, 19 * MS, f), 0);
	ck_assert_int_eq(poll_at(d, 20 * MS, f), 1);
	ck_assert_int_eq(f[0], 2);
	for (int k = 1; k <= 20; k++) {
		int64_t t = (10 + 200 * k) * MS;
		debounce_event(d, 1, DEB_WRITING, 0, t);
		debounce_event(d, 1, DEB_DONE, 0, t);
		ck_assert_int_eq(poll_at(d, t + 3 * MS - 1, f), 0);
		debounce_event(d, 2, DEB_WRITING, 0, t + 3 * MS);
		debounce_event(d, 2, DEB_DONE, 0, t + 3 * MS);
		ck_assert_int_eq(poll_at(d, t + 10 * MS - 1, f), 0);
		ck_assert_int_eq(poll_at(d, t + 10 * MS, f), 2);
		ck_assert_int_eq(poll_at(d, t + 100 * MS, f), 0);
	}
	ck_assert_int_eq(debounce_window(d), 7 * MS); /* it never decays meanwhile */
	debounce_free(d);
}
END_TEST

/* A gap wider than the window learnt so far widens it (the second file came after the
 * set fired), never past link. */
START_TEST(test_adaptive_window_grows_with_the_gaps_up_to_link)
{
	struct debounce *d = debounce_new(&acfg);
	int f[16];
	debounce_event(d, 1, DEB_DONE, 0, 10 * MS);
	debounce_event(d, 2, DEB_DONE, 0, 12 * MS);
	ck_assert_int_eq(debounce_window(d), 5 * MS);
	ck_assert_int_eq(poll_at(d, 17 * MS, f), 2);
	debounce_event(d, 1, DEB_DONE, 0, 200 * MS);
	debounce_event(d, 2, DEB_DONE, 0, 206 * MS); /* after the set of 1 fired at 205 */
	ck_assert_int_eq(debounce_window(d), 13 * MS);
	debounce_event(d, 1, DEB_DONE, 0, 400 * MS);
	debounce_event(d, 2, DEB_DONE, 0, 440 * MS);
	ck_assert_int_eq(debounce_window(d), 50 * MS);
	/* a smaller gap never narrows it */
	debounce_event(d, 1, DEB_DONE, 0, 600 * MS);
	debounce_event(d, 2, DEB_DONE, 0, 601 * MS);
	ck_assert_int_eq(debounce_window(d), 50 * MS);
	debounce_free(d);
}
END_TEST

/* A person's saves of two files, or of one file twice, are no multi-file writer. */
START_TEST(test_adaptive_saves_apart_or_of_one_file_never_widen)
{
	struct debounce *d = debounce_new(&acfg);
	int f[16];
	debounce_event(d, 1, DEB_DONE, 0, 10 * MS);
	ck_assert_int_eq(poll_at(d, 10 * MS, f), 1);
	debounce_event(d, 2, DEB_DONE, 0, 61 * MS); /* past link */
	ck_assert_int_eq(poll_at(d, 61 * MS, f), 1);
	debounce_event(d, 2, DEB_DONE, 0, 62 * MS); /* the same file again */
	ck_assert_int_eq(poll_at(d, 62 * MS, f), 1);
	debounce_event(d, 2, DEB_DONE, 1, 200 * MS); /* emptied: a truncate, no save yet */
	debounce_event(d, 1, DEB_DONE, 0, 202 * MS);
	ck_assert_int_eq(debounce_window(d), 0);
	debounce_free(d);
}
END_TEST

/* Single-file saves after a multi-file writer: every DEB_DECAY_GROUPS of them halve the
 * window, down to 0. */
START_TEST(test_adaptive_window_decays_after_single_saves)
{
	struct debounce *d = debounce_new(&acfg);
	int f[16];
	debounce_event(d, 1, DEB_DONE, 0, 10 * MS);
	debounce_event(d, 2, DEB_DONE, 0, 13 * MS);
	ck_assert_int_eq(poll_at(d, 20 * MS, f), 2);
	int64_t t = 20 * MS, w = 7 * MS;
	for (int round = 0; round < 6; round++) {
		for (int k = 0; k < DEB_DECAY_GROUPS; k++) {
			ck_assert_int_eq(debounce_window(d), w);
			t += 200 * MS;
			debounce_event(d, 1, DEB_DONE, 0, t);
			if (k < DEB_DECAY_GROUPS - 1) {
				ck_assert_int_eq(poll_at(d, t + w - 1, f), 0);
				ck_assert_int_eq(poll_at(d, t + w, f), 1);
			}
		}
		w = w / 2 < MS / 4 ? 0 : w / 2;
		ck_assert_int_eq(debounce_window(d), w);
		ck_assert_int_eq(poll_at(d, t + w, f), 1);
	}
	ck_assert_int_eq(debounce_window(d), 0);
	debounce_free(d);
}
END_TEST

/* Today's save styles, adaptive: truncate then write is one change of the content,
 * delete then create one change of the new file, each as soon as its write closes. */
START_TEST(test_adaptive_truncate_then_write_and_delete_then_create)
{
	struct debounce *d = debounce_new(&acfg);
	int f[16];
	debounce_event(d, 1, DEB_DONE, 1, 10 * MS); /* closed empty */
	ck_assert_int_eq(poll_at(d, 100 * MS, f), 0);
	debounce_event(d, 1, DEB_WRITING, 0, 160 * MS);
	debounce_event(d, 1, DEB_DONE, 0, 160 * MS);
	ck_assert_int_eq(poll_at(d, 160 * MS, f), 1);
	ck_assert_int_eq(poll_at(d, 900 * MS, f), 0);
	debounce_event(d, 1, DEB_DONE, 1, 1000 * MS); /* emptied for good */
	ck_assert_int_eq(poll_at(d, 1399 * MS, f), 0);
	ck_assert_int_eq(poll_at(d, 1400 * MS, f), 1);
	debounce_event(d, 2, DEB_GONE, 0, 2000 * MS); /* unlink, or rename to the backup */
	ck_assert_int_eq(poll_at(d, 2020 * MS, f), 0);
	debounce_event(d, 2, DEB_WRITING, 0, 2030 * MS);
	ck_assert_int_eq(poll_at(d, 2100 * MS, f), 0);
	debounce_event(d, 2, DEB_DONE, 0, 2101 * MS);
	ck_assert_int_eq(poll_at(d, 2101 * MS, f), 1);
	ck_assert_int_eq(poll_at(d, 5000 * MS, f), 0);
	debounce_event(d, 3, DEB_GONE, 0, 6000 * MS); /* deleted: after the grace */
	ck_assert_int_eq(poll_at(d, 6299 * MS, f), 0);
	ck_assert_int_eq(poll_at(d, 6300 * MS, f), 1);
	ck_assert_int_eq(debounce_pending(d), 0);
	debounce_free(d);
}
END_TEST

/* -d MS: today's fixed window, whatever writers are seen. */
START_TEST(test_fixed_window_never_learns)
{
	struct debounce *d = debounce_new(&cfg);
	int f[16];
	debounce_event(d, 1, DEB_DONE, 0, 10 * MS);
	debounce_event(d, 2, DEB_DONE, 0, 14 * MS);
	ck_assert_int_eq(debounce_window(d), 5 * MS);
	ck_assert_int_eq(poll_at(d, 18 * MS, f), 0);
	ck_assert_int_eq(poll_at(d, 19 * MS, f), 2);
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
	tcase_add_test(tc, test_deleted_file_fires_after_the_gone_grace);
	tcase_add_test(tc, test_delete_then_recreate_is_one_change_of_the_new_content);
	tcase_add_test(tc, test_deleted_and_saved_files_fire_together);
	tcase_add_test(tc, test_a_gone_file_renamed_back_into_place_is_done);
	tcase_add_test(tc, test_truncate_then_write_later_fires_once_with_content);
	tcase_add_test(tc, test_emptied_file_fires_after_the_grace);
	tcase_add_test(tc, test_writer_that_never_closes_fires_when_stale);
	tcase_add_test(tc, test_edits_apart_fire_separately);
	tcase_add_test(tc, test_a_set_of_150_files_fires_once_with_every_file);
	tcase_add_test(tc, test_a_set_larger_than_the_room_keeps_the_rest);
	tcase_add_test(tc, test_adaptive_single_save_fires_at_once);
	tcase_add_test(tc, test_adaptive_waits_for_a_write_in_flight);
	tcase_add_test(tc, test_adaptive_learns_a_two_file_writer);
	tcase_add_test(tc, test_adaptive_window_grows_with_the_gaps_up_to_link);
	tcase_add_test(tc, test_adaptive_saves_apart_or_of_one_file_never_widen);
	tcase_add_test(tc, test_adaptive_window_decays_after_single_saves);
	tcase_add_test(tc, test_adaptive_truncate_then_write_and_delete_then_create);
	tcase_add_test(tc, test_fixed_window_never_learns);
	suite_add_tcase(s, tc);
	return s;
}
