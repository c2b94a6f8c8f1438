/*
 * watcher/inotify.h — the session's one inotify instance, in a watcher thread.
 *
 * Runs in the monitor. libinotifytools keeps global state and is not thread-safe, so
 * every call into it is serialised by one mutex: the watcher thread holds it only while
 * it drains events (never while blocked waiting for them), and watcher_add_dir() takes it
 * from the main thread, so a watch is in place when watcher_add_dir() returns.
 *
 * Only directories are watched: a directory watch survives the renames editors save
 * with, sees deletions and re-creations, and one watch serves every file in it. The
 * thread turns each inotify event into a record {mask, absolute path of the entry}
 * and sends it over a SOCK_SEQPACKET socketpair whose other end the main loop polls.
 *
 * watcher_start() must be called before the monitor opens many descriptors:
 * libinotifytools uses select() and aborts when its descriptor is >= 1024. Its
 * descriptor is made close-on-exec (the library leaves it inheritable).
 */
#ifndef FORKMON_INOTIFY_H
#define FORKMON_INOTIFY_H

#include <limits.h>
#include <stdint.h>

struct fsevent {
	uint32_t mask;       /* IN_* bits of the event; IN_Q_OVERFLOW: events were lost */
	char path[PATH_MAX]; /* "dir/name" for an entry, "dir" for the directory itself */
};

/* Initialises libinotifytools and starts the thread. Returns the descriptor the main
 * loop polls (readable when records wait; non-blocking, close-on-exec), or -1. */
int watcher_start(void);

/* Watches directory dir (absolute, no trailing slash). Idempotent. Returns 0, or -1 with
 * errno (ENOSPC: the kernel's watch limit is reached; ENOENT...). */
int watcher_add_dir(const char *dir);

/* Reads one record. Returns 1 (ev filled), 0 (nothing waiting), -1 (thread gone). */
int watcher_read(int fd, struct fsevent *ev);

/* 1 while file-system events are on their way: in the kernel's queue, or in the
 * thread, not yet readable with watcher_read(). */
int watcher_busy(void);

/* Number of directories watched. */
int watcher_count(void);

/* Stops the thread and releases the instance. */
void watcher_stop(void);

#endif
