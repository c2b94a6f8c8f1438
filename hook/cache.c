/*
 * hook/cache.c — the per-path answer cache: what the monitor said of each path this
 * process reported (watched or ignored), so that it is asked once. Runs inside the
 * user's program, under hk_lock(); called by decide.c.
 *
 * Open addressing over a static table; path bytes live in a static arena. When either
 * is full we simply stop remembering (and ask the monitor again): never allocate.
 */
#include "hook.h"

#include <string.h>

enum { CACHE_SLOTS = 1 << 14, ARENA_SIZE = 1 << 20 };

static struct cache_slot cache[CACHE_SLOTS];
static char arena[ARENA_SIZE];
static size_t arena_used;
static unsigned cache_used;

/* The protocol's own hash (forkmon_proto.h): the same value names a path in HELLO_OK's
 * hot list. */
uint64_t cache_hash(const char *s, size_t n)
{
	return fm_path_hash(s, n);
}

/* The first slot of hash h. FNV-1a's low bits are a function of the low bits of the
 * bytes alone (and the protocol sets bit 0): names that differ in a digit crowded into
 * long runs of the table, ~0.1 us a probe run per open. The high bits, mixed, spread. */
static unsigned cache_slot_of(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (unsigned)(h >> 40) & (CACHE_SLOTS - 1);
}

struct cache_slot *cache_find(const char *p, size_t n, uint64_t h)
{
	/* Never full (cache_put stops at half), so the probe ends at a free slot. */
	for (unsigned i = cache_slot_of(h);; i = (i + 1) & (CACHE_SLOTS - 1)) {
		struct cache_slot *s = &cache[i];
		if (!s->used)
			return s;
		if (s->hash == h && s->len == n && memcmp(arena + s->off, p, n) == 0)
			return s;
	}
}

void cache_put(struct cache_slot *s, const char *p, size_t n, uint64_t h, int verdict)
{
	if (s->used) {
		s->verdict = (uint8_t)verdict;
		return;
	}
	if (cache_used >= CACHE_SLOTS / 2 || arena_used + n > ARENA_SIZE || n > UINT16_MAX)
		return;
	memcpy(arena + arena_used, p, n);
	s->off = (uint32_t)arena_used;
	s->len = (uint16_t)n;
	s->hash = h;
	s->verdict = (uint8_t)verdict;
	s->used = 1;
	arena_used += n;
	cache_used++;
}
