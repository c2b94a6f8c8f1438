/*
 * filters/defaults.h — the paths forkmon never watches unless told to
 * (--no-default-ignores, FORKMON_NO_DEFAULT_IGNORES=1): version-control metadata, the
 * caches tools write for themselves, editors' swap, lock and backup files. Whatever a
 * program reads there is not the user's edit, and the tools rewrite it constantly.
 *
 * Used by the monitor (forkmon run, bare mode) and the helper, as ignore patterns
 * (filter.h). The same set as watchexec's default ignores, plus Python's caches.
 */
#ifndef FORKMON_FILTER_DEFAULTS_H
#define FORKMON_FILTER_DEFAULTS_H

/* The default ignores, `;`-separated Lua patterns for filter_add(). */
const char *filter_default_ignores(void);

/* The helper's: the same but for the caches tools read back (.pytest_cache, .mypy_cache).
 * A helper session serves a command from checkpoints taken after its reads: what it
 * read there is its input like any other (pytest's last failures, mypy's cache), and a
 * rewrite of it with the same bytes (mypy rewrites its plugins snapshot every run) is
 * no change (helper/serve.c). Live sessions would resume at each such write. */
const char *filter_helper_ignores(void);

/* 1 unless the environment turns the default ignores off (FORKMON_NO_DEFAULT_IGNORES set,
 * not empty and not "0"). */
int filter_default_ignores_wanted(void);

#endif
