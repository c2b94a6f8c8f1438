/*
 * tests/unit/test_cache.c — the hook's per-path answer cache (hook/cache.c): Check suite
 * "cache", in the unit suite of the one runner.
 *
 * The runner links forkmon's objects, not the hook's, so the cache's one file is compiled
 * in here with a state of its own (hk: the cache's counters and bits live there).
 */
#include "cache.c"

#include "suites.h"

#include <stdio.h>

struct hook_state hk;

static void cache_reset(void)
{
	memset(&hk, 0, sizeof hk);
	memset(entries, 0, sizeof entries);
	memset(slots, 0, sizeof slots);
	memset(&cache_absent, 0, sizeof cache_absent);
}

static struct cache_slot *find(const char *p)
{
	return cache_find(p, strlen(p), cache_hash(p, strlen(p)));
}

static void put(const char *p, int verdict)
{
	cache_put(find(p), p, strlen(p), cache_hash(p, strlen(p)), verdict);
}

START_TEST(test_a_path_put_is_found_with_its_verdict_and_others_are_not)
{
	cache_reset();
	ck_assert_int_eq(find("/p/a.lua")->used, 0);
	put("/p/a.lua", FM_WATCHED);
	put("/p/b.lua", FM_IGNORED);
	ck_assert_int_eq(find("/p/a.lua")->used, 1);
	ck_assert_int_eq(find("/p/a.lua")->verdict, FM_WATCHED);
	ck_assert_int_eq(find("/p/b.lua")->verdict, FM_IGNORED);
	ck_assert_int_eq(find("/p/c.lua")->used, 0);
	ck_assert_int_eq(find("/p/a.lu")->used, 0); /* a prefix is another path */
	/* a second answer for the same path replaces the first, in the same entry */
	struct cache_slot *s = find("/p/a.lua");
	put("/p/a.lua", FM_IGNORED);
	ck_assert_ptr_eq(find("/p/a.lua"), s);
	ck_assert_int_eq(s->verdict, FM_IGNORED);
	ck_assert_uint_eq(hk.cache_used, 2);
	/* what a miss returns was never written */
	ck_assert_int_eq(cache_absent.used, 0);
	ck_assert_int_eq(cache_absent.verdict, 0);
}
END_TEST

/* Paths of the same hash (the hash is the caller's: here one for all) are told apart by
 * their bytes, along the probe. */
START_TEST(test_paths_of_one_hash_are_told_apart)
{
	cache_reset();
	const uint64_t h = 0x123456789abcdef1ull;
	char p[32];
	for (int i = 0; i < 50; i++) {
		snprintf(p, sizeof p, "/same/%d", i);
		cache_put(cache_find(p, strlen(p), h), p, strlen(p), h, i % 2 ? FM_WATCHED : FM_IGNORED);
	}
	for (int i = 0; i < 50; i++) {
		snprintf(p, sizeof p, "/same/%d", i);
		struct cache_slot *s = cache_find(p, strlen(p), h);
		ck_assert_int_eq(s->used, 1);
		ck_assert_int_eq(s->verdict, i % 2 ? FM_WATCHED : FM_IGNORED);
	}
	ck_assert_int_eq(cache_find("/same/50", 8, h)->used, 0);
}
END_TEST

/* Entries are filled in the order paths come: the first hundreds of a run share a few
 * pages, instead of a page each at random (a page fault each, twice: read, then write). */
START_TEST(test_new_paths_take_entries_side_by_side)
{
	cache_reset();
	char p[64];
	for (int i = 0; i < 300; i++) {
		snprintf(p, sizeof p, "/home/u/project/m%d.lua", i);
		put(p, FM_WATCHED);
	}
	const char *lo = NULL, *hi = NULL;
	for (int i = 0; i < 300; i++) {
		snprintf(p, sizeof p, "/home/u/project/m%d.lua", i);
		const char *e = (const char *)find(p);
		ck_assert_int_eq(((const struct cache_slot *)e)->used, 1);
		lo = !lo || e < lo ? e : lo;
		hi = !hi || e > hi ? e : hi;
	}
	ck_assert_uint_eq((size_t)(hi - lo), 299 * sizeof(struct cache_slot));
}
END_TEST

/* Full, the cache stops remembering (the monitor is asked again): what it holds stays. */
START_TEST(test_a_full_cache_keeps_what_it_holds_and_takes_no_more)
{
	cache_reset();
	char p[64];
	for (int i = 0; i < CACHE_ENTRIES + 100; i++) {
		snprintf(p, sizeof p, "/f/%d", i);
		put(p, FM_WATCHED);
	}
	ck_assert_uint_eq(hk.cache_used, CACHE_ENTRIES);
	for (int i = 0; i < CACHE_ENTRIES + 100; i++) {
		snprintf(p, sizeof p, "/f/%d", i);
		ck_assert_int_eq(find(p)->used, i < CACHE_ENTRIES);
	}
	/* an answer for a path it holds is still taken */
	put("/f/7", FM_IGNORED);
	ck_assert_int_eq(find("/f/7")->verdict, FM_IGNORED);
}
END_TEST

/* HELLO_OK's hot names (forkmon_proto.h): a name set is always in, and of Lua's other
 * tries after m1.lua and m1000.lua changed, next to none are: every one let through
 * costs the program the long way before its open. One bit a name let init.lua (three
 * tries a module) and 7 of the 998 other module names through. */
START_TEST(test_hot_names_let_few_other_names_through)
{
	uint64_t bits[4] = {0};
	fm_name_set(bits, "m1.lua", 6);
	fm_name_set(bits, "m1000.lua", 9);
	ck_assert(fm_name_in(bits, "m1.lua", 6));
	ck_assert(fm_name_in(bits, "m1000.lua", 9));
	ck_assert(!fm_name_in(bits, "init.lua", 8));
	ck_assert(!fm_name_in(bits, "__init__.py", 11));
	int through = 0;
	char b[32];
	for (int i = 2; i < 1000; i++) {
		int n = snprintf(b, sizeof b, "m%d.lua", i);
		through += fm_name_in(bits, b, (unsigned long)n);
	}
	ck_assert_msg(through <= 2, "%d of 998 other names taken for hot ones", through);
}
END_TEST

Suite *cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("cache");
	tcase_add_test(tc, test_a_path_put_is_found_with_its_verdict_and_others_are_not);
	tcase_add_test(tc, test_paths_of_one_hash_are_told_apart);
	tcase_add_test(tc, test_new_paths_take_entries_side_by_side);
	tcase_add_test(tc, test_a_full_cache_keeps_what_it_holds_and_takes_no_more);
	tcase_add_test(tc, test_hot_names_let_few_other_names_through);
	suite_add_tcase(s, tc);
	return s;
}
