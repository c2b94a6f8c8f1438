/*
 * hook/candidate.c — which opens may be of a watched file, decided inside the user's
 * program without asking: read-only flags, the literal prefixes and suffixes of the
 * patterns (the hints of HELLO_OK), the absolute path, Python's cached bytecode.
 * Called by decide.c; the name checks are on every open's path, so they are cheap and
 * make no system call.
 */
#include "hook.h"
#include "path.h"

#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int candidate_ends_with(const char *s, size_t n, const char *suf)
{
	size_t l = strlen(suf);
	return l <= n && memcmp(s + n - l, suf, l) == 0;
}

/* Only meaningful once configured. */
int candidate_hints_allow(const char *p, size_t n)
{
	if (hk.cfg.flags & FM_CFG_ALL_CANDIDATES)
		return 1;
	for (unsigned i = 0; i < hk.cfg.nhints; i++) {
		const struct fm_hint *h = &hk.cfg.hints[i];
		if (strncmp(p, h->prefix, strlen(h->prefix)) == 0 && candidate_ends_with(p, n, h->suffix) &&
		    (!h->need[0] || memmem(p, n, h->need, strnlen(h->need, FM_HINT_LEN))))
			return 1;
	}
	return 0;
}

/*
 * Most opens end here, before any path arithmetic (a getcwd, a normalisation): a name
 * that can only be a directory's, or whose last component no hint's suffix fits.
 * Normalising keeps the last component, so the suffix of the absolute path is the suffix
 * of that component whenever the hint's suffix has no '/' and fits in it. A Python
 * bytecode file stands for its source (candidate_pyc_source): the full path decides.
 */
void candidate_configure(void)
{
	int undecided = (hk.cfg.flags & FM_CFG_ALL_CANDIDATES) != 0;
	for (unsigned i = 0; i < hk.cfg.nhints && i < FM_MAX_HINTS; i++) {
		const char *suf = hk.cfg.hints[i].suffix;
		size_t l = strlen(suf);
		hk.hint_suflen[i] = (uint16_t)l;
		undecided |= l == 0 || memchr(suf, '/', l) != NULL;
	}
	hk.names_undecided = undecided;
}

int candidate_name_rejected_n(const char *rel, size_t len, const char **lastp, size_t *lastn)
{
	const char *slash = memrchr(rel, '/', len);
	const char *last = slash ? slash + 1 : rel;
	size_t n = len - (size_t)(last - rel);
	/* what can only be a directory's name (path_is_dirlike) */
	if (len == 0 || n == 0 || (last[0] == '.' && (n == 1 || (n == 2 && last[1] == '.'))))
		return 1;
	*lastp = last;
	*lastn = n;
	if (!hk.configured || hk.names_undecided)
		return 0;
	if (n >= 4 && memcmp(last + n - 4, ".pyc", 4) == 0)
		return 0;
	for (unsigned i = 0; i < hk.cfg.nhints; i++) {
		size_t l = hk.hint_suflen[i];
		if (l > n)
			return 0; /* undecided by the name alone */
		if (memcmp(last + n - l, hk.cfg.hints[i].suffix, l) == 0)
			return 0;
	}
	return 1;
}

int candidate_name_rejected(const char *rel)
{
	const char *last;
	size_t n;
	return candidate_name_rejected_n(rel, strlen(rel), &last, &n);
}

/*
 * The working directory as getcwd() last gave it, kept until a chdir() or fchdir()
 * (their interposers: candidate_cwd_changed) makes it stale: a relative name costs no
 * system call of ours. Lua's `./?.lua` is two such names per module, and a getcwd()
 * is ~0.5 us here. Its own lock, only ever tried: a thread that finds it taken asks the
 * kernel instead, and a child forked while another thread held it (reset at fork,
 * start.c) loses nothing but the cache.
 */
static struct {
	int lock;
	unsigned gen; /* cwd_gen when name was asked; 0: empty */
	size_t n;
	char name[FM_PATH_MAX];
} cwd;
static unsigned cwd_gen = 1;

void candidate_cwd_changed(void)
{
	__atomic_add_fetch(&cwd_gen, 1, __ATOMIC_SEQ_CST);
}

void candidate_cwd_reset_lock(void)
{
	__atomic_store_n(&cwd.lock, 0, __ATOMIC_RELEASE);
}

static long candidate_cwd(char *out, size_t outlen)
{
	unsigned g = __atomic_load_n(&cwd_gen, __ATOMIC_ACQUIRE);
	if (!__atomic_exchange_n(&cwd.lock, 1, __ATOMIC_ACQUIRE)) {
		long n = cwd.gen == g && cwd.n < outlen ? (long)cwd.n : -1;
		if (n > 0)
			memcpy(out, cwd.name, (size_t)n + 1);
		__atomic_store_n(&cwd.lock, 0, __ATOMIC_RELEASE);
		if (n > 0)
			return n;
	}
	long n = syscall(SYS_getcwd, out, outlen);
	n = n > 0 ? (long)strnlen(out, outlen) : -1; /* the raw call counts the NUL */
	/* Only a name asked after g was read is kept under g: a chdir() since has moved
	 * cwd_gen on, and the entry is stale at once. */
	if (n > 0 && (size_t)n < sizeof cwd.name && !__atomic_exchange_n(&cwd.lock, 1, __ATOMIC_ACQUIRE)) {
		memcpy(cwd.name, out, (size_t)n + 1);
		cwd.n = (size_t)n;
		cwd.gen = g;
		__atomic_store_n(&cwd.lock, 0, __ATOMIC_RELEASE);
	}
	return n;
}

int candidate_absolute(int dirfd, const char *path, char *out, size_t outlen)
{
	if (path[0] == '/')
		return path_join(NULL, path, out, outlen);
	/* The directory's name straight into out, then path joined onto it there: no
	 * buffer of its own on the stack, whose page a checkpoint would make one more to
	 * copy (the stack the hook writes at every watched read). */
	long n;
	if (dirfd == AT_FDCWD) {
		n = candidate_cwd(out, outlen);
	} else {
		char link[64];
		snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
		n = readlink(link, out, outlen - 1);
		if (n > 0)
			out[n] = '\0';
	}
	if (n <= 0)
		return -1;
	return path_append(out, outlen, (size_t)n, path);
}

/*
 * Python reads DIR/__pycache__/NAME.cpython-311.pyc instead of DIR/NAME.py while the
 * cache is valid: that read stands for a read of the source, and is reported as one.
 * Rewrites p in place; returns the new length, or n when p is not such a path.
 */
int candidate_pyc_source(char *p, int n)
{
	static const char pycache[] = "/__pycache__/";
	if (n < 5 || memcmp(p + n - 4, ".pyc", 4) != 0)
		return n;
	char *name = strrchr(p, '/');
	if (!name || name - p < (int)sizeof pycache - 2 ||
	    memcmp(name - (sizeof pycache - 2), pycache, sizeof pycache - 2) != 0)
		return n;
	char *dot = strchr(name + 1, '.');
	if (!dot || dot == name + 1)
		return n;
	char *dir = name - (sizeof pycache - 2); /* "/__pycache__" starts here */
	size_t len = (size_t)(dot - name);     /* "/NAME" */
	memmove(dir, name, len);
	memcpy(dir + len, ".py", 4);
	return (int)(dir + len + 3 - p);
}
