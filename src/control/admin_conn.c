/*
 * admin_conn: the non-blocking plumbing of one admin or metrics
 * connection.  See admin_conn.h; the owner decides what a request is and
 * what the answer says, this file only moves bytes and keeps time.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/net.h"
#include "base/util.h"
#include "control/admin_conn.h"

static void aconn_io_cb(struct ev_loop *loop, ev_io *io, int revents);
static void aconn_timer_cb(struct ev_loop *loop, ev_timer *t, int revents);
static void aconn_deadline_cb(struct ev_loop *loop, ev_timer *t,
    int revents);

static void
aconn_progress(struct aconn *c)
{
	ev_timer_again(c->loop, &c->timer);
}

struct aconn *
aconn_new(struct ev_loop *loop, int fd, size_t inmax, double timeout,
    const struct aconn_ops *ops, void *owner)
{
	struct aconn *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->fd = fd;
	c->inmax = inmax;
	c->in = xmalloc(inmax + 1);
	c->timeout = timeout;
	c->ops = ops;
	c->owner = owner;
	ev_io_init(&c->io, aconn_io_cb, fd, EV_READ);
	c->io.data = c;
	ev_init(&c->timer, aconn_timer_cb);
	c->timer.repeat = timeout;
	c->timer.data = c;
	ev_init(&c->deadline, aconn_deadline_cb);
	c->deadline.data = c;
	ev_io_start(loop, &c->io);
	aconn_progress(c);
	return c;
}

void
aconn_set_deadlines(struct aconn *c, double head_s, double answer_s)
{
	c->answer_s = answer_s;
	ev_timer_stop(c->loop, &c->deadline);
	ev_timer_set(&c->deadline, head_s, 0.);
	ev_timer_start(c->loop, &c->deadline);
}

static void
aconn_free(struct aconn *c)
{
	if (c->ops->closed)
		c->ops->closed(c);
	sbuf_free(&c->out);
	free(c->in);
	free(c);
}

void
aconn_abort(struct aconn *c)
{
	ev_io_stop(c->loop, &c->io);
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_stop(c->loop, &c->deadline);
	net_close_reset(c->fd);
	aconn_free(c);
}

void
aconn_close(struct aconn *c)
{
	char junk[4096];

	ev_io_stop(c->loop, &c->io);
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_stop(c->loop, &c->deadline);
	/* Unread input would turn close() into a reset that can destroy the
	 * answer before the client reads it: read what is there, send FIN. */
	shutdown(c->fd, SHUT_WR);
	for (int i = 0; i < 16 && read(c->fd, junk, sizeof(junk)) > 0; i++)
		;
	close(c->fd);
	aconn_free(c);
}

static void
aconn_write(struct aconn *c)
{
	for (;;) {
		ssize_t n;

		if (c->outoff == c->out.len) {
			sbuf_reset(&c->out);
			c->outoff = 0;
			if (c->more && c->ops->refill)
				c->ops->refill(c);
			if (c->out.len == 0) {
				if (c->more)	/* nothing yet; owner will send */
					return;
				aconn_close(c);
				return;
			}
		}
		n = write(c->fd, c->out.p + c->outoff, c->out.len - c->outoff);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev_io_stop(c->loop, &c->io);
				ev_io_set(&c->io, c->fd, EV_WRITE);
				ev_io_start(c->loop, &c->io);
				return;
			}
			aconn_close(c);		/* reset, EPIPE: nobody to answer */
			return;
		}
		c->outoff += (size_t)n;
		aconn_progress(c);
		/* Keep the buffer small: drop what went out once it is big. */
		if (c->outoff >= ACONN_OUT_LOW && c->outoff * 2 >= c->out.len) {
			sbuf_consume(&c->out, c->outoff);
			c->outoff = 0;
			if (c->more && c->out.len < ACONN_OUT_LOW && c->ops->refill)
				c->ops->refill(c);
		}
	}
}

void
aconn_send(struct aconn *c)
{
	c->answering = true;
	c->waiting = false;
	/* The head's deadline is met; the answer gets its own. */
	ev_timer_stop(c->loop, &c->deadline);
	if (c->answer_s > 0) {
		ev_timer_set(&c->deadline, c->answer_s, 0.);
		ev_timer_start(c->loop, &c->deadline);
	}
	ev_io_stop(c->loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_WRITE);
	aconn_progress(c);
	aconn_write(c);
}

static void
aconn_read(struct aconn *c)
{
	enum aconn_next next = ACONN_MORE;

	while (next == ACONN_MORE) {
		ssize_t n;

		if (c->inlen == c->inmax) {
			next = c->ops->input(c, false, true);
			if (next == ACONN_MORE)
				next = ACONN_ANSWER;	/* whatever it put in out */
			break;
		}
		n = read(c->fd, c->in + c->inlen, c->inmax - c->inlen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			aconn_close(c);
			return;
		}
		if (n == 0) {
			next = c->ops->input(c, true, false);
			if (next == ACONN_MORE)
				next = ACONN_ANSWER;
			break;
		}
		c->inlen += (size_t)n;
		c->in[c->inlen] = '\0';
		aconn_progress(c);
		next = c->ops->input(c, false, false);
	}
	ev_io_stop(c->loop, &c->io);
	c->answering = true;
	if (next == ACONN_LATER) {
		/* Our own work now: the head was in time. */
		ev_timer_stop(c->loop, &c->deadline);
		c->waiting = true;
		return;
	}
	aconn_send(c);
}

static void
aconn_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct aconn *c = io->data;

	if (revents & EV_WRITE)
		aconn_write(c);
	else if (revents & EV_READ)
		aconn_read(c);
}

static void
aconn_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct aconn *c = t->data;

	/* Waiting on our own work (a reload, the workers) is not the
	 * client's fault: only a stalled read or write times out. */
	if (c->waiting) {
		aconn_progress(c);
		return;
	}
	aconn_close(c);
}

/* A request head still incomplete, or an answer still not taken, at its
 * deadline: the client is too slow (or trickling on purpose).  Reset: a
 * slot and a buffer must not be held at the pace of a byte per timeout. */
static void
aconn_deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct aconn *c = t->data;

	(void)loop;
	(void)revents;
	if (c->waiting)
		return;		/* stopped when waiting begins; be safe */
	aconn_abort(c);
}
