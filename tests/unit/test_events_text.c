/*
 * tests/unit/test_events_text.c — monitor/events.c: text fields of the events file keep
 * every byte. Names that are UTF-8 are written as they are (no _hex); any other bytes
 * come back exactly through the JSON line, parsed again by jansson; what counts as
 * UTF-8 is what jansson itself accepts. Unit suite (pure: no file, no process).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "suites.h"

/* One event with o[key] = s, written as a line and parsed back. */
static json_t *round_trip(const char *key, const char *s, size_t n)
{
	json_t *f = json_object(), *back;
	size_t len;
	char *line;
	json_error_t e;

	ck_assert_int_eq(events_set_text(f, key, s, n), 0);
	line = events_line("watch", 1.5, f, &len);
	ck_assert_ptr_nonnull(line);
	ck_assert_int_eq(line[len - 1], '\n');
	ck_assert_uint_eq(strlen(line), len);
	for (size_t i = 0; i < len; i++)
		ck_assert_msg((unsigned char)line[i] < 0x80, "not ASCII: %s", line);
	back = json_loadb(line, len, 0, &e);
	ck_assert_msg(back != NULL, "%s: %s", line, e.text);
	free(line);
	return back;
}

static void assert_exact(const char *s, size_t n, int want_hex)
{
	json_t *o = round_trip("path", s, n);
	size_t got_n = 0;
	char *got = events_get_text(o, "path", -1, &got_n);

	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(got_n, n);
	ck_assert_msg(memcmp(got, s, n) == 0, "bytes changed");
	ck_assert_int_eq(json_object_get(o, "path_hex") != NULL, want_hex);
	ck_assert_ptr_nonnull(json_object_get(o, "event"));
	ck_assert_ptr_nonnull(json_object_get(o, "time"));
	free(got);
	json_decref(o);
}

START_TEST(test_utf8_names_are_written_as_they_are)
{
	static const char *const names[] = {
		"/home/me/app/greeting.lua", "/tmp/caf\xc3\xa9.txt", "/tmp/\xe2\x82\xac \xf0\x9f\x98\x80",
		"/tmp/with \\ backslash \"quote\"\n\t", "/tmp/\xef\xbf\xbd already a replacement", "",
	};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		assert_exact(names[i], strlen(names[i]), 0);
}
END_TEST

START_TEST(test_other_bytes_come_back_exactly_with_hex)
{
	static const char *const names[] = {
		"/tmp/caf\xe9.txt",	/* Latin-1 */
		"/tmp/\xe2\x82",	/* cut short */
		"/tmp/\xc0\xaf",	/* overlong '/' */
		"/tmp/\xed\xa0\x80",	/* a surrogate */
		"/tmp/\xf4\x90\x80\x80",	/* past U+10FFFF */
		"/tmp/\x80\xbf\xfe\xff",	/* stray continuation bytes, never-valid bytes */
	};
	json_t *o;

	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		assert_exact(names[i], strlen(names[i]), 1);
	assert_exact("a\0b", 3, 1); /* a NUL too */
	/* the readable field: one U+FFFD per stray byte, the rest as it was */
	o = round_trip("path", "/x/caf\xe9\xe9.txt", 12);
	ck_assert_str_eq(json_string_value(json_object_get(o, "path")), "/x/caf\xef\xbf\xbd\xef\xbf\xbd.txt");
	ck_assert_str_eq(json_string_value(json_object_get(o, "path_hex")), "2f782f636166e9e92e747874");
	json_decref(o);
}
END_TEST

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (unsigned)((rng * 2685821657736338717ULL) >> 33) % n;
}

/* Random bytes, biased to UTF-8's edges: the verdict is jansson's, the bytes come back. */
START_TEST(test_random_bytes_round_trip_and_utf8_is_what_jansson_accepts)
{
	static const unsigned char edges[] = { 0x00, 0x2f, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf,
					       0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90 };
	char s[24];
	int valid = 0;

	for (int k = 0; k < 20000; k++) {
		size_t n = rnd(sizeof s);

		for (size_t i = 0; i < n; i++)
			s[i] = (char)(rnd(2) ? edges[rnd(sizeof edges)] : rnd(256));
		json_t *j = json_stringn(s, n);
		int ok = events_utf8_ok(s, n);

		ck_assert_int_eq(ok, j != NULL && memchr(s, 0, n) == NULL);
		json_decref(j);
		valid += ok;
		assert_exact(s, n, !ok);
	}
	ck_assert_int_gt(valid, 1000);
}
END_TEST

START_TEST(test_lists_keep_every_item)
{
	const char *const items[] = { "cat", "caf\xe9.txt", "" };
	json_t *f = json_object(), *o;
	size_t len, n;
	char *line, *got;

	ck_assert_int_eq(events_set_texts(f, "command", items, 3), 0);
	line = events_line("start", 0, f, &len);
	o = json_loads(line, 0, NULL);
	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(json_array_size(json_object_get(o, "command")), 3);
	ck_assert_uint_eq(json_array_size(json_object_get(o, "command_hex")), 3);
	for (int i = 0; i < 3; i++) {
		got = events_get_text(o, "command", i, &n);
		ck_assert_ptr_nonnull(got);
		ck_assert_str_eq(got, items[i]);
		free(got);
	}
	ck_assert_ptr_null(events_get_text(o, "command", 3, &n));
	free(line);
	json_decref(o);
	/* all UTF-8: no _hex list */
	f = json_object();
	ck_assert_int_eq(events_set_texts(f, "paths", items, 1), 0);
	ck_assert_ptr_null(json_object_get(f, "paths_hex"));
	json_decref(f);
}
END_TEST

Suite *events_text_suite(void)
{
	Suite *s = suite_create("events_text");
	TCase *tc = tcase_create("escape");

	tcase_add_test(tc, test_utf8_names_are_written_as_they_are);
	tcase_add_test(tc, test_other_bytes_come_back_exactly_with_hex);
	tcase_add_test(tc, test_random_bytes_round_trip_and_utf8_is_what_jansson_accepts);
	tcase_add_test(tc, test_lists_keep_every_item);
	suite_add_tcase(s, tc);
	return s;
}
