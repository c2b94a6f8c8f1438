/*
 * common/sibling.h — files that live next to forkmon's own executables.
 *
 * build/ and PREFIX/lib/forkmon/ hold forkmon (the monitor) and forkmonhook.so side by
 * side; forkmon-client sits in build/ or PREFIX/bin/. Used by the CLI and the helper (to
 * preload the hook into what they start) and by the client (to start the helper).
 * libc only.
 */
#ifndef FORKMON_SIBLING_H
#define FORKMON_SIBLING_H

#include <stddef.h>

/* dir/name, where dir holds this process's executable: 0, or -1. */
int sibling_path(const char *name, char *out, size_t len);

/* The hook to preload: $FORKMON_HOOK, else forkmonhook.so next to our executable. Its
 * path (a static buffer, or the variable's value) when it can be read; else NULL, with
 * one line in why (no newline) saying which file, and why not. */
const char *sibling_hook(char *why, size_t len);

#endif
