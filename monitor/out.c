/* monitor/out.c — the terminal and the event stream, never blocking (see out.h). */
#include "out.h"

#include "events.h"
#include "escape.h"
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum sink_mode {
	SINK_DIRECT,  /* blocking writes: before out_start, or a regular file */
	SINK_PRIVATE, /* our own non-blocking open file description */
	SINK_SOCKET,  /* a socket shared with the program: send(MSG_DONTWAIT) */
};

struct sink {
	int fd;
	enum sink_mode mode;
	char *buf;
	size_t len, cap;
	size_t limit;     /* 0: unbounded */
	unsigned dropped; /* lines dropped since the queue last drained */
};

enum { SINK_TERM, SINK_EVENTS, NSINKS };
enum { TERM_QUEUE_LIMIT = 64 * 1024 };

static struct sink sinks[NSINKS] = {{.fd = 2}, {.fd = -1}};
static int out_quiet, out_colour;
static struct timespec out_t0;

/* The events file: its name (for the lines that speak of it); whether it is a FIFO
 * nobody reads yet (events wait in the queue; the open is tried again) and since when. */
enum { EVENTS_RETRY_NS = 100000000 };
static struct {
	char *path;
	int waiting;
	int64_t next_try;
} ev;

static void out_error_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

double out_clock_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - out_t0.tv_sec) * 1e3 + (double)(t.tv_nsec - out_t0.tv_nsec) / 1e6;
}

void out_init(int quiet)
{
	const char *nc = getenv("NO_COLOR"), *fnc = getenv("FORKMON_NO_COLORS");
	out_quiet = quiet;
	out_colour = isatty(2) && !(nc && *nc) && !(fnc && *fnc);
	if (!out_t0.tv_sec)
		clock_gettime(CLOCK_MONOTONIC, &out_t0);
}

/* A private, non-blocking way to write what fd points to, or the fd itself. */
static void sink_setup(struct sink *s, int fd)
{
	struct stat st;
	s->fd = fd;
	s->mode = SINK_DIRECT;
	if (fstat(fd, &st) < 0 || S_ISREG(st.st_mode))
		return;
	if (S_ISSOCK(st.st_mode)) {
		s->mode = SINK_SOCKET;
		return;
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	int p = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_APPEND);
	if (p >= 0) {
		s->fd = p;
		s->mode = SINK_PRIVATE;
	}
}

void out_start(void)
{
	sink_setup(&sinks[SINK_TERM], 2);
	sinks[SINK_TERM].limit = TERM_QUEUE_LIMIT;
}

/* O_NONBLOCK even for the open: a FIFO without a reader would block it (ENXIO instead).
 * The description is ours alone (a FIFO, a terminal), so non-blocking writes are fine. */
static int out_events_try_open(void)
{
	/* once waiting for a FIFO's reader, never create a file in its place */
	int create = ev.waiting ? 0 : O_CREAT | O_TRUNC;
	int fd = open(ev.path, O_WRONLY | create | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
	if (fd < 0)
		return -1;
	struct stat st;
	sinks[SINK_EVENTS].mode = fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) ? SINK_PRIVATE : SINK_DIRECT;
	sinks[SINK_EVENTS].fd = fd;
	sinks[SINK_EVENTS].limit = 0;
	return 0;
}

int out_events_open(const char *path)
{
	struct stat st;
	free(ev.path);
	if (!(ev.path = strdup(path)))
		return -1;
	if (out_events_try_open() == 0)
		return 0;
	int err = errno;
	if (err != ENXIO || stat(path, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		errno = err;
		return -1;
	}
	/* A FIFO nobody reads yet: the program runs; events wait for a reader. */
	ev.waiting = 1;
	ev.next_try = clock_ns() + EVENTS_RETRY_NS;
	out_error_line("nobody reads the events FIFO '%s' yet; events wait until someone does", path);
	return 0;
}

int out_events_enabled(void)
{
	return sinks[SINK_EVENTS].fd >= 0 || ev.waiting;
}

int64_t out_events_retry_at(void)
{
	return ev.waiting ? ev.next_try : -1;
}

static void sink_pump(struct sink *s);

/* The FIFO has a reader now? Then what waited is written (what it does not take yet
 * stays queued for the loop). */
static void out_events_reopen(void)
{
	if (out_events_try_open() < 0) {
		ev.next_try = clock_ns() + EVENTS_RETRY_NS;
		return;
	}
	ev.waiting = 0;
	sink_pump(&sinks[SINK_EVENTS]);
}

void out_events_retry(void)
{
	if (ev.waiting && clock_ns() >= ev.next_try)
		out_events_reopen();
}

/* A write to the events file failed: said once, and no more events are made. */
static void out_events_failed(int err)
{
	struct sink *s = &sinks[SINK_EVENTS];
	if (s->fd < 0)
		return;
	close(s->fd);
	s->fd = -1;
	s->len = 0;
	out_error_line("cannot write events to '%s': %s; no more events are written", ev.path ? ev.path : "?",
		       strerror(err));
}

/* Writes without blocking (but for SINK_DIRECT); returns bytes written or -1. */
static ssize_t sink_try(struct sink *s, const char *p, size_t n)
{
	ssize_t w;
	do {
		if (s->mode == SINK_SOCKET)
			w = send(s->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			w = write(s->fd, p, n);
	} while (w < 0 && errno == EINTR);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return w;
}

static void sink_queue(struct sink *s, const char *p, size_t n)
{
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n)
			cap *= 2;
		char *b = realloc(s->buf, cap);
		if (!b)
			return;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

/* Flushes the queue as far as the sink takes it now. */
static void sink_pump(struct sink *s)
{
	while (s->len) {
		ssize_t w = sink_try(s, s->buf, s->len);
		if (w < 0) {
			if (s == &sinks[SINK_EVENTS])
				out_events_failed(errno);
			s->len = 0; /* the reader is gone: nothing more to do */
			return;
		}
		if (w == 0)
			return;
		memmove(s->buf, s->buf + w, s->len - (size_t)w);
		s->len -= (size_t)w;
	}
	if (s->dropped) {
		char note[96];
		int n = snprintf(note, sizeof note, "[forkmon] %u line%s dropped (the terminal was not reading)\n",
				 s->dropped, s->dropped == 1 ? "" : "s");
		s->dropped = 0;
		sink_queue(s, note, (size_t)n);
		sink_pump(s);
	}
}

/* One whole line (or event): written now, queued, or (terminal, queue full) dropped.
 * The events file's first write error is said, and ends the events. */
static void sink_line(struct sink *s, const char *p, size_t n)
{
	int events = s == &sinks[SINK_EVENTS];
	if (events && ev.waiting) {
		sink_queue(s, p, n);
		return;
	}
	if (s->fd < 0)
		return;
	if (s->mode == SINK_DIRECT) {
		for (size_t off = 0; off < n;) {
			ssize_t w = write(s->fd, p + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				if (events)
					out_events_failed(w < 0 ? errno : EIO);
				return;
			}
			off += (size_t)w;
		}
		return;
	}
	if (s->len == 0) {
		ssize_t w = sink_try(s, p, n);
		if (w < 0 && events)
			out_events_failed(errno);
		if (w < 0 || (size_t)w == n)
			return;
		p += w;
		n -= (size_t)w;
	} else if (s->limit && s->len + n > s->limit) {
		s->dropped++;
		return;
	}
	sink_queue(s, p, n);
}

/* One line: the prefix, then the message with every byte that could forge or garble a
 * line escaped (escape_line: file names are the user's, and may hold anything). */
static void out_line(const char *pre, const char *colour, const char *fmt, va_list ap)
{
	char msg[8192], buf[4 * sizeof msg + 64];
	int n = 0;
	if (out_colour)
		n = snprintf(buf, sizeof buf, "%s%s\033[0m ", colour, pre);
	else
		n = snprintf(buf, sizeof buf, "%s ", pre);
	int m = vsnprintf(msg, sizeof msg, fmt, ap);
	if (m < 0)
		return;
	if (m >= (int)sizeof msg)
		m = (int)sizeof msg - 1;
	n += (int)escape_line(msg, (size_t)m, buf + n, sizeof buf - (size_t)n - 1);
	buf[n++] = '\n';
	sink_line(&sinks[SINK_TERM], buf, (size_t)n);
}

void out_status(const char *fmt, ...)
{
	if (out_quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	out_line("[forkmon]", "\033[1;36m", fmt, ap);
	va_end(ap);
}

static void out_error_line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	out_line("forkmon:", "\033[1;31m", fmt, ap);
	va_end(ap);
}

void out_error(const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	out_error_line("%s", msg);
	if (out_events_enabled()) {
		json_t *f = json_object();
		events_set_text(f, "message", msg, strlen(msg));
		out_event("error", f);
	}
}

void out_event(const char *name, json_t *fields)
{
	if (!out_events_enabled()) {
		json_decref(fields);
		return;
	}
	size_t n;
	char *s = events_line(name, out_clock_ms(), fields, &n);
	if (!s)
		return;
	sink_line(&sinks[SINK_EVENTS], s, n);
	free(s);
}

void out_clear_screen(void)
{
	if (isatty(1)) {
		static const char clear[] = "\033[H\033[2J\033[3J";
		ssize_t w = write(1, clear, sizeof clear - 1);
		(void)w;
	}
}

int out_pending(int *fds, int *ids, int max)
{
	int k = 0;
	for (int i = 0; i < NSINKS && k < max; i++)
		if (sinks[i].len && sinks[i].fd >= 0) {
			fds[k] = sinks[i].fd;
			ids[k++] = i;
		}
	return k;
}

void out_on_writable(int id)
{
	if (id >= 0 && id < NSINKS)
		sink_pump(&sinks[id]);
}

static void out_drain_writable(struct loop *l, int fd, unsigned events, void *arg)
{
	struct sink *s = arg;
	sink_pump(s);
	if (!s->len)
		loop_del(l, fd);
}

static void out_drain_timeout(struct loop *l, void *arg)
{
	loop_stop(l, 0);
}

static void out_drain_check(struct loop *l, void *arg)
{
	int fds[NSINKS], ids[NSINKS];
	if (out_pending(fds, ids, NSINKS) == 0)
		loop_stop(l, 0);
}

/* A loop of its own: the session's loop is gone by now, and this one lives only here. */
static void out_drain_loop(int timeout_ms)
{
	int fds[NSINKS], ids[NSINKS], watched = 0;
	int n = out_pending(fds, ids, NSINKS);
	struct loop *l;
	if (n == 0 || timeout_ms <= 0 || !(l = loop_new()))
		return;
	for (int i = 0; i < n; i++)
		if (loop_add(l, fds[i], LOOP_OUT, 0, out_drain_writable, &sinks[ids[i]]) == 0)
			watched++;
	int t = loop_timer_new(l, 1, out_drain_timeout, NULL);
	if (watched && t >= 0) {
		loop_timer_at(l, t, clock_ns() + (int64_t)timeout_ms * 1000000);
		loop_after_turn(l, out_drain_check, NULL);
		loop_run(l);
	}
	loop_free(l);
}

/* Events queued and never to be written, said once (why: the end of the line). */
static void out_events_lost(const char *why)
{
	struct sink *s = &sinks[SINK_EVENTS];
	size_t lines = 0;
	for (size_t i = 0; i < s->len; i++)
		lines += s->buf[i] == '\n';
	if (s->len && s->buf[s->len - 1] != '\n')
		lines++; /* a line begun */
	if (s->len)
		out_error_line("%zu event%s not written to '%s': %s", lines, lines == 1 ? " was" : "s were",
			       ev.path ? ev.path : "?", why);
	s->len = 0;
}

void out_drain(int timeout_ms)
{
	if (ev.waiting) {
		out_events_reopen();
		if (ev.waiting) {
			ev.waiting = 0;
			out_events_lost("nobody opened the FIFO for reading");
		}
	}
	out_drain_loop(timeout_ms);
	if (sinks[SINK_EVENTS].len && sinks[SINK_EVENTS].fd >= 0) {
		out_events_lost("its reader did not take them in time");
	}
}
