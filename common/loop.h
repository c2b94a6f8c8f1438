/*
 * common/loop.h — the one event loop of forkmon's own processes (after redis' ae).
 *
 * Used by the monitor, the helper daemon and the client; never by the hook (it runs in
 * the user's program and only ever blocks on its own connection). libc only: epoll,
 * one timerfd for every timer (nanosecond deadlines on CLOCK_MONOTONIC, the clock of
 * clock_ns()) and one signalfd for every signal, so no work is ever done in a signal
 * handler and a signal is just another event.
 *
 * One turn: wait; collect what is ready (descriptors, due timers, signals); run the
 * callbacks in order of priority (lower first; equal priorities in the order they were
 * registered), so a caller can say "what processes said comes before what happened to
 * them"; then the after-turn callback. A callback may add or remove anything,
 * including entries of the same turn not yet run (a removed one is skipped).
 *
 * Not thread-safe: one loop per thread, used from that thread only.
 */
#ifndef FORKMON_LOOP_H
#define FORKMON_LOOP_H

#include <signal.h>
#include <stdint.h>
#include <sys/signalfd.h>

struct loop;

enum { LOOP_IN = 1, LOOP_OUT = 2, LOOP_HUP = 4 /* reported, never asked for */ };

typedef void loop_fd_fn(struct loop *l, int fd, unsigned events, void *arg);
typedef void loop_timer_fn(struct loop *l, void *arg);
typedef void loop_signal_fn(struct loop *l, const struct signalfd_siginfo *si, void *arg);
typedef void loop_turn_fn(struct loop *l, void *arg);
typedef int loop_wait_fn(struct loop *l, int will_sleep, void *arg);

/* CLOCK_MONOTONIC in nanoseconds: the clock of every deadline. */
int64_t clock_ns(void);

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watches fd for events (LOOP_IN, LOOP_OUT); fn runs with what is ready. Returns 0, or
 * -1 with errno. Adding a watched fd again changes its events, priority and callback. */
int loop_add(struct loop *l, int fd, unsigned events, int prio, loop_fd_fn *fn, void *arg);
/* Stops watching fd (before it is closed). */
void loop_del(struct loop *l, int fd);
/* Whether fd is watched. */
int loop_has(const struct loop *l, int fd);

/* A timer: returns its id (>= 0) or -1. Armed at an absolute time of clock_ns() with
 * loop_timer_at; at < 0 disarms it. A timer runs once per arming. */
int loop_timer_new(struct loop *l, int prio, loop_timer_fn *fn, void *arg);
void loop_timer_at(struct loop *l, int timer, int64_t at);

/* Blocks the signals of set in the calling thread (do this before starting other
 * threads, or the kernel may hand them one) and delivers each as an event. Returns 0 or
 * -1 with errno. Call once. */
int loop_signals(struct loop *l, const sigset_t *set, int prio, loop_signal_fn *fn, void *arg);

/* fn runs after every turn's callbacks (NULL: none). */
void loop_after_turn(struct loop *l, loop_turn_fn *fn, void *arg);

/* fn runs in every turn just before the wait, told whether the turn would sleep; a
 * nonzero return makes it look without sleeping (work came in that no descriptor shows:
 * shared memory). NULL: none. */
void loop_before_wait(struct loop *l, loop_wait_fn *fn, void *arg);

/* Until at (clock_ns()), a turn sleeps at most nap_ns at a time (and before_wait hears
 * it will not sleep): for work that no descriptor shows, looked at often without a
 * processor spent on it. 0 stops it. */
void loop_nap_until(struct loop *l, int64_t at, int64_t nap_ns);

/* Until at (clock_ns()), the loop looks for events without sleeping: an event for a
 * loop that is awake costs its sender no wake-up. 0 stops it. */
void loop_spin_until(struct loop *l, int64_t at);

/* Runs turns until loop_stop(); returns its code, or -1 with errno when epoll fails. */
int loop_run(struct loop *l);
/* One turn, waiting at most timeout_ns (< 0: without limit). Returns the number of
 * callbacks run, or -1 with errno. */
int loop_turn(struct loop *l, int64_t timeout_ns);
void loop_stop(struct loop *l, int code);

#endif
