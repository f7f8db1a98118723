/*
 * route: which pool a listener's routes choose for a TLS server name and
 * ALPN list -- exact names (case-insensitive), "*." wildcards, first match
 * wins.  Pure code: no sockets, no event loop; the pool a route leads to is
 * opaque here.
 */
#ifndef TCPLB_ROUTE_H
#define TCPLB_ROUTE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool;

/* One `sni:` pattern, normalised to lower case.  A wildcard "*.b.example"
 * is stored as its suffix ".b.example" and matches names with one or more
 * labels before it ("x.b.example", "x.y.b.example"), never "b.example"
 * itself. */
struct route_name {
	char *text;
	size_t len;
	bool wildcard;
};

struct route {
	struct route_name *names;	/* any of them; nnames == 0: any name,
					 * or none at all */
	uint32_t nnames;
	char *alpn;			/* must be offered; NULL: any */
	size_t alpn_len;
	struct pool *pool;
	/* Connections sent by this route since the generation was loaded
	 * (workers add with relaxed atomics; read with route_hits()). */
	atomic_uint_fast64_t hits;
};

static inline uint64_t
route_hits(const struct route *r)
{
	return atomic_load_explicit(&r->hits, memory_order_relaxed);
}

/* Check and normalise one pattern.  Returns 0, or -1 with err set. */
int route_name_parse(const char *pattern, struct route_name *out, char *err,
    size_t errlen);
void route_name_clear(struct route_name *n);
/* Does host (lower case, a valid host name, len bytes) match n? */
bool route_name_match(const struct route_name *n, const char *host,
    size_t len);
/* Same pattern (for duplicate checks). */
bool route_name_equal(const struct route_name *a, const struct route_name *b);

/* An ALPN protocol name as configured: 1..255 bytes, no NUL.  Returns 0 or
 * -1 with err set. */
int route_alpn_check(const char *s, size_t len, char *err, size_t errlen);

/* The index of the first route matching, or -1.  host: lower case (as
 * tls_hello gives it), NULL when the client sent no name; alpn: the
 * client's ALPN list in wire form (length-prefixed names). */
int route_match(const struct route *r, uint32_t n, const char *host,
    size_t hostlen, const uint8_t *alpn, size_t alpnlen);

/* Free what a route owns (not the route itself, not its pool). */
void route_clear(struct route *r);

#endif
