/*
 * tests/system/test_fuzz_replay.c — every input the fuzzers keep (tests/fuzz/corpus/NAME,
 * and tests/fuzz/regress/NAME: each input that once broke a target) replayed through
 * the gcc build of each target, build/fuzz/replay/NAME (Makefile, "fuzz"): each must
 * exit 0. The targets are found as tests/fuzz/fuzz_NAME.c, so a new one is replayed too.
 */
#include "harness.h"
#include "suites.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(test_every_kept_fuzz_input_passes_its_target)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", h_path("tests/fuzz"));
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	int targets = 0;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (strncmp(e->d_name, "fuzz_", 5) || l < 8 || strcmp(e->d_name + l - 2, ".c"))
			continue;
		char name[256], bin[4096], corpus[4096], regress[4096], log[4096];
		snprintf(name, sizeof name, "%.*s", (int)(l - 7), e->d_name + 5);
		snprintf(bin, sizeof bin, "%s/build/fuzz/replay/%s", h_top(), name);
		snprintf(corpus, sizeof corpus, "%s/tests/fuzz/corpus/%s", h_top(), name);
		snprintf(regress, sizeof regress, "%s/tests/fuzz/regress/%s", h_top(), name);
		ck_assert_msg(access(bin, X_OK) == 0, "%s not built (make tests builds it)", bin);
		char tmpl[] = "/tmp/forkmon-replay-XXXXXX";
		int fd = mkstemp(tmpl);
		ck_assert_int_ge(fd, 0);
		snprintf(log, sizeof log, "%s", tmpl);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			execl(bin, bin, corpus, regress, (char *)NULL);
			_exit(127);
		}
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		char out[4096] = "";
		ssize_t n = pread(fd, out, sizeof out - 1, 0);
		out[n > 0 ? n : 0] = '\0';
		close(fd);
		unlink(log);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fuzz target %s failed on a kept input:\n%s", name,
			      strlen(out) > 3000 ? out + strlen(out) - 3000 : out);
		targets++;
	}
	closedir(d);
	ck_assert_int_ge(targets, 6);
}
END_TEST

Suite *fuzz_replay_suite(void)
{
	Suite *s = suite_create("fuzz_replay");
	TCase *tc = tcase_create("replay");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_every_kept_fuzz_input_passes_its_target);
	suite_add_tcase(s, tc);
	return s;
}
