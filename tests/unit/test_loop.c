/*
 * tests/unit/test_loop.c — the event loop (common/loop.c) that the monitor, the helper
 * and the client run on. Check suite "loop", in the unit suite.
 */
#include "loop.h"
#include "suites.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static char trace[256];

static void note(const char *what)
{
	strncat(trace, what, sizeof trace - strlen(trace) - 1);
}

static void on_fd(struct loop *l, int fd, unsigned ev, void *arg)
{
	char b[16];
	ssize_t r = read(fd, b, sizeof b);
	(void)r;
	note(arg);
}

static void on_timer(struct loop *l, void *arg)
{
	note(arg);
}

START_TEST(test_what_is_ready_runs_by_priority_then_by_registration)
{
	trace[0] = '\0';
	struct loop *l = loop_new();
	int a[2], b[2];
	ck_assert_int_eq(pipe2(a, O_CLOEXEC | O_NONBLOCK), 0);
	ck_assert_int_eq(pipe2(b, O_CLOEXEC | O_NONBLOCK), 0);
	ck_assert_int_eq(loop_add(l, a[0], LOOP_IN, 5, on_fd, "a"), 0);
	ck_assert_int_eq(loop_add(l, b[0], LOOP_IN, 1, on_fd, "b"), 0);
	int t = loop_timer_new(l, 3, on_timer, "t");
	loop_timer_at(l, t, clock_ns() - 1); /* already due */
	ck_assert_int_eq(write(a[1], "x", 1), 1);
	ck_assert_int_eq(write(b[1], "x", 1), 1);
	ck_assert_int_eq(loop_turn(l, 1000000000), 3);
	ck_assert_str_eq(trace, "bta");
	/* a timer runs once per arming */
	trace[0] = '\0';
	ck_assert_int_eq(loop_turn(l, 0), 0);
	ck_assert_str_eq(trace, "");
	loop_free(l);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}
END_TEST

static int victim;
static void on_fd_removing(struct loop *l, int fd, unsigned ev, void *arg)
{
	note(arg);
	loop_del(l, victim);
}

START_TEST(test_an_entry_removed_by_an_earlier_callback_is_skipped)
{
	trace[0] = '\0';
	struct loop *l = loop_new();
	int a[2], b[2];
	ck_assert_int_eq(pipe2(a, O_CLOEXEC | O_NONBLOCK), 0);
	ck_assert_int_eq(pipe2(b, O_CLOEXEC | O_NONBLOCK), 0);
	victim = b[0];
	loop_add(l, a[0], LOOP_IN, 0, on_fd_removing, "a");
	loop_add(l, b[0], LOOP_IN, 1, on_fd, "b");
	ck_assert_int_eq(write(a[1], "x", 1), 1);
	ck_assert_int_eq(write(b[1], "x", 1), 1);
	loop_turn(l, 1000000000);
	ck_assert_str_eq(trace, "a");
	ck_assert(!loop_has(l, b[0]));
	loop_free(l);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}
END_TEST

START_TEST(test_timers_wake_the_loop_at_their_time_not_before)
{
	trace[0] = '\0';
	struct loop *l = loop_new();
	int late = loop_timer_new(l, 0, on_timer, "2");
	int early = loop_timer_new(l, 0, on_timer, "1");
	int off = loop_timer_new(l, 0, on_timer, "x");
	int64_t t0 = clock_ns();
	loop_timer_at(l, late, t0 + 40000000);
	loop_timer_at(l, early, t0 + 20000000);
	loop_timer_at(l, off, t0 + 10000000);
	loop_timer_at(l, off, -1); /* disarmed */
	while (strlen(trace) < 2)
		ck_assert_int_ge(loop_turn(l, 5000000000ll), 0);
	ck_assert_str_eq(trace, "12");
	ck_assert_int_ge(clock_ns() - t0, 40000000);
	loop_free(l);
}
END_TEST

static void on_sig(struct loop *l, const struct signalfd_siginfo *si, void *arg)
{
	loop_stop(l, (int)si->ssi_signo);
}

START_TEST(test_a_signal_is_an_event_and_stop_returns_its_code)
{
	struct loop *l = loop_new();
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	ck_assert_int_eq(loop_signals(l, &set, 0, on_sig, NULL), 0);
	kill(getpid(), SIGUSR1); /* blocked: waits in the signalfd */
	ck_assert_int_eq(loop_run(l), SIGUSR1);
	loop_free(l);
}
END_TEST

static int turns;
static void after(struct loop *l, void *arg)
{
	if (++turns == 3)
		loop_stop(l, 7);
}

START_TEST(test_spinning_looks_without_sleeping_and_the_after_turn_hook_runs)
{
	struct loop *l = loop_new();
	turns = 0;
	loop_after_turn(l, after, NULL);
	loop_spin_until(l, clock_ns() + 5000000000ll);
	/* nothing is ever ready: only a loop that does not sleep gets to 3 turns */
	ck_assert_int_eq(loop_run(l), 7);
	loop_free(l);
}
END_TEST

Suite *loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("loop");
	tcase_add_test(tc, test_what_is_ready_runs_by_priority_then_by_registration);
	tcase_add_test(tc, test_an_entry_removed_by_an_earlier_callback_is_skipped);
	tcase_add_test(tc, test_timers_wake_the_loop_at_their_time_not_before);
	tcase_add_test(tc, test_a_signal_is_an_event_and_stop_returns_its_code);
	tcase_add_test(tc, test_spinning_looks_without_sleeping_and_the_after_turn_hook_runs);
	suite_add_tcase(s, tc);
	return s;
}
