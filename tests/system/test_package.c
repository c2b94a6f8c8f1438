/*
 * tests/system/test_package.c — the Debian package (debian/, `make deb`) as a user gets
 * it: built by `make deb` in the source tree (make rebuilds it only when an input
 * changed), unpacked with `dpkg -x` into a scratch root under the test's TMPDIR (never
 * installed on this machine), and run from there: a real resume under ROOT/usr/bin/forkmon
 * run, bare mode with the packaged hook, the client and the manual. Check suite "package".
 *
 * No dpkg-buildpackage is a failure, not a skip: `make check` installs it (make deps).
 */
#include "live.h"
#include "suites.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PKG_BUILD_WAIT 90.0 /* seconds: about 10 s here, alone; generous under load */

/* The version, from the one place it lives: debian/changelog's first line. */
static const char *pkg_version(void)
{
	static char v[64];
	FILE *f = fopen(h_path("debian/changelog"), "r");
	ck_assert_msg(f != NULL, "no debian/changelog in %s", h_top());
	char line[256] = "";
	ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
	fclose(f);
	ck_assert_msg(sscanf(line, "forkmon (%63[^)])", v) == 1, "changelog: %s", line);
	return v;
}

/* Builds the package (or finds it up to date), unpacks it into s->dir/root and returns
 * that root (static buffer). */
static const char *pkg_unpack(struct h_session *s)
{
	int found = system("command -v dpkg-buildpackage >/dev/null 2>&1") == 0;
	ck_assert_msg(found, "dpkg-buildpackage not found: run 'make deps' (make check does)");
	struct h_session b;
	h_init(&b);
	/* MAKEFLAGS= : not the outer make check's jobserver */
	char *env[] = {"MAKEFLAGS=", "MAKELEVEL=", NULL};
	char *argv[] = {"make", "--no-print-directory", "-C", (char *)h_top(), "deb", NULL};
	h_start(&b, argv, env);
	ck_assert_msg(h_wait_exit(&b, PKG_BUILD_WAIT), "make deb took over %.0f s", PKG_BUILD_WAIT);
	ck_assert_msg(WIFEXITED(b.status) && WEXITSTATUS(b.status) == 0, "make deb failed:\n%s",
		      lv_out_tail(&b));
	ck_assert_msg(h_none_left(&b, LV_WAIT), "left by make deb:\n%s", h_describe(&b));
	h_cleanup(&b);

	char deb[4096];
	snprintf(deb, sizeof deb, "%s/build/deb/forkmon_%s_amd64.deb", h_top(), pkg_version());
	ck_assert_msg(access(deb, R_OK) == 0, "make deb made no %s", deb);
	static char root[4096];
	snprintf(root, sizeof root, "%s", h_file(s, "root"));
	lv_run_ok(s, "dpkg", "-x", deb, root, NULL);
	return root;
}

static const char lua_main[] = "print('startup')\n"
			       "local v = dofile('foo.lua')\n"
			       "print('got ' .. v)\n"
			       "print('finished')\n";

/* Whether a file of pid's maps (a loaded library) is path. */
static int pkg_maps_have(pid_t pid, const char *path)
{
	char name[64], line[8192];
	snprintf(name, sizeof name, "/proc/%d/maps", (int)pid);
	FILE *f = fopen(name, "r");
	int found = 0;
	while (f && !found && fgets(line, sizeof line, f))
		found = strstr(line, path) != NULL;
	if (f)
		fclose(f);
	return found;
}

START_TEST(test_packaged_forkmon_run_resumes_from_the_edited_module)
{
	struct h_session s;
	h_init(&s);
	const char *root = pkg_unpack(&s);
	char cmd[4096], mon[4096], hook[4096];
	snprintf(cmd, sizeof cmd, "%s/usr/bin/forkmon", root);
	snprintf(mon, sizeof mon, "%s/usr/lib/forkmon/forkmon", root);
	snprintf(hook, sizeof hook, "%s/usr/lib/forkmon/forkmonhook.so", root);
	h_write(&s, "example.lua", lua_main);
	h_write(&s, "foo.lua", "return 'one'\n");
	char *argv[] = {cmd, "run", "-f", "%.lua$", "--", "lua5.4", "example.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "finished", 1);

	/* the script ran the packaged monitor, and the program has the packaged hook */
	char exe[64], target[4096] = "";
	snprintf(exe, sizeof exe, "/proc/%d/exe", (int)s.pid);
	ssize_t n = readlink(exe, target, sizeof target - 1);
	target[n > 0 ? n : 0] = '\0';
	ck_assert_str_eq(target, mon);
	struct lv_pstat ck[8];
	int nck = lv_checkpoints_of(s.pid, ck, 8);
	ck_assert_msg(nck > 0, "no checkpoint:\n%s", lv_out_tail(&s));
	ck_assert_msg(pkg_maps_have(ck[0].pid, hook), "checkpoint %d has no %s", (int)ck[0].pid, hook);

	h_write(&s, "foo.lua", "return 'two'\n");
	lv_expect(&s, "got two", 1);
	lv_expect(&s, "finished", 2);
	char line[4096];
	snprintf(line, sizeof line, "[forkmon] file '%s' changed, resuming from it", h_file(&s, "foo.lua"));
	ck_assert_int_eq(h_count(&s, line), 1);
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_packaged_hook_resumes_in_bare_mode)
{
	struct h_session s;
	h_init(&s);
	const char *root = pkg_unpack(&s);
	char pre[4096];
	snprintf(pre, sizeof pre, "LD_PRELOAD=%s/usr/lib/forkmon/forkmonhook.so", root);
	h_write(&s, "example.lua", lua_main);
	h_write(&s, "foo.lua", "return 'one'\n");
	char *env[] = {pre, "FORKMON_FILTER=%.lua$", NULL};
	char *argv[] = {"lua5.4", "example.lua", NULL};
	h_start(&s, argv, env);
	lv_expect(&s, "finished", 1);
	h_write_rename(&s, "foo.lua", "return 'two'\n");
	lv_expect(&s, "got two", 1);
	lv_expect(&s, "finished", 2);
	ck_assert_int_eq(h_count(&s, "startup"), 1);
	lv_end_session(&s, SIGINT, 1);
}
END_TEST

START_TEST(test_packaged_version_client_and_manual)
{
	struct h_session s;
	h_init(&s);
	const char *root = pkg_unpack(&s);
	char cmd[8192], want[128];
	snprintf(want, sizeof want, "forkmon %s", pkg_version());
	/* --version, the client (run directly: no helper left behind), the manual's page */
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && '%s/usr/bin/forkmon' --version && "
		 "FORKMON_NO_HELPER=1 '%s/usr/bin/forkmon-client' lua5.4 -e 'print(\"client ok\")' && "
		 "MANWIDTH=80 man -l '%s/usr/share/man/man1/forkmon.1.gz' 2>/dev/null | grep -c '%s'",
		 s.dir, root, root, root, want);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	char out[4096];
	size_t n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	ck_assert_msg(st == 0, "status 0x%x:\n%s", st, out);
	char expect[256];
	snprintf(expect, sizeof expect, "%s\nclient ok\n", want);
	ck_assert_msg(strncmp(out, expect, strlen(expect)) == 0 && atoi(out + strlen(expect)) >= 1,
		      "got:\n%s", out);
	h_cleanup(&s);
}
END_TEST

Suite *package_suite(void)
{
	Suite *s = suite_create("package");
	TCase *tc = tcase_create("package");
	tcase_set_timeout(tc, 150);
	tcase_add_test(tc, test_packaged_forkmon_run_resumes_from_the_edited_module);
	tcase_add_test(tc, test_packaged_hook_resumes_in_bare_mode);
	tcase_add_test(tc, test_packaged_version_client_and_manual);
	suite_add_tcase(s, tc);
	return s;
}
