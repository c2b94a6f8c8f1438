/*
 * watcher/inotify_int.h — what the two halves of the watcher share (not a contract:
 * watcher/inotify.h is). Runs in the monitor, in its main thread and the watcher thread.
 *
 * inotify.c: the records, the thread and the API; inotify_table.c: the set of live watch
 * descriptors, the library's name table (retiring dead entries, resync after an
 * overflow) and finding the library's descriptor. Everything below marked "under
 * watcher_lock" is touched only with that mutex held.
 */
#ifndef FORKMON_INOTIFY_INT_H
#define FORKMON_INOTIFY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/inotify.h>

#include "inotify.h"

/* What a directory watch asks for. IN_IGNORED, IN_Q_OVERFLOW, IN_UNMOUNT and IN_ISDIR
 * come without asking. IN_ONLYDIR: a path that turned into a file is refused (ENOTDIR)
 * instead of being watched as a file. */
#define WATCHER_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | \
	IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

/* Events handled per drain by the thread: bounds how long it holds the lock in an event
 * storm (it comes back at once for the rest). */
#define WATCHER_DRAIN_MAX 1024

/* Events libinotifytools can hold in its own buffer: it reads at most 4096 struct
 * inotify_event's worth of bytes, and an event takes at least that much. */
#define WATCHER_LIB_EVENTS 4096

/* Records waiting for the socket. Past this the main loop is not keeping up: further
 * records are dropped and replaced by one IN_Q_OVERFLOW record, as the kernel does. */
#define WATCHER_PENDING_MAX 8192

/* Upper bound on events thrown away when stopping (see watcher_stop()). */
#define WATCHER_DISCARD_MAX 1000000

/* Bytes of a record before its path, on the wire and in struct fsevent. */
#define WATCHER_HDR offsetof(struct fsevent, path)

/* Records formatted but not yet sent: each is a uint32_t length, then that many bytes
 * of datagram (the mask, then the path without its NUL). */
struct watcher_buf {
	char *data;
	size_t len, cap;
	size_t nrec;
	int lost; /* records were dropped: an IN_Q_OVERFLOW record goes after the rest */
};


extern pthread_mutex_t watcher_lock;

struct watcher_state {
	int running;
	int ino_fd;   /* libinotifytools' descriptor, found by watcher_find_fd() */
	int sock[2];  /* [0] the main loop's end, [1] the thread's */
	int wake[2];  /* [1] written to wake the thread, [0] polled by it */
	atomic_int stopping;
	pthread_t thread;
	/* Under watcher_lock: */
	int *live;    /* watch descriptors in force, sorted */
	size_t nlive, caplive;
	struct watcher_buf pending;
	int more;     /* a drain stopped early: events may wait in the library's buffer,
	               * where poll() cannot see them */
	size_t add_drain; /* see watcher_add_dir() */
	atomic_int inflight; /* the thread holds records it has not handed over yet */
};

extern struct watcher_state watcher;

/* inotify.c: queues a record {mask, "dir/name"} (under watcher_lock). */
void watcher_push(uint32_t mask, const char *path, size_t plen);
void watcher_queue(uint32_t mask, const char *libname, const char *name);

/* inotify_table.c, all under watcher_lock but watcher_find_fd(): */
int watcher_live_has(int wd);
int watcher_live_add(int wd);
void watcher_live_del(int wd);
void watcher_retire(int wd, const char *libname);
void watcher_resync(void);
int watcher_lookup(const char *dir, const char *key);
int watcher_find_fd(void);

#endif
