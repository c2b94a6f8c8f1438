/* monitor/strmap.c — the string → int map (see strmap.h). Runs in the monitor. */
#include "strmap.h"

#include "out.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t strmap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

int strmap_get(const struct strmap *m, const char *k)
{
	if (!m->cap)
		return -1;
	for (size_t i = strmap_hash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->keys[i])
			return -1;
		if (strcmp(m->keys[i], k) == 0)
			return m->vals[i];
	}
}

/* Doubles the table (at most half full, so a probe always ends on an empty slot). */
static void strmap_grow(struct strmap *m)
{
	struct strmap old = *m;
	m->cap = old.cap ? old.cap * 2 : 256;
	m->n = 0;
	m->keys = calloc(m->cap, sizeof *m->keys);
	m->vals = calloc(m->cap, sizeof *m->vals);
	if (!m->keys || !m->vals) {
		out_error("out of memory");
		exit(1);
	}
	for (size_t i = 0; i < old.cap; i++)
		if (old.keys[i]) {
			strmap_put(m, old.keys[i], old.vals[i]);
			free(old.keys[i]);
		}
	free(old.keys);
	free(old.vals);
}

void strmap_put(struct strmap *m, const char *k, int v)
{
	if ((m->n + 1) * 2 > m->cap)
		strmap_grow(m);
	for (size_t i = strmap_hash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->keys[i]) {
			m->keys[i] = strdup(k);
			m->vals[i] = v;
			m->n++;
			return;
		}
		if (strcmp(m->keys[i], k) == 0) {
			m->vals[i] = v;
			return;
		}
	}
}
