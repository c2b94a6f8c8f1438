/*
 * hook/decide.c — the decision before and after each open. Runs inside the user's
 * program, in whatever thread opens; called by every interposer (interpose.c).
 *
 * Before a read-only open of a candidate (candidate.c) the hook asks the monitor whether
 * the path is watched; the monitor adds the watch before it answers, and may grant the
 * run a checkpoint, which is taken here, just before the open: a run resumed from it
 * returns from this very open and reads the new file.
 *
 * A read that wants no checkpoint (most of them: checkpoints are spaced by their cost)
 * is not waited for: it is reported right after the program's open, with what was
 * opened, and a name that does not exist costs nothing of ours.
 */
#include "hook.h"
#include "peer.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

/* A read reported once the program has opened the file: set in decide_before, taken by
 * decide_after in the same call of the same thread. One at a time (another thread
 * meanwhile reports before its open); not thread-local, so that the program's
 * thread-local page, written at every failed call (errno), does not grow: each page the
 * run writes after a fork is a page more per checkpoint. */
static struct {
	pthread_t owner; /* 0: free */
	/* raw: only the name as the program gave it (rel, against dirfd) is known yet; its
	 * absolute path and hash are made after the open, and only if it opened */
	int raw, dirfd;
	const char *rel;
	size_t n;
	uint64_t hash;
	struct fm_read m; /* its path; the rest is filled when it is told */
} pend;

void decide_fill(struct fm_read *m, int type, const char *p, size_t n, uint32_t flags)
{
	fm_init(&m->h, (enum fm_type)type, (uint32_t)(offsetof(struct fm_read, path) + n + 1));
	m->flags = flags;
	m->pad = 0;
	m->dev = m->ino = 0;
	m->size = m->mtime_ns = m->ctime_ns = 0;
	if (p != m->path)
		memcpy(m->path, p, n + 1);
}

void decide_fill_stat(struct fm_read *m, const struct stat *st)
{
	m->dev = st->st_dev;
	m->ino = st->st_ino;
	m->size = st->st_size;
	m->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	m->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/*
 * Every message below is built in the one struct fm_read whose path the caller made
 * (decide_before's, or for a deferred read pend's): a message of 4 kB on the stack is
 * a page more that the hook writes at every watched read, and so a page more that each
 * checkpoint keeps a copy of.
 */

/* Tells the monitor of a first read of m->path (length n) without waiting for its
 * answer, and remembers the path (slot s, hash h) as watched. */
static void decide_tell(struct cache_slot *s, struct fm_read *m, size_t n, uint64_t h, const struct stat *st)
{
	decide_fill(m, FM_READ, m->path, n, FM_READ_NO_REPLY);
	decide_fill_stat(m, st);
	if (conn_tell(m) == 0)
		cache_put(s, m->path, n, h, FM_WATCHED);
}

/* A read of a path this process already reported: never checkpointed (a change of it
 * resumes from before its first read; Lua opens every module twice), and said only when
 * the monitor keeps an events file. */
static void decide_reread(const struct cache_slot *s, struct fm_read *m, size_t n)
{
	if (s->verdict == FM_IGNORED || !(hk.cfg.flags & FM_CFG_REREADS) || !conn_may_tell())
		return;
	decide_fill(m, FM_READ_AGAIN, m->path, n, 0);
	conn_tell(m);
}

/* No checkpoint wanted here, and nothing to ask: the program opens first, and we report
 * what it opened (decide_after). A name that does not exist (a search path's misses)
 * then costs no system call of ours. */
static void decide_defer(const char *p, size_t n, uint64_t h)
{
	memcpy(pend.m.path, p, n + 1);
	pend.raw = 0;
	pend.n = n;
	pend.hash = h;
	pend.owner = pthread_self();
}

/*
 * The cheapest deferral, decided from the name alone: no checkpoint can be wanted now
 * whatever the path (spacing), the name is in no hot list (its last component is not
 * among HELLO_OK's hot_names), and the monitor does not want every new path asked.
 * Then nothing of ours runs before the open: the path is made and reported after it,
 * and only if the open worked. A search path's misses (6 of Lua's 8 names per module)
 * cost a suffix test: decide_quick below takes most such opens before the name checks,
 * and this is the same deferral for the names it leaves to the full path. Python
 * bytecode is never deferred so (its name is not its source's). Under hk_lock(); 1 when
 * deferred.
 */
static int decide_raw(int dirfd, const char *path, const char *last, size_t n)
{
	if (hk.cfg.flags & FM_CFG_ASK || pend.owner)
		return 0;
	if (n >= 4 && memcmp(last + n - 4, ".pyc", 4) == 0)
		return 0;
	if (hk.cfg.nhot && fm_name_in(hk.cfg.hot_names, last, n))
		return 0;
	if (ckpt_may_want(hk_now_ns()))
		return 0;
	pend.raw = 1;
	pend.dirfd = dirfd;
	pend.rel = path;
	pend.owner = pthread_self();
	return 1;
}

/*
 * decide_raw's case taken first, before any name arithmetic: a candidate's name, by its
 * last bytes, that may be deferred raw. Lua tries 8 names per module and opens 2, so
 * most candidates' opens fail, and this is all of ours they cost: the suffix test (the
 * verdict of candidate_name_rejected_n, which it leaves to the full path whenever it
 * cannot give it alone), the spacing bound, the pending slot. The name checks it skips
 * are made after the open, on the absolute path, and only if it opened. Returns 1 when
 * deferred, -1 to take the full path.
 */
__attribute__((noinline)) static int decide_quick(int dirfd, const char *path, size_t len)
{
	if ((hk.cfg.flags & FM_CFG_ASK) || hk.names_undecided || __atomic_load_n(&pend.owner, __ATOMIC_RELAXED))
		return -1;
	if (len >= 4 && memcmp(path + len - 4, ".pyc", 4) == 0)
		return -1;
	unsigned i, nh = hk.cfg.nhints < FM_MAX_HINTS ? hk.cfg.nhints : FM_MAX_HINTS;
	for (i = 0; i < nh; i++) {
		size_t l = hk.hint_suflen[i], k = 0;
		if (l > len)
			continue;
		const char *end = path + len - l, *suf = hk.cfg.hints[i].suffix;
		while (k < l && end[k] == suf[k]) /* a few bytes: no call */
			k++;
		if (k == l)
			break;
	}
	if (i == nh)
		return -1; /* no hint's suffix: the full path rejects it, or finds it undecided */
	if (hk.cfg.nhot) {
		const char *slash = memrchr(path, '/', len);
		const char *last = slash ? slash + 1 : path;
		if (fm_name_in(hk.cfg.hot_names, last, len - (size_t)(last - path)))
			return -1;
	}
	hk_busy = 1; /* before the lock, always (see hk_enter) */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	int saved = errno; /* the spacing rule may count faults (getrusage) */
	hk_lock();
	int deferred = !pend.owner && !ckpt_may_want(hk_now_ns());
	if (deferred) {
		pend.raw = 1;
		pend.dirfd = dirfd;
		pend.rel = path;
		pend.owner = pthread_self();
	}
	hk_unlock();
	errno = saved;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	hk_busy = 0;
	return deferred ? 1 : -1;
}

/* After the open of a raw deferral (fd >= 0): the path now, then as any deferred read. */
static void decide_after_raw(int fd)
{
	struct fm_read *m = &pend.m;
	int n = candidate_absolute(pend.dirfd, pend.rel, m->path, sizeof m->path);
	if (n <= 0 || !candidate_hints_allow(m->path, (size_t)n))
		return;
	uint64_t h = cache_hash(m->path, (size_t)n);
	struct cache_slot *s = cache_find(m->path, (size_t)n, h);
	if (s->used && s->verdict != HOOK_LOOKED) {
		decide_reread(s, m, (size_t)n);
		return;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && conn_may_tell())
		decide_tell(s, m, (size_t)n, h, &st);
}

/* Asks about the read m of p (slot s, hash h) and waits for the answer: 0, or -1 when
 * the hook gave up. The answer is remembered unless it is "ask again later". */
static int decide_ask(const struct fm_read *m, struct cache_slot *s, const char *p, size_t n, uint64_t h,
		      struct fm_read_reply *r)
{
	if (conn_send(m) < 0)
		return -1;
	if (peer_recv_type(hk.fd, r, sizeof *r, FM_READ_REPLY) <= 0) {
		conn_give_up();
		return -1;
	}
	if (r->verdict != FM_NOT_NOW)
		cache_put(s, p, n, h, r->verdict);
	return 0;
}

/*
 * A checkpoint the run wants (or a hot file's), taken without waiting for the monitor's
 * grant when it allows so (FM_CFG_UNASKED): the read is told through the ring with a
 * token, and the checkpoint registers under it; the monitor matches the two and gives
 * the read its place in the history as an asked one would have. The question's round
 * trip was a copy's largest wait: two wake-ups, and behind them whatever the monitor was
 * doing (a drain of the rings, a rollback). Returns as decide_read, or -1 to ask instead
 * (not allowed, unsafe, or no ring to tell it through in order).
 */
static void decide_resumed(struct fm_read *m);

static int decide_unasked(struct fm_read *m, struct cache_slot *s, const char *p, size_t n, uint64_t h,
			  int want, int ask)
{
	if (!(hk.cfg.flags & FM_CFG_UNASKED) || (hk.cfg.flags & FM_CFG_ASK) || (!want && (!ask || !ckpt_safe())))
		return -1;
	uint32_t token = ++hk.ckpt_token ? hk.ckpt_token : ++hk.ckpt_token; /* never 0 */
	m->flags |= FM_READ_NO_REPLY | FM_READ_TAKEN | FM_READ_WANT_CKPT;
	m->pad = token;
	if (conn_tell_ring(m) < 0) {
		m->flags &= ~(FM_READ_NO_REPLY | FM_READ_TAKEN);
		m->pad = 0;
		return -1;
	}
	cache_put(s, p, n, h, FM_WATCHED);
	if (ckpt_take(FM_CKPT_TOKEN | token) == 1) {
		decide_resumed(m);
		return 1;
	}
	return 0;
}

/* In a run just resumed from the checkpoint taken before read m: introduce ourselves,
 * then redo this read for the monitor. */
static void decide_resumed(struct fm_read *m)
{
	if (conn_ready(FM_HELLO_RESUMED) == 0) {
		fm_init(&m->h, FM_READ_AGAIN, m->h.len);
		m->flags = 0;
		conn_send(m);
	}
}

/* Is the path of hash h in the monitor's hot list (HELLO_OK)? */
static int decide_hot(uint64_t h)
{
	unsigned n = hk.cfg.nhot < FM_MAX_HOT ? hk.cfg.nhot : FM_MAX_HOT;
	for (unsigned i = 0; i < n; i++)
		if (hk.cfg.hot[i] == h)
			return 1;
	return 0;
}

/* A candidate's read, under hk_lock(). Returns 1 in a run just resumed from a checkpoint
 * taken before this read, else 0. defer: the read may be reported after the open
 * (decide_after), when no checkpoint is wanted. */
static int decide_read(struct fm_read *m, size_t n, int defer)
{
	const char *p = m->path;
	uint64_t h = cache_hash(p, n);
	struct cache_slot *s = cache_find(p, n, h);
	if (s->used && s->verdict != HOOK_LOOKED) { /* a look is no read: this is the first */
		decide_reread(s, m, n);
		return 0;
	}
	int64_t now = hk_now_ns();
	/* A file that changed before gets a checkpoint the monitor grants unasked: its read
	 * is asked (and waited for). Every other one is told: a run resumed from a
	 * checkpoint knows the hints and its cache as the checkpoint had them. */
	int ask = (hk.cfg.flags & FM_CFG_ASK) || decide_hot(h);
	if (defer && !ask && !pend.owner && !ckpt_wanted(now, p, 0)) {
		decide_defer(p, n, h);
		return 0;
	}
	struct stat st;
	if (stat(p, &st) < 0 || !S_ISREG(st.st_mode))
		return 0; /* not there (yet), or not a file: ask again next time */
	if (!conn_may_talk())
		return 0;
	int want = ckpt_wanted(now, p, 1) && ckpt_safe();
	/* No checkpoint wanted: say it and read on, without waiting for the watch. A change
	 * between our stat() and the watch is still seen: the monitor compares the file
	 * with what we saw. */
	if (!want && !ask) {
		decide_tell(s, m, n, h, &st);
		return 0;
	}
	decide_fill(m, FM_READ, p, n, want ? FM_READ_WANT_CKPT : 0);
	decide_fill_stat(m, &st);
	int taken = decide_unasked(m, s, p, n, h, want, ask);
	if (taken >= 0)
		return taken;
	struct fm_read_reply r;
	if (decide_ask(m, s, p, n, h, &r) < 0 || r.verdict != FM_WATCHED || !r.grant)
		return 0;
	/* The monitor may grant one unasked (a file that changed before): check then. */
	if (!want && !ckpt_safe())
		return 0;
	if (ckpt_take(r.seq) == 1) {
		decide_resumed(m);
		return 1;
	}
	return 0;
}

/*
 * Before each open. Returns 1 when this open must fail with ENOENT instead: in a run
 * resumed at the open of a Python bytecode file. CPython checked that file against the
 * source's size and time before it opened it, and that was before the change; without
 * the cached file it compiles the source it finds now.
 */
int decide_before(int dirfd, const char *path, int flags)
{
	if (!hk.active || hk.dead || hk_busy || !path || !candidate_flags(flags))
		return 0;
	/* Most opens end here: once the hints are known, a name whose last byte no hint's
	 * suffix ends with (look_configure) is no candidate, unless it is Python bytecode
	 * (.pyc: it stands for its source). The same verdict as candidate_name_rejected's,
	 * which is the exact one, for a fraction of its cost. */
	size_t len = strlen(path);
	if (hk.configured) {
		unsigned char end = len ? (unsigned char)path[len - 1] : 0;
		if (!hk.look_last[end] && end != 'c')
			return 0;
		if (decide_quick(dirfd, path, len) == 1)
			return 0;
	}
	const char *last;
	size_t lastn;
	if (candidate_name_rejected_n(path, len, &last, &lastn))
		return 0;
	hk_busy = 1; /* before the lock, always (see hk_enter) */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	int saved = errno, fail = 0;
	if (hk.configured) {
		hk_lock();
		int raw = decide_raw(dirfd, path, last, lastn);
		hk_unlock();
		if (raw) {
			errno = saved;
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
			hk_busy = 0;
			return 0;
		}
	}
	struct fm_read m; /* its path: the absolute name; the rest if it is said */
	int n = candidate_absolute(dirfd, path, m.path, sizeof m.path), pyc = 0;
	if (n > 0) {
		int k = candidate_pyc_source(m.path, n);
		pyc = k != n;
		n = k;
	}
	int known = hk.configured; /* the monitor's hints are known: check them here */
	if (n > 0 && (!known || candidate_hints_allow(m.path, (size_t)n))) {
		hk_lock();
		/* The first time, the hints come with the monitor's answer to HELLO. (In a vfork
		 * child, conn_may_talk() and decide_read() do nothing: see there.) */
		if (known || (conn_may_talk() && candidate_hints_allow(m.path, (size_t)n)))
			fail = decide_read(&m, (size_t)n, known && !pyc) && pyc;
		hk_unlock();
	}
	errno = saved;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	hk_busy = 0;
	return fail;
}

void decide_after(int fd)
{
	if (!__atomic_load_n(&pend.owner, __ATOMIC_RELAXED) || hk_busy)
		return;
	int saved = errno;
	if (!hk_enter())
		return;
	if (pthread_equal(pend.owner, pthread_self()) && pend.raw) {
		pend.owner = 0;
		pend.raw = 0;
		if (fd >= 0)
			decide_after_raw(fd);
	} else if (pthread_equal(pend.owner, pthread_self())) {
		size_t n = pend.n;
		pend.owner = 0;
		struct stat st;
		uint64_t h = pend.hash;
		struct cache_slot *s = cache_find(pend.m.path, n, h);
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (!s->used || s->verdict == HOOK_LOOKED) &&
		    conn_may_tell())
			decide_tell(s, &pend.m, n, h, &st);
	}
	hk_leave();
	errno = saved;
}
