/*
 * health: active health checks.  For every server of every pool with a
 * health_check block it owns one check object: its own non-blocking socket
 * (never one that carries traffic), an ev_io for connect/send/expect, a
 * timeout timer and a schedule timer, all on the main thread's loop.
 *
 * Each check ends in exactly one place, health_check_done(), which stops
 * the watchers, then closes the socket, then counts the result against
 * rise/fall and, on a transition, calls server_set_up() (which logs it).
 * The check counters in server_state are touched by this thread only; the
 * worker threads see nothing but the atomic up flag, and tell the checker
 * about a passive down through passive_epoch (the rise count restarts)
 * and rest_until_ms (fail_timeout).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/gen.h"
#include "health/health.h"
#include "base/log.h"
#include "base/net.h"
#include "balance/pool.h"
#include "parse/proxy_proto.h"
#include "base/util.h"

enum check_state {
	CHECK_IDLE,		/* waiting for the schedule timer */
	CHECK_CONNECTING,	/* ev_io on EV_WRITE until connected */
	CHECK_SENDING,		/* writing health.send */
	CHECK_READING,		/* reading up to health.expect_len bytes */
};

struct health_check {
	struct server *srv;
	const struct health_cfg *cfg;
	bool kept;		/* taken over by the new set (health_start) */
	unsigned epoch;		/* st->passive_epoch when this check began */
	enum check_state state;
	int fd;			/* -1 unless a check is in progress */
	size_t sent;
	size_t got;
	ev_tstamp started;	/* ev_now() when the current check began */
	ev_io io;
	ev_timer timeout;
	ev_timer sched;
	char *buf;		/* expect_len bytes, when expecting */
	char *out;		/* what is sent: PROXY header + health.send */
	size_t out_len;
};

static struct {
	struct ev_loop *loop;
	struct gen *gen;
	struct health_check **checks;
	size_t nchecks;
} health;

static void health_check_start(struct health_check *c);

static void
health_log_ctx(const struct server *s, struct log_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->pool = s->pool->name;
	ctx->server = s->name;
	ctx->server_addr = s->addr_text;
}

static const char *
health_errno_reason(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "connection refused";
	case ECONNRESET:
		return "connection reset";
	case ETIMEDOUT:
		return "timeout";
	case ENETUNREACH:
		return "network unreachable";
	case EHOSTUNREACH:
		return "host unreachable";
	case EPIPE:
		return "connection closed";
	default:
		return strerror(err);
	}
}

/* Errors that say something about this host, not the server: they must
 * not mark a healthy server down. */
static bool
health_errno_local(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM || err == EADDRNOTAVAIL || err == EADDRINUSE;
}

/* A check that could not start for a reason of our own (no descriptor,
 * no local port): logged at most every 10 s -- with many servers, every
 * interval would otherwise add a record each. */
static void
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

static void
health_schedule(struct health_check *c, ev_tstamp delay)
{
	if (delay < 0.001)
		delay = 0.001;
	ev_timer_stop(health.loop, &c->sched);
	ev_timer_set(&c->sched, delay, 0.);
	ev_timer_start(health.loop, &c->sched);
}

/* The one exit of a check.  reason == NULL: success.  counts == false:
 * a local problem (no fds, say) that says nothing about the server. */
static void
health_check_done(struct health_check *c, const char *reason, bool counts)
{
	struct server *s = c->srv;
	struct server_state *st = s->st;
	ev_tstamp next;
	unsigned epoch;
	char why[192];

	/* Watchers first: a stopped watcher also loses pending events, so
	 * nothing can fire for a closed (and maybe reused) fd. */
	ev_io_stop(health.loop, &c->io);
	ev_timer_stop(health.loop, &c->timeout);
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->state = CHECK_IDLE;

	if (counts) {
		/* For `show servers` and /metrics (main thread only). */
		st->last_check_ms = (int64_t)time(NULL) * 1000;
		st->last_check_us = (uint32_t)((ev_now(health.loop) - c->started) * 1e6);
		snprintf(st->last_check, sizeof(st->last_check), "%s",
		    reason ? reason : "ok");
	}
	/* A passive down since this check began (or since the last result)
	 * restarts the count: successes from before the failure say nothing
	 * about the server now. */
	epoch = atomic_load(&st->passive_epoch);
	if (epoch != st->check_epoch) {
		st->check_epoch = epoch;
		st->check_ok = 0;
		st->check_fresh = false;
	}
	if (!counts) {
		/* Nothing to count, nothing to decide. */
	} else if (reason == NULL) {
		int64_t now = (int64_t)now_ms();

		st->check_fail = 0;
		atomic_store(&st->check_failing, false);
		if (epoch != c->epoch) {
			/* Began before the failure: does not count. */
		} else if (st->check_ok < UINT32_MAX) {
			st->check_ok++;
		}
		/* initial_state down: the first result decides. */
		if (!atomic_load(&st->up) && (st->check_ok >= c->cfg->rise ||
		    (st->check_fresh && st->check_ok > 0)) &&
		    now >= atomic_load(&st->rest_until_ms)) {
			/* Whatever marked it down (checks or traffic), the
			 * checker is the authority in this pool. */
			atomic_store(&st->fails, 0);
			atomic_store(&st->passive_down, false);
			atomic_store(&st->retry_at_ms, 0);
			atomic_store(&st->rest_until_ms, 0);
			snprintf(why, sizeof(why),
			    "check passed (%u consecutive success%s)",
			    st->check_ok, st->check_ok == 1 ? "" : "es");
			server_set_up(s, true, why, now);
		}
		if (st->check_ok > 0)
			st->check_fresh = false;
	} else {
		st->check_ok = 0;
		if (st->check_fail < UINT32_MAX)
			st->check_fail++;
		if (log_enabled(LOG_DEBUG)) {
			struct log_ctx ctx;

			health_log_ctx(s, &ctx);
			log_msg(LOG_DEBUG, &ctx, "check of %s/%s failed: %s",
			    s->pool->name, s->name, reason);
		}
		/* initial_state up: the first result decides (HAProxy's
		 * init-state up), later ones need `fall` in a row. */
		if (atomic_load(&st->up) && (st->check_fail >= c->cfg->fall ||
		    st->check_fresh)) {
			snprintf(why, sizeof(why),
			    "%s (%u consecutive failed check%s)", reason,
			    st->check_fail, st->check_fail == 1 ? "" : "s");
			server_set_up(s, false, why, (int64_t)now_ms());
		}
		/* Resting after traffic failures and failing the check too:
		 * not merely resting, so no last resort for the pickers
		 * (balance_pick_ex) until a check passes again. */
		if (st->check_fail >= c->cfg->fall)
			atomic_store(&st->check_failing, true);
		st->check_fresh = false;
	}

	/* Start to start: the next check begins one interval after this one
	 * began, however long this one took. */
	next = c->started + (ev_tstamp)c->cfg->interval_ms / 1000. -
	    ev_now(health.loop);
	health_schedule(c, next);
}

static void
health_check_errno(struct health_check *c, int err)
{
	if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
		return;
	health_check_done(c, health_errno_reason(err), true);
}

/* After connecting, or after sending: what comes next. */
static void
health_check_next(struct health_check *c)
{
	const struct health_cfg *cfg = c->cfg;

	if (c->sent < c->out_len) {
		c->state = CHECK_SENDING;
		ev_io_stop(health.loop, &c->io);
		ev_io_set(&c->io, c->fd, EV_WRITE);
		ev_io_start(health.loop, &c->io);
		return;
	}
	if (c->got < cfg->expect_len) {
		c->state = CHECK_READING;
		ev_io_stop(health.loop, &c->io);
		ev_io_set(&c->io, c->fd, EV_READ);
		ev_io_start(health.loop, &c->io);
		return;
	}
	health_check_done(c, NULL, true);
}

static void
health_send(struct health_check *c)
{
	while (c->sent < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->sent,
		    c->out_len - c->sent, MSG_NOSIGNAL);

		if (n < 0) {
			health_check_errno(c, errno);
			return;
		}
		c->sent += (size_t)n;
	}
	health_check_next(c);
}

static void
health_read(struct health_check *c)
{
	const struct health_cfg *cfg = c->cfg;

	while (c->got < cfg->expect_len) {
		ssize_t n = recv(c->fd, c->buf + c->got,
		    cfg->expect_len - c->got, 0);

		if (n < 0) {
			health_check_errno(c, errno);
			return;
		}
		if (n == 0) {
			health_check_done(c, "connection closed", true);
			return;
		}
		/* Compare as bytes arrive: a wrong first byte is a bad reply
		 * now, not after the timeout. */
		if (memcmp(c->buf + c->got, cfg->expect + c->got,
		    (size_t)n) != 0) {
			health_check_done(c, "bad reply", true);
			return;
		}
		c->got += (size_t)n;
	}
	health_check_done(c, NULL, true);
}

static void
health_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct health_check *c = w->data;
	int err;

	(void)loop;
	(void)revents;
	switch (c->state) {
	case CHECK_CONNECTING:
		err = net_connect_result(c->fd);
		if (err != 0) {
			bool local = health_errno_local(err);

			if (local)
				health_local_error(c, err);
			health_check_done(c, health_errno_reason(err), !local);
			return;
		}
		health_check_next(c);
		break;
	case CHECK_SENDING:
		health_send(c);
		break;
	case CHECK_READING:
		health_read(c);
		break;
	case CHECK_IDLE:
		/* Cannot happen: the io watcher is stopped when idle. */
		ev_io_stop(health.loop, &c->io);
		break;
	}
}

static void
health_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct health_check *c = w->data;

	(void)loop;
	(void)revents;
	health_check_done(c, c->state == CHECK_CONNECTING ?
	    "connect timeout" : "timeout", true);
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
	bool in_progress = false;

	c->started = ev_now(health.loop);
	c->epoch = atomic_load(&s->st->passive_epoch);
	c->sent = 0;
	c->got = 0;
	/* maint (admin socket): no checks until the operator says ready;
	 * look again one interval later. */
	if (atomic_load(&s->st->admin) == SRV_ADMIN_MAINT) {
		health_schedule(c, (ev_tstamp)c->cfg->interval_ms / 1000.);
		return;
	}
	/* From the source that traffic uses: the check tests that path. */
	c->fd = net_connect((const struct sockaddr *)&s->addr, s->addrlen,
	    s->source.len ? &s->source.u.sa : NULL, s->source.len, &in_progress);
	if (c->fd < 0) {
		int err = errno;

		if (health_errno_local(err)) {
			health_local_error(c, err);
			health_check_done(c, NULL, false);
			return;
		}
		health_check_done(c, health_errno_reason(err), true);
		return;
	}
	ev_timer_set(&c->timeout, (ev_tstamp)c->cfg->timeout_ms / 1000., 0.);
	ev_timer_start(health.loop, &c->timeout);
	if (in_progress) {
		c->state = CHECK_CONNECTING;
		ev_io_set(&c->io, c->fd, EV_WRITE);
		ev_io_start(health.loop, &c->io);
		return;
	}
	health_check_next(c);
}

/* Stop c's watchers and socket and free it. */
static void
health_check_free(struct health_check *c)
{
	ev_io_stop(health.loop, &c->io);
	ev_timer_stop(health.loop, &c->timeout);
	ev_timer_stop(health.loop, &c->sched);
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->srv->st->check == c)
		c->srv->st->check = NULL;
	free(c->buf);
	free(c->out);
	free(c);
}

void
health_stop(void)
{
	for (size_t i = 0; i < health.nchecks; i++)
		health_check_free(health.checks[i]);
	free(health.checks);
	health.checks = NULL;
	health.nchecks = 0;
	if (health.gen) {
		gen_put(health.gen);
		health.gen = NULL;
	}
}

/* The bytes a check of s sends, built once: with send_proxy, a PROXY
 * header for "no client" first -- v2 LOCAL, or v1 "PROXY UNKNOWN" for a
 * server that is sent v1 -- since a server that expects a header would
 * reject a check without one.  *out is NULL when nothing is sent. */
static void
health_build_out(const struct server *s, const struct health_cfg *cfg,
    char **out, size_t *out_len)
{
	char hdr[PROXY_BUILD_MAX];
	size_t hl = 0;

	if (cfg->send_proxy)
		hl = proxy_build_local(s->proxy_protocol == PROXY_V1 ?
		    PROXY_V1 : PROXY_V2, hdr, sizeof(hdr));
	*out_len = hl + cfg->send_len;
	*out = NULL;
	if (*out_len == 0)
		return;
	*out = xmalloc(*out_len);
	memcpy(*out, hdr, hl);
	if (cfg->send_len)
		memcpy(*out + hl, cfg->send, cfg->send_len);
}

static bool
health_same_probe(const struct health_cfg *a, const struct health_cfg *b)
{
	return a->timeout_ms == b->timeout_ms && a->send_len == b->send_len &&
	    a->expect_len == b->expect_len &&
	    (a->send_len == 0 || memcmp(a->send, b->send, a->send_len) == 0) &&
	    (a->expect_len == 0 ||
	    memcmp(a->expect, b->expect, a->expect_len) == 0);
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
	bool same = health_same_probe(c->cfg, cfg);
	ev_tstamp next;
	char *out;
	size_t out_len;

	/* What goes out includes the PROXY header, which depends on the
	 * server's proxy_protocol as well as on the check. */
	health_build_out(s, cfg, &out, &out_len);
	same = same && out_len == c->out_len &&
	    (out_len == 0 || memcmp(out, c->out, out_len) == 0);
	free(c->out);
	c->out = out;
	c->out_len = out_len;
	c->kept = true;
	c->srv = s;
	if (c->state != CHECK_IDLE && !same) {
		/* Abort quietly: the next one starts on schedule. */
		ev_io_stop(health.loop, &c->io);
		ev_timer_stop(health.loop, &c->timeout);
		close(c->fd);
		c->fd = -1;
		c->state = CHECK_IDLE;
	}
	if (!same) {
		free(c->buf);
		c->buf = cfg->expect_len ? xmalloc(cfg->expect_len) : NULL;
	}
	c->cfg = cfg;
	if (c->state != CHECK_IDLE)
		return;		/* its end schedules the next one */
	/* The check already due keeps its time (a first one its place in
	 * the spread), only never later than one new interval from now. */
	next = ev_is_active(&c->sched) ?
	    ev_timer_remaining(health.loop, &c->sched) :
	    c->started + interval - ev_now(health.loop);
	if (next > interval)
		next = interval;
	health_schedule(c, next);
}

void
health_start(struct ev_loop *loop, struct gen *g)
{
	struct health_check **old = health.checks;
	size_t nold = health.nchecks, n = 0, k = 0;
	struct gen *oldgen = health.gen;

	/* Reference first: g may be the generation being replaced, and the
	 * old set may hold its last reference. */
	if (g != NULL)
		gen_get(g);
	health.loop = loop;
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
			c->cfg = cfg;
			c->kept = true;
			c->fd = -1;
			c->state = CHECK_IDLE;
			s->st->check = c;
			if (cfg->expect_len)
				c->buf = xmalloc(cfg->expect_len);
			health_build_out(s, cfg, &c->out, &c->out_len);
			ev_io_init(&c->io, health_io_cb, -1, 0);
			c->io.data = c;
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
	for (size_t i = 0; i < nold; i++)
		if (!old[i]->kept)
			health_check_free(old[i]);
	free(old);
	if (oldgen != NULL)
		gen_put(oldgen);
	if (n > 0)
		log_debug("health: checking %zu server%s", n, n == 1 ? "" : "s");
}
