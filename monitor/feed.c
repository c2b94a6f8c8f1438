/*
 * monitor/feed.c — the session's stdin, the same for every copy. Runs in the monitor's
 * event loop; called by monitor.c (set-up), spawn.c (a run from the beginning), conn.c
 * (a checkpoint's position) and run.c (a resumed run's descriptor).
 *
 * A pipe (or a socket, a FIFO: anything that is not a terminal and cannot seek) is read
 * once: a copy that read it would leave nothing for the next. So the monitor reads it
 * and keeps every byte, and each run gets a pipe of its own, fed from the start (a run
 * from the beginning) or from where its checkpoint stood (a resumed run). That position
 * is taken when the checkpoint is granted: the run is then waiting for our answer, so
 * what it has consumed (what we wrote into its pipe minus what is still unread: FIONREAD
 * on our copy of the read end) cannot move before it forks. What a program read ahead
 * into its own buffers is in the checkpoint's memory, so each copy gets every byte once.
 * The real stdin's end is passed on in order: a run's pipe closes once it has been given
 * every byte that came before the end. Bytes are read on demand, when the run's pipe has
 * taken all we had: memory is what the program consumed plus a pipe's worth.
 *
 * At most FEED_MAX bytes are kept: past them the copies see stdin end there, and one
 * line says so. A regular file (or /dev/null) keeps its own offsets: the hook restores
 * a checkpoint's (hook/offsets.c), and a run from the beginning starts where the session
 * did. A terminal is left alone. Only `forkmon run` feeds; bare mode's first run holds
 * the real stdin before the monitor exists, and helper mode's runs have their client's.
 */
#include "session.h"

#include "out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define FEED_MAX (64u << 20)
#define FEED_CHUNK 65536

static struct {
	int mode; /* 0 nothing to do, 1 fed through pipes, 2 a file: offset restored */
	off_t file_off;
	char *buf;
	size_t len, cap;
	int eof;
	int wfd, rfd; /* the current run's pipe: our write end, our copy of its read end */
	size_t off;   /* next byte of buf for wfd */
	int in_on, out_on; /* registered in the loop */
} D = {.wfd = -1, .rfd = -1};

void feed_init(void)
{
	int fl = fcntl(0, F_GETFL);
	if (S.o->serve_fd >= 0 || S.o->listen_fd >= 0 || fl < 0 || (fl & O_ACCMODE) == O_WRONLY || isatty(0))
		return;
	off_t o = lseek(0, 0, SEEK_CUR);
	if (o >= 0) {
		D.mode = 2;
		D.file_off = o;
		return;
	}
	D.mode = 1;
}

static void feed_on_in(struct loop *l, int fd, unsigned events, void *arg);
static void feed_on_out(struct loop *l, int fd, unsigned events, void *arg);

/* Stdin is read only while the run's pipe has taken everything; the pipe is watched only
 * while it is full. */
static void feed_watch(void)
{
	int want_in = D.wfd >= 0 && !D.eof && D.off == D.len;
	int want_out = D.wfd >= 0 && D.off < D.len;
	if (want_in != D.in_on) {
		if (want_in)
			want_in = loop_add(S.loop, 0, LOOP_IN, PRIO_WATCHER, feed_on_in, NULL) == 0;
		else
			loop_del(S.loop, 0);
		D.in_on = want_in;
	}
	if (want_out != D.out_on) {
		if (want_out)
			want_out = loop_add(S.loop, D.wfd, LOOP_OUT, PRIO_OUT, feed_on_out, NULL) == 0;
		else
			loop_del(S.loop, D.wfd);
		D.out_on = want_out;
	}
}

/* Writes what the run's pipe takes; closes it after the last byte once stdin ended. */
static void feed_pump(void)
{
	while (D.wfd >= 0 && D.off < D.len) {
		ssize_t n = write(D.wfd, D.buf + D.off, D.len - D.off);
		if (n > 0)
			D.off += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else
			break; /* full (EAGAIN): feed_on_out goes on */
	}
	if (D.wfd >= 0 && D.eof && D.off == D.len) {
		if (D.out_on)
			loop_del(S.loop, D.wfd);
		D.out_on = 0;
		close(D.wfd); /* the end of stdin, in order */
		D.wfd = -1;
	}
	feed_watch();
}

static void feed_on_in(struct loop *l, int fd, unsigned events, void *arg)
{
	S.dirty = 1;
	if (D.cap - D.len < FEED_CHUNK) {
		size_t cap = D.cap ? D.cap * 2 : 4 * FEED_CHUNK;
		char *b = cap <= FEED_MAX + FEED_CHUNK ? realloc(D.buf, cap) : NULL;
		if (b) {
			D.buf = b;
			D.cap = cap;
		}
	}
	size_t room = D.cap - D.len;
	if (D.len + room > FEED_MAX)
		room = D.len < FEED_MAX ? FEED_MAX - D.len : 0;
	ssize_t n = room ? read(0, D.buf + D.len, room < FEED_CHUNK ? room : FEED_CHUNK) : 0;
	if (n > 0)
		D.len += (size_t)n;
	else if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	else {
		if (n == 0 && !room)
			out_error("stdin: more than %u MiB came; forkmon keeps no more, and every copy sees it end there", FEED_MAX >> 20);
		D.eof = 1;
	}
	feed_pump();
}

static void feed_on_out(struct loop *l, int fd, unsigned events, void *arg)
{
	S.dirty = 1;
	feed_pump();
}

static void feed_close(void)
{
	if (D.wfd >= 0) {
		if (D.out_on)
			loop_del(S.loop, D.wfd);
		close(D.wfd);
	}
	int unread = 0;
	if (D.rfd >= 0 && ioctl(D.rfd, FIONREAD, &unread) == 0 && unread > 0) {
		/* what the gone run left unread would stay in the kernel as long as a
		 * checkpoint holds the other copy of this end: read it (nobody else can) */
		char sink[4096];
		while (unread > 0) {
			ssize_t n = read(D.rfd, sink, unread < (int)sizeof sink ? (size_t)unread : sizeof sink);
			if (n <= 0)
				break;
			unread -= (int)n;
		}
	}
	if (D.rfd >= 0)
		close(D.rfd);
	D.wfd = D.rfd = -1;
	D.out_on = 0;
}

/* A new run's stdin, fed from byte off: the read end (ours; the caller passes it on),
 * -1 when stdin is not fed (or no pipe could be made: the run gets ours). */
int feed_pipe(uint64_t off)
{
	if (D.mode == 2 && off == 0)
		lseek(0, D.file_off, SEEK_SET); /* a run from the beginning: where we started */
	if (D.mode != 1)
		return -1;
	feed_close(); /* the last run's pipe: the run is gone, nobody reads it */
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fcntl(p[1], F_SETFL, O_NONBLOCK); /* the write end alone: the program's end blocks */
	D.rfd = p[0];
	D.wfd = p[1];
	D.off = off <= D.len ? (size_t)off : D.len;
	feed_pump();
	return D.rfd;
}

/* How far the run has consumed its stdin: asked while it waits for our answer. */
uint64_t feed_consumed(void)
{
	int unread = 0;
	if (D.mode != 1 || D.rfd < 0 || ioctl(D.rfd, FIONREAD, &unread) < 0)
		return D.off;
	return D.off >= (size_t)unread ? D.off - (size_t)unread : 0;
}

int feed_active(void)
{
	return D.mode == 1;
}
