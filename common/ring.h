/*
 * common/ring.h — a connection's ring (include/forkmon_proto.h, struct fm_ring): one
 * writer (the hook, under its lock), one reader (the monitor). Pure: no system call, no
 * allocation; the hook and the monitor map the memory, this only moves the indices.
 * libc only (the hook links it).
 */
#ifndef FORKMON_RING_H
#define FORKMON_RING_H

#include "forkmon_proto.h"

#include <stddef.h>
#include <stdint.h>

/* A mapping of a ring: the header, and size bytes of data (a multiple of 8). */
struct ring {
	struct fm_ring *h;
	unsigned char *data;
	uint32_t size;
};

/* Appends the message msg (len bytes, its header's len): 0, or -1 when there is no room
 * now (the reader has not caught up) or it can never fit. Publishes the new tail. */
int ring_put(const struct ring *r, const void *msg, uint32_t len);

/* Takes the next record into out (cap bytes): its length (> 0); 0 when the ring is
 * empty; -1 when the record is malformed (not a message of ours, or bounds broken: the
 * reader stops using the ring). The room is given back before returning. */
long ring_get(const struct ring *r, void *out, size_t cap);

/* Has the writer published something the reader has not taken? */
int ring_pending(const struct ring *r);

/* Writer, after ring_put: 1 when the reader sleeps and must be woken (the flag is then
 * cleared: one wake-up per sleep). */
int ring_wake_wanted(const struct ring *r);

/* Writer, after ring_put: 1 when more than half the ring waits for the reader, and the
 * reader took nothing since the last time this said so (*woken_head: the head then;
 * RING_NEVER_WOKEN to start with). The reader may be between two naps, which no flag
 * shows: a wake-up then keeps a burst of records from filling the ring. */
#define RING_NEVER_WOKEN UINT64_MAX
int ring_half_full(const struct ring *r, uint64_t *woken_head);

/* Reader, before it sleeps: 1 when it may sleep (the flag is set, and nothing arrived
 * meanwhile); 0 when something is pending (the flag is cleared again). */
int ring_may_sleep(const struct ring *r);
/* Reader, awake: the writer need not wake it. */
void ring_awake(const struct ring *r);

#endif
