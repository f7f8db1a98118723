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

#include "balance.h"
#include "gen.h"
#include "log.h"
#include "pool.h"
#include "util.h"

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
	g->global.log_level = LOG_INFO;
	g->global.access_log = true;
	return g;
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
	balance_free(&p->bal);
	free(p->health.send);
	free(p->health.expect);
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
		free(l->name);
	}
	free(g->listeners);
	for (uint32_t i = 0; i < g->npools; i++)
		pool_free_contents(&g->pools[i]);
	free(g->pools);
	free(g->source);
	free(g->global.admin_socket);
	free(g->global.metrics);
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
		free(st);
	}
}

static const struct server *
pool_find_server_by_addr(const struct pool *p, const struct sockaddr *sa)
{
	for (uint32_t i = 0; i < p->nservers; i++)
		if (addr_equal((const struct sockaddr *)&p->servers[i].addr, sa))
			return &p->servers[i];
	return NULL;
}

/* A server is "the same server" across a reload when it sits in a pool of
 * the same name at the same address: its health and its open-connection
 * count (which leastconn, first and max_connections depend on) must not
 * reset just because the file was re-read. */
void
gen_inherit(struct gen *new, const struct gen *old)
{
	if (old == NULL)
		return;
	for (uint32_t i = 0; i < new->npools; i++) {
		struct pool *np = &new->pools[i];
		const struct pool *op = gen_find_pool(old, np->name);

		if (op == NULL)
			continue;
		for (uint32_t s = 0; s < np->nservers; s++) {
			struct server *ns = &np->servers[s];
			const struct server *os = pool_find_server_by_addr(op,
			    (const struct sockaddr *)&ns->addr);

			if (os == NULL)
				continue;
			server_state_put(ns->st);
			ns->st = server_state_get(os->st);
			server_state_adopted(ns, (int64_t)now_ms());
		}
	}
	for (uint32_t i = 0; i < new->nlisteners; i++) {
		struct listener *nl = &new->listeners[i];
		const struct listener *ol = gen_find_listener(old, nl->name);

		if (ol == NULL)
			continue;
		listener_state_put(nl->st);
		nl->st = listener_state_get(ol->st);
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
