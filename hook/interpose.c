/*
 * hook/interpose.c — the functions the hook interposes (open, open64, ..., freopen64; and
 * clean.c's read, readv, getrandom, getentropy, tcsetattr),
 * generated from the one list hook/interposers.def: one body per kind of signature.
 * Runs inside the user's program, on every open it makes: the path of a non-matching
 * open is decide_before()'s cheap checks, the real function, decide_after()'s load.
 *
 * Each one: decide before (a refusal fails with ENOENT, see decide_before), open with
 * the real function (or the raw system call before dlsym has run: jemalloc opens files
 * while initialising malloc, before our constructor), report after, and remember the
 * files the program opens for reading and writing (their offsets are restored in a
 * resumed run: offsets.c).
 */
#include "hook.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

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

static inline int interpose_opened(int fd, int flags)
{
	decide_after(fd);
	if ((flags & O_ACCMODE) == O_RDWR)
		offsets_note_rw(fd);
	return fd;
}

static inline FILE *interpose_fopened(FILE *f, const char *mode)
{
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
		return interpose_opened(real.name ? real.name(path, flags, mode)                 \
						  : interpose_raw(AT_FDCWD, path, flags | (largefile), mode), \
					flags);                                                  \
	}

#define INTERPOSE_at(name, largefile)                                                            \
	EXPORT int name(int dirfd, const char *path, int flags, ...)                             \
	{                                                                                        \
		mode_t mode = 0;                                                                 \
		INTERPOSE_GET_MODE(flags, mode);                                                 \
		if (interpose_refused(dirfd, path, flags))                                       \
			return -1;                                                               \
		return interpose_opened(real.name ? real.name(dirfd, path, flags, mode)          \
						  : interpose_raw(dirfd, path, flags | (largefile), mode), \
					flags);                                                  \
	}

/* The fortified opens (_FORTIFY_SOURCE): a call that needs no mode. */
#define INTERPOSE_plain_2(name, largefile)                                                       \
	EXPORT int name(const char *path, int flags)                                             \
	{                                                                                        \
		if (interpose_refused(AT_FDCWD, path, flags))                                    \
			return -1;                                                               \
		return interpose_opened(real.name ? real.name(path, flags)                       \
						  : interpose_raw(AT_FDCWD, path, flags | (largefile), 0), \
					flags);                                                  \
	}

#define INTERPOSE_at_2(name, largefile)                                                          \
	EXPORT int name(int dirfd, const char *path, int flags)                                  \
	{                                                                                        \
		if (interpose_refused(dirfd, path, flags))                                       \
			return -1;                                                               \
		return interpose_opened(real.name ? real.name(dirfd, path, flags)                \
						  : interpose_raw(dirfd, path, flags | (largefile), 0), \
					flags);                                                  \
	}

#define INTERPOSE_fopen(name, largefile)                                                         \
	EXPORT FILE *name(const char *path, const char *mode)                                    \
	{                                                                                        \
		if (candidate_fopen_mode(mode) && interpose_refused(AT_FDCWD, path, O_RDONLY))  \
			return NULL;                                                             \
		if (!real.name)                                                                  \
			real_resolve();                                                          \
		return interpose_fopened(real.name(path, mode), mode);                           \
	}

/* Never refused: a failing freopen would close the program's stream. */
#define INTERPOSE_freopen(name, largefile)                                                       \
	EXPORT FILE *name(const char *path, const char *mode, FILE *stream)                      \
	{                                                                                        \
		if (path && candidate_fopen_mode(mode))                                          \
			decide_before(AT_FDCWD, path, O_RDONLY);                                 \
		if (!real.name)                                                                  \
			real_resolve();                                                          \
		return interpose_fopened(real.name(path, mode, stream), mode);                   \
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
