/*
 * guard: a listener's edge protection -- allow/deny lists, the PROXY
 * trust check, new-connection rate limits and concurrent connections per
 * client address -- applied once per connection, on the client's address
 * (the peer on a plain listener, right after accept; the PROXY header's
 * source on an accept_proxy listener, right after the header).  Refused
 * connections are reset at once, counted per reason in per-worker
 * counters, and logged at most 10 times per second in all.
 *
 * The shared tables (struct guard_tables) exist only for listeners with a
 * limit: fixed-size, behind one short mutex taken at accept and at close,
 * never on the relay path.
 */
#ifndef TCPLB_GUARD_H
#define TCPLB_GUARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "parse/cidr.h"

struct listener;
struct worker;
struct gen;

/* Why a connection was refused.  The names (guard_reason_name) are fixed
 * strings, fit for a metric label. */
enum guard_reason {
	GUARD_OK = 0,
	GUARD_DENIED,			/* "denied": in deny */
	GUARD_NOT_ALLOWED,		/* "not_allowed": allow set, not in it */
	GUARD_UNTRUSTED_PROXY,		/* "untrusted_proxy" */
	GUARD_PROXY_HEADER,		/* "proxy_header": missing/malformed/truncated */
	GUARD_INSPECT_TIMEOUT,		/* "inspect_timeout" */
	GUARD_RATE_TOTAL,		/* "rate_total" */
	GUARD_RATE_SOURCE,		/* "rate_per_source" */
	GUARD_MAX_PER_SOURCE,		/* "max_connections_per_source" */
	GUARD_SOURCE_TABLE_FULL,	/* "source_table_full" */
	GUARD_TLS_HELLO,		/* "tls_hello": malformed/too big/cut short */
	GUARD_NO_ROUTE,			/* "no_route": no route, no listener pool */
	GUARD_NREASONS
};

const char *guard_reason_name(enum guard_reason r);

/* Per-worker refusal counters: written by their worker only (relaxed
 * stores), read by anyone (relaxed loads). */
struct guard_stats {
	atomic_uint_fast64_t refused[GUARD_NREASONS];
};

/* A per-source connection held by a session, given back at close. */
struct guard_ticket {
	struct guard_tables *t;		/* NULL: nothing held */
	struct cidr_key key;
};

/* Does the listener check anything at all?  (Nothing runs otherwise.) */
bool guard_active(const struct listener *l);

/* Right after accept.  On an accept_proxy listener only the trust check
 * (the rest waits for the header's address); otherwise every check.
 * GUARD_OK: *tk holds what must be given back with guard_release(). */
enum guard_reason guard_accept(const struct listener *l,
    const struct sockaddr *peer, struct guard_ticket *tk);
/* After a PROXY header on an accept_proxy listener: every check but
 * trust, on the client's address. */
enum guard_reason guard_admit(const struct listener *l,
    const struct sockaddr *client, struct guard_ticket *tk);
void guard_release(struct guard_ticket *tk);

/* Count one refusal in st (the calling worker's) and log it, at most 10
 * records per second in all.  The sum over workers is
 * worker_refused_total(). */
void guard_refused(struct guard_stats *st, unsigned worker,
    const struct listener *l, const struct sockaddr *client,
    enum guard_reason r, const char *detail);

/* Tables: created by config for listeners that need them, refcounted,
 * handed to the next generation by gen_inherit when still the same
 * shape (so counts of open connections survive a reload). */
void guard_listener_prepare(struct listener *l, uint32_t global_max_conns);
void guard_inherit(struct listener *nl, const struct listener *ol);
void guard_listener_free(struct listener *l);

#endif
