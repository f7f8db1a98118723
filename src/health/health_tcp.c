/*
 * health_tcp: the TCP check kind -- connect from the server's source,
 * optionally send health.send (after a PROXY header with send_proxy),
 * optionally expect health.expect as the first bytes of the reply.  It owns
 * the check's socket and ev_io; health.c owns when it runs and what the
 * result means.
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/net.h"
#include "base/util.h"
#include "health/health_int.h"
#include "parse/proxy_proto.h"

enum tcp_phase {
	TCP_IDLE,
	TCP_CONNECTING,		/* ev_io on EV_WRITE until connected */
	TCP_SENDING,		/* writing c->out */
	TCP_READING,		/* reading up to expect_len bytes */
};

static void
tcp_abort(struct health_check *c)
{
	/* Watcher first: a stopped watcher also loses pending events, so
	 * nothing can fire for a closed (and maybe reused) fd. */
	ev_io_stop(c->loop, &c->io);
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->phase = TCP_IDLE;
}

static void
tcp_errno(struct health_check *c, int err)
{
	if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
		return;
	health_check_done(c, health_errno_reason(err), true);
}

static void
tcp_watch(struct health_check *c, enum tcp_phase phase, int events)
{
	c->phase = phase;
	ev_io_stop(c->loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(c->loop, &c->io);
}

static void tcp_send(struct health_check *c);
static void tcp_read(struct health_check *c);

/* After connecting, or after sending: what comes next. */
static void
tcp_next(struct health_check *c)
{
	if (c->sent < c->out_len) {
		tcp_watch(c, TCP_SENDING, EV_WRITE);
		tcp_send(c);
		return;
	}
	if (c->got < c->cfg->expect_len) {
		tcp_watch(c, TCP_READING, EV_READ);
		tcp_read(c);
		return;
	}
	health_check_done(c, NULL, true);
}

static void
tcp_send(struct health_check *c)
{
	while (c->sent < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->sent,
		    c->out_len - c->sent, MSG_NOSIGNAL);

		if (n < 0) {
			tcp_errno(c, errno);
			return;
		}
		c->sent += (size_t)n;
	}
	tcp_next(c);
}

static void
tcp_read(struct health_check *c)
{
	const struct health_cfg *cfg = c->cfg;

	while (c->got < cfg->expect_len) {
		ssize_t n = recv(c->fd, c->buf + c->got,
		    cfg->expect_len - c->got, 0);

		if (n < 0) {
			tcp_errno(c, errno);
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
tcp_connected(struct health_check *c)
{
	int err = net_connect_result(c->fd);

	if (err != 0) {
		bool local = health_errno_local(err);

		if (local)
			health_local_error(c, err);
		health_check_done(c, health_errno_reason(err), !local);
		return;
	}
	tcp_next(c);
}

static void
tcp_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct health_check *c = w->data;

	(void)loop;
	(void)revents;
	switch (c->phase) {
	case TCP_CONNECTING:
		tcp_connected(c);
		break;
	case TCP_SENDING:
		tcp_send(c);
		break;
	case TCP_READING:
		tcp_read(c);
		break;
	default:
		ev_io_stop(c->loop, &c->io);
		break;
	}
}

static void
tcp_start(struct health_check *c)
{
	const struct server *s = c->srv;
	bool in_progress = false;

	c->sent = 0;
	c->got = 0;
	ev_io_init(&c->io, tcp_io_cb, -1, 0);
	c->io.data = c;
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
	if (in_progress) {
		tcp_watch(c, TCP_CONNECTING, EV_WRITE);
		return;
	}
	tcp_next(c);
}

/* The timeout fired.  Only what the socket says counts: if the loop ran
 * late, the connect (or the reply) may have completed long ago with its
 * event still pending, so look before failing the check. */
static bool
tcp_progress(struct health_check *c)
{
	struct pollfd pfd = { .fd = c->fd };

	if (c->fd < 0)
		return false;
	switch (c->phase) {
	case TCP_CONNECTING:
		pfd.events = POLLOUT;
		break;
	case TCP_SENDING:
		pfd.events = POLLOUT;
		break;
	case TCP_READING:
		pfd.events = POLLIN;
		break;
	default:
		return false;
	}
	if (poll(&pfd, 1, 0) <= 0)
		return false;
	tcp_io_cb(c->loop, &c->io, 0);
	return !c->running;
}

static const char *
tcp_timeout_reason(const struct health_check *c)
{
	return c->phase == TCP_CONNECTING ? "connect timeout" : "timeout";
}

/* The bytes a check of s sends: with send_proxy, a PROXY header for "no
 * client" first -- v2 LOCAL, or v1 "PROXY UNKNOWN" for a server that is
 * sent v1 -- since a server that expects a header would reject a check
 * without one. */
static bool
tcp_prepare(struct health_check *c, const struct server *s,
    const struct health_cfg *cfg)
{
	const struct health_cfg *old = c->cfg;
	char hdr[PROXY_BUILD_MAX];
	size_t hl = 0, out_len;
	char *out = NULL;
	bool same;

	if (cfg->send_proxy)
		hl = proxy_build_local(s->proxy_protocol == PROXY_V1 ?
		    PROXY_V1 : PROXY_V2, hdr, sizeof(hdr));
	out_len = hl + cfg->send_len;
	if (out_len > 0) {
		out = xmalloc(out_len);
		memcpy(out, hdr, hl);
		if (cfg->send_len)
			memcpy(out + hl, cfg->send, cfg->send_len);
	}
	same = old != NULL && old->timeout_ms == cfg->timeout_ms &&
	    old->expect_len == cfg->expect_len &&
	    (cfg->expect_len == 0 ||
	    memcmp(old->expect, cfg->expect, cfg->expect_len) == 0) &&
	    out_len == c->out_len &&
	    (out_len == 0 || memcmp(out, c->out, out_len) == 0);
	free(c->out);
	c->out = out;
	c->out_len = out_len;
	if (!same) {
		/* A check in flight is aborted by health.c right after this,
		 * before any I/O could use the new buffer. */
		free(c->buf);
		c->buf = cfg->expect_len ? xmalloc(cfg->expect_len) : NULL;
	}
	return same;
}

static void
tcp_release(struct health_check *c)
{
	free(c->buf);
	free(c->out);
	c->buf = NULL;
	c->out = NULL;
	c->out_len = 0;
}

const struct health_kind health_kind_tcp = {
	.name = "tcp",
	.prepare = tcp_prepare,
	.start = tcp_start,
	.progress = tcp_progress,
	.timeout_reason = tcp_timeout_reason,
	.abort = tcp_abort,
	.release = tcp_release,
};
