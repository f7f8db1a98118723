/*
 * stats: the traffic counters behind `show servers`, /metrics and the status
 * page.  Every server_state and listener_state carries one block per worker,
 * each on its own cache lines: a worker only ever writes its own block
 * (plain relaxed load+store, no locked instruction), and readers on the main
 * thread sum the blocks when asked.  The shared atomics that decisions need
 * (server_state.active for leastconn and max_connections) stay where they
 * are; nothing here is read on the pick path.
 */
#ifndef TCPLB_STATS_H
#define TCPLB_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/gen.h"

/* Why a connect attempt to a server failed (label values). */
enum stats_fail {
	STATS_FAIL_REFUSED,
	STATS_FAIL_TIMEOUT,
	STATS_FAIL_RESET,
	STATS_FAIL_UNREACHABLE,
	STATS_FAIL_OTHER,
	STATS_FAIL_N,
};

/* Histogram bucket upper bounds, seconds (+Inf implied after the last). */
#define STATS_CONNECT_BUCKETS 12
#define STATS_DURATION_BUCKETS 12
extern const double stats_connect_le[STATS_CONNECT_BUCKETS];
extern const double stats_duration_le[STATS_DURATION_BUCKETS];

typedef atomic_uint_fast64_t stats_ctr;

struct stats_srv {
	stats_ctr conns;		/* connections established */
	stats_ctr bytes_in;		/* client -> server */
	stats_ctr bytes_out;		/* server -> client */
	stats_ctr retries;		/* attempts that followed a failed one */
	stats_ctr fails[STATS_FAIL_N];
	stats_ctr connect_hist[STATS_CONNECT_BUCKETS + 1];
	stats_ctr connect_sum_us;
	stats_ctr duration_hist[STATS_DURATION_BUCKETS + 1];
	stats_ctr duration_sum_us;
} __attribute__((aligned(64)));

/* Why a UDP listener dropped a datagram (label values, stats_drop_name). */
enum stats_drop {
	STATS_DROP_FLOW_LIMIT,		/* new flow, max_connections reached */
	STATS_DROP_REFUSED,		/* new flow refused by allow/deny/limits */
	STATS_DROP_NO_SERVER,		/* new flow, no server available */
	STATS_DROP_NO_SOCKET,		/* new flow, no descriptor or local port */
	STATS_DROP_TOO_BIG,		/* larger than the path allows (EMSGSIZE) or cut */
	STATS_DROP_SEND_FAILED,		/* a socket buffer was full, or an error */
	STATS_DROP_DRAINING,		/* new flow past a `tcplb ctl drain` deadline */
	STATS_DROP_N,
};

struct stats_lsn {
	stats_ctr conns;		/* connections accepted (UDP: flows) */
	stats_ctr bytes_in;
	stats_ctr bytes_out;
	stats_ctr refused_limit;	/* max_connections reached */
	stats_ctr no_server;		/* closed: no server available/reachable */
	stats_ctr refused;		/* refused by the guard (guard_refused) */
	stats_ctr dgrams_in;		/* UDP: client -> server, relayed */
	stats_ctr dgrams_out;		/* UDP: server -> client, relayed */
	stats_ctr drops[STATS_DROP_N];	/* UDP: datagrams dropped, by reason */
} __attribute__((aligned(64)));

/* Plain sums over every worker (what readers get). */
struct stats_srv_sum {
	uint64_t conns, bytes_in, bytes_out, retries, fails[STATS_FAIL_N];
	uint64_t connect_hist[STATS_CONNECT_BUCKETS + 1], connect_sum_us;
	uint64_t duration_hist[STATS_DURATION_BUCKETS + 1], duration_sum_us;
};

struct stats_lsn_sum {
	uint64_t conns, bytes_in, bytes_out, refused_limit, no_server, refused;
	uint64_t dgrams_in, dgrams_out, drops[STATS_DROP_N];
};

/* Carrying state across a binary upgrade: besides health, write
 * server_state.admin and .weight_override (restore with atomic_store) and
 * every field of the sums (STATS_SRV_FIELDS / STATS_LSN_FIELDS uint64_t
 * values, in struct order; restore into a malloc'd .carried of the
 * server_state / pool_state / listener_state, before the generation is published), so
 * that no Prometheus counter goes back.  The layouts are all uint64_t;
 * a peer with another field count carries the connection totals only. */
#define STATS_SRV_FIELDS (sizeof(struct stats_srv_sum) / sizeof(uint64_t))
#define STATS_LSN_FIELDS (sizeof(struct stats_lsn_sum) / sizeof(uint64_t))
/* The process total (stats_total_sessions()) a previous process counted. */
void stats_carry_sessions(uint64_t n);

/* Worker count, fixed for the life of the process; set before the first
 * stats_attach(). */
void stats_init(unsigned nworkers);
unsigned stats_nworkers(void);
/* Give every server and listener state of g that has none its per-worker
 * blocks.  Main thread (or the loader, before publication). */
void stats_attach(struct gen *g);

/* Owner-only increment: the block belongs to the calling worker. */
static inline void
stats_add(stats_ctr *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
	    memory_order_relaxed);
}

static inline struct stats_srv *
stats_srv_of(const struct server_state *st, unsigned worker)
{
	return st->ws ? &st->ws[worker] : NULL;
}

/* The pool's own block: every server count goes there too (gen.h,
 * struct pool_state).  NULL for a pool without state (unit tests). */
static inline struct stats_srv *
stats_pool_of(const struct server *s, unsigned worker)
{
	const struct pool_state *ps = s->pool ? s->pool->st : NULL;

	return ps && ps->ws ? &ps->ws[worker] : NULL;
}

static inline struct stats_lsn *
stats_lsn_of(const struct listener_state *st, unsigned worker)
{
	return st->ws ? &st->ws[worker] : NULL;
}

/* Worker side. */
void stats_session_started(const struct listener_state *st, unsigned worker);
void stats_connect_failed(struct stats_srv *b, const char *reason);
void stats_connected(struct stats_srv *b, double connect_s, bool retry);
void stats_closed(struct stats_srv *b, double duration_s);

/* What every reader shows of one server. */
struct server_view {
	const char *state;	/* "maint", "drain", "down" or "ready" */
	const char *health;	/* "up" or "down" */
	const char *admin;	/* "ready", "drain" or "maint" */
	uint32_t weight;	/* in force: the admin override or the configured */
	uint32_t eff_weight;	/* weight scaled by slow start */
	unsigned active;
	struct stats_srv_sum sum;
};
void stats_server_view(const struct server *s, int64_t now_ms,
    struct server_view *v);

/* Process start, wall clock seconds (set by stats_init). */
double stats_start_time(void);
/* Monotonic seconds since start. */
double stats_uptime(void);

/* Reader side. */
uint64_t stats_server_total(const struct server_state *st);	/* conns */
uint64_t stats_listener_total(const struct listener_state *st);
uint64_t stats_total_sessions(void);	/* accepted since start, all listeners */
void stats_srv_sum(const struct server_state *st, struct stats_srv_sum *out);
/* The pool's totals: monotonic across server removals and reloads. */
void stats_pool_sum(const struct pool_state *st, struct stats_srv_sum *out);
void stats_srv_sum_add(struct stats_srv_sum *acc, const struct stats_srv_sum *s);
void stats_lsn_sum(const struct listener_state *st, struct stats_lsn_sum *out);
const char *stats_fail_name(enum stats_fail f);
const char *stats_drop_name(enum stats_drop d);

/* Reloads that published a new generation and that kept the old one (a
 * DNS change is not a reload).  The service counts on the main loop; any
 * thread may read. */
struct stats_reloads {
	uint64_t ok;
	uint64_t failed;
};
void stats_reload_done(bool ok);
void stats_reloads(struct stats_reloads *out);

#endif
