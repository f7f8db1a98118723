/*
 * metrics_render: Prometheus text and the status page.  Every family gets
 * its HELP and TYPE once, before its samples (what `promtool check metrics`
 * asks for); counters end in _total, durations are in seconds and sizes in
 * bytes.  Servers are labelled {pool, server, address}: a host name that
 * resolves to several addresses is several servers with one name.
 */
#include "autoconfig.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "health/check.h"
#include "health/health.h"
#include "edge/guard.h"
#include "edge/inspect.h"
#include "relay/listener.h"
#include "balance/queue.h"
#include "control/metrics_carry.h"
#include "control/metrics_render.h"
#include "base/log.h"
#include "dns/resolve.h"
#include "parse/route.h"
#include "stats/peers.h"
#include "stats/stats.h"
#include "base/util.h"
#include "relay/worker.h"

static void
family(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
lbl_server(struct sbuf *b, const struct server *s)
{
	sbuf_puts(b, "pool=\"");
	sbuf_prom_label(b, s->pool->name);
	sbuf_puts(b, "\",server=\"");
	sbuf_prom_label(b, s->name);
	sbuf_puts(b, "\",address=\"");
	sbuf_prom_label(b, s->addr_text);
	sbuf_puts(b, "\"");
}

static void
lbl_one(struct sbuf *b, const char *key, const char *val)
{
	sbuf_printf(b, "%s=\"", key);
	sbuf_prom_label(b, val);
	sbuf_puts(b, "\"");
}

static unsigned
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0;	/* not the one opendir() holds */
}

/* The per-server values one family needs, one sample per server. */
typedef double (*srv_val)(const struct server *s, const struct server_view *v);

static double v_active(const struct server *s, const struct server_view *v) { return v->active; }
static double v_total(const struct server *s, const struct server_view *v) { return (double)v->sum.conns; }
static double v_in(const struct server *s, const struct server_view *v) { return (double)v->sum.bytes_in; }
static double v_out(const struct server *s, const struct server_view *v) { return (double)v->sum.bytes_out; }
static double v_retries(const struct server *s, const struct server_view *v) { return (double)v->sum.retries; }
static double v_up(const struct server *s, const struct server_view *v) { return strcmp(v->health, "up") == 0; }
static double v_weight(const struct server *s, const struct server_view *v) { return v->weight; }
static double v_eweight(const struct server *s, const struct server_view *v) { return v->eff_weight; }
static double
v_check(const struct server *s, const struct server_view *v)
{
	int64_t ms;
	uint32_t us;

	(void)v;
	health_last_check(s->st, NULL, 0, &ms, &us);
	return (double)us / 1e6;
}
static double v_checks(const struct server *s, const struct server_view *v) { (void)v; return (double)atomic_load_explicit(&s->st->checks, memory_order_relaxed); }
static double v_check_sum(const struct server *s, const struct server_view *v) { (void)v; return (double)atomic_load_explicit(&s->st->check_us_sum, memory_order_relaxed) / 1e6; }
static double v_max(const struct server *s, const struct server_view *v) { return s->max_conns; }

struct srv_row {
	const struct server *s;
	struct server_view v;
};

static void
server_family(struct sbuf *b, const struct srv_row *rows, size_t n,
    const char *name, const char *type, const char *help, srv_val f)
{
	family(b, name, type, help);
	for (size_t i = 0; i < n; i++) {
		sbuf_printf(b, "%s{", name);
		lbl_server(b, rows[i].s);
		sbuf_puts(b, "} ");
		sbuf_prom_double(b, f(rows[i].s, &rows[i].v));
		sbuf_add(b, "\n", 1);
	}
}

static void
histogram(struct sbuf *b, const char *name, const char *pool, const uint64_t *h,
    const double *le, unsigned nle, uint64_t sum_us)
{
	uint64_t cum = 0;

	for (unsigned i = 0; i <= nle; i++) {
		cum += h[i];
		sbuf_printf(b, "%s_bucket{", name);
		lbl_one(b, "pool", pool);
		if (i < nle)
			sbuf_printf(b, ",le=\"%g\"} %" PRIu64 "\n", le[i], cum);
		else
			sbuf_printf(b, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
	}
	sbuf_printf(b, "%s_sum{", name);
	lbl_one(b, "pool", pool);
	sbuf_printf(b, "} %.6f\n", (double)sum_us / 1e6);
	sbuf_printf(b, "%s_count{", name);
	lbl_one(b, "pool", pool);
	sbuf_printf(b, "} %" PRIu64 "\n", cum);
}

/* Refusals, TLS inspection outcomes and routes: per-worker counters (or
 * per-route atomics) summed here.  Refusals are counted per worker, not per
 * listener, so they carry only the fixed reason. */
static void
render_guard_inspect(struct sbuf *b, const struct gen *g)
{
	family(b, "tcplb_refused_connections_total", "counter", "Client connections refused (reset) before reaching a pool, by reason.");
	for (unsigned r = GUARD_OK + 1; r < GUARD_NREASONS; r++)
		sbuf_printf(b, "tcplb_refused_connections_total{reason=\"%s\"} %" PRIu64 "\n",
		    guard_reason_name(r), worker_refused_total(r));
	family(b, "tcplb_no_local_address_total", "counter", "Connect attempts that found no free local address (port) to connect from.");
	sbuf_printf(b, "tcplb_no_local_address_total %" PRIu64 "\n", workers_no_local_addr());
	family(b, "tcplb_mirror_connections_total", "counter", "Connections whose client bytes were copied to a shadow server (pool mirror:).");
	sbuf_printf(b, "tcplb_mirror_connections_total %" PRIu64 "\n", workers_mirror_total(0));
	family(b, "tcplb_mirror_bytes_total", "counter", "Client bytes delivered to shadow servers.");
	sbuf_printf(b, "tcplb_mirror_bytes_total %" PRIu64 "\n", workers_mirror_total(1));
	family(b, "tcplb_mirror_cuts_total", "counter", "Mirror connections cut: shadow down, too slow or reset (the client is not affected).");
	sbuf_printf(b, "tcplb_mirror_cuts_total %" PRIu64 "\n", workers_mirror_total(2));
	family(b, "tcplb_tls_inspect_total", "counter", "Connections on listeners with routes, by outcome of the TLS ClientHello inspection.");
	for (unsigned o = 0; o < TLS_OUT_N; o++)
		sbuf_printf(b, "tcplb_tls_inspect_total{outcome=\"%s\"} %" PRIu64 "\n",
		    inspect_tls_outcome_name(o), workers_tls_total(o));
	family(b, "tcplb_inspect_held_bytes", "gauge", "Client bytes read by inspection (ClientHellos) held for connections waiting for a server (queued or connecting).");
	sbuf_printf(b, "tcplb_inspect_held_bytes %" PRIu64 "\n", workers_inspect_held());
	family(b, "tcplb_route_hits_total", "counter", "Connections sent by a listener's route (route: its position from 0, pool: where it leads).");
	for (uint32_t i = 0; i < g->nlisteners; i++)
		for (uint32_t r = 0; r < g->listeners[i].nroutes; r++) {
			const struct route *rt = &g->listeners[i].routes[r];

			sbuf_puts(b, "tcplb_route_hits_total{");
			lbl_one(b, "listener", g->listeners[i].name);
			sbuf_printf(b, ",route=\"%u\",", r);
			lbl_one(b, "pool", rt->pool->name);
			sbuf_printf(b, "} %" PRIu64 "\n", route_hits(rt));
		}
}

static void
resolve_prom(const struct resolve_status *st, void *arg)
{
	struct sbuf *b = arg;

	sbuf_puts(b, "{");
	lbl_one(b, "pool", st->pool);
	sbuf_puts(b, ",");
	lbl_one(b, "server", st->name);
	sbuf_puts(b, ",");
	lbl_one(b, "host", st->host);
	sbuf_puts(b, "} ");
}

struct resolve_fam {
	struct sbuf *b;
	const char *name;
	int which;			/* 0 failures, 1 changes, 2 ok */
};

static void
resolve_one(const struct resolve_status *st, void *arg)
{
	const struct resolve_fam *rf = arg;
	uint64_t v = rf->which == 0 ? st->failures : rf->which == 1 ? st->changes :
	    (uint64_t)(st->ever && st->ok);

	sbuf_puts(rf->b, rf->name);
	resolve_prom(st, rf->b);
	sbuf_printf(rf->b, "%" PRIu64 "\n", v);
}

/* DNS: per configured host or SRV name (configured strings) and totals.
 * resolve_foreach() is main-thread only: this part is rendered there, the
 * rest of the page on the page thread (metrics_page.c). */
void
metrics_render_dns(struct sbuf *b)
{
	struct resolve_fam rf = { b, NULL, 0 };

	family(b, "tcplb_dns_resolution_failures_total", "counter", "Failed resolutions of servers' host or SRV names, all names.");
	sbuf_printf(b, "tcplb_dns_resolution_failures_total %" PRIu64 "\n", resolve_total_failures());
	family(b, "tcplb_dns_resolution_changes_total", "counter", "Resolutions that changed a name's addresses, all names.");
	sbuf_printf(b, "tcplb_dns_resolution_changes_total %" PRIu64 "\n", resolve_total_changes());
	family(b, "tcplb_dns_rejected_changes_total", "counter", "New answers a generation could not take (the name kept its addresses), all names.");
	sbuf_printf(b, "tcplb_dns_rejected_changes_total %" PRIu64 "\n", resolve_total_rejected());
	rf.name = "tcplb_dns_name_failures_total";
	family(b, rf.name, "counter", "Failed resolutions of one configured host or SRV name.");
	resolve_foreach(resolve_one, &rf);
	rf.name = "tcplb_dns_name_changes_total";
	rf.which = 1;
	family(b, rf.name, "counter", "Resolutions that changed one configured name's addresses.");
	resolve_foreach(resolve_one, &rf);
	rf.name = "tcplb_dns_name_ok";
	rf.which = 2;
	family(b, rf.name, "gauge", "1 if the last resolution of the configured name succeeded.");
	resolve_foreach(resolve_one, &rf);
}

static void
render_prom(struct sbuf *b, const struct gen *g, const char *state,
    const struct stats_reloads *rcp, const struct sbuf *dns, bool per_server)
{
	static const char *const states[] = { "ready", "draining", "stopping" };
	static const char *const sstates[] = { "ready", "drain", "maint", "down" };
	int64_t now = (int64_t)now_ms();
	struct stats_reloads rc = *rcp;
	struct rlimit rl;
	size_t nrows = 0, k = 0;
	struct srv_row *rows;
	struct stats_srv_sum *psum;

	/* ---- process */
	family(b, "tcplb_info", "gauge", "Version of the running tcplb (always 1).");
	sbuf_puts(b, "tcplb_info{version=\"");
	sbuf_prom_label(b, PACKAGE_VERSION);
	sbuf_puts(b, "\"} 1\n");
	family(b, "tcplb_state", "gauge", "Instance state: 1 for the current one (ready, draining, stopping).");
	for (size_t i = 0; i < ARRAY_SIZE(states); i++)
		sbuf_printf(b, "tcplb_state{state=\"%s\"} %d\n", states[i],
		    strcmp(states[i], state) == 0);
	family(b, "tcplb_generation", "gauge", "Number of the configuration generation in use.");
	sbuf_printf(b, "tcplb_generation %u\n", g->id);
	family(b, "tcplb_workers", "gauge", "Event-loop worker threads.");
	sbuf_printf(b, "tcplb_workers %u\n", workers_count());
	family(b, "tcplb_reloads_total", "counter", "Reloads that published a new configuration.");
	sbuf_printf(b, "tcplb_reloads_total %" PRIu64 "\n", rc.ok);
	family(b, "tcplb_reloads_failed_total", "counter", "Reloads that failed and kept the running configuration.");
	sbuf_printf(b, "tcplb_reloads_failed_total %" PRIu64 "\n", rc.failed);
	family(b, "tcplb_connections_active", "gauge", "Client connections open, all listeners.");
	sbuf_printf(b, "tcplb_connections_active %u\n", atomic_load(&tcplb_active));
	family(b, "tcplb_upgrade_draining_connections", "gauge",
	    "Client connections still open in old processes draining after a binary upgrade.");
	sbuf_printf(b, "tcplb_upgrade_draining_connections %u\n", atomic_load(&peers_active));
	family(b, "tcplb_connections_total", "counter", "Client connections accepted since start, all listeners.");
	sbuf_printf(b, "tcplb_connections_total %" PRIu64 "\n", stats_total_sessions());
	family(b, "tcplb_log_records_dropped_total", "counter", "Log records (access log included) dropped because the queue to the journal or stderr was full.");
	sbuf_printf(b, "tcplb_log_records_dropped_total %" PRIu64 "\n", log_dropped_count());
	family(b, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.");
	sbuf_printf(b, "process_start_time_seconds %.3f\n", stats_start_time());
	family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
	sbuf_printf(b, "process_open_fds %u\n", count_fds());
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
		sbuf_printf(b, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	}

	/* ---- listeners */
	{
		struct stats_lsn_sum *ls = xcalloc(g->nlisteners ? g->nlisteners : 1, sizeof(*ls));

		for (uint32_t i = 0; i < g->nlisteners; i++)
			stats_lsn_sum(g->listeners[i].st, &ls[i]);
/* One family over the listeners for which C holds. */
#define LFAM_IF(C, N, T, H, E) do { \
		family(b, N, T, H); \
		for (uint32_t i = 0; i < g->nlisteners; i++) { \
			if (!(C)) \
				continue; \
			sbuf_printf(b, "%s{", N); \
			lbl_one(b, "listener", g->listeners[i].name); \
			sbuf_printf(b, "} %" PRIu64 "\n", (uint64_t)(E)); \
		} } while (0)
#define LFAM(N, T, H, E) LFAM_IF(true, N, T, H, E)
		LFAM("tcplb_listener_connections_active", "gauge", "Client connections open on the listener.",
		    atomic_load(&g->listeners[i].st->active));
		LFAM("tcplb_listener_connections_total", "counter", "Client connections accepted by the listener.",
		    ls[i].conns);
		LFAM("tcplb_listener_bytes_in_total", "counter", "Bytes received from clients and delivered to servers.",
		    ls[i].bytes_in);
		LFAM("tcplb_listener_bytes_out_total", "counter", "Bytes received from servers and delivered to clients.",
		    ls[i].bytes_out);
		LFAM("tcplb_listener_limit_reached_total", "counter", "Times accepting paused because max_connections was reached.",
		    ls[i].refused_limit);
		LFAM("tcplb_listener_no_server_total", "counter", "Clients closed because no server of the pool was available or reachable.",
		    ls[i].no_server);
		LFAM("tcplb_listener_refused_total", "counter", "Client connections the listener refused (reset) before a pool; by reason: tcplb_refused_connections_total.",
		    ls[i].refused);
		LFAM("tcplb_listener_max_connections", "gauge", "The listener's max_connections (0: unlimited).",
		    g->listeners[i].max_conns);
#undef LFAM
		/* UDP listeners: their connections are flows; datagrams and
		 * drops by reason (fixed names) only exist there. */
#define UFAM(N, T, H, E) LFAM_IF(g->listeners[i].udp, N, T, H, E)
		UFAM("tcplb_listener_flows_active", "gauge", "UDP flows open on the listener.",
		    atomic_load(&g->listeners[i].st->active));
		UFAM("tcplb_listener_flows_total", "counter", "UDP flows started on the listener.",
		    ls[i].conns);
		UFAM("tcplb_listener_datagrams_in_total", "counter", "Datagrams from clients relayed to servers.",
		    ls[i].dgrams_in);
		UFAM("tcplb_listener_datagrams_out_total", "counter", "Datagrams from servers relayed to clients.",
		    ls[i].dgrams_out);
#undef UFAM
#undef LFAM_IF
		family(b, "tcplb_listener_datagrams_dropped_total", "counter",
		    "Datagrams a UDP listener dropped, by reason.");
		for (uint32_t i = 0; i < g->nlisteners; i++) {
			if (!g->listeners[i].udp)
				continue;
			for (unsigned d = 0; d < STATS_DROP_N; d++) {
				sbuf_puts(b, "tcplb_listener_datagrams_dropped_total{");
				lbl_one(b, "listener", g->listeners[i].name);
				sbuf_printf(b, ",reason=\"%s\"} %" PRIu64 "\n",
				    stats_drop_name(d), ls[i].drops[d]);
			}
		}
		free(ls);
	}
	render_guard_inspect(b, g);
	sbuf_add(b, dns->p, dns->len);

	/* ---- servers, and pools as their sums */
	for (uint32_t i = 0; i < g->npools; i++)
		nrows += g->pools[i].nservers;
	rows = xcalloc(nrows ? nrows : 1, sizeof(*rows));
	psum = xcalloc(g->npools ? g->npools : 1, sizeof(*psum));
	for (uint32_t i = 0; i < g->npools; i++)
		for (uint32_t s = 0; s < g->pools[i].nservers; s++) {
			rows[k].s = &g->pools[i].servers[s];
			stats_server_view(rows[k].s, now, &rows[k].v);
			k++;
		}
	/* A pool's totals are its own, not a sum over the servers it has
	 * now: a server leaving must not make a counter go down. */
	for (uint32_t i = 0; i < g->npools; i++)
		stats_pool_sum(g->pools[i].st, &psum[i]);

#define PFAM(N, T, H, E) do { \
	family(b, N, T, H); \
	for (uint32_t i = 0; i < g->npools; i++) { \
		const struct pool *p = &g->pools[i]; \
		sbuf_printf(b, "%s{", N); \
		lbl_one(b, "pool", p->name); \
		sbuf_printf(b, "} %" PRIu64 "\n", (uint64_t)(E)); \
	} } while (0)
	{
		unsigned *up = xcalloc(g->npools ? g->npools : 1, sizeof(*up));
		unsigned *act = xcalloc(g->npools ? g->npools : 1, sizeof(*act));

		k = 0;
		for (uint32_t i = 0; i < g->npools; i++)
			for (uint32_t s = 0; s < g->pools[i].nservers; s++, k++) {
				up[i] += strcmp(rows[k].v.health, "up") == 0;
				act[i] += rows[k].v.active;
			}
		PFAM("tcplb_pool_servers", "gauge", "Servers in the pool.", p->nservers);
		PFAM("tcplb_pool_servers_up", "gauge", "Servers of the pool that health checks say are up.", up[i]);
		PFAM("tcplb_pool_connections_active", "gauge", "Connections open to servers of the pool.", act[i]);
		free(up);
		free(act);
	}
	PFAM("tcplb_pool_connections_total", "counter", "Connections established to servers of the pool.", psum[i].conns);
	PFAM("tcplb_pool_bytes_in_total", "counter", "Bytes sent to servers of the pool.", psum[i].bytes_in);
	PFAM("tcplb_pool_bytes_out_total", "counter", "Bytes received from servers of the pool.", psum[i].bytes_out);
	PFAM("tcplb_pool_retries_total", "counter", "Connect attempts that followed a failed one.", psum[i].retries);
	PFAM("tcplb_pool_queue_length", "gauge", "Clients waiting in the pool's queue for a free server.",
	    p->queue ? queue_length(p->queue) : 0);
	PFAM("tcplb_pool_queued_total", "counter", "Clients that waited in the pool's queue.",
	    p->queue ? atomic_load(&p->queue->queued) : 0);
	PFAM("tcplb_pool_queue_served_total", "counter", "Queued clients that got a server.",
	    p->queue ? atomic_load(&p->queue->served) : 0);
	PFAM("tcplb_pool_queue_timeouts_total", "counter", "Queued clients closed after waiting queue_timeout.",
	    p->queue ? atomic_load(&p->queue->timeouts) : 0);
	PFAM("tcplb_pool_queue_abandoned_total", "counter", "Queued clients that reset or closed before their turn.",
	    p->queue ? atomic_load(&p->queue->abandoned) : 0);
	PFAM("tcplb_pool_queue_full_total", "counter", "Clients refused because the pool's queue was full (max_queue).",
	    p->queue ? atomic_load(&p->queue->full) : 0);
#undef PFAM
	family(b, "tcplb_pool_connect_failures_total", "counter", "Failed connect attempts to servers of the pool, by reason.");
	for (uint32_t i = 0; i < g->npools; i++)
		for (unsigned f = 0; f < STATS_FAIL_N; f++) {
			sbuf_puts(b, "tcplb_pool_connect_failures_total{");
			lbl_one(b, "pool", g->pools[i].name);
			sbuf_printf(b, ",reason=\"%s\"} %" PRIu64 "\n", stats_fail_name(f),
			    psum[i].fails[f]);
		}
	family(b, "tcplb_pool_connect_time_seconds", "histogram", "Time from a connect attempt to the server accepting, for successful attempts.");
	for (uint32_t i = 0; i < g->npools; i++)
		histogram(b, "tcplb_pool_connect_time_seconds", g->pools[i].name,
		    psum[i].connect_hist, stats_connect_le, STATS_CONNECT_BUCKETS,
		    psum[i].connect_sum_us);
	family(b, "tcplb_pool_connection_duration_seconds", "histogram", "Duration of client connections that reached a server, from accept to close.");
	for (uint32_t i = 0; i < g->npools; i++)
		histogram(b, "tcplb_pool_connection_duration_seconds", g->pools[i].name,
		    psum[i].duration_hist, stats_duration_le, STATS_DURATION_BUCKETS,
		    psum[i].duration_sum_us);

	/* For an upgrade (per_server false) only what is not carried with
	 * the server's state: the check counters. */
	if (!per_server)
		goto checks;
	server_family(b, rows, nrows, "tcplb_server_connections_active", "gauge",
	    "Connections open to the server.", v_active);
	server_family(b, rows, nrows, "tcplb_server_connections_total", "counter",
	    "Connections established to the server.", v_total);
	server_family(b, rows, nrows, "tcplb_server_bytes_in_total", "counter",
	    "Bytes sent to the server (from clients).", v_in);
	server_family(b, rows, nrows, "tcplb_server_bytes_out_total", "counter",
	    "Bytes received from the server (to clients).", v_out);
	server_family(b, rows, nrows, "tcplb_server_retries_total", "counter",
	    "Connect attempts to the server that followed a failed one.", v_retries);
	family(b, "tcplb_server_connect_failures_total", "counter", "Failed connect attempts to the server, by reason.");
	for (size_t i = 0; i < nrows; i++)
		for (unsigned f = 0; f < STATS_FAIL_N; f++) {
			sbuf_puts(b, "tcplb_server_connect_failures_total{");
			lbl_server(b, rows[i].s);
			sbuf_printf(b, ",reason=\"%s\"} %" PRIu64 "\n", stats_fail_name(f),
			    rows[i].v.sum.fails[f]);
		}
	server_family(b, rows, nrows, "tcplb_server_up", "gauge",
	    "1 if health checks (or traffic) say the server is up.", v_up);
	family(b, "tcplb_server_state", "gauge", "Server state: 1 for the current one (ready, drain, maint, down).");
	for (size_t i = 0; i < nrows; i++)
		for (size_t st = 0; st < ARRAY_SIZE(sstates); st++) {
			sbuf_puts(b, "tcplb_server_state{");
			lbl_server(b, rows[i].s);
			sbuf_printf(b, ",state=\"%s\"} %d\n", sstates[st],
			    strcmp(sstates[st], rows[i].v.state) == 0);
		}
	server_family(b, rows, nrows, "tcplb_server_weight", "gauge",
	    "Weight in force (the admin override, else the configured one).", v_weight);
	server_family(b, rows, nrows, "tcplb_server_effective_weight", "gauge",
	    "Weight in force scaled by slow start.", v_eweight);
	server_family(b, rows, nrows, "tcplb_server_max_connections", "gauge",
	    "The server's max_connections (0: unlimited).", v_max);
checks:
	server_family(b, rows, nrows, "tcplb_server_checks_total", "counter",
	    "Active health checks finished (passed or failed).", v_checks);
	server_family(b, rows, nrows, "tcplb_server_check_seconds_total", "counter",
	    "Time all finished health checks took, together (divide by tcplb_server_checks_total for the mean).", v_check_sum);
	family(b, "tcplb_server_check_failures_total", "counter", "Failed active health checks, by fixed reason (only reasons seen so far).");
	for (size_t i = 0; i < nrows; i++)
		for (unsigned r = CR_NONE + 1; r < CR_N; r++) {
			uint64_t n = atomic_load_explicit(
			    &rows[i].s->st->check_failures[r],
			    memory_order_relaxed);

			if (n == 0)
				continue;
			sbuf_puts(b, "tcplb_server_check_failures_total{");
			lbl_server(b, rows[i].s);
			sbuf_printf(b, ",reason=\"%s\"} %" PRIu64 "\n",
			    check_reason_name(r), n);
		}
	if (per_server)
		server_family(b, rows, nrows, "tcplb_server_check_duration_seconds", "gauge",
		    "How long the last active health check took (0: none yet).", v_check);
	free(rows);
	free(psum);
}

/* ---- status page ------------------------------------------------------- */

static void
html_bytes(struct sbuf *b, uint64_t v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	unsigned u = 0;

	while (d >= 1024 && u + 1 < ARRAY_SIZE(unit)) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		sbuf_printf(b, "%" PRIu64 " B", v);
	else
		sbuf_printf(b, "%.1f %s", d, unit[u]);
}

void
metrics_render_prom(struct sbuf *b, const struct gen *g, const char *state,
    const struct stats_reloads *rc, const struct sbuf *dns)
{
	size_t start = b->len;

	render_prom(b, g, state, rc, dns, true);
	/* What an old process counted before a binary upgrade. */
	metrics_carry_apply(b, start);
}

void
metrics_render_prom_shared(struct sbuf *b, const struct gen *g)
{
	struct stats_reloads rc;
	struct sbuf dns = { 0 };
	size_t start = b->len;

	stats_reloads(&rc);
	metrics_render_dns(&dns);
	render_prom(b, g, "ready", &rc, &dns, false);
	metrics_carry_apply(b, start);
	sbuf_free(&dns);
}

void
metrics_render_html(struct sbuf *b, const struct gen *g, const char *state)
{
	int64_t now = (int64_t)now_ms();
	time_t wall = time(NULL);
	char lc[96];
	int64_t lc_ms;
	uint32_t lc_us;
	unsigned up, total;

	gen_count_servers(g, &up, &total);
	sbuf_puts(b,
	    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	    "<meta http-equiv=\"refresh\" content=\"5\">\n"
	    "<title>tcplb status</title>\n<style>\n"
	    "body{font-family:sans-serif;margin:1em 2em;color:#222}\n"
	    "table{border-collapse:collapse;margin-bottom:1.5em}\n"
	    "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:right}\n"
	    "th{background:#eee}td.n{text-align:left}\n"
	    "tr.ready td.st{background:#b6e3b6}tr.down td.st{background:#f2a6a6}\n"
	    "tr.drain td.st{background:#f5d88c}tr.maint td.st{background:#aac4ee}\n"
	    ".ready{color:#161}.draining,.stopping{color:#a50}\n"
	    "</style></head><body>\n<h1>tcplb</h1>\n<p>");
	sbuf_printf(b, "version %s, pid %ld, up %.0fs, state <b class=\"", PACKAGE_VERSION,
	    (long)getpid(), stats_uptime());
	sbuf_html(b, state);
	sbuf_puts(b, "\">");
	sbuf_html(b, state);
	sbuf_printf(b, "</b>, generation %u from <code>", g->id);
	sbuf_html(b, g->source);
	sbuf_printf(b, "</code>, %u worker%s, %u/%u servers up, %u active connections.</p>\n",
	    workers_count(), workers_count() == 1 ? "" : "s", up, total,
	    atomic_load(&tcplb_active));
	for (uint32_t i = 0; i < g->npools; i++) {
		const struct pool *p = &g->pools[i];

		sbuf_puts(b, "<h2>pool ");
		sbuf_html(b, p->name);
		sbuf_printf(b, " <small>(%s)</small></h2>\n<table class=\"pool\" data-pool=\"",
		    gen_balance_name(p->alg));
		sbuf_html(b, p->name);
		sbuf_puts(b, "\">\n<tr><th>server</th><th>address</th><th>state</th><th>weight</th>"
		    "<th>active</th><th>total</th><th>bytes in</th><th>bytes out</th>"
		    "<th>last check</th></tr>\n");
		for (uint32_t k = 0; k < p->nservers; k++) {
			const struct server *s = &p->servers[k];
			struct server_view v;

			stats_server_view(s, now, &v);
			sbuf_printf(b, "<tr class=\"%s\" data-server=\"", v.state);
			sbuf_html(b, s->name);
			sbuf_puts(b, "\"><td class=\"n\">");
			sbuf_html(b, s->name);
			sbuf_puts(b, "</td><td class=\"n\">");
			sbuf_html(b, s->addr_text);
			sbuf_printf(b, "</td><td class=\"st\">%s</td><td>%u</td><td>%u</td><td>%" PRIu64
			    "</td><td>", v.state, v.weight, v.active, v.sum.conns);
			html_bytes(b, v.sum.bytes_in);
			sbuf_puts(b, "</td><td>");
			html_bytes(b, v.sum.bytes_out);
			sbuf_puts(b, "</td><td class=\"n\">");
			health_last_check(s->st, lc, sizeof(lc), &lc_ms, &lc_us);
			if (lc_ms) {
				sbuf_html(b, lc);
				sbuf_printf(b, ", %llds ago", (long long)(wall -
				    lc_ms / 1000));
			} else {
				sbuf_puts(b, "&ndash;");
			}
			sbuf_puts(b, "</td></tr>\n");
		}
		sbuf_puts(b, "</table>\n");
	}
	sbuf_puts(b, "<p><a href=\"/metrics\">/metrics</a></p>\n</body></html>\n");
}
