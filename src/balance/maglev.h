/*
 * maglev: building the Maglev lookup table (NSDI'16) for `balance: maglev`.
 * Pure and offline; balance.c owns the table and picks from it.
 */
#ifndef TCPLB_MAGLEV_H
#define TCPLB_MAGLEV_H

#include <stdbool.h>
#include <stdint.h>

/* The table has at least this many slots (a prime), and about this many
 * per server beyond that: enough that each server's share of the slots is
 * within about 1% of its weight's, and that removing a server moves few
 * other clients. */
#define MAGLEV_MIN_LEN			65537u
#define MAGLEV_SLOTS_PER_SERVER		100u

#define MAGLEV_NONE	UINT32_MAX

struct maglev_server {
	const char *id;		/* its resolved address: what makes it itself */
	uint32_t weight;	/* 0: no slots */
};

/* The table length for a pool of nservers: the smallest prime at least
 * max(MAGLEV_MIN_LEN, nservers * MAGLEV_SLOTS_PER_SERVER); 0 for none. */
uint64_t maglev_table_len(uint32_t nservers);

/* Fill table[0..len) with indices into sv[] (MAGLEV_NONE everywhere when no
 * server has a weight).  The result depends on the servers' ids and
 * weights, not on their order in sv[].  len must be prime: -1 (EINVAL)
 * otherwise. */
int maglev_build(const struct maglev_server *sv, uint32_t n, uint32_t *table,
    uint64_t len);

#endif
