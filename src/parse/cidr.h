/*
 * cidr: sets of IPv4 and IPv6 prefixes ("10.0.0.0/8", "2001:db8::/32",
 * "192.0.2.7") as sorted, merged ranges of 128-bit addresses, and lookups
 * by binary search: O(log n), a few hundred nanoseconds with 100,000
 * entries.  IPv4 lives in the IPv4-mapped block ::ffff:0:0/96, so a client
 * seen as ::ffff:192.0.2.7 on an IPv6 socket matches "192.0.2.0/24" and the
 * other way round.  An IPv6 prefix that covers more than that block (::/0)
 * matches IPv6 clients only, as in nginx (cidr_set_add()).  Pure: no sockets, no loop; immutable once finished, so
 * any number of threads may look up at once.
 */
#ifndef TCPLB_CIDR_H
#define TCPLB_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A 128-bit address, most significant half first. */
struct cidr_key {
	uint64_t hi, lo;
};

struct cidr_range {
	struct cidr_key first, last;	/* inclusive */
};

struct cidr_set {
	struct cidr_range *r;		/* ranges not inside ::ffff:0:0/96 */
	size_t n, cap;
	/* Ranges inside the IPv4 block, as 32-bit bounds in two arrays: 8
	 * bytes a range instead of 32, so 100,000 of them stay in cache. */
	uint32_t *v4first, *v4last;
	size_t n4;
	bool finished;
};

/* "ADDR" or "ADDR/LEN".  Returns 0, or -1 with err saying why (host
 * bits set beyond the prefix are an error: "10.1.0.0/8" is a typo more
 * often than not). */
int cidr_parse(const char *text, struct cidr_range *out, char *err, size_t errlen);
void cidr_set_add(struct cidr_set *s, const struct cidr_range *r);
/* Sort and merge; required before cidr_set_contains. */
void cidr_set_finish(struct cidr_set *s);
void cidr_set_free(struct cidr_set *s);
static inline bool cidr_set_empty(const struct cidr_set *s) { return s->n == 0 && s->n4 == 0; }

/* The key of a socket address (AF_INET mapped; other families: false). */
bool cidr_key_of(const struct sockaddr *sa, struct cidr_key *out);
bool cidr_set_contains_key(const struct cidr_set *s, const struct cidr_key *k);
bool cidr_set_contains(const struct cidr_set *s, const struct sockaddr *sa);

#endif
