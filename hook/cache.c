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
/* hk.cache_bits: one bit per hash (its low bits, mixed, modulo CACHE_BITS): clear, the
 * path is not in the table. Most lookups are of names never reported (a search path's
 * misses: 7 of Lua's 8 per module); the table is 256 KiB, and each of them cost a miss
 * of the processor's caches (~0.1 us, 1 ms per 1000 modules); the bits stay in them.
 * In hk, with the counters: a run copies each page it writes after a checkpoint once
 * more (the checkpoint keeps the old one), and hk's is written at every watched read. */
#define CACHE_BITS ((unsigned)(sizeof hk.cache_bits * 8))
/* What cache_find returns for a path the bits rule out: always all zero (never written:
 * cache_put finds the place of such a path itself). */
static struct cache_slot cache_absent;
static char arena[ARENA_SIZE];

/* The protocol's own hash (forkmon_proto.h): the same value names a path in HELLO_OK's
 * hot list. */
uint64_t cache_hash(const char *s, size_t n)
{
	return fm_path_hash(s, n);
}

/* The first slot of hash h: its high bits (the protocol sets bit 0). */
static unsigned cache_slot_of(uint64_t h)
{
	return (unsigned)(h >> 40) & (CACHE_SLOTS - 1);
}

static unsigned cache_bit_of(uint64_t h)
{
	return (unsigned)((h >> 1) % CACHE_BITS);
}

/* The slot of p, or the free one where it would go. */
static struct cache_slot *cache_probe(const char *p, size_t n, uint64_t h)
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

struct cache_slot *cache_find(const char *p, size_t n, uint64_t h)
{
	unsigned b = cache_bit_of(h);
	if (!(hk.cache_bits[b / 64] & (1ull << (b % 64))))
		return &cache_absent;
	return cache_probe(p, n, h);
}

void cache_put(struct cache_slot *s, const char *p, size_t n, uint64_t h, int verdict)
{
	if (s == &cache_absent)
		s = cache_probe(p, n, h);
	if (s->used) {
		s->verdict = (uint8_t)verdict;
		return;
	}
	if (hk.cache_used >= CACHE_SLOTS / 2 || hk.cache_arena_used + n > ARENA_SIZE || n > UINT16_MAX)
		return;
	memcpy(arena + hk.cache_arena_used, p, n);
	s->off = (uint32_t)hk.cache_arena_used;
	s->len = (uint16_t)n;
	s->hash = h;
	s->verdict = (uint8_t)verdict;
	s->used = 1;
	unsigned b = cache_bit_of(h);
	hk.cache_bits[b / 64] |= 1ull << (b % 64);
	hk.cache_arena_used += n;
	hk.cache_used++;
}
