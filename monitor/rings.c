/*
 * monitor/rings.c — the rings of the session's connections (include/forkmon_proto.h,
 * struct fm_ring; common/ring.h moves the indices): made at HELLO, ended with the
 * connection. Runs in the monitor; called by conn.c.
 *
 * One memfd per connection, shared with the process that said HELLO: no file name, no
 * cleanup after a crash. Its pages are touched only as records come (256 KiB of room,
 * some 2500 reads told ahead of the monitor).
 */
#include "session.h"

#include <sys/mman.h>
#include <unistd.h>

enum { RINGS_MAP = FM_RING_DATA + FM_RING_BYTES };

int conn_ring_make(struct ring *r)
{
	r->h = NULL;
	int fd = memfd_create("forkmon-ring", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	void *p = ftruncate(fd, RINGS_MAP) == 0 ? mmap(NULL, RINGS_MAP, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
						 : MAP_FAILED;
	if (p == MAP_FAILED) {
		close(fd);
		return -1; /* the connection goes on without one: every read on the socket */
	}
	r->h = p; /* zero: empty, awake, open */
	r->data = (unsigned char *)p + FM_RING_DATA;
	r->size = FM_RING_BYTES;
	return fd;
}

void conn_ring_free(struct ring *r)
{
	if (!r->h)
		return;
	__atomic_store_n(&r->h->closed, 1, __ATOMIC_SEQ_CST);
	munmap(r->h, RINGS_MAP);
	r->h = NULL;
}
