/*
 * hook/cache.c — the per-path answer cache: what the monitor said of each path this
 * process reported (watched or ignored), so that it is asked once. Runs inside the
 * user's program, under hk_lock(); called by decide.c.
 *
 * Open addressing over a static table of entry numbers; entries and path bytes live in
 * static arrays, filled in order. When either is full we simply stop remembering (and
 * ask the monitor again): never allocate.
 */
#include "hook.h"

#include <string.h>

enum { CACHE_SLOTS = 1 << 14, CACHE_ENTRIES = CACHE_SLOTS / 2, ARENA_SIZE = 1 << 20 };

/*
 * The entries are kept in the order they came, and the table of hashes holds only their
 * numbers (2 bytes a slot): a first read of a page of ours that was never written costs
 * the program a page fault, and its first write another. With the entries themselves in
 * the table (16 bytes, 256 KiB), each new path touched a page of its own, at random:
 * ~1 fault per path for the first hundreds (113 of lua5.4's 300 on 120 modules, where a
 * plain run takes 156). Now a new path writes an entry beside the last one's, and a
 * slot among 32 KiB.
 */
static struct cache_slot entries[CACHE_ENTRIES];
static uint16_t slots[CACHE_SLOTS]; /* 0: free; else the entry's number + 1 */
/* hk.cache_bits: one bit per hash (its low bits, mixed, modulo CACHE_BITS): clear, the
 * path is not in the table. Most lookups are of names never reported (a search path's
 * misses: 7 of Lua's 8 per module); each of them cost a miss of the processor's caches
 * (~0.1 us, 1 ms per 1000 modules); the bits stay in them. In hk, with the counters: a
 * run copies each page it writes after a checkpoint once more (the checkpoint keeps the
 * old one), and hk's is written at every watched read. */
#define CACHE_BITS ((unsigned)(sizeof hk.cache_bits * 8))
/* What cache_find returns for a path that is not in the table: always all zero (never
 * written: cache_put finds the place of such a path itself). */
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

/* The slot of p's entry, or the free one where it would go. */
static uint16_t *cache_probe(const char *p, size_t n, uint64_t h)
{
	/* Never full (cache_put stops at half), so the probe ends at a free slot. */
	for (unsigned i = cache_slot_of(h);; i = (i + 1) & (CACHE_SLOTS - 1)) {
		uint16_t *k = &slots[i];
		if (!*k)
			return k;
		const struct cache_slot *e = &entries[*k - 1];
		if (e->hash == h && e->len == n && memcmp(arena + e->off, p, n) == 0)
			return k;
	}
}

struct cache_slot *cache_find(const char *p, size_t n, uint64_t h)
{
	unsigned b = cache_bit_of(h);
	if (!(hk.cache_bits[b / 64] & (1ull << (b % 64))))
		return &cache_absent;
	uint16_t *k = cache_probe(p, n, h);
	return *k ? &entries[*k - 1] : &cache_absent;
}

void cache_put(struct cache_slot *s, const char *p, size_t n, uint64_t h, int verdict)
{
	if (s->used) { /* an entry cache_find gave */
		s->verdict = (uint8_t)verdict;
		return;
	}
	uint16_t *k = cache_probe(p, n, h);
	if (*k) {
		entries[*k - 1].verdict = (uint8_t)verdict;
		return;
	}
	if (hk.cache_used >= CACHE_ENTRIES || hk.cache_arena_used + n > ARENA_SIZE || n > UINT16_MAX)
		return;
	struct cache_slot *e = &entries[hk.cache_used];
	memcpy(arena + hk.cache_arena_used, p, n);
	e->off = (uint32_t)hk.cache_arena_used;
	e->len = (uint16_t)n;
	e->hash = h;
	e->verdict = (uint8_t)verdict;
	e->used = 1;
	*k = (uint16_t)(hk.cache_used + 1);
	unsigned b = cache_bit_of(h);
	hk.cache_bits[b / 64] |= 1ull << (b % 64);
	hk.cache_arena_used += n;
	hk.cache_used++;
}
