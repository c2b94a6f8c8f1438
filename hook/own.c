/*
 * hook/own.c — the program's own changes of files: an open for writing, a rename, a
 * removal, a truncate of a path that may be watched is said to the monitor before the
 * system call (so the monitor knows of it before the inotify event can come), and its
 * return after. Runs inside the user's program, in whatever thread changes the file;
 * called by the interposers (interpose.c).
 *
 * The monitor counts what follows on that path as the session's own until the change is
 * complete (the last close of a file opened for writing; the return of the others), and
 * a later different state as an edit (monitor/own.c). Never waits for an answer; the
 * lock is not held across the program's call (a FIFO opened for writing may block until
 * another thread of ours opens it for reading).
 */
#include "hook.h"
#include "peer.h"

#include <errno.h>
#include <unistd.h>

static uint32_t own_next; /* under hk_lock() */

/* Under the lock: says that this process is about to change abs (n bytes). */
static uint32_t own_say(struct fm_own *m, size_t n, uint32_t what)
{
	if (!conn_may_talk() || !candidate_hints_allow(m->path, n))
		return 0;
	uint32_t id = ++own_next ? own_next : ++own_next; /* never 0 */
	fm_init(&m->h, FM_OWN, (uint32_t)(offsetof(struct fm_own, path) + n + 1));
	m->id = id;
	m->what = what;
	return conn_send(m) == 0 ? id : 0;
}

uint32_t own_before_say(int dirfd, const char *path, uint32_t what)
{
	if (candidate_name_rejected(path))
		return 0; /* most changes end here */
	hk_busy = 1; /* before the lock, always (see hk_enter) */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	int saved = errno;
	uint32_t id = 0;
	struct fm_own m;
	int n = candidate_absolute(dirfd, path, m.path, sizeof m.path);
	/* Before the first HELLO the hints are unknown: own_say() checks them once known. */
	if (n > 0 && (!hk.configured || candidate_hints_allow(m.path, (size_t)n))) {
		hk_lock();
		id = own_say(&m, (size_t)n, what);
		hk_unlock();
	}
	errno = saved;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	hk_busy = 0;
	return id;
}

void own_done(uint32_t id, int ok)
{
	int saved = errno;
	if (!hk_enter())
		return;
	if (conn_may_talk()) {
		/* OWN_DONE has an empty path: the fixed part and its NUL */
		struct {
			struct fm_header h;
			uint32_t id, what;
			char path[8];
		} m = {.id = id, .what = ok ? 1u : 0u};
		fm_init(&m.h, FM_OWN_DONE, (uint32_t)(offsetof(struct fm_own, path) + 1));
		conn_send(&m);
	}
	hk_leave();
	errno = saved;
}
