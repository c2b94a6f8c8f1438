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
#include <string.h>

/* The unit suite: pure logic on a fake clock and fake processes, no forkmon session (the
 * filter's differential test runs lua5.4 itself). The system suite: real programs under
 * forkmon, real files, signals and terminals. */
static Suite *(*const unit_suites[])(void) = {
	filter_suite,
	filter_lua_suite,
	filter_budget_suite,
	events_text_suite,
	path_suite,
	policy_suite,
	debounce_suite,
	spacing_suite,
	cache_suite,
	peer_suite,
	loop_suite,
	replace_suite,
	escape_suite,
	ring_unit_suite,
};
static Suite *(*const system_suites[])(void) = {
	inotify_saves_suite,
	inotify_watches_suite,
	inotify_storms_suite,
	engine_suite,
	live_saves_suite,
	live_terminal_suite,
	live_state_suite,
	live_scale_suite,
	resume_cost_suite,
	live_commands_suite,
	live_programs_suite,
	live_misbehave_suite,
	monitor_suite,
	helper_suite,
	helper_streams_suite,
	completion_suite,
	package_suite,
	examples_suite,
	real_tools_suite,
	real_tools_own_suite,
	events_file_suite,
	fuzz_replay_suite,
	helper_requests_suite,
	helper_contract_suite,
	session_bounds_suite,
	harden_suite,
	deletions_suite,
	helper_daemon_suite,
	helper_shim_suite,
	helper_start_suite,
	ring_suite,
	helper_keep_suite,
	helper_exec_suite,
};

int main(int argc, char **argv)
{
	const char *which = argc > 1 ? argv[1] : "all";
	int unit = !strcmp(which, "all") || !strcmp(which, "unit");
	int sys = !strcmp(which, "all") || !strcmp(which, "system");
	if (!unit && !sys) {
		fprintf(stderr, "usage: forkmon-tests [all|unit|system]\n");
		return 2;
	}
	const char *tmp = getenv("TMPDIR");
	char root[4096];
	snprintf(root, sizeof root, "%s/forkmon-tests-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	setenv("TMPDIR", root, 1);

	/* Check's own default is 4 s a test: a unit test that takes 1 s on an idle machine
	 * took longer beside two builds. A timeout is for a hang, never a measure of speed;
	 * the tcases that run programs set their own. */
	setenv("CK_DEFAULT_TIMEOUT", "60", 0);
	SRunner *sr = srunner_create(NULL);
	for (size_t i = 0; unit && i < sizeof unit_suites / sizeof *unit_suites; i++)
		srunner_add_suite(sr, unit_suites[i]());
	for (size_t i = 0; sys && i < sizeof system_suites / sizeof *system_suites; i++)
		srunner_add_suite(sr, system_suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (!getenv("FORKMON_TEST_KEEP")) /* keep them to look at a failure */
		h_rm_rf(root);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
