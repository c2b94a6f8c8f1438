/*
 * monitor/out.h — what the monitor tells the user and the tools around it.
 *
 * Two sinks, both written from the monitor's one event loop and never blocking it:
 *   - the terminal (stderr): status lines "[forkmon] ..." (silenced by quiet) and errors
 *     "forkmon: ..." (never silenced); colours only on a terminal, never with NO_COLOR or
 *     FORKMON_NO_COLORS;
 *   - the event stream (--events FILE): one JSON object per line, written with jansson.
 * A sink that cannot take more right now (a full pipe, a pager stopped with Ctrl-Z) gets
 * a queue: bounded for the terminal (lines past the bound are dropped and counted, and
 * a "N lines dropped" notice follows once it drains), unbounded for events (every event
 * arrives, in order). O_NONBLOCK is never set on a descriptor shared with the program:
 * the terminal is written through a private re-open of /proc/self/fd/2 (pipes,
 * terminals) or with send(MSG_DONTWAIT) (sockets); regular files never block.
 *
 * The events file never blocks or stops the session either: it is opened non-blocking,
 * so a FIFO nobody reads yet does not hang the start (one line says so; events wait in
 * the queue and the open is tried again every 100 ms until a reader comes; at the end,
 * one line counts the events nobody took). The first write error (a full disk,
 * /dev/full, a reader gone) is said in one line; no more events are written and the
 * session goes on.
 */
#ifndef FORKMON_OUT_H
#define FORKMON_OUT_H

#include <jansson.h>
#include <stdint.h>

/* Before anything else: colours and quiet. Lines before out_start() are written
 * directly (blocking), which is right for start-up errors. */
void out_init(int quiet);
/* Sets up non-blocking writing of the terminal sink. */
void out_start(void);
/* Opens the event stream (truncated). Returns 0 (a FIFO without a reader: waiting for
 * one), or -1 with errno. */
int out_events_open(const char *path);
/* A FIFO waiting for a reader: when (clock_ns) to try again, else -1; and the try. */
int64_t out_events_retry_at(void);
void out_events_retry(void);

/* Status lines and error lines are one line each whatever they name: the message is
 * escaped (common/escape.h). */
void out_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void out_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Emits {"event": name, "time": ms since start, ...fields}; steals fields (may be NULL). */
void out_event(const char *name, json_t *fields);
int out_events_enabled(void);

/* Clears the terminal (stdout, when it is one) — for --clear. */
void out_clear_screen(void);

/* For the event loop: descriptors with queued bytes (up to max) and their sink ids. */
int out_pending(int *fds, int *ids, int max);
/* The sink id's descriptor is writable: write what is queued. */
void out_on_writable(int id);
/* At the end: writes what is queued, waiting at most timeout_ms in all. */
void out_drain(int timeout_ms);

/* Milliseconds since out_init (the session's clock for events). */
double out_clock_ms(void);

#endif
