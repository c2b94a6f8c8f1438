/*
 * helper/helper.h — `forkmon helper`, the daemon of the helper front end (helper.c,
 * request.c, session.c; their shared state: daemon.h). Called by monitor/main.c; its
 * sessions are children running the monitor in serve mode. A client that starts the
 * helper passes --ready-fd N and learns it listens when a byte comes on N (EOF: it gave
 * up, e.g. because another helper answers on the socket).
 */
#ifndef FORKMON_HELPER_H
#define FORKMON_HELPER_H

#include "sockpath.h"

#define HELPER_USAGE                                                                                      \
	"usage: forkmon helper [-s PATH] [-t SECONDS] [-n SESSIONS] [-f PATTERN]... [-i PATTERN]...\n"         \
	"       forkmon helper status|stop [-s PATH]"

int helper_main(int argc, char **argv);
void helper_help(void);

#endif
