/*
 * tests/main.c — the one test runner: every suite, one Check summary line.
 *
 * Every test's temporary files live under one directory made here (TMPDIR for the
 * tests and the programs they run) and removed at the end, even after failures:
 * Check ends a failed test's process without running its clean-up.
 */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char root[4096];
	snprintf(root, sizeof root, "%s/forkmon-tests-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	setenv("TMPDIR", root, 1);

	SRunner *sr = srunner_create(filter_suite());
	srunner_add_suite(sr, path_suite());
	srunner_add_suite(sr, policy_suite());
	srunner_add_suite(sr, debounce_suite());
	srunner_add_suite(sr, inotify_suite());
	srunner_add_suite(sr, engine_suite());
	srunner_add_suite(sr, live_suite());
	srunner_add_suite(sr, monitor_suite());
	srunner_add_suite(sr, helper_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (!getenv("FORKMON_TEST_KEEP")) /* keep them to look at a failure */
		h_rm_rf(root);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
