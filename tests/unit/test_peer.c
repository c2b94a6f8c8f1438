/*
 * tests/unit/test_peer.c — the peer layer (common/peer.c): what every receiver of
 * forkmon's messages may rely on. Check suite "peer", in the unit suite.
 *
 * Each test sends datagrams over a SOCK_SEQPACKET socketpair, as the hook, monitor,
 * helper and client do, including ones no forkmon process would send.
 */
#include "peer.h"
#include "suites.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int sp[2];

static void pair_setup(void)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
}

static void pair_teardown(void)
{
	close(sp[0]);
	close(sp[1]);
}

/* Number of descriptors open in this process. */
static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

START_TEST(test_a_message_arrives_whole_with_its_descriptors)
{
	struct fm_helper_signal m = {0};
	fm_init(&m.h, FM_HELPER_SIGNAL, sizeof m);
	m.signo = 15;
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_eq(peer_send(sp[0], &m, &devnull, 1, 0), 0);
	union {
		struct fm_helper_signal s;
		char raw[1024];
	} in;
	int fds[PEER_MAX_FDS], nfds = -1;
	ck_assert_int_eq(peer_recv(sp[1], &in, sizeof in, fds, &nfds, 0), sizeof m);
	ck_assert_int_eq(in.s.signo, 15);
	ck_assert_int_eq(nfds, 1);
	struct stat a, b;
	ck_assert_int_eq(fstat(fds[0], &a), 0);
	ck_assert_int_eq(fstat(devnull, &b), 0);
	ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	ck_assert_int_eq(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	close(fds[0]);
	close(devnull);
}
END_TEST

/* Sends n raw bytes as one datagram (with a descriptor of /dev/null when with_fd), as
 * a process that is not forkmon's might, and returns what peer_recv makes of them. */
static ssize_t recv_raw(const void *bytes, size_t n, int with_fd)
{
	struct iovec iov = {.iov_base = (void *)bytes, .iov_len = n};
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(sizeof(int))];
	} cbuf;
	memset(&cbuf, 0, sizeof cbuf);
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (with_fd) {
		mh.msg_control = &cbuf;
		mh.msg_controllen = sizeof cbuf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	ck_assert_int_eq(sendmsg(sp[0], &mh, 0), (ssize_t)n);
	close(fd);
	char in[8192];
	int got[PEER_MAX_FDS], ngot = 0;
	return peer_recv(sp[1], in, sizeof in, got, &ngot, 0);
}

START_TEST(test_a_length_field_that_is_not_what_arrived_is_refused)
{
	struct fm_read m = {0};
	fm_init(&m.h, FM_READ, offsetof(struct fm_read, path) + 3);
	memcpy(m.path, "/a", 3);
	/* the header claims 100 bytes more than the datagram holds */
	m.h.len += 100;
	ck_assert_int_eq(recv_raw(&m, offsetof(struct fm_read, path) + 3, 0), PEER_BAD);
}
END_TEST

START_TEST(test_garbage_unknown_types_and_wrong_sizes_are_refused)
{
	const char junk[] = "GET / HTTP/1.0\r\n\r\n";
	ck_assert_int_eq(recv_raw(junk, sizeof junk, 0), PEER_BAD);
	struct fm_header h;
	fm_init(&h, 200, sizeof h); /* no such type */
	ck_assert_int_eq(recv_raw(&h, sizeof h, 0), PEER_BAD);
	struct fm_note n = {0};
	fm_init(&n.h, FM_NOTE, sizeof n);
	ck_assert_int_eq(recv_raw(&n, sizeof n - 4, 0), PEER_BAD); /* short */
	char big[sizeof n + 8] = {0};
	memcpy(big, &n, sizeof n);
	ck_assert_int_eq(recv_raw(big, sizeof big, 0), PEER_BAD); /* long */
	ck_assert_int_eq(recv_raw(&n, sizeof n, 0), sizeof n);     /* just right */
}
END_TEST

START_TEST(test_a_string_tail_must_end_in_nul)
{
	struct fm_read m = {0};
	size_t len = offsetof(struct fm_read, path) + 4;
	fm_init(&m.h, FM_READ, (uint32_t)len);
	memcpy(m.path, "/abc", 4); /* no NUL */
	ck_assert_int_eq(recv_raw(&m, len, 0), PEER_BAD);
	/* the shortest READ too */
	ck_assert_int_eq(recv_raw(&m, offsetof(struct fm_read, path) + 2, 0), PEER_BAD);
	memcpy(m.path, "/ab", 4);
	ck_assert_int_eq(recv_raw(&m, len, 0), (ssize_t)len);
	/* a refusal's message is a string too, whatever its size */
	struct fm_helper_error e;
	memset(&e, 'x', sizeof e);
	fm_init(&e.h, FM_HELPER_ERROR, sizeof e);
	ck_assert_int_eq(recv_raw(&e, sizeof e, 0), PEER_BAD);
	e.message[sizeof e.message - 1] = '\0';
	ck_assert_int_eq(recv_raw(&e, sizeof e, 0), (ssize_t)sizeof e);
}
END_TEST

START_TEST(test_another_version_is_told_apart_from_garbage)
{
	struct fm_hello_ok ok = {0};
	fm_init(&ok.h, FM_HELLO_OK, sizeof ok);
	ok.h.version = FM_VERSION + 1;
	ck_assert_int_eq(recv_raw(&ok, sizeof ok, 0), PEER_VERSION);
	/* even when it is larger than the receiver's buffer */
	char big[sizeof ok + 512] = {0};
	memcpy(big, &ok, sizeof ok);
	((struct fm_header *)big)->len = sizeof big;
	ck_assert_int_eq(peer_send(sp[0], big, NULL, 0, 0), 0);
	ck_assert_int_eq(peer_recv(sp[1], &ok, sizeof ok, NULL, NULL, 0), PEER_VERSION);
}
END_TEST

START_TEST(test_descriptors_of_a_refused_message_are_closed)
{
	int before = open_fds();
	const char junk[] = "not a message of ours";
	ck_assert_int_eq(recv_raw(junk, sizeof junk, 1), PEER_BAD);
	struct fm_note n = {0};
	fm_init(&n.h, FM_NOTE, sizeof n);
	/* a receiver that takes no descriptors: a message that brings one is refused */
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_eq(peer_send(sp[0], &n, &fd, 1, 0), 0);
	close(fd);
	ck_assert_int_eq(peer_recv(sp[1], &n, sizeof n, NULL, NULL, 0), PEER_BAD);
	ck_assert_int_eq(open_fds(), before);
}
END_TEST

START_TEST(test_end_of_file_and_nothing_waiting_are_not_messages)
{
	char in[64];
	ck_assert_int_eq(peer_recv(sp[1], in, sizeof in, NULL, NULL, MSG_DONTWAIT), PEER_ERROR);
	ck_assert_int_eq(errno, EAGAIN);
	close(sp[0]);
	sp[0] = open("/dev/null", O_RDONLY | O_CLOEXEC); /* for the teardown */
	ck_assert_int_eq(peer_recv(sp[1], in, sizeof in, NULL, NULL, 0), PEER_EOF);
}
END_TEST

START_TEST(test_recv_type_refuses_a_message_of_another_type)
{
	struct fm_note n = {0};
	fm_init(&n.h, FM_NOTE, sizeof n);
	ck_assert_int_eq(peer_send(sp[0], &n, NULL, 0, 0), 0);
	struct fm_hello_ok ok;
	ck_assert_int_eq(peer_recv_type(sp[1], &ok, sizeof ok, FM_HELLO_OK), PEER_BAD);
}
END_TEST

Suite *peer_suite(void)
{
	Suite *s = suite_create("peer");
	TCase *tc = tcase_create("peer");
	tcase_add_checked_fixture(tc, pair_setup, pair_teardown);
	tcase_add_test(tc, test_a_message_arrives_whole_with_its_descriptors);
	tcase_add_test(tc, test_a_length_field_that_is_not_what_arrived_is_refused);
	tcase_add_test(tc, test_garbage_unknown_types_and_wrong_sizes_are_refused);
	tcase_add_test(tc, test_a_string_tail_must_end_in_nul);
	tcase_add_test(tc, test_another_version_is_told_apart_from_garbage);
	tcase_add_test(tc, test_descriptors_of_a_refused_message_are_closed);
	tcase_add_test(tc, test_end_of_file_and_nothing_waiting_are_not_messages);
	tcase_add_test(tc, test_recv_type_refuses_a_message_of_another_type);
	suite_add_tcase(s, tc);
	return s;
}
