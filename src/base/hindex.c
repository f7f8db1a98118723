/*
 * hindex: open addressing with linear probing over (hash, position) pairs,
 * kept at most half full.  The load-time duplicate checks and name lookups
 * use it so a file with 100,000 servers loads in linear time.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "base/hindex.h"
#include "base/util.h"

void
hindex_init(struct hindex *h)
{
	memset(h, 0, sizeof(*h));
}

void
hindex_free(struct hindex *h)
{
	free(h->hash);
	free(h->pos);
	hindex_init(h);
}

void
hindex_clear(struct hindex *h)
{
	if (h->cap)
		memset(h->pos, 0xff, h->cap * sizeof(*h->pos));
	h->n = 0;
}

static void
hindex_put(struct hindex *h, uint64_t hash, uint32_t pos)
{
	size_t mask = h->cap - 1, i = (size_t)hash & mask;

	while (h->pos[i] != HINDEX_NONE)
		i = (i + 1) & mask;
	h->hash[i] = hash;
	h->pos[i] = pos;
	h->n++;
}

static void
hindex_grow(struct hindex *h)
{
	struct hindex old = *h;

	h->cap = old.cap ? old.cap * 2 : 16;
	h->n = 0;
	h->hash = xmalloc(h->cap * sizeof(*h->hash));
	h->pos = xmalloc(h->cap * sizeof(*h->pos));
	memset(h->pos, 0xff, h->cap * sizeof(*h->pos));
	for (size_t i = 0; i < old.cap; i++)
		if (old.pos[i] != HINDEX_NONE)
			hindex_put(h, old.hash[i], old.pos[i]);
	free(old.hash);
	free(old.pos);
}

void
hindex_add(struct hindex *h, uint64_t hash, uint32_t pos)
{
	if ((h->n + 1) * 2 > h->cap)
		hindex_grow(h);
	hindex_put(h, hash, pos);
}

uint32_t
hindex_next(const struct hindex *h, uint64_t hash, size_t *cursor)
{
	size_t mask = h->cap - 1;

	if (h->cap == 0)
		return HINDEX_NONE;
	/* *cursor counts the slots already probed from the home slot. */
	for (size_t i = ((size_t)hash + *cursor) & mask;
	    h->pos[i] != HINDEX_NONE; i = (i + 1) & mask) {
		(*cursor)++;
		if (h->hash[i] == hash)
			return h->pos[i];
	}
	return HINDEX_NONE;
}

/* FNV-1a, then a splitmix64 finalizer: FNV alone is weak in the low bits
 * that pick the slot. */
uint64_t
hindex_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t x = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		x ^= p[i];
		x *= 0x100000001b3ULL;
	}
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}
