/*
 * admin: the admin socket.  A connection is read up to one newline (at most
 * ADMIN_LINE_MAX bytes), parsed by admin_cmd, answered, and closed; answers
 * that fail begin with "error: " (text) or are {"error": "..."} (json), which
 * is how `tcplb ctl` knows to exit non-zero.  State changes are logged with
 * the uid of whoever asked (SO_PEERCRED).
 *
 * `show sessions` and `shutdown sessions` run on the workers (a worker_task
 * each); the client waits on its own connection while the main loop goes on.
 * A client that hangs up meanwhile is only marked gone, and freed when the
 * task completes, because the task still points at it.
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/admin.h"
#include "health/health.h"
#include "control/admin_cmd.h"
#include "control/admin_conn.h"
#include "control/admin_fmt.h"
#include "control/admin_servers.h"
#include "control/admin_show.h"
#include "base/duration.h"
#include "base/log.h"
#include "dgram/dgram.h"
#include "parse/route.h"
#include "relay/session.h"
#include "stats/stats.h"
#include "base/util.h"
#include "relay/worker.h"
#include "relay/workers.h"

#define ADMIN_TIMEOUT_S 10.0	/* no byte of progress for this long: close */
#define ADMIN_MAX_CLIENTS 64
#define ADMIN_HEAD_S 5.0	/* the whole command line, however it trickles */
#define ADMIN_SESSIONS_CHUNK 256	/* sessions formatted per refill */
#define ADMIN_SERVERS_CHUNK 256	/* servers formatted per refill */

struct admin_client {
	struct aconn *c;
	uid_t uid;
	pid_t pid;
	struct admin_cmd cmd;
	bool gone;			/* connection closed while a task runs */
	bool in_task;
	struct worker_task task;
	/* show sessions: one snapshot per worker, streamed by refill */
	struct session_snap **snap;
	size_t *nsnap;
	double *snap_s;			/* how long each worker spent on it */
	unsigned snap_w;
	size_t snap_i;
	unsigned long snap_n;
	/* show servers: streamed by refill, a slice at a time */
	struct gen *srv_g;
	uint32_t srv_pi, srv_si;
	unsigned long srv_n;
	/* shutdown sessions */
	struct server_state **targets;
	size_t ntargets;
	atomic_uint closed;
	/* reload: the attempt number that answers us */
	uint64_t reload_want;
	struct admin_client *next;	/* reload waiters */
	struct admin_client *all_prev, *all_next;	/* every client */
};

static struct {
	struct ev_loop *loop;
	int fd;
	char *path;			/* global.admin_socket */
	char *own;			/* PATH.PID: this process's own name */
	bool committed;			/* PATH links to our socket */
	dev_t dev;			/* the socket file we created, so that */
	ino_t ino;			/* exit never unlinks a successor's */
	ev_io io;
	unsigned nclients;
	bool draining, stopping;
	bool accept_off;		/* the drain deadline passed */
	bool upgrading;			/* a binary upgrade is under way */
	bool handed_over;		/* stopping: a new process took over */
	ev_timer deadline;
	struct admin_client *reload_waiters;
	struct admin_client *all;
} adm = { .fd = -1 };


static bool path_is_ours(const char *path);

/* Stopping, as `check` and `show info` say it.  After a binary upgrade
 * the old process answers for the instance until the new one has put its
 * socket at the path: the instance is not stopping, it changes hands (a
 * probe in between must not withdraw the node). */
static bool
stopping_now(void)
{
	return adm.stopping && !(adm.handed_over && path_is_ours(adm.path));
}

const char *
admin_instance_state(void)
{
	return stopping_now() ? "stopping" : adm.draining ? "draining" : "ready";
}

static void
reply_error(struct admin_client *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
reply_error(struct admin_client *a, const char *fmt, ...)
{
	struct sbuf msg = { 0 };
	va_list ap;

	va_start(ap, fmt);
	sbuf_vprintf(&msg, fmt, ap);
	va_end(ap);
	sbuf_reset(&a->c->out);
	if (a->cmd.json) {
		sbuf_puts(&a->c->out, "{\"error\":");
		sbuf_json_str(&a->c->out, msg.p);
		sbuf_puts(&a->c->out, "}\n");
	} else {
		/* One line, whatever the message holds. */
		for (char *p = msg.p; *p; p++)
			if (*p == '\n')
				*p = ' ';
		sbuf_printf(&a->c->out, "error: %s\n", msg.p);
	}
	sbuf_free(&msg);
}

/* "ok"-style one-line answers; json: {"result": "..."} */
static void
reply_ok(struct admin_client *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
reply_ok(struct admin_client *a, const char *fmt, ...)
{
	struct sbuf msg = { 0 };
	va_list ap;

	va_start(ap, fmt);
	sbuf_vprintf(&msg, fmt, ap);
	va_end(ap);
	if (a->cmd.json) {
		sbuf_puts(&a->c->out, "{\"result\":");
		sbuf_json_str(&a->c->out, msg.p);
		sbuf_puts(&a->c->out, "}\n");
	} else {
		sbuf_printf(&a->c->out, "%s\n", msg.p);
	}
	sbuf_free(&msg);
}

/* ---- lookups ----------------------------------------------------------- */

static struct pool *
find_pool(struct admin_client *a, const struct gen *g, const char *name)
{
	struct pool *p = gen_find_pool(g, name);

	if (p == NULL)
		reply_error(a, "no pool '%s'", name);
	return p;
}

/* Servers of POOL named SERVER (by name or address: a host name that
 * resolved to several addresses names all of them), however many: *out
 * is allocated (free it), NULL when none matched (an error is set). */
static size_t
find_servers(struct admin_client *a, const struct gen *g, struct server ***out)
{
	struct pool *p = find_pool(a, g, a->cmd.pool);
	size_t k = 0;

	*out = NULL;
	if (p == NULL)
		return 0;
	for (uint32_t i = 0; i < p->nservers; i++)
		if (strcmp(p->servers[i].name, a->cmd.server) == 0 ||
		    strcmp(p->servers[i].addr_text, a->cmd.server) == 0) {
			if (*out == NULL)
				*out = xcalloc(p->nservers - i, sizeof(**out));
			(*out)[k++] = &p->servers[i];
		}
	if (k == 0)
		reply_error(a, "no server '%s' in pool '%s'", a->cmd.server,
		    a->cmd.pool);
	return k;
}

/* The answer of a command that acts on several servers: in text a line
 * each; in JSON one document, {"result": the lines, "results": [each]}. */
struct multi {
	struct sbuf text;
	struct sbuf json;
	unsigned n;
};

static void server_label(const struct server *s, char *buf, size_t len);

/* One result about server s: "server LABEL: " then fmt.  The text line
 * shows the pool and server names escaped (sbuf_field: reversible, one
 * line whatever a name holds, as in `show servers`); the JSON string
 * carries them as they are. */
static void
multi_add_srv(struct multi *m, const struct server *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
multi_add_srv(struct multi *m, const struct server *s, const char *fmt, ...)
{
	struct sbuf rest = { 0 }, raw = { 0 };
	char who[600];
	va_list ap;

	va_start(ap, fmt);
	sbuf_vprintf(&rest, fmt, ap);
	va_end(ap);
	if (m->n)
		sbuf_add(&m->text, "\n", 1);
	sbuf_puts(&m->text, "server ");
	sbuf_field(&m->text, s->pool->name);
	sbuf_add(&m->text, "/", 1);
	sbuf_field(&m->text, s->name);
	if (strcmp(s->name, s->addr_text) != 0)
		sbuf_printf(&m->text, " (%s)", s->addr_text);
	sbuf_printf(&m->text, ": %s", rest.p);
	server_label(s, who, sizeof(who));
	sbuf_printf(&raw, "server %s: %s", who, rest.p);
	if (m->n++)
		sbuf_add(&m->json, ",", 1);
	sbuf_json_str(&m->json, raw.p);
	sbuf_free(&rest);
	sbuf_free(&raw);
}

static void
multi_reply(struct admin_client *a, struct multi *m)
{
	if (m->n == 0) {
		/* nothing: the error is already there */
	} else if (a->cmd.json) {
		sbuf_puts(&a->c->out, "{\"result\":");
		sbuf_json_str(&a->c->out, m->text.p);
		sbuf_puts(&a->c->out, ",\"results\":[");
		sbuf_add(&a->c->out, m->json.p, m->json.len);
		sbuf_puts(&a->c->out, "]}\n");
	} else {
		sbuf_printf(&a->c->out, "%s\n", m->text.p);
	}
	sbuf_free(&m->text);
	sbuf_free(&m->json);
}

static void
server_label(const struct server *s, char *buf, size_t len)
{
	if (strcmp(s->name, s->addr_text) != 0)
		snprintf(buf, len, "%s/%s (%s)", s->pool->name, s->name, s->addr_text);
	else
		snprintf(buf, len, "%s/%s", s->pool->name, s->name);
}

static void
log_change(struct admin_client *a, const struct server *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
log_change(struct admin_client *a, const struct server *s, const char *fmt, ...)
{
	struct log_ctx ctx = { 0 };
	struct sbuf msg = { 0 };
	char who[600];
	va_list ap;

	va_start(ap, fmt);
	sbuf_vprintf(&msg, fmt, ap);
	va_end(ap);
	server_label(s, who, sizeof(who));
	ctx.pool = s->pool->name;
	ctx.server = s->name;
	ctx.server_addr = s->addr_text;
	log_msg(LOG_NOTICE, &ctx, "server %s: %s (admin socket, uid %ld, pid %ld)",
	    who, msg.p, (long)a->uid, (long)a->pid);
	sbuf_free(&msg);
}

/* ---- commands ---------------------------------------------------------- */

static void
cmd_set_state(struct admin_client *a, struct gen *g)
{
	struct server **v;
	size_t n = find_servers(a, g, &v);
	struct multi m = { 0 };

	for (size_t i = 0; i < n; i++) {
		int old = health_admin_state(v[i]->st, a->cmd.state);

		if (old != a->cmd.state)
			log_change(a, v[i], "state %s -> %s", admin_state_name(old),
			    admin_state_name(a->cmd.state));
		multi_add_srv(&m, v[i], "state %s (was %s)",
		    admin_state_name(a->cmd.state), admin_state_name(old));
	}
	multi_reply(a, &m);
	free(v);
}

static void
cmd_set_weight(struct admin_client *a, struct gen *g)
{
	struct server **v;
	size_t n = find_servers(a, g, &v);
	uint32_t w = a->cmd.weight;
	struct multi m = { 0 };

	/* Check all before changing any. */
	for (size_t i = 0; i < n; i++) {
		const struct server *s = v[i];
		enum balance_alg alg = s->pool->alg;

		if ((alg == BAL_SOURCE || alg == BAL_MAGLEV) && w != 0 &&
		    w != s->weight) {
			reply_error(a, "pool '%s' balances by %s: the weight of %s can only be 0 or its configured %u (the hash table is built from the file)",
			    s->pool->name, gen_balance_name(alg), s->name, s->weight);
			free(v);
			return;
		}
		if ((alg == BAL_ROUNDROBIN || alg == BAL_RANDOM) && w > s->weight) {
			reply_error(a, "pool '%s' balances by %s: the weight of %s can be lowered from its configured %u, not raised (change the file and reload)",
			    s->pool->name, gen_balance_name(alg), s->name, s->weight);
			free(v);
			return;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct server *s = v[i];
		/* The configured weight again: back to following the file. */
		int ov = w == s->weight ? -1 : (int)w;
		uint32_t old = server_weight(s);

		health_admin_weight(s->st, ov);
		if (old != w)
			log_change(a, s, "weight %u -> %u%s", old, w,
			    ov < 0 ? " (the configured weight)" : "");
		multi_add_srv(&m, s, "weight %u (was %u)", w, old);
	}
	multi_reply(a, &m);
	free(v);
}

static bool
pool_has_server_up(const struct pool *p)
{
	for (uint32_t i = 0; i < p->nservers; i++) {
		const struct server *s = &p->servers[i];

		if (atomic_load(&s->st->up) && server_weight(s) > 0 &&
		    atomic_load(&s->st->admin) == SRV_ADMIN_READY)
			return true;
	}
	return false;
}

static void
cmd_check(struct admin_client *a, struct gen *g)
{
	/* After a handover the instance is the new process's, which serves:
	 * a probe that reached us (connected while the path was still ours,
	 * answered only now) must not withdraw the node. */
	if ((adm.stopping && !adm.handed_over) || adm.draining) {
		reply_error(a, "not ready: %s", admin_instance_state());
		return;
	}
	for (uint32_t i = 0; i < g->nlisteners; i++) {
		const struct listener *l = &g->listeners[i];

		bool any = false;

		if (l->pool && !pool_has_server_up(l->pool)) {
			reply_error(a, "not ready: pool '%s' of listener '%s' has no server up",
			    l->pool->name, l->name);
			return;
		}
		if (l->pool)
			continue;
		/* A listener that only routes: ready if it can serve some
		 * name, i.e. one of its routes' pools has a server up (a
		 * route pool down is shared by a peer with the same
		 * servers, so failing over would not help it). */
		for (uint32_t r = 0; r < l->nroutes && !any; r++)
			any = pool_has_server_up(l->routes[r].pool);
		if (!any) {
			reply_error(a, "not ready: no pool of the routes of listener '%s' has a server up",
			    l->name);
			return;
		}
	}
	reply_ok(a, "ok: ready, %u listener%s with a server up", g->nlisteners,
	    g->nlisteners == 1 ? "" : "s");
}

static void
accept_task_done(void *arg)
{
	free(arg);
}

static void
set_accepting(bool on)
{
	struct worker_task *t = xcalloc(1, sizeof(*t));

	t->fn = on ? worker_accept_on : worker_accept_off;
	t->done = accept_task_done;
	t->arg = t;
	workers_run(t);
}

static void
deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	if (!adm.draining || adm.stopping)
		return;
	log_notice("drain deadline passed: no longer accepting new connections (open ones continue)");
	adm.accept_off = true;
	set_accepting(false);
}

static void
cmd_drain(struct admin_client *a)
{
	char d[32];

	if (adm.stopping) {
		reply_error(a, "tcplb is stopping");
		return;
	}
	adm.draining = true;
	ev_timer_stop(adm.loop, &adm.deadline);
	if (a->cmd.has_deadline) {
		ev_timer_set(&adm.deadline, (double)a->cmd.deadline_ms / 1000.0, 0.);
		ev_timer_start(adm.loop, &adm.deadline);
	}
	log_notice("instance drain: 'check' fails from now on%s%s (admin socket, uid %ld, pid %ld)",
	    a->cmd.has_deadline ? "; accepting stops in " : "",
	    a->cmd.has_deadline ? duration_format(a->cmd.deadline_ms, d, sizeof(d)) : "",
	    (long)a->uid, (long)a->pid);
	if (a->cmd.has_deadline)
		reply_ok(a, "draining: check fails; new connections accepted for %s more",
		    d);
	else
		reply_ok(a, "draining: check fails; new connections still accepted");
}

static void
cmd_undrain(struct admin_client *a)
{
	bool was = adm.draining;

	if (adm.stopping) {
		reply_error(a, "tcplb is stopping");
		return;
	}
	adm.draining = false;
	adm.accept_off = false;
	ev_timer_stop(adm.loop, &adm.deadline);
	/* Resume accepting in any case: harmless if it never stopped. */
	set_accepting(true);
	if (was)
		log_notice("instance drain ended (admin socket, uid %ld, pid %ld)",
		    (long)a->uid, (long)a->pid);
	reply_ok(a, was ? "ready: drain ended" : "ready: was not draining");
}

void
admin_drain_get(bool *draining, int64_t *remaining_ms, bool *accept_off)
{
	*draining = adm.draining;
	*accept_off = adm.accept_off;
	*remaining_ms = -1;
	if (adm.draining && adm.loop && ev_is_active(&adm.deadline))
		*remaining_ms = (int64_t)(ev_timer_remaining(adm.loop, &adm.deadline) * 1000.0);
}

void
admin_drain_set(bool draining, int64_t remaining_ms, bool accept_off)
{
	if (adm.fd < 0 || !draining)
		return;
	adm.draining = true;
	ev_timer_stop(adm.loop, &adm.deadline);
	if (accept_off) {
		adm.accept_off = true;
		set_accepting(false);
	} else if (remaining_ms >= 0) {
		ev_timer_set(&adm.deadline, (double)remaining_ms / 1000.0, 0.);
		ev_timer_start(adm.loop, &adm.deadline);
	}
	log_notice("instance drain carried over from the previous process%s",
	    accept_off ? " (no longer accepting)" : remaining_ms >= 0 ?
	    " (with its deadline)" : "");
}

/* ---- show sessions, shutdown sessions: work on the workers -------------- */

static void
admin_client_free(struct admin_client *a)
{
	if (a->snap) {
		for (unsigned w = 0; w < workers_count(); w++)
			session_snap_free(a->snap[w], a->nsnap[w]);
		free(a->snap);
		free(a->nsnap);
		free(a->snap_s);
	}
	for (size_t i = 0; i < a->ntargets; i++)
		server_state_put(a->targets[i]);
	free(a->targets);
	gen_put(a->srv_g);
	admin_servers_forget(a);
	if (a->all_prev)
		a->all_prev->all_next = a->all_next;
	else
		adm.all = a->all_next;
	if (a->all_next)
		a->all_next->all_prev = a->all_prev;
	free(a);
	adm.nclients--;
}

static void
snap_fn(struct worker *w, void *arg)
{
	struct admin_client *a = arg;
	ev_tstamp t0 = ev_time();

	session_snapshot(w, a->cmd.pool[0] ? a->cmd.pool : NULL,
	    a->cmd.server[0] ? a->cmd.server : NULL, &a->snap[w->id], &a->nsnap[w->id]);
	dgram_snapshot(w, a->cmd.pool[0] ? a->cmd.pool : NULL,
	    a->cmd.server[0] ? a->cmd.server : NULL, &a->snap[w->id], &a->nsnap[w->id]);
	a->snap_s[w->id] = ev_time() - t0;
}

static void
servers_refill(struct aconn *c)
{
	struct admin_client *a = c->owner;

	if (admin_show_servers_some(&c->out, a->srv_g,
	    a->cmd.pool[0] ? a->cmd.pool : NULL, a->cmd.json, &a->srv_pi,
	    &a->srv_si, &a->srv_n, ADMIN_SERVERS_CHUNK))
		c->more = false;
}

static void
sessions_refill(struct aconn *c)
{
	struct admin_client *a = c->owner;
	unsigned k = 0;

	while (a->snap_w < workers_count() && k < ADMIN_SESSIONS_CHUNK) {
		if (a->snap_i >= a->nsnap[a->snap_w]) {
			a->snap_w++;
			a->snap_i = 0;
			continue;
		}
		admin_show_session(&c->out, &a->snap[a->snap_w][a->snap_i],
		    a->cmd.json, a->snap_n == 0);
		a->snap_i++;
		a->snap_n++;
		k++;
	}
	if (a->snap_w >= workers_count()) {
		double most = 0;

		for (unsigned w = 0; w < workers_count(); w++)
			if (a->snap_s[w] > most)
				most = a->snap_s[w];
		admin_show_sessions_tail(&c->out, a->cmd.json, a->snap_n, most);
		c->more = false;
	}
}

static void
snap_done(void *arg)
{
	struct admin_client *a = arg;

	a->in_task = false;
	if (a->gone) {
		admin_client_free(a);
		return;
	}
	admin_show_sessions_head(&a->c->out, a->cmd.json);
	a->c->more = true;
	sessions_refill(a->c);
	aconn_send(a->c);
}

static void
cmd_show_sessions(struct admin_client *a, struct gen *g)
{
	unsigned n = workers_count();

	if (a->cmd.pool[0] && find_pool(a, g, a->cmd.pool) == NULL)
		return;
	if (a->cmd.server[0]) {
		struct server **v;

		if (find_servers(a, g, &v) == 0)
			return;
		free(v);
	}
	a->snap = xcalloc(n, sizeof(*a->snap));
	a->nsnap = xcalloc(n, sizeof(*a->nsnap));
	a->snap_s = xcalloc(n, sizeof(*a->snap_s));
	a->task.fn = snap_fn;
	a->task.done = snap_done;
	a->task.arg = a;
	a->in_task = true;
	workers_run(&a->task);
}

static void
shutdown_fn(struct worker *w, void *arg)
{
	struct admin_client *a = arg;
	unsigned n = 0;

	for (size_t i = 0; i < a->ntargets; i++)
		n += session_shutdown_server(w, a->targets[i],
		    "shut down by admin", true) +
		    dgram_shutdown_server(w, a->targets[i]);
	atomic_fetch_add(&a->closed, n);
}

static void
shutdown_done(void *arg)
{
	struct admin_client *a = arg;
	unsigned n = atomic_load(&a->closed);

	a->in_task = false;
	if (a->gone) {
		admin_client_free(a);
		return;
	}
	if (a->cmd.json) {
		reply_ok(a, "closed %u session%s of %s/%s", n, n == 1 ? "" :
		    "s", a->cmd.pool, a->cmd.server);
	} else {
		/* The names as the tables show them: one line. */
		sbuf_printf(&a->c->out, "closed %u session%s of ", n,
		    n == 1 ? "" : "s");
		sbuf_field(&a->c->out, a->cmd.pool);
		sbuf_add(&a->c->out, "/", 1);
		sbuf_field(&a->c->out, a->cmd.server);
		sbuf_add(&a->c->out, "\n", 1);
	}
	aconn_send(a->c);
}

static void
cmd_shutdown_sessions(struct admin_client *a, struct gen *g)
{
	struct server **v;
	size_t n = find_servers(a, g, &v);

	if (n == 0)
		return;
	a->targets = xcalloc(n, sizeof(*a->targets));
	for (size_t i = 0; i < n; i++) {
		a->targets[i] = server_state_get(v[i]->st);
		log_change(a, v[i], "closing its sessions");
	}
	free(v);
	a->ntargets = n;
	a->task.fn = shutdown_fn;
	a->task.done = shutdown_done;
	a->task.arg = a;
	a->in_task = true;
	workers_run(&a->task);
}

/* ---- reload -------------------------------------------------------------- */

/* Lent by the service, which sits above the control plane (admin_install). */
static struct admin_reloader reloader;

void
admin_install(const struct admin_reloader *r)
{
	reloader = *r;
}

static uint64_t
reloads_finished(void)
{
	struct stats_reloads rc;

	stats_reloads(&rc);
	return rc.ok + rc.failed;
}

void
admin_reload_done(bool ok, const char *errors)
{
	uint64_t done = reloads_finished();
	struct admin_client **pp = &adm.reload_waiters;

	while (*pp) {
		struct admin_client *a = *pp;

		if (a->reload_want > done) {
			pp = &a->next;
			continue;
		}
		*pp = a->next;
		a->in_task = false;
		if (a->gone) {
			admin_client_free(a);
			continue;
		}
		if (ok) {
			reply_ok(a, "reloaded: generation %u from %s", gen_current()->id,
			    gen_current()->source);
		} else if (a->cmd.json) {
			reply_error(a, "reload failed, still running generation %u:\n%s",
			    gen_current()->id, errors);
		} else {
			/* Text: the first line says it failed, then every error. */
			sbuf_printf(&a->c->out, "error: reload failed, still running generation %u\n%s",
			    gen_current()->id, errors);
		}
		aconn_send(a->c);
	}
}

static void
cmd_reload(struct admin_client *a)
{
	if (!reloader.has_file()) {
		reply_error(a, "quick mode: there is no configuration file to re-read");
		return;
	}
	if (adm.stopping) {
		reply_error(a, "tcplb is stopping");
		return;
	}
	if (adm.upgrading) {
		/* Binding a listener here that the new process binds too
		 * would fail the upgrade; SIGHUP is passed on instead. */
		reply_error(a, "a binary upgrade is under way: reload when it is done "
		    "(or send SIGHUP, which the new process then gets)");
		return;
	}
	log_notice("reload requested (admin socket, uid %ld, pid %ld)", (long)a->uid,
	    (long)a->pid);
	/* A reload already running finishes first; ours is the one after. */
	a->reload_want = reloads_finished() + (reloader.in_progress() ? 2 : 1);
	reloader.request();
	if (reloads_finished() >= a->reload_want) {
		/* Failed before it began (no loader thread). */
		reply_error(a, "reload failed at once; see the log");
		return;
	}
	a->in_task = true;
	a->next = adm.reload_waiters;
	adm.reload_waiters = a;
}

/* ---- add server, del server (admin_servers.c) ---------------------------- */

static void
servers_answer(void *client, bool ok, const char *msg)
{
	struct admin_client *a = client;

	a->in_task = false;
	if (a->gone) {
		admin_client_free(a);
		return;
	}
	if (ok)
		reply_ok(a, "%s", msg);
	else
		reply_error(a, "%s", msg);
	aconn_send(a->c);
}

static void
cmd_servers(struct admin_client *a)
{
	char msg[600];

	if (adm.stopping) {
		reply_error(a, "tcplb is stopping");
		return;
	}
	if (adm.upgrading) {
		/* The new process has read the servers added so far; one
		 * added or deleted now would be lost at the handover. */
		reply_error(a, "a binary upgrade is under way: add or delete servers "
		    "when it is done");
		return;
	}
	if (admin_servers_exec(&a->cmd, a->uid, a->pid, a, servers_answer,
	    reloader.servers_changed, msg, sizeof(msg)) < 0) {
		reply_error(a, "%s", msg);
		return;
	}
	a->in_task = true;
}

/* ---- the connection ------------------------------------------------------ */

/* Returns true when the answer is ready now. */
static bool
admin_execute(struct admin_client *a, const char *line, size_t len)
{
	struct gen *g = gen_current();
	char err[512];

	if (admin_cmd_parse(line, len, &a->cmd, err, sizeof(err)) < 0) {
		/* Keep the json flag if the parser saw it. */
		reply_error(a, "%s", err);
		return true;
	}
	switch (a->cmd.verb) {
	case ADM_HELP:
		if (a->cmd.json) {
			sbuf_puts(&a->c->out, "{\"help\":");
			sbuf_json_str(&a->c->out, admin_cmd_help());
			sbuf_puts(&a->c->out, "}\n");
		} else {
			sbuf_puts(&a->c->out, admin_cmd_help());
		}
		return true;
	case ADM_SHOW_INFO:
		admin_show_info(&a->c->out, g, admin_instance_state(), a->cmd.json);
		return true;
	case ADM_SHOW_LISTENERS:
		admin_show_listeners(&a->c->out, g, a->cmd.json);
		return true;
	case ADM_SHOW_POOLS:
		admin_show_pools(&a->c->out, g, a->cmd.json);
		return true;
	case ADM_SHOW_SERVERS:
		if (a->cmd.pool[0] && find_pool(a, g, a->cmd.pool) == NULL)
			return true;
		/* Streamed: thousands of servers are formatted a slice per
		 * refill, never all in one turn of the loop. */
		a->srv_g = gen_get(g);
		admin_show_servers_head(&a->c->out, a->cmd.json);
		a->c->more = true;
		servers_refill(a->c);
		return true;
	case ADM_SHOW_SESSIONS:
		cmd_show_sessions(a, g);
		return !a->in_task;
	case ADM_SET_STATE:
		cmd_set_state(a, g);
		return true;
	case ADM_SET_WEIGHT:
		cmd_set_weight(a, g);
		return true;
	case ADM_SHUTDOWN_SESSIONS:
		cmd_shutdown_sessions(a, g);
		return !a->in_task;
	case ADM_RELOAD:
		cmd_reload(a);
		return !a->in_task;
	case ADM_CHECK:
		cmd_check(a, g);
		return true;
	case ADM_DRAIN:
		cmd_drain(a);
		return true;
	case ADM_UNDRAIN:
		cmd_undrain(a);
		return true;
	case ADM_ADD_SERVER:
	case ADM_DEL_SERVER:
		cmd_servers(a);
		return !a->in_task;
	}
	return true;
}

static enum aconn_next
admin_input(struct aconn *c, bool eof, bool full)
{
	struct admin_client *a = c->owner;
	char *nl = memchr(c->in, '\n', c->inlen);

	if (nl == NULL && full) {
		a->cmd.json = false;
		reply_error(a, "command line longer than %d bytes", ADMIN_LINE_MAX - 1);
		return ACONN_ANSWER;
	}
	if (nl == NULL && !eof)
		return ACONN_MORE;
	if (nl == NULL && c->inlen == 0)
		return ACONN_ANSWER;	/* connected and hung up: nothing to say */
	return admin_execute(a, c->in, nl ? (size_t)(nl - c->in) + 1 : c->inlen) ?
	    ACONN_ANSWER : ACONN_LATER;
}

static void
admin_closed(struct aconn *c)
{
	struct admin_client *a = c->owner;

	a->c = NULL;
	if (a->in_task) {
		a->gone = true;		/* freed when the task completes */
		return;
	}
	admin_client_free(a);
}

/* The answer being streamed: show servers or show sessions. */
static void
admin_refill(struct aconn *c)
{
	struct admin_client *a = c->owner;

	if (a->srv_g != NULL)
		servers_refill(c);
	else
		sessions_refill(c);
}

static const struct aconn_ops admin_ops = {
	.input = admin_input,
	.refill = admin_refill,
	.closed = admin_closed,
};

static void
admin_accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	for (int i = 0; i < 16; i++) {
		struct admin_client *a;
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		int fd = accept4(adm.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				log_warn("admin socket: accept");
			return;
		}
		if (adm.nclients >= ADMIN_MAX_CLIENTS) {
			static const char msg[] = "error: too many admin connections\n";

			(void)!write(fd, msg, sizeof(msg) - 1);
			close(fd);
			continue;
		}
		a = xcalloc(1, sizeof(*a));
		a->uid = (uid_t)-1;
		a->pid = 0;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
			a->uid = cred.uid;
			a->pid = cred.pid;
		}
		adm.nclients++;
		a->all_next = adm.all;
		if (adm.all)
			adm.all->all_prev = a;
		adm.all = a;
		a->c = aconn_new(loop, fd, ADMIN_LINE_MAX, ADMIN_TIMEOUT_S, &admin_ops, a);
		/* One command line, sent at once by any client: a head that
		 * trickles in must not hold one of the few slots. */
		aconn_set_deadlines(a->c, ADMIN_HEAD_S, 0);
	}
}

/* Does a live process accept connections on the socket file at path? */
static bool
path_answers(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	/* Non-blocking: a listener whose queue is full says EAGAIN, which
	 * is alive too; ECONNREFUSED or ENOENT is a stale file. */
	live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ||
	    errno == EAGAIN || errno == EINPROGRESS;
	close(fd);
	return live;
}

/* Is the file at path (still) the socket this process bound? */
static bool
path_is_ours(const char *path)
{
	struct stat sb;

	return path && adm.ino != 0 && stat(path, &sb) == 0 &&
	    sb.st_dev == adm.dev && sb.st_ino == adm.ino;
}

int
admin_start(struct ev_loop *loop, const char *path, bool successor, char *err,
    size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat sb;
	char own[sizeof(sun.sun_path) + 32];
	mode_t old;
	int fd;

	/* Bound first at PATH.PID, this process's own name (which also
	 * reaches an old process still draining after an upgrade), and only
	 * linked to PATH by admin_commit() once this process serves: a start
	 * or an upgrade that fails never touches the socket a running
	 * instance answers on. */
	if ((size_t)snprintf(own, sizeof(own), "%s.%ld.new", path, (long)getpid()) >=
	    sizeof(sun.sun_path)) {
		snprintf(err, errlen, "admin socket %s: path too long (at most %zu bytes, "
		    "with room for the suffix .PID.new)", path,
		    sizeof(sun.sun_path) - 1 - (strlen(own) - strlen(path)));
		return -1;
	}
	snprintf(own, sizeof(own), "%s.%ld", path, (long)getpid());
	if (lstat(path, &sb) == 0) {
		/* A socket left by a previous run is replaced, as HAProxy
		 * does -- but never one a live process answers on (a second
		 * instance sharing the path), and no other kind of file. */
		if (!S_ISSOCK(sb.st_mode)) {
			snprintf(err, errlen, "admin socket %s: exists and is not a socket", path);
			return -1;
		}
		if (!successor && path_answers(path)) {
			snprintf(err, errlen, "admin socket %s: another process answers there "
			    "(another tcplb with the same admin_socket?)", path);
			return -1;
		}
	}
	memcpy(sun.sun_path, own, strlen(own) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "admin socket %s: socket: %s", path, strerror(errno));
		return -1;
	}
	/* Named after our own PID: a leftover can only be a dead process's. */
	if (lstat(own, &sb) == 0 && S_ISSOCK(sb.st_mode))
		unlink(own);
	old = umask(0117);	/* created 0660: owner and group */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		snprintf(err, errlen, "admin socket %s: bind: %s (bound first as %s)", path,
		    strerror(errno), own);
		close(fd);
		return -1;
	}
	umask(old);
	chmod(own, 0660);
	if (stat(own, &sb) == 0) {
		adm.dev = sb.st_dev;
		adm.ino = sb.st_ino;
	}
	if (listen(fd, 64) < 0) {
		snprintf(err, errlen, "admin socket %s: listen: %s", path, strerror(errno));
		close(fd);
		unlink(own);
		adm.ino = 0;
		return -1;
	}
	adm.loop = loop;
	adm.fd = fd;
	adm.path = xstrdup(path);
	adm.own = xstrdup(own);
	ev_io_init(&adm.io, admin_accept_cb, fd, EV_READ);
	ev_io_start(loop, &adm.io);
	ev_init(&adm.deadline, deadline_cb);
	log_info("admin socket listening on %s", own);
	return 0;
}

int
admin_commit(void)
{
	char tmp[sizeof(((struct sockaddr_un *)0)->sun_path) + 40];

	if (adm.fd < 0 || adm.committed)
		return 0;
	/* A second name for the same socket file, renamed over PATH in one
	 * step: PATH never is missing, a client finds the old process or
	 * this one. */
	snprintf(tmp, sizeof(tmp), "%s.new", adm.own);
	unlink(tmp);
	if (link(adm.own, tmp) < 0 || rename(tmp, adm.path) < 0) {
		log_warn("admin socket %s: cannot put it in place", adm.path);
		unlink(tmp);
		return -1;
	}
	adm.committed = true;
	log_info("admin socket listening on %s", adm.path);
	return 0;
}

void
admin_remove_process(long pid)
{
	char p[sizeof(((struct sockaddr_un *)0)->sun_path) + 40];
	struct stat sb;

	if (adm.path == NULL || pid <= 0 || pid == (long)getpid())
		return;
	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), i ? "%s.%ld.new" : "%s.%ld", adm.path, pid);
		/* Named for a process that is gone or killed: nobody
		 * else's (its connect() may still succeed for a moment
		 * while the kernel tears the killed process down). */
		if (lstat(p, &sb) == 0 && S_ISSOCK(sb.st_mode))
			unlink(p);
	}
}

const char *
admin_own_path(void)
{
	return adm.own;
}

void
admin_set_upgrading(bool on)
{
	adm.upgrading = on;
}

void
admin_set_handed_over(void)
{
	adm.stopping = true;
	adm.handed_over = true;
}

unsigned
admin_answering(void)
{
	struct pollfd p = { .fd = adm.fd, .events = POLLIN };

	if (adm.fd < 0)
		return 0;
	/* A connection still queued counts: the loop runs the drain timer
	 * before the accept in the same turn, and admin_stop() would reset
	 * it.  Not when accepting fails (out of descriptors): the drain's
	 * deadline ends that. */
	return adm.nclients + (adm.nclients < ADMIN_MAX_CLIENTS &&
	    poll(&p, 1, 0) == 1 && (p.revents & POLLIN) ? 1 : 0);
}

void
admin_set_stopping(void)
{
	adm.stopping = true;
}

void
admin_stop(void)
{
	if (adm.fd < 0)
		return;
	/* The workers are gone: no task will complete any more. */
	while (adm.all) {
		struct admin_client *a = adm.all;

		a->in_task = false;
		if (a->c)
			aconn_close(a->c);	/* frees a */
		else
			admin_client_free(a);
	}
	adm.reload_waiters = NULL;
	ev_io_stop(adm.loop, &adm.io);
	ev_timer_stop(adm.loop, &adm.deadline);
	close(adm.fd);
	adm.fd = -1;
	/* Only paths that are still this process's socket: after an
	 * upgrade PATH is the successor's, and never is a live process's
	 * answer removed. */
	if (path_is_ours(adm.path))
		unlink(adm.path);
	if (path_is_ours(adm.own))
		unlink(adm.own);
	adm.ino = 0;
	adm.committed = false;
	free(adm.own);
	adm.own = NULL;
	free(adm.path);
	adm.path = NULL;
}
