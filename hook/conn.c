/*
 * hook/conn.c — this process's connection to the monitor: opening it, HELLO, notes.
 * Runs inside the user's program; called by decide.c (under hk_lock()), by ckpt.c (the
 * checkpoint's own control connection) and by start.c (bare mode waits in HELLO).
 *
 * Every message goes through common/peer.h, which checks magic, version, length and
 * type; here only what HELLO_OK means is checked.
 */
#include "hook.h"
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { CONN_FD_MIN = 900 }; /* keep our sockets out of the way of the program's fds */

int conn_open(void)
{
	int s = (int)syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&hk.addr, hk.addrlen) < 0) {
		close(s);
		return -1;
	}
	int hi = fcntl(s, F_DUPFD_CLOEXEC, CONN_FD_MIN);
	if (hi >= 0) {
		close(s);
		s = hi;
	}
	return real_raw_high(s, 1); /* a low limit of descriptors: at least not 0-2 */
}

void conn_give_up(void)
{
	if (hk.fd >= 0)
		close(hk.fd);
	hk.fd = -1;
	hk.dead = 1;
}

/* HELLO on a new connection fd: 0 with the monitor's answer in *ok, or -1. A monitor of
 * another version says so in its answer's header (PEER_VERSION) or in its status. */
static int conn_hello(int fd, uint32_t hello_flags, struct fm_hello_ok *ok)
{
	struct fm_hello m = {0};
	fm_init(&m.h, FM_HELLO, sizeof m);
	m.flags = hello_flags;
	if (peer_send(fd, &m, NULL, 0, 0) < 0)
		return -1;
	ssize_t r = peer_recv_type(fd, ok, sizeof *ok, FM_HELLO_OK);
	if (r == PEER_VERSION || (r > 0 && ok->status == FM_ERR_VERSION)) {
		hk_say("this hook and the monitor are of different versions; not watching");
		return -1;
	}
	if (r <= 0 || ok->status != FM_OK)
		return -1;
	return 0;
}

int conn_ready(uint32_t hello_flags)
{
	if (hk.fd >= 0 && hk.fd_pid == hk.pid) {
		struct stat st;
		if (fstat(hk.fd, &st) == 0 && st.st_ino == hk.fd_ino)
			return 0;
		hk.fd = -1; /* the program closed or reused it: not ours to close */
	}
	int fd = conn_open();
	if (fd < 0) {
		conn_give_up();
		return -1;
	}
	struct fm_hello_ok ok;
	struct stat st;
	if (conn_hello(fd, hello_flags, &ok) < 0 || fstat(fd, &st) < 0) {
		close(fd);
		conn_give_up();
		return -1;
	}
	hk.cfg = ok;
	look_configure();
	hk.configured = 1;
	hk.fd = fd;
	hk.fd_ino = st.st_ino;
	hk.fd_pid = hk.pid;
	return 0;
}

/* Not in a vfork child: it shares our memory and has not run the fork handlers, so it
 * still sees its parent's pid in hk.pid. */
int conn_may_talk(void)
{
	return getpid() == hk.pid && !hk.dead && conn_ready(0) == 0;
}

int conn_send(const void *m)
{
	if (peer_send(hk.fd, m, NULL, 0, 0) < 0) {
		conn_give_up();
		return -1;
	}
	return 0;
}

void conn_note(int kind, int value)
{
	struct fm_note n = {0};
	fm_init(&n.h, FM_NOTE, sizeof n);
	n.kind = kind;
	n.value = value;
	peer_send(hk.fd, &n, NULL, 0, 0); /* a note lost is no reason to stop watching */
}
