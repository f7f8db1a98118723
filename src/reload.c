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
 */
#include "autoconfig.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "health.h"
#include "listener.h"
#include "log.h"
#include "reload.h"
#include "service.h"
#include "stats.h"
#include "util.h"
#include "worker.h"

static struct ev_loop *loop;
static const char *path;
static struct gen *current;
static bool busy;
static bool pending;
static bool cancelled;		/* shutting down: a late load is dropped */

static bool ov_verbose;		/* -v: debug whatever the file says */
static int ov_workers = -1;	/* -w: the count in force (0: auto) */

static pthread_t loader;
static bool loader_running;
static ev_async loaded;
static struct gen *loaded_gen;
static struct config_errors loaded_errors;
static struct reload_counts counts;
static void (*hook)(bool ok, const char *errors);

static void reload_start(void);

static bool
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void *
loader_main(void *arg)
{
	struct config_errors e = { 0 };
	struct gen *g = config_load_file(path, &e);

	loaded_gen = g;
	loaded_errors = e;
	ev_async_send(loop, &loaded);
	return NULL;
}

static void
reload_finish(bool ok, const char *errors)
{
	if (ok)
		counts.ok++;
	else
		counts.failed++;
	if (hook)
		hook(ok, errors ? errors : "");
	busy = false;
	service_ready();
	if (pending) {
		pending = false;
		reload_start();
	}
}

static void
published_cb(struct gen *g)
{
	listener_commit(g);
	health_start(loop, g);
	log_notice("configuration reloaded from %s (generation %u): %u listener%s, %u pool%s",
	    g->source, g->id, g->nlisteners, g->nlisteners == 1 ? "" : "s",
	    g->npools, g->npools == 1 ? "" : "s");
	service_status("%s", "");
	reload_finish(true, NULL);
}

static void
reload_fail(const char *first, const char *all)
{
	log_errx("reload failed, still running generation %u from %s", current->id,
	    current->source);
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

static void
loaded_cb(struct ev_loop *l, ev_async *a, int revents)
{
	struct gen *g;
	struct config_errors e;
	char err[512];

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
	if (g == NULL) {
		char *all = reload_join_errors(&e);

		config_errors_report(&e, true, CONFIG_ERRORS_SHOWN);
		reload_fail(e.n ? e.msg[0] : "unknown error", all);
		free(all);
		config_errors_free(&e);
		return;
	}
	config_errors_free(&e);
	/* The command line outranks the file, at start and on every reload. */
	if (ov_workers >= 0)
		g->global.workers = (unsigned)ov_workers;
	if (g->global.workers && g->global.workers != workers_count())
		log_warnx("global.workers changed to %u: this takes a restart; keeping %u",
		    g->global.workers, workers_count());
	if (!same_str(g->global.admin_socket, current->global.admin_socket) ||
	    !same_str(g->global.metrics, current->global.metrics))
		log_warnx("global.admin_socket and global.metrics change only at a restart; keeping %s and %s",
		    current->global.admin_socket ? current->global.admin_socket : "none",
		    current->global.metrics ? current->global.metrics : "none");
	/* Every way this reload can still fail comes before the commit point
	 * below, and nothing before it writes state the running generation
	 * shares: a failed reload changes nothing. */
	gen_inherit(g, current);
	stats_attach(g);	/* counters for servers and listeners that are new */
	if (listener_prepare(g, workers_count(), err, sizeof(err)) < 0) {
		log_errx("%s: %s", g->source, err);
		gen_put(g);
		reload_fail(err, NULL);
		return;
	}
	gen_adopt_commit(g, (int64_t)now_ms());
	log_set_level(ov_verbose ? LOG_DEBUG : g->global.log_level);
	service_set_gen(g);
	gen_put(current);
	current = g;
	workers_publish(g, published_cb);
}

static void
reload_start(void)
{
	busy = true;
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
	current = g;
	ev_async_init(&loaded, loaded_cb);
	ev_async_start(loop, &loaded);
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

void
reload_get_counts(struct reload_counts *c)
{
	*c = counts;
}

bool
reload_in_progress(void)
{
	return busy;
}

bool
reload_has_file(void)
{
	return path != NULL;
}

void
reload_set_hook(void (*h)(bool ok, const char *errors))
{
	hook = h;
}

struct gen *
reload_current(void)
{
	return current;
}

void
reload_cancel(void)
{
	cancelled = true;
	pending = false;
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
	gen_put(current);
	current = NULL;
}
