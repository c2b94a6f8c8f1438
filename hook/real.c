/*
 * hook/real.c — the real functions behind the interposers, and raw system calls for the
 * hook's own file access. Runs inside the user's program; real_resolve() is called by
 * the constructor (start.c) and by an fopen that comes before it (interpose.c).
 */
#include "hook.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

struct hook_real real;

void real_resolve(void)
{
#define INTERPOSER(name, kind, largefile) real.name = (real_##kind##_fn)dlsym(RTLD_NEXT, #name);
#include "interposers.def"
#undef INTERPOSER
}

/* Calling open() here would come back into the interposer. Never 0-2, which a program
 * that closed them means to fill itself. */
int real_raw_open(const char *path, int flags)
{
	return real_raw_high((int)syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0), 1);
}

int real_raw_high(int fd, int cloexec)
{
	if (fd < 0 || fd > 2)
		return fd;
	int hi = fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 3);
	close(fd);
	return hi;
}
