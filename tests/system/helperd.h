/*
 * tests/system/helperd.h — a `forkmon helper` of the test's own, shared by the helper
 * suites (test_helper*.c): its socket in a private directory of the session, its log,
 * started as the client would start it (a session of its own, the log as stderr) but as
 * the test's child and tagged with the test's FORKMON_TEST_TAG, so that a test ends it
 * by pid and never another helper of the machine. Runs in the test's process.
 */
#ifndef FORKMON_TESTS_HELPERD_H
#define FORKMON_TESTS_HELPERD_H

#include "harness.h"

#include <stddef.h>
#include <sys/types.h>

#define HX_WAIT 30.0 /* seconds: generous, for a slow shared machine */

/* Makes DIR/run (0700) in the session's directory; fills the socket's path DIR/run/helper.sock,
 * the log's DIR/helper.log and their FORKMON_HELPER_SOCKET= / FORKMON_HELPER_LOG= forms. */
void hx_paths(struct h_session *s, char *sock, size_t socklen, char *sockvar, size_t sockvarlen, char *log,
	      size_t loglen, char *logvar, size_t logvarlen);

/* Starts `forkmon helper --socket SOCK [--max-sessions N]` and waits until it listens;
 * logvar (or NULL) goes into its environment. Its pid. */
pid_t hx_start(struct h_session *s, const char *sock, const char *log, char *logvar, const char *max_sessions);

/* Polls (HX_WAIT at most) until a socket exists at sock: a helper listens there. */
void hx_wait_socket(const char *sock);

/* Ends the helper of pid (if > 0) by SIGTERM, waits for it, and insists it removed its socket. */
void hx_stop(pid_t pid, const char *sock);

/* One call on a fresh pseudo-terminal (its stdin and stdout): argv runs with env, prints
 * "ready", the test types one key (x, no Enter), and `want` must come back within
 * HX_WAIT. 1 when it did (else the call, a client, is killed: its command follows). */
int hx_key_call(struct h_session *s, char *const env[], char *const argv[], const char *want);

/* A test's own helper, started in a fresh session (hx_begin: hx_paths, then hx_start
 * with no log variable and the default sessions) and ended by hx_end: stopped by pid,
 * nothing of the test left, the session cleaned up. */
struct hx {
	struct h_session s;
	char sock[4096], sockvar[4200], log[4096], logvar[4200];
	pid_t helper;
};
void hx_begin(struct hx *h);
void hx_end(struct hx *h);

/* How many lines of the helper's log (path log) hold needle; 0 when there is no log. */
int hx_log_count(const char *log, const char *needle);

#endif
