/*
 * monitor/strmap.h — a string → int map (open addressing), for the monitor's paths.
 *
 * Runs in the monitor; files.c maps names, files and directories to ids with it. Keys
 * are copied; nothing is ever removed (a value is overwritten instead). Out of memory
 * ends the process with an error line.
 */
#ifndef FORKMON_STRMAP_H
#define FORKMON_STRMAP_H

#include <stddef.h>

struct strmap {
	char **keys;
	int *vals;
	size_t cap, n;
};

/* The value of k, or -1. */
int strmap_get(const struct strmap *m, const char *k);
void strmap_put(struct strmap *m, const char *k, int v);

#endif
