/*
 * helper/helper.h — `forkmon helper`, the daemon of the helper front end (helper.c).
 * Called by main.c; sessions run monitor.c in serve mode.
 */
#ifndef FORKMON_HELPER_H
#define FORKMON_HELPER_H

#include "sockpath.h"

#define HELPER_USAGE "usage: forkmon helper [-s PATH] [-t SECONDS] [-f PATTERN]... [-i PATTERN]..."

int helper_main(int argc, char **argv);
void helper_help(void);
/* forkmonhook.so next to the forkmon executable (or $FORKMON_HOOK), or NULL */
const char *helper_hook_path(void);

#endif
