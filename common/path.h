/*
 * common/path.h — absolute paths without asking the file system.
 *
 * Used by the hook (inside the user's program: no allocation, no system call) and by
 * the monitor. path_join() makes the absolute, lexically normal form of a path opened
 * relative to a directory: "//" and "/./" collapse, "x/.." goes away. That is the name
 * filters are matched against. It may differ from the kernel's resolution when a
 * symlinked directory precedes "..": the monitor resolves symlinks itself (realpath)
 * to decide what to watch.
 */
#ifndef FORKMON_PATH_H
#define FORKMON_PATH_H

#include <stddef.h>

/* Joins base (absolute; ignored when rel is absolute) and rel into out, normalised.
 * Returns the length, or -1 when out is too small or base is not absolute. */
int path_join(const char *base, const char *rel, char *out, size_t outlen);

/* Appends rel to out, which holds an absolute, normal path of length n (what getcwd()
 * gives), in place and normalised: path_join without a second buffer. Returns the new
 * length, or -1 when out is too small or does not hold an absolute path. */
int path_append(char *out, size_t outlen, size_t n, const char *rel);

/* The last component of p ("" when p ends with '/'). */
const char *path_last(const char *p);

/* 1 when p can only name a directory: empty, ends with '/', or its last component is
 * "." or "..". Such opens are never of a regular file. */
int path_is_dirlike(const char *p);

#endif
