/* common/peer.c — sending, receiving and checking messages (see peer.h). libc only. */
#include "peer.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int peer_size_bounds(int type, size_t *min, size_t *max)
{
	size_t lo, hi;
	switch (type) {
	case FM_HELLO:
		lo = hi = sizeof(struct fm_hello);
		break;
	case FM_HELLO_OK:
		lo = hi = sizeof(struct fm_hello_ok);
		break;
	case FM_READ:
	case FM_READ_AGAIN:
		lo = offsetof(struct fm_read, path) + 2; /* at least "/" */
		hi = sizeof(struct fm_read);
		break;
	case FM_OWN:
		lo = offsetof(struct fm_own, path) + 2;
		hi = sizeof(struct fm_own);
		break;
	case FM_OWN_DONE:
		lo = hi = offsetof(struct fm_own, path) + 1;
		break;
	case FM_RING_WAKE:
		lo = hi = sizeof(struct fm_header);
		break;
	case FM_READ_REPLY:
		lo = hi = sizeof(struct fm_read_reply);
		break;
	case FM_NOTE:
		lo = hi = sizeof(struct fm_note);
		break;
	case FM_CKPT_REGISTER:
		lo = hi = sizeof(struct fm_ckpt_register);
		break;
	case FM_CKPT_PID:
	case FM_RESUMED:
	case FM_SPARE_PID:
	case FM_HELPER_STARTED:
		lo = hi = sizeof(struct fm_pid);
		break;
	case FM_RESUME:
		lo = offsetof(struct fm_resume, data);
		hi = FM_MSG_MAX;
		break;
	case FM_HELPER_RUN:
		lo = offsetof(struct fm_helper_run, data);
		hi = FM_MSG_MAX;
		break;
	case FM_HELPER_SIGNAL:
		lo = hi = sizeof(struct fm_helper_signal);
		break;
	case FM_HELPER_EXIT:
		lo = hi = sizeof(struct fm_helper_exit);
		break;
	case FM_HELPER_CTL:
		lo = hi = sizeof(struct fm_helper_ctl);
		break;
	case FM_HELPER_TEXT: /* at least its NUL */
		lo = offsetof(struct fm_helper_text, text) + 1;
		hi = FM_MSG_MAX;
		break;
	case FM_HELPER_ERROR: /* its message is its tail: at least its NUL */
		lo = offsetof(struct fm_helper_error, message) + 1;
		hi = sizeof(struct fm_helper_error);
		break;
	default:
		return -1;
	}
	*min = lo;
	*max = hi;
	return 0;
}

/* Does this message end in a NUL-terminated string? READ, READ_AGAIN, OWN, OWN_DONE and HELPER_ERROR
 * always do (their minimum size includes the string); RESUME and HELPER_RUN do when
 * they carry strings at all (beyond their fixed part). */
static int ends_in_string(int type, size_t n, size_t min)
{
	if (type == FM_READ || type == FM_READ_AGAIN || type == FM_HELPER_ERROR || type == FM_OWN ||
	    type == FM_OWN_DONE || type == FM_HELPER_TEXT)
		return 1;
	return (type == FM_RESUME || type == FM_HELPER_RUN) && n > min;
}

int peer_send(int fd, const void *msg, const int *fds, int nfds, int flags)
{
	const struct fm_header *h = msg;
	struct iovec iov = {.iov_base = (void *)msg, .iov_len = h->len};
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(PEER_MAX_FDS * sizeof(int))];
	} cbuf;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds < 0 || nfds > PEER_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (nfds > 0) {
		memset(&cbuf, 0, sizeof cbuf);
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
		w = sendmsg(fd, &mh, MSG_NOSIGNAL | flags);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -1;
	if ((size_t)w != h->len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/* Takes the descriptors that came with a message: into fds, or closed. */
static int take_fds(struct msghdr *mh, int *fds, int *nfds)
{
	int n = 0, extra = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + (size_t)i * sizeof(int), sizeof fd);
			if (fds && n < PEER_MAX_FDS) {
				fds[n++] = fd;
			} else {
				close(fd);
				extra = 1;
			}
		}
	}
	if (nfds)
		*nfds = n;
	return extra;
}

static void close_fds(int *fds, int *nfds)
{
	for (int i = 0; fds && nfds && i < *nfds; i++)
		close(fds[i]);
	if (nfds)
		*nfds = 0;
}

ssize_t peer_recv(int fd, void *buf, size_t cap, int *fds, int *nfds, int flags)
{
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(PEER_MAX_FDS * sizeof(int))];
	} cbuf;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cbuf, .msg_controllen = sizeof cbuf};
	ssize_t n;
	if (nfds)
		*nfds = 0;
	do
		n = recvmsg(fd, &mh, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? PEER_ERROR : PEER_EOF;
	int extra = take_fds(&mh, fds, nfds);
	const struct fm_header *h = buf;
	size_t min, max;
	/* Another version first: its messages may be of another size (even truncated). */
	if ((size_t)n >= sizeof *h && h->magic == FM_MAGIC && h->version != FM_VERSION) {
		close_fds(fds, nfds);
		return PEER_VERSION;
	}
	if ((size_t)n < sizeof *h || h->magic != FM_MAGIC || h->len != (uint32_t)n ||
	    (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || extra) {
		close_fds(fds, nfds);
		return PEER_BAD;
	}
	if (peer_size_bounds(h->type, &min, &max) < 0 || (size_t)n < min || (size_t)n > max ||
	    (ends_in_string(h->type, (size_t)n, min) && ((const char *)buf)[n - 1] != '\0')) {
		close_fds(fds, nfds);
		return PEER_BAD;
	}
	return n;
}

ssize_t peer_recv_type(int fd, void *buf, size_t cap, enum fm_type want)
{
	ssize_t n = peer_recv(fd, buf, cap, NULL, NULL, 0);
	if (n > 0 && ((const struct fm_header *)buf)->type != want)
		return PEER_BAD;
	return n;
}

void peer_refuse(int fd, const char *why)
{
	struct fm_helper_error e;
	memset(&e, 0, sizeof e);
	fm_init(&e.h, FM_HELPER_ERROR, sizeof e);
	size_t l = strlen(why);
	if (l > sizeof e.message - 1)
		l = sizeof e.message - 1;
	memcpy(e.message, why, l); /* a prefix of a longer reason: still one line */
	peer_send(fd, &e, NULL, 0, MSG_DONTWAIT);
}

void peer_started(int fd, int pid)
{
	struct fm_pid m;
	memset(&m, 0, sizeof m);
	fm_init(&m.h, FM_HELPER_STARTED, sizeof m);
	m.pid = pid;
	peer_send(fd, &m, NULL, 0, MSG_DONTWAIT);
}

const char *peer_why(ssize_t r)
{
	switch (r) {
	case PEER_EOF:
		return "the connection closed";
	case PEER_BAD:
		return "a malformed message";
	case PEER_VERSION:
		return "a message of another version of forkmon";
	default:
		return r < 0 ? strerror(errno) : "a message";
	}
}
