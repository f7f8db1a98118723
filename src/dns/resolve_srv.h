/*
 * resolve_srv: pure SRV logic -- which records of an SRV answer become
 * servers, with what weight, and which are backups (RFC 2782 priority).
 * No DNS, no sockets: unit-tested offline.
 */
#ifndef TCPLB_RESOLVE_SRV_H
#define TCPLB_RESOLVE_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Targets per SRV name taken into a pool; more are ignored (and said so).
 * Bounds what a DNS answer can make a pool grow to. */
#define SRV_MAX_TARGETS 64

struct srv_record {
	char target[256];
	uint16_t priority;
	uint16_t weight;
	uint16_t port;
};

struct srv_target {
	const struct srv_record *rec;
	uint32_t weight;	/* tcplb weight: 1-256 */
	bool backup;		/* not of the lowest priority */
};

/*
 * Turn n SRV records into at most SRV_MAX_TARGETS targets, in a stable
 * order (priority, then target, then port) so that the same answer in
 * another order gives the same pool.  Records whose target is "." (the
 * service is decidedly not available) and repeats of a target:port are
 * dropped.  The lowest priority present is primary, every other priority
 * is backup.  Weights keep their ratios, scaled down only when the largest
 * exceeds 256; SRV weight 0 ("rarely, if others are available") becomes 1.
 * Returns the number of targets written to out (which has room for
 * SRV_MAX_TARGETS); *dropped counts records left out for the cap.
 */
size_t resolve_srv_expand(const struct srv_record *recs, size_t n,
    struct srv_target *out, size_t *dropped);

#endif
