/*
 * health: active health checks, on a thread and libev loop of their own.
 * Nothing that runs on the main loop -- a /metrics render, an admin
 * command, a reload, DNS -- can make a check late, and a check's verdict
 * depends on its own I/O only: when the timeout fires, the socket is asked
 * first (health_int.h, kind->progress) whether the answer is already there.
 *
 * This file owns the thread, its loop, the schedule and the verdicts
 * (rise/fall, server_set_up()), applies what an agent says, and runs the
 * pool's on_down / on_up actions on a transition.  What a check does on
 * the wire is a "kind" (health_int.h): health_conn.c connects and hands
 * the socket to the protocol of health_check.type (check.h: tcp, http,
 * tls, agent).
 *
 * The main thread talks to the checker through a mailbox: health_start()
 * leaves the generation to check (a reference) and wakes the thread with
 * an ev_async; the thread takes it over at its next turn.  Check objects,
 * st->check and the verdict counters are the checker's; the fields others
 * read (check counts, the last result) are atomics or behind report_mu.
 *
 * Each check ends in exactly one place, health_check_done(), which stops
 * the timeout, has the kind close the socket, then counts the result
 * against rise/fall and, on a transition, calls server_set_up() (which
 * logs it).  The worker threads see nothing but the atomic up flag, and
 * tell the checker about a passive down through passive_epoch (the rise
 * count restarts) and rest_until_ms (fail_timeout).
 *
 * A check object is found through its server's state (st->check), so a
 * reload that keeps the server keeps the check: its timer, and a check in
 * flight.  Restarting every schedule on every reload would starve servers
 * late in the spread whenever reloads come faster than the interval.
 *
 * Timing: a check starts every interval (measured start to start, so a
 * slow failure does not stretch the period), the first ones spread over
 * the interval.  Detection therefore takes at most interval * fall +
 * timeout, recovery at most interval * rise + timeout.  A server never
 * checked yet (initial_state) changes state on its first result.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "balance/pool.h"
#include "base/log.h"
#include "base/util.h"
#include "config/gen.h"
#include "health/health.h"
#include "health/health_int.h"
#include "relay/session.h"
#include "relay/worker.h"
#include "relay/workers.h"

static struct {
	/* Main thread only. */
	bool running;
	pthread_t thread;
	/* The mailbox. */
	pthread_mutex_t mu;
	struct gen *pending;		/* the set to check next (a reference) */
	bool have_pending;
	bool quit;
	ev_async wake;
	/* The health thread's (set up before it starts). */
	struct ev_loop *loop;
	struct gen *gen;
	struct health_check **checks;
	size_t nchecks;
} health = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* The last result of each server, for `show servers`, /metrics and the
 * status page: written by the checker, read by the main thread. */
static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;

static void health_check_start(struct health_check *c);

static void
health_log_ctx(const struct server *s, struct log_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->pool = s->pool->name;
	ctx->server = s->name;
	ctx->server_addr = s->addr_text;
}

const char *
health_errno_reason(int err)
{
	enum check_reason unused;

	/* One table of errno words: the check protocols' (check.c). */
	return check_errno_text(err, &unused);
}

bool
health_errno_local(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM || err == EADDRNOTAVAIL || err == EADDRINUSE;
}

/* A check that could not start for a reason of our own (no descriptor,
 * no local port): logged at most every 10 s -- with many servers, every
 * interval would otherwise add a record each. */
void
health_local_error(const struct health_check *c, int err)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(10000, 1);
	const struct server *s = c->srv;
	struct log_ctx ctx;

	health_log_ctx(s, &ctx);
	log_ratelimited(&rl, LOG_WARNING, &ctx, "cannot check server %s/%s: "
	    "%s; not held against the server", s->pool->name, s->name,
	    strerror(err));
}

void
health_last_check(const struct server_state *st, char *result, size_t len,
    int64_t *when_ms, uint32_t *took_us)
{
	pthread_mutex_lock(&report_mu);
	*when_ms = st->last_check_ms;
	*took_us = st->last_check_us;
	if (len > 0)
		snprintf(result, len, "%s", st->last_check);
	pthread_mutex_unlock(&report_mu);
}

static void
health_schedule(struct health_check *c, ev_tstamp delay)
{
	if (delay < 0.001)
		delay = 0.001;
	ev_timer_stop(c->loop, &c->sched);
	ev_timer_set(&c->sched, delay, 0.);
	ev_timer_start(c->loop, &c->sched);
}

/* Stop whatever c has in flight, quietly (no result). */
static void
health_check_abort(struct health_check *c)
{
	ev_timer_stop(c->loop, &c->timeout);
	c->kind->abort(c);
	c->running = false;
}

static const char *
admin_name(int a)
{
	static const char *const names[] = { "ready", "drain", "maint" };

	return a >= 0 && a < 3 ? names[a] : "?";
}

/* ---- on_down / on_up: reset sessions on the workers ------------------- */

struct health_kill {
	struct worker_task task;
	struct server_state **sts;
	size_t n;
	atomic_uint closed;
	char what[160];
};

static void
health_kill_fn(struct worker *w, void *arg)
{
	struct health_kill *k = arg;
	unsigned n = 0;

	for (size_t i = 0; i < k->n; i++)
		n += session_shutdown_server(w, k->sts[i], k->what, true);
	atomic_fetch_add(&k->closed, n);
}

/* On the main loop, after the last worker. */
static void
health_kill_done(void *arg)
{
	struct health_kill *k = arg;
	unsigned n = atomic_load(&k->closed);

	log_msg(LOG_NOTICE, NULL, "%s: reset %u session%s", k->what, n,
	    n == 1 ? "" : "s");
	for (size_t i = 0; i < k->n; i++)
		server_state_put(k->sts[i]);
	free(k->sts);
	free(k);
}

/* Reset (TCP RST, not FIN) every open session of the n servers on every
 * worker, through the workers' task mailbox (as `shutdown sessions`
 * does): a client of a server just marked down learns at once that its
 * connection is gone, instead of writing on to a server that may no
 * longer be what it was (a demoted database primary). */
static void
health_kill_sessions(struct server *const *v, size_t n, const char *what)
{
	struct health_kill *k;

	if (n == 0 || workers_count() == 0)
		return;
	k = xcalloc(1, sizeof(*k));
	k->sts = xcalloc(n, sizeof(*k->sts));
	for (size_t i = 0; i < n; i++)
		k->sts[i] = server_state_get(v[i]->st);
	k->n = n;
	snprintf(k->what, sizeof(k->what), "%s", what);
	k->task.fn = health_kill_fn;
	k->task.done = health_kill_done;
	k->task.arg = k;
	workers_run(&k->task);
}

static void
health_on_down(struct server *s)
{
	char what[160];

	if (!s->pool->on_down_shutdown)
		return;
	snprintf(what, sizeof(what), "on_down: server %s/%s marked down",
	    s->pool->name, s->name);
	health_kill_sessions(&s, 1, what);
}

static void
health_on_up(struct server *s)
{
	struct pool *p = s->pool;
	struct server **v;
	size_t n = 0;
	char what[160];

	if (!p->on_up_shutdown_backup || s->backup)
		return;
	/* A primary that takes no new connection (drained, in maint or at
	 * weight 0 by the operator or its agent) frees no backup: its
	 * clients would reconnect to the same backups after a reset. */
	if (atomic_load(&s->st->admin) != SRV_ADMIN_READY ||
	    server_weight(s) == 0) {
		struct log_ctx ctx;

		health_log_ctx(s, &ctx);
		log_msg(LOG_INFO, &ctx, "on_up: server %s/%s back up but takes "
		    "no new connections (%s): the backups keep their sessions",
		    p->name, s->name, atomic_load(&s->st->admin) !=
		    SRV_ADMIN_READY ? admin_name(atomic_load(&s->st->admin)) :
		    "weight 0");
		return;
	}
	v = xcalloc(p->nservers, sizeof(*v));
	for (uint32_t i = 0; i < p->nservers; i++)
		if (p->servers[i].backup)
			v[n++] = &p->servers[i];
	snprintf(what, sizeof(what), "on_up: server %s/%s back up, leaving "
	    "the backups", p->name, s->name);
	health_kill_sessions(v, n, what);
	free(v);
}

/* Who set a server's admin state and weight override -- its agent or
 * the operator -- is decided under this lock: the checker (agent
 * verdicts, a reload that ends the agent checks) and the admin socket
 * (health_admin_state/weight) each read and write the pair as one. */
static pthread_mutex_t admin_mu = PTHREAD_MUTEX_INITIALIZER;

int
health_admin_state(struct server_state *st, int state)
{
	int old;

	pthread_mutex_lock(&admin_mu);
	atomic_store(&st->agent_admin, 0);
	old = atomic_exchange(&st->admin, state);
	pthread_mutex_unlock(&admin_mu);
	return old;
}

void
health_admin_weight(struct server_state *st, int override)
{
	pthread_mutex_lock(&admin_mu);
	atomic_store(&st->agent_weight, false);
	atomic_store(&st->weight_override, override);
	pthread_mutex_unlock(&admin_mu);
}

/* s is no longer checked by an agent (a reload changed the pool's check
 * type or removed its check): what the agent set is nobody's now, so it
 * goes -- a drain it set would otherwise stay with nothing left to lift
 * it.  What the operator set stays. */
static void
health_agent_release(struct server *s)
{
	struct server_state *st = s->st;
	struct log_ctx ctx;
	int aa, cur;

	pthread_mutex_lock(&admin_mu);
	aa = atomic_exchange(&st->agent_admin, 0);
	cur = atomic_load(&st->admin);
	if (aa != 0 && cur == aa) {
		atomic_store(&st->admin, SRV_ADMIN_READY);
		health_log_ctx(s, &ctx);
		log_msg(LOG_NOTICE, &ctx, "server %s/%s: state ready (its agent "
		    "is no longer checked, its %s ends)", s->pool->name,
		    s->name, admin_name(aa));
	}
	if (atomic_exchange(&st->agent_weight, false))
		atomic_store(&st->weight_override, -1);
	pthread_mutex_unlock(&admin_mu);
}

/* drain / maint / ready and N% from a parsed agent line.  The agent's
 * admin state is its own: its `ready` undoes only what it set, never an
 * operator's drain or maint from the admin socket. */
static void
health_apply_agent(struct server *s, const struct agent_reply *r)
{
	struct server_state *st = s->st;
	int cur, want, aa;

	pthread_mutex_lock(&admin_mu);
	cur = atomic_load(&st->admin);
	aa = atomic_load(&st->agent_admin);
	want = cur;
	switch (r->admin) {
	case AGENT_A_NONE:
		break;
	case AGENT_A_READY:
		if (aa != 0 && cur == aa)
			want = SRV_ADMIN_READY;
		atomic_store(&st->agent_admin, 0);
		break;
	case AGENT_A_DRAIN:
	case AGENT_A_MAINT:
		if (cur == SRV_ADMIN_READY || cur == aa) {
			want = r->admin == AGENT_A_DRAIN ? SRV_ADMIN_DRAIN :
			    SRV_ADMIN_MAINT;
			atomic_store(&st->agent_admin, want);
		}
		break;
	}
	if (want != cur) {
		struct log_ctx ctx;

		atomic_store(&st->admin, want);
		health_log_ctx(s, &ctx);
		log_msg(LOG_NOTICE, &ctx, "server %s/%s: state %s (its agent "
		    "said so)", s->pool->name, s->name, admin_name(want));
	}
	if (r->weight_pct >= 0) {
		uint64_t w = (uint64_t)s->weight * (uint64_t)r->weight_pct / 100;
		int fit, was;

		if (w > 256)
			w = 256;
		/* A share that rounds to 0 of a non-zero percentage keeps
		 * 1, as HAProxy does. */
		if (w == 0 && r->weight_pct > 0 && s->weight > 0)
			w = 1;
		/* As `set server ... weight` may: roundrobin and random only
		 * lower a weight, source knows 0 and the configured one. */
		fit = server_override_fit(s, (int)w);
		was = atomic_exchange(&st->weight_override, fit);
		atomic_store(&st->agent_weight, fit >= 0);

		if (was != fit) {
			struct log_ctx ctx;

			health_log_ctx(s, &ctx);
			log_msg(LOG_INFO, &ctx, "server %s/%s: weight %u (its "
			    "agent said %d%%)", s->pool->name, s->name,
			    fit < 0 ? s->weight : (unsigned)fit,
			    r->weight_pct);
		}
	}
	pthread_mutex_unlock(&admin_mu);
}

void
health_check_done(struct health_check *c, const char *reason, bool counts)
{
	struct server *s = c->srv;
	struct server_state *st = s->st;
	ev_tstamp next;
	unsigned epoch;
	char why[192];

	health_check_abort(c);

	if (counts) {
		uint32_t us = (uint32_t)((ev_now(c->loop) - c->started) * 1e6);

		pthread_mutex_lock(&report_mu);
		st->last_check_ms = (int64_t)time(NULL) * 1000;
		st->last_check_us = us;
		snprintf(st->last_check, sizeof(st->last_check), "%s",
		    reason ? reason : c->result[0] ? c->result : "ok");
		pthread_mutex_unlock(&report_mu);
		atomic_fetch_add(&st->checks, 1);
		atomic_fetch_add(&st->check_us_sum, us);
		if (reason != NULL)
			atomic_fetch_add(&st->check_failures[c->why > CR_NONE &&
			    c->why < CR_N ? c->why : CR_OTHER], 1);
	}
	if (c->agent_valid)
		health_apply_agent(s, &c->agent);
	/* A passive down since this check began (or since the last result)
	 * restarts the count: successes from before the failure say nothing
	 * about the server now. */
	epoch = atomic_load(&st->passive_epoch);
	if (epoch != atomic_load(&st->check_epoch)) {
		atomic_store(&st->check_epoch, epoch);
		atomic_store(&st->check_ok, 0);
		atomic_store(&st->check_fresh, false);
	}
	if (!counts) {
		/* Nothing to count, nothing to decide. */
	} else if (reason == NULL) {
		int64_t now = (int64_t)now_ms();
		unsigned ok = atomic_load(&st->check_ok);

		atomic_store(&st->check_fail, 0);
		atomic_store(&st->check_failing, false);
		if (epoch != c->epoch) {
			/* Began before the failure: does not count. */
		} else if (ok < UINT32_MAX) {
			atomic_store(&st->check_ok, ++ok);
		}
		/* initial_state down: the first result decides. */
		if (!atomic_load(&st->up) && (ok >= c->cfg->rise ||
		    (atomic_load(&st->check_fresh) && ok > 0)) &&
		    now >= atomic_load(&st->rest_until_ms)) {
			/* Whatever marked it down (checks or traffic), the
			 * checker is the authority in this pool. */
			atomic_store(&st->fails, 0);
			atomic_store(&st->passive_down, false);
			atomic_store(&st->retry_at_ms, 0);
			atomic_store(&st->rest_until_ms, 0);
			snprintf(why, sizeof(why),
			    "check passed (%u consecutive success%s)",
			    ok, ok == 1 ? "" : "es");
			server_set_up(s, true, why, now);
			health_on_up(s);
		}
		if (atomic_load(&st->up))
			st->on_down_done = false;
		if (ok > 0)
			atomic_store(&st->check_fresh, false);
	} else {
		unsigned fail = atomic_load(&st->check_fail);
		bool marked = false;

		atomic_store(&st->check_ok, 0);
		if (fail < UINT32_MAX)
			atomic_store(&st->check_fail, ++fail);
		if (log_enabled(LOG_DEBUG)) {
			struct log_ctx ctx;

			health_log_ctx(s, &ctx);
			log_msg(LOG_DEBUG, &ctx, "check of %s/%s failed: %s",
			    s->pool->name, s->name, reason);
		}
		/* initial_state up: the first result decides (HAProxy's
		 * init-state up), later ones need `fall` in a row. */
		if (atomic_load(&st->up) && (fail >= c->cfg->fall ||
		    atomic_load(&st->check_fresh))) {
			snprintf(why, sizeof(why),
			    "%s (%u consecutive failed check%s)", reason,
			    fail, fail == 1 ? "" : "s");
			server_set_up(s, false, why, (int64_t)now_ms());
			marked = true;
		}
		/* on_down once per down spell, whoever marked it down: traffic
		 * may have beaten the check to it (a demoted database refusing
		 * connects), and then only the check confirms it. */
		if (!atomic_load(&st->up) && (fail >= c->cfg->fall || marked) &&
		    !st->on_down_done) {
			st->on_down_done = true;
			health_on_down(s);
		}
		/* Resting after traffic failures and failing the check too:
		 * not merely resting, so no last resort for the pickers
		 * (balance_pick_ex) until a check passes again. */
		if (fail >= c->cfg->fall)
			atomic_store(&st->check_failing, true);
		atomic_store(&st->check_fresh, false);
	}

	/* Start to start: the next check begins one interval after this one
	 * began, however long this one took. */
	next = c->started + (ev_tstamp)c->cfg->interval_ms / 1000. -
	    ev_now(c->loop);
	health_schedule(c, next);
}

static void
health_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct health_check *c = w->data;

	(void)loop;
	(void)revents;
	/* The verdict is the socket's, not the clock's: an answer that is
	 * already there counts, however late this callback runs. */
	if (c->kind->progress(c))
		return;
	health_check_done(c, c->kind->timeout_reason(c), true);
}

static void
health_sched_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct health_check *c = w->data;

	(void)loop;
	(void)revents;
	health_check_start(c);
}

static void
health_check_start(struct health_check *c)
{
	const struct server *s = c->srv;

	ev_now_update(c->loop);
	c->started = ev_now(c->loop);
	c->epoch = atomic_load(&s->st->passive_epoch);
	c->why = CR_NONE;
	c->result[0] = '\0';
	c->agent_valid = false;
	/* maint (admin socket): no checks until the operator says ready;
	 * look again one interval later.  A maint the agent set is the
	 * agent's to lift: its checks go on. */
	if (atomic_load(&s->st->admin) == SRV_ADMIN_MAINT &&
	    !(c->cfg->type == HEALTH_AGENT &&
	    atomic_load(&s->st->agent_admin) == SRV_ADMIN_MAINT)) {
		health_schedule(c, (ev_tstamp)c->cfg->interval_ms / 1000.);
		return;
	}
	c->running = true;
	ev_timer_set(&c->timeout, (ev_tstamp)c->cfg->timeout_ms / 1000., 0.);
	ev_timer_start(c->loop, &c->timeout);
	c->kind->start(c);
}

/* Stop c's watchers and socket and free it. */
static void
health_check_free(struct health_check *c)
{
	health_check_abort(c);
	ev_timer_stop(c->loop, &c->sched);
	if (c->srv->st->check == c)
		c->srv->st->check = NULL;
	c->kind->release(c);
	free(c);
}

/* Which kind of check a pool's health_check asks for: a pool serving UDP
 * listeners is checked with datagrams; otherwise every type connects
 * first, so one kind (health_conn.c) drives them all and hands the
 * connected socket to the protocol of cfg->type (check.h). */
static const struct health_kind *
health_kind_for(const struct pool *p, const struct health_cfg *cfg)
{
	(void)cfg;
	return p->udp ? &health_kind_udp : &health_kind_conn;
}

/*
 * The server behind s was checked by c in the previous set: keep c, so
 * that a server staying across a reload keeps its schedule (reloads
 * faster than the interval must not postpone its checks for ever), and a
 * check in flight finishes unless what it sends or expects changed.
 */
static void
health_keep(struct health_check *c, struct server *s,
    const struct health_cfg *cfg, ev_tstamp interval)
{
	const struct health_kind *kind = health_kind_for(s->pool, cfg);
	ev_tstamp next;
	bool same;

	if (c->cfg != NULL && c->cfg->type == HEALTH_AGENT &&
	    cfg->type != HEALTH_AGENT)
		health_agent_release(s);

	if (kind != c->kind) {
		/* Another kind of check now: nothing of the old one fits. */
		health_check_abort(c);
		c->kind->release(c);
		c->kind = kind;
		c->cfg = NULL;
	}
	same = c->kind->prepare(c, s, cfg);

	c->kept = true;
	c->srv = s;
	if (c->running && !same)
		health_check_abort(c);	/* the next one starts on schedule */
	c->cfg = cfg;
	if (c->running)
		return;		/* its end schedules the next one */
	/* The check already due keeps its time (a first one its place in
	 * the spread), only never later than one new interval from now. */
	next = ev_is_active(&c->sched) ?
	    ev_timer_remaining(c->loop, &c->sched) :
	    c->started + interval - ev_now(c->loop);
	if (next > interval)
		next = interval;
	health_schedule(c, next);
}

/* On the health thread: check g from now on (consumes the reference;
 * NULL: nothing). */
static void
health_apply(struct gen *g)
{
	struct health_check **old = health.checks;
	size_t nold = health.nchecks, n = 0, k = 0;
	struct gen *oldgen = health.gen;

	health.checks = NULL;
	health.nchecks = 0;
	health.gen = g;
	for (size_t i = 0; i < nold; i++)
		old[i]->kept = false;
	if (g != NULL)
		for (uint32_t i = 0; i < g->npools; i++)
			if (g->pools[i].health.enabled)
				n += g->pools[i].nservers;
	if (n > 0) {
		health.checks = xcalloc(n, sizeof(*health.checks));
		health.nchecks = n;
	}
	for (uint32_t i = 0; g != NULL && i < g->npools; i++) {
		struct pool *p = &g->pools[i];
		const struct health_cfg *cfg = &p->health;
		ev_tstamp interval = (ev_tstamp)cfg->interval_ms / 1000.;

		if (!cfg->enabled)
			continue;
		for (uint32_t j = 0; j < p->nservers; j++) {
			struct server *s = &p->servers[j];
			struct health_check *c = s->st->check;

			if (c != NULL && !c->kept) {
				health_keep(c, s, cfg, interval);
				health.checks[k++] = c;
				continue;
			}
			c = xcalloc(1, sizeof(*c));
			health.checks[k++] = c;
			c->srv = s;
			c->kind = health_kind_for(p, cfg);
			c->loop = health.loop;
			c->kept = true;
			c->fd = -1;
			ev_io_init(&c->io, NULL, -1, 0);
			c->kind->prepare(c, s, cfg);
			c->cfg = cfg;
			s->st->check = c;
			ev_init(&c->timeout, health_timeout_cb);
			c->timeout.data = c;
			ev_init(&c->sched, health_sched_cb);
			c->sched.data = c;
			/* Spread the pool's checks over one interval rather
			 * than hitting every server (and our fd budget) at
			 * the same instant. */
			health_schedule(c, interval * j / p->nservers);
		}
	}
	/* What the new set did not take: servers gone, or whose pool lost
	 * its check. */
	for (size_t i = 0; i < nold; i++) {
		if (old[i]->kept)
			continue;
		/* A reload (not a stop: an upgrade hands the state over as
		 * it is) that ends a server's agent checks. */
		if (g != NULL && old[i]->cfg != NULL &&
		    old[i]->cfg->type == HEALTH_AGENT)
			health_agent_release(old[i]->srv);
		health_check_free(old[i]);
	}
	free(old);
	if (oldgen != NULL)
		gen_put(oldgen);
	if (n > 0)
		log_debug("health: checking %zu server%s", n, n == 1 ? "" : "s");
}

static void
health_wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct gen *g = NULL;
	bool have, quit;

	(void)w;
	(void)revents;
	pthread_mutex_lock(&health.mu);
	have = health.have_pending;
	quit = health.quit;
	if (have) {
		g = health.pending;
		health.pending = NULL;
		health.have_pending = false;
	}
	pthread_mutex_unlock(&health.mu);
	if (quit) {
		gen_put(g);
		health_apply(NULL);
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	if (have)
		health_apply(g);
}

static void *
health_main(void *arg)
{
	(void)arg;
	ev_run(health.loop, 0);
	return NULL;
}

int
health_start(struct gen *g)
{
	struct gen *drop;

	if (!health.running) {
		sigset_t all, old;
		int e;

		health.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
		if (health.loop == NULL) {
			log_errx("health: cannot create an event loop");
			return -1;
		}
		ev_async_init(&health.wake, health_wake_cb);
		ev_async_start(health.loop, &health.wake);
		health.quit = false;
		/* Signals are the main loop's: the thread blocks them all. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		e = pthread_create(&health.thread, NULL, health_main, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (e != 0) {
			log_errx("health: cannot start the check thread: %s",
			    strerror(e));
			ev_loop_destroy(health.loop);
			health.loop = NULL;
			return -1;
		}
		health.running = true;
	}
	/* Reference first: g may be the generation being replaced, and the
	 * checker may hold its last reference. */
	if (g != NULL)
		gen_get(g);
	pthread_mutex_lock(&health.mu);
	drop = health.pending;
	health.pending = g;
	health.have_pending = true;
	pthread_mutex_unlock(&health.mu);
	gen_put(drop);
	ev_async_send(health.loop, &health.wake);
	return 0;
}

void
health_stop(void)
{
	if (!health.running)
		return;
	pthread_mutex_lock(&health.mu);
	health.quit = true;
	pthread_mutex_unlock(&health.mu);
	ev_async_send(health.loop, &health.wake);
	pthread_join(health.thread, NULL);
	health.running = false;
	pthread_mutex_lock(&health.mu);
	gen_put(health.pending);
	health.pending = NULL;
	health.have_pending = false;
	pthread_mutex_unlock(&health.mu);
	ev_loop_destroy(health.loop);
	health.loop = NULL;
}
