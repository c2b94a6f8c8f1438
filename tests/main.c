/* tests/main.c — the one test runner: every suite, one Check summary line. */
#include "suites.h"

#include <stdlib.h>

int main(void)
{
	SRunner *sr = srunner_create(filter_suite());
	srunner_add_suite(sr, path_suite());
	srunner_add_suite(sr, policy_suite());
	srunner_add_suite(sr, debounce_suite());
	srunner_add_suite(sr, inotify_suite());
	srunner_add_suite(sr, engine_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
