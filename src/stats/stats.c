/*
 * stats: per-worker counter blocks and their sums.  See stats.h for the
 * one-writer rule that keeps them off any shared cache line.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stats/stats.h"
#include "base/util.h"

const double stats_connect_le[STATS_CONNECT_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};
const double stats_duration_le[STATS_DURATION_BUCKETS] = {
	0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600,
};

static unsigned nworkers = 1;

/* Per-worker process totals: listeners come and go with reloads, these
 * do not. */
struct stats_proc {
	stats_ctr sessions;
} __attribute__((aligned(64)));
static struct stats_proc *proc;

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void *
stats_blocks(size_t size)
{
	void *p = NULL;

	/* Aligned so that no two workers' blocks share a cache line. */
	if (posix_memalign(&p, 64, size * nworkers) != 0) {
		fprintf(stderr, "tcplb: out of memory (%zu bytes)\n", size * nworkers);
		abort();
	}
	memset(p, 0, size * nworkers);
	return p;
}

static double start_wall;
static uint64_t start_mono_ms;

void
stats_init(unsigned n)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	start_wall = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	start_mono_ms = now_ms();
	nworkers = n ? n : 1;
	free(proc);
	proc = stats_blocks(sizeof(*proc));
}

unsigned
stats_nworkers(void)
{
	return nworkers;
}

void
stats_attach(struct gen *g)
{
	for (uint32_t i = 0; i < g->npools; i++)
		if (g->pools[i].st != NULL && g->pools[i].st->ws == NULL)
			g->pools[i].st->ws = stats_blocks(sizeof(struct stats_srv));
	for (uint32_t i = 0; i < g->npools; i++)
		for (uint32_t s = 0; s < g->pools[i].nservers; s++) {
			struct server_state *st = g->pools[i].servers[s].st;

			if (st->ws == NULL)
				st->ws = stats_blocks(sizeof(struct stats_srv));
		}
	for (uint32_t i = 0; i < g->nlisteners; i++) {
		struct listener_state *st = g->listeners[i].st;

		if (st->ws == NULL)
			st->ws = stats_blocks(sizeof(struct stats_lsn));
	}
}

void
stats_session_started(const struct listener_state *st, unsigned worker)
{
	if (proc && worker < nworkers)
		stats_add(&proc[worker].sessions, 1);
	if (st->ws)
		stats_add(&st->ws[worker].conns, 1);
}

uint64_t
stats_server_total(const struct server_state *st)
{
	struct stats_srv_sum s;

	stats_srv_sum(st, &s);
	return s.conns;
}

uint64_t
stats_listener_total(const struct listener_state *st)
{
	struct stats_lsn_sum s;

	stats_lsn_sum(st, &s);
	return s.conns;
}

/* Sessions a previous process counted (binary upgrade). */
static uint64_t carried_sessions;

void
stats_carry_sessions(uint64_t n)
{
	carried_sessions = n;
}

uint64_t
stats_total_sessions(void)
{
	uint64_t n = 0;

	for (unsigned w = 0; proc && w < nworkers; w++)
		n += LD(proc[w].sessions);
	return n + carried_sessions;
}

double
stats_start_time(void)
{
	return start_wall;
}

double
stats_uptime(void)
{
	return (double)(now_ms() - start_mono_ms) / 1000.0;
}

void
stats_server_view(const struct server *s, int64_t now, struct server_view *v)
{
	const struct server_state *st = s->st;
	int admin = atomic_load(&st->admin);
	bool up = atomic_load(&st->up);
	uint64_t ss = s->pool ? s->pool->slow_start_ms : 0;
	int64_t since = atomic_load(&st->up_since_ms);

	v->admin = admin == SRV_ADMIN_MAINT ? "maint" :
	    admin == SRV_ADMIN_DRAIN ? "drain" : "ready";
	v->health = up ? "up" : "down";
	v->state = admin != SRV_ADMIN_READY ? v->admin : up ? "ready" : "down";
	v->weight = server_weight(s);
	v->eff_weight = v->weight;
	/* The slow-start fraction of server_ramp_admit(): 1/2 -> 1. */
	if (ss && since && now >= since && (uint64_t)(now - since) < ss)
		v->eff_weight = (uint32_t)(((uint64_t)v->weight *
		    (512 + (uint64_t)(now - since) * 512 / ss) + 1023) / 1024);
	v->active = atomic_load(&st->active);
	stats_srv_sum(st, &v->sum);
}

const char *
stats_fail_name(enum stats_fail f)
{
	static const char *const names[STATS_FAIL_N] = {
		"refused", "timeout", "reset", "unreachable", "other",
	};

	return (unsigned)f < STATS_FAIL_N ? names[f] : "other";
}

const char *
stats_drop_name(enum stats_drop d)
{
	static const char *const names[STATS_DROP_N] = {
		"flow_limit", "refused", "no_server", "no_socket", "too_big",
		"send_failed", "draining",
	};

	return (unsigned)d < STATS_DROP_N ? names[d] : "other";
}

void
stats_connect_failed(struct stats_srv *b, const char *reason)
{
	enum stats_fail f = STATS_FAIL_OTHER;

	if (b == NULL)
		return;
	if (reason != NULL) {
		if (strstr(reason, "refused"))
			f = STATS_FAIL_REFUSED;
		else if (strstr(reason, "timeout") || strstr(reason, "timed out"))
			f = STATS_FAIL_TIMEOUT;
		else if (strstr(reason, "reset"))
			f = STATS_FAIL_RESET;
		else if (strstr(reason, "unreachable"))
			f = STATS_FAIL_UNREACHABLE;
	}
	stats_add(&b->fails[f], 1);
}

static unsigned
bucket(const double *le, unsigned n, double v)
{
	unsigned i = 0;

	while (i < n && v > le[i])
		i++;
	return i;
}

void
stats_connected(struct stats_srv *b, double connect_s, bool retry)
{
	if (b == NULL)
		return;
	if (connect_s < 0)
		connect_s = 0;
	stats_add(&b->conns, 1);
	if (retry)
		stats_add(&b->retries, 1);
	stats_add(&b->connect_hist[bucket(stats_connect_le, STATS_CONNECT_BUCKETS,
	    connect_s)], 1);
	stats_add(&b->connect_sum_us, (uint64_t)(connect_s * 1e6));
}

void
stats_closed(struct stats_srv *b, double duration_s)
{
	if (b == NULL)
		return;
	if (duration_s < 0)
		duration_s = 0;
	stats_add(&b->duration_hist[bucket(stats_duration_le, STATS_DURATION_BUCKETS,
	    duration_s)], 1);
	stats_add(&b->duration_sum_us, (uint64_t)(duration_s * 1e6));
}

static void
srv_blocks_sum(const struct stats_srv *ws, const uint64_t *carried,
    struct stats_srv_sum *o)
{
	memset(o, 0, sizeof(*o));
	if (carried)
		memcpy(o, carried, sizeof(*o));
	if (ws == NULL)
		return;
	for (unsigned w = 0; w < nworkers; w++) {
		const struct stats_srv *b = &ws[w];

		o->conns += LD(b->conns);
		o->bytes_in += LD(b->bytes_in);
		o->bytes_out += LD(b->bytes_out);
		o->retries += LD(b->retries);
		for (unsigned i = 0; i < STATS_FAIL_N; i++)
			o->fails[i] += LD(b->fails[i]);
		for (unsigned i = 0; i <= STATS_CONNECT_BUCKETS; i++)
			o->connect_hist[i] += LD(b->connect_hist[i]);
		o->connect_sum_us += LD(b->connect_sum_us);
		for (unsigned i = 0; i <= STATS_DURATION_BUCKETS; i++)
			o->duration_hist[i] += LD(b->duration_hist[i]);
		o->duration_sum_us += LD(b->duration_sum_us);
	}
}

void
stats_srv_sum(const struct server_state *st, struct stats_srv_sum *o)
{
	srv_blocks_sum(st->ws, st->carried, o);
}

void
stats_pool_sum(const struct pool_state *st, struct stats_srv_sum *o)
{
	if (st == NULL) {
		memset(o, 0, sizeof(*o));
		return;
	}
	srv_blocks_sum(st->ws, st->carried, o);
}

void
stats_srv_sum_add(struct stats_srv_sum *acc, const struct stats_srv_sum *s)
{
	acc->conns += s->conns;
	acc->bytes_in += s->bytes_in;
	acc->bytes_out += s->bytes_out;
	acc->retries += s->retries;
	for (unsigned i = 0; i < STATS_FAIL_N; i++)
		acc->fails[i] += s->fails[i];
	for (unsigned i = 0; i <= STATS_CONNECT_BUCKETS; i++)
		acc->connect_hist[i] += s->connect_hist[i];
	acc->connect_sum_us += s->connect_sum_us;
	for (unsigned i = 0; i <= STATS_DURATION_BUCKETS; i++)
		acc->duration_hist[i] += s->duration_hist[i];
	acc->duration_sum_us += s->duration_sum_us;
}

void
stats_lsn_sum(const struct listener_state *st, struct stats_lsn_sum *o)
{
	memset(o, 0, sizeof(*o));
	if (st->carried)
		memcpy(o, st->carried, sizeof(*o));
	if (st->ws == NULL)
		return;
	for (unsigned w = 0; w < nworkers; w++) {
		const struct stats_lsn *b = &st->ws[w];

		o->conns += LD(b->conns);
		o->bytes_in += LD(b->bytes_in);
		o->bytes_out += LD(b->bytes_out);
		o->refused_limit += LD(b->refused_limit);
		o->no_server += LD(b->no_server);
		o->refused += LD(b->refused);
		o->dgrams_in += LD(b->dgrams_in);
		o->dgrams_out += LD(b->dgrams_out);
		for (unsigned d = 0; d < STATS_DROP_N; d++)
			o->drops[d] += LD(b->drops[d]);
	}
}

static stats_ctr reloads_ok, reloads_failed;

void
stats_reload_done(bool ok)
{
	atomic_fetch_add_explicit(ok ? &reloads_ok : &reloads_failed, 1,
	    memory_order_relaxed);
}

void
stats_reloads(struct stats_reloads *out)
{
	out->ok = atomic_load_explicit(&reloads_ok, memory_order_relaxed);
	out->failed = atomic_load_explicit(&reloads_failed,
	    memory_order_relaxed);
}

_Static_assert(sizeof(struct stats_srv_sum) == STATS_SRV_FIELDS * sizeof(uint64_t),
    "stats_srv_sum must be uint64_t fields only (carried as a list)");
_Static_assert(sizeof(struct stats_lsn_sum) == STATS_LSN_FIELDS * sizeof(uint64_t),
    "stats_lsn_sum must be uint64_t fields only (carried as a list)");
