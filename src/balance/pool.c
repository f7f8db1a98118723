/*
 * pool: the runtime decisions about servers that every worker thread makes
 * at once -- reserving a connection slot (so max_connections is never
 * exceeded, even by racing threads), slow-start admission, passive health
 * from real traffic (nginx max_fails/fail_timeout), and the up/down
 * transitions with their one log record each.
 *
 * It owns nothing but behaviour: all shared state is the atomics in struct
 * server_state, so there is no lock anywhere here -- except queue.c's,
 * taken only while clients wait for a full pool (max_queue), to hand a
 * freed slot to the oldest of them.  It must not allocate on the pick
 * path, and must not block.  Active checks live in health.c and
 * come through server_set_up() like everything else.
 */
#include "autoconfig.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "base/addr.h"
#include "balance/balance.h"
#include "config/gen.h"
#include "base/log.h"
#include "balance/pool.h"
#include "balance/queue.h"

/* Room for the session's tried[] plus servers skipped during this pick
 * (full, ramping, or a trial another thread claimed).  On the stack: the
 * pick must not allocate.  Larger pools still work; a pick that would need
 * more than this many skips simply gives up, which only happens when that
 * many servers are simultaneously unusable. */
#define POOL_PICK_EXCLUDE_MAX	128

static void
server_log_ctx(const struct server *s, struct log_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->pool = s->pool ? s->pool->name : NULL;
	ctx->server = s->name;
	ctx->server_addr = s->addr_text;
}

/* Slow start admits a growing fraction f of the picks that land on a
 * freshly recovered server, from half at once to all at the end of
 * slow_start: f = 1/2 + elapsed / (2 slow_start), in 1/1024ths.  Starting
 * at half, not near zero, a recovered server is back in rotation at once
 * (a handful of clients always reach it) while its weight still ramps.
 *
 * Which picks: for `balance: source`, the clients whose address falls in
 * the first f of a second, independent hash -- always the same ones, a set
 * that only grows as f does, so a client never alternates between servers
 * (the server's share of the ring shrinks instead).  Otherwise pick k is
 * admitted when floor((k+1) f) > floor(k f): exactly f of any run of
 * picks, evenly spread, with only an atomic counter. */
bool
server_ramp_admit(struct server *s, int64_t now_ms,
    const struct sockaddr *client)
{
	struct server_state *st = s->st;
	uint64_t ss = s->pool ? s->pool->slow_start_ms : 0;
	int64_t since, elapsed;
	uint64_t f, k;

	if (ss == 0)
		return true;
	since = atomic_load_explicit(&st->up_since_ms, memory_order_relaxed);
	if (since == 0)
		return true;
	elapsed = now_ms - since;
	if (elapsed < 0 || (uint64_t)elapsed >= ss) {
		/* Ramp over: stop paying for the counter.  (elapsed < 0
		 * means a clock mix-up; never starve the server over it.) */
		atomic_compare_exchange_strong(&st->up_since_ms, &since, 0);
		return true;
	}
	f = 512 + (uint64_t)elapsed * 512 / ss;
	if (client != NULL && (s->pool->alg == BAL_SOURCE ||
	    s->pool->alg == BAL_MAGLEV))
		return ((addr_hash_host(client) * 0x9e3779b97f4a7c15ULL) >>
		    54) < f;
	k = (uint32_t)atomic_fetch_add_explicit(&st->ramp_seq, 1,
	    memory_order_relaxed);
	return ((k + 1) * f) / 1024 > (k * f) / 1024;
}

/* A weight lowered at run time (admin socket) on an algorithm whose
 * schedule was built from the configured weights (roundrobin, random,
 * source): admit override/configured of the picks that land on s, evenly
 * spread, the rest go on to the next server -- the same lock-free counter
 * trick as slow start.  leastconn and first read server_weight() directly. */
bool
server_weight_admit(struct server *s)
{
	struct server_state *st = s->st;
	int ov = atomic_load_explicit(&st->weight_override, memory_order_relaxed);
	uint64_t k;

	if (ov < 0 || (uint32_t)ov >= s->weight || s->pool == NULL ||
	    s->pool->alg == BAL_LEASTCONN || s->pool->alg == BAL_FIRST)
		return true;
	k = (uint32_t)atomic_fetch_add_explicit(&st->weight_seq, 1,
	    memory_order_relaxed);
	return ((k + 1) * (uint64_t)ov) / s->weight > (k * (uint64_t)ov) / s->weight;
}

/* Take one slot on s, never going past max_conns: the increment is the
 * reservation, and an overshoot is undone before anyone can rely on it. */
static bool
pool_reserve(struct server *s, int64_t now_ms)
{
	struct server_state *st = s->st;
	unsigned prev;

	prev = atomic_fetch_add_explicit(&st->active, 1, memory_order_acq_rel);
	if (s->max_conns && prev >= s->max_conns) {
		atomic_fetch_sub_explicit(&st->active, 1, memory_order_acq_rel);
		return false;
	}
	/* A passively-down server whose rest is over gets one trial, not a
	 * stampede: the first thread moves retry_at forward and owns it.
	 * The outcome (pool_report_connect) either revives the server or
	 * re-arms the rest. */
	if (!atomic_load_explicit(&st->up, memory_order_acquire) &&
	    atomic_load_explicit(&st->passive_down, memory_order_acquire)) {
		int64_t retry = atomic_load(&st->retry_at_ms);

		if (retry != 0 && now_ms >= retry) {
			int64_t rest = s->pool ?
			    (int64_t)s->pool->fail_timeout_ms : 0;

			if (rest <= 0)
				rest = 1;
			if (!atomic_compare_exchange_strong(&st->retry_at_ms,
			    &retry, now_ms + rest)) {
				atomic_fetch_sub_explicit(&st->active, 1,
				    memory_order_acq_rel);
				return false;
			}
		}
	}
	return true;
}

struct server *
pool_pick(struct pool *p, const struct sockaddr *client,
    const uint32_t *tried, unsigned ntried, int64_t now_ms, uint32_t *rnd)
{
	uint32_t excl[POOL_PICK_EXCLUDE_MAX];
	unsigned n = ntried < POOL_PICK_EXCLUDE_MAX ? ntried :
	    POOL_PICK_EXCLUDE_MAX;
	const unsigned nfailed = n;
	int ramping = -1;
	int i;

	if (n)
		memcpy(excl, tried, n * sizeof(*excl));
	while ((i = balance_pick_ex(p, client, excl, n, nfailed, now_ms, rnd)) >= 0) {
		struct server *s = &p->servers[i];

		if (server_weight_admit(s) && server_ramp_admit(s, now_ms, client)) {
			if (pool_reserve(s, now_ms))
				return s;
		} else if (ramping < 0) {
			ramping = i;
		}
		if (n == POOL_PICK_EXCLUDE_MAX)
			break;
		excl[n++] = (uint32_t)i;
	}
	/* Slow start (and a lowered weight) shifts load away from a server;
	 * it must never turn a client away that the server could have taken. */
	if (ramping >= 0 && pool_reserve(&p->servers[ramping], now_ms))
		return &p->servers[ramping];
	return NULL;
}

void
pool_release(struct server *s)
{
	unsigned prev;

	prev = atomic_fetch_sub_explicit(&s->st->active, 1,
	    memory_order_acq_rel);
	assert(prev > 0);
	(void)prev;
	/* The oldest waiter gets the slot, whichever worker freed it. */
	if (s->pool && s->pool->queue && queue_busy(s->pool->queue))
		queue_notify(queue_wake(s->pool->queue));
}

bool
pool_full(const struct pool *p, int64_t now_ms)
{
	for (uint32_t i = 0; i < p->nservers; i++) {
		const struct server *s = &p->servers[i];

		if (s->weight > 0 && s->max_conns > 0 &&
		    server_available(s, now_ms) &&
		    atomic_load_explicit(&s->st->active, memory_order_relaxed) >=
		    s->max_conns)
			return true;
	}
	return false;
}

/* Report wording: sessions may pass the short words of pool.h. */
static const char *
pool_reason_text(const char *reason)
{
	static const struct {
		const char *word, *text;
	} words[] = {
		{ "refused", "connection refused" },
		{ "reset", "connection reset" },
		{ "timeout", "connect timeout" },
		{ "unreachable", "network unreachable" },
	};

	if (reason == NULL)
		return "connect failed";
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(reason, words[i].word) == 0)
			return words[i].text;
	return reason;
}

void
pool_report_connect(struct server *s, bool ok, const char *reason,
    int64_t now_ms)
{
	struct server_state *st = s->st;
	const struct pool *p = s->pool;
	unsigned fails, max_fails = p ? p->max_fails : 0;
	int64_t rest;
	char why[160];

	if (ok) {
		if (atomic_load_explicit(&st->fails, memory_order_relaxed))
			atomic_store_explicit(&st->fails, 0,
			    memory_order_relaxed);
		if (!atomic_load(&st->passive_down))
			return;
		/* With an active check the checker is the authority: a
		 * connect that happened to work (say, one already in flight)
		 * does not overrule it. */
		if (p && p->health.enabled)
			return;
		atomic_store(&st->passive_down, false);
		atomic_store(&st->retry_at_ms, 0);
		server_set_up(s, true, "connection succeeded", now_ms);
		return;
	}
	fails = atomic_fetch_add_explicit(&st->fails, 1,
	    memory_order_relaxed) + 1;
	if (max_fails == 0 || fails < max_fails)
		return;
	/* nginx semantics: max_fails in a row sends the server to rest for
	 * fail_timeout.  An active checker, when there is one, decides when
	 * it comes back instead (retry_at 0: no trial by traffic), but not
	 * before the rest is over, and only on `rise` checks begun after
	 * this failure (the epoch tells the checker to start counting
	 * again). */
	rest = p->health.enabled ? 0 : now_ms + (int64_t)p->fail_timeout_ms;
	if (!p->health.enabled && rest == 0)
		rest = 1;
	if (p->health.enabled && atomic_load(&st->up)) {
		atomic_store(&st->rest_until_ms,
		    now_ms + (int64_t)p->fail_timeout_ms);
		atomic_fetch_add(&st->passive_epoch, 1);
	}
	if (atomic_load(&st->up)) {
		/* Publish the rest before the flag pickers test first. */
		atomic_store(&st->retry_at_ms, rest);
		atomic_store(&st->passive_down, true);
		snprintf(why, sizeof(why), "%s (%u consecutive failure%s)",
		    pool_reason_text(reason), fails, fails == 1 ? "" : "s");
		server_set_up(s, false, why, now_ms);
	} else if (atomic_load(&st->passive_down)) {
		/* A failed trial: rest again.  Not a new transition, so not
		 * logged above debug. */
		atomic_store(&st->retry_at_ms, rest);
		if (log_enabled(LOG_DEBUG)) {
			struct log_ctx ctx;

			server_log_ctx(s, &ctx);
			log_msg(LOG_DEBUG, &ctx,
			    "server %s/%s: retry failed: %s, resting again",
			    p->name, s->name, pool_reason_text(reason));
		}
	}
}

/* Is any server of p (backup or not) still up?  For the "no server
 * available" record, which operators alert on. */
static bool
pool_any_up(const struct pool *p)
{
	for (uint32_t i = 0; i < p->nservers; i++)
		if (atomic_load(&p->servers[i].st->up))
			return true;
	return false;
}

void
server_state_adopted(struct server *s, int64_t now_ms)
{
	struct server_state *st = s->st;
	int64_t zero = 0;
	int ov = atomic_load(&st->weight_override);
	int fit = server_override_fit(s, ov);

	/* A weight set at run time that the new configuration made moot (it
	 * is the configured weight now) or impossible (the pool's algorithm
	 * cannot apply it to the new configured weight) is dropped, and
	 * said: reporting it would be a lie. */
	if (fit != ov) {
		struct log_ctx ctx;

		atomic_store(&st->weight_override, fit);
		server_log_ctx(s, &ctx);
		log_msg(LOG_NOTICE, &ctx, "server %s/%s: weight %d set at run "
		    "time no longer applies (configured weight %u, balance %s): "
		    "the configured weight is in force", s->pool->name,
		    s->name, ov, s->weight, gen_balance_name(s->pool->alg));
	}
	if (atomic_load(&st->up))
		return;
	if (s->pool->health.enabled) {
		int64_t retry = atomic_load(&st->retry_at_ms);

		/* Resting after traffic failures in a pool that had no
		 * check: the new checker takes over, honouring the rest. */
		if (atomic_load(&st->passive_down) && retry != 0) {
			atomic_store(&st->rest_until_ms, retry);
			atomic_fetch_add(&st->passive_epoch, 1);
			atomic_store(&st->retry_at_ms, 0);
		}
		return;
	}
	if (atomic_load(&st->passive_down)) {
		/* Was resting until a check said otherwise: now until a
		 * trial connect says otherwise. */
		atomic_compare_exchange_strong(&st->retry_at_ms, &zero, now_ms ? now_ms : 1);
		return;
	}
	st->check_ok = st->check_fail = 0;
	server_set_up(s, true, "health check removed from the pool", now_ms);
}

bool
server_set_up(struct server *s, bool up, const char *reason, int64_t now_ms)
{
	struct server_state *st = s->st;
	const struct pool *p = s->pool;
	bool expected = !up;
	struct log_ctx ctx;
	char who[512];

	/* The CAS elects exactly one thread to own (and log) a transition,
	 * however many saw the same failures. */
	if (!atomic_compare_exchange_strong(&st->up, &expected, up))
		return false;
	if (up) {
		atomic_store(&st->ramp_seq, 0);
		atomic_store(&st->up_since_ms,
		    p && p->slow_start_ms > 0 ? (now_ms ? now_ms : 1) : 0);
		/* Capacity came back: a queued client may take it. */
		if (p && p->queue && queue_busy(p->queue))
			queue_notify(queue_kick(p->queue));
	}
	server_log_ctx(s, &ctx);
	/* "web/app2 (10.0.0.2:8080)", or "web/10.0.0.2:8080" when the name
	 * is the address. */
	if (s->addr_text && s->name && strcmp(s->addr_text, s->name) != 0)
		snprintf(who, sizeof(who), "%s/%s (%s)", p ? p->name : "?",
		    s->name, s->addr_text);
	else
		snprintf(who, sizeof(who), "%s/%s", p ? p->name : "?",
		    s->name ? s->name : s->addr_text ? s->addr_text : "?");
	log_msg(up ? LOG_NOTICE : LOG_WARNING, &ctx, "%sserver %s is %s%s%s",
	    s->backup ? "backup " : "", who, up ? "UP" : "DOWN",
	    reason ? ": " : "", reason ? reason : "");
	if (!up && p && !pool_any_up(p)) {
		memset(&ctx, 0, sizeof(ctx));
		ctx.pool = p->name;
		log_msg(LOG_ERR, &ctx, "pool %s has no server available", p->name);
	}
	return true;
}

/* ---- the parts a pool hangs on a generation (config's gen_parts) ------- */

/* All pools' balancing tables together, in entries of 4-8 bytes: the
 * node budget alone lets a 4 KiB file with aliases ask for ~430 `source`
 * pools of 2^18 ring points each (~900 MB and ~25 s of sorting).  16M
 * entries still allow 64 source pools at the largest ring size. */
#define POOL_TABLE_BUDGET	(16u << 20)

int
pool_parts_build(struct gen *g, char *err, size_t errlen)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < g->npools; i++) {
		total += balance_table_size(&g->pools[i]);
		if (total > POOL_TABLE_BUDGET) {
			snprintf(err, errlen, "pool '%s': too many pools, "
			    "servers or too much weight to balance (all "
			    "pools together exceed %u table entries)",
			    g->pools[i].name, POOL_TABLE_BUDGET);
			return -1;
		}
	}
	for (uint32_t i = 0; i < g->npools; i++) {
		struct pool *p = &g->pools[i];

		if (balance_prepare(p) == -1) {
			snprintf(err, errlen, "pool '%s': too many servers or "
			    "too much weight to balance", p->name);
			return -1;
		}
		if (p->queue == NULL)
			p->queue = queue_new();
	}
	return 0;
}

void
pool_parts_follow(struct pool *np, const struct pool *op)
{
	if (op->queue == NULL)
		return;
	queue_put(np->queue);
	np->queue = queue_get(op->queue);
}

void
pool_parts_free(struct pool *p)
{
	queue_put(p->queue);
	p->queue = NULL;
	balance_free(p->bal);
	p->bal = NULL;
}

void
pool_adopt_commit(struct gen *g, int64_t now_ms)
{
	for (uint32_t i = 0; i < g->npools; i++)
		for (uint32_t s = 0; s < g->pools[i].nservers; s++)
			if (g->pools[i].servers[s].adopted)
				server_state_adopted(&g->pools[i].servers[s],
				    now_ms);
}
