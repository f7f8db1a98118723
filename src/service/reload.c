/*
 * reload: the configuration swap, step by step.
 *
 *   SIGHUP -> RELOADING=1 -> loader thread: config_load_file()
 *     errors -> log every one, STATUS="reload failed: <first>", READY=1
 *     ok     -> command-line overrides (-v, -w) applied to new
 *            -> gen_inherit(new, current)   (new shares the states of the
 *                                             servers that stay; nothing
 *                                             shared is written yet)
 *            -> listener_prepare(new)        (bind new addresses; failure
 *                                             rolls back, nothing changed)
 *            -- commit point: nothing fails after this --
 *            -> gen_adopt_commit(new)        (the first write to shared
 *                                             state)
 *            -> workers_publish(new)         (each worker swaps its pointer)
 *            -> all acked: listener_commit() closes retired sockets,
 *               health checks restart, READY=1
 *   A SIGHUP while any of this runs sets `pending` and the whole thing runs
 *   once more at the end (two quick HUPs must not interleave two swaps).
 *
 * A DNS change (resolve.c) takes the same road without re-reading the file
 * and without RELOADING/READY: the loader thread rebuilds the generation
 * from the current one's own text with the resolver's addresses
 * (config_rebuild), servers that stay inherit their state, servers DNS
 * added to a pool with health checks start down until a check passes, and
 * it is published like a reload.  One swap at a time: a DNS change waits
 * behind a reload (and is dropped when a reload starts, which resolves
 * every name anyway), a reload waits behind a DNS change.
 */
#include "autoconfig.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "control/admin.h"
#include "control/admin_servers.h"
#include "config/added.h"
#include "health/health.h"
#include "relay/listener.h"
#include "base/log.h"
#include "balance/pool.h"
#include "service/reload.h"
#include "dns/resolve.h"
#include "service/service.h"
#include "service/transparent.h"
#include "stats/stats.h"
#include "base/util.h"
#include "relay/worker.h"
#include "relay/workers.h"

static struct ev_loop *loop;
static const char *path;
static bool busy;
static bool pending;
static bool cancelled;		/* shutting down: a late load is dropped */
static bool dns_pending;	/* a DNS change waits for its turn */
static bool loading_dns;	/* the running swap is a DNS change */
static struct resolved_set loading_set;
static char *last_dns_error;	/* the last failed DNS change, said once */
static uint64_t loading_added;	/* added-servers version when it began */
static uint64_t published_added;	/* ... in the last generation published */

static bool ov_verbose;		/* -v: debug whatever the file says */
static int ov_workers = -1;	/* -w: the count in force (0: auto) */

static pthread_t loader;
static bool loader_running;
static ev_async loaded;
static struct gen *loaded_gen;
static struct config_errors loaded_errors;

static void reload_start(void);

static bool
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* A DNS change is applied per entry: when the generation with every new
 * answer cannot be built (an address that is one of our listeners, of the
 * wrong family for the pool's source, too many servers...), each changed
 * entry is tried alone on top of those that worked, and one that fails
 * keeps its running addresses -- the others still change.  The refused
 * answers and why are left in loading_set for resolve_rejected(). */
static struct gen *
reload_dns_build(struct config_errors *e)
{
	const struct gen *running = gen_current();
	struct gen *g = config_rebuild(running, &loading_set, e);
	struct resolved_addr **fresh;
	size_t *nfresh;

	if (g != NULL)
		return g;
	fresh = xcalloc(loading_set.n ? loading_set.n : 1, sizeof(*fresh));
	nfresh = xcalloc(loading_set.n ? loading_set.n : 1, sizeof(*nfresh));
	/* Start from the running addresses everywhere. */
	for (size_t i = 0; i < loading_set.n; i++) {
		struct resolved_entry *re = &loading_set.v[i];

		fresh[i] = re->addrs;
		nfresh[i] = re->n;
		re->n = resolve_current(running, re->pool, re->entry,
		    &re->addrs);
	}
	for (size_t i = 0; i < loading_set.n; i++) {
		struct resolved_entry *re = &loading_set.v[i];
		struct resolved_addr *cur = re->addrs;
		size_t ncur = re->n;
		struct config_errors te = { 0 };
		struct gen *t;

		if (nfresh[i] == ncur && (ncur == 0 || memcmp(cur, fresh[i],
		    ncur * sizeof(*cur)) == 0))
			continue;	/* unchanged */
		re->addrs = fresh[i];
		re->n = nfresh[i];
		if ((t = config_rebuild(running, &loading_set, &te)) != NULL) {
			gen_put(g);
			g = t;
			free(cur);
			fresh[i] = NULL;
		} else {
			re->rejected = xstrdup(te.n ? te.msg[0] : "unknown error");
			re->rejected_addrs = fresh[i];
			re->nrejected_addrs = nfresh[i];
			fresh[i] = NULL;
			re->addrs = cur;
			re->n = ncur;
		}
		config_errors_free(&te);
	}
	for (size_t i = 0; i < loading_set.n; i++)
		free(fresh[i]);		/* the unchanged ones */
	free(fresh);
	free(nfresh);
	config_errors_free(e);
	memset(e, 0, sizeof(*e));
	/* Every change refused: the running addresses, as they are. */
	if (g == NULL)
		g = config_rebuild(running, &loading_set, e);
	return g;
}

static void *
loader_main(void *arg)
{
	struct config_errors e = { 0 };
	struct gen *g = loading_dns ? reload_dns_build(&e) :
	    config_load_file(path, &e);

	loaded_gen = g;
	loaded_errors = e;
	ev_async_send(loop, &loaded);
	return NULL;
}

static void dns_start(void);

static void
reload_finish(bool ok, const char *errors)
{
	/* A DNS change is not a reload: not counted, nobody waits for it. */
	if (!loading_dns) {
		stats_reload_done(ok);
		admin_reload_done(ok, errors ? errors : "");
	}
	busy = false;
	if (!loading_dns)
		service_ready();
	loading_dns = false;
	resolved_set_free(&loading_set);
	if (pending) {
		pending = false;
		reload_start();
	} else if (dns_pending) {
		dns_start();
	}
}

static void
published_cb(struct gen *g)
{
	added_prune(g);
	admin_servers_swap_done(g->added_version, true, !loading_dns, NULL);
	listener_commit(g);
	/* Running since start-up: this only leaves g in its mailbox. */
	(void)health_start(g);
	resolve_start(g, loading_dns);
	free(last_dns_error);
	last_dns_error = NULL;
	if (!loading_dns)
		published_added = g->added_version;
	if (loading_dns) {
		log_notice("generation %u published after %s", g->id,
		    g->added_version != published_added ?
		    "a server was added or deleted" : "a DNS change");
		published_added = g->added_version;
		reload_finish(true, NULL);
		return;
	}
	log_notice("configuration reloaded from %s (generation %u): %u listener%s, %u pool%s",
	    g->source, g->id, g->nlisteners, g->nlisteners == 1 ? "" : "s",
	    g->npools, g->npools == 1 ? "" : "s");
	service_status("%s", "");
	reload_finish(true, NULL);
}

static void
reload_fail(const char *first, const char *all)
{
	admin_servers_swap_done(loading_added, false, !loading_dns, first);
	if (loading_dns) {
		/* Asked again every resolve_interval while the change stands:
		 * say it once per reason. */
		if (last_dns_error == NULL || strcmp(last_dns_error, first)) {
			log_errx("cannot apply a DNS change: %s; still running "
			    "generation %u", first, gen_current()->id);
			free(last_dns_error);
			last_dns_error = xstrdup(first);
		}
		reload_finish(true, NULL);
		return;
	}
	log_errx("reload failed, still running generation %u from %s", gen_current()->id,
	    gen_current()->source);
	service_status("reload failed: %s", first);
	reload_finish(false, all ? all : first);
}

/* Every error, one per line, for the admin socket's `reload` answer. */
static char *
reload_join_errors(const struct config_errors *e)
{
	size_t len = 1;
	char *out, *p;

	for (size_t i = 0; i < e->n; i++)
		len += strlen(e->msg[i]) + 1;
	out = p = xmalloc(len);
	for (size_t i = 0; i < e->n; i++) {
		size_t n = strlen(e->msg[i]);

		memcpy(p, e->msg[i], n);
		p += n;
		*p++ = '\n';
	}
	*p = '\0';
	return out;
}

/* Do a and b have the same servers (pool, address, weight, backup)?  A
 * DNS change waiting behind another may already be in. */
static bool
reload_same_servers(const struct gen *a, const struct gen *b)
{
	if (a->npools != b->npools)
		return false;
	for (uint32_t i = 0; i < a->npools; i++) {
		const struct pool *p = &a->pools[i];
		const struct pool *q = gen_find_pool(b, p->name);

		if (q == NULL || q->nservers != p->nservers)
			return false;
		for (uint32_t k = 0; k < p->nservers; k++) {
			const struct server *s = &p->servers[k];
			const struct server *t = &q->servers[k];

			if (!addr_equal((const struct sockaddr *)&s->addr,
			    (const struct sockaddr *)&t->addr) ||
			    s->weight != t->weight || s->backup != t->backup)
				return false;
		}
	}
	return true;
}

/* Servers a DNS change adds to a pool with health checks are not used
 * before a check passes (as with initial_state: down, the first passing
 * check brings them up): a fresh address is unknown, not known good.
 * Unless no server that stays in the pool is up (the one address of a
 * name changed, say): then holding the new ones back would refuse every
 * client until a check ran, so they take clients at once and the checks
 * catch up.  "New" is a server that inherited no state (gen_inherit):
 * only those are written here, so this changes nothing shared. */
static void
reload_hold_new_servers(struct gen *g)
{
	for (uint32_t i = 0; i < g->npools; i++) {
		struct pool *p = &g->pools[i];
		bool known_up = false;

		/* initial_state: down already holds every new server. */
		if (!p->health.enabled || p->initial_down)
			continue;
		for (uint32_t k = 0; k < p->nservers && !known_up; k++)
			known_up = p->servers[k].adopted &&
			    atomic_load(&p->servers[k].st->up);
		for (uint32_t k = 0; k < p->nservers; k++) {
			struct server *s = &p->servers[k];

			/* Added ones wait for a check whatever is up
			 * (config/added.c holds them). */
			if (s->adopted || p->entries[s->entry].added)
				continue;
			if (!known_up) {
				log_info("pool %s: new server %s (%s) takes "
				    "clients before its first check: no "
				    "other server is up", p->name, s->name,
				    s->addr_text);
				continue;
			}
			atomic_store(&s->st->up, false);
			log_info("pool %s: new server %s (%s) waits for a "
			    "health check", p->name, s->name, s->addr_text);
		}
	}
}

static void
loaded_cb(struct ev_loop *l, ev_async *a, int revents)
{
	struct gen *g;
	struct config_errors e;
	char err[512];
	struct gen *cur;

	/* The join orders the loader's writes before our reads. */
	pthread_join(loader, NULL);
	loader_running = false;
	g = loaded_gen;
	e = loaded_errors;
	loaded_gen = NULL;
	memset(&loaded_errors, 0, sizeof(loaded_errors));

	if (cancelled) {
		gen_put(g);
		config_errors_free(&e);
		busy = false;
		return;
	}
	if (loading_dns)
		resolve_rejected(&loading_set);
	if (g == NULL) {
		char *all = reload_join_errors(&e);

		if (!loading_dns)
			config_errors_report(&e, true, CONFIG_ERRORS_SHOWN);
		reload_fail(e.n ? e.msg[0] : "unknown error", all);
		free(all);
		config_errors_free(&e);
		return;
	}
	config_errors_free(&e);
	cur = gen_current();
	if (loading_dns && reload_same_servers(g, cur)) {
		log_debug("DNS change already in generation %u", cur->id);
		admin_servers_swap_done(g->added_version, true, false, NULL);
		gen_put(g);
		reload_finish(true, NULL);
		return;
	}
	/* The command line outranks the file, at start and on every reload. */
	if (ov_workers >= 0)
		g->global.workers = (unsigned)ov_workers;
	if (!loading_dns && g->global.workers &&
	    g->global.workers != workers_count())
		log_warnx("global.workers changed to %u: this takes a restart; keeping %u",
		    g->global.workers, workers_count());
	if (!same_str(g->global.admin_socket, cur->global.admin_socket) ||
	    !same_str(g->global.metrics, cur->global.metrics))
		log_warnx("global.admin_socket and global.metrics change only at a restart; keeping %s and %s",
		    cur->global.admin_socket ? cur->global.admin_socket : "none",
		    cur->global.metrics ? cur->global.metrics : "none");
	/* Every way this reload can still fail comes before the commit point
	 * below, and nothing before it writes state the running generation
	 * shares: a failed reload changes nothing. */
	gen_inherit(g, cur);
	stats_attach(g);	/* counters for servers and listeners that are new */
	if (transparent_check(g, err, sizeof(err)) < 0 ||
	    listener_prepare(g, workers_count(), err, sizeof(err)) < 0) {
		log_errx("%s: %s", g->source, err);
		gen_put(g);
		reload_fail(err, NULL);
		return;
	}
	gen_adopt_commit(g);
	pool_adopt_commit(g, (int64_t)now_ms());
	if (loading_dns)
		reload_hold_new_servers(g);
	log_set_level(ov_verbose ? LOG_DEBUG : g->global.log_level);
	service_set_gen(g);
	gen_put(cur);
	gen_set_current(g);
	workers_publish(g, published_cb);
}

static void
reload_start(void)
{
	/* A reload resolves every name itself. */
	dns_pending = false;
	busy = true;
	loading_added = added_version();
	service_reloading();
	log_notice("reloading configuration from %s", path);
	loader_running = true;
	if (pthread_create(&loader, NULL, loader_main, NULL) != 0) {
		loader_running = false;
		log_err("cannot start the configuration loader thread");
		reload_fail("cannot start loader thread", NULL);
	}
}

void
reload_set_overrides(bool verbose, int workers)
{
	ov_verbose = verbose;
	ov_workers = workers;
}

void
reload_init(struct ev_loop *l, const char *p, struct gen *g)
{
	loop = l;
	path = p;
	gen_set_current(g);
	ev_async_init(&loaded, loaded_cb);
	ev_async_start(loop, &loaded);
}

static void
dns_start(void)
{
	dns_pending = false;
	busy = true;
	loading_dns = true;
	loading_added = added_version();
	resolve_snapshot(gen_current(), &loading_set);
	loader_running = true;
	if (pthread_create(&loader, NULL, loader_main, NULL) != 0) {
		loader_running = false;
		log_err("cannot start the configuration loader thread");
		reload_fail("cannot start loader thread", NULL);
	}
}

void
reload_dns_request(void)
{
	if (cancelled)
		return;
	if (busy) {
		dns_pending = true;
		return;
	}
	dns_start();
}

void
reload_servers_request(void)
{
	reload_dns_request();
}

void
reload_request(void)
{
	if (path == NULL) {
		/* Quick mode: the backends came from the command line. */
		service_reloading();
		log_notice("SIGHUP ignored: quick mode has no configuration file to re-read");
		service_ready();
		return;
	}
	if (busy) {
		pending = true;
		return;
	}
	reload_start();
}

bool
reload_in_progress(void)
{
	return busy && !loading_dns;
}

bool
reload_has_file(void)
{
	return path != NULL;
}

void
reload_cancel(void)
{
	cancelled = true;
	pending = false;
	dns_pending = false;
}

void
reload_shutdown(void)
{
	if (loader_running) {
		pthread_join(loader, NULL);
		loader_running = false;
		if (loaded_gen)
			gen_put(loaded_gen);
		config_errors_free(&loaded_errors);
	}
	ev_async_stop(loop, &loaded);
	pending = false;
	dns_pending = false;
	resolved_set_free(&loading_set);
	free(last_dns_error);
	last_dns_error = NULL;
	gen_put(gen_current());
	gen_set_current(NULL);
}
