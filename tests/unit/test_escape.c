/*
 * tests/unit/test_escape.c — the escaping of status and error lines (escape_line of
 * common/escape.c, used by monitor/out.c and forkmon-client): Check suite "escape", in
 * the unit suite of the one runner. A file name may hold any byte but '/' and NUL; the
 * line that names it must stay one line that says what the name is.
 */
#include "escape.h"
#include "suites.h"

#include <check.h>
#include <string.h>

/* in (n bytes) escaped with room to spare */
static const char *esc(const char *in, size_t n)
{
	static char out[1024];
	size_t k = escape_line(in, n, out, sizeof out);
	ck_assert_uint_eq(k, strlen(out));
	return out;
}
#define ESC(lit) esc(lit, sizeof lit - 1)

START_TEST(test_plain_ascii_and_valid_utf8_stay_readable)
{
	ck_assert_str_eq(ESC("/home/u/app/main.lua"), "/home/u/app/main.lua");
	ck_assert_str_eq(ESC("/tmp/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.py"), "/tmp/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.py");
	ck_assert_str_eq(ESC("emoji \xf0\x9f\x98\x80 and \xc2\xa0nbsp"), "emoji \xf0\x9f\x98\x80 and \xc2\xa0nbsp");
	ck_assert_str_eq(ESC("quote ' and % stay"), "quote ' and % stay");
}
END_TEST

START_TEST(test_a_newline_cannot_forge_a_second_line)
{
	const char *s = ESC("a\n[forkmon] file 'x' changed, restarting");
	ck_assert_ptr_null(strchr(s, '\n'));
	ck_assert_str_eq(s, "a\\n[forkmon] file 'x' changed, restarting");
	ck_assert_str_eq(ESC("tab\there\rcr"), "tab\\there\\rcr");
}
END_TEST

START_TEST(test_backslash_is_escaped_so_the_escapes_are_unambiguous)
{
	ck_assert_str_eq(ESC("a\\nb"), "a\\\\nb");
	ck_assert_str_eq(ESC("\\"), "\\\\");
}
END_TEST

START_TEST(test_other_control_bytes_and_terminal_escapes_become_hex)
{
	ck_assert_str_eq(ESC("\x1b[2Jclear"), "\\x1b[2Jclear");
	ck_assert_str_eq(ESC("bell\x07 del\x7f"), "bell\\x07 del\\x7f");
	ck_assert_str_eq(esc("nul\0in", 6), "nul\\x00in");
	/* C1 controls, well-formed UTF-8 but obeyed by some terminals (U+009B is CSI) */
	ck_assert_str_eq(ESC("\xc2\x9b" "31m"), "\\xc2\\x9b31m");
}
END_TEST

START_TEST(test_bytes_that_are_not_utf8_become_hex)
{
	ck_assert_str_eq(ESC("bad\xff.lua"), "bad\\xff.lua");
	ck_assert_str_eq(ESC("latin1 caf\xe9.txt"), "latin1 caf\\xe9.txt");
	ck_assert_str_eq(ESC("cut \xe6\x97"), "cut \\xe6\\x97");                 /* truncated */
	ck_assert_str_eq(ESC("overlong \xc0\xaf"), "overlong \\xc0\\xaf");       /* '/' in 2 bytes */
	ck_assert_str_eq(ESC("overlong \xe0\x80\xaf"), "overlong \\xe0\\x80\\xaf");
	ck_assert_str_eq(ESC("surrogate \xed\xa0\x80"), "surrogate \\xed\\xa0\\x80");
	ck_assert_str_eq(ESC("too big \xf4\x90\x80\x80"), "too big \\xf4\\x90\\x80\\x80");
	ck_assert_str_eq(ESC("lone \x80 cont"), "lone \\x80 cont");
}
END_TEST

START_TEST(test_a_small_buffer_never_gets_half_an_escape_or_character)
{
	char out[8];
	ck_assert_uint_eq(escape_line("abc\ndef", 7, out, sizeof out), 7); /* "abc\\nde" */
	ck_assert_str_eq(out, "abc\\nde");
	ck_assert_uint_eq(escape_line("abcde\xff", 6, out, sizeof out), 5); /* \xff needs 4 */
	ck_assert_str_eq(out, "abcde");
	ck_assert_uint_eq(escape_line("abcde\xc3\xa9", 7, out, sizeof out), 7);
	ck_assert_str_eq(out, "abcde\xc3\xa9");
	ck_assert_uint_eq(escape_line("abcdef\xc3\xa9", 8, out, sizeof out), 6);
	ck_assert_str_eq(out, "abcdef");
	ck_assert_uint_eq(escape_line("x", 1, out, 1), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

Suite *escape_suite(void)
{
	Suite *s = suite_create("escape");
	TCase *tc = tcase_create("escape_line");
	tcase_add_test(tc, test_plain_ascii_and_valid_utf8_stay_readable);
	tcase_add_test(tc, test_a_newline_cannot_forge_a_second_line);
	tcase_add_test(tc, test_backslash_is_escaped_so_the_escapes_are_unambiguous);
	tcase_add_test(tc, test_other_control_bytes_and_terminal_escapes_become_hex);
	tcase_add_test(tc, test_bytes_that_are_not_utf8_become_hex);
	tcase_add_test(tc, test_a_small_buffer_never_gets_half_an_escape_or_character);
	suite_add_tcase(s, tc);
	return s;
}
