/*
 * tests/fuzz/fuzz_msg.h — what every receiver of a hook's message relies on, once the
 * decoder (peer_recv in fuzz_peer.c, ring_get in fuzz_ring.c) has returned it: the
 * header, the size for its type, the strings' ends. Shared by the fuzz targets.
 */
#ifndef FORKMON_FUZZ_MSG_H
#define FORKMON_FUZZ_MSG_H

#include "fuzz.h"
#include "peer.h"

#include <string.h>
#include <sys/types.h>

/* What a receiver relies on in a message the decoder returned (n bytes, into cap). */
static inline void fuzz_peer_check(const char *m, ssize_t n, size_t cap)
{
	const struct fm_header *h = (const void *)m;
	size_t min, max;
	FUZZ_CHECK((size_t)n <= cap && (size_t)n >= sizeof *h);
	FUZZ_CHECK(h->magic == FM_MAGIC && h->version == FM_VERSION && h->len == (uint32_t)n);
	FUZZ_CHECK(peer_size_bounds(h->type, &min, &max) == 0 && (size_t)n >= min && (size_t)n <= max);
	switch (h->type) {
	case FM_READ:
	case FM_READ_AGAIN: {
		/* monitor/conn.c: strlen(m->path), path[0] */
		size_t off = offsetof(struct fm_read, path);
		FUZZ_CHECK(strnlen(m + off, (size_t)n - off) < (size_t)n - off);
		break;
	}
	case FM_OWN:
	case FM_OWN_DONE: {
		/* monitor/own.c: the path */
		size_t off = offsetof(struct fm_own, path);
		FUZZ_CHECK(strnlen(m + off, (size_t)n - off) < (size_t)n - off);
		break;
	}
	case FM_HELPER_ERROR: {
		size_t off = offsetof(struct fm_helper_error, message);
		FUZZ_CHECK(strnlen(m + off, (size_t)n - off) < (size_t)n - off);
		break;
	}
	case FM_HELPER_RUN:
	case FM_RESUME:
		if ((size_t)n > min)
			FUZZ_CHECK(m[n - 1] == '\0');
		break;
	}
}

#endif
