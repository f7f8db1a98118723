/*
 * balance: the pure part of choosing a server -- smooth weighted round robin,
 * leastconn, consistent hashing of the client address (a ring, or a
 * Maglev table), weighted power of two choices, and first-fit -- over a pool's servers and their atomic counters.
 * No sockets, no event loop, no allocation when picking: the schedules and
 * hash ring are built once per generation by balance_prepare().
 */
#ifndef TCPLB_BALANCE_H
#define TCPLB_BALANCE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/gen.h"


struct balance_point {
	uint32_t hash;
	uint32_t server;	/* index into pool->servers */
};

/* Precomputed per pool, immutable after balance_prepare(). */
struct balance_data {
	uint32_t *sched;	/* smooth WRR order of server indices */
	uint32_t sched_len;
	struct balance_point *ring;	/* consistent-hash ring, sorted by hash */
	uint32_t ring_len;
	uint64_t *cum_weight;	/* prefix sums of weights, for weighted random */
	uint64_t total_weight;
	uint32_t *maglev;	/* `maglev`: slot -> server index (maglev.h) */
	uint32_t maglev_len;	/* a prime, 0 for other algorithms */
};

struct pool;


/* Build pool->bal from pool->servers (weights, order, names/addresses).
 * Returns 0, or -1 on allocation limits. */
int balance_prepare(struct pool *p);
void balance_free(struct balance_data *b);
/* Entries (schedule slots + ring points) balance_prepare() would build
 * for p: what a configuration is charged for the pool. */
uint64_t balance_table_size(const struct pool *p);

/* Choose a server index, or -1 when no server may take a new connection.
 * Skips servers that are down, have weight 0, are full (max_conns), or are
 * listed in exclude[]; backup servers are considered only while no
 * non-backup server is up.  Reserves nothing: pool_pick() does that. */
int balance_pick(struct pool *p, const struct sockaddr *client,
    const uint32_t *exclude, unsigned nexclude, int64_t now_ms, uint32_t *rnd);
/* The same, telling apart servers that already failed this client (the
 * first nfailed of exclude[]: once every healthy regular server has, the
 * backups may serve it) from servers merely skipped for this pick. */
int balance_pick_ex(struct pool *p, const struct sockaddr *client,
    const uint32_t *exclude, unsigned nexclude, unsigned nfailed,
    int64_t now_ms, uint32_t *rnd);

#endif
