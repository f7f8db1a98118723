/*
 * health_udp: the check kind of pools that serve UDP listeners -- one
 * datagram from a socket connected to the server (from its source), then
 * the verdict, as nginx's UDP checks: an ICMP port unreachable (seen as
 * ECONNREFUSED on the connected socket) fails; with `expect` the first
 * reply must start with it; without, any reply passes at once and silence
 * until the timeout passes too.  It owns the check's socket and ev_io;
 * health.c owns when it runs and what the result means.
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

/* What goes out when `send` is not set: a server needs something to
 * answer (or to refuse with an ICMP error). */
#define UDP_CHECK_DEFAULT_SEND "tcplb health check"

enum udp_phase {
	UDP_IDLE,
	UDP_WAITING,		/* datagram sent, ev_io on EV_READ */
};

static void
udp_abort(struct health_check *c)
{
	ev_io_stop(c->loop, &c->io);
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->phase = UDP_IDLE;
}

static const char *
udp_errno_reason(int err)
{
	return err == ECONNREFUSED ? "port unreachable (ICMP)" :
	    health_errno_reason(err);
}

/* The socket is readable: one datagram (its first expect_len bytes), or
 * the ICMP error the kernel queued for it. */
static void
udp_read(struct health_check *c)
{
	const struct health_cfg *cfg = c->cfg;
	char none[1];
	ssize_t n;

	/* Only the first expect_len bytes matter: the rest of a longer
	 * reply goes with the datagram. */
	if (cfg->expect_len == 0)
		n = recv(c->fd, none, sizeof(none), 0);
	else
		n = recv(c->fd, c->buf, cfg->expect_len, 0);
	if (n < 0) {
		/* EMSGSIZE: an ICMP "fragmentation needed" quoting the
		 * check's small datagram -- stale or spoofed, not the
		 * server's answer: the reply (or the timeout) still decides. */
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
		    errno == EMSGSIZE)
			return;
		c->why = CR_OTHER;
		(void)check_errno_text(errno, &c->why);
		health_check_done(c, udp_errno_reason(errno), true);
		return;
	}
	if (cfg->expect_len > 0 && ((size_t)n < cfg->expect_len ||
	    memcmp(c->buf, cfg->expect, cfg->expect_len) != 0)) {
		c->why = CR_BAD_REPLY;
		health_check_done(c, "bad reply", true);
		return;
	}
	health_check_done(c, NULL, true);
}

static void
udp_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct health_check *c = w->data;

	(void)loop;
	(void)revents;
	if (c->phase == UDP_WAITING)
		udp_read(c);
	else
		ev_io_stop(c->loop, &c->io);
}

static void
udp_start(struct health_check *c)
{
	const struct server *s = c->srv;
	int err;

	ev_io_init(&c->io, udp_io_cb, -1, 0);
	c->io.data = c;
	/* From the source that traffic uses: the check tests that path. */
	c->fd = net_udp_connect((const struct sockaddr *)&s->addr, s->addrlen,
	    s->source.len ? &s->source.u.sa : NULL, s->source.len, false);
	if (c->fd < 0 || send(c->fd, c->out, c->out_len, 0) < 0) {
		err = errno;
		if (health_errno_local(err)) {
			health_local_error(c, err);
			health_check_done(c, NULL, false);
			return;
		}
		c->why = CR_OTHER;
		(void)check_errno_text(err, &c->why);
		health_check_done(c, udp_errno_reason(err), true);
		return;
	}
	c->phase = UDP_WAITING;
	ev_io_set(&c->io, c->fd, EV_READ);
	ev_io_start(c->loop, &c->io);
}

/* The timeout fired: the answer (or the ICMP error) may be waiting with
 * its event still pending if the loop ran late. */
static bool
udp_progress(struct health_check *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

	if (c->fd < 0 || c->phase != UDP_WAITING || poll(&pfd, 1, 0) <= 0)
		return false;
	udp_read(c);
	return !c->running;
}

/* Silence is a pass when nothing is expected: only an ICMP error would
 * have said no (NULL: success). */
static const char *
udp_timeout_reason(struct health_check *c)
{
	if (c->cfg->expect_len == 0)
		return NULL;
	c->why = CR_TIMEOUT;
	return "timeout";
}

static bool
udp_prepare(struct health_check *c, const struct server *s,
    const struct health_cfg *cfg)
{
	const struct health_cfg *old = c->cfg;
	const char *send = cfg->send_len ? cfg->send : UDP_CHECK_DEFAULT_SEND;
	size_t out_len = cfg->send_len ? cfg->send_len :
	    strlen(UDP_CHECK_DEFAULT_SEND);
	bool same;

	(void)s;
	same = old != NULL && old->timeout_ms == cfg->timeout_ms &&
	    old->expect_len == cfg->expect_len &&
	    (cfg->expect_len == 0 ||
	    memcmp(old->expect, cfg->expect, cfg->expect_len) == 0) &&
	    out_len == c->out_len && memcmp(send, c->out, out_len) == 0;
	free(c->out);
	c->out = xmalloc(out_len);
	memcpy(c->out, send, out_len);
	c->out_len = out_len;
	if (!same) {
		free(c->buf);
		c->buf = cfg->expect_len ? xmalloc(cfg->expect_len) : NULL;
	}
	return same;
}

static void
udp_release(struct health_check *c)
{
	free(c->buf);
	free(c->out);
	c->buf = NULL;
	c->out = NULL;
	c->out_len = 0;
}

const struct health_kind health_kind_udp = {
	.name = "udp",
	.prepare = udp_prepare,
	.start = udp_start,
	.progress = udp_progress,
	.timeout_reason = udp_timeout_reason,
	.abort = udp_abort,
	.release = udp_release,
};
