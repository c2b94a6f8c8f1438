/* common/loop.c — the one event loop (see loop.h): epoll, one timerfd, one signalfd. */
#include "loop.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct watch {
	int used;
	unsigned gen; /* tells an entry from a later one on the same descriptor */
	unsigned events;
	int prio, order;
	loop_fd_fn *fn;
	void *arg;
};

struct timer {
	int used;
	int64_t at; /* < 0: disarmed */
	int prio, order;
	loop_timer_fn *fn;
	void *arg;
};

/* Something ready in this turn. */
struct ready {
	int prio, order;
	int timer; /* 1: idx is a timer id, else a descriptor */
	int idx;
	unsigned gen, events;
};

struct loop {
	int ep, tfd, sfd;
	struct watch *w;
	int nw;
	struct timer *t;
	int nt;
	int orders;
	int64_t armed; /* what the timerfd is set to, -1: nothing */
	loop_signal_fn *sig_fn;
	void *sig_arg;
	loop_turn_fn *after;
	void *after_arg;
	loop_wait_fn *before_wait;
	void *before_wait_arg;
	int64_t spin_until;
	int64_t nap_until, nap_ns;
	int stopped, code;
	struct ready *rd;
	int cap_rd;
};

int64_t clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void loop_on_timerfd(struct loop *l, int fd, unsigned events, void *arg)
{
	uint64_t ticks;
	ssize_t r = read(fd, &ticks, sizeof ticks);
	(void)r; /* the due timers are found by time, not by ticks */
	l->armed = -1;
}

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->sfd = -1;
	l->armed = -1;
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->ep < 0 || l->tfd < 0 || loop_add(l, l->tfd, LOOP_IN, -1000, loop_on_timerfd, NULL) < 0) {
		int e = errno;
		loop_free(l);
		errno = e;
		return NULL;
	}
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	if (l->ep >= 0)
		close(l->ep);
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->sfd >= 0)
		close(l->sfd);
	free(l->w);
	free(l->t);
	free(l->rd);
	free(l);
}

static uint32_t epoll_bits(unsigned events)
{
	return (events & LOOP_IN ? EPOLLIN : 0) | (events & LOOP_OUT ? EPOLLOUT : 0);
}

int loop_add(struct loop *l, int fd, unsigned events, int prio, loop_fd_fn *fn, void *arg)
{
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (fd >= l->nw) {
		int n = fd + 64;
		struct watch *w = realloc(l->w, (size_t)n * sizeof *w);
		if (!w)
			return -1;
		memset(w + l->nw, 0, (size_t)(n - l->nw) * sizeof *w);
		l->w = w;
		l->nw = n;
	}
	struct watch *w = &l->w[fd];
	int again = w->used;
	unsigned gen = w->gen + !again;
	struct epoll_event ev = {.events = epoll_bits(events), .data.u64 = ((uint64_t)gen << 32) | (uint32_t)fd};
	if (epoll_ctl(l->ep, again ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
		return -1;
	*w = (struct watch){.used = 1, .gen = gen, .events = events, .prio = prio,
			    .order = again ? w->order : l->orders++, .fn = fn, .arg = arg};
	return 0;
}

void loop_del(struct loop *l, int fd)
{
	if (!loop_has(l, fd))
		return;
	epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
	l->w[fd].used = 0;
}

int loop_has(const struct loop *l, int fd)
{
	return fd >= 0 && fd < l->nw && l->w[fd].used;
}

int loop_timer_new(struct loop *l, int prio, loop_timer_fn *fn, void *arg)
{
	struct timer *t = realloc(l->t, (size_t)(l->nt + 1) * sizeof *t);
	if (!t)
		return -1;
	l->t = t;
	t[l->nt] = (struct timer){.used = 1, .at = -1, .prio = prio, .order = l->orders++, .fn = fn, .arg = arg};
	return l->nt++;
}

void loop_timer_at(struct loop *l, int timer, int64_t at)
{
	if (timer >= 0 && timer < l->nt)
		l->t[timer].at = at < 0 ? -1 : at;
}

static void loop_on_signalfd(struct loop *l, int fd, unsigned events, void *arg)
{
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof si) == (ssize_t)sizeof si && !l->stopped)
		l->sig_fn(l, &si, l->sig_arg);
}

int loop_signals(struct loop *l, const sigset_t *set, int prio, loop_signal_fn *fn, void *arg)
{
	if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
		return -1;
	l->sfd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l->sfd < 0)
		return -1;
	l->sig_fn = fn;
	l->sig_arg = arg;
	return loop_add(l, l->sfd, LOOP_IN, prio, loop_on_signalfd, NULL);
}

void loop_after_turn(struct loop *l, loop_turn_fn *fn, void *arg)
{
	l->after = fn;
	l->after_arg = arg;
}

void loop_before_wait(struct loop *l, loop_wait_fn *fn, void *arg)
{
	l->before_wait = fn;
	l->before_wait_arg = arg;
}

void loop_nap_until(struct loop *l, int64_t at, int64_t nap_ns)
{
	l->nap_until = at;
	l->nap_ns = nap_ns;
}

/* One wait of at most nap_ns (epoll_wait counts in milliseconds). */
static int loop_nap(struct loop *l, struct epoll_event *evs, int max, int64_t nap_ns)
{
	struct timespec ts = {(time_t)(nap_ns / 1000000000), (long)(nap_ns % 1000000000)};
#ifdef __GLIBC__
	int n = epoll_pwait2(l->ep, evs, max, &ts, NULL);
#else /* musl (the client, see the Makefile) has no wrapper: the system call itself */
	int n = (int)syscall(SYS_epoll_pwait2, l->ep, evs, max, &ts, NULL, 0);
#endif
	if (n < 0 && errno == ENOSYS)
		n = epoll_wait(l->ep, evs, max, 1); /* before Linux 5.11 */
	return n;
}

void loop_spin_until(struct loop *l, int64_t at)
{
	l->spin_until = at;
}

void loop_stop(struct loop *l, int code)
{
	l->stopped = 1;
	l->code = code;
}

/* The earliest armed timer, or -1. */
static int64_t loop_next_timer(const struct loop *l)
{
	int64_t at = -1;
	for (int i = 0; i < l->nt; i++)
		if (l->t[i].used && l->t[i].at >= 0 && (at < 0 || l->t[i].at < at))
			at = l->t[i].at;
	return at;
}

static void loop_arm(struct loop *l, int64_t at)
{
	if (at == l->armed)
		return;
	struct itimerspec its = {0};
	if (at >= 0) {
		int64_t a = at > 0 ? at : 1; /* 0 would disarm */
		its.it_value.tv_sec = a / 1000000000;
		its.it_value.tv_nsec = a % 1000000000;
	}
	timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	l->armed = at;
}

static int ready_cmp(const void *a, const void *b)
{
	const struct ready *x = a, *y = b;
	if (x->prio != y->prio)
		return x->prio < y->prio ? -1 : 1;
	return (x->order > y->order) - (x->order < y->order);
}

/* Runs the ready entries in order; skips what an earlier callback removed. */
static int loop_dispatch(struct loop *l, int n)
{
	int ran = 0;
	qsort(l->rd, (size_t)n, sizeof *l->rd, ready_cmp);
	for (int i = 0; i < n && !l->stopped; i++) {
		struct ready *r = &l->rd[i];
		if (r->timer) {
			struct timer *t = &l->t[r->idx];
			if (!t->used || t->at < 0 || t->at > clock_ns())
				continue;
			t->at = -1;
			t->fn(l, t->arg);
		} else {
			if (!loop_has(l, r->idx) || l->w[r->idx].gen != r->gen)
				continue;
			/* the callback may grow l->w: nothing of it is used afterwards */
			loop_fd_fn *fn = l->w[r->idx].fn;
			fn(l, r->idx, r->events, l->w[r->idx].arg);
			if (fn == loop_on_timerfd)
				continue; /* ours, not the caller's */
		}
		ran++;
	}
	return ran;
}

int loop_turn(struct loop *l, int64_t timeout_ns)
{
	enum { MAXEV = 64 };
	struct epoll_event evs[MAXEV];
	int64_t now = clock_ns(), next = loop_next_timer(l);
	loop_arm(l, next);
	int ms = -1;
	if (timeout_ns >= 0)
		ms = (int)((timeout_ns + 999999) / 1000000);
	if ((next >= 0 && next <= now) || (l->spin_until && now < l->spin_until))
		ms = 0;
	else if (l->spin_until)
		l->spin_until = 0;
	int64_t nap = -1;
	if (ms != 0 && l->nap_until && now < l->nap_until &&
	    (ms < 0 || (int64_t)ms * 1000000 > l->nap_ns))
		nap = l->nap_ns;
	else if (l->nap_until && now >= l->nap_until)
		l->nap_until = 0;
	/* what the callback found (or did) may call for a turn without sleep */
	if (l->before_wait && l->before_wait(l, ms != 0 && nap < 0, l->before_wait_arg))
		ms = 0;
	int n = ms != 0 && nap >= 0 ? loop_nap(l, evs, MAXEV, nap) : epoll_wait(l->ep, evs, MAXEV, ms);
	/* Spinning with nothing ready: a process waiting for our processor runs first. The
	 * spin saves a sender on another processor its wake-up of us; on our own processor
	 * it would take the processor from that sender (measured: a program reading a
	 * watched file every millisecond lost 0.2 ms each time to the monitor woken beside
	 * it). */
	if (n == 0 && ms == 0 && l->spin_until)
		sched_yield();
	if (n < 0) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	if (l->cap_rd < MAXEV + l->nt) {
		struct ready *rd = realloc(l->rd, (size_t)(MAXEV + l->nt) * sizeof *rd);
		if (!rd)
			return -1;
		l->rd = rd;
		l->cap_rd = MAXEV + l->nt;
	}
	int k = 0;
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		unsigned gen = (unsigned)(evs[i].data.u64 >> 32);
		if (!loop_has(l, fd) || l->w[fd].gen != gen)
			continue;
		unsigned e = (evs[i].events & (EPOLLIN | EPOLLPRI) ? LOOP_IN : 0) |
			     (evs[i].events & EPOLLOUT ? LOOP_OUT : 0) |
			     (evs[i].events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP) ? LOOP_HUP : 0);
		l->rd[k++] = (struct ready){.prio = l->w[fd].prio, .order = l->w[fd].order, .idx = fd,
					    .gen = gen, .events = e};
	}
	now = clock_ns();
	for (int i = 0; i < l->nt; i++)
		if (l->t[i].used && l->t[i].at >= 0 && l->t[i].at <= now)
			l->rd[k++] = (struct ready){.prio = l->t[i].prio, .order = l->t[i].order, .timer = 1, .idx = i};
	int ran = loop_dispatch(l, k);
	if (l->after && !l->stopped)
		l->after(l, l->after_arg);
	return ran;
}

int loop_run(struct loop *l)
{
	l->stopped = 0;
	while (!l->stopped)
		if (loop_turn(l, -1) < 0)
			return -1;
	return l->code;
}
