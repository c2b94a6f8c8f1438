/*
 * tests/unit/test_ring.c — the indices of a connection's ring (common/ring.c): records
 * come out whole and in order, across the end of the data (a wrap marker) and across
 * counts past 32 bits; a full ring refuses, and takes again once read; what is not a
 * record of ours is refused; the sleeping flag wakes once per sleep; a ring half unread
 * wakes the reader once until it reads (however far it lags); a record the writer
 * changes while it is read comes out with the header that was checked. Check suite
 * "ring-unit", in the unit suite.
 */
#include "ring.h"
#include "suites.h"

#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

enum { RT_SIZE = 1024 };

static struct fm_ring rt_h;
static unsigned char rt_data[RT_SIZE];

static struct ring rt_ring(uint64_t start)
{
	memset(&rt_h, 0, sizeof rt_h);
	memset(rt_data, 0xaa, sizeof rt_data);
	rt_h.head = rt_h.tail = start;
	return (struct ring){.h = &rt_h, .data = rt_data, .size = RT_SIZE};
}

/* A told read of path (its length as the hook sends it). */
static uint32_t rt_read(struct fm_read *m, const char *path)
{
	memset(m, 0, sizeof *m);
	size_t n = strlen(path);
	fm_init(&m->h, FM_READ, (uint32_t)(offsetof(struct fm_read, path) + n + 1));
	m->flags = FM_READ_NO_REPLY;
	memcpy(m->path, path, n + 1);
	return m->h.len;
}

/* Puts and takes k records of growing paths, checking each; returns the last tail. */
static uint64_t rt_round(const struct ring *r, int k)
{
	struct fm_read m, out;
	char path[64];
	for (int i = 0; i < k; i++) {
		snprintf(path, sizeof path, "/p/%0*d", 1 + i % 9, i);
		uint32_t len = rt_read(&m, path);
		ck_assert_int_eq(ring_put(r, &m, len), 0);
		ck_assert(ring_pending(r));
		long got = ring_get(r, &out, sizeof out);
		ck_assert_int_eq(got, (long)len);
		ck_assert_str_eq(out.path, path);
		ck_assert(!ring_pending(r));
	}
	return r->h->tail;
}

START_TEST(test_records_come_out_whole_and_in_order_across_the_end)
{
	struct ring r = rt_ring(0);
	struct fm_read m, out;
	/* three queued at once, then taken: in order */
	const char *p[3] = {"/a", "/bb/c", "/ddd/e/f"};
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ring_put(&r, &m, rt_read(&m, p[i])), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_gt(ring_get(&r, &out, sizeof out), 0);
		ck_assert_str_eq(out.path, p[i]);
	}
	ck_assert_int_eq(ring_get(&r, &out, sizeof out), 0);
	/* many rounds: every offset of the data, wrap markers included */
	uint64_t t = rt_round(&r, 500);
	ck_assert(t > 10 * RT_SIZE);
	ck_assert_int_eq(t % 8, 0);
}
END_TEST

START_TEST(test_counts_past_32_bits_change_nothing)
{
	struct ring r = rt_ring((1ull << 32) - 40);
	uint64_t t = rt_round(&r, 300);
	ck_assert(t > (1ull << 32));
}
END_TEST

START_TEST(test_a_full_ring_refuses_and_takes_again_once_read)
{
	struct ring r = rt_ring(0);
	struct fm_read m, out;
	uint32_t len = rt_read(&m, "/ab.lua"); /* 64 bytes: 16 fit exactly */
	int n = 0;
	while (ring_put(&r, &m, len) == 0)
		n++;
	ck_assert_int_eq(n, RT_SIZE / 64);
	ck_assert_int_eq(r.h->tail - r.h->head, RT_SIZE);
	ck_assert_int_gt(ring_get(&r, &out, sizeof out), 0);
	ck_assert_int_eq(ring_put(&r, &m, len), 0);
	ck_assert_int_ne(ring_put(&r, &m, len), 0);
	/* a record larger than half the ring never goes in */
	struct ring small = rt_ring(0);
	char big[offsetof(struct fm_read, path) + 600];
	memset(big, 'x', sizeof big);
	struct fm_read *b = (struct fm_read *)big;
	fm_init(&b->h, FM_READ, sizeof big);
	ck_assert_int_ne(ring_put(&small, big, sizeof big), 0);
	ck_assert(!ring_pending(&small));
}
END_TEST

START_TEST(test_a_record_not_of_ours_is_refused)
{
	struct fm_read m, out;
	struct ring r = rt_ring(0);
	uint32_t len = rt_read(&m, "/x");
	m.h.magic = 0x1234;
	ring_put(&r, &m, len);
	ck_assert_int_lt(ring_get(&r, &out, sizeof out), 0);
	r = rt_ring(0);
	len = rt_read(&m, "/x");
	m.h.type = FM_HELLO; /* only what gets no answer goes through a ring */
	ring_put(&r, &m, len);
	ck_assert_int_lt(ring_get(&r, &out, sizeof out), 0);
	r = rt_ring(0);
	len = rt_read(&m, "/xyz");
	m.path[4] = 'q'; /* no NUL at its end */
	ring_put(&r, &m, len);
	ck_assert_int_lt(ring_get(&r, &out, sizeof out), 0);
	/* a note ends in no string: it comes out whole */
	r = rt_ring(0);
	struct fm_note note = {0};
	fm_init(&note.h, FM_NOTE, sizeof note);
	note.kind = FM_NOTE_THREADS;
	note.value = 7;
	ck_assert_int_eq(ring_put(&r, &note, sizeof note), 0);
	ck_assert_int_eq(ring_get(&r, &out, sizeof out), (long)sizeof note);
	ck_assert_int_eq(((struct fm_note *)&out)->value, 7);
	/* a tail the writer could not have written */
	r = rt_ring(0);
	rt_h.tail = 3 * RT_SIZE;
	ck_assert_int_lt(ring_get(&r, &out, sizeof out), 0);
}
END_TEST

START_TEST(test_the_sleeping_flag_wakes_once_per_sleep)
{
	struct fm_read m, out;
	struct ring r = rt_ring(0);
	ck_assert_int_eq(ring_wake_wanted(&r), 0); /* awake */
	ck_assert_int_eq(ring_may_sleep(&r), 1);
	ck_assert_int_eq(ring_put(&r, &m, rt_read(&m, "/a")), 0);
	ck_assert_int_eq(ring_wake_wanted(&r), 1);
	ck_assert_int_eq(ring_put(&r, &m, rt_read(&m, "/b")), 0);
	ck_assert_int_eq(ring_wake_wanted(&r), 0); /* woken already */
	/* records waiting: no sleep, and no wake-up asked for */
	ck_assert_int_eq(ring_may_sleep(&r), 0);
	ck_assert_int_eq(ring_wake_wanted(&r), 0);
	while (ring_get(&r, &out, sizeof out) > 0)
		;
	ck_assert_int_eq(ring_may_sleep(&r), 1);
	ring_awake(&r);
	ck_assert_int_eq(ring_put(&r, &m, rt_read(&m, "/c")), 0);
	ck_assert_int_eq(ring_wake_wanted(&r), 0);
}
END_TEST

START_TEST(test_a_ring_half_unread_wakes_the_reader_once_until_it_reads)
{
	struct fm_read m, out;
	struct ring r = rt_ring((uint64_t)1 << 32); /* the counts past 32 bits */
	uint64_t woken = RING_NEVER_WOKEN;
	uint32_t len = rt_read(&m, "/p/a-name-of-some-length");
	int puts = 0, wakes = 0;
	while (r.h->tail - r.h->head + len <= RT_SIZE / 2) { /* up to half: none */
		ck_assert_int_eq(ring_put(&r, &m, len), 0);
		puts++;
		ck_assert_int_eq(ring_half_full(&r, &woken), 0);
	}
	/* past half: one wake-up, however many records follow, until the reader reads */
	while (ring_put(&r, &m, len) == 0)
		wakes += ring_half_full(&r, &woken);
	ck_assert_int_eq(wakes, 1);
	ck_assert_int_eq(ring_half_full(&r, &woken), 0);
	/* it takes one: still more than half, and a wake-up again (it may nap again) */
	ck_assert_int_gt(ring_get(&r, &out, sizeof out), 0);
	ck_assert_int_eq(ring_half_full(&r, &woken), 1);
	ck_assert_int_eq(ring_half_full(&r, &woken), 0);
	/* it takes them all: nothing to wake it for */
	while (ring_get(&r, &out, sizeof out) > 0)
		;
	ck_assert_int_eq(ring_put(&r, &m, len), 0);
	ck_assert_int_eq(ring_half_full(&r, &woken), 0);
	ck_assert_int_gt(puts, 2);
}
END_TEST

/* The writer of a ring may be hostile: while the reader copies a record, its length
 * flips between two a READ could have (both end in a NUL). */
static int rt_stop, rt_flipping;

static void *rt_flipper(void *arg)
{
	uint32_t *len = (uint32_t *)(rt_data + offsetof(struct fm_header, len));
	for (uint32_t i = 0; !__atomic_load_n(&rt_stop, __ATOMIC_RELAXED); i++) {
		__atomic_store_n(len, i & 1 ? 64u : 59u, __ATOMIC_RELAXED);
		__atomic_store_n(&rt_flipping, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

START_TEST(test_a_record_changed_while_read_comes_out_as_checked)
{
	struct ring r = rt_ring(0);
	struct fm_read m, out;
	uint32_t len = rt_read(&m, "/a");
	ck_assert_int_eq(len, 59);
	ck_assert_int_eq(ring_put(&r, &m, 64), 0); /* its 64 bytes: zeros after the NUL */
	rt_stop = rt_flipping = 0;
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, rt_flipper, NULL), 0);
	while (!__atomic_load_n(&rt_flipping, __ATOMIC_RELAXED))
		sched_yield(); /* reads while it flips (before the fix of ring_get: thousands bad) */
	int bad = 0;
	for (int i = 0; i < 200000 && !bad; i++) {
		__atomic_store_n(&rt_h.head, 0, __ATOMIC_RELAXED);
		long got = ring_get(&r, &out, sizeof out);
		/* what a handler reads (m->h.len) is what was checked and returned */
		bad = got != 59 && got != 64 ? 1 : out.h.len != (uint32_t)got ? 2 : 0;
	}
	__atomic_store_n(&rt_stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	ck_assert_int_eq(bad, 0);
}
END_TEST

Suite *ring_unit_suite(void)
{
	Suite *s = suite_create("ring-unit");
	TCase *tc = tcase_create("ring-unit");
	tcase_add_test(tc, test_records_come_out_whole_and_in_order_across_the_end);
	tcase_add_test(tc, test_counts_past_32_bits_change_nothing);
	tcase_add_test(tc, test_a_full_ring_refuses_and_takes_again_once_read);
	tcase_add_test(tc, test_a_record_not_of_ours_is_refused);
	tcase_add_test(tc, test_the_sleeping_flag_wakes_once_per_sleep);
	tcase_add_test(tc, test_a_ring_half_unread_wakes_the_reader_once_until_it_reads);
	tcase_add_test(tc, test_a_record_changed_while_read_comes_out_as_checked);
	suite_add_tcase(s, tc);
	return s;
}
