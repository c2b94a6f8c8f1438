/*
 * hook/interpose.c — the functions the hook interposes (open, open64, ..., freopen64; the
 * changes and looks: creat, rename, unlink, stat, access, opendir, ...; and clean.c's
 * read, readv, getrandom, getentropy, tcsetattr), generated from the one list
 * hook/interposers.def: one body per kind of signature.
 * Runs inside the user's program, on every open it makes: the path of a non-matching
 * open is decide_before()'s cheap checks, the real function, decide_after()'s load; of a
 * non-matching stat, the real function and LOOK_MAY() then look_path()'s name check.
 *
 * Each one: decide before (a refusal fails with ENOENT, see decide_before), open with
 * the real function (or the raw system call before dlsym has run: jemalloc opens files
 * while initialising malloc, before our constructor), report after, and remember the
 * files the program opens for reading and writing (their offsets are restored in a
 * resumed run: offsets.c).
 */
#include "hook.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

/* No longer declared by glibc's headers (still exported, and imported by make). */
int __xstat(int, const char *, struct stat *);
int __xstat64(int, const char *, struct stat64 *);
int __lxstat(int, const char *, struct stat *);
int __lxstat64(int, const char *, struct stat64 *);
int __fxstatat(int, int, const char *, struct stat *, int);
int __fxstatat64(int, int, const char *, struct stat64 *, int);

/* Not instrumented (make sanitize): a sanitizer calls some of these (mkdir) from its own
 * start-up, before its shadow memory exists; they only reach our instrumented code once
 * the hook is active. */
#define EXPORT __attribute__((visibility("default"), no_sanitize_address))

/* open's third argument exists only when the flags need a mode. */
#define INTERPOSE_NEEDS_MODE(f) (((f) & O_CREAT) || ((f) & O_TMPFILE) == O_TMPFILE)
#define INTERPOSE_GET_MODE(flags, mode)                                                      \
	do {                                                                                 \
		if (INTERPOSE_NEEDS_MODE(flags)) {                                           \
			va_list ap;                                                          \
			va_start(ap, flags);                                                 \
			mode = (mode_t)va_arg(ap, int);                                      \
			va_end(ap);                                                          \
		}                                                                            \
	} while (0)

static inline int interpose_refused(int dirfd, const char *path, int flags)
{
	clean_note_open(path);
	if (decide_before(dirfd, path, flags)) {
		errno = ENOENT;
		return 1;
	}
	return 0;
}

/* An open that may change the file: said before (own.c). */
static inline uint32_t interpose_own(int dirfd, const char *path, int flags)
{
	return own_open_flags(flags) ? own_before(dirfd, path, FM_OWN_OPEN) : 0;
}

static inline int interpose_opened(int fd, int flags, uint32_t own)
{
	own_after(own, fd >= 0);
	decide_after(fd);
	if ((flags & O_ACCMODE) == O_RDWR)
		offsets_note_rw(fd);
	return fd;
}

static inline FILE *interpose_fopened(FILE *f, const char *mode, uint32_t own)
{
	own_after(own, f != NULL);
	decide_after(f ? fileno(f) : -1);
	if (f && mode && strchr(mode, '+'))
		offsets_note_rw(fileno(f));
	return f;
}

/* Before dlsym has run, the system call itself (with O_LARGEFILE for the 64 kinds). */
static inline int interpose_raw(int dirfd, const char *path, int flags, mode_t mode)
{
	return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

#define INTERPOSE_plain(name, largefile)                                                         \
	EXPORT int name(const char *path, int flags, ...)                                        \
	{                                                                                        \
		mode_t mode = 0;                                                                 \
		INTERPOSE_GET_MODE(flags, mode);                                                 \
		if (interpose_refused(AT_FDCWD, path, flags))                                    \
			return -1;                                                               \
		uint32_t own = interpose_own(AT_FDCWD, path, flags);                             \
		return interpose_opened(real.name ? real.name(path, flags, mode)                 \
						  : interpose_raw(AT_FDCWD, path, flags | (largefile), mode), \
					flags, own);                                             \
	}

#define INTERPOSE_at(name, largefile)                                                            \
	EXPORT int name(int dirfd, const char *path, int flags, ...)                             \
	{                                                                                        \
		mode_t mode = 0;                                                                 \
		INTERPOSE_GET_MODE(flags, mode);                                                 \
		if (interpose_refused(dirfd, path, flags))                                       \
			return -1;                                                               \
		uint32_t own = interpose_own(dirfd, path, flags);                                \
		return interpose_opened(real.name ? real.name(dirfd, path, flags, mode)          \
						  : interpose_raw(dirfd, path, flags | (largefile), mode), \
					flags, own);                                             \
	}

/* The fortified opens (_FORTIFY_SOURCE): a call that needs no mode. */
#define INTERPOSE_plain_2(name, largefile)                                                       \
	EXPORT int name(const char *path, int flags)                                             \
	{                                                                                        \
		if (interpose_refused(AT_FDCWD, path, flags))                                    \
			return -1;                                                               \
		uint32_t own = interpose_own(AT_FDCWD, path, flags);                             \
		return interpose_opened(real.name ? real.name(path, flags)                       \
						  : interpose_raw(AT_FDCWD, path, flags | (largefile), 0), \
					flags, own);                                             \
	}

#define INTERPOSE_at_2(name, largefile)                                                          \
	EXPORT int name(int dirfd, const char *path, int flags)                                  \
	{                                                                                        \
		if (interpose_refused(dirfd, path, flags))                                       \
			return -1;                                                               \
		uint32_t own = interpose_own(dirfd, path, flags);                                \
		return interpose_opened(real.name ? real.name(dirfd, path, flags)                \
						  : interpose_raw(dirfd, path, flags | (largefile), 0), \
					flags, own);                                             \
	}

#define INTERPOSE_fopen(name, largefile)                                                         \
	EXPORT FILE *name(const char *path, const char *mode)                                    \
	{                                                                                        \
		if (candidate_fopen_mode(mode) && interpose_refused(AT_FDCWD, path, O_RDONLY))  \
			return NULL;                                                             \
		uint32_t own = candidate_fopen_mode(mode) ? 0 : own_before(AT_FDCWD, path, FM_OWN_OPEN); \
		if (!real.name)                                                                  \
			real_resolve();                                                          \
		return interpose_fopened(real.name(path, mode), mode, own);                      \
	}

/* Never refused: a failing freopen would close the program's stream. */
#define INTERPOSE_freopen(name, largefile)                                                       \
	EXPORT FILE *name(const char *path, const char *mode, FILE *stream)                      \
	{                                                                                        \
		if (path && candidate_fopen_mode(mode))                                          \
			decide_before(AT_FDCWD, path, O_RDONLY);                                 \
		uint32_t own = candidate_fopen_mode(mode) ? 0 : own_before(AT_FDCWD, path, FM_OWN_OPEN); \
		if (!real.name)                                                                  \
			real_resolve();                                                          \
		return interpose_fopened(real.name(path, mode, stream), mode, own);              \
	}

/* ---- the program's own changes: said before the call, its return after (own.c) ---- */

#define INTERPOSE_RESOLVED(name)                                                                 \
	do {                                                                                     \
		if (!real.name)                                                                  \
			real_resolve();                                                          \
	} while (0)

#define INTERPOSE_creat(name, unused)                                                            \
	EXPORT int name(const char *path, mode_t mode)                                           \
	{                                                                                        \
		uint32_t own = own_before(AT_FDCWD, path, FM_OWN_OPEN);                          \
		INTERPOSE_RESOLVED(name);                                                        \
		int r = real.name(path, mode);                                                   \
		own_after(own, r >= 0);                                                          \
		return r;                                                                        \
	}

#define INTERPOSE_trunc(name, unused)                                                            \
	EXPORT int name(const char *path, off_t len)                                             \
	{                                                                                        \
		uint32_t own = own_before(AT_FDCWD, path, FM_OWN_CHANGE);                        \
		INTERPOSE_RESOLVED(name);                                                        \
		int r = real.name(path, len);                                                    \
		own_after(own, r == 0);                                                          \
		return r;                                                                        \
	}

/* Both names change: the one that goes and the one that comes (or both: an exchange). */
#define INTERPOSE_RENAME_BODY(name, call, da, a, db, b)                                          \
	uint32_t own_a = own_before(da, a, FM_OWN_CHANGE);                                       \
	uint32_t own_b = own_before(db, b, FM_OWN_CHANGE);                                       \
	INTERPOSE_RESOLVED(name);                                                                \
	int r = call;                                                                            \
	own_after(own_a, r == 0);                                                                \
	own_after(own_b, r == 0);                                                                \
	return r;

#define INTERPOSE_rename(name, unused)                                                           \
	EXPORT int name(const char *a, const char *b)                                            \
	{                                                                                        \
		INTERPOSE_RENAME_BODY(name, real.name(a, b), AT_FDCWD, a, AT_FDCWD, b)            \
	}

#define INTERPOSE_renameat(name, unused)                                                         \
	EXPORT int name(int da, const char *a, int db, const char *b)                            \
	{                                                                                        \
		INTERPOSE_RENAME_BODY(name, real.name(da, a, db, b), da, a, db, b)                \
	}

#define INTERPOSE_renameat2(name, unused)                                                        \
	EXPORT int name(int da, const char *a, int db, const char *b, unsigned int flags)        \
	{                                                                                        \
		INTERPOSE_RENAME_BODY(name, real.name(da, a, db, b, flags), da, a, db, b)         \
	}

#define INTERPOSE_unlink(name, unused)                                                           \
	EXPORT int name(const char *path)                                                        \
	{                                                                                        \
		uint32_t own = own_before(AT_FDCWD, path, FM_OWN_CHANGE);                        \
		INTERPOSE_RESOLVED(name);                                                        \
		int r = real.name(path);                                                         \
		own_after(own, r == 0);                                                          \
		return r;                                                                        \
	}

#define INTERPOSE_unlinkat(name, unused)                                                         \
	EXPORT int name(int dirfd, const char *path, int flags)                                  \
	{                                                                                        \
		uint32_t own = own_before(dirfd, path, FM_OWN_CHANGE);                           \
		INTERPOSE_RESOLVED(name);                                                        \
		int r = real.name(dirfd, path, flags);                                           \
		own_after(own, r == 0);                                                          \
		return r;                                                                        \
	}

/* A directory made: a look found nothing there before, a listing may show it. */
#define INTERPOSE_mkdir(name, unused)                                                            \
	EXPORT int name(const char *path, mode_t mode)                                           \
	{                                                                                        \
		uint32_t own = own_before(AT_FDCWD, path, FM_OWN_CHANGE);                        \
		INTERPOSE_RESOLVED(name);                                                        \
		int r = real.name(path, mode);                                                   \
		own_after(own, r == 0);                                                          \
		return r;                                                                        \
	}

#define INTERPOSE_mkdirat(name, unused)                                                          \
	EXPORT int name(int dirfd, const char *path, mode_t mode)                                \
	{                                                                                        \
		uint32_t own = own_before(dirfd, path, FM_OWN_CHANGE);                           \
		INTERPOSE_RESOLVED(name);                                                        \
		int r = real.name(dirfd, path, mode);                                            \
		own_after(own, r == 0);                                                          \
		return r;                                                                        \
	}

/* ---- looks: the real call, then the cheap LOOK_MAY() (look.c does the rest) ----------
 * Before dlsym has run (a malloc that stat()s while it initialises), the system call. */

#define INTERPOSE_LOOK_RETURN(r, dirfd, path)                                                    \
	do {                                                                                     \
		if (LOOK_MAY(path))                                                              \
			look_path(dirfd, path);                                                  \
		return r;                                                                        \
	} while (0)

#define INTERPOSE_stat(name, type)                                                               \
	EXPORT int name(const char *path, type *buf)                                             \
	{                                                                                        \
		int r = real.name ? real.name(path, buf)                                         \
				  : (int)syscall(SYS_newfstatat, AT_FDCWD, path, buf, 0);        \
		INTERPOSE_LOOK_RETURN(r, AT_FDCWD, path);                                        \
	}

#define INTERPOSE_lstat(name, type)                                                              \
	EXPORT int name(const char *path, type *buf)                                             \
	{                                                                                        \
		int r = real.name ? real.name(path, buf)                                         \
				  : (int)syscall(SYS_newfstatat, AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW); \
		INTERPOSE_LOOK_RETURN(r, AT_FDCWD, path);                                        \
	}

#define INTERPOSE_fstatat(name, type)                                                            \
	EXPORT int name(int dirfd, const char *path, type *buf, int flags)                       \
	{                                                                                        \
		int r = real.name ? real.name(dirfd, path, buf, flags)                           \
				  : (int)syscall(SYS_newfstatat, dirfd, path, buf, flags);       \
		INTERPOSE_LOOK_RETURN(r, dirfd, path);                                           \
	}

#define INTERPOSE_statx(name, type)                                                              \
	EXPORT int name(int dirfd, const char *path, int flags, unsigned int mask, type *buf)    \
	{                                                                                        \
		int r = real.name ? real.name(dirfd, path, flags, mask, buf)                     \
				  : (int)syscall(SYS_statx, dirfd, path, flags, mask, buf);      \
		INTERPOSE_LOOK_RETURN(r, dirfd, path);                                           \
	}

/* The __xstat family's version argument: the kernel's struct stat on x86-64 either way. */
#define INTERPOSE_xstat(name, type)                                                              \
	EXPORT int name(int ver, const char *path, type *buf)                                    \
	{                                                                                        \
		int r = real.name ? real.name(ver, path, buf)                                    \
				  : (int)syscall(SYS_newfstatat, AT_FDCWD, path, buf, 0);        \
		INTERPOSE_LOOK_RETURN(r, AT_FDCWD, path);                                        \
	}

#define INTERPOSE_lxstat(name, type)                                                             \
	EXPORT int name(int ver, const char *path, type *buf)                                    \
	{                                                                                        \
		int r = real.name ? real.name(ver, path, buf)                                    \
				  : (int)syscall(SYS_newfstatat, AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW); \
		INTERPOSE_LOOK_RETURN(r, AT_FDCWD, path);                                        \
	}

#define INTERPOSE_fxstatat(name, type)                                                           \
	EXPORT int name(int ver, int dirfd, const char *path, type *buf, int flags)              \
	{                                                                                        \
		int r = real.name ? real.name(ver, dirfd, path, buf, flags)                      \
				  : (int)syscall(SYS_newfstatat, dirfd, path, buf, flags);       \
		INTERPOSE_LOOK_RETURN(r, dirfd, path);                                           \
	}

#define INTERPOSE_access(name, unused)                                                           \
	EXPORT int name(const char *path, int mode)                                              \
	{                                                                                        \
		int r = real.name ? real.name(path, mode)                                        \
				  : (int)syscall(SYS_faccessat, AT_FDCWD, path, mode);           \
		INTERPOSE_LOOK_RETURN(r, AT_FDCWD, path);                                        \
	}

#define INTERPOSE_eaccess(name, unused)                                                          \
	EXPORT int name(const char *path, int mode)                                              \
	{                                                                                        \
		int r = real.name ? real.name(path, mode)                                        \
				  : (int)syscall(SYS_faccessat2, AT_FDCWD, path, mode, AT_EACCESS); \
		INTERPOSE_LOOK_RETURN(r, AT_FDCWD, path);                                        \
	}

#define INTERPOSE_faccessat(name, unused)                                                        \
	EXPORT int name(int dirfd, const char *path, int mode, int flags)                        \
	{                                                                                        \
		int r = real.name ? real.name(dirfd, path, mode, flags)                          \
				  : (int)syscall(SYS_faccessat2, dirfd, path, mode, flags);      \
		INTERPOSE_LOOK_RETURN(r, dirfd, path);                                           \
	}

/* A directory listed: its entries are what the program saw. */
#define INTERPOSE_opendir(name, unused)                                                          \
	EXPORT DIR *name(const char *path)                                                       \
	{                                                                                        \
		INTERPOSE_RESOLVED(name);                                                        \
		DIR *d = (DIR *)real.name(path);                                                 \
		if (d && LOOK_MAY_DIR(path))                                                         \
			look_dir(AT_FDCWD, path);                                                \
		return d;                                                                        \
	}

#define INTERPOSE_fdopendir(name, unused)                                                        \
	EXPORT DIR *name(int fd)                                                                 \
	{                                                                                        \
		INTERPOSE_RESOLVED(name);                                                        \
		DIR *d = (DIR *)real.name(fd);                                                   \
		if (d && LOOK_MAY_DIR(".")) /* the directory of fd itself */                         \
			look_dir(fd, ".");                                                       \
		return d;                                                                        \
	}

#define INTERPOSE_scandir(name, type)                                                            \
	EXPORT int name(const char *path, type ***list, int (*sel)(const type *),               \
			int (*cmp)(const type **, const type **))                                \
	{                                                                                        \
		INTERPOSE_RESOLVED(name);                                                        \
		int r = real.name(path, list, (void *)sel, (void *)cmp);                         \
		if (r >= 0 && LOOK_MAY_DIR(path))                                                    \
			look_dir(AT_FDCWD, path);                                                \
		return r;                                                                        \
	}

/* ---- the working directory: the real call, then the cached name is stale ---------- */

#define INTERPOSE_chdir(name, unused)                                                            \
	EXPORT int name(const char *path)                                                        \
	{                                                                                        \
		INTERPOSE_RESOLVED(name);                                                        \
		int r = real.name(path);                                                         \
		candidate_cwd_changed();                                                         \
		return r;                                                                        \
	}

#define INTERPOSE_fchdir(name, unused)                                                           \
	EXPORT int name(int fd)                                                                  \
	{                                                                                        \
		INTERPOSE_RESOLVED(name);                                                        \
		int r = real.name(fd);                                                           \
		candidate_cwd_changed();                                                         \
		return r;                                                                        \
	}

/* ---- the clean-checkpoint interposers (clean.c): a note, then the real function ---- */

#define INTERPOSE_read(name, largefile)                                                          \
	EXPORT ssize_t name(int fd, void *buf, size_t n)                                         \
	{                                                                                        \
		if (fd == 0)                                                                     \
			clean_stdin = 1;                                                         \
		return real.name ? real.name(fd, buf, n) : syscall(SYS_read, fd, buf, n);        \
	}

#define INTERPOSE_readv(name, largefile)                                                         \
	EXPORT ssize_t name(int fd, const struct iovec *iov, int n)                              \
	{                                                                                        \
		if (fd == 0)                                                                     \
			clean_stdin = 1;                                                         \
		return real.name ? real.name(fd, iov, n) : syscall(SYS_readv, fd, iov, n);       \
	}

#define INTERPOSE_getrandom(name, largefile)                                                     \
	EXPORT ssize_t name(void *buf, size_t n, unsigned int flags)                             \
	{                                                                                        \
		clean_note_random();                                                             \
		return real.name ? real.name(buf, n, flags) : syscall(SYS_getrandom, buf, n, flags); \
	}

#define INTERPOSE_getentropy(name, largefile)                                                    \
	EXPORT int name(void *buf, size_t n)                                                     \
	{                                                                                        \
		clean_note_random();                                                             \
		if (!real.name)                                                                  \
			real_resolve();                                                          \
		return real.name(buf, n);                                                        \
	}

#define INTERPOSE_tcsetattr(name, largefile)                                                     \
	EXPORT int name(int fd, int how, const struct termios *t)                                \
	{                                                                                        \
		clean_tty = 1;                                                                   \
		if (!real.name)                                                                  \
			real_resolve();                                                          \
		return real.name(fd, how, t);                                                    \
	}

#define INTERPOSER(name, kind, largefile) INTERPOSE_##kind(name, largefile)
#include "interposers.def"
#undef INTERPOSER
