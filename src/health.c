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
 * worker threads see nothing but the atomic up flag.
 *
 * Timing: a check starts every interval (measured start to start, so a
 * slow failure does not stretch the period), the first ones spread over
 * the interval.  Detection therefore takes at most interval * fall +
 * timeout, recovery at most interval * rise + timeout.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gen.h"
#include "health.h"
#include "log.h"
#include "net.h"
#include "pool.h"
#include "util.h"

enum check_state {
	CHECK_IDLE,		/* waiting for the schedule timer */
	CHECK_CONNECTING,	/* ev_io on EV_WRITE until connected */
	CHECK_SENDING,		/* writing health.send */
	CHECK_READING,		/* reading up to health.expect_len bytes */
};

struct health_check {
	struct server *srv;
	const struct health_cfg *cfg;
	enum check_state state;
	int fd;			/* -1 unless a check is in progress */
	size_t sent;
	size_t got;
	ev_tstamp started;	/* ev_now() when the current check began */
	ev_io io;
	ev_timer timeout;
	ev_timer sched;
	char *buf;		/* expect_len bytes, when expecting */
};

static struct {
	struct ev_loop *loop;
	struct gen *gen;
	struct health_check *checks;
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
	    err == ENOMEM || err == EADDRNOTAVAIL;
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
	if (!counts) {
		/* Nothing to count, nothing to decide. */
	} else if (reason == NULL) {
		st->check_fail = 0;
		if (st->check_ok < UINT32_MAX)
			st->check_ok++;
		if (!atomic_load(&st->up) && st->check_ok >= c->cfg->rise) {
			/* Whatever marked it down (checks or traffic), the
			 * checker is the authority in this pool. */
			atomic_store(&st->fails, 0);
			atomic_store(&st->passive_down, false);
			atomic_store(&st->retry_at_ms, 0);
			snprintf(why, sizeof(why),
			    "check passed (%u consecutive success%s)",
			    st->check_ok, st->check_ok == 1 ? "" : "es");
			server_set_up(s, true, why, (int64_t)now_ms());
		}
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
		if (atomic_load(&st->up) && st->check_fail >= c->cfg->fall) {
			snprintf(why, sizeof(why),
			    "%s (%u consecutive failed check%s)", reason,
			    st->check_fail, st->check_fail == 1 ? "" : "s");
			server_set_up(s, false, why, (int64_t)now_ms());
		}
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

	if (c->sent < cfg->send_len) {
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
	const struct health_cfg *cfg = c->cfg;

	while (c->sent < cfg->send_len) {
		ssize_t n = send(c->fd, cfg->send + c->sent,
		    cfg->send_len - c->sent, MSG_NOSIGNAL);

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
			health_check_done(c, health_errno_reason(err), true);
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
	c->sent = 0;
	c->got = 0;
	/* maint (admin socket): no checks until the operator says ready;
	 * look again one interval later. */
	if (atomic_load(&s->st->admin) == SRV_ADMIN_MAINT) {
		health_schedule(c, (ev_tstamp)c->cfg->interval_ms / 1000.);
		return;
	}
	c->fd = net_connect((const struct sockaddr *)&s->addr, s->addrlen,
	    &in_progress);
	if (c->fd < 0) {
		int err = errno;

		if (health_errno_local(err)) {
			struct log_ctx ctx;

			health_log_ctx(s, &ctx);
			errno = err;
			log_errno(LOG_WARNING, &ctx,
			    "cannot check server %s/%s", s->pool->name,
			    s->name);
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

void
health_stop(void)
{
	for (size_t i = 0; i < health.nchecks; i++) {
		struct health_check *c = &health.checks[i];

		ev_io_stop(health.loop, &c->io);
		ev_timer_stop(health.loop, &c->timeout);
		ev_timer_stop(health.loop, &c->sched);
		if (c->fd >= 0) {
			close(c->fd);
			c->fd = -1;
		}
		free(c->buf);
	}
	free(health.checks);
	health.checks = NULL;
	health.nchecks = 0;
	if (health.gen) {
		gen_put(health.gen);
		health.gen = NULL;
	}
}

void
health_start(struct ev_loop *loop, struct gen *g)
{
	size_t n = 0, k = 0;

	/* Reference first: g may be the generation being stopped, and
	 * health_stop() may hold its last reference. */
	if (g != NULL)
		gen_get(g);
	health_stop();
	health.loop = loop;
	if (g == NULL)
		return;
	health.gen = g;
	for (uint32_t i = 0; i < g->npools; i++)
		if (g->pools[i].health.enabled)
			n += g->pools[i].nservers;
	if (n == 0)
		return;
	health.checks = xcalloc(n, sizeof(*health.checks));
	health.nchecks = n;
	for (uint32_t i = 0; i < g->npools; i++) {
		struct pool *p = &g->pools[i];
		const struct health_cfg *cfg = &p->health;
		ev_tstamp interval = (ev_tstamp)cfg->interval_ms / 1000.;

		if (!cfg->enabled)
			continue;
		for (uint32_t j = 0; j < p->nservers; j++) {
			struct health_check *c = &health.checks[k++];

			c->srv = &p->servers[j];
			c->cfg = cfg;
			c->fd = -1;
			c->state = CHECK_IDLE;
			if (cfg->expect_len)
				c->buf = xmalloc(cfg->expect_len);
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
	log_debug("health: checking %zu server%s", n, n == 1 ? "" : "s");
}
