/*
 * added: the list of servers added at run time, and how a generation being
 * built takes them in (see added.h).  Each goes in as an entry of its own,
 * marked `added`, through the same config_pool_add_entry() the file's
 * servers use: the same checks, the same per-address state, the same
 * balancing tables built afterwards by config_finish().
 */
#include "autoconfig.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* config_int.h names it in a prototype; added.c needs none of config.h,
 * which includes this module's header (no circle). */
struct config_errors;

#include "base/addr.h"
#include "base/hindex.h"
#include "base/log.h"
#include "base/util.h"
#include "config/added.h"
#include "config/config_int.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct added_server *list;
static size_t nlist;
static uint64_t version;

static void
added_copy(struct added_server *d, const struct added_server *s)
{
	*d = *s;
	d->pool = xstrdup(s->pool);
	d->name = xstrdup(s->name);
	d->addr = xstrdup(s->addr);
}

static void
added_clear(struct added_server *s)
{
	free(s->pool);
	free(s->name);
	free(s->addr);
}

static ssize_t
added_find(const char *pool, const char *name)
{
	for (size_t i = 0; i < nlist; i++)
		if (strcmp(list[i].pool, pool) == 0 &&
		    strcmp(list[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

uint64_t
added_add(const struct added_server *s)
{
	uint64_t v;

	pthread_mutex_lock(&lock);
	list = xrealloc(list, (nlist + 1) * sizeof(*list));
	added_copy(&list[nlist++], s);
	v = ++version;
	pthread_mutex_unlock(&lock);
	return v;
}

uint64_t
added_del(const char *pool, const char *name)
{
	uint64_t v = 0;
	ssize_t i;

	pthread_mutex_lock(&lock);
	if ((i = added_find(pool, name)) >= 0) {
		added_clear(&list[i]);
		memmove(&list[i], &list[i + 1], (nlist - (size_t)i - 1) *
		    sizeof(*list));
		nlist--;
		v = ++version;
	}
	pthread_mutex_unlock(&lock);
	return v;
}

bool
added_has(const char *pool, const char *name)
{
	bool r;

	pthread_mutex_lock(&lock);
	r = added_find(pool, name) >= 0;
	pthread_mutex_unlock(&lock);
	return r;
}

const char *
added_at(const char *pool, const char *addr, char *buf, size_t len)
{
	const char *r = NULL;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nlist; i++)
		if (strcmp(list[i].pool, pool) == 0 &&
		    strcmp(list[i].addr, addr) == 0) {
			snprintf(buf, len, "%s", list[i].name);
			r = buf;
			break;
		}
	pthread_mutex_unlock(&lock);
	return r;
}

uint64_t
added_version(void)
{
	uint64_t v;

	pthread_mutex_lock(&lock);
	v = version;
	pthread_mutex_unlock(&lock);
	return v;
}

size_t
added_list(struct added_server **out, uint64_t *ver)
{
	size_t n;

	pthread_mutex_lock(&lock);
	n = nlist;
	*out = n ? xcalloc(n, sizeof(**out)) : NULL;
	for (size_t i = 0; i < n; i++)
		added_copy(&(*out)[i], &list[i]);
	if (ver != NULL)
		*ver = version;
	pthread_mutex_unlock(&lock);
	return n;
}

void
added_free(struct added_server *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		added_clear(&v[i]);
	free(v);
}

static bool
added_pool_has(const struct pool *p, const char *name,
    const struct sockaddr *sa)
{
	for (uint32_t i = 0; i < p->nservers; i++)
		if (strcmp(p->servers[i].name, name) == 0 ||
		    (sa != NULL && addr_equal((const struct sockaddr *)
		    &p->servers[i].addr, sa)))
			return true;
	return false;
}

/* One added server into p, whose names and addresses x indexes (kept up
 * to date by config_pool_add_entry()); a warning when it cannot go in. */
static void
added_apply_one(struct pool *p, struct server_index *x,
    const struct added_server *a)
{
	struct server_opts o = { 0 };
	struct config_build b = { 0 };
	struct addr_spec spec;
	struct sockaddr_storage *sa = NULL;
	size_t nsa = 0;
	char err[512];
	uint32_t before = p->nservers;

	if (addr_parse(a->addr, &spec, err, sizeof(err)) == -1 ||
	    addr_resolve(&spec, false, &sa, &nsa, err, sizeof(err)) == -1) {
		log_warnx("pool %s: added server %s (%s) left out: %s", p->name,
		    a->name, a->addr, err);
		return;
	}
	/* The file (or DNS) has this name or address now: it wins. */
	if (config_pool_has_name(p, x, a->name) ||
	    config_pool_has_addr(p, x, (struct sockaddr *)&sa[0])) {
		free(sa);
		return;
	}
	free(sa);
	o.weight = a->weight;
	o.max_conns = a->max_conns;
	o.backup = a->backup;
	o.source.ip = p->source;
	o.source.client = p->source_client;
	o.mptcp = p->mptcp;
	o.proxy_protocol = CFG_PROXY_UNSET;
	if (config_pool_add_entry(p, x, &spec, NULL, a->addr, a->name, &o, &b,
	    err, sizeof(err)) != 0) {
		log_warnx("pool %s: added server %s (%s) left out: %s", p->name,
		    a->name, a->addr, err);
	} else {
		p->entries[p->nentries - 1].added = true;
		/* Not before a check says it works, whatever initial_state
		 * says (a server inheriting state keeps its own). */
		for (uint32_t i = before; i < p->nservers; i++)
			if (p->health.enabled)
				atomic_store(&p->servers[i].st->up, false);
	}
}

/* The index of a pool's servers is built once per pool, not once per
 * added server: with thousands added, a rebuild per server made each
 * generation quadratic in them (and each add rebuilds a generation). */
void
added_apply(struct gen *g)
{
	struct added_server *v;
	size_t n = added_list(&v, &g->added_version);

	for (uint32_t k = 0; k < g->npools && n > 0; k++) {
		struct pool *p = &g->pools[k];
		struct server_index x = { 0 };
		bool indexed = false;

		for (size_t i = 0; i < n; i++) {
			if (strcmp(v[i].pool, p->name) != 0)
				continue;
			if (!indexed) {
				for (uint32_t j = 0; j < p->nservers; j++) {
					hindex_add(&x.names, hindex_hash_str(
					    p->servers[j].name), j);
					hindex_add(&x.addrs, addr_hash(
					    (struct sockaddr *)
					    &p->servers[j].addr), j);
				}
				x.cap = p->nservers;
				x.ecap = p->nentries;
				indexed = true;
			}
			added_apply_one(p, &x, &v[i]);
		}
		config_server_index_free(&x);
	}
	added_free(v, n);
}

/* Per pool of g, its servers by name, built when first asked: a lookup
 * per added server, not a scan of the pool (thousands added, every
 * generation published). */
struct name_ix {
	struct hindex *names;
	bool *built;
};

/* Does g's pool hold the added server POOL/NAME as an added one? */
static bool
added_taken(const struct gen *g, struct name_ix *ix,
    const struct added_server *a)
{
	const struct pool *p = gen_find_pool(g, a->pool);
	size_t k, cur = 0;
	uint32_t i;

	if (p == NULL)
		return false;
	k = (size_t)(p - g->pools);
	if (!ix->built[k]) {
		for (uint32_t j = 0; j < p->nservers; j++)
			hindex_add(&ix->names[k],
			    hindex_hash_str(p->servers[j].name), j);
		ix->built[k] = true;
	}
	while ((i = hindex_next(&ix->names[k], hindex_hash_str(a->name),
	    &cur)) != HINDEX_NONE)
		if (strcmp(p->servers[i].name, a->name) == 0)
			return p->entries[p->servers[i].entry].added;
	return false;
}

static bool
added_named(const struct gen *g, const struct added_server *a)
{
	const struct pool *p = gen_find_pool(g, a->pool);

	return p != NULL && added_pool_has(p, a->name, NULL);
}

unsigned
added_prune(const struct gen *g)
{
	unsigned dropped = 0;
	struct name_ix ix;

	ix.names = xcalloc(g->npools ? g->npools : 1, sizeof(*ix.names));
	ix.built = xcalloc(g->npools ? g->npools : 1, sizeof(*ix.built));
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nlist;) {
		struct added_server *a = &list[i];

		/* Changed since g was built: the next generation decides. */
		if (version > g->added_version || added_taken(g, &ix, a)) {
			i++;
			continue;
		}
		log_notice("pool %s: added server %s (%s) %s", a->pool,
		    a->name, a->addr, gen_find_pool(g, a->pool) == NULL ?
		    "dropped: the pool is gone" : added_named(g, a) ?
		    "is now the configuration's: the file's definition is used" :
		    "dropped: it could not be added (see above)");
		added_clear(a);
		memmove(a, a + 1, (nlist - i - 1) * sizeof(*list));
		nlist--;
		dropped++;
	}
	if (dropped)
		version++;
	pthread_mutex_unlock(&lock);
	for (uint32_t k = 0; k < g->npools; k++)
		hindex_free(&ix.names[k]);
	free(ix.names);
	free(ix.built);
	return dropped;
}
