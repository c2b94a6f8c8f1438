/*
 * bench/floor.c — the floor row of `make bench` (bench/run): the smallest correct
 * save → output loop on this machine, without forkmon. Built as a preload, floor.so,
 * into the very program the latency rows run:
 *
 *   FLOOR_FILE=/abs/conf.lua LD_PRELOAD=build/bench/floor.so lua5.4 main.lua /abs/conf.lua
 *
 * Runs inside that program. At its first open of FLOOR_FILE (fopen, open), the process
 * becomes a suspended checkpoint: it watches the file's directory with inotify (a
 * directory watch survives a rename over the file), forks the first run, which goes on
 * with the open, and sleeps in read(). On a completed save of the file (IN_CLOSE_WRITE:
 * written in place; IN_MOVED_TO: renamed into place) it kills the run (SIGKILL; an
 * ended run is only reaped) and forks a fresh copy that continues from the open: it
 * reads the new content and prints it. No monitor, no socket, no quiet window: what is
 * left is the kernel's inotify wake-up, one fork of the interpreter and the program's
 * own work. fmbench times it exactly as it times forkmon.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

static int floor_taken; /* the checkpoint exists (copies inherit it: none of their own) */

/* Blocks until a completed save of base shows on ino. */
static void floor_wait_save(int ino, const char *base)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(ino, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1);
		int hit = 0;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			if (e->len && strcmp(e->name, base) == 0)
				hit = 1;
			p += sizeof *e + e->len;
		}
		if (hit)
			return;
	}
}

/* At the open of path: the first time it is FLOOR_FILE, becomes the checkpoint and
 * returns only in the runs it forks. */
static void floor_at_open(const char *path)
{
	const char *want = getenv("FLOOR_FILE");
	if (floor_taken || !want || !path || strcmp(path, want) != 0)
		return;
	floor_taken = 1;
	static char dir[4096];
	const char *slash = strrchr(want, '/');
	if (!slash || (size_t)(slash - want) >= sizeof dir)
		return;
	memcpy(dir, want, (size_t)(slash - want));
	dir[slash - want] = '\0';
	int ino = inotify_init1(IN_CLOEXEC);
	if (ino < 0 || inotify_add_watch(ino, dir[0] ? dir : "/", IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
		perror("floor: inotify");
		_exit(1);
	}
	fflush(NULL); /* nothing buffered is printed twice */
	for (;;) {
		pid_t run = fork();
		if (run == 0) {
			close(ino);
			return;
		}
		if (run < 0)
			_exit(1);
		floor_wait_save(ino, slash + 1);
		kill(run, SIGKILL);
		while (waitpid(run, NULL, 0) < 0 && errno == EINTR)
			;
	}
}

FILE *fopen(const char *path, const char *mode)
{
	static FILE *(*real)(const char *, const char *);
	if (!real)
		real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
	if (mode && mode[0] == 'r' && !strchr(mode, '+'))
		floor_at_open(path);
	return real(path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
	static FILE *(*real)(const char *, const char *);
	if (!real)
		real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen64");
	if (mode && mode[0] == 'r' && !strchr(mode, '+'))
		floor_at_open(path);
	return real(path, mode);
}

static int floor_open(const char *name, const char *path, int flags, va_list ap)
{
	mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
	int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, name);
	if (!(flags & (O_WRONLY | O_RDWR)))
		floor_at_open(path);
	return real(path, flags, mode);
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int fd = floor_open("open", path, flags, ap);
	va_end(ap);
	return fd;
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int fd = floor_open("open64", path, flags, ap);
	va_end(ap);
	return fd;
}
