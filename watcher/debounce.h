/*
 * watcher/debounce.h — when is a save finished? Pure logic over a caller's clock.
 *
 * Editors save in many ways (in place, truncate then write, write a temporary file and
 * rename it over, delete and re-create). The watcher reports each file-system event as
 * one of three kinds, and this module says when a set of saves is complete:
 *   DEB_WRITING  the file is being written (modified, created, truncated);
 *   DEB_DONE     a write finished (closed after writing, or renamed into place);
 *   DEB_GONE     the file was deleted or renamed away.
 * A set fires once no file is mid-write and no event came for the quiet window
 * (coalescing saves of several files into one resume). A file closed empty is most
 * likely a truncate before a write: it waits up to `empty_grace` for content before it
 * counts as done. A writer that never closes counts as done after `stale` without events.
 *
 * The quiet window is fixed (`quiet`, `forkmon run -d MS`) or adaptive. Adaptive, it
 * starts at 0: a completed save with no other write in flight fires at once, since
 * almost every save is of one file. It widens only once a writer of several files is
 * seen: two different files completed within `link` of each other; the window becomes
 * twice the largest such gap measured, plus 1 ms (at most `link`), so that the next save
 * of that writer is one set. After DEB_DECAY_GROUPS saves in a row without such a
 * second file it halves again, back to 0. What it learns from is the gaps alone, never
 * the machine's load.
 *
 * A deletion is a change too (the program would find the file missing), but it is most
 * often the first half of a save: an editor deletes or renames the file away, then
 * writes it anew. So a gone file waits `gone_grace` for its return: back in time, the
 * later events replace the deletion and the save is ONE change of the new content; not
 * back, it fires as gone. Either way the file is the caller's to look at again.
 */
#ifndef FORKMON_DEBOUNCE_H
#define FORKMON_DEBOUNCE_H

#include <stdint.h>

enum deb_kind { DEB_WRITING, DEB_DONE, DEB_GONE };

#define DEB_DECAY_GROUPS 8 /* single-file saves in a row that halve a learnt window */

struct debounce_cfg {
	int64_t quiet_ns; /* the fixed window (adaptive: unused) */
	int64_t empty_grace_ns;
	int64_t stale_ns;
	int64_t gone_grace_ns;
	int adaptive;    /* learn the window from the gaps of multi-file writers */
	int64_t link_ns; /* adaptive: two files completed within it are one writer's */
};

struct debounce;

struct debounce *debounce_new(const struct debounce_cfg *cfg);
void debounce_free(struct debounce *d);

/* An event of kind on file (id >= 0) at time now; empty: the file is now 0 bytes. */
void debounce_event(struct debounce *d, int file, enum deb_kind kind, int empty, int64_t now);

/* When debounce_poll should next be called (absolute, same clock), or -1: never. */
int64_t debounce_deadline(const struct debounce *d);

/* If a set of saves is complete at now, writes up to max of its files, forgets those and
 * returns how many it wrote; else returns 0. Files of the set it had no room for stay
 * complete: a call again at the same now returns them, so a caller with room for
 * debounce_pending() files gets the whole set in one call, and none is ever lost. */
int debounce_poll(struct debounce *d, int64_t now, int *files, int max);

/* Time of the last event (any file), or 0. */
int64_t debounce_last(const struct debounce *d);

/* Number of files with an unfinished change (waiting, writing or gone). */
int debounce_pending(const struct debounce *d);

/* The quiet window now (fixed, or as learnt so far). */
int64_t debounce_window(const struct debounce *d);

#endif
