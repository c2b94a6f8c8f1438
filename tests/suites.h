/* tests/suites.h — every suite of the one test runner (tests/main.c). Unit suites live in
 * tests/unit/, system suites in tests/system/. */
#ifndef FORKMON_TESTS_SUITES_H
#define FORKMON_TESTS_SUITES_H
#include <check.h>

/* unit */
Suite *filter_suite(void);
Suite *filter_lua_suite(void);
Suite *filter_budget_suite(void);
Suite *events_text_suite(void);
Suite *path_suite(void);
Suite *policy_suite(void);
Suite *debounce_suite(void);
Suite *spacing_suite(void);
Suite *cache_suite(void);
Suite *peer_suite(void);
Suite *loop_suite(void);
Suite *replace_suite(void);
Suite *escape_suite(void);
Suite *ring_unit_suite(void);

/* system */
Suite *inotify_saves_suite(void);
Suite *inotify_watches_suite(void);
Suite *inotify_storms_suite(void);
Suite *engine_suite(void);
Suite *live_saves_suite(void);
Suite *live_terminal_suite(void);
Suite *live_state_suite(void);
Suite *live_scale_suite(void);
Suite *resume_cost_suite(void);
Suite *live_commands_suite(void);
Suite *live_programs_suite(void);
Suite *live_misbehave_suite(void);
Suite *monitor_suite(void);
Suite *helper_suite(void);
Suite *helper_streams_suite(void);
Suite *completion_suite(void);
Suite *package_suite(void);
Suite *examples_suite(void);
Suite *real_tools_suite(void);
Suite *real_tools_own_suite(void);
Suite *events_file_suite(void);
Suite *fuzz_replay_suite(void);
Suite *helper_requests_suite(void);
Suite *helper_contract_suite(void);
Suite *session_bounds_suite(void);
Suite *harden_suite(void);
Suite *deletions_suite(void);
Suite *helper_daemon_suite(void);
Suite *helper_shim_suite(void);
Suite *helper_start_suite(void);
Suite *ring_suite(void);
Suite *helper_keep_suite(void);
Suite *helper_exec_suite(void);

#endif
