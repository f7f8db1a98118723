/*
 * guard: access control and limits per listener (see guard.h).  The
 * order of the checks is cheapest and most final first: deny, allow,
 * then the shared tables under their mutex -- concurrent connections per
 * address, then the per-address and total rates.  A connection refused by
 * one check takes nothing from the others: what an earlier check took is
 * given back, so a flooder refused by its own per-source limit spends none
 * of the total that everyone else shares.
 */
#include "autoconfig.h"

#include "edge/guard.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "config/gen.h"
#include "edge/limit.h"
#include "base/log.h"
#include "stats/stats.h"
#include "base/util.h"

/* Per-source rate table: 65,536 addresses (about 3 MiB) whatever the
 * flood; the least recently seen address is forgotten first. */
#define GUARD_RATE_ENTRIES	65536
/* Per-source connection table when neither the listener nor global has
 * max_connections: this many distinct addresses connected at once. */
#define GUARD_CONN_DEFAULT	65536
#define GUARD_CONN_MAX		(1u << 20)
/* Refusal log: at most this many records per second, all together. */
#define GUARD_LOG_BURST		10
#define GUARD_LOG_INTERVAL_MS	1000

struct guard_tables {
	atomic_int refs;
	pthread_mutex_t lock;
	uint32_t conn_entries;		/* 0: no per-source connection table */
	bool rates;			/* has the rate tables */
	struct limit_conns conns;
	struct limit_bucket total;
	bool total_init;
	struct limit_rates per_source;
};

static const char *const reason_names[GUARD_NREASONS] = {
	[GUARD_OK] = "ok",
	[GUARD_DENIED] = "denied",
	[GUARD_NOT_ALLOWED] = "not_allowed",
	[GUARD_UNTRUSTED_PROXY] = "untrusted_proxy",
	[GUARD_PROXY_HEADER] = "proxy_header",
	[GUARD_INSPECT_TIMEOUT] = "inspect_timeout",
	[GUARD_RATE_TOTAL] = "rate_total",
	[GUARD_RATE_SOURCE] = "rate_per_source",
	[GUARD_MAX_PER_SOURCE] = "max_connections_per_source",
	[GUARD_SOURCE_TABLE_FULL] = "source_table_full",
	[GUARD_TLS_HELLO] = "tls_hello",
	[GUARD_NO_ROUTE] = "no_route",
};

static const char *const reason_text[GUARD_NREASONS] = {
	[GUARD_OK] = "accepted",
	[GUARD_DENIED] = "address in deny",
	[GUARD_NOT_ALLOWED] = "address not in allow",
	[GUARD_UNTRUSTED_PROXY] = "peer not in trusted (accept_proxy)",
	[GUARD_PROXY_HEADER] = "bad PROXY header",
	[GUARD_INSPECT_TIMEOUT] = "inspect_timeout expired",
	[GUARD_RATE_TOTAL] = "rate_limit.total exceeded",
	[GUARD_RATE_SOURCE] = "rate_limit.per_source exceeded",
	[GUARD_MAX_PER_SOURCE] = "max_connections_per_source reached",
	[GUARD_SOURCE_TABLE_FULL] = "per-source table full",
	[GUARD_TLS_HELLO] = "no valid TLS ClientHello",
	[GUARD_NO_ROUTE] = "no route matched and the listener has no pool",
};

const char *
guard_reason_name(enum guard_reason r)
{
	return r < GUARD_NREASONS ? reason_names[r] : "unknown";
}

bool
guard_active(const struct listener *l)
{
	return l->accept_proxy || !cidr_set_empty(&l->allow) ||
	    !cidr_set_empty(&l->deny) || l->guard != NULL;
}

static struct guard_tables *
tables_get(struct guard_tables *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

static void
tables_put(struct guard_tables *t)
{
	if (t == NULL || atomic_fetch_sub_explicit(&t->refs, 1,
	    memory_order_acq_rel) != 1)
		return;
	pthread_mutex_destroy(&t->lock);
	if (t->conn_entries)
		limit_conns_free(&t->conns);
	if (t->rates)
		limit_rates_free(&t->per_source);
	free(t);
}

static enum guard_reason
check_lists(const struct listener *l, const struct sockaddr *sa,
    const struct cidr_key *k, bool have_key)
{
	(void)sa;
	if (!have_key)		/* not IP: only an empty allow admits it */
		return cidr_set_empty(&l->allow) ? GUARD_OK : GUARD_NOT_ALLOWED;
	if (!cidr_set_empty(&l->deny) && cidr_set_contains_key(&l->deny, k))
		return GUARD_DENIED;
	if (!cidr_set_empty(&l->allow) && !cidr_set_contains_key(&l->allow, k))
		return GUARD_NOT_ALLOWED;
	return GUARD_OK;
}

static enum guard_reason
check_tables(const struct listener *l, const struct cidr_key *k,
    struct guard_ticket *tk)
{
	struct guard_tables *t = l->guard;
	enum guard_reason r = GUARD_OK;
	bool held = false, took_source = false;
	int64_t now;

	if (t == NULL)
		return GUARD_OK;
	now = (int64_t)now_ms();
	pthread_mutex_lock(&t->lock);
	if (l->max_conns_per_source && t->conn_entries) {
		switch (limit_conns_acquire(&t->conns, k, l->max_conns_per_source)) {
		case LIMIT_OK:
			held = true;
			break;
		case LIMIT_OVER:
			r = GUARD_MAX_PER_SOURCE;
			break;
		case LIMIT_FULL:
			r = GUARD_SOURCE_TABLE_FULL;
			break;
		}
	}
	if (r == GUARD_OK && l->rate_per_source && t->rates) {
		if (limit_rates_take(&t->per_source, k, l->rate_per_source,
		    l->rate_burst, now))
			took_source = true;
		else
			r = GUARD_RATE_SOURCE;
	}
	if (r == GUARD_OK && l->rate_total && t->rates) {
		if (!t->total_init) {
			limit_bucket_init(&t->total, l->rate_burst ? l->rate_burst :
			    l->rate_total, now);
			t->total_init = true;
		}
		if (!limit_bucket_take(&t->total, l->rate_total, l->rate_burst, now))
			r = GUARD_RATE_TOTAL;
	}
	if (r != GUARD_OK && took_source)
		limit_rates_give(&t->per_source, k);
	if (r != GUARD_OK && held)
		limit_conns_release(&t->conns, k);
	pthread_mutex_unlock(&t->lock);
	if (r == GUARD_OK && held) {
		tk->t = tables_get(t);
		tk->key = *k;
	}
	return r;
}

enum guard_reason
guard_admit(const struct listener *l, const struct sockaddr *client,
    struct guard_ticket *tk)
{
	struct cidr_key k;
	bool have_key = cidr_key_of(client, &k);
	enum guard_reason r;

	tk->t = NULL;
	if ((r = check_lists(l, client, &k, have_key)) != GUARD_OK)
		return r;
	if (!have_key)
		return GUARD_OK;
	return check_tables(l, &k, tk);
}

enum guard_reason
guard_accept(const struct listener *l, const struct sockaddr *peer,
    struct guard_ticket *tk)
{
	tk->t = NULL;
	if (l->accept_proxy)
		return cidr_set_contains(&l->trusted, peer) ? GUARD_OK :
		    GUARD_UNTRUSTED_PROXY;
	return guard_admit(l, peer, tk);
}

void
guard_release(struct guard_ticket *tk)
{
	struct guard_tables *t = tk->t;

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	limit_conns_release(&t->conns, &tk->key);
	pthread_mutex_unlock(&t->lock);
	tables_put(t);
	tk->t = NULL;
}

void
guard_refused(struct guard_stats *st, unsigned worker,
    const struct listener *l, const struct sockaddr *client,
    enum guard_reason r, const char *detail)
{
	/* One limiter for every listener and worker: a flood on one
	 * listener must not flood the journal through many. */
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(GUARD_LOG_INTERVAL_MS,
	    GUARD_LOG_BURST);
	atomic_uint_fast64_t *c = &st->refused[r < GUARD_NREASONS ? r : 0];
	char addr[ADDR_STRLEN];
	struct log_ctx ctx = { .listener = l->name };

	struct stats_lsn *lb = stats_lsn_of(l->st, worker);

	/* Only this worker writes its counters: no locked add needed. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
	    memory_order_relaxed);
	if (lb)
		stats_add(&lb->refused, 1);
	if (!log_enabled(LOG_NOTICE))
		return;
	addr_format(client, addr, sizeof(addr));
	ctx.client = addr;
	/* detail comes from a parser's fixed strings, never from the
	 * client's bytes. */
	log_ratelimited(&rl, LOG_NOTICE, &ctx, "listener %s: refused %s: %s%s%s%s",
	    l->name, addr, reason_text[r < GUARD_NREASONS ? r : 0],
	    detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
}

static uint32_t
conn_entries(const struct listener *l, uint32_t global_max)
{
	uint32_t n;

	if (l->max_conns_per_source == 0)
		return 0;
	n = l->max_conns ? l->max_conns : global_max ? global_max : GUARD_CONN_DEFAULT;
	return n > GUARD_CONN_MAX ? GUARD_CONN_MAX : n;
}

void
guard_listener_prepare(struct listener *l, uint32_t global_max_conns)
{
	uint32_t ce = conn_entries(l, global_max_conns);
	bool rates = l->rate_total || l->rate_per_source;
	struct guard_tables *t;

	if (ce == 0 && !rates)
		return;
	t = xcalloc(1, sizeof(*t));
	atomic_init(&t->refs, 1);
	pthread_mutex_init(&t->lock, NULL);
	t->conn_entries = ce;
	if (ce)
		limit_conns_init(&t->conns, ce);
	t->rates = rates;
	if (rates)
		limit_rates_init(&t->per_source, GUARD_RATE_ENTRIES);
	l->guard = t;
}

void
guard_inherit(struct listener *nl, const struct listener *ol)
{
	struct guard_tables *n = nl->guard, *o = ol->guard;

	/* Same shape: keep counting in the same tables, so a reload neither
	 * forgets open connections nor refills the buckets.  Otherwise the
	 * new tables start empty; sessions still open give back to the old
	 * ones, which they keep alive. */
	if (n == NULL || o == NULL || n->conn_entries != o->conn_entries ||
	    n->rates != o->rates)
		return;
	tables_put(n);
	nl->guard = tables_get(o);
}

void
guard_listener_free(struct listener *l)
{
	tables_put(l->guard);
	l->guard = NULL;
}
