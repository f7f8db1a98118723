/*
 * gen: lifetime of configuration generations and of the runtime state that
 * crosses from one generation to the next.  A generation is freed by the
 * last gen_put(), on whichever thread drops it; freeing touches nothing but
 * the generation's own memory and the refcounts of its *_state objects.
 */
#include "autoconfig.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "config/gen.h"
#include "tls/tls.h"
#include "parse/route.h"
#include "base/log.h"
#include "base/util.h"

static atomic_uint gen_next_id = 1;

struct gen *
gen_new(const char *source)
{
	struct gen *g = xcalloc(1, sizeof(*g));

	g->magic = GEN_MAGIC;
	atomic_init(&g->refs, 1);
	g->id = atomic_fetch_add(&gen_next_id, 1);
	g->source = xstrdup(source);
	g->global.workers = 0;
	g->global.max_conns = 0;
	g->global.shutdown_timeout_ms = 30 * 1000;
	g->global.upgrade_timeout_ms = UINT64_MAX;
	g->global.log_level = LOG_INFO;
	g->global.access_log = true;
	g->global.metrics_max_per_source = 4;
	return g;
}

/* ---- the published generation, the algorithms' names ------------------ */

static struct gen *current;

struct gen *
gen_current(void)
{
	return current;
}

void
gen_set_current(struct gen *g)
{
	current = g;
}

static const char *const bal_names[] = {
	[BAL_ROUNDROBIN] = "roundrobin",
	[BAL_LEASTCONN] = "leastconn",
	[BAL_SOURCE] = "source",
	[BAL_RANDOM] = "random",
	[BAL_FIRST] = "first",
	[BAL_MAGLEV] = "maglev",
};

int
gen_balance_parse(const char *s, enum balance_alg *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(bal_names); i++) {
		if (strcmp(s, bal_names[i]) == 0) {
			*out = (enum balance_alg)i;
			return 0;
		}
	}
	/* HAProxy's spelling of the same algorithm. */
	if (strcmp(s, "leastconns") == 0) {
		*out = BAL_LEASTCONN;
		return 0;
	}
	return -1;
}

const char *
gen_server_origin(const struct server *s)
{
	const struct server_entry *e;

	if (s->pool == NULL || s->entry >= s->pool->nentries)
		return "file";
	e = &s->pool->entries[s->entry];
	if (e->added)
		return "admin";
	return e->kind == SE_ADDR ? "file" : "dns";
}

const char *
gen_balance_name(enum balance_alg alg)
{
	if ((size_t)alg >= ARRAY_SIZE(bal_names))
		return "?";
	return bal_names[alg];
}

struct gen *
gen_get(struct gen *g)
{
	assert(g->magic == GEN_MAGIC);
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	return g;
}

static void
pool_free_contents(struct pool *p)
{
	for (uint32_t i = 0; i < p->nservers; i++) {
		struct server *s = &p->servers[i];

		free(s->name);
		free(s->addr_text);
		if (s->st)
			server_state_put(s->st);
	}
	free(p->servers);
	for (uint32_t i = 0; i < p->nentries; i++) {
		free(p->entries[i].name);
		free(p->entries[i].host);
	}
	free(p->entries);
	if (p->st)
		pool_state_put(p->st);
	free(p->health.send);
	free(p->health.expect);
	free(p->health.method);
	free(p->health.path);
	free(p->health.host);
	free(p->health.verify);
	tls_ctx_unref(p->health.tls);
	free(p->name);
}

static void
gen_free(struct gen *g)
{
	for (uint32_t i = 0; i < g->nlisteners; i++) {
		struct listener *l = &g->listeners[i];

		for (uint32_t b = 0; b < l->nbinds; b++)
			free(l->binds[b].text);
		free(l->binds);
		if (l->st)
			listener_state_put(l->st);
		if (g->parts != NULL)
			g->parts->listener_free(l);
		cidr_set_free(&l->trusted);
		cidr_set_free(&l->allow);
		cidr_set_free(&l->deny);
		for (uint32_t r = 0; r < l->nroutes; r++)
			route_clear(&l->routes[r]);
		free(l->routes);
		free(l->name);
	}
	free(g->listeners);
	for (uint32_t i = 0; i < g->npools; i++) {
		if (g->parts != NULL)
			g->parts->pool_free(&g->pools[i]);
		pool_free_contents(&g->pools[i]);
	}
	free(g->pools);
	free(g->global.resolvers);
	free(g->text);
	free(g->source);
	free(g->global.admin_socket);
	free(g->global.metrics);
	cidr_set_free(&g->global.metrics_allow);
	cidr_set_free(&g->global.metrics_deny);
	g->magic = 0;
	free(g);
}

void
gen_put(struct gen *g)
{
	if (g == NULL)
		return;
	assert(g->magic == GEN_MAGIC);
	if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
		gen_free(g);
}

const char *
gen_health_type_name(enum health_type t)
{
	static const char *const names[] = {
		[HEALTH_TCP] = "tcp",
		[HEALTH_HTTP] = "http",
		[HEALTH_TLS] = "tls",
		[HEALTH_AGENT] = "agent",
	};

	return (size_t)t < ARRAY_SIZE(names) && names[t] ? names[t] : "?";
}

struct pool *
gen_find_pool(const struct gen *g, const char *name)
{
	for (uint32_t i = 0; i < g->npools; i++)
		if (strcmp(g->pools[i].name, name) == 0)
			return &g->pools[i];
	return NULL;
}

struct listener *
gen_find_listener(const struct gen *g, const char *name)
{
	for (uint32_t i = 0; i < g->nlisteners; i++)
		if (strcmp(g->listeners[i].name, name) == 0)
			return &g->listeners[i];
	return NULL;
}

struct server_state *
server_state_new(void)
{
	struct server_state *st = xcalloc(1, sizeof(*st));

	atomic_init(&st->refs, 1);
	atomic_init(&st->up, true);
	atomic_init(&st->admin, SRV_ADMIN_READY);
	atomic_init(&st->weight_override, -1);
	st->check_fresh = true;
	return st;
}

struct server_state *
server_state_get(struct server_state *st)
{
	atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
	return st;
}

void
server_state_put(struct server_state *st)
{
	if (atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) == 1) {
		free(st->ws);
		free(st->carried);
		free(st);
	}
}

struct pool_state *
pool_state_new(void)
{
	struct pool_state *st = xcalloc(1, sizeof(*st));

	atomic_init(&st->refs, 1);
	return st;
}

struct pool_state *
pool_state_get(struct pool_state *st)
{
	atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
	return st;
}

void
pool_state_put(struct pool_state *st)
{
	if (atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) == 1) {
		free(st->ws);
		free(st->carried);
		free(st);
	}
}

struct listener_state *
listener_state_new(void)
{
	struct listener_state *st = xcalloc(1, sizeof(*st));

	atomic_init(&st->refs, 1);
	return st;
}

struct listener_state *
listener_state_get(struct listener_state *st)
{
	atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
	return st;
}

void
listener_state_put(struct listener_state *st)
{
	if (atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) == 1) {
		free(st->ws);
		free(st->carried);
		free(st);
	}
}

/* One old server, for looking servers up by address during gen_inherit. */
struct inherit_ent {
	uint64_t key;			/* address hash, for sorting */
	uint32_t seq;			/* file order over all old pools */
	bool taken;			/* already handed to a new server */
	const struct pool *pool;
	const struct server *srv;
};

static uint64_t
inherit_key(const struct server *s)
{
	return addr_hash_host((const struct sockaddr *)&s->addr) ^
	    ((uint64_t)addr_port((const struct sockaddr *)&s->addr) *
	    0x9e3779b97f4a7c15ULL);
}

static int
inherit_ent_cmp(const void *a, const void *b)
{
	const struct inherit_ent *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The first entry with this key (ents sorted), or n. */
static size_t
inherit_lower(const struct inherit_ent *ents, size_t n, uint64_t key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ents[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

enum inherit_rule { BY_POOL, BY_NAME, BY_ADDRESS };

/*
 * Retired states: those of servers a published generation dropped while
 * an older generation (its sessions) may still use them.  A server that
 * comes back to the same address while those connections drain must
 * count them: otherwise removing a server and adding it back (two
 * reloads, or a DNS answer that flaps) lets max_connections be exceeded.
 * The list holds a reference to each state; an entry whose state only the
 * list holds has no connection left to count and is dropped at the next
 * commit.  Main thread only, like gen_inherit and gen_adopt_commit; only
 * this thread can take a new reference to a listed state, so a reference
 * count of 1 read here stays 1.
 */
struct retired_ent {
	struct server_state *st;
	struct sockaddr_storage addr;
};

static struct retired_ent *retired;	/* committed */
static size_t nretired;
static struct retired_ent *retiring;	/* the last gen_inherit's old servers
					 * nothing took: retired at commit */
static size_t nretiring;

static void
retired_drop(struct retired_ent **v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		server_state_put((*v)[i].st);
	free(*v);
	*v = NULL;
	*n = 0;
}

/* The retired state for ns's address still used by a connection, and not
 * taken by another server of new, or NULL. */
static struct server_state *
retired_find(const struct gen *new, const struct server *ns)
{
	for (size_t i = 0; i < nretired; i++) {
		struct retired_ent *r = &retired[i];
		bool taken = false;

		if (atomic_load(&r->st->refs) <= 1 ||
		    !addr_equal((const struct sockaddr *)&r->addr,
		    (const struct sockaddr *)&ns->addr))
			continue;
		for (uint32_t p = 0; p < new->npools && !taken; p++)
			for (uint32_t k = 0; k < new->pools[p].nservers; k++)
				if (new->pools[p].servers[k].st == r->st)
					taken = true;
		if (!taken)
			return r->st;
	}
	return NULL;
}

/* The old server ns takes over under rule, or NULL.  Equal keys are in
 * file order, so "the first" is the first in the old file. */
static struct inherit_ent *
inherit_find(struct inherit_ent *ents, size_t n, const struct server *ns,
    enum inherit_rule rule)
{
	uint64_t key = inherit_key(ns);

	for (size_t i = inherit_lower(ents, n, key); i < n &&
	    ents[i].key == key; i++) {
		struct inherit_ent *e = &ents[i];

		if (e->taken || !addr_equal((const struct sockaddr *)&e->srv->addr,
		    (const struct sockaddr *)&ns->addr))
			continue;
		if (rule == BY_POOL && strcmp(e->pool->name, ns->pool->name) != 0)
			continue;
		if (rule == BY_NAME && strcmp(e->srv->name, ns->name) != 0)
			continue;
		return e;
	}
	return NULL;
}

static bool
listener_shares_bind(const struct listener *a, const struct listener *b)
{
	for (uint32_t i = 0; i < a->nbinds; i++)
		for (uint32_t j = 0; j < b->nbinds; j++)
			if (addr_equal((const struct sockaddr *)&a->binds[i].addr,
			    (const struct sockaddr *)&b->binds[j].addr))
				return true;
	return false;
}

/*
 * A server is "the same server" across a reload when it has the same
 * resolved address: the backend behind it has the same open connections
 * and the same health whatever the pool or the server is called now.  Its
 * open-connection count (which max_connections, leastconn and first rely
 * on) and its health must not reset just because the file was re-read or
 * a pool renamed -- otherwise a limit of 1 admits a second connection and
 * a server that checks hold down gets traffic again.  One old state goes
 * to one new server only: two servers sharing a count would share a limit.
 * Three passes, so a server that stays in its pool is never robbed by one
 * that moved in.
 */
/*
 * Operators think in names: `set server web/app state maint` (or weight)
 * is about the server called app, whatever its address.  A server of new
 * that took no state (its name resolved to an address it did not have)
 * takes the admin state and weight override set on servers of the same
 * name in the same pool; if those differ, the most restrictive state and
 * the lowest weight.  Only new's fresh states change.
 */
static void
inherit_by_name(struct gen *new, const struct gen *old)
{
	for (uint32_t i = 0; i < new->npools; i++) {
		struct pool *np = &new->pools[i];
		const struct pool *op = gen_find_pool(old, np->name);
		const struct server **set = NULL;
		size_t nset = 0;

		if (op == NULL)
			continue;
		/* Only servers with something set matter: usually none. */
		for (uint32_t k = 0; k < op->nservers; k++) {
			const struct server_state *st = op->servers[k].st;

			if (atomic_load(&st->admin) != SRV_ADMIN_READY ||
			    atomic_load(&st->weight_override) >= 0) {
				set = xrealloc(set, (nset + 1) * sizeof(*set));
				set[nset++] = &op->servers[k];
			}
		}
		for (uint32_t s = 0; nset > 0 && s < np->nservers; s++) {
			struct server *ns = &np->servers[s];
			int admin = SRV_ADMIN_READY, w = -1, aa = 0;
			bool aw = false;

			if (ns->adopted)
				continue;
			for (size_t k = 0; k < nset; k++) {
				const struct server_state *st = set[k]->st;
				int a, o;

				if (strcmp(set[k]->name, ns->name) != 0)
					continue;
				a = atomic_load(&st->admin);
				o = atomic_load(&st->weight_override);
				/* Who set it goes with it: an agent's drain
				 * stays the agent's to lift. */
				if (a > admin) {
					admin = a;
					aa = atomic_load(&st->agent_admin) == a ?
					    a : 0;
				}
				if (o >= 0 && (w < 0 || o < w)) {
					w = o;
					aw = atomic_load(&st->agent_weight);
				}
			}
			atomic_store(&ns->st->admin, admin);
			atomic_store(&ns->st->agent_admin, aa);
			atomic_store(&ns->st->weight_override,
			    server_override_fit(ns, w));
			atomic_store(&ns->st->agent_weight, aw &&
			    atomic_load(&ns->st->weight_override) >= 0);
		}
		free(set);
	}
}

void
gen_inherit(struct gen *new, const struct gen *old)
{
	static const enum inherit_rule rules[] = { BY_POOL, BY_NAME,
	    BY_ADDRESS };
	struct inherit_ent *ents;
	size_t n = 0, k = 0;
	bool *ltaken;

	if (old == NULL)
		return;
	/* Clients waiting for a pool keep their place in its queue. */
	for (uint32_t i = 0; new->parts != NULL && i < new->npools; i++) {
		struct pool *np = &new->pools[i];
		const struct pool *op = gen_find_pool(old, np->name);

		if (op != NULL)
			new->parts->pool_follow(np, op);
	}
	/* A pool's totals too: they count on whichever servers come. */
	for (uint32_t i = 0; i < new->npools; i++) {
		struct pool *np = &new->pools[i];
		const struct pool *op = gen_find_pool(old, np->name);

		if (op != NULL && op->st != NULL) {
			if (np->st)
				pool_state_put(np->st);
			np->st = pool_state_get(op->st);
		}
	}
	for (uint32_t i = 0; i < old->npools; i++)
		n += old->pools[i].nservers;
	ents = xcalloc(n ? n : 1, sizeof(*ents));
	for (uint32_t i = 0; i < old->npools; i++) {
		for (uint32_t s = 0; s < old->pools[i].nservers; s++) {
			ents[k].key = inherit_key(&old->pools[i].servers[s]);
			ents[k].seq = (uint32_t)k;
			ents[k].pool = &old->pools[i];
			ents[k].srv = &old->pools[i].servers[s];
			k++;
		}
	}
	qsort(ents, n, sizeof(*ents), inherit_ent_cmp);
	for (size_t r = 0; r < ARRAY_SIZE(rules); r++) {
		for (uint32_t i = 0; i < new->npools; i++) {
			struct pool *np = &new->pools[i];

			for (uint32_t s = 0; s < np->nservers; s++) {
				struct server *ns = &np->servers[s];
				struct inherit_ent *e;

				if (ns->adopted ||
				    (e = inherit_find(ents, n, ns, rules[r])) == NULL)
					continue;
				e->taken = true;
				server_state_put(ns->st);
				ns->st = server_state_get(e->srv->st);
				ns->adopted = true;
			}
		}
	}
	/* A server back at an address whose earlier server still has
	 * connections of an older generation counts them. */
	for (uint32_t i = 0; i < new->npools; i++) {
		struct pool *np = &new->pools[i];

		for (uint32_t s = 0; s < np->nservers; s++) {
			struct server *ns = &np->servers[s];
			struct server_state *st;

			if (ns->adopted || (st = retired_find(new, ns)) == NULL)
				continue;
			server_state_put(ns->st);
			ns->st = server_state_get(st);
			ns->adopted = true;
		}
	}
	inherit_by_name(new, old);
	/* Old servers nothing took: retired if this reload commits. */
	retired_drop(&retiring, &nretiring);
	for (size_t e = 0; e < n; e++) {
		struct retired_ent *r;

		if (ents[e].taken)
			continue;
		retiring = xrealloc(retiring, (nretiring + 1) *
		    sizeof(*retiring));
		r = &retiring[nretiring++];
		memset(r, 0, sizeof(*r));
		r->st = server_state_get(ents[e].srv->st);
		memcpy(&r->addr, &ents[e].srv->addr, ents[e].srv->addrlen);
	}
	free(ents);

	/* Listeners: the listener count backs listener max_connections, so
	 * a renamed listener on the same address keeps it too. */
	ltaken = xcalloc(old->nlisteners ? old->nlisteners : 1, sizeof(*ltaken));
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < new->nlisteners; i++) {
			struct listener *nl = &new->listeners[i];
			uint32_t o;

			if (nl->st_adopted)
				continue;
			for (o = 0; o < old->nlisteners; o++) {
				const struct listener *ol = &old->listeners[o];

				if (ltaken[o])
					continue;
				if (pass == 0 ? strcmp(ol->name, nl->name) == 0 :
				    listener_shares_bind(ol, nl))
					break;
			}
			if (o == old->nlisteners)
				continue;
			ltaken[o] = true;
			listener_state_put(nl->st);
			nl->st = listener_state_get(old->listeners[o].st);
			nl->st_adopted = true;
			if (new->parts != NULL)
				new->parts->listener_follow(nl,
				    &old->listeners[o]);
		}
	}
	free(ltaken);
}

void
gen_adopt_commit(struct gen *new)
{
	size_t k = 0;

	/* The retired list: minus what new took back or nobody uses any
	 * more, plus what new dropped. */
	for (size_t i = 0; i < nretired; i++) {
		bool keep = atomic_load(&retired[i].st->refs) > 1;

		for (uint32_t p = 0; keep && p < new->npools; p++)
			for (uint32_t s = 0; s < new->pools[p].nservers; s++)
				if (new->pools[p].servers[s].st ==
				    retired[i].st)
					keep = false;
		if (keep)
			retired[k++] = retired[i];
		else
			server_state_put(retired[i].st);
	}
	nretired = k;
	if (nretiring > 0) {
		retired = xrealloc(retired, (nretired + nretiring) *
		    sizeof(*retired));
		memcpy(retired + nretired, retiring, nretiring *
		    sizeof(*retiring));
		nretired += nretiring;
		free(retiring);
		retiring = NULL;
		nretiring = 0;
	}
}

void
gen_count_servers(const struct gen *g, unsigned *up, unsigned *total)
{
	*up = *total = 0;
	for (uint32_t i = 0; i < g->npools; i++) {
		for (uint32_t s = 0; s < g->pools[i].nservers; s++) {
			(*total)++;
			if (atomic_load(&g->pools[i].servers[s].st->up))
				(*up)++;
		}
	}
}
