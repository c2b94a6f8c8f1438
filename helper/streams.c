/*
 * helper/streams.c — what happened to the client's streams during its call. Runs in a
 * helper session's monitor process (serve mode); called by serve.c when a call starts
 * and ends, and when the run asks for a checkpoint (serve_may_checkpoint).
 *
 * A checkpoint serves later calls, so it must come before anything of this call that a
 * later one would not see again: a byte written to the client's stdout or stderr, a read
 * of its stdin, a change of its terminal's modes. Whoever did it counts: the program,
 * the shell that exec'd it (the pid is the same), or a subprocess of either, long gone
 * or not (`stty raw; exec prog`, `/bin/echo hi; exec prog`). The kernel tells it: every
 * write(2) and read(2) of a file sends an inotify event (IN_MODIFY, IN_ACCESS) to whoever
 * watches that inode, pipes, sockets and terminals included, before the call returns;
 * so one watch per stream, placed before the command runs and read without blocking
 * when a checkpoint is asked for, misses nothing and invents nothing. What goes
 * elsewhere (the pipes of a wrapper's own `$(...)`, /dev/null) is no business of a later
 * call. Terminal modes are no read or write: they are compared with the call's start.
 *
 * /dev/null and other devices that are not terminals are not watched: what goes there
 * is lost in a direct run too (and every process's writes to /dev/null would count).
 * When a stream cannot be watched (no inotify instance left...), the call is "strict":
 * serve.c falls back to the rule without the streams (no byte written by the run or its
 * subprocesses, no subprocess at all). The instance lives only while a call runs.
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

static struct {
	int fd;      /* the call's inotify instance, or -1 */
	int strict;  /* a stream could not be watched */
	int touched; /* a stream was read or written, or a terminal's modes changed */
	int tty[3];  /* the client's descriptor whose modes were kept, or -1 */
	struct termios mode[3];
} W = {.fd = -1, .tty = {-1, -1, -1}};

/* Does one of the client's streams need watching? (A device other than a terminal
 * gives nothing a later call would miss.) */
static int streams_wanted(int fd, const struct stat *st)
{
	return !S_ISCHR(st->st_mode) || isatty(fd);
}

void streams_begin(const int *std)
{
	streams_end();
	W.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (W.fd < 0) {
		W.strict = 1;
		return;
	}
	for (int i = 0; i < 3; i++) {
		struct stat st;
		if (std[i] < 0 || fstat(std[i], &st) < 0 || !streams_wanted(std[i], &st))
			continue;
		char p[64];
		snprintf(p, sizeof p, "/proc/self/fd/%d", std[i]);
		/* stdin: what the program takes from it; stdout, stderr: what it puts there.
		 * A writer feeding our stdin, or the reader of our stdout, is not the call's.
		 * IN_MASK_ADD: one terminal as all three is one watch, with both. */
		uint32_t mask = (i == 0 ? IN_ACCESS : IN_MODIFY) | IN_MASK_ADD;
		if (inotify_add_watch(W.fd, p, mask) < 0)
			W.strict = 1;
		/* a copy of ours, closed with the call: the request's are closed once it ran */
		if (isatty(std[i]) && tcgetattr(std[i], &W.mode[i]) == 0)
			W.tty[i] = fcntl(std[i], F_DUPFD_CLOEXEC, 3);
	}
}

/* Has a terminal's mode changed since the call started? */
static int streams_mode_changed(void)
{
	for (int i = 0; i < 3; i++) {
		struct termios t;
		if (W.tty[i] < 0)
			continue;
		if (tcgetattr(W.tty[i], &t) < 0)
			return 1;
		const struct termios *o = &W.mode[i];
		if (t.c_iflag != o->c_iflag || t.c_oflag != o->c_oflag || t.c_cflag != o->c_cflag ||
		    t.c_lflag != o->c_lflag || memcmp(t.c_cc, o->c_cc, sizeof t.c_cc))
			return 1;
	}
	return 0;
}

int streams_touched(void)
{
	if (W.touched || W.fd < 0)
		return 1;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	while ((n = read(W.fd, buf, sizeof buf)) > 0)
		for (ssize_t off = 0; off < n;) {
			const struct inotify_event *e = (const void *)(buf + off);
			off += (ssize_t)(sizeof *e + e->len);
			if (e->mask & (IN_ACCESS | IN_MODIFY | IN_Q_OVERFLOW))
				W.touched = 1;
		}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		W.touched = 1;
	if (!W.touched && streams_mode_changed())
		W.touched = 1;
	return W.touched;
}

int streams_strict(void)
{
	return W.strict;
}

static void *streams_closer(void *arg)
{
	close((int)(intptr_t)arg);
	return NULL;
}

/* The last close of an inotify instance waits for the kernel's grace period (10-15 ms
 * here): a thread of its own does it, so that the session's loop, and the next call,
 * do not wait. */
static void streams_close(int fd)
{
	pthread_attr_t a;
	pthread_t t;
	int ok = pthread_attr_init(&a) == 0;
	if (ok && pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED) == 0 &&
	    pthread_create(&t, &a, streams_closer, (void *)(intptr_t)fd) == 0)
		fd = -1;
	if (ok)
		pthread_attr_destroy(&a);
	if (fd >= 0)
		close(fd);
}

void streams_end(void)
{
	if (W.fd >= 0)
		streams_close(W.fd);
	W.fd = -1;
	W.strict = W.touched = 0;
	for (int i = 0; i < 3; i++) {
		if (W.tty[i] >= 0)
			close(W.tty[i]);
		W.tty[i] = -1;
	}
}
