/*
 * hook/state.c — the hook's one state (hk), its lock, its clock and its one-line message.
 * Runs inside the user's program; every file of the hook uses them (see hook.h).
 */
#include "hook.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

struct hook_state hk = {.fd = -1, .given_fd = -1};
volatile int hk_lock_word;
/* Thread-local, initial-exec (HOOK_CFLAGS): no allocation, no lock on first use. */
__thread int hk_busy;

int64_t hk_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void hk_say(const char *msg)
{
	char buf[512];
	size_t n = 0, l = strlen(msg);
	const char *pre = "forkmon: ";
	memcpy(buf, pre, strlen(pre));
	n = strlen(pre);
	if (l > sizeof buf - n - 2)
		l = sizeof buf - n - 2;
	memcpy(buf + n, msg, l);
	n += l;
	buf[n++] = '\n';
	ssize_t w = write(2, buf, n);
	(void)w;
}
