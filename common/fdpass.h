/*
 * common/fdpass.h — one message with descriptors attached (SCM_RIGHTS), both ways.
 *
 * Header-only and libc-only, so the hook can use it too. Used for the helper's
 * requests (client → helper → session) and for RESUME with a client's descriptors
 * (session → checkpoint).
 */
#ifndef FORKMON_FDPASS_H
#define FORKMON_FDPASS_H

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { FM_MAX_FDS = 8 };

/* Sends len bytes of buf with nfds descriptors. Returns what sendmsg returns. */
static inline ssize_t fm_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(FM_MAX_FDS * sizeof(int))];
	} cbuf;
	memset(&cbuf, 0, sizeof cbuf);
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds > 0) {
		mh.msg_control = &cbuf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	ssize_t w;
	do
		w = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return w;
}

/* Receives one message into buf and up to FM_MAX_FDS descriptors (close-on-exec).
 * Returns what recvmsg returns; *nfds tells how many descriptors came. */
static inline ssize_t fm_recv_fds(int sock, void *buf, size_t cap, int *fds, int *nfds, int flags)
{
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(FM_MAX_FDS * sizeof(int))];
	} cbuf;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cbuf, .msg_controllen = sizeof cbuf};
	ssize_t n;
	do
		n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	*nfds = 0;
	if (n < 0)
		return n;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + (size_t)i * sizeof(int), sizeof fd);
			if (*nfds < FM_MAX_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

#endif
