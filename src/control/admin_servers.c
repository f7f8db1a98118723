/*
 * admin_servers: the runtime server commands (see admin_servers.h).  A
 * change waits in a small list until the generation that carries it is
 * published: clients see "added"/"deleted" only when the change is live,
 * so a script may `show servers` at once.  Each change is logged with the
 * peer's uid and pid when it is made.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "base/log.h"
#include "base/util.h"
#include "config/added.h"
#include "config/gen.h"
#include "control/admin_servers.h"

/* The configuration file's limit per pool (config_int.h). */
#define ADMIN_SERVERS_MAX 100000

struct waiter {
	void *client;			/* NULL: gone, change stands */
	admin_servers_answer_fn answer;
	uint64_t version;		/* live once a generation has it */
	bool add;
	struct added_server s;		/* what to undo if it fails */
	char done[600];			/* the answer when it is live */
	struct waiter *next;
};

static struct waiter *waiters;
static void (*rebuild_fn)(void);

static void
waiter_free(struct waiter *w)
{
	free(w->s.pool);
	free(w->s.name);
	free(w->s.addr);
	free(w);
}

static int
err_out(char *msg, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
err_out(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return -1;
}

static const struct server *
pool_server_named(const struct pool *p, const char *name)
{
	for (uint32_t i = 0; i < p->nservers; i++)
		if (strcmp(p->servers[i].name, name) == 0 ||
		    strcmp(p->servers[i].addr_text, name) == 0)
			return &p->servers[i];
	return NULL;
}

static void
waiter_add(struct waiter *w, void *client, admin_servers_answer_fn answer,
    uint64_t version)
{
	w->client = client;
	w->answer = answer;
	w->version = version;
	w->next = waiters;
	waiters = w;
}

static int
exec_add(const struct admin_cmd *c, uid_t uid, pid_t pid, void *client,
    admin_servers_answer_fn answer, char *msg, size_t len)
{
	const struct gen *g = gen_current();
	const struct pool *p = gen_find_pool(g, c->pool);
	struct addr_spec spec;
	struct sockaddr_storage *sa = NULL;
	char err[300], text[ADDR_STRLEN], other[ADMIN_NAME_MAX];
	const char *name;
	size_t n = 0;
	struct waiter *w;

	if (p == NULL)
		return err_out(msg, len, "no pool '%s'", c->pool);
	if (addr_parse(c->addr, &spec, err, sizeof(err)) == -1)
		return err_out(msg, len, "invalid address: %s", err);
	if (spec.wildcard || spec.port == 0)
		return err_out(msg, len, "invalid address '%s': a server needs "
		    "an IP address and a port 1-65535", c->addr);
	/* Names are resolved by the loader from the file; here only what
	 * needs no lookup, so the main loop never waits on DNS. */
	{
		unsigned char b[16];

		if (!spec.bracketed && inet_pton(AF_INET, spec.host, b) != 1 &&
		    inet_pton(AF_INET6, spec.host, b) != 1)
			return err_out(msg, len, "invalid address '%s': an IP "
			    "address is needed (IPv4:PORT or [IPv6]:PORT; host "
			    "names belong in the file)", c->addr);
	}
	if (addr_resolve(&spec, false, &sa, &n, err, sizeof(err)) == -1 ||
	    n == 0) {
		free(sa);
		return err_out(msg, len, "invalid address '%s': %s", c->addr,
		    err);
	}
	addr_format((struct sockaddr *)&sa[0], text, sizeof(text));
	if (p->source.len && p->source.u.sa.sa_family != sa[0].ss_family) {
		free(sa);
		return err_out(msg, len, "pool '%s' connects from a source "
		    "address of the other family: %s cannot be reached",
		    p->name, text);
	}
	free(sa);
	name = c->server[0] ? c->server : text;
	if (pool_server_named(p, text) != NULL)
		return err_out(msg, len, "pool '%s' already has a server at "
		    "%s (%s)", p->name, text, pool_server_named(p, text)->name);
	/* One not yet live (another client's add still being built) is
	 * not in g: without this both adds would answer "added" and the
	 * generation would take only the first. */
	if (added_at(p->name, text, other, sizeof(other)) != NULL)
		return err_out(msg, len, "pool '%s' already has a server at "
		    "%s (%s)", p->name, text, other);
	if (pool_server_named(p, name) != NULL || added_has(p->name, name))
		return err_out(msg, len, "pool '%s' already has a server "
		    "named '%s'", p->name, name);
	if (p->nservers >= ADMIN_SERVERS_MAX)
		return err_out(msg, len, "pool '%s' is at its limit of %d "
		    "servers", p->name, ADMIN_SERVERS_MAX);

	w = xcalloc(1, sizeof(*w));
	w->add = true;
	w->s.pool = xstrdup(p->name);
	w->s.name = xstrdup(name);
	w->s.addr = xstrdup(text);
	w->s.weight = c->weight;
	w->s.max_conns = c->max_conns;
	w->s.backup = c->backup;
	snprintf(w->done, sizeof(w->done), "added server %s/%s (%s)%s",
	    p->name, name, text, p->health.enabled ?
	    ": takes clients once a health check passes" : "");
	log_notice("pool %s: server %s (%s) added, weight %u%s (admin socket, "
	    "uid %ld, pid %ld)", p->name, name, text, c->weight,
	    c->backup ? ", backup" : "", (long)uid, (long)pid);
	waiter_add(w, client, answer, added_add(&w->s));
	return 0;
}

static int
exec_del(const struct admin_cmd *c, uid_t uid, pid_t pid, void *client,
    admin_servers_answer_fn answer, char *msg, size_t len)
{
	const struct gen *g = gen_current();
	const struct pool *p = gen_find_pool(g, c->pool);
	const struct server *s;
	struct waiter *w;
	unsigned open;

	if (p == NULL)
		return err_out(msg, len, "no pool '%s'", c->pool);
	s = pool_server_named(p, c->server);
	if (s == NULL)
		return err_out(msg, len, "no server '%s' in pool '%s'",
		    c->server, c->pool);
	if (strcmp(gen_server_origin(s), "admin") != 0)
		return err_out(msg, len, "server %s/%s comes from the "
		    "configuration (%s): remove it there and reload, or set "
		    "its state to drain", p->name, s->name,
		    gen_server_origin(s));
	if (!added_has(p->name, s->name))
		return err_out(msg, len, "server %s/%s is already being "
		    "deleted", p->name, s->name);
	/* No new session from now on; open ones finish where they are. */
	atomic_store(&s->st->admin, SRV_ADMIN_DRAIN);
	open = atomic_load(&s->st->active);
	w = xcalloc(1, sizeof(*w));
	w->s.pool = xstrdup(p->name);
	w->s.name = xstrdup(s->name);
	w->s.addr = xstrdup(s->addr_text);
	w->s.weight = s->weight;
	w->s.max_conns = s->max_conns;
	w->s.backup = s->backup;
	snprintf(w->done, sizeof(w->done), "deleted server %s/%s (%s): %u "
	    "open session%s finish%s on it", p->name, s->name, s->addr_text,
	    open, open == 1 ? "" : "s", open == 1 ? "es" : "");
	log_notice("pool %s: server %s (%s) deleted, %u open session%s left "
	    "to finish (admin socket, uid %ld, pid %ld)", p->name, s->name,
	    s->addr_text, open, open == 1 ? "" : "s", (long)uid, (long)pid);
	waiter_add(w, client, answer, added_del(p->name, s->name));
	return 0;
}

int
admin_servers_exec(const struct admin_cmd *c, uid_t uid, pid_t pid,
    void *client, admin_servers_answer_fn answer, void (*rebuild)(void),
    char *msg, size_t len)
{
	int r;

	rebuild_fn = rebuild;
	r = c->verb == ADM_ADD_SERVER ?
	    exec_add(c, uid, pid, client, answer, msg, len) :
	    exec_del(c, uid, pid, client, answer, msg, len);
	if (r == 0)
		rebuild();
	return r;
}

void
admin_servers_forget(void *client)
{
	for (struct waiter *w = waiters; w; w = w->next)
		if (w->client == client)
			w->client = NULL;
}

/* Undo a change that could not be made live. */
static void
waiter_undo(struct waiter *w, const struct gen *g)
{
	const struct pool *p;
	const struct server *s;

	if (w->add) {
		added_del(w->s.pool, w->s.name);
		return;
	}
	added_add(&w->s);
	p = gen_find_pool(g, w->s.pool);
	if (p != NULL && (s = pool_server_named(p, w->s.name)) != NULL)
		atomic_store(&s->st->admin, SRV_ADMIN_READY);
}

void
admin_servers_swap_done(uint64_t version, bool ok, bool file, const char *err)
{
	struct waiter **pp = &waiters;
	bool left = false;

	while (*pp) {
		struct waiter *w = *pp;

		if (w->version > version || (!ok && file)) {
			left = true;
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		if (!ok) {
			char m[800];

			waiter_undo(w, gen_current());
			log_warnx("pool %s: %s server %s undone: %s", w->s.pool,
			    w->add ? "adding" : "deleting", w->s.name, err);
			snprintf(m, sizeof(m), "%s server %s/%s failed, nothing "
			    "changed: %s", w->add ? "adding" : "deleting",
			    w->s.pool, w->s.name, err);
			if (w->client)
				w->answer(w->client, false, m);
		} else if (w->client) {
			w->answer(w->client, true, w->done);
		}
		waiter_free(w);
	}
	/* Changes no generation carries yet (made during this swap, or
	 * behind a file that failed to load): build once more. */
	if (left && rebuild_fn != NULL)
		rebuild_fn();
}
