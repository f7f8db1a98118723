/*
 * resolve: DNS for servers given by host name or SRV name, with c-ares.
 *
 *   resolve_lookup.c  one entry's lookup on a c-ares channel: A/AAAA
 *                     (hosts file first), or SRV then each target's A/AAAA
 *   resolve_sync.c    the same, bounded and synchronous, for the loader
 *                     (start-up or the reload helper thread, never a loop)
 *   resolve.c         re-resolution every resolve_interval on the main loop
 *                     (c-ares sockets as ev_io, its timeout as an ev_timer),
 *                     failures kept out of service decisions, and telling
 *                     the service (a callback) when an address set really
 *                     changed, so that it builds the next generation
 *   resolve_srv.c     pure SRV record -> weighted primary/backup targets
 */
#ifndef TCPLB_RESOLVE_H
#define TCPLB_RESOLVE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/gen.h"
#include "config/resolved.h"

/* Per query try; c-ares tries each name server `tries` times. */
#define RESOLVE_TIMEOUT_MS	2000
#define RESOLVE_TRIES		2

/* ---- load time (resolve_sync.c) ----------------------------------------
 * Blocking, bounded by RESOLVE_TIMEOUT_MS x RESOLVE_TRIES per name server:
 * only for the configuration loader.  resolvers: "ip:port,..." or NULL
 * for /etc/resolv.conf.  At most max addresses (resolved_cap()); *total
 * says how many there were.  Returns 0 with *out malloc'd (n > 0), or -1
 * with err set.  A resolved_lookup_fn. */
int resolve_sync(bool srv, const char *host, uint16_t port,
    const char *resolvers, size_t max, int family, struct resolved_addr **out,
    size_t *n, size_t *total, char *err, size_t errlen);


/* ---- run time (resolve.c, main thread) --------------------------------- */

/* changed() runs on loop when an address set really changed: the service
 * builds the next generation (from resolve_snapshot()). */
void resolve_init(struct ev_loop *loop, void (*changed)(void));
/* Re-resolve g's dynamic entries from now on (takes a reference).  Called
 * after every publication: start-up, reload, DNS change (keep_answers:
 * the last answers still stand). */
void resolve_start(struct gen *g, bool keep_answers);
void resolve_stop(void);
/* For reload.c, building a generation after a DNS change: the latest
 * good addresses of every dynamic entry of cur. */
void resolve_snapshot(const struct gen *cur, struct resolved_set *out);
/* The addresses entry `entry` of pool has in g (sorted like an answer). */
size_t resolve_current(const struct gen *g, const char *pool, uint32_t entry,
    struct resolved_addr **out);
/* After building a generation from out: entries whose new answer could
 * not be used (resolved_entry.rejected) are logged once per answer and
 * reason, counted, and not asked for again until their answer changes. */
void resolve_rejected(const struct resolved_set *set);

/* What the resolver knows about one entry, for show servers / metrics.
 * The addresses in service are the servers of the pool whose `entry` is
 * this one's (gen_current()->pools[...].servers[...].entry). */
struct resolve_status {
	const char *pool;
	uint32_t entry;			/* index in pool->entries */
	const char *name;		/* the servers' name */
	const char *host;		/* host or SRV name */
	bool srv;
	bool ok;			/* last attempt succeeded */
	bool ever;			/* any attempt made yet */
	const char *error;		/* last failure, or NULL */
	int64_t last_ms;		/* wall clock of the last attempt */
	uint64_t attempts, failures, changes;
	size_t naddrs;			/* addresses in service */
};
typedef void (*resolve_status_fn)(const struct resolve_status *st,
    void *arg);
/* Main thread only. */
void resolve_foreach(resolve_status_fn fn, void *arg);
/* Totals since start (any thread). */
uint64_t resolve_total_failures(void);
uint64_t resolve_total_changes(void);
uint64_t resolve_total_rejected(void);

#endif
