/*
 * hook/look.c — what the program looked at without opening it: a path it stat()ed or
 * access()ed (make on an up-to-date tree, mypy with a warm cache), a directory it listed
 * (pytest collecting tests/). Runs inside the user's program; called by the interposers
 * (interpose.c) after the program's call.
 *
 * A first look at a path that may match is said to the monitor without waiting (READ
 * with FM_READ_LOOK): it watches the file, or its creation when it is not there yet, or
 * the directory's entries; a look never takes a checkpoint. A look is cached apart from
 * reads (HOOK_LOOKED), so that a later open of the same file is still its first read
 * (and may take a checkpoint: Python stat()s a module's source before it opens the
 * cached bytecode).
 */
#include "hook.h"
#include "path.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Under the lock: says the first look at abs p (n bytes); dir: a listing. A listing is
 * cached as "p/", apart from a look at p itself (which finds a directory: ignored). */
static void look_say(char *p, size_t n, int dir)
{
	size_t kn = n;
	if (dir && n + 1 < FM_PATH_MAX)
		p[kn++] = '/';
	uint64_t h = cache_hash(p, kn);
	struct cache_slot *s = cache_find(p, kn, h);
	p[n] = '\0';
	if (s->used)
		return; /* read or looked at before */
	struct stat st;
	uint32_t flags = FM_READ_NO_REPLY | FM_READ_LOOK | (dir ? FM_READ_DIR : 0);
	if (syscall(SYS_newfstatat, AT_FDCWD, p, &st, 0) < 0) {
		if (errno != ENOENT || dir)
			return;
		flags |= FM_READ_ABSENT; /* make, pytest: is it there? Its creation matters */
		memset(&st, 0, sizeof st);
	} else if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		p[n] = kn > n ? '/' : '\0';
		cache_put(s, p, kn, h, FM_IGNORED);
		p[n] = '\0';
		return;
	}
	if (!conn_may_talk())
		return;
	struct fm_read m;
	decide_fill(&m, FM_READ, p, n, flags);
	decide_fill_stat(&m, &st);
	p[n] = kn > n ? '/' : '\0'; /* the key again */
	if (conn_send(&m) == 0)
		cache_put(s, p, kn, h, HOOK_LOOKED);
	p[n] = '\0';
}

/* May entries of directory p (n bytes, absolute) match a hint? Either its path starts
 * with the hint's prefix, or the prefix goes on below it. */
static int look_dir_allowed(const char *p, size_t n)
{
	if (hk.cfg.flags & FM_CFG_ALL_CANDIDATES)
		return 1;
	for (unsigned i = 0; i < hk.cfg.nhints; i++) {
		const char *pre = hk.cfg.hints[i].prefix;
		size_t l = strlen(pre);
		if (strncmp(p, pre, l < n ? l : n) == 0 && (l <= n || pre[n] == '/'))
			return 1;
	}
	return 0;
}

static int look_allowed(const char *p, size_t n, int dir)
{
	return dir ? look_dir_allowed(p, n) : candidate_hints_allow(p, n);
}

static void look_at(int dirfd, const char *path, int dir)
{
	hk_busy = 1; /* before the lock, always (see hk_enter) */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	int saved = errno;
	char abs[FM_PATH_MAX];
	int n = candidate_absolute(dirfd, path, abs, sizeof abs);
	if (n > 0 && (!hk.configured || look_allowed(abs, (size_t)n, dir))) {
		hk_lock();
		/* The first time, the hints come with the monitor's answer to HELLO. */
		if (hk.configured || (conn_may_talk() && look_allowed(abs, (size_t)n, dir)))
			look_say(abs, (size_t)n, dir);
		hk_unlock();
	}
	errno = saved;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	hk_busy = 0;
}

void look_configure(void)
{
	int all = (hk.cfg.flags & FM_CFG_ALL_CANDIDATES) != 0;
	for (unsigned i = 0; i < hk.cfg.nhints && !all; i++) {
		const char *suf = hk.cfg.hints[i].suffix;
		size_t l = strlen(suf);
		all = l == 0 || memchr(suf, '/', l) != NULL; /* undecided by the last byte */
	}
	memset(hk.look_last, all, sizeof hk.look_last);
	candidate_configure();
	for (unsigned i = 0; i < hk.cfg.nhints && !all; i++) {
		const char *suf = hk.cfg.hints[i].suffix;
		hk.look_last[(unsigned char)suf[strlen(suf) - 1]] = 1;
	}
}

void look_path(int dirfd, const char *path)
{
	if (candidate_name_rejected(path))
		return; /* most looks end here */
	look_at(dirfd, path, 0);
}

void look_dir(int dirfd, const char *path)
{
	look_at(dirfd, path, 1);
}
