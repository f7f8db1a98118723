/*
 * health_conn: the one check kind health.c drives (health_int.h): open a
 * non-blocking connection to the server's check port from the traffic
 * source, then hand the socket to the protocol of health_check.type
 * (check.h: check_tcp.c, check_http.c, check_tls.c, check_agent.c), which
 * says what to wait for next or gives the verdict.  Owns the socket and
 * its ev_io; health.c owns when it runs and what the result means.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/net.h"
#include "base/util.h"
#include "health/check.h"
#include "health/health_int.h"

enum conn_phase {
	CONN_IDLE,
	CONN_CONNECTING,	/* ev_io on EV_WRITE until connected */
	CONN_TALKING,		/* the protocol's turn: ev_io as it asks */
};

struct conn_priv {
	const struct check_kind *k;
	struct check_io io;
	bool started;		/* io is live (k->end owed) */
};

static void
conn_abort(struct health_check *c)
{
	struct conn_priv *p = c->priv;

	/* Watcher first: a stopped watcher also loses pending events, so
	 * nothing can fire for a closed (and maybe reused) fd. */
	ev_io_stop(c->loop, &c->io);
	if (p != NULL && p->started) {
		if (p->k->end != NULL)
			p->k->end(&p->io);
		free(p->io.in);
		p->io.in = NULL;
		p->started = false;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->phase = CONN_IDLE;
}

static void
conn_verdict(struct health_check *c, enum check_step st)
{
	struct conn_priv *p = c->priv;
	char why[sizeof(p->io.text)];

	switch (st) {
	case CS_READ:
	case CS_WRITE:
		c->phase = CONN_TALKING;
		ev_io_stop(c->loop, &c->io);
		ev_io_set(&c->io, c->fd, st == CS_READ ? EV_READ : EV_WRITE);
		ev_io_start(c->loop, &c->io);
		return;
	case CS_PASS:
		memcpy(c->result, p->io.text, sizeof(c->result));
		c->agent_valid = p->io.agent_valid;
		c->agent = p->io.agent;
		c->agent.desc = NULL;	/* points into the buffer freed next */
		health_check_done(c, NULL, true);
		return;
	case CS_FAIL:
		memcpy(why, p->io.text, sizeof(why));
		if (why[0] == '\0')
			memcpy(why, "failed", 7);
		c->why = p->io.reason;
		c->agent_valid = p->io.agent_valid;
		c->agent = p->io.agent;
		c->agent.desc = NULL;
		health_check_done(c, why, true);
		return;
	}
}

static void
conn_connected(struct health_check *c)
{
	struct conn_priv *p = c->priv;
	int err = net_connect_result(c->fd);

	if (err != 0) {
		bool local = health_errno_local(err);

		if (local)
			health_local_error(c, err);
		c->why = CR_OTHER;
		(void)check_errno_text(err, &c->why);
		health_check_done(c, health_errno_reason(err), !local);
		return;
	}
	p->started = true;
	conn_verdict(c, p->k->start(&p->io));
}

static void
conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct health_check *c = w->data;
	struct conn_priv *p = c->priv;

	(void)loop;
	switch (c->phase) {
	case CONN_CONNECTING:
		conn_connected(c);
		break;
	case CONN_TALKING:
		conn_verdict(c, (revents & EV_READ) ? p->k->readable(&p->io) :
		    p->k->writable(&p->io));
		break;
	default:
		ev_io_stop(c->loop, &c->io);
		break;
	}
}

/* Where checks of s go: the agent's port for an agent check, else the
 * server's check_port, else health_check.port, else the traffic port. */
static void
conn_target(const struct server *s, const struct health_cfg *cfg,
    struct sockaddr_storage *ss)
{
	uint16_t port = 0;

	memcpy(ss, &s->addr, sizeof(*ss));
	if (cfg->type == HEALTH_AGENT)
		port = s->agent_port;
	if (port == 0)
		port = s->check_port;
	if (port == 0)
		port = cfg->port;
	if (port == 0)
		return;
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static void
conn_start(struct health_check *c)
{
	const struct server *s = c->srv;
	struct conn_priv *p = c->priv;
	struct sockaddr_storage to;
	bool in_progress = false;

	ev_io_init(&c->io, conn_io_cb, -1, 0);
	c->io.data = c;
	memset(&p->io, 0, sizeof(p->io));
	p->io.fd = -1;
	p->io.srv = s;
	p->io.cfg = c->cfg;
	p->io.out = c->out;
	p->io.out_len = c->out_len;
	p->k = check_kind_of(c->cfg->type);
	conn_target(s, c->cfg, &to);
	/* From the source that traffic uses: the check tests that path. */
	c->fd = net_connect((const struct sockaddr *)&to, s->addrlen,
	    s->source.len ? &s->source.u.sa : NULL, s->source.len, &in_progress);
	if (c->fd < 0) {
		int err = errno;

		if (health_errno_local(err)) {
			health_local_error(c, err);
			health_check_done(c, NULL, false);
			return;
		}
		(void)check_errno_text(err, &c->why);
		health_check_done(c, health_errno_reason(err), true);
		return;
	}
	p->io.fd = c->fd;
	if (in_progress) {
		c->phase = CONN_CONNECTING;
		ev_io_set(&c->io, c->fd, EV_WRITE);
		ev_io_start(c->loop, &c->io);
		return;
	}
	p->started = true;
	conn_verdict(c, p->k->start(&p->io));
}

/* The timeout fired.  Only what the socket says counts: if the loop ran
 * late, the connect (or the reply) may have completed long ago with its
 * event still pending, so look before failing the check. */
static bool
conn_progress(struct health_check *c)
{
	struct pollfd pfd = { .fd = c->fd };
	int ev;

	if (c->fd < 0 || c->phase == CONN_IDLE || !ev_is_active(&c->io))
		return false;
	ev = c->io.events & (EV_READ | EV_WRITE);
	pfd.events = ev & EV_READ ? POLLIN : POLLOUT;
	if (poll(&pfd, 1, 0) <= 0)
		return false;
	conn_io_cb(c->loop, &c->io, ev);
	return !c->running;
}

static const char *
conn_timeout_reason(struct health_check *c)
{
	const struct conn_priv *p = c->priv;

	if (c->phase == CONN_CONNECTING) {
		c->why = CR_CONNECT_TIMEOUT;
		return "connect timeout";
	}
	c->why = CR_TIMEOUT;
	return p != NULL && p->io.in_len > 0 ? "timeout (reply incomplete)" :
	    "timeout (no reply)";
}

static bool
str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
conn_prepare(struct health_check *c, const struct server *s,
    const struct health_cfg *cfg)
{
	const struct health_cfg *old = c->cfg;
	const struct server *olds = c->srv;
	size_t out_len;
	char *out = NULL;
	bool same;

	if (c->priv == NULL)
		c->priv = xcalloc(1, sizeof(struct conn_priv));
	check_kind_of(cfg->type)->build(s, cfg, &out, &out_len);
	/* A reload loads a new TLS context: the same CA file and name make
	 * the same probe (a handshake in flight keeps its own reference). */
	same = old != NULL && olds != NULL && old->type == cfg->type &&
	    old->port == cfg->port && str_eq(old->verify, cfg->verify) &&
	    str_eq(old->host, cfg->host) &&
	    s->check_port == olds->check_port &&
	    s->agent_port == olds->agent_port &&
	    old->timeout_ms == cfg->timeout_ms &&
	    old->expect_len == cfg->expect_len &&
	    (cfg->expect_len == 0 ||
	    memcmp(old->expect, cfg->expect, cfg->expect_len) == 0) &&
	    old->expect_status.n == cfg->expect_status.n &&
	    memcmp(&old->expect_status, &cfg->expect_status,
	    sizeof(cfg->expect_status)) == 0 &&
	    out_len == c->out_len &&
	    (out_len == 0 || memcmp(out, c->out, out_len) == 0);
	free(c->out);
	c->out = out;
	c->out_len = out_len;
	if (same) {
		/* A check in flight goes on with the new (equal) settings. */
		struct conn_priv *p = c->priv;

		p->io.cfg = cfg;
		p->io.srv = s;
		p->io.out = out;
		p->io.out_len = out_len;
	}
	return same;
}

static void
conn_release(struct health_check *c)
{
	free(c->out);
	c->out = NULL;
	c->out_len = 0;
	free(c->priv);
	c->priv = NULL;
}

const struct health_kind health_kind_conn = {
	.name = "conn",
	.prepare = conn_prepare,
	.start = conn_start,
	.progress = conn_progress,
	.timeout_reason = conn_timeout_reason,
	.abort = conn_abort,
	.release = conn_release,
};
