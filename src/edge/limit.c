/*
 * limit: fixed-size tables for per-source connection counts and token
 * buckets.  Sizes are fixed at init: nothing here grows with the number
 * of addresses seen (see limit.h).  The hash is keyed with a per-process
 * random seed so a client cannot choose addresses that collide.
 */
#include "autoconfig.h"

#include "edge/limit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/util.h"

#define MICRO 1000000ll

static uint64_t limit_seed;
static pthread_once_t limit_seed_once = PTHREAD_ONCE_INIT;

static void
limit_seed_init(void)
{
	uint64_t s = 0;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != sizeof(s))
		s = (uint64_t)(uintptr_t)&s ^ 0x9e3779b97f4a7c15ull;
	limit_seed = s | 1;
}

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* One seed for the life of the process (set once, before any table is
 * used): a table's entries must hash the same way from insert to
 * delete, on every thread. */
uint64_t
limit_hash(const struct cidr_key *k)
{
	pthread_once(&limit_seed_once, limit_seed_init);
	return mix(k->hi ^ mix(k->lo ^ limit_seed));
}

static uint32_t
pow2_at_least(uint64_t n)
{
	uint32_t p = 16;

	while (p < n && p < (1u << 30))
		p <<= 1;
	return p;
}

static bool
key_eq(const struct cidr_key *a, const struct cidr_key *b)
{
	return a->hi == b->hi && a->lo == b->lo;
}

/* ---- concurrent connections per address --------------------------------- */

void
limit_conns_init(struct limit_conns *t, uint32_t entries)
{
	t->cap = pow2_at_least((uint64_t)entries * 2);
	t->max_used = t->cap / 2;
	t->used = 0;
	t->slot = xcalloc(t->cap, sizeof(*t->slot));
}

void
limit_conns_free(struct limit_conns *t)
{
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

/* The slot holding k, or the free slot where the probe ended. */
static uint32_t
conns_find(const struct limit_conns *t, const struct cidr_key *k)
{
	uint32_t mask = t->cap - 1, i = (uint32_t)limit_hash(k) & mask;

	while (t->slot[i].n != 0 && !key_eq(&t->slot[i].key, k))
		i = (i + 1) & mask;
	return i;
}

enum limit_result
limit_conns_acquire(struct limit_conns *t, const struct cidr_key *k, uint32_t max)
{
	uint32_t i = conns_find(t, k);

	if (t->slot[i].n == 0) {
		if (t->used >= t->max_used)
			return LIMIT_FULL;
		t->slot[i].key = *k;
		t->slot[i].n = 1;
		t->used++;
		return LIMIT_OK;
	}
	if (t->slot[i].n >= max)
		return LIMIT_OVER;
	t->slot[i].n++;
	return LIMIT_OK;
}

uint32_t
limit_conns_count(const struct limit_conns *t, const struct cidr_key *k)
{
	return t->slot[conns_find(t, k)].n;
}

void
limit_conns_release(struct limit_conns *t, const struct cidr_key *k)
{
	uint32_t mask = t->cap - 1, i = conns_find(t, k), j;

	if (t->slot[i].n == 0)
		return;		/* not held: nothing to give back */
	if (--t->slot[i].n > 0)
		return;
	t->used--;
	/* Backward-shift deletion: move later members of the probe run
	 * into the hole so lookups never stop early (no tombstones, so the
	 * table never degrades however many addresses come and go). */
	j = i;
	for (;;) {
		uint32_t home;

		j = (j + 1) & mask;
		if (t->slot[j].n == 0)
			break;
		home = (uint32_t)limit_hash(&t->slot[j].key) & mask;
		/* Leave j alone if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		t->slot[i] = t->slot[j];
		t->slot[j].n = 0;
		i = j;
	}
	t->slot[i].n = 0;
}

/* ---- token buckets ------------------------------------------------------ */

void
limit_bucket_init(struct limit_bucket *b, uint32_t burst, int64_t now_ms)
{
	b->tokens = (int64_t)burst * MICRO;
	b->t_ms = now_ms;
}

bool
limit_bucket_take(struct limit_bucket *b, uint32_t rate, uint32_t burst,
    int64_t now_ms)
{
	int64_t cap = (int64_t)(burst ? burst : rate) * MICRO;

	if (now_ms > b->t_ms) {
		int64_t dt = now_ms - b->t_ms;

		/* rate <= 10^7 and dt is capped so this cannot overflow. */
		if (dt > 1000000)
			dt = 1000000;
		b->tokens += dt * (int64_t)rate * (MICRO / 1000);
		b->t_ms = now_ms;
	}
	if (b->tokens > cap)
		b->tokens = cap;
	if (b->tokens < MICRO)
		return false;
	b->tokens -= MICRO;
	return true;
}

void
limit_bucket_give(struct limit_bucket *b)
{
	b->tokens += MICRO;
}

/* ---- token bucket per address -------------------------------------------- */

void
limit_rates_init(struct limit_rates *t, uint32_t entries)
{
	t->nsets = pow2_at_least((entries + LIMIT_RATE_WAYS - 1) / LIMIT_RATE_WAYS);
	t->slot = xcalloc((size_t)t->nsets * LIMIT_RATE_WAYS, sizeof(*t->slot));
	t->clock = 0;
}

void
limit_rates_free(struct limit_rates *t)
{
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

bool
limit_rates_take(struct limit_rates *t, const struct cidr_key *k,
    uint32_t rate, uint32_t burst, int64_t now_ms)
{
	struct limit_rate_slot *set = &t->slot[((uint32_t)limit_hash(k) &
	    (t->nsets - 1)) * LIMIT_RATE_WAYS];
	struct limit_rate_slot *victim = &set[0];

	for (int w = 0; w < LIMIT_RATE_WAYS; w++) {
		if (set[w].used != 0 && key_eq(&set[w].key, k)) {
			set[w].used = ++t->clock;
			return limit_bucket_take(&set[w].b, rate, burst, now_ms);
		}
		if (set[w].used < victim->used)
			victim = &set[w];
	}
	/* An evicted address starts again with a full bucket: the table
	 * forgets the least recently seen, which is the one least likely
	 * to be flooding. */
	victim->key = *k;
	victim->used = ++t->clock;
	limit_bucket_init(&victim->b, burst ? burst : rate, now_ms);
	return limit_bucket_take(&victim->b, rate, burst, now_ms);
}

void
limit_rates_give(struct limit_rates *t, const struct cidr_key *k)
{
	struct limit_rate_slot *set = &t->slot[((uint32_t)limit_hash(k) &
	    (t->nsets - 1)) * LIMIT_RATE_WAYS];

	for (int w = 0; w < LIMIT_RATE_WAYS; w++)
		if (set[w].used != 0 && key_eq(&set[w].key, k)) {
			limit_bucket_give(&set[w].b);
			return;
		}
}
