/* tests/unit/test_path.c — common/path.c, lexical path normalisation (joins, dot-dot,
 * dirfd bases, symlinked directories kept as written, limits). Unit suite. */
#include "suites.h"

#include "path.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Absolute names that look normal but are not, next to ones that are (the shortcut of
 * path_join for a normal name must not take the others). */
START_TEST(test_absolute_names_near_normal_are_normalised_alike)
{
	static const char *const cases[][2] = {
		{"/", "/"},           {"/a", "/a"},         {"/a/", "/a"},        {"/a//b", "/a/b"},
		{"/a/./b", "/a/b"},   {"/a/../b", "/b"},    {"/a/.b", "/a/.b"},   {"/a/..b", "/a/..b"},
		{"/a/b.", "/a/b."},   {"/.", "/"},          {"/..", "/"},         {"/a/.", "/a"},
		{"/a/..", "/"},       {"/...", "/..."},     {"//a", "/a"},        {"/a/b/c.lua", "/a/b/c.lua"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		join_is(NULL, cases[i][0], cases[i][1]);
	char out[8];
	ck_assert_int_lt(path_join(NULL, "/abcdefgh", out, sizeof out), 0); /* no room */
}
END_TEST

/* path_append: what the hook uses for a relative name, the directory's name already in
 * the buffer (getcwd into it): the same result as path_join, in place. */
START_TEST(test_append_in_place_equals_join)
{
	static const char *const cases[][2] = {
		{"/home/u/proj", "foo.lua"}, {"/home/u/proj", "./lib/foo.lua"}, {"/", "foo.lua"},
		{"/a/b", "../c/./d.lua"},    {"/a/b", "../../../../x.lua"},     {"/", ".."},
		{"/a", "."},                 {"/a", "b//c/"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char joined[PATH_MAX], out[PATH_MAX];
		int j = path_join(cases[i][0], cases[i][1], joined, sizeof joined);
		snprintf(out, sizeof out, "%s", cases[i][0]);
		ck_assert_int_eq(path_append(out, sizeof out, strlen(out), cases[i][1]), j);
		ck_assert_str_eq(out, joined);
	}
	char small[16] = "/aaaaaaaa";
	ck_assert_int_eq(path_append(small, sizeof small, strlen(small), "bbbbbbbbbbbb"), -1);
	char rel[16] = "(unreachable)";
	ck_assert_int_eq(path_append(rel, sizeof rel, strlen(rel), "x"), -1); /* not absolute */
	ck_assert_int_eq(path_append(rel, sizeof rel, 0, "x"), -1);
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
	tcase_add_test(tc, test_absolute_names_near_normal_are_normalised_alike);
	tcase_add_test(tc, test_append_in_place_equals_join);
	suite_add_tcase(s, tc);
	return s;
}
