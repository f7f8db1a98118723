/*
 * hindex: a small open-addressing hash index from a 64-bit hash to the
 * uint32 positions of entries that live in the caller's own array (servers
 * in a pool, pools in a generation, keys of a YAML mapping).  The caller
 * hashes, and checks each candidate for real equality: the index never
 * owns or compares entries, so one index type serves every duplicate check
 * and lookup the loader makes, and each stays O(1) instead of a scan.
 * Pure: no I/O.
 */
#ifndef TCPLB_HINDEX_H
#define TCPLB_HINDEX_H

#include <stddef.h>
#include <stdint.h>

struct hindex {
	uint64_t *hash;
	uint32_t *pos;		/* UINT32_MAX: empty slot */
	size_t cap;		/* a power of two, or 0 */
	size_t n;
};

#define HINDEX_NONE UINT32_MAX

void hindex_init(struct hindex *h);
void hindex_free(struct hindex *h);
/* Empty it, keeping its memory for the next use. */
void hindex_clear(struct hindex *h);
void hindex_add(struct hindex *h, uint64_t hash, uint32_t pos);
/* Candidates with this hash, one at a time: *cursor starts at 0; returns
 * HINDEX_NONE when there are no more. */
uint32_t hindex_next(const struct hindex *h, uint64_t hash, size_t *cursor);

uint64_t hindex_hash(const void *data, size_t len);
static inline uint64_t
hindex_hash_str(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0')
		n++;
	return hindex_hash(s, n);
}

#endif
