/*
 * tests/fuzz/fuzz_ring.c — a connection's ring as the monitor reads it (common/ring.c;
 * monitor/conn.c's conn_drain and conn_before_wait): the header and the data are shared
 * memory the user's program writes, so any bytes, indices included. What ring_get()
 * returns must be a message every handler may read without further checks (fuzz_msg.h),
 * of a type a ring carries, within the buffer; nothing is read outside the mapping (the
 * data is a heap block of exactly its size: ASan sees a byte past it); a refused record
 * gives nothing back (the head stays); the reader's loop ends (a record takes 8 bytes at
 * least, so at most size / 8 of them before the ring is empty or refused).
 *
 * Input: bytes 0-1 the data's size (8 to 4096 bytes, a multiple of 8, as the ring's);
 * byte 2 how (bit 0: the monitor's buffer, else a large one; bit 1: the reader was
 * asleep, ring_may_sleep first; bit 2: both indices moved by a multiple of the size to near 2^32, or with bit 3 near
 * 2^64's end);
 * bytes 3-18 head and tail (little endian, 64 bits each); the rest is the data (zeros
 * after it).
 */
#include "fuzz.h"
#include "fuzz_msg.h"
#include "ring.h"

#include <string.h>

enum { FR_IN = 19, FR_MAX = 4096 };

static char fr_out[FM_MSG_MAX];

static uint64_t fr_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* One record the reader took: what every caller relies on. */
static void fr_check(const struct ring *r, long n, size_t cap, uint64_t head, uint64_t tail)
{
	const struct fm_header *h = (const void *)fr_out;
	fuzz_peer_check(fr_out, n, cap);
	FUZZ_CHECK(h->type == FM_READ || h->type == FM_READ_AGAIN || h->type == FM_OWN || h->type == FM_OWN_DONE ||
		   h->type == FM_NOTE);
	uint64_t now = r->h->head;
	FUZZ_CHECK(now > head && now <= tail && now % 8 == 0);
	FUZZ_CHECK(now - head >= (uint64_t)n && now - head < (uint64_t)n + r->size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < FR_IN)
		return 0;
	uint32_t dsize = 8u * (1u + (uint32_t)(data[0] | data[1] << 8) % (FR_MAX / 8));
	int how = data[2];
	struct fm_ring *h = calloc(1, sizeof *h);
	unsigned char *d = calloc(1, dsize);
	FUZZ_CHECK(h && d);
	h->head = fr_u64(data + 3);
	h->tail = fr_u64(data + 11);
	if (how & 4) { /* the same ring, its counts far on (a multiple of the size) */
		uint64_t far = how & 8 ? ~0ull - (1ull << 20) : (1ull << 32) - FR_MAX;
		far -= far % dsize;
		h->head += far;
		h->tail += far;
	}
	memcpy(d, data + FR_IN, size - FR_IN < dsize ? size - FR_IN : dsize);
	struct ring r = {.h = h, .data = d, .size = dsize};
	size_t cap = how & 1 ? sizeof(struct fm_read) + 64 : sizeof fr_out;
	if (how & 2) {
		int pending = ring_pending(&r);
		FUZZ_CHECK(ring_may_sleep(&r) == !pending);
		FUZZ_CHECK(h->sleeping == (uint32_t)!pending);
		ring_awake(&r);
		FUZZ_CHECK(h->sleeping == 0);
	}
	/* conn_drain: until empty (0) or refused (-1, the connection closes) */
	uint32_t taken = 0;
	for (;;) {
		uint64_t head = h->head, tail = h->tail;
		int pending = ring_pending(&r);
		FUZZ_CHECK(pending == (head != tail));
		long n = ring_get(&r, fr_out, cap);
		if (n == 0) {
			FUZZ_CHECK(!pending && h->head == head);
			FUZZ_CHECK(ring_may_sleep(&r) == 1); /* conn_before_wait: nothing left */
			ring_awake(&r);
			break;
		}
		if (n < 0) {
			FUZZ_CHECK(h->head == head); /* nothing given back */
			break;
		}
		fr_check(&r, n, cap, head, tail);
		FUZZ_CHECK(++taken <= dsize / 8);
	}
	free(d);
	free(h);
	return 0;
}
