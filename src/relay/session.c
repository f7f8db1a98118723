/*
 * session: the life of one client connection.
 *
 *   state        entered when                      leaves on
 *   INSPECTING   accepted on a listener whose      verdict continue ->
 *                first bytes are read before the   CONNECTING; close or
 *                pick (PROXY header, TLS hello:    inspect_timeout -> CLOSED
 *                inspect.c)
 *   CONNECTING   accepted; or a connect attempt    connected -> RELAYING;
 *                failed and another server is      refused/reset/timeout ->
 *                being tried; or a queued client   next server, or CLOSED
 *                got its turn
 *   QUEUED       every server that could take it   its turn (queue.c wakes
 *                is at max_connections and the     it, a slot was picked) ->
 *                pool has max_queue (or others     CONNECTING; no slot yet
 *                already wait)                     -> stays, in its place;
 *                                                  queue_timeout, queue full
 *                                                  -> CLOSED
 *   RELAYING     the server accepted               both directions forwarded
 *                                                  EOF, reset, idle timeout,
 *                                                  shutdown -> CLOSED
 *   CLOSED       session_close()                   (freed)
 *
 * Half-close is not a state of its own: each direction (struct relay_dir)
 * records EOF seen and EOF forwarded, and the session ends when both
 * directions are done.  session_close() is the only function that closes a
 * session's sockets; it stops every watcher first, writes the access log
 * record, gives back the server and listener slots and the generation.
 * While queued, the client socket is not read at all: whatever the client
 * sends waits in the kernel, never in our memory.  Right before the first
 * connect it is read once (session_read_early: what is in hand decides how
 * the handshake ends), so from then on a session holds at most one buffer
 * of it -- also when a failed attempt sends it back to the queue -- which
 * the next attempt sends to its server.
 *
 * The queue is shared by all workers (queue.c): a waiter is woken through
 * its worker's mailbox when a slot may be free, tries its pick on that
 * worker, and either leaves the queue or goes back to its place.  A queued
 * client has not touched a server yet, so when its worker moves to a new
 * generation it moves too (session_queue_adopt): a server removed meanwhile
 * is simply not picked, a server added is.
 */
#include "autoconfig.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "edge/guard.h"
#include "edge/inspect.h"
#include "base/log.h"
#include "base/net.h"
#include "balance/pool.h"
#include "parse/proxy_proto.h"
#include "balance/queue.h"
#include "relay/relay.h"
#include "relay/mirror.h"
#include "relay/session.h"
#include "relay/shape.h"
#include "stats/stats.h"
#include "base/util.h"
#include "relay/worker.h"

#define SESSION_MAGIC 0x5e55104bu
#define SESSION_MAX_TRIED 16
#define SESSION_SLAB_KEEP 4096
#define SESSION_FD_WAIT_S 0.05	/* retry a server socket when out of fds */

enum sess_state {
	SESS_INSPECTING,
	SESS_QUEUED,
	SESS_CONNECTING,
	SESS_RELAYING,
	SESS_CLOSED,
};

/* Flags for session_close(): which side gets a reset instead of a FIN.
 * A close that tcplb forces (idle_timeout, shutdown) resets both: neither
 * peer ended the exchange, so neither may take it for an orderly end --
 * a download cut short must not look complete.  It also drops at once
 * whatever the kernel still held for them. */
#define RESET_CLIENT 0x1
#define RESET_SERVER 0x2
#define RESET_FORCED (RESET_CLIENT | RESET_SERVER)

struct session {
	unsigned magic;
	enum sess_state state;
	struct worker *w;
	struct gen *gen;
	struct listener *l;
	struct pool *pool;		/* the listener's, or chosen by inspection */
	struct inspect *insp;		/* while inspecting, and until connected
					 * when it holds bytes to forward */
	struct guard_ticket ticket;	/* per-source connection held */
	int route;			/* TLS route taken (index); -1: none */
	char *sni;			/* the client's server name (valid host
					 * name characters only), or NULL */
	uint32_t hdr_sent;		/* PROXY header bytes in c2s.bytes */
	bool read_early;		/* the client was read before the first
					 * connect (session_read_early) */
	struct server *srv;		/* reserved by pool_pick(), or NULL */
	uint64_t id;
	int cfd;
	int sfd;
	int cmask;			/* events cio is started with */
	int smask;
	ev_io cio;
	ev_io sio;
	ev_timer timer;			/* connect timeout, then idle timeout */
	ev_timer tick;			/* log_interval: only where set */
	uint64_t logged_in;		/* bytes in the previous access record */
	uint64_t logged_out;
	bool logged;			/* an interim record was written */
	struct shape shape;		/* bandwidth: limits and their timer */
	struct mirror *mirror;		/* a shadow's copy (pool mirror:) */
	struct relay_dir c2s;
	struct relay_dir s2c;
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} peer;
	ev_tstamp t_start;
	ev_tstamp t_pick;		/* inspection over: the pick began */
	ev_tstamp t_attempt;		/* current connect attempt began */
	ev_tstamp t_connected;
	ev_tstamp last_active;
	const char *first_eof;		/* "client closed" / "server closed" */
	int reset_by;			/* RESET_CLIENT / RESET_SERVER: the sides
					 * whose sockets were reset */
	const char *reset_reason;	/* the first of them: "client reset"... */
	bool wait_sent;			/* reset pending until the kernel has
					 * sent what the other side was given */
	const char *last_error;		/* why the last connect attempt failed */
	bool fd_wait;			/* waiting for a descriptor (counted in w->fd_waiters) */
	uint8_t mptcp;			/* SESSION_MPTCP_*: sides running MPTCP */
	uint64_t counted_in;		/* c2s.bytes already in the stats */
	uint64_t counted_out;		/* s2c.bytes already in the stats */
	struct session_wait *wait;	/* once it has queued, until freed */
	uint32_t tried[SESSION_MAX_TRIED];
	unsigned ntried;
	unsigned tries;
	struct session *prev;
	struct session *next;
	struct session *fin_prev;	/* in w->fin_pending while a direction */
	struct session *fin_next;	/* holds back its FIN */
	bool fin_listed;
};

static void session_client_cb(struct ev_loop *loop, ev_io *io, int revents);
static void session_server_cb(struct ev_loop *loop, ev_io *io, int revents);
static void session_timer_cb(struct ev_loop *loop, ev_timer *t, int revents);
static void session_tick_cb(struct ev_loop *loop, ev_timer *t, int revents);
static void session_connect_next(struct session *s);
static void session_close(struct session *s, const char *reason, int resets);
static void session_side_event(struct session *s, int revents, bool client);
static void session_connect_srv(struct session *s, struct server *srv);

/* A session's place in a pool queue: allocated the first time it queues
 * (most sessions never do, and an idle session must stay small), kept
 * until the session ends so that queue_timeout bounds its waits in all. */
struct session_wait {
	struct queue_waiter qw;
	struct pool_queue *q;		/* queued in it (a reference), or NULL */
	ev_tstamp t_queued;		/* first entered a queue */
	struct session *s;
	struct session_wait *prev;	/* w->queued: this worker's waiters, */
	struct session_wait *next;	/* oldest first */
};

static struct session *
slab_get(struct worker *w)
{
	struct session *s = w->free_sessions;

	if (s != NULL) {
		w->free_sessions = s->next;
		w->nfree_sessions--;
		memset(s, 0, sizeof(*s));
		return s;
	}
	return xcalloc(1, sizeof(*s));
}

static void
slab_put(struct worker *w, struct session *s)
{
	s->magic = 0;
	if (w->nfree_sessions >= SESSION_SLAB_KEEP) {
		free(s);
		return;
	}
	s->next = w->free_sessions;
	w->free_sessions = s;
	w->nfree_sessions++;
}

void
session_slab_free(struct worker *w)
{
	while (w->free_sessions) {
		struct session *next = w->free_sessions->next;

		free(w->free_sessions);
		w->free_sessions = next;
	}
	w->nfree_sessions = 0;
}

static void
set_mask(struct ev_loop *loop, ev_io *io, int *cur, int want)
{
	if (*cur == want)
		return;
	ev_io_stop(loop, io);
	ev_io_modify(io, want);
	if (want)
		ev_io_start(loop, io);
	*cur = want;
}

static void
session_update_io(struct session *s)
{
	struct ev_loop *loop = s->w->loop;
	int cm = 0, sm = 0;

	if (relay_wants_read(&s->c2s))
		cm |= EV_READ;
	if (relay_wants_write(&s->s2c))
		cm |= EV_WRITE;
	if (relay_wants_read(&s->s2c))
		sm |= EV_READ;
	if (relay_wants_write(&s->c2s))
		sm |= EV_WRITE;
	set_mask(loop, &s->cio, &s->cmask, cm);
	set_mask(loop, &s->sio, &s->smask, sm);
}

static int64_t
session_ms(ev_tstamp a, ev_tstamp b)
{
	return (int64_t)((b - a) * 1000.0 + 0.5);
}

static void
session_log_ctx(const struct session *s, struct log_ctx *ctx, char *client,
    size_t clen)
{
	addr_format(&s->peer.sa, client, clen);
	memset(ctx, 0, sizeof(*ctx));
	ctx->listener = s->l->name;
	ctx->pool = s->pool ? s->pool->name : NULL;
	ctx->client = client;
	ctx->session = s->id;
	if (s->srv) {
		ctx->server = s->srv->name;
		ctx->server_addr = s->srv->addr_text;
	}
}

static void
session_fd_wait_end(struct session *s)
{
	if (s->fd_wait) {
		s->fd_wait = false;
		s->w->fd_waiters--;
	}
}

/* Bytes moved since the last call go into this worker's counter blocks
 * (never a shared line: see stats.h). */
static void
session_count_bytes(struct session *s)
{
	/* The PROXY header is ours, not the client's: bytes_in is what the
	 * client sent and the server got. */
	uint64_t in = s->c2s.bytes >= s->hdr_sent ? s->c2s.bytes - s->hdr_sent : 0;
	uint64_t din = in - s->counted_in;
	uint64_t dout = s->s2c.bytes - s->counted_out;
	struct stats_lsn *lb;

	if ((din | dout) == 0)
		return;
	s->counted_in = in;
	s->counted_out = s->s2c.bytes;
	if ((lb = stats_lsn_of(s->l->st, s->w->id)) != NULL) {
		stats_add(&lb->bytes_in, din);
		stats_add(&lb->bytes_out, dout);
	}
	if (s->srv) {
		struct stats_srv *sb = stats_srv_of(s->srv->st, s->w->id);
		struct stats_srv *pb = stats_pool_of(s->srv, s->w->id);

		if (sb) {
			stats_add(&sb->bytes_in, din);
			stats_add(&sb->bytes_out, dout);
		}
		if (pb) {
			stats_add(&pb->bytes_in, din);
			stats_add(&pb->bytes_out, dout);
		}
	}
}

static void
session_queue_unlink(struct session *s)
{
	struct worker *w = s->w;

	struct session_wait *sw = s->wait;

	if (sw->prev)
		sw->prev->next = sw->next;
	else
		w->queued = sw->next;
	if (sw->next)
		sw->next->prev = sw->prev;
	else
		w->queued_tail = sw->prev;
	sw->prev = sw->next = NULL;
}

/* Leave the queue: with a slot (got: the next waiter's turn) or without
 * (closing: a wake-up it had not used passes on). */
static void
session_queue_leave(struct session *s, bool got)
{
	struct session_wait *sw = s->wait;
	void *next;

	if (sw == NULL || sw->q == NULL)
		return;
	next = got ? queue_done(sw->q, &sw->qw, true) :
	    queue_remove(sw->q, &sw->qw);
	hupwatch_del(&s->w->queued_hup, s->cfd);
	session_queue_unlink(s);
	queue_put(sw->q);
	sw->q = NULL;
	queue_notify(next);
}

/* pool_release() woke the queue of the pool s->srv is in in s's own
 * generation.  When the worker has moved on and the server now serves
 * another pool (renamed, or moved to another pool; its state followed
 * it), the freed slot is that pool's: wake its queue too, or its waiters
 * sleep on beside a free slot.  Only sessions older than the worker's
 * generation pay for the search. */
static void
session_wake_current_pool(struct session *s)
{
	const struct gen *g = s->w->gen;

	if (g == NULL || g == s->gen)
		return;
	for (uint32_t i = 0; i < g->npools; i++) {
		const struct pool *p = &g->pools[i];

		for (uint32_t k = 0; k < p->nservers; k++) {
			if (p->servers[k].st != s->srv->st)
				continue;
			if (p->queue != NULL && p->queue != s->srv->pool->queue &&
			    queue_busy(p->queue))
				queue_notify(queue_wake(p->queue));
			return;
		}
	}
}

/* The access-log record of s: the final one (reason), or an interim one
 * (reason NULL) for a session still open.  Each record after the first
 * interim one also says what moved since the previous record. */
static void
session_access_log(struct session *s, const char *reason)
{
	char client[ADDR_STRLEN];
	uint64_t in = s->c2s.bytes - (s->c2s.bytes >= s->hdr_sent ?
	    s->hdr_sent : s->c2s.bytes);
	struct access_rec r = {
		.session = s->id,
		.client = addr_format(&s->peer.sa, client, sizeof(client)),
		.listener = s->l->name,
		.pool = s->pool ? s->pool->name : "-",
		.routed = s->l->nroutes > 0,
		.sni = s->sni,
		.route = s->route,
		.server = s->srv ? s->srv->name : NULL,
		.server_addr = s->srv ? s->srv->addr_text : NULL,
		.bytes_in = in,
		.bytes_out = s->s2c.bytes,
		.connect_ms = s->t_connected > 0 ?
		    session_ms(s->t_pick, s->t_connected) : -1,
		.duration_ms = (uint64_t)session_ms(s->t_start,
		    ev_now(s->w->loop)),
		.tries = s->tries,
		.reason = reason,
		.mptcp = session_mptcp_name(s->mptcp),
		.interim = reason == NULL,
		.since = reason == NULL || s->logged,
		.since_in = in - s->logged_in,
		.since_out = s->s2c.bytes - s->logged_out,
		.mirrored = s->mirror != NULL,
		.mirror_cut = s->mirror != NULL && mirror_cut(s->mirror),
		.mirror_bytes = s->mirror != NULL ? mirror_bytes(s->mirror) : 0,
	};

	log_access(&r);
	s->logged_in = in;
	s->logged_out = s->s2c.bytes;
	s->logged = true;
}

/* log_interval: one repeating timer per session of such a pool, started
 * when it connects.  libev re-arms a repeating timer in place: an idle
 * session costs one wake-up per interval (its record) and nothing else. */
static void
session_tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct session *s = t->data;

	(void)loop;
	(void)revents;
	session_access_log(s, NULL);
}

/* bandwidth: a throttled direction may read again. */
static void
session_shape_wake(void *arg)
{
	struct session *s = arg;

	shape_grant(&s->shape, &s->c2s, &s->s2c, ev_now(s->w->loop));
	session_update_io(s);
	shape_charge(&s->shape, s->w->loop, &s->c2s, &s->s2c);
}

/*
 * Deferred FINs.  The EOF one side sends is passed on with
 * shutdown(SHUT_WR) -- unless the other side's EOF is among the events of
 * the same loop iteration, which is the usual end of a short exchange
 * (the server answers and closes, the client closes on the answer): then
 * the session closes at once and close() sends both FINs, one system call
 * fewer per connection.  So a FIN waits (relay_dir.defer_fin) until the
 * iteration's events are handled, and is sent before the loop waits again
 * (session_send_fins, from the worker's ev_prepare): no later than it
 * would have gone, as far as a peer can tell.
 */
static void
session_fin_unlist(struct session *s)
{
	struct worker *w = s->w;

	if (!s->fin_listed)
		return;
	s->fin_listed = false;
	if (s->fin_prev)
		s->fin_prev->fin_next = s->fin_next;
	else
		w->fin_pending = s->fin_next;
	if (s->fin_next)
		s->fin_next->fin_prev = s->fin_prev;
	s->fin_prev = s->fin_next = NULL;
}

static void
session_fin_list(struct session *s)
{
	struct worker *w = s->w;

	if (s->fin_listed)
		return;
	s->fin_listed = true;
	s->fin_prev = NULL;
	s->fin_next = w->fin_pending;
	if (w->fin_pending)
		w->fin_pending->fin_prev = s;
	w->fin_pending = s;
	ev_prepare_start(w->loop, &w->fin_prep);
}

void
session_send_fins(struct worker *w)
{
	while (w->fin_pending) {
		struct session *s = w->fin_pending;

		session_fin_unlist(s);
		/* ENOTCONN: the destination is already gone; the session
		 * learns that from its own read side. */
		if (s->c2s.fin_pending)
			(void)shutdown(s->sfd, SHUT_WR);
		if (s->s2c.fin_pending)
			(void)shutdown(s->cfd, SHUT_WR);
		s->c2s.fin_pending = s->s2c.fin_pending = false;
	}
	ev_prepare_stop(w->loop, &w->fin_prep);
}

static void
session_close(struct session *s, const char *reason, int resets)
{
	struct worker *w = s->w;
	struct ev_loop *loop = w->loop;

	if (s->state == SESS_CLOSED)
		return;
	s->state = SESS_CLOSED;
	session_fin_unlist(s);
	session_fd_wait_end(s);
	session_queue_leave(s, false);
	free(s->wait);
	s->wait = NULL;

	/* Watchers first: a stopped watcher also drops its pending events,
	 * so nothing can fire for an fd number the kernel may reuse. */
	ev_io_stop(loop, &s->cio);
	ev_io_stop(loop, &s->sio);
	ev_timer_stop(loop, &s->timer);
	if (resets & RESET_CLIENT)
		net_close_reset(s->cfd);
	else
		close(s->cfd);
	if (s->sfd >= 0) {
		if (resets & RESET_SERVER)
			net_close_reset(s->sfd);
		else
			close(s->sfd);
	}
	relay_release(&s->c2s, &w->pools);
	relay_release(&s->s2c, &w->pools);
	session_count_bytes(s);
	if (s->srv && s->t_connected > 0) {
		stats_closed(stats_srv_of(s->srv->st, w->id), ev_now(loop) - s->t_start);
		stats_closed(stats_pool_of(s->srv, w->id), ev_now(loop) - s->t_start);
	}
	guard_release(&s->ticket);

	ev_timer_stop(loop, &s->tick);
	shape_stop(&s->shape, loop);
	if (s->gen->global.access_log)
		session_access_log(s, reason);
	else if (log_enabled(LOG_DEBUG))
		log_debug("session %llu closed: %s", (unsigned long long)s->id, reason);
	if (s->mirror != NULL) {
		mirror_detach(s->mirror);	/* it frees itself */
		s->mirror = NULL;
		s->c2s.mirror = NULL;
	}

	inspect_free(s->insp);
	s->insp = NULL;
	free(s->sni);
	s->sni = NULL;
	if (s->srv) {
		pool_release(s->srv);
		session_wake_current_pool(s);
	}
	atomic_fetch_sub_explicit(&s->l->st->active, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&tcplb_active, 1, memory_order_relaxed);

	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->nsessions--;

	gen_put(s->gen);
	slab_put(w, s);
	worker_session_closed(w);
}

const char *
session_mptcp_name(unsigned mptcp)
{
	static const char *const names[] = { NULL, "client", "server", "both" };

	return names[mptcp & 3];
}

void
session_close_all(struct worker *w, const char *reason)
{
	while (w->sessions)
		session_close(w->sessions, reason, RESET_FORCED);
}

static void session_inspect_begin(struct session *s);

void
session_snapshot(struct worker *w, const char *pool, const char *server,
    struct session_snap **out, size_t *n)
{
	struct session_snap *v = NULL;
	size_t k = 0, cap = 0;
	struct gen *last = NULL;
	ev_tstamp now = ev_now(w->loop);

	for (struct session *s = w->sessions; s != NULL; s = s->next) {
		struct session_snap *e;

		if (pool && (s->pool == NULL || strcmp(s->pool->name, pool) != 0))
			continue;
		if (server && (s->srv == NULL || (strcmp(s->srv->name, server) != 0 &&
		    strcmp(s->srv->addr_text, server) != 0)))
			continue;
		if (k == cap) {
			cap = cap ? cap * 2 : 256;
			v = xrealloc(v, cap * sizeof(*v));
		}
		e = &v[k++];
		e->gen = s->gen;
		e->owns_gen = s->gen != last;
		if (e->owns_gen)
			gen_get(s->gen);
		last = s->gen;
		e->connecting = s->state == SESS_CONNECTING;
		e->dgram = false;
		e->dgrams_in = e->dgrams_out = 0;
		e->l = s->l;
		e->pool = s->pool;
		e->srv = s->srv;
		memcpy(&e->peer, &s->peer, sizeof(e->peer));
		e->id = s->id;
		e->age_s = now - s->t_start;
		e->bytes_in = s->c2s.bytes;
		e->bytes_out = s->s2c.bytes;
		e->mptcp = s->mptcp;
	}
	*out = v;
	*n = k;
}

void
session_snap_free(struct session_snap *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].owns_gen)
			gen_put(v[i].gen);
	free(v);
}

unsigned
session_shutdown_server(struct worker *w, const struct server_state *st,
    const char *reason, bool reset)
{
	struct session *s = w->sessions;
	unsigned n = 0;

	while (s != NULL) {
		struct session *next = s->next;

		if (s->srv && s->srv->st == st) {
			/* reset: a forced end, both sides see a reset, never
			 * a FIN that a client could take for a complete
			 * stream after bytes in flight were dropped. */
			session_close(s, reason, reset ? RESET_FORCED : 0);
			n++;
		}
		s = next;
	}
	return n;
}

void
session_start(struct worker *w, struct listener *l, int fd,
    const struct sockaddr *peer, socklen_t peerlen,
    const struct guard_ticket *tk)
{
	struct session *s = slab_get(w);
	struct ev_loop *loop = w->loop;

	s->magic = SESSION_MAGIC;
	s->state = SESS_CONNECTING;
	s->w = w;
	s->gen = gen_get(w->gen);
	s->l = l;
	s->pool = l->pool;
	s->route = -1;
	if (tk != NULL)
		s->ticket = *tk;
	s->id = w->next_session_id++;
	s->cfd = fd;
	s->sfd = -1;
	if (peerlen > sizeof(s->peer))
		peerlen = sizeof(s->peer);
	memcpy(&s->peer, peer, peerlen);
	/* One getsockopt, and only on listeners that accept MPTCP: the
	 * handshake is over, so a fallback to TCP is already known. */
	s->mptcp = l->mptcp && net_mptcp_active(fd) ? SESSION_MPTCP_CLIENT : 0;
	s->t_start = s->t_pick = s->last_active = ev_now(loop);
	relay_init(&s->c2s);
	relay_init(&s->s2c);
	s->c2s.defer_fin = s->s2c.defer_fin = true;
	/* A server that answers and closes: its FIN leaves with the answer
	 * (relay.c).  Clients close after the answer, not with the
	 * request, so their direction is not probed. */
	s->s2c.eof_probe = true;
	ev_io_init(&s->cio, session_client_cb, fd, 0);
	s->cio.data = s;
	ev_io_init(&s->sio, session_server_cb, -1, 0);
	s->sio.data = s;
	ev_init(&s->timer, session_timer_cb);
	s->timer.data = s;
	ev_init(&s->tick, session_tick_cb);
	s->tick.data = s;

	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	w->nsessions++;
	stats_session_started(l->st, w->id);

	if (inspect_wanted(l))
		session_inspect_begin(s);
	else
		session_connect_next(s);
}

/* ---- inspecting ---------------------------------------------------------- */

static void
session_refuse(struct session *s, enum guard_reason r, const char *detail)
{
	guard_refused(&s->w->guard, s->w->id, s->l, &s->peer.sa, r, detail);
	session_close(s, detail ? detail : guard_reason_name(r), RESET_CLIENT);
}

static void
session_inspect_begin(struct session *s)
{
	struct ev_loop *loop = s->w->loop;

	s->state = SESS_INSPECTING;
	s->insp = inspect_new();
	inspect_set_peer(s->insp, &s->peer.sa, &s->ticket);
	ev_io_set(&s->cio, s->cfd, EV_READ);
	ev_io_start(loop, &s->cio);
	s->cmask = EV_READ;
	ev_timer_set(&s->timer, (double)s->l->inspect_timeout_ms / 1000.0, 0.);
	ev_timer_start(loop, &s->timer);
}

/* What inspection learnt, kept for the access log and counted; also
 * when the connection is refused, so the record names the real client
 * (from a PROXY header) and the server name it asked for. */
static void
session_inspect_results(struct session *s, const struct inspect *in,
    bool timed_out)
{
	if (in->has_client) {
		socklen_t len = addr_len((const struct sockaddr *)&in->client);

		memset(&s->peer, 0, sizeof(s->peer));
		memcpy(&s->peer, &in->client, len < sizeof(s->peer) ? len :
		    sizeof(s->peer));
	}
	if (s->l->nroutes == 0)
		return;
	s->route = in->route;
	/* Only a validated host name (letters, digits, '-', '_', '.') is
	 * kept: safe in a log line, and at most 253 bytes. */
	if (in->tls_ok && in->hello.has_sni && s->sni == NULL)
		s->sni = xstrdup(in->hello.sni);
	inspect_tls_count(&s->w->tls, s->l, in, timed_out);
}

static void
session_inspect_event(struct session *s)
{
	struct ev_loop *loop = s->w->loop;
	struct inspect *in = s->insp;
	enum inspect_verdict v = inspect_read(in, s->cfd, s->l);

	if (v == INSPECT_WAIT)
		return;
	session_inspect_results(s, in, false);
	if (v == INSPECT_CLOSE) {
		session_refuse(s, in->refuse ? (enum guard_reason)in->refuse :
		    GUARD_PROXY_HEADER, in->reason);
		return;
	}
	ev_timer_stop(loop, &s->timer);
	set_mask(loop, &s->cio, &s->cmask, 0);
	if (in->pool != NULL)
		s->pool = in->pool;
	/* accept_proxy: admission ran in inspection, right after the
	 * header (allow, deny, limits on the client's address). */
	if (inspect_leftover_len(in) == 0 && !in->has_local) {
		inspect_free(in);
		s->insp = NULL;
	} else {
		/* Until connected (maybe after a wait in the queue) only
		 * the bytes to forward stay, at their size, counted. */
		inspect_compact(in, &s->w->inspect_held);
	}
	s->state = SESS_CONNECTING;
	s->t_pick = ev_now(loop);
	session_connect_next(s);
}

/* Just connected: what goes to the server before the client's bytes --
 * a PROXY header when the server wants one, then the bytes inspection
 * read -- and one read of what the client sent meanwhile, so that all of
 * it leaves in one write (one segment), not a header alone. */
static bool
session_send_prefix(struct session *s)
{
	struct relay_dir *d = &s->c2s;
	struct inspect *in = s->insp;
	uint32_t left = in ? inspect_leftover_len(in) : 0;

	if (s->srv->proxy_protocol != PROXY_NONE) {
		char hdr[PROXY_BUILD_MAX];
		struct sockaddr_storage local;
		socklen_t llen = sizeof(local);
		const struct sockaddr *dst = NULL;
		size_t n;

		if (in != NULL && in->has_local)
			dst = (const struct sockaddr *)&in->local;
		else if (getsockname(s->cfd, (struct sockaddr *)&local, &llen) == 0)
			dst = (const struct sockaddr *)&local;
		n = proxy_build((enum proxy_version)s->srv->proxy_protocol,
		    &s->peer.sa, dst, hdr, sizeof(hdr));
		buffer_attach(&d->buf, &s->w->pools.bufs);
		/* Before what the client sent already (session_read_early
		 * left room for it). */
		buffer_prepend(&d->buf, hdr, n);
		s->hdr_sent = (uint32_t)n;
	}
	if (left > 0) {
		buffer_attach(&d->buf, &s->w->pools.bufs);
		buffer_put(&d->buf, inspect_leftover(in), left);
	}
	inspect_free(in);
	s->insp = NULL;
	/* A header alone waits for the client's first bytes so both leave
	 * in one segment; when inspection already holds client bytes (a
	 * ClientHello: the client says nothing more until the server
	 * answers), or the client was read just before the connect,
	 * another read would only return EAGAIN. */
	if (d->buf.len > 0 && left == 0 && !d->eof && !s->read_early &&
	    relay_fill(d, s->cfd) != RELAY_OK) {
		session_close(s, "client reset", RESET_SERVER);
		return false;
	}
	return true;
}

/* mirror: for this share of the pool's connections, a shadow server gets
 * a copy of what the client sends from here on -- starting with what
 * session_send_prefix() queued, less our own PROXY header. */
static void
session_mirror_start(struct session *s)
{
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);

	if (!mirror_wanted(s->pool, &s->w->rnd))
		return;
	if (getsockname(s->cfd, (struct sockaddr *)&local, &llen) < 0)
		local.ss_family = AF_UNSPEC;
	s->mirror = mirror_open(s->w->loop, s->gen, s->pool->mirror,
	    &s->peer.sa, (struct sockaddr *)&local, &s->w->rnd,
	    &s->w->mirror, s->w->id);
	if (s->c2s.buf.len > s->hdr_sent)
		mirror_copy(s->mirror, &s->c2s.buf, s->c2s.buf.len -
		    s->hdr_sent);
	s->c2s.mirror = s->mirror;
}

static void
session_connected(struct session *s)
{
	struct ev_loop *loop = s->w->loop;
	struct pool *p = s->pool;

	s->state = SESS_RELAYING;
	s->t_connected = s->last_active = ev_now(loop);
	if (s->srv->mptcp && net_mptcp_active(s->sfd))
		s->mptcp |= SESSION_MPTCP_SERVER;
	stats_connected(stats_srv_of(s->srv->st, s->w->id),
	    s->t_connected - s->t_attempt, s->tries > 1);
	stats_connected(stats_pool_of(s->srv, s->w->id),
	    s->t_connected - s->t_attempt, s->tries > 1);
	pool_report_connect(s->srv, true, NULL, (int64_t)now_ms());

	ev_io_stop(loop, &s->sio);
	s->smask = 0;
	ev_timer_stop(loop, &s->timer);
	if (p->idle_timeout_ms) {
		ev_timer_set(&s->timer, (double)p->idle_timeout_ms / 1000.0, 0.);
		ev_timer_start(loop, &s->timer);
	}
	shape_start(&s->shape, p->bw_upload, p->bw_download, ev_now(loop),
	    session_shape_wake, s);
	if (p->log_interval_ms && s->gen->global.access_log) {
		double iv = (double)p->log_interval_ms / 1000.0;

		ev_timer_set(&s->tick, iv, iv);
		ev_timer_start(loop, &s->tick);
	}
	if (log_enabled(LOG_DEBUG)) {
		char client[ADDR_STRLEN];

		log_debug("session %llu: %s -> %s/%s (%s) connected after %u tr%s",
		    (unsigned long long)s->id,
		    addr_format(&s->peer.sa, client, sizeof(client)),
		    p->name, s->srv->name, s->srv->addr_text, s->tries,
		    s->tries == 1 ? "y" : "ies");
	}
	/* What the client sent is on its way at once.  Read before the
	 * connect (session_read_early): send it, and let epoll say when the
	 * client has more.  Otherwise most clients have spoken by now (the
	 * request waited in the kernel while we connected): read it at once
	 * instead of after another trip through epoll; a server-speaks-first
	 * protocol pays one EAGAIN read. */
	if (session_send_prefix(s)) {
		session_mirror_start(s);
		if (s->read_early)
			session_side_event(s, EV_WRITE, false);
		else
			session_side_event(s, EV_READ, true);
	}
}

/* A connect attempt is over without a connection: give back the socket
 * and the server, and try the next one. */
static void
session_attempt_end(struct session *s, const char *why)
{
	struct ev_loop *loop = s->w->loop;

	ev_io_stop(loop, &s->sio);
	s->smask = 0;
	ev_timer_stop(loop, &s->timer);
	if (s->sfd >= 0) {
		close(s->sfd);
		s->sfd = -1;
	}
	s->last_error = why;
	pool_release(s->srv);
	s->srv = NULL;
	session_connect_next(s);
}

/*
 * No local address to connect from (EADDRNOTAVAIL): every local port
 * toward this server is taken -- each source address has ~28k, and a
 * closed connection holds its port in TIME_WAIT for 60 s -- or `source`
 * is not an address of this host.  Like running out of descriptors this
 * is our shortage, not the server's failure: passive health never hears
 * of it.  It is counted, logged at most every 10 s (with how many were
 * not), and the next server is tried: another destination has ports of
 * its own.
 */
static void
session_no_local_addr(struct session *s)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(10000, 1);
	struct worker *w = s->w;
	struct server *srv = s->srv;
	char client[ADDR_STRLEN], src[ADDR_STRLEN] = "";
	struct log_ctx ctx;

	atomic_store_explicit(&w->no_local_addr, atomic_load_explicit(
	    &w->no_local_addr, memory_order_relaxed) + 1, memory_order_relaxed);
	session_log_ctx(s, &ctx, client, sizeof(client));
	if (srv->source.len)
		addr_format_host(&srv->source.u.sa, src, sizeof(src));
	/* `source: client` takes no port of ours: the client's own address
	 * and port are taken (a second connection of the same client port
	 * to this server, or the client is this host). */
	log_ratelimited(&rl, LOG_WARNING, &ctx,
	    "session %llu from %s: no local address to connect to %s/%s (%s) from%s%s: "
	    "%s%s; not held against the server "
	    "(%llu such connects in all)",
	    (unsigned long long)s->id, client, s->pool->name,
	    srv->name, srv->addr_text, *src || srv->source_client ? " " : "",
	    srv->source_client ? "the client's address and port" : src,
	    srv->source_client ? "they are in use toward this server already, "
	    "or on this host" : "local ports exhausted",
	    *src ? ", or the source address is not on this host" : "",
	    (unsigned long long)workers_no_local_addr());
	session_attempt_end(s, "no local address available");
}

/* A connect attempt failed: say so, tell passive health, and move on. */
static void
session_attempt_failed(struct session *s, const char *why)
{
	struct server *srv = s->srv;

	if (log_enabled(LOG_INFO)) {
		char client[ADDR_STRLEN];
		struct log_ctx ctx;

		session_log_ctx(s, &ctx, client, sizeof(client));
		log_msg(LOG_INFO, &ctx, "session %llu from %s: connect to %s/%s (%s) failed: %s",
		    (unsigned long long)s->id, client, s->pool->name, srv->name,
		    srv->addr_text, why);
	}
	stats_connect_failed(stats_srv_of(srv->st, s->w->id), why);
	stats_connect_failed(stats_pool_of(srv, s->w->id), why);
	pool_report_connect(srv, false, why, (int64_t)now_ms());
	session_attempt_end(s, why);
}

static const char *
connect_error_reason(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return "connection refused";
	case ETIMEDOUT:
		return "connect timeout";
	case ECONNRESET:
		return "connection reset";
	case EHOSTUNREACH:
		return "host unreachable";
	case ENETUNREACH:
		return "network unreachable";
	case EADDRNOTAVAIL:
		return "no local address available";
	default:
		return strerror(e);
	}
}

static void
session_fail_client(struct session *s, const char *reason)
{
	char client[ADDR_STRLEN];
	struct log_ctx ctx;
	struct stats_lsn *lb = stats_lsn_of(s->l->st, s->w->id);

	/* One record per refused client would flood the log (and the
	 * journal) exactly when a pool is down: rate-limited, counted. */
	static struct log_ratelimit rl_none = LOG_RATELIMIT_INIT(5000, 10);
	static struct log_ratelimit rl_tried = LOG_RATELIMIT_INIT(5000, 10);

	if (lb)
		stats_add(&lb->no_server, 1);
	session_log_ctx(s, &ctx, client, sizeof(client));
	if (s->tries == 0)
		log_ratelimited(&rl_none, LOG_WARNING, &ctx,
		    "session %llu from %s: pool %s has no server available (all down, full or weight 0): closing client",
		    (unsigned long long)s->id, client, s->pool->name);
	else
		log_ratelimited(&rl_tried, LOG_WARNING, &ctx,
		    "session %llu from %s: no server of pool %s reachable after %u tr%s (last: %s): closing client",
		    (unsigned long long)s->id, client, s->pool->name, s->tries,
		    s->tries == 1 ? "y" : "ies", s->last_error);
	/* A refusal, like every other: a reset.  A FIN would read as an
	 * empty answer to a client of a server-speaks-first protocol. */
	session_close(s, reason, RESET_CLIENT);
}

/* Out of descriptors for the server socket: our shortage, not the
 * server's fault.  Accepting more clients would only make it worse, so the
 * worker pauses accepting and this client waits for a descriptor to come
 * free (as it would in the listen queue) for up to connect_timeout. */
static void
session_wait_for_fd(struct session *s, struct server *srv, int e)
{
	struct worker *w = s->w;
	struct ev_loop *loop = w->loop;
	double limit = (double)s->pool->connect_timeout_ms / 1000.0;

	pool_release(srv);
	s->srv = NULL;
	s->tries--;
	if (!s->fd_wait) {
		s->fd_wait = true;
		w->fd_waiters++;
	}
	if (s->ntried > 0 && s->tried[s->ntried - 1] == srv->index)
		s->ntried--;
	if (ev_now(loop) - w->last_emfile_log > 10) {
		w->last_emfile_log = ev_now(loop);
		errno = e;
		log_warn("cannot open a server socket; accepts paused, clients wait up to %.1fs",
		    limit);
	}
	worker_pause_accept(w, NULL, SESSION_FD_WAIT_S);
	if (ev_now(loop) - s->t_pick >= limit) {
		session_close(s, "out of file descriptors", RESET_CLIENT);
		return;
	}
	ev_timer_stop(loop, &s->timer);
	ev_timer_set(&s->timer, SESSION_FD_WAIT_S, 0.);
	ev_timer_start(loop, &s->timer);
}

/* Queued clients wait at most queue_timeout in all, however often they
 * are woken and go back. */
/* At most one record per second per worker and kind (0 full, 1 timeout):
 * a saturated pool must not flood the journal. */
static bool
session_queue_log_ok(struct session *s, int kind)
{
	struct worker *w = s->w;
	ev_tstamp now = ev_now(w->loop);

	if (now - w->last_queue_log[kind] < 1.0 && w->last_queue_log[kind] > 0) {
		w->queue_log_suppressed[kind]++;
		return false;
	}
	w->last_queue_log[kind] = now;
	return true;
}

static void
session_queue_refuse(struct session *s, const char *why, const char *reason)
{
	int kind = strcmp(reason, "queue full") == 0 ? 0 : 1;
	char client[ADDR_STRLEN], more[64] = "";
	struct log_ctx ctx;

	if (session_queue_log_ok(s, kind)) {
		if (s->w->queue_log_suppressed[kind])
			snprintf(more, sizeof(more), " (and %u more)",
			    s->w->queue_log_suppressed[kind]);
		s->w->queue_log_suppressed[kind] = 0;
		session_log_ctx(s, &ctx, client, sizeof(client));
		log_msg(LOG_WARNING, &ctx, "session %llu from %s: pool %s: %s: "
		    "closing client%s", (unsigned long long)s->id, client,
		    s->pool->name, why, more);
	}
	session_close(s, reason, RESET_CLIENT);
}

/* No server can take s now.  Queue it if the pool queues and servers are
 * merely full (or others already wait); true if s was queued or closed. */
static bool
session_queue(struct session *s, bool busy)
{
	struct worker *w = s->w;
	struct pool *p = s->pool;
	struct session_wait *sw;
	void *notify;
	char why[96];
	double left;

	if (p->max_queue == 0 || p->queue == NULL)
		return false;
	if (!busy && !pool_full(p, (int64_t)now_ms()))
		return false;
	if (s->wait == NULL) {
		s->wait = xcalloc(1, sizeof(*s->wait));
		s->wait->s = s;
		s->wait->qw.owner = w;
		s->wait->t_queued = ev_now(w->loop);
	}
	sw = s->wait;
	if (sw->q != NULL)
		return true;	/* already waiting */
	if (!queue_push(p->queue, &sw->qw, p->max_queue, &notify)) {
		snprintf(why, sizeof(why), "queue full (max_queue %u)",
		    p->max_queue);
		session_queue_refuse(s, why, "queue full");
		return true;
	}
	sw->q = queue_get(p->queue);
	s->state = SESS_QUEUED;
	/* In arrival order, which is queue order among this worker's
	 * waiters: several woken at once take their turns oldest first. */
	sw->next = NULL;
	sw->prev = w->queued_tail;
	if (w->queued_tail)
		w->queued_tail->next = sw;
	else
		w->queued = sw;
	w->queued_tail = sw;
	/* A client that leaves while it waits frees its place (and its
	 * per-source and listener slots) at once, not at its turn. */
	(void)hupwatch_add(&w->queued_hup, s->cfd, s);
	left = (double)p->queue_timeout_ms / 1000.0 -
	    (ev_now(w->loop) - sw->t_queued);
	ev_timer_stop(w->loop, &s->timer);
	ev_timer_set(&s->timer, left > 0.001 ? left : 0.001, 0.);
	ev_timer_start(w->loop, &s->timer);
	log_debug("session %llu queued in pool %s", (unsigned long long)s->id,
	    p->name);
	queue_notify(notify);
	return true;
}

/* A queued client has not touched a server: it may follow its worker into
 * a newer generation, where its listener (same name, same state) may lead
 * to a pool with other servers. */
static void
session_queue_adopt(struct session *s)
{
	struct worker *w = s->w;
	struct listener *nl;
	struct pool *np;

	if (s->gen == w->gen)
		return;
	nl = gen_find_listener(w->gen, s->l->name);
	if (nl == NULL || nl->st != s->l->st)
		return;		/* listener gone: stay with the old one */
	/* The session's pool is its listener's, or one inspection chose
	 * (an SNI route): the same one, by name, in the new generation.
	 * Which of the two is told by the route, not by comparing pools: a
	 * route may lead to the listener's own pool, and the reload may give
	 * the listener another. */
	np = s->route < 0 ? nl->pool : gen_find_pool(w->gen, s->pool->name);
	if (np == NULL)
		return;		/* pool gone: stay with the old one */
	gen_put(s->gen);
	s->gen = gen_get(w->gen);
	s->l = nl;
	s->pool = np;
	s->ntried = 0;		/* indices of the old pool */
}

/* s was woken: its turn, if a slot is free. */
static void
session_queue_turn(struct session *s)
{
	struct server *srv;
	void *next;

	session_queue_adopt(s);
	srv = pool_pick(s->pool, &s->peer.sa, s->tried, s->ntried,
	    (int64_t)now_ms(), &s->w->rnd);
	if (srv == NULL) {
		next = queue_done(s->wait->q, &s->wait->qw, false);
		queue_notify(next);
		return;
	}
	session_queue_leave(s, true);
	s->state = SESS_CONNECTING;
	ev_timer_stop(s->w->loop, &s->timer);
	if (log_enabled(LOG_DEBUG))
		log_debug("session %llu leaves the queue of pool %s after %.3fs",
		    (unsigned long long)s->id, s->pool->name,
		    ev_now(s->w->loop) - s->wait->t_queued);
	session_connect_srv(s, srv);
}

/* w moved to a new generation.  A queued client whose listener now leads
 * to a pool with another queue (the pool renamed, the listener pointed
 * elsewhere) leaves the old queue -- nothing in the new generation wakes
 * it -- and starts over in the new pool as a newcomer would: served at
 * once if a slot is free, else queued there, its queue_timeout still
 * counted from when it first queued. */
void
session_queue_follow(struct worker *w)
{
	struct session_wait *sw = w->queued, *next;

	/* A session handled here leaves, requeues at our tail in a queue it
	 * is not moved from again, or closes: never another waiter. */
	for (; sw != NULL; sw = next) {
		struct session *s = sw->s;

		next = sw->next;
		session_queue_adopt(s);
		if (sw->q == NULL || sw->q == s->pool->queue)
			continue;
		session_queue_leave(s, false);
		s->state = SESS_CONNECTING;
		ev_timer_stop(w->loop, &s->timer);
		session_connect_next(s);
	}
}

void
session_queue_hup(void *ptr, unsigned events)
{
	struct session *s = ptr;
	int queued = 0;

	if (s->magic != SESSION_MAGIC || s->state != SESS_QUEUED)
		return;
	/* A FIN after a request is a client waiting for the answer (a
	 * half-close), which keeps its place; a FIN with nothing to forward
	 * leaves nothing to serve.  The request may be in the socket or
	 * already read: the bytes inspection holds (what followed a PROXY
	 * header, a ClientHello) are a request too, and so are those read
	 * before a failed connect attempt (session_read_early). */
	if (!(events & HUPWATCH_RESET) &&
	    ((s->insp != NULL && inspect_leftover_len(s->insp) > 0) ||
	    s->c2s.buf.len > 0 ||
	    (ioctl(s->cfd, SIOCINQ, &queued) == 0 && queued > 0)))
		return;
	atomic_fetch_add_explicit(&s->wait->q->abandoned, 1, memory_order_relaxed);
	log_debug("session %llu left the queue of pool %s: client %s",
	    (unsigned long long)s->id, s->pool->name,
	    events & HUPWATCH_RESET ? "reset" : "closed");
	if (events & HUPWATCH_RESET)
		session_close(s, "client reset", RESET_CLIENT);
	else
		session_close(s, "client closed", 0);
}

void
session_queue_wakeups(struct worker *w)
{
	struct session_wait *sw = w->queued, *next;

	/* A turn may close or requeue its session, never another waiter of
	 * ours. */
	for (; sw != NULL; sw = next) {
		next = sw->next;
		if (atomic_load_explicit(&sw->qw.woken, memory_order_acquire))
			session_queue_turn(sw->s);
	}
}

static void
session_connect_next(struct session *s)
{
	struct pool *p = s->pool;
	struct server *srv;

	if (s->tries > p->retries) {
		session_fail_client(s, "no server reachable");
		return;
	}
	/* Others wait for a slot: a newcomer queues behind them instead of
	 * taking the next free one. */
	if (s->tries == 0 && p->max_queue && p->queue &&
	    queue_busy(p->queue) && session_queue(s, true))
		return;
	srv = pool_pick(p, &s->peer.sa, s->tried, s->ntried,
	    (int64_t)now_ms(), &s->w->rnd);
	if (srv == NULL) {
		if (session_queue(s, false))
			return;
		session_fail_client(s, s->tries ? "no server reachable" :
		    "no server available");
		return;
	}
	session_connect_srv(s, srv);
}

/* How to connect to srv: from its `source:` address, or from the client's
 * own (`source: client`: base/net.c), with MPTCP or not.  -1 when
 * the client cannot be the source: the attempt has ended. */
static int
session_connect_opts(struct session *s, struct server *srv,
    struct net_connect_opts *o)
{
	*o = (struct net_connect_opts){ .mptcp = srv->mptcp };
	if (srv->source_client) {
		/* The client's address is of one family; a server of the
		 * other cannot be reached from it.  Not the server's fault. */
		if (s->peer.sa.sa_family != srv->addr.ss_family) {
			session_attempt_end(s, "source: client, but the client's "
			    "address family is not the server's");
			return -1;
		}
		o->source = &s->peer.sa;
		o->sourcelen = addr_len(&s->peer.sa);
		o->transparent = true;
	} else if (srv->source.len) {
		o->source = &srv->source.u.sa;
		o->sourcelen = srv->source.len;
	}
	return 0;
}

/*
 * Before the first connect: read what the client has sent already (an
 * HTTP client's request is there by the time we accept).  With bytes in
 * hand the connect delays its last handshake ACK so that it rides on
 * them (net.c: ack_with_data), and the server's answer is acknowledged by
 * what we send next, not by an ACK of its own: two segments fewer per
 * connection.  The read is one we would make after the connect anyway.
 * Inspection read the client already; what it kept (inspect_leftover)
 * counts as in hand.  False with the session closed: the client reset
 * before it sent a byte (Linux reports queued bytes before a reset), so
 * there is nothing to deliver and no server to bother.
 */
static bool
session_read_early(struct session *s, bool *in_hand)
{
	struct relay_dir *d = &s->c2s;

	if (s->insp != NULL) {
		*in_hand = inspect_leftover_len(s->insp) > 0;
		return true;
	}
	if (!s->read_early) {
		s->read_early = true;
		buffer_attach(&d->buf, &s->w->pools.bufs);
		/* Room stays for the PROXY header (session_send_prefix). */
		if (relay_fill_max(d, s->cfd, buffer_room(&d->buf) -
		    PROXY_BUILD_MAX) != RELAY_OK) {
			session_close(s, "client reset", 0);
			return false;
		}
		buffer_detach_if_empty(&d->buf, &s->w->pools.bufs);
	}
	*in_hand = d->buf.len > 0;
	return true;
}

/* One connect attempt to srv, reserved by pool_pick(). */
static void
session_connect_srv(struct session *s, struct server *srv)
{
	struct ev_loop *loop = s->w->loop;
	struct pool *p = s->pool;
	struct net_connect_opts o;
	bool in_progress;
	int fd;

	s->srv = srv;
	s->tries++;
	if (s->ntried < SESSION_MAX_TRIED)
		s->tried[s->ntried++] = srv->index;
	s->t_attempt = ev_now(loop);

	if (session_connect_opts(s, srv, &o) == -1)
		return;
	if (!session_read_early(s, &o.ack_with_data))
		return;
	fd = net_connect_ex((const struct sockaddr *)&srv->addr, srv->addrlen,
	    &o, &in_progress);
	if (fd < 0) {
		int e = errno;

		if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
			session_wait_for_fd(s, srv, e);
			return;
		}
		/* EADDRINUSE: a kernel without IP_BIND_ADDRESS_NO_PORT ran
		 * out in bind(). */
		if (e == EADDRNOTAVAIL || e == EADDRINUSE) {
			session_no_local_addr(s);
			return;
		}
		session_attempt_failed(s, connect_error_reason(e));
		return;
	}
	s->sfd = fd;
	session_fd_wait_end(s);
	/* The watcher follows the socket on both paths: a connect that
	 * completed at once goes straight to relaying on it. */
	ev_io_set(&s->sio, fd, 0);
	if (!in_progress) {
		session_connected(s);
		return;
	}
	/* Watched for reading too: a failed connect is reported as an
	 * error, which libev hands out as readable and writable, so a
	 * socket that is only writable has connected, and needs no
	 * getsockopt(SO_ERROR) to say so (session_server_cb).  Costs no
	 * epoll_ctl(): the mask changes once on connect either way. */
	ev_io_modify(&s->sio, EV_READ | EV_WRITE);
	ev_io_start(loop, &s->sio);
	s->smask = EV_READ | EV_WRITE;
	if (p->connect_timeout_ms) {
		ev_timer_set(&s->timer, (double)p->connect_timeout_ms / 1000.0, 0.);
		ev_timer_start(loop, &s->timer);
	}
}

/*
 * One side's socket was reset (a read or a write failed on it).  Nothing
 * can reach that side any more: the direction toward it drops what it
 * holds, and from then on drops what its source sends (relay_abort).
 * What that side sent before its reset can
 * still reach the other one -- a server's "413 Payload Too Large" sent
 * just before it reset a client that was still uploading -- so the
 * direction from it goes on: it reads what the socket still holds (Linux
 * hands out queued bytes before it reports the reset), delivers it, and
 * only then is the other side reset (session_pass_reset).
 */
static void
session_side_reset(struct session *s, bool client)
{
	if (s->reset_by == 0)
		s->reset_reason = client ? "client reset" : "server reset";
	s->reset_by |= client ? RESET_CLIENT : RESET_SERVER;
	relay_abort(client ? &s->s2c : &s->c2s, &s->w->pools);
	(client ? &s->c2s : &s->s2c)->src_reset = true;
}

/* A side was reset: pass the reset on once every byte it sent is on its
 * way to the other side, as a direct connection would have shown it. */
static void
session_pass_reset(struct session *s)
{
	bool client = s->reset_by & RESET_CLIENT;
	const char *reason = s->reset_reason;
	struct relay_dir *from = client ? &s->c2s : &s->s2c;
	struct relay_dir *toward = client ? &s->s2c : &s->c2s;
	int other = client ? s->sfd : s->cfd;
	int mask;

	if (s->reset_by == (RESET_CLIENT | RESET_SERVER)) {
		/* Both gone: no one left to tell. */
		session_close(s, reason, 0);
		return;
	}
	if (!relay_flushed(from)) {
		session_update_io(s);
		return;
	}
	/* A reset drops what the kernel has not sent yet: wait until the
	 * socket is drained (idle_timeout bounds a peer that never reads),
	 * still dropping what that side sends, so it cannot block on us. */
	if (net_unsent(other) > 0) {
		if (!s->wait_sent) {
			s->wait_sent = true;
			net_writable_when_sent(other);
		}
		mask = EV_WRITE | (relay_wants_read(toward) ? EV_READ : 0);
		set_mask(s->w->loop, &s->cio, &s->cmask, client ? 0 : mask);
		set_mask(s->w->loop, &s->sio, &s->smask, client ? mask : 0);
		return;
	}
	session_close(s, reason, client ? RESET_SERVER : RESET_CLIENT);
}

/* The end of a relay step: a reset is passed on once what came before it
 * is delivered, a finished exchange closes, anything else re-derives the
 * watcher masks. */
static void
session_after_pump(struct session *s, enum relay_status st, bool from_client)
{
	/* A failed read is the source's reset; a failed write the
	 * destination's. */
	if (st == RELAY_READ_ERR)
		session_side_reset(s, from_client);
	else if (st == RELAY_WRITE_ERR)
		session_side_reset(s, !from_client);
	/* A FIN owed is sent at the end of the iteration, a reset pending
	 * or not: its bytes went with MSG_MORE (relay.c), and until the
	 * shutdown() pushes them the reset would wait for them to leave
	 * (session_pass_reset) -- about 200 ms.  A direct connection shows
	 * the same: the last bytes, the FIN, then the reset. */
	if (s->c2s.fin_pending || s->s2c.fin_pending)
		session_fin_list(s);
	if (s->reset_by) {
		session_pass_reset(s);
		return;
	}
	if (s->first_eof == NULL) {
		if (s->c2s.eof)
			s->first_eof = "client closed";
		else if (s->s2c.eof)
			s->first_eof = "server closed";
	}
	if (s->mirror != NULL && relay_flushed(&s->c2s))
		mirror_eof(s->mirror);
	if (relay_done(&s->c2s) && relay_done(&s->s2c)) {
		session_close(s, s->first_eof, 0);
		return;
	}
	s->c2s.last = relay_done(&s->s2c);
	s->s2c.last = relay_done(&s->c2s);
	session_update_io(s);
}

/* A number that changes whenever any byte or EOF moves. */
static uint64_t
session_progress(const struct session *s)
{
	return s->c2s.bytes + s->c2s.rbytes + s->s2c.bytes + s->s2c.rbytes +
	    s->c2s.eof + s->s2c.eof;
}

/* An event on one side.  The side's socket is read for the direction that
 * starts there and written for the one that ends there; a write event is
 * served first so that bytes already held leave before more come in. */
static void
session_side_event(struct session *s, int revents, bool client)
{
	struct relay_dir *from_here = client ? &s->c2s : &s->s2c;
	struct relay_dir *to_here = client ? &s->s2c : &s->c2s;
	int here = client ? s->cfd : s->sfd;
	int there = client ? s->sfd : s->cfd;
	uint64_t moved = session_progress(s);
	enum relay_status st;

	shape_grant(&s->shape, &s->c2s, &s->s2c, ev_now(s->w->loop));
	if (revents & EV_WRITE) {
		to_here->wblocked = false;
		st = relay_pump(to_here, there, here, &s->w->pools, false);
		if (st != RELAY_OK) {
			session_after_pump(s, st, !client);
			return;
		}
	}
	st = RELAY_OK;
	if (revents & EV_READ)
		st = relay_pump(from_here, here, there, &s->w->pools, true);
	/* Only bytes or an EOF count as activity: a wake-up that moved
	 * nothing must not keep an idle session alive. */
	if (session_progress(s) != moved) {
		s->last_active = ev_now(s->w->loop);
		session_count_bytes(s);
	}
	shape_charge(&s->shape, s->w->loop, &s->c2s, &s->s2c);
	session_after_pump(s, st, client);
}

static void
session_client_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct session *s = io->data;

	if (s->state == SESS_INSPECTING) {
		session_inspect_event(s);
		return;
	}
	session_side_event(s, revents, true);
}

static void
session_server_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct session *s = io->data;

	if (s->state == SESS_CONNECTING) {
		/* Writable alone: connected (see session_connect_srv).
		 * Readable too: an error, or a server that spoke at once. */
		int e = revents & EV_READ ? net_connect_result(s->sfd) : 0;

		if (e == EADDRNOTAVAIL) {
			session_no_local_addr(s);
			return;
		}
		if (e != 0) {
			session_attempt_failed(s, connect_error_reason(e));
			return;
		}
		session_connected(s);
		return;
	}
	session_side_event(s, revents, false);
}

static void
session_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct session *s = t->data;
	struct pool *p = s->pool;
	double idle, limit;

	if (s->state == SESS_INSPECTING) {
		session_inspect_results(s, s->insp, true);
		session_refuse(s, GUARD_INSPECT_TIMEOUT,
		    inspect_timeout_reason(s->insp));
		return;
	}
	if (s->state == SESS_QUEUED) {
		char why[96];

		atomic_fetch_add_explicit(&s->wait->q->timeouts, 1,
		    memory_order_relaxed);
		snprintf(why, sizeof(why), "no free slot within queue_timeout "
		    "(%.3fs)", (double)p->queue_timeout_ms / 1000.0);
		session_queue_refuse(s, why, "queue timeout");
		return;
	}
	if (s->state == SESS_CONNECTING) {
		if (s->sfd < 0)		/* waiting for a descriptor */
			session_connect_next(s);
		else
			session_attempt_failed(s, "connect timeout");
		return;
	}
	/* The timer is re-armed lazily: activity only stamps last_active,
	 * and the timer, when it fires early, sleeps for the remainder. */
	limit = (double)p->idle_timeout_ms / 1000.0;
	idle = ev_now(loop) - s->last_active;
	if (idle >= limit - 0.001) {
		session_close(s, "idle timeout", RESET_FORCED);
		return;
	}
	ev_timer_set(t, limit - idle, 0.);
	ev_timer_start(loop, t);
}
