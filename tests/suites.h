/* tests/suites.h — every suite of the one test runner (tests/main.c). */
#ifndef FORKMON_TESTS_SUITES_H
#define FORKMON_TESTS_SUITES_H
#include <check.h>

Suite *filter_suite(void);
Suite *path_suite(void);
Suite *policy_suite(void);
Suite *debounce_suite(void);
Suite *spacing_suite(void);
Suite *peer_suite(void);
Suite *loop_suite(void);
Suite *replace_suite(void);
Suite *inotify_suite(void);
Suite *engine_suite(void);
Suite *live_suite(void);
Suite *monitor_suite(void);
Suite *helper_suite(void);

#endif
