/*
 * watcher/inotify.c — the session's one inotify instance, drained by a watcher thread.
 *
 * libinotifytools (3.22) owns the instance: its descriptor, its wd <-> name table and
 * an internal event buffer, all global and unlocked. So:
 *
 *  - every call into the library happens under watcher_lock;
 *  - the thread sleeps in poll() on the library's descriptor (which the library does not
 *    expose: we find it in /proc/self/fd) and on a wake pipe, never inside the library;
 *    awake, it drains with inotifytools_next_events(0, 1) — a timeout of 0 is the
 *    non-blocking call there, while inotifytools_next_event(0) means "wait forever";
 *  - records are formatted under the lock into a shared buffer, and sent over the
 *    SOCK_SEQPACKET pair only after the lock is released, so a slow main loop can stall
 *    the thread (backpressure) but never watcher_add_dir().
 *
 * The bookkeeping of the library's table and of live watches is in inotify_table.c.
 *
 * The records of a directory's own end: IN_DELETE_SELF then IN_IGNORED; a watched
 * directory moved away gives IN_MOVE_SELF then IN_IGNORED (we drop that watch, whose
 * path we no longer know). After IN_Q_OVERFLOW, watches whose IN_IGNORED was lost get
 * one too (watcher_resync()). IN_IGNORED always means: no longer watched.
 *
 * Ownership: watcher_stop() closes both ends of the socketpair, including the
 * descriptor watcher_start() returned; the caller must not close it.
 */
#include "inotify_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <inotifytools/inotifytools.h>

pthread_mutex_t watcher_lock = PTHREAD_MUTEX_INITIALIZER;

struct watcher_state watcher = {
	.ino_fd = -1,
	.sock = { -1, -1 },
	.wake = { -1, -1 },
};

/* ---- records ---- */

void watcher_push(uint32_t mask, const char *path, size_t plen)
{
	struct watcher_buf *b = &watcher.pending;
	uint32_t wire = (uint32_t)(WATCHER_HDR + plen);
	size_t need = sizeof wire + wire;

	if (b->lost)
		return; /* keep order: nothing after the gap until the overflow record is out */
	if (b->nrec >= WATCHER_PENDING_MAX) {
		b->lost = 1;
		return;
	}
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *p;

		while (cap < b->len + need)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p) {
			/* Out of memory is reported like any other loss: by IN_Q_OVERFLOW. */
			b->lost = 1;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, &wire, sizeof wire);
	memcpy(b->data + b->len + sizeof wire, &mask, sizeof mask);
	memcpy(b->data + b->len + sizeof wire + WATCHER_HDR, path, plen);
	b->len += need;
	b->nrec++;
}

/* Queues {mask, "dir/name"} for the watch libinotifytools calls libname ("dir/" for a
 * directory, "dir" for a symlink to one); name empty: the event is on dir itself. */
void watcher_queue(uint32_t mask, const char *libname, const char *name)
{
	char path[PATH_MAX];
	size_t dlen = strlen(libname), nlen = strlen(name), len;

	if (dlen > 1 && libname[dlen - 1] == '/')
		dlen--; /* "dir/" -> "dir"; the root stays "/" */
	len = dlen + (nlen && !(dlen == 1 && libname[0] == '/')) + nlen;
	if (len >= sizeof path) {
		/* Not representable in struct fsevent: say something was missed rather than
		 * report a truncated, wrong path. */
		watcher_push(IN_Q_OVERFLOW, "", 0);
		return;
	}
	memcpy(path, libname, dlen);
	if (nlen) {
		size_t at = dlen;

		if (!(dlen == 1 && libname[0] == '/'))
			path[at++] = '/';
		memcpy(path + at, name, nlen);
	}
	watcher_push(mask, path, len);
}

static void watcher_handle(const struct inotify_event *ev)
{
	const char *name;

	if (ev->mask & IN_Q_OVERFLOW) {
		watcher_push(IN_Q_OVERFLOW, "", 0);
		watcher_resync();
		return;
	}
	/* Not live: the IN_IGNORED of a watch we dropped ourselves (IN_MOVE_SELF,
	 * watcher_resync()), or an event left from a previous instance (wds restart at 1):
	 * nothing the main loop has not been told. */
	if (!watcher_live_has(ev->wd))
		return;
	name = inotifytools_filename_from_wd(ev->wd);
	if (!name)
		return;
	watcher_queue(ev->mask, name, ev->len ? ev->name : "");
	if (ev->mask & IN_IGNORED) {
		watcher_retire(ev->wd, name);
	} else if (ev->mask & IN_MOVE_SELF) {
		/* The watch follows the directory to a path we do not know, and would report
		 * its events under the old one. Drop it and say so; the main loop re-adds the
		 * path if it still cares. The kernel's IN_IGNORED that follows is skipped. */
		inotify_rm_watch(watcher.ino_fd, ev->wd);
		watcher_queue(IN_IGNORED, name, "");
		watcher_retire(ev->wd, name);
	}
}

/* Handles up to limit waiting events; with watcher_lock held. */
static void watcher_drain(size_t limit)
{
	struct inotify_event *ev;
	size_t n;

	for (n = 0; n < limit; n++) {
		/* Timeout 0: select() with a zero timeout, returns NULL when nothing waits. */
		ev = inotifytools_next_events(0, 1);
		if (!ev) {
			watcher.more = 0;
			return;
		}
		watcher_handle(ev);
	}
	watcher.more = 1;
}

/* ---- the thread ---- */

static void watcher_kick(void)
{
	/* A full pipe already wakes the thread: EAGAIN is fine. */
	while (write(watcher.wake[1], "", 1) < 0 && errno == EINTR)
		;
}

static void watcher_unkick(void)
{
	char buf[64];

	for (;;) {
		ssize_t n = read(watcher.wake[0], buf, sizeof buf);

		if (n > 0 || (n < 0 && errno == EINTR))
			continue;
		return;
	}
}

/* Sends one datagram, waiting (stoppably) while the main loop's queue is full. */
static int watcher_send_one(const void *dgram, size_t len)
{
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = watcher.sock[1], .events = POLLOUT },
			{ .fd = watcher.wake[0], .events = POLLIN },
		};

		if (send(watcher.sock[1], dgram, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1; /* EPIPE: nobody will read any more */
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return -1;
		if (p[1].revents) {
			/* Also eats watcher_add_dir()'s kicks: watcher_main() looks at pending
			 * before it sleeps again. */
			watcher_unkick();
			if (atomic_load(&watcher.stopping))
				return -1;
		}
	}
}

static int watcher_send(const struct watcher_buf *b)
{
	size_t off = 0;

	while (off < b->len) {
		uint32_t wire;

		memcpy(&wire, b->data + off, sizeof wire);
		if (watcher_send_one(b->data + off + sizeof wire, wire) < 0)
			return -1;
		off += sizeof wire + wire;
	}
	if (b->lost) {
		uint32_t mask = IN_Q_OVERFLOW;

		return watcher_send_one(&mask, sizeof mask);
	}
	return 0;
}

static void *watcher_main(void *arg)
{
	struct watcher_buf out = { 0 };

	(void)arg;
	while (!atomic_load(&watcher.stopping)) {
		struct pollfd p[2] = {
			{ .fd = watcher.ino_fd, .events = POLLIN },
			{ .fd = watcher.wake[0], .events = POLLIN },
		};
		struct watcher_buf t;
		int busy;

		/* Work may be waiting where poll() cannot see it: records queued by
		 * watcher_add_dir() while we were sending (its kick may have been eaten), or
		 * events left in the library's buffer by a drain that stopped early. */
		pthread_mutex_lock(&watcher_lock);
		busy = watcher.more || watcher.pending.nrec || watcher.pending.lost;
		pthread_mutex_unlock(&watcher_lock);
		if (poll(p, 2, busy ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((p[0].revents | p[1].revents) & POLLNVAL)
			break;
		if (p[1].revents)
			watcher_unkick();
		if (atomic_load(&watcher.stopping))
			break;

		pthread_mutex_lock(&watcher_lock);
		watcher_drain(WATCHER_DRAIN_MAX);
		/* Take the records; the emptied buffer (and its memory) becomes pending. */
		t = watcher.pending;
		watcher.pending = out;
		watcher.pending.len = watcher.pending.nrec = 0;
		watcher.pending.lost = 0;
		out = t;
		atomic_store(&watcher.inflight, out.nrec > 0 || out.lost);
		pthread_mutex_unlock(&watcher_lock);

		int sent = watcher_send(&out);
		atomic_store(&watcher.inflight, 0);
		if (sent < 0)
			break;
	}
	/* If we stopped on an error, the main loop reads end-of-file: "thread gone". */
	shutdown(watcher.sock[1], SHUT_WR);
	free(out.data);
	return NULL;
}

/* ---- the API ---- */

/* The kernel's queue limit. (inotifytools_get_max_queued_events() reads a file that does
 * not exist, max_queued_watches, and returns -1.) */
static size_t watcher_queue_max(void)
{
	FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "re");
	long n = -1;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n > 0 ? (size_t)n : 65536;
}

int watcher_start(void)
{
	sigset_t all, old;
	int fd, err, flags;

	if (watcher.running) {
		errno = EBUSY;
		return -1;
	}
	fd = watcher_find_fd();
	if (fd < 0)
		return -1;
	if (fd >= FD_SETSIZE) {
		/* The library would abort in FD_SET() on its first read. */
		inotifytools_cleanup();
		errno = EMFILE;
		return -1;
	}
	/* The library opens it with inotify_init(), inheritable: programs we never meant to
	 * share the instance with would hold it (and its watches) open. */
	flags = fcntl(fd, F_GETFD);
	if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
		goto fail_lib;
	watcher.ino_fd = fd;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, watcher.sock) < 0)
		goto fail_lib;
	if (pipe2(watcher.wake, O_CLOEXEC | O_NONBLOCK) < 0)
		goto fail_sock;

	watcher.nlive = 0;
	watcher.more = 0;
	watcher.add_drain = watcher_queue_max() + WATCHER_LIB_EVENTS + 1;
	watcher.pending.len = watcher.pending.nrec = 0;
	watcher.pending.lost = 0;
	atomic_store(&watcher.stopping, 0);

	/* The thread must not take the process's signals: the main loop handles them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&watcher.thread, NULL, watcher_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		errno = err;
		goto fail_pipe;
	}
	watcher.running = 1;
	return watcher.sock[0];

fail_pipe:
	err = errno;
	close(watcher.wake[0]);
	close(watcher.wake[1]);
	watcher.wake[0] = watcher.wake[1] = -1;
	errno = err;
fail_sock:
	err = errno;
	close(watcher.sock[0]);
	close(watcher.sock[1]);
	watcher.sock[0] = watcher.sock[1] = -1;
	errno = err;
fail_lib:
	err = errno;
	inotifytools_cleanup();
	watcher.ino_fd = -1;
	errno = err;
	return -1;
}

int watcher_add_dir(const char *dir)
{
	char clean[PATH_MAX], key[PATH_MAX];
	size_t len;
	int wd, err = 0, kick;

	if (!watcher.running || !dir || dir[0] != '/') {
		errno = EINVAL;
		return -1;
	}
	len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	if (len + 2 > sizeof clean) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(clean, dir, len);
	clean[len] = '\0';
	/* The library's key for a directory: "dir/" (the root is "/" already). */
	memcpy(key, clean, len + 1);
	if (len > 1) {
		key[len] = '/';
		key[len + 1] = '\0';
	}

	pthread_mutex_lock(&watcher_lock);
	/* Let waiting IN_IGNORED / IN_MOVE_SELF update the table first: a directory deleted
	 * and re-created just now must not be mistaken for the one we watch. For a
	 * directory, rmdir() and rename() queue those events before they return, so they
	 * are at most a full kernel queue plus the library's buffer away, even when the
	 * thread is stalled on a slow main loop; past the kernel's limit an IN_Q_OVERFLOW
	 * stands for them, and watcher_resync() finds what they said. Normally the queue
	 * is empty and this returns at once. */
	watcher_drain(watcher.add_drain);
	wd = watcher_lookup(clean, key);
	if (wd < 0 || !watcher_live_has(wd)) {
		/* Ask the kernel first: for a directory it already watches (one we watch
		 * under another path, through a symlink or a bind mount) it returns that wd,
		 * and we leave the library alone, because it would allocate an entry, find the
		 * old one and leak the new. Such a directory stays one watch, reported under
		 * the path it was first added with. */
		wd = inotify_add_watch(watcher.ino_fd, clean, WATCHER_MASK);
		if (wd < 0) {
			err = errno; /* ENOENT, ENOTDIR, EACCES, ENOSPC (the watch limit)... */
		} else if (!watcher_live_has(wd)) {
			/* New: let the library name it (the kernel hands it the same wd). If
			 * that fails, drop the kernel watch: its events would have no name. */
			if (!inotifytools_watch_file(clean, WATCHER_MASK)) {
				err = inotifytools_error() > 0 ? inotifytools_error() : EIO;
				inotify_rm_watch(watcher.ino_fd, wd);
			} else if (watcher_live_add(wd) < 0) {
				const char *name = inotifytools_filename_from_wd(wd);

				err = ENOMEM;
				inotify_rm_watch(watcher.ino_fd, wd);
				if (name)
					watcher_retire(wd, name);
			}
		}
	}
	kick = watcher.pending.nrec || watcher.pending.lost || watcher.more;
	pthread_mutex_unlock(&watcher_lock);
	if (kick)
		watcher_kick();
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

int watcher_read(int fd, struct fsevent *ev)
{
	ssize_t n;

	do
		n = recv(fd, ev, sizeof *ev, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	if (n == 0)
		return -1; /* end-of-file: the thread is gone (records are never empty) */
	if ((size_t)n < WATCHER_HDR || (size_t)n >= sizeof *ev) {
		errno = EPROTO;
		return -1;
	}
	ev->path[n - WATCHER_HDR] = '\0';
	return 1;
}

int watcher_busy(void)
{
	int n = 0;
	if (watcher.ino_fd >= 0 && ioctl(watcher.ino_fd, FIONREAD, &n) == 0 && n > 0)
		return 1;
	pthread_mutex_lock(&watcher_lock);
	int busy = watcher.more || watcher.pending.nrec || watcher.pending.lost || atomic_load(&watcher.inflight);
	pthread_mutex_unlock(&watcher_lock);
	return busy;
}

int watcher_count(void)
{
	int n;

	pthread_mutex_lock(&watcher_lock);
	n = (int)watcher.nlive;
	pthread_mutex_unlock(&watcher_lock);
	return n;
}

void watcher_stop(void)
{
	size_t i;

	if (!watcher.running)
		return;
	atomic_store(&watcher.stopping, 1);
	watcher_kick();
	pthread_join(watcher.thread, NULL);

	pthread_mutex_lock(&watcher_lock);
	/* libinotifytools buffers events in static storage that inotifytools_cleanup() does
	 * not reset: leftovers would come out of the next instance (measured). Empty it.
	 * Removing the kernel watches first makes the stream end (with their IN_IGNORED). */
	for (i = 0; i < watcher.nlive; i++)
		inotify_rm_watch(watcher.ino_fd, watcher.live[i]);
	for (i = 0; i < WATCHER_DISCARD_MAX && inotifytools_next_events(0, 1); i++)
		;
	inotifytools_cleanup();
	watcher.ino_fd = -1;
	free(watcher.live);
	watcher.live = NULL;
	watcher.nlive = watcher.caplive = 0;
	free(watcher.pending.data);
	memset(&watcher.pending, 0, sizeof watcher.pending);
	watcher.more = 0;
	pthread_mutex_unlock(&watcher_lock);

	close(watcher.sock[0]);
	close(watcher.sock[1]);
	close(watcher.wake[0]);
	close(watcher.wake[1]);
	watcher.sock[0] = watcher.sock[1] = watcher.wake[0] = watcher.wake[1] = -1;
	watcher.running = 0;
}
