/*
 * limit: the bounded tables behind per-source limits, as pure data
 * structures (no locks, no clock: the caller passes the time and holds
 * whatever lock shares them) --
 *   - limit_conns: concurrent connections per client address, an
 *     open-addressing hash table of fixed capacity (entries exist only
 *     while their address has a connection open, so it never needs more
 *     than one entry per open connection);
 *   - limit_bucket: one token bucket (N per second, burst B);
 *   - limit_rates: a token bucket per client address in a fixed-size,
 *     4-way set-associative table; a new address evicts the least recently
 *     used entry of its set, so a flood from many addresses costs the
 *     same memory as one from a single address.
 */
#ifndef TCPLB_LIMIT_H
#define TCPLB_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "parse/cidr.h"

struct limit_conn_slot {
	struct cidr_key key;
	uint32_t n;			/* 0: free slot */
};

struct limit_conns {
	struct limit_conn_slot *slot;
	uint32_t cap;			/* power of two */
	uint32_t used;			/* slots with n > 0 */
	uint32_t max_used;		/* cap / 2: probes stay short */
};

enum limit_result {
	LIMIT_OK,
	LIMIT_OVER,			/* the address is at its limit */
	LIMIT_FULL,			/* no room for one more address */
};

/* A table for at least `entries` distinct addresses at once. */
void limit_conns_init(struct limit_conns *t, uint32_t entries);
void limit_conns_free(struct limit_conns *t);
/* Count one more connection for k unless it already has max. */
enum limit_result limit_conns_acquire(struct limit_conns *t,
    const struct cidr_key *k, uint32_t max);
/* Give one back (k must hold one). */
void limit_conns_release(struct limit_conns *t, const struct cidr_key *k);
uint32_t limit_conns_count(const struct limit_conns *t, const struct cidr_key *k);

/* Tokens are kept in millionths, so rates up to 10^6/s stay exact. */
struct limit_bucket {
	int64_t tokens;			/* micro-tokens */
	int64_t t_ms;			/* last refill */
};

/* A full bucket at now_ms. */
void limit_bucket_init(struct limit_bucket *b, uint32_t burst, int64_t now_ms);
/* Refill at rate/s up to burst, then take one token if there is one. */
bool limit_bucket_take(struct limit_bucket *b, uint32_t rate, uint32_t burst,
    int64_t now_ms);

/* Give back a token taken by limit_bucket_take() (a later check refused
 * the connection: checks that refuse take nothing).  The next take caps
 * the bucket at its burst again. */
void limit_bucket_give(struct limit_bucket *b);

#define LIMIT_RATE_WAYS 4

struct limit_rate_slot {
	struct cidr_key key;
	struct limit_bucket b;
	uint64_t used;			/* LRU stamp; 0: free */
};

struct limit_rates {
	struct limit_rate_slot *slot;	/* nsets * LIMIT_RATE_WAYS */
	uint32_t nsets;			/* power of two */
	uint64_t clock;
};

void limit_rates_init(struct limit_rates *t, uint32_t entries);
void limit_rates_free(struct limit_rates *t);
/* Take a token from k's bucket (a fresh, full one if k is not in the
 * table, evicting the least recently used entry of its set). */
bool limit_rates_take(struct limit_rates *t, const struct cidr_key *k,
    uint32_t rate, uint32_t burst, int64_t now_ms);

/* Give back the token k took last (nothing if k has been evicted). */
void limit_rates_give(struct limit_rates *t, const struct cidr_key *k);

/* Hash of a key (also chooses the set / first slot). */
uint64_t limit_hash(const struct cidr_key *k);

#endif
