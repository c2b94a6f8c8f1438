/*
 * common/peer.h — the one way forkmon's messages (include/forkmon_proto.h) are sent
 * and received: by the hook, the monitor, the helper and the client alike.
 *
 * libc only, no allocation: the hook uses it inside the user's program. Every message
 * is one datagram of a SOCK_SEQPACKET socket, with descriptors attached (SCM_RIGHTS)
 * where the vocabulary says so. peer_recv() checks what every receiver must check —
 * magic, version, that the length field is what arrived, that the type is known and
 * its size within the type's bounds, that a message ending in a string ends in NUL —
 * so a receiver only checks what its own message means.
 */
#ifndef FORKMON_PEER_H
#define FORKMON_PEER_H

#include "forkmon_proto.h"

#include <stddef.h>
#include <sys/types.h>

enum { PEER_MAX_FDS = 8 };

/* What peer_recv() returns besides a length (> 0). */
enum {
	PEER_EOF = 0,      /* the other end closed */
	PEER_ERROR = -1,   /* see errno; EAGAIN: nothing waiting (MSG_DONTWAIT) */
	PEER_BAD = -2,     /* not a message of ours, or malformed: its descriptors are closed */
	PEER_VERSION = -3, /* a well-formed header of another version (buf holds it) */
};

/* Sends the message (msg's header filled by fm_init: h.len bytes) with nfds
 * descriptors. flags: 0 or MSG_DONTWAIT (MSG_NOSIGNAL is implied). Retries on EINTR.
 * Returns 0, or -1 with errno (a short send is EMSGSIZE). */
int peer_send(int fd, const void *msg, const int *fds, int nfds, int flags);

/* Receives one message into buf (cap bytes) with its descriptors (close-on-exec):
 * up to PEER_MAX_FDS into fds, their number in *nfds (fds may be NULL: then any
 * descriptor that comes is closed, and a message that brings some is PEER_BAD).
 * flags: 0 or MSG_DONTWAIT. Retries on EINTR. */
ssize_t peer_recv(int fd, void *buf, size_t cap, int *fds, int *nfds, int flags);

/* Blocks for one message of type want (anything else: PEER_BAD). No descriptors. */
ssize_t peer_recv_type(int fd, void *buf, size_t cap, enum fm_type want);

/* Tells a helper client why it is not served (HELPER_ERROR, without waiting): it runs
 * the command itself. */
void peer_refuse(int fd, const char *why);

/* Tells a helper client its command runs (HELPER_STARTED, without waiting): from then
 * on it never runs the command itself. */
void peer_started(int fd, int pid);

/* The bounds of a message of this type: 0, or -1 when the type is unknown. */
int peer_size_bounds(int type, size_t *min, size_t *max);

/* Words for a peer_recv() result that is not a message (for error lines). */
const char *peer_why(ssize_t r);

#endif
