/*
 * tests/fuzz/fuzz_peer.c — hook→monitor messages as the monitor receives them: any
 * datagram, with or without descriptors, through peer_recv() over a real SOCK_SEQPACKET
 * pair, into a buffer the size of monitor/conn.c's (or a large one, or none for fds).
 * What peer_recv() returns as a message must be one every receiver may read without
 * further checks (peer.h); nothing received is leaked.
 *
 * Input: byte 0 says how (bits 0-3: descriptors attached, up to 10 (more than peer.c
 * takes); bit 4: the receiver takes no descriptors, as the monitor's connections; bit 5:
 * a large buffer; bit 6: put a correct magic, version and length in the header), the
 * rest is the datagram.
 */
#include "fuzz.h"
#include "fuzz_msg.h"
#include "peer.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int sp[2] = {-1, -1};
static char rbuf[FM_MSG_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (sp[0] < 0) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
			abort();
		int big = 2 * FM_MSG_MAX;
		setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
		setsockopt(sp[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	}
	if (size < 2 || size > FM_MSG_MAX)
		return 0;
	int before = fuzz_open_fds();
	int nfds = data[0] & 15, nofds = data[0] & 16, large = data[0] & 32;
	if (nfds > 10)
		nfds = 10;
	size_t len = size - 1;
	char *msg = malloc(len);
	FUZZ_CHECK(msg != NULL);
	memcpy(msg, data + 1, len);
	if ((data[0] & 64) && len >= sizeof(struct fm_header)) {
		struct fm_header *h = (void *)msg;
		h->magic = FM_MAGIC;
		h->version = FM_VERSION;
		h->len = (uint32_t)len;
	}
	int fds[10];
	for (int i = 0; i < nfds; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct iovec iov = {.iov_base = msg, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(10 * sizeof(int))];
	} cb;
	if (nfds) {
		memset(&cb, 0, sizeof cb);
		mh.msg_control = &cb;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	FUZZ_CHECK(sendmsg(sp[0], &mh, MSG_DONTWAIT) == (ssize_t)len);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	/* monitor/conn.c's buffer: a READ and a little more */
	size_t cap = large ? sizeof rbuf : sizeof(struct fm_read) + 64;
	int got[PEER_MAX_FDS], ngot = -1;
	ssize_t n = peer_recv(sp[1], rbuf, cap, nofds ? NULL : got, nofds ? NULL : &ngot, MSG_DONTWAIT);
	FUZZ_CHECK(n == PEER_BAD || n == PEER_VERSION || n > 0);
	if (n > 0) {
		fuzz_peer_check(rbuf, n, cap);
		FUZZ_CHECK(nofds ? nfds == 0 : ngot == nfds);
	} else if (!nofds) {
		FUZZ_CHECK(ngot == 0);
	}
	if (n == PEER_VERSION)
		FUZZ_CHECK(((struct fm_header *)rbuf)->magic == FM_MAGIC);
	for (int i = 0; !nofds && i < ngot; i++)
		close(got[i]);
	free(msg);
	FUZZ_CHECK(fuzz_open_fds() == before);
	return 0;
}
