/*
 * hook/conn.c — this process's connection to the monitor: opening it, HELLO, notes.
 * Runs inside the user's program; called by decide.c (under hk_lock()), by ckpt.c (the
 * checkpoint's own control connection) and by start.c (bare mode waits in HELLO).
 *
 * Every message goes through common/peer.h, which checks magic, version, length and
 * type; here only what HELLO_OK means is checked. What needs no answer goes through the
 * connection's ring (common/ring.h), mapped here from HELLO_OK's memfd: a read told costs
 * the program no system call (a sendmsg was ~3 us, and the monitor's recvmsg as much).
 */
#include "hook.h"
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
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

void conn_adopt(int fd)
{
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, CONN_FD_MIN);
	if (hi >= 0) {
		close(fd);
		fd = hi;
	}
	struct stat st;
	hk.given_fd = fstat(fd, &st) == 0 ? real_raw_high(fd, 1) : -1;
	hk.given_ino = st.st_ino;
	hk.given_pid = getpid();
}

/* The connection given by RESUME, when this process is the one it was given to (a
 * child forked since shares it with us: not its to read) and it is still ours (a
 * helper's program may close every descriptor it did not open before its first read:
 * the number may be one of its own files by now). */
static int conn_take_given(void)
{
	int fd = hk.given_fd;
	hk.given_fd = -1;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_ino != hk.given_ino)
		return -1; /* not ours any more: nothing of ours to close */
	if (hk.given_pid != getpid()) {
		close(fd); /* our copy of the descriptor only */
		return -1;
	}
	return fd;
}

void conn_give_up(void)
{
	if (hk.fd >= 0)
		close(hk.fd);
	hk.fd = -1;
	hk.dead = 1;
}

/* The ring of the memfd HELLO_OK brought (closed here): mapped into *r, or r->h NULL. */
static void conn_map_ring(int memfd, struct ring *r)
{
	r->h = NULL;
	void *p = mmap(NULL, FM_RING_DATA + FM_RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	close(memfd);
	if (p == MAP_FAILED)
		return;
	r->h = p;
	r->data = (unsigned char *)p + FM_RING_DATA;
	r->size = FM_RING_BYTES;
}

/* HELLO on a new connection fd: 0 with the monitor's answer in *ok and its ring in *r
 * (r->h NULL: none), or -1. A monitor of another version says so in its answer's header
 * (PEER_VERSION) or in its status. */
static int conn_hello(int fd, uint32_t hello_flags, int answered, struct fm_hello_ok *ok, struct ring *r)
{
	struct fm_hello m = {0};
	fm_init(&m.h, FM_HELLO, sizeof m);
	m.flags = hello_flags;
	r->h = NULL;
	if (!answered && peer_send(fd, &m, NULL, 0, 0) < 0)
		return -1;
	int fds[PEER_MAX_FDS], nfds = 0;
	ssize_t n = peer_recv(fd, ok, sizeof *ok, fds, &nfds, 0);
	if (n > 0 && ok->h.type != FM_HELLO_OK)
		n = PEER_BAD;
	if (n > 0 && ok->status == FM_OK && (ok->flags & FM_CFG_RING) && nfds == 1)
		conn_map_ring(fds[0], r);
	else
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
	if (n == PEER_VERSION || (n > 0 && ok->status == FM_ERR_VERSION)) {
		hk_say("this hook and the monitor are of different versions; not watching");
		return -1;
	}
	if (n <= 0 || ok->status != FM_OK) {
		if (r->h)
			munmap(r->h, FM_RING_DATA + FM_RING_BYTES);
		r->h = NULL;
		return -1;
	}
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
	int given = conn_take_given();
	int fd = given >= 0 ? given : conn_open();
	if (fd < 0) {
		conn_give_up();
		return -1;
	}
	struct fm_hello_ok ok;
	struct stat st;
	struct ring r;
	if (conn_hello(fd, hello_flags, given >= 0, &ok, &r) < 0 || fstat(fd, &st) < 0) {
		if (r.h)
			munmap(r.h, FM_RING_DATA + FM_RING_BYTES);
		close(fd);
		conn_give_up();
		return -1;
	}
	/* a ring mapped before is another process's (our parent's, or the checkpoint's we
	 * were resumed from): gone from our memory, theirs keeps it */
	if (hk.ring.h)
		munmap(hk.ring.h, FM_RING_DATA + FM_RING_BYTES);
	hk.ring = r;
	hk.ring_pid = hk.pid;
	hk.ring_woken_head = RING_NEVER_WOKEN;
	hk.cfg = ok;
	spacing_reconfigured(&hk.spacing);
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

static int conn_send_socket(const void *m)
{
	if (peer_send(hk.fd, m, NULL, 0, 0) < 0) {
		conn_give_up();
		return -1;
	}
	return 0;
}

static int conn_ring_try(const void *m);

/* Everything that gets no answer goes through the ring while there is one (the monitor
 * reads the ring before each message of the socket: a message on the socket after a
 * record in the ring would overtake it). */
int conn_send(const void *m)
{
	const struct fm_read *r = m;
	int ask = r->h.type == FM_READ && !(r->flags & FM_READ_NO_REPLY);
	if (!ask && conn_ring_try(m) == 0)
		return 0;
	return conn_send_socket(m);
}

void conn_note(int kind, int value)
{
	struct fm_note n = {0};
	fm_init(&n.h, FM_NOTE, sizeof n);
	n.kind = kind;
	n.value = value;
	if (conn_ring_try(&n) < 0)
		peer_send(hk.fd, &n, NULL, 0, 0); /* a note lost is no reason to stop watching */
}

/* Is this process's ring there to write? (The monitor closes it with the connection.) */
static int conn_ring_usable(void)
{
	return hk.ring.h && hk.ring_pid == hk.pid && hk.fd >= 0 && hk.fd_pid == hk.pid &&
	       !__atomic_load_n(&hk.ring.h->closed, __ATOMIC_ACQUIRE);
}

/*
 * conn_may_tell's pid check, without a system call at each told read: a word on a page
 * that the kernel empties in every forked child (MADV_WIPEONFORK), holding the pid that
 * getpid() confirmed in this process. A child forked without the fork handlers (a raw
 * clone) finds it empty and asks getpid(), which no longer matches hk.pid. A vfork child
 * shares it, as it shares all our memory (hk, the cache, the ring): its reads are told
 * as its parent's, under the same lock, while the parent waits for its exec.
 */
static pid_t *conn_pid_word;

void conn_pid_word_init(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	if (madvise(p, 4096, MADV_WIPEONFORK) < 0) {
		munmap(p, 4096);
		return;
	}
	conn_pid_word = p;
}

static int conn_pid_is_ours(void)
{
	pid_t *w = conn_pid_word;
	if (w && hk.pid > 0 && __atomic_load_n(w, __ATOMIC_RELAXED) == hk.pid)
		return 1;
	pid_t p = getpid();
	if (p != hk.pid)
		return 0;
	if (w)
		__atomic_store_n(w, p, __ATOMIC_RELAXED);
	return 1;
}

int conn_may_tell(void)
{
	if (hk.dead || !conn_pid_is_ours())
		return 0;
	return conn_ring_usable() || conn_ready(0) == 0;
}

/* The monitor sleeps: a RING_WAKE on the socket (checked as every send is). */
static int conn_ring_wake(void)
{
	if (conn_ready(0) < 0)
		return -1;
	struct fm_header w;
	fm_init(&w, FM_RING_WAKE, sizeof w);
	return conn_send_socket(&w);
}

/* The ring is full: the monitor is behind (or asleep, or gone). Waits for room as a full
 * socket would: 0 when there is room, -1 when the ring is closed or the monitor gone. */
static int conn_ring_wait(const void *m, uint32_t len)
{
	struct timespec nap = {0, 50000};
	for (int i = 0;; i++) {
		if (__atomic_load_n(&hk.ring.h->closed, __ATOMIC_ACQUIRE))
			return -1;
		if (ring_put(&hk.ring, m, len) == 0)
			return 0;
		if (i % 64 == 0) {
			/* asleep with the flag cleared by a writer before us: wake it again */
			if (conn_ring_wake() < 0)
				return -1;
			char c;
			if (recv(hk.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
				return -1; /* the monitor is gone */
		}
		nanosleep(&nap, NULL);
	}
}

/* m into the ring: 0, or -1 when it must go on the socket (no ring, closed, or closed
 * before the monitor could have read it: then said again, twice at worst, which costs
 * nothing). */
static int conn_ring_try(const void *m)
{
	uint32_t len = ((const struct fm_header *)m)->len;
	if (!conn_ring_usable() || (ring_put(&hk.ring, m, len) < 0 && conn_ring_wait(m, len) < 0))
		return -1;
	/* asleep, or napping with half the ring unread (monitor/conn.c): wake it */
	if ((ring_wake_wanted(&hk.ring) || ring_half_full(&hk.ring, &hk.ring_woken_head)) && conn_ring_wake() < 0)
		return 0; /* the hook gave up */
	return __atomic_load_n(&hk.ring.h->closed, __ATOMIC_SEQ_CST) ? -1 : 0;
}

int conn_tell_ring(const void *m)
{
	return conn_ring_try(m);
}

int conn_tell(const void *m)
{
	if (conn_ring_try(m) == 0)
		return 0;
	if (hk.dead || conn_ready(0) < 0)
		return -1;
	return conn_send_socket(m);
}

void conn_drop_ring(void)
{
	if (hk.ring.h)
		munmap(hk.ring.h, FM_RING_DATA + FM_RING_BYTES);
	hk.ring.h = NULL;
}
