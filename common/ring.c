/*
 * common/ring.c — the indices of a connection's ring (see ring.h and forkmon_proto.h).
 * Run by the hook inside the user's program (ring_put, ring_wake_wanted) and by the
 * monitor (the rest). head and tail count bytes for ever (64 bits do not wrap); a
 * record's place is the count modulo the size. Memory order: a record is written, then
 * its tail published (release); the reader reads the tail (acquire), copies the record,
 * then publishes its head (release), before which the writer never reuses the room.
 * The sleeping flag is the classic pair of a store and a load on each side with a full
 * fence between: either the writer sees the reader asleep, or the reader sees the record.
 */
#include "ring.h"

#include "peer.h"

#include <string.h>

static uint32_t ring_align(uint32_t n)
{
	return (n + 7u) & ~7u;
}

int ring_put(const struct ring *r, const void *msg, uint32_t len)
{
	uint32_t need = ring_align(len);
	if (len < sizeof(struct fm_header) || need > r->size / 2)
		return -1;
	uint64_t tail = r->h->tail; /* ours alone */
	uint64_t head = __atomic_load_n(&r->h->head, __ATOMIC_ACQUIRE);
	uint32_t off = (uint32_t)(tail % r->size), skip = 0;
	if (off + need > r->size)
		skip = r->size - off; /* to the end: a wrap marker there, the record at 0 */
	if (tail + skip + need - head > r->size)
		return -1;
	if (skip) {
		struct fm_header w = {0};
		w.type = FM_RING_WRAP;
		memcpy(r->data + off, &w, sizeof w);
		off = 0;
	}
	memcpy(r->data + off, msg, len);
	__atomic_store_n(&r->h->tail, tail + skip + need, __ATOMIC_RELEASE);
	return 0;
}

int ring_pending(const struct ring *r)
{
	return __atomic_load_n(&r->h->tail, __ATOMIC_ACQUIRE) != __atomic_load_n(&r->h->head, __ATOMIC_RELAXED);
}

/* What a ring carries: every message that gets no answer (an ask, HELLO and RING_WAKE
 * go on the socket). All but NOTE end in a path. */
static int ring_type_ok(int type)
{
	return type == FM_READ || type == FM_READ_AGAIN || type == FM_OWN || type == FM_OWN_DONE || type == FM_NOTE;
}

/* Is the record hd of n bytes (the room up to the end) one of ours? */
static int ring_valid(const struct fm_header *hd, uint32_t room, size_t cap)
{
	size_t min, max;
	if (hd->magic != FM_MAGIC || hd->version != FM_VERSION || hd->len > room || hd->len > cap ||
	    !ring_type_ok(hd->type) || peer_size_bounds(hd->type, &min, &max) < 0)
		return 0;
	return hd->len >= min && hd->len <= max; /* and a path ends in its NUL: ring_get */
}

long ring_get(const struct ring *r, void *out, size_t cap)
{
	/* ours, but shared: the writer can store anything in it; read once, as the tail */
	uint64_t head = __atomic_load_n(&r->h->head, __ATOMIC_RELAXED);
	uint64_t tail = __atomic_load_n(&r->h->tail, __ATOMIC_ACQUIRE);
	if (tail == head)
		return 0;
	if (tail < head || tail - head > r->size || (tail - head) % 8 || head % 8)
		return -1;
	uint32_t off = (uint32_t)(head % r->size);
	struct fm_header hd;
	memcpy(&hd, r->data + off, sizeof hd);
	if (hd.type == FM_RING_WRAP && hd.magic == 0) {
		uint32_t skip = r->size - off;
		if (tail - head < skip + sizeof hd)
			return -1; /* a marker comes with the record after it */
		head += skip;
		off = 0;
		memcpy(&hd, r->data, sizeof hd);
	}
	uint32_t room = (uint32_t)(tail - head < r->size - off ? tail - head : r->size - off);
	if (!ring_valid(&hd, room, cap))
		return -1;
	memcpy(out, r->data + off, hd.len);
	memcpy(out, &hd, sizeof hd); /* the writer may have changed it since: the header checked */
	if (hd.type != FM_NOTE && ((const char *)out)[hd.len - 1] != '\0')
		return -1;
	__atomic_store_n(&r->h->head, head + ring_align(hd.len), __ATOMIC_RELEASE);
	return (long)hd.len;
}

int ring_wake_wanted(const struct ring *r)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&r->h->sleeping, __ATOMIC_RELAXED))
		return 0;
	return __atomic_exchange_n(&r->h->sleeping, 0, __ATOMIC_ACQ_REL) != 0;
}

int ring_half_full(const struct ring *r, uint64_t *woken_head)
{
	uint64_t head = __atomic_load_n(&r->h->head, __ATOMIC_ACQUIRE);
	uint64_t tail = r->h->tail; /* ours alone */
	if (tail - head <= r->size / 2 || head == *woken_head)
		return 0;
	*woken_head = head;
	return 1;
}

int ring_may_sleep(const struct ring *r)
{
	__atomic_store_n(&r->h->sleeping, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!ring_pending(r))
		return 1;
	__atomic_store_n(&r->h->sleeping, 0, __ATOMIC_RELAXED);
	return 0;
}

void ring_awake(const struct ring *r)
{
	if (__atomic_load_n(&r->h->sleeping, __ATOMIC_RELAXED))
		__atomic_store_n(&r->h->sleeping, 0, __ATOMIC_RELAXED);
}
