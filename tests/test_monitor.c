/* tests/test_monitor.c — the IPC monitor front end (issue 4): filled in by its owner. */
#include "harness.h"
#include "suites.h"

Suite *monitor_suite(void)
{
	return suite_create("monitor");
}
