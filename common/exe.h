/*
 * common/exe.h — finding a command on PATH, as execvp(3) would, before any fork.
 *
 * The one PATH search of forkmon: the monitor finds the program before it vforks (no
 * allocation after the fork), the client finds the real command behind a masquerading
 * link (skipping itself); and the shell fallback of execvp for a script without `#!`.
 * libc only, no allocation.
 */
#ifndef FORKMON_EXE_H
#define FORKMON_EXE_H

#include <stddef.h>

/*
 * Finds cmd: a name with a '/' is taken as it is; else each directory of path (NULL or
 * empty: "/usr/local/bin:/usr/bin:/bin"; an empty item is the current directory) is
 * tried in order for a regular file that we may execute. A file whose resolved path is
 * skip (NULL: none) is passed over. Writes the path into out and returns 0; or returns
 * -ENOENT (nothing found), -EACCES (found, not executable), -ENAMETOOLONG.
 */
int exe_find(const char *cmd, const char *path, const char *skip, char *out, size_t len);

/*
 * What execvp(3) runs when exe is in no executable format (execve's ENOEXEC: a script
 * without a `#!` line), as a shell does too: EXE_SHELL with exe and argv's arguments,
 * `/bin/sh exe ARG...`. Fills out (room for max pointers, its NULL included; argv's own
 * strings, no copy) and returns 0, or -1 when it has no room. No allocation: a vfork
 * child may exec what it built before the vfork.
 */
#define EXE_SHELL "/bin/sh"
int exe_shell_argv(const char *exe, char *const *argv, char **out, size_t max);

#endif
