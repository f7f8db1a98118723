/*
 * admin_show: text and JSON renderings of tcplb's state for the admin
 * socket.  Names come from the configuration but may hold anything YAML
 * allows, so text fields go through sbuf_field() and JSON strings through
 * sbuf_json_str(); nothing here is ever copied raw.
 */
#include "autoconfig.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "control/admin_show.h"
#include "relay/listener.h"
#include "balance/queue.h"
#include "dns/resolve.h"
#include "health/health.h"
#include "parse/route.h"
#include "relay/session.h"
#include "stats/peers.h"
#include "stats/stats.h"
#include "base/util.h"
#include "relay/worker.h"
#include "base/log.h"

static void
json_key(struct sbuf *b, bool *first, const char *key)
{
	if (!*first)
		sbuf_add(b, ",", 1);
	*first = false;
	sbuf_json_str(b, key);
	sbuf_add(b, ":", 1);
}

static void
json_u64(struct sbuf *b, bool *first, const char *key, uint64_t v)
{
	json_key(b, first, key);
	sbuf_printf(b, "%" PRIu64, v);
}

static void
json_str(struct sbuf *b, bool *first, const char *key, const char *v)
{
	json_key(b, first, key);
	if (v == NULL)
		sbuf_puts(b, "null");
	else
		sbuf_json_str(b, v);
}

void
admin_show_info(struct sbuf *b, const struct gen *g, const char *state, bool json)
{
	struct stats_reloads rc;
	unsigned up, total;
	struct rlimit rl;
	uint64_t fdmax = 0;

	/* Old processes still draining after binary upgrades: their
	 * sessions are open too (active_connections_all), and each answers
	 * `show sessions` / `shutdown sessions` at its own admin path. */
	struct peer_info peers[PEERS_MAX];
	unsigned npeers = peers_refresh(peers, PEERS_MAX), peer_active = 0;

	if (npeers > PEERS_MAX)
		npeers = PEERS_MAX;
	for (unsigned i = 0; i < npeers; i++)
		peer_active += peers[i].active;
	stats_reloads(&rc);
	gen_count_servers(g, &up, &total);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		fdmax = rl.rlim_cur == RLIM_INFINITY ? 0 : rl.rlim_cur;
	if (json) {
		bool f = true;

		sbuf_add(b, "{", 1);
		json_str(b, &f, "version", PACKAGE_VERSION);
		json_u64(b, &f, "pid", (uint64_t)getpid());
		json_key(b, &f, "uptime");
		sbuf_printf(b, "%.3f", stats_uptime());
		json_key(b, &f, "start_time");
		sbuf_printf(b, "%.3f", stats_start_time());
		json_str(b, &f, "state", state);
		json_u64(b, &f, "generation", g->id);
		json_str(b, &f, "config", g->source);
		json_u64(b, &f, "workers", workers_count());
		json_u64(b, &f, "listeners", g->nlisteners);
		json_u64(b, &f, "pools", g->npools);
		json_u64(b, &f, "servers", total);
		json_u64(b, &f, "servers_up", up);
		json_u64(b, &f, "active_connections", atomic_load(&tcplb_active));
		json_u64(b, &f, "active_connections_all",
		    (uint64_t)atomic_load(&tcplb_active) + peer_active);
		json_key(b, &f, "draining_processes");
		sbuf_add(b, "[", 1);
		for (unsigned i = 0; i < npeers; i++) {
			bool pf = true;

			if (i)
				sbuf_add(b, ",", 1);
			sbuf_add(b, "{", 1);
			json_u64(b, &pf, "pid", (uint64_t)peers[i].pid);
			json_u64(b, &pf, "active_connections", peers[i].active);
			json_u64(b, &pf, "total_connections", peers[i].total);
			json_str(b, &pf, "admin_socket", peers[i].admin[0] ? peers[i].admin : NULL);
			sbuf_add(b, "}", 1);
		}
		sbuf_add(b, "]", 1);
		json_u64(b, &f, "total_connections", stats_total_sessions());
		json_u64(b, &f, "reloads", rc.ok);
		json_u64(b, &f, "reloads_failed", rc.failed);
		json_u64(b, &f, "fd_limit", fdmax);
		json_u64(b, &f, "log_dropped", log_dropped_count());
		sbuf_puts(b, "}\n");
		return;
	}
	sbuf_printf(b, "version: %s\n", PACKAGE_VERSION);
	sbuf_printf(b, "pid: %ld\n", (long)getpid());
	sbuf_printf(b, "uptime: %.0fs\n", stats_uptime());
	sbuf_printf(b, "state: %s\n", state);
	sbuf_printf(b, "generation: %u\n", g->id);
	sbuf_puts(b, "config: ");
	sbuf_field(b, g->source);
	sbuf_printf(b, "\nworkers: %u\n", workers_count());
	sbuf_printf(b, "listeners: %u\npools: %u\nservers: %u (%u up)\n",
	    g->nlisteners, g->npools, total, up);
	sbuf_printf(b, "active connections: %u\ntotal connections: %" PRIu64 "\n",
	    atomic_load(&tcplb_active), stats_total_sessions());
	sbuf_printf(b, "active connections, all processes: %u\n",
	    atomic_load(&tcplb_active) + peer_active);
	sbuf_printf(b, "draining processes: %u\n", npeers);
	for (unsigned i = 0; i < npeers; i++) {
		sbuf_printf(b, "  pid %ld: %u active connections, admin socket ",
		    peers[i].pid, peers[i].active);
		sbuf_field(b, peers[i].admin[0] ? peers[i].admin : "-");
		sbuf_puts(b, "\n");
	}
	sbuf_printf(b, "reloads: %" PRIu64 " (%" PRIu64 " failed)\n", rc.ok, rc.failed);
	sbuf_printf(b, "log records dropped: %" PRIu64 "\n", log_dropped_count());
}

void
admin_show_listeners(struct sbuf *b, const struct gen *g, bool json)
{
	if (json)
		sbuf_puts(b, "{\"listeners\":[");
	else
		sbuf_puts(b, "# listener pool binds active total bytes_in bytes_out limit_reached no_server max_connections protocol datagrams_in datagrams_out dropped\n");
	for (uint32_t i = 0; i < g->nlisteners; i++) {
		const struct listener *l = &g->listeners[i];
		struct stats_lsn_sum s;
		unsigned active = atomic_load(&l->st->active);

		stats_lsn_sum(l->st, &s);
		if (json) {
			bool f = true;

			sbuf_puts(b, i ? ",{" : "{");
			json_str(b, &f, "name", l->name);
			json_str(b, &f, "pool", l->pool ? l->pool->name : NULL);
			json_key(b, &f, "binds");
			sbuf_add(b, "[", 1);
			for (uint32_t k = 0; k < l->nbinds; k++) {
				if (k)
					sbuf_add(b, ",", 1);
				sbuf_json_str(b, l->binds[k].ls ? l->binds[k].ls->text :
				    l->binds[k].text);
			}
			sbuf_add(b, "]", 1);
			json_u64(b, &f, "active", active);
			json_u64(b, &f, "total", s.conns);
			json_u64(b, &f, "bytes_in", s.bytes_in);
			json_u64(b, &f, "bytes_out", s.bytes_out);
			json_u64(b, &f, "limit_reached", s.refused_limit);
			json_u64(b, &f, "no_server", s.no_server);
			json_u64(b, &f, "refused", s.refused);
			json_u64(b, &f, "max_connections", l->max_conns);
			json_str(b, &f, "protocol", l->udp ? "udp" : "tcp");
			if (l->udp) {
				bool f2 = true;

				/* active and total count flows here */
				json_u64(b, &f, "datagrams_in", s.dgrams_in);
				json_u64(b, &f, "datagrams_out", s.dgrams_out);
				json_key(b, &f, "dropped");
				sbuf_add(b, "{", 1);
				for (unsigned d = 0; d < STATS_DROP_N; d++)
					json_u64(b, &f2, stats_drop_name(d),
					    s.drops[d]);
				sbuf_add(b, "}", 1);
			}
			json_key(b, &f, "routes");
			sbuf_add(b, "[", 1);
			for (uint32_t r = 0; r < l->nroutes; r++) {
				bool f2 = true;

				sbuf_puts(b, r ? ",{" : "{");
				json_u64(b, &f2, "route", r);
				json_str(b, &f2, "pool", l->routes[r].pool->name);
				json_u64(b, &f2, "hits", route_hits(&l->routes[r]));
				sbuf_add(b, "}", 1);
			}
			sbuf_add(b, "]", 1);
			sbuf_add(b, "}", 1);
			continue;
		}
		sbuf_field(b, l->name);
		sbuf_add(b, " ", 1);
		sbuf_field(b, l->pool ? l->pool->name : NULL);
		sbuf_add(b, " ", 1);
		for (uint32_t k = 0; k < l->nbinds; k++) {
			if (k)
				sbuf_add(b, ",", 1);
			sbuf_field(b, l->binds[k].ls ? l->binds[k].ls->text :
			    l->binds[k].text);
		}
		{
			uint64_t dropped = 0;

			for (unsigned d = 0; d < STATS_DROP_N; d++)
				dropped += s.drops[d];
			sbuf_printf(b, " %u %" PRIu64 " %" PRIu64 " %" PRIu64
			    " %" PRIu64 " %" PRIu64 " %u %s %" PRIu64 " %" PRIu64
			    " %" PRIu64 "\n", active, s.conns, s.bytes_in,
			    s.bytes_out, s.refused_limit, s.no_server,
			    l->max_conns, l->udp ? "udp" : "tcp", s.dgrams_in,
			    s.dgrams_out, dropped);
		}
	}
	if (json)
		sbuf_puts(b, "]}\n");
}

struct queue_view {
	unsigned length;
	uint64_t queued, served, timeouts, full;
};

static void
pool_queue_view(const struct pool *p, struct queue_view *qv)
{
	memset(qv, 0, sizeof(*qv));
	if (p->queue == NULL)
		return;
	qv->length = queue_length(p->queue);
	qv->queued = atomic_load(&p->queue->queued);
	qv->served = atomic_load(&p->queue->served);
	qv->timeouts = atomic_load(&p->queue->timeouts);
	qv->full = atomic_load(&p->queue->full);
}

void
admin_show_pools(struct sbuf *b, const struct gen *g, bool json)
{
	int64_t now = (int64_t)now_ms();

	if (json)
		sbuf_puts(b, "{\"pools\":[");
	else
		sbuf_puts(b, "# pool balance servers up active total bytes_in bytes_out connect_failures retries queued max_queue queued_total queue_served queue_timeouts queue_full\n");
	for (uint32_t i = 0; i < g->npools; i++) {
		const struct pool *p = &g->pools[i];
		struct stats_srv_sum sum = { 0 };
		struct queue_view qv;
		unsigned up = 0, active = 0;
		uint64_t fails = 0;

		for (uint32_t k = 0; k < p->nservers; k++) {
			struct server_view v;

			stats_server_view(&p->servers[k], now, &v);
			up += strcmp(v.health, "up") == 0;
			active += v.active;
		}
		/* The pool's own totals: monotonic, whatever servers left. */
		stats_pool_sum(p->st, &sum);
		for (unsigned f = 0; f < STATS_FAIL_N; f++)
			fails += sum.fails[f];
		pool_queue_view(p, &qv);
		if (json) {
			bool f = true;

			sbuf_puts(b, i ? ",{" : "{");
			json_str(b, &f, "name", p->name);
			json_str(b, &f, "balance", gen_balance_name(p->alg));
			json_u64(b, &f, "servers", p->nservers);
			json_u64(b, &f, "up", up);
			json_u64(b, &f, "active", active);
			json_u64(b, &f, "total", sum.conns);
			json_u64(b, &f, "bytes_in", sum.bytes_in);
			json_u64(b, &f, "bytes_out", sum.bytes_out);
			json_u64(b, &f, "connect_failures", fails);
			json_u64(b, &f, "retries", sum.retries);
			json_u64(b, &f, "queued", qv.length);
			json_u64(b, &f, "max_queue", p->max_queue);
			json_u64(b, &f, "queued_total", qv.queued);
			json_u64(b, &f, "queue_served", qv.served);
			json_u64(b, &f, "queue_timeouts", qv.timeouts);
			json_u64(b, &f, "queue_full", qv.full);
			sbuf_add(b, "}", 1);
			continue;
		}
		sbuf_field(b, p->name);
		sbuf_printf(b, " %s %u %u %u %" PRIu64 " %" PRIu64 " %" PRIu64
		    " %" PRIu64 " %" PRIu64 " %u %u %" PRIu64 " %" PRIu64 " %" PRIu64
		    " %" PRIu64 "\n", gen_balance_name(p->alg), p->nservers,
		    up, active, sum.conns, sum.bytes_in, sum.bytes_out, fails,
		    sum.retries, qv.length, p->max_queue, qv.queued, qv.served,
		    qv.timeouts, qv.full);
	}
	if (json)
		sbuf_puts(b, "]}\n");
}

/* What the resolver last said about one host/SRV entry of a pool.
 * resolve_foreach() runs on the main thread, as these answers do. */
struct dns_view {
	bool have, ever, ok, srv;
	int64_t last_ms;
	uint64_t failures, changes;
	char error[160];
};

struct dns_collect {
	const struct pool *p;
	struct dns_view *v;		/* p->nentries */
};

static void
dns_collect_one(const struct resolve_status *st, void *arg)
{
	struct dns_collect *c = arg;
	struct dns_view *d;

	if (strcmp(st->pool, c->p->name) != 0 || st->entry >= c->p->nentries)
		return;
	d = &c->v[st->entry];
	d->have = true;
	d->ever = st->ever;
	d->ok = st->ok;
	d->srv = st->srv;
	d->last_ms = st->last_ms;
	d->failures = st->failures;
	d->changes = st->changes;
	snprintf(d->error, sizeof(d->error), "%s", st->error ? st->error : "");
}

/* NULL when the pool has no host or SRV entries. */
static struct dns_view *
dns_views(const struct pool *p)
{
	struct dns_collect c = { p, NULL };
	bool dynamic = false;

	for (uint32_t e = 0; e < p->nentries; e++)
		dynamic |= p->entries[e].kind != SE_ADDR;
	if (!dynamic)
		return NULL;
	c.v = xcalloc(p->nentries, sizeof(*c.v));
	resolve_foreach(dns_collect_one, &c);
	return c.v;
}

static const struct dns_view *
server_dns(const struct server *s, const struct dns_view *dv)
{
	if (dv == NULL || s->entry >= s->pool->nentries ||
	    s->pool->entries[s->entry].kind == SE_ADDR || !dv[s->entry].have)
		return NULL;
	return &dv[s->entry];
}

static void
dns_json(struct sbuf *b, const struct server *s, const struct dns_view *d)
{
	bool f = true;

	if (d == NULL) {
		sbuf_puts(b, "null");
		return;
	}
	sbuf_add(b, "{", 1);
	json_str(b, &f, "host", s->pool->entries[s->entry].host);
	json_key(b, &f, "srv");
	sbuf_puts(b, d->srv ? "true" : "false");
	json_str(b, &f, "result", !d->ever ? NULL : d->ok ? "ok" : d->error);
	json_key(b, &f, "time");
	if (d->ever)
		sbuf_printf(b, "%.3f", (double)d->last_ms / 1000.0);
	else
		sbuf_puts(b, "null");
	json_u64(b, &f, "failures", d->failures);
	json_u64(b, &f, "changes", d->changes);
	sbuf_add(b, "}", 1);
}

static void
server_json(struct sbuf *b, const struct server *s, const struct server_view *v,
    const struct dns_view *dns)
{
	const struct server_state *st = s->st;
	bool f = true, f2 = true;
	char lc[96];
	int64_t lc_ms;
	uint32_t lc_us;

	sbuf_add(b, "{", 1);
	json_str(b, &f, "pool", s->pool->name);
	json_str(b, &f, "server", s->name);
	json_str(b, &f, "address", s->addr_text);
	json_str(b, &f, "state", v->state);
	json_str(b, &f, "health", v->health);
	json_str(b, &f, "admin", v->admin);
	json_u64(b, &f, "weight", v->weight);
	json_u64(b, &f, "configured_weight", s->weight);
	json_u64(b, &f, "effective_weight", v->eff_weight);
	json_key(b, &f, "backup");
	sbuf_puts(b, s->backup ? "true" : "false");
	json_str(b, &f, "origin", gen_server_origin(s));
	json_u64(b, &f, "active", v->active);
	json_u64(b, &f, "total", v->sum.conns);
	json_u64(b, &f, "bytes_in", v->sum.bytes_in);
	json_u64(b, &f, "bytes_out", v->sum.bytes_out);
	json_u64(b, &f, "retries", v->sum.retries);
	json_key(b, &f, "connect_failures");
	sbuf_add(b, "{", 1);
	for (unsigned k = 0; k < STATS_FAIL_N; k++)
		json_u64(b, &f2, stats_fail_name(k), v->sum.fails[k]);
	sbuf_add(b, "}", 1);
	json_key(b, &f, "last_check");
	health_last_check(st, lc, sizeof(lc), &lc_ms, &lc_us);
	if (lc_ms == 0) {
		sbuf_puts(b, "null");
	} else {
		f2 = true;
		sbuf_add(b, "{", 1);
		json_str(b, &f2, "result", lc);
		json_key(b, &f2, "time");
		sbuf_printf(b, "%.3f", (double)lc_ms / 1000.0);
		json_key(b, &f2, "duration");
		sbuf_printf(b, "%.6f", (double)lc_us / 1e6);
		sbuf_add(b, "}", 1);
	}
	json_key(b, &f, "dns");
	dns_json(b, s, dns);
	sbuf_add(b, "}", 1);
}

void
admin_show_servers_head(struct sbuf *b, bool json)
{
	if (json)
		sbuf_puts(b, "{\"servers\":[");
	else
		sbuf_puts(b, "# pool server address state health weight effective_weight active total bytes_in bytes_out connect_failures last_check last_check_age dns dns_age origin\n");
}

bool
admin_show_servers_some(struct sbuf *b, const struct gen *g, const char *pool,
    bool json, uint32_t *pi, uint32_t *si, unsigned long *n, unsigned max)
{
	int64_t now = (int64_t)now_ms();
	time_t wall = time(NULL);
	unsigned done = 0;
	char lc[96];
	int64_t lc_ms;
	uint32_t lc_us;

	for (; *pi < g->npools && done < max; (*pi)++, *si = 0) {
		const struct pool *p = &g->pools[*pi];
		struct dns_view *dv;

		if (pool && strcmp(p->name, pool) != 0)
			continue;
		dv = dns_views(p);
		for (; *si < p->nservers && done < max; (*si)++, done++) {
			const struct server *s = &p->servers[*si];
			const struct dns_view *d = server_dns(s, dv);
			struct server_view v;
			uint64_t fails = 0;

			stats_server_view(s, now, &v);
			if (json) {
				if ((*n)++ > 0)
					sbuf_add(b, ",", 1);
				server_json(b, s, &v, d);
				continue;
			}
			(*n)++;
			for (unsigned f = 0; f < STATS_FAIL_N; f++)
				fails += v.sum.fails[f];
			sbuf_field(b, p->name);
			sbuf_add(b, " ", 1);
			sbuf_field(b, s->name);
			sbuf_add(b, " ", 1);
			sbuf_field(b, s->addr_text);
			sbuf_printf(b, " %s %s %u %u %u %" PRIu64 " %" PRIu64 " %" PRIu64
			    " %" PRIu64 " ", v.state, v.health, v.weight, v.eff_weight,
			    v.active, v.sum.conns, v.sum.bytes_in, v.sum.bytes_out, fails);
			health_last_check(s->st, lc, sizeof(lc), &lc_ms, &lc_us);
			if (lc_ms == 0) {
				sbuf_puts(b, "- -");
			} else {
				sbuf_word(b, lc);
				sbuf_printf(b, " %llds", (long long)(wall -
				    lc_ms / 1000));
			}
			if (d == NULL || !d->ever) {
				sbuf_puts(b, " - -");
			} else {
				sbuf_add(b, " ", 1);
				sbuf_word(b, d->ok ? "ok" : d->error);
				sbuf_printf(b, " %llds", (long long)(wall -
				    d->last_ms / 1000));
			}
			sbuf_printf(b, " %s\n", gen_server_origin(s));
		}
		free(dv);
		if (*si < p->nservers)
			return false;	/* the slice is full: go on later */
	}
	if (*pi < g->npools)
		return false;
	if (json)
		sbuf_puts(b, "]}\n");
	return true;
}

void
admin_show_servers(struct sbuf *b, const struct gen *g, const char *pool, bool json)
{
	uint32_t pi = 0, si = 0;
	unsigned long n = 0;

	admin_show_servers_head(b, json);
	while (!admin_show_servers_some(b, g, pool, json, &pi, &si, &n, 4096))
		;
}

void
admin_show_sessions_head(struct sbuf *b, bool json)
{
	if (json)
		sbuf_puts(b, "{\"sessions\":[");
	else
		sbuf_puts(b, "# id client listener pool server age bytes_in bytes_out mptcp\n");
}

void
admin_show_session(struct sbuf *b, const struct session_snap *e, bool json,
    bool first)
{
	char client[ADDR_STRLEN];
	const char *server = e->srv ? e->srv->name : NULL;

	addr_format(&e->peer.sa, client, sizeof(client));
	if (json) {
		bool f = true;

		sbuf_puts(b, first ? "{" : ",{");
		json_u64(b, &f, "id", e->id);
		json_str(b, &f, "client", client);
		json_str(b, &f, "listener", e->l->name);
		json_str(b, &f, "pool", e->pool ? e->pool->name : NULL);
		json_str(b, &f, "server", server);
		json_str(b, &f, "server_address", e->srv ? e->srv->addr_text : NULL);
		json_str(b, &f, "protocol", e->dgram ? "udp" : "tcp");
		json_str(b, &f, "state", e->dgram ? "flow" :
		    e->connecting ? "connecting" : "relaying");
		json_key(b, &f, "age");
		sbuf_printf(b, "%.3f", e->age_s);
		json_u64(b, &f, "bytes_in", e->bytes_in);
		json_u64(b, &f, "bytes_out", e->bytes_out);
		json_str(b, &f, "mptcp", session_mptcp_name(e->mptcp));
		if (e->dgram) {
			json_u64(b, &f, "datagrams_in", e->dgrams_in);
			json_u64(b, &f, "datagrams_out", e->dgrams_out);
		}
		sbuf_add(b, "}", 1);
		return;
	}
	sbuf_printf(b, "%" PRIu64 " %s ", e->id, client);
	sbuf_field(b, e->l->name);
	sbuf_add(b, " ", 1);
	sbuf_field(b, e->pool ? e->pool->name : NULL);
	sbuf_add(b, " ", 1);
	sbuf_field(b, server);
	sbuf_printf(b, " %.1fs %" PRIu64 " %" PRIu64 " %s", e->age_s,
	    e->bytes_in, e->bytes_out,
	    e->mptcp ? session_mptcp_name(e->mptcp) : "-");
	/* A UDP flow adds its datagram counts: the columns before stay. */
	if (e->dgram)
		sbuf_printf(b, " udp %" PRIu64 " %" PRIu64, e->dgrams_in,
		    e->dgrams_out);
	sbuf_add(b, "\n", 1);
}

void
admin_show_sessions_tail(struct sbuf *b, bool json, unsigned long n,
    double pause_s)
{
	if (json)
		sbuf_printf(b, "],\"worker_pause_us\":%.0f}\n", pause_s * 1e6);
}
