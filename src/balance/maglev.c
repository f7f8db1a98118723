/*
 * maglev: the lookup table of `balance: maglev` (Eisenbud et al., "Maglev:
 * A Fast and Reliable Software Network Load Balancer", NSDI 2016, section
 * 3.4), built once per generation by balance_prepare() and read by
 * balance.c's lock-free pick.  Pure: no sockets, no loop, no globals.
 *
 * Each server owns a permutation of the M slots, (offset + j * skip) mod M
 * with M prime, drawn from a hash of its address; servers take turns
 * claiming their next free preferred slot until the table is full.  A
 * server's permutation depends only on its own address, so removing one
 * server frees exactly its slots and disturbs few others (the paper's
 * "minimal disruption"), and every instance that lists the same servers,
 * in any order, builds the same table: the turns go by address, never by
 * the position in the file.  Weights: a server claims a slot in a round
 * only while its count is within round * weight / max_weight (Envoy's
 * weighted variant), so its share of slots is its share of the weight.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balance/maglev.h"
#include "base/hindex.h"
#include "base/util.h"

static bool
mg_is_prime(uint64_t n)
{
	if (n < 2)
		return false;
	if (n % 2 == 0)
		return n == 2;
	for (uint64_t d = 3; d * d <= n; d += 2)
		if (n % d == 0)
			return false;
	return true;
}

uint64_t
maglev_table_len(uint32_t nservers)
{
	uint64_t want = (uint64_t)nservers * MAGLEV_SLOTS_PER_SERVER;

	if (nservers == 0)
		return 0;
	if (want < MAGLEV_MIN_LEN)
		want = MAGLEV_MIN_LEN;
	while (!mg_is_prime(want))
		want++;
	return want;
}

struct mg_entry {
	const char *id;
	uint32_t index;		/* into the caller's server array */
	uint64_t weight;
	uint64_t offset, skip;	/* the permutation */
	uint64_t pos;		/* its next preferred slot */
	uint64_t count;		/* slots claimed */
};

/* By address; two servers with the same address (allowed, if odd) by
 * their index, the only way left to tell them apart. */
static int
mg_entry_cmp(const void *a, const void *b)
{
	const struct mg_entry *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c != 0)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

int
maglev_build(const struct maglev_server *sv, uint32_t n, uint32_t *table,
    uint64_t len)
{
	struct mg_entry *e;
	uint32_t ne = 0;
	uint64_t wmax = 0, filled = 0;

	if (len < 2 || !mg_is_prime(len)) {
		errno = EINVAL;
		return -1;
	}
	for (uint64_t i = 0; i < len; i++)
		table[i] = MAGLEV_NONE;
	e = xcalloc(n ? n : 1, sizeof(*e));
	for (uint32_t i = 0; i < n; i++) {
		uint64_t h;

		if (sv[i].weight == 0)
			continue;
		h = hindex_hash_str(sv[i].id);
		e[ne].id = sv[i].id;
		e[ne].index = i;
		e[ne].weight = sv[i].weight;
		/* Two halves of one well-mixed 64-bit hash: independent
		 * enough for offset and skip, as the paper's h1 and h2. */
		e[ne].offset = (h & 0xffffffffu) % len;
		e[ne].skip = (h >> 32) % (len - 1) + 1;
		e[ne].pos = e[ne].offset;
		if (sv[i].weight > wmax)
			wmax = sv[i].weight;
		ne++;
	}
	if (ne == 0) {
		free(e);
		return 0;	/* every slot MAGLEV_NONE: nobody to pick */
	}
	qsort(e, ne, sizeof(*e), mg_entry_cmp);
	/* The heaviest server claims one slot every round, so the table is
	 * full after at most len rounds; each claim walks the server's
	 * permutation, which (len prime, skip < len) visits every slot. */
	for (uint64_t round = 1; filled < len; round++) {
		for (uint32_t k = 0; k < ne && filled < len; k++) {
			struct mg_entry *m = &e[k];

			if (m->count * wmax > round * m->weight)
				continue;
			while (table[m->pos] != MAGLEV_NONE) {
				m->pos += m->skip;
				if (m->pos >= len)
					m->pos -= len;
			}
			table[m->pos] = m->index;
			m->count++;
			filled++;
		}
	}
	free(e);
	return 0;
}
