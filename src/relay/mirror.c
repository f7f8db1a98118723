/*
 * mirror: one shadow connection and the pipe that stages its copy (see
 * mirror.h).  Owned by the session until it closes, then by itself while
 * it flushes what is staged (MIRROR_LINGER_S at most), on the same worker
 * loop.  Cutting is the only answer to trouble: a shadow is never a
 * reason to hold the client back, and a partial copy is never patched up.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "balance/pool.h"
#include "base/log.h"
#include "base/net.h"
#include "base/util.h"
#include "config/gen.h"
#include "parse/proxy_proto.h"
#include "relay/mirror.h"
#include "stats/stats.h"

#define MIRROR_PIPE_SIZE	(1024 * 1024)	/* the default pipe-max-size */
#define MIRROR_LINGER_S		2.0	/* after the session: flush, or cut */

struct mirror {
	struct ev_loop *loop;
	struct gen *gen;		/* referenced: srv lives in it */
	struct server *srv;		/* reserved; NULL once released */
	struct mirror_stats *st;
	struct stats_srv *sb;		/* the shadow server's counters: set
					 * once connected (show servers) */
	unsigned wid;			/* the worker's */
	ev_tstamp t_start;
	int fd;
	int pipe[2];
	uint32_t staged;		/* bytes in our pipe */
	uint32_t teed;			/* head bytes of the source pipe copied */
	uint64_t bytes;			/* delivered to the shadow */
	ev_io io;
	ev_timer timer;			/* connect timeout, then the linger */
	int mask;
	bool connecting;
	bool cut;
	bool eof;			/* the client ended: shut when flushed */
	bool shut;
	bool detached;			/* the session is gone: we own ourselves */
	struct mirror *prev, *next;	/* st->lingering, once detached */
};

static void mirror_free(struct mirror *m);
static void mirror_flush(struct mirror *m);

bool
mirror_wanted(const struct pool *p, uint32_t *rnd)
{
	if (p->mirror == NULL || p->mirror_percent == 0)
		return false;
	return p->mirror_percent >= 100 || xorshift32(rnd) % 100 <
	    p->mirror_percent;
}

static void
mirror_set_mask(struct mirror *m, int mask)
{
	if (m->fd < 0 || mask == m->mask)
		return;
	ev_io_stop(m->loop, &m->io);
	m->mask = mask;
	if (mask) {
		ev_io_set(&m->io, m->fd, mask);
		ev_io_start(m->loop, &m->io);
	}
}

/* Give up the copy: everything closed, counted once. */
static void
mirror_do_cut(struct mirror *m, const char *why)
{
	if (m->cut)
		return;
	m->cut = true;
	atomic_store_explicit(&m->st->cuts, atomic_load_explicit(&m->st->cuts,
	    memory_order_relaxed) + 1, memory_order_relaxed);
	log_debug("mirror to %s cut: %s", m->srv ? m->srv->addr_text : "-",
	    why);
	mirror_set_mask(m, 0);
	ev_timer_stop(m->loop, &m->timer);
	if (m->fd >= 0) {
		net_close_reset(m->fd);
		m->fd = -1;
	}
	if (m->pipe[0] >= 0) {
		close(m->pipe[0]);
		close(m->pipe[1]);
		m->pipe[0] = m->pipe[1] = -1;
	}
	m->staged = 0;
	if (m->detached)
		mirror_free(m);
}

static void
mirror_count(struct mirror *m, uint64_t n)
{
	if (m->sb != NULL)
		stats_add(&m->sb->bytes_in, n);
	m->bytes += n;
	atomic_store_explicit(&m->st->bytes, atomic_load_explicit(&m->st->bytes,
	    memory_order_relaxed) + n, memory_order_relaxed);
}

/* Replies are read and dropped (MSG_TRUNC: not even copied). */
static bool
mirror_drain(struct mirror *m)
{
	static _Thread_local char scratch[16384];

	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(m->fd, scratch, sizeof(scratch),
		    MSG_TRUNC | MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n == 0) {
			/* The shadow has said all it will; keep writing
			 * until it closes for good (a reset cuts). */
			mirror_set_mask(m, m->mask & ~EV_READ);
			return true;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return true;
		mirror_do_cut(m, "shadow reset");
		return false;
	}
	return true;
}

static void
mirror_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct mirror *m = io->data;

	(void)loop;
	if (m->connecting) {
		int e = net_connect_result(m->fd);

		if (m->srv != NULL)
			pool_report_connect(m->srv, e == 0, e ? "refused" :
			    NULL, (int64_t)now_ms());
		if (e != 0) {
			mirror_do_cut(m, "shadow connect failed");
			return;
		}
		m->connecting = false;
		m->sb = stats_srv_of(m->srv->st, m->wid);
		stats_connected(m->sb, ev_now(m->loop) - m->t_start, false);
		ev_timer_stop(m->loop, &m->timer);
		if (m->detached) {
			ev_timer_set(&m->timer, MIRROR_LINGER_S, 0.);
			ev_timer_start(m->loop, &m->timer);
		}
		mirror_set_mask(m, EV_READ);
		mirror_flush(m);
		return;
	}
	if ((revents & EV_READ) && !mirror_drain(m))
		return;
	if (revents & EV_WRITE)
		mirror_flush(m);
}

static void
mirror_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct mirror *m = t->data;

	(void)loop;
	(void)revents;
	mirror_do_cut(m, m->connecting ? "shadow connect timeout" :
	    "shadow too slow to take the rest");
}

/* Also while the connect is in progress: a socket not yet connected
 * says EAGAIN, one that is (on loopback, before its event is seen) takes
 * the bytes, and one whose connect failed says why. */
static void
mirror_flush(struct mirror *m)
{
	while (!m->cut && m->staged > 0) {
		ssize_t n = splice(m->pipe[0], NULL, m->fd, NULL, m->staged,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (n > 0) {
			m->staged -= (uint32_t)n;
			mirror_count(m, (uint64_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			mirror_set_mask(m, m->mask | EV_WRITE);
			return;
		}
		mirror_do_cut(m, m->connecting ? "shadow connect failed" :
		    "shadow write failed");
		return;
	}
	if (m->cut || m->connecting)
		return;
	mirror_set_mask(m, m->mask & ~EV_WRITE);
	if (m->eof && !m->shut) {
		(void)shutdown(m->fd, SHUT_WR);
		m->shut = true;
	}
	if (m->detached)
		mirror_free(m);
}

/* Stage bytes with write(): all or cut. */
static void
mirror_stage(struct mirror *m, const struct iovec *iov, int cnt, size_t total)
{
	ssize_t n;

	do {
		n = writev(m->pipe[1], iov, cnt);
	} while (n < 0 && errno == EINTR);
	if (n < 0 || (size_t)n < total) {
		mirror_do_cut(m, "shadow too slow (its copy is full)");
		return;
	}
	m->staged += (uint32_t)n;
	mirror_flush(m);
}

struct mirror *
mirror_open(struct ev_loop *loop, struct gen *g, struct pool *shadow,
    const struct sockaddr *client, const struct sockaddr *local,
    uint32_t *rnd, struct mirror_stats *st, unsigned wid)
{
	struct mirror *m = xcalloc(1, sizeof(*m));
	bool in_progress = false;

	m->loop = loop;
	m->gen = gen_get(g);
	m->st = st;
	m->wid = wid;
	m->t_start = ev_now(loop);
	m->fd = -1;
	m->pipe[0] = m->pipe[1] = -1;
	ev_init(&m->io, mirror_io_cb);
	m->io.data = m;
	ev_init(&m->timer, mirror_timer_cb);
	m->timer.data = m;
	atomic_store_explicit(&st->conns, atomic_load_explicit(&st->conns,
	    memory_order_relaxed) + 1, memory_order_relaxed);
	m->srv = pool_pick(shadow, client, NULL, 0, (int64_t)now_ms(), rnd);
	if (m->srv == NULL) {
		mirror_do_cut(m, "no shadow server available");
		return m;
	}
	if (pipe2(m->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		m->pipe[0] = m->pipe[1] = -1;
		mirror_do_cut(m, "no pipe");
		return m;
	}
	(void)fcntl(m->pipe[1], F_SETPIPE_SZ, MIRROR_PIPE_SIZE);
	/* From the server's source address if it has one; never the
	 * client's (`source: client`): the primary connection holds it. */
	m->fd = net_connect_ex((const struct sockaddr *)&m->srv->addr,
	    m->srv->addrlen, &(struct net_connect_opts){
		.source = m->srv->source.len ? &m->srv->source.u.sa : NULL,
		.sourcelen = m->srv->source.len,
		.mptcp = m->srv->mptcp,
	    }, &in_progress);
	if (m->fd < 0) {
		mirror_do_cut(m, "shadow connect failed");
		return m;
	}
	m->connecting = in_progress;
	if (m->srv->proxy_protocol != PROXY_NONE) {
		char hdr[PROXY_BUILD_MAX];
		struct iovec iov;

		iov.iov_base = hdr;
		iov.iov_len = proxy_build((enum proxy_version)
		    m->srv->proxy_protocol, client, local, hdr, sizeof(hdr));
		mirror_stage(m, &iov, 1, iov.iov_len);
		if (m->cut)
			return m;
	}
	if (in_progress) {
		mirror_set_mask(m, EV_WRITE);
		if (shadow->connect_timeout_ms) {
			ev_timer_set(&m->timer,
			    (double)shadow->connect_timeout_ms / 1000.0, 0.);
			ev_timer_start(loop, &m->timer);
		}
	} else {
		m->sb = stats_srv_of(m->srv->st, m->wid);
		stats_connected(m->sb, 0, false);
		mirror_set_mask(m, EV_READ);
	}
	return m;
}

void
mirror_copy(struct mirror *m, const struct buffer *b, uint32_t n)
{
	struct iovec iov[2];
	uint32_t start, first;
	int cnt = 1;

	if (m->cut || n == 0 || n > b->len)
		return;
	start = (b->head + b->len - n) % b->size;
	first = b->size - start < n ? b->size - start : n;
	iov[0].iov_base = b->data + start;
	iov[0].iov_len = first;
	if (first < n) {
		iov[1].iov_base = b->data;
		iov[1].iov_len = n - first;
		cnt = 2;
	}
	mirror_stage(m, iov, cnt, n);
}

uint32_t
mirror_tee(struct mirror *m, int src, uint32_t in_pipe)
{
	ssize_t n;

	if (m->cut)
		return in_pipe;
	if (m->teed > 0)
		return m->teed < in_pipe ? m->teed : in_pipe;
	if (in_pipe == 0)
		return 0;
	do {
		n = tee(src, m->pipe[1], in_pipe, SPLICE_F_NONBLOCK);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		/* EAGAIN: our pipe is full -- the shadow is behind by a
		 * whole pipe and its socket buffers. */
		mirror_do_cut(m, n == 0 ? "tee copied nothing" :
		    "shadow too slow (its copy is full)");
		return in_pipe;
	}
	m->teed = (uint32_t)n;
	m->staged += (uint32_t)n;
	mirror_flush(m);
	return m->teed;
}

void
mirror_sent(struct mirror *m, uint32_t n)
{
	m->teed = m->teed > n ? m->teed - n : 0;
}

void
mirror_eof(struct mirror *m)
{
	if (m->cut || m->eof)
		return;
	m->eof = true;
	mirror_flush(m);
}

void
mirror_detach(struct mirror *m)
{
	m->detached = true;
	m->eof = true;
	if (m->cut) {
		mirror_free(m);
		return;
	}
	m->next = m->st->lingering;
	if (m->next)
		m->next->prev = m;
	m->st->lingering = m;
	if (!m->connecting) {
		ev_timer_stop(m->loop, &m->timer);
		ev_timer_set(&m->timer, MIRROR_LINGER_S, 0.);
		ev_timer_start(m->loop, &m->timer);
	}
	mirror_flush(m);	/* frees it when all is out */
}

bool
mirror_cut(const struct mirror *m)
{
	return m->cut;
}

uint64_t
mirror_bytes(const struct mirror *m)
{
	return m->bytes;
}

void
mirror_cut_all(struct mirror_stats *st)
{
	while (st->lingering != NULL)
		mirror_do_cut(st->lingering, "tcplb is stopping");
}

static void
mirror_free(struct mirror *m)
{
	if (m->detached) {
		if (m->prev)
			m->prev->next = m->next;
		else if (m->st->lingering == m)
			m->st->lingering = m->next;
		if (m->next)
			m->next->prev = m->prev;
	}
	mirror_set_mask(m, 0);
	ev_timer_stop(m->loop, &m->timer);
	if (m->fd >= 0)
		close(m->fd);
	if (m->pipe[0] >= 0) {
		close(m->pipe[0]);
		close(m->pipe[1]);
	}
	if (m->sb != NULL)
		stats_closed(m->sb, ev_now(m->loop) - m->t_start);
	if (m->srv != NULL)
		pool_release(m->srv);
	gen_put(m->gen);
	free(m);
}
