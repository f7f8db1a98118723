/*
 * listener: owns every listening socket (the lsock registry, main thread
 * only) and the accept path (worker threads).
 *
 * Reload contract: listener_prepare() binds what the new generation needs
 * without closing anything; listener_commit() runs only once every worker
 * has stopped watching the old sockets, and closes those the new generation
 * no longer binds.  Closing a socket a worker still polls would leave a
 * stale epoll registration, and closing an SO_REUSEPORT socket resets the
 * connections waiting in its queue: so unchanged addresses keep theirs.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard.h"
#include "listener.h"
#include "log.h"
#include "net.h"
#include "session.h"
#include "stats.h"
#include "util.h"
#include "worker.h"

#define LISTEN_BACKLOG 4096
#define ACCEPT_BATCH 64
#define PAUSE_LIMIT_S 0.1	/* max_connections reached */
#define PAUSE_EMFILE_S 0.5	/* out of file descriptors */

static struct lsock *lsocks;	/* registry, main thread only */
static int *inherited;		/* fds from systemd not yet adopted */
static unsigned ninherited;

void
listener_set_inherited(const int *fds, unsigned n)
{
	free(inherited);
	inherited = n ? xmalloc(n * sizeof(*fds)) : NULL;
	if (n)
		memcpy(inherited, fds, n * sizeof(*fds));
	ninherited = n;
}

void
listener_warn_unused_inherited(void)
{
	for (unsigned i = 0; i < ninherited; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		char where[ADDR_STRLEN] = "?";

		if (inherited[i] < 0)
			continue;
		if (net_local_addr(inherited[i], &ss, &len) == 0)
			addr_format((struct sockaddr *)&ss, where, sizeof(where));
		log_warnx("socket %d passed by systemd (%s) matches no listener's bind address: not used",
		    inherited[i], where);
	}
}

static bool
port_is_zero(const struct sockaddr *sa)
{
	return addr_port(sa) == 0;
}

/* The socket in list for a configured address: the same request, or (for
 * a fixed port) the address it is bound to. */
static struct lsock *
lsock_find(struct lsock *list, const struct sockaddr *req)
{
	for (struct lsock *ls = list; ls; ls = ls->next)
		if (addr_equal((const struct sockaddr *)&ls->req, req) ||
		    (!port_is_zero(req) &&
		     addr_equal((const struct sockaddr *)&ls->bound, req)))
			return ls;
	return NULL;
}

static int
take_inherited(const struct sockaddr *sa)
{
	for (unsigned i = 0; i < ninherited; i++) {
		if (inherited[i] >= 0 && net_fd_matches(inherited[i], sa)) {
			int fd = inherited[i];

			inherited[i] = -1;
			return fd;
		}
	}
	return -1;
}

static void
lsock_close(struct lsock *ls)
{
	for (unsigned i = 0; i < ls->nfds; i++) {
		if (ls->fds[i] < 0)
			continue;
		if (ls->adopted) {
			/* systemd still owns the socket: keep it for a later
			 * generation that binds this address again. */
			int *grown = xrealloc(inherited, (ninherited + 1) * sizeof(int));

			inherited = grown;
			inherited[ninherited++] = ls->fds[i];
		} else {
			close(ls->fds[i]);
		}
	}
	free(ls->fds);
	free(ls);
}

/* Bind one socket per worker with SO_REUSEPORT so the kernel spreads new
 * connections over the workers without a shared accept queue. */
static struct lsock *
lsock_open(const struct bind *b, unsigned nworkers, char *err, size_t errlen)
{
	struct lsock *ls = xcalloc(1, sizeof(*ls));
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd;

	memcpy(&ls->req, &b->addr, b->addrlen);
	ls->reqlen = b->addrlen;
	fd = take_inherited((const struct sockaddr *)&b->addr);
	if (fd >= 0) {
		/* An inherited socket may be blocking; one blocking accept()
		 * would stall a whole worker. */
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			snprintf(err, errlen, "socket from systemd for %s: %s",
			    b->text, strerror(errno));
			close(fd);
			free(ls);
			return NULL;
		}
		net_set_nodelay(fd);
		ls->adopted = true;
		ls->nfds = 1;
		ls->fds = xmalloc(sizeof(int));
		ls->fds[0] = fd;
	} else {
		ls->nfds = nworkers;
		ls->fds = xmalloc(nworkers * sizeof(int));
		for (unsigned i = 0; i < nworkers; i++)
			ls->fds[i] = -1;
		memcpy(&ss, &b->addr, b->addrlen);
		sslen = b->addrlen;
		for (unsigned i = 0; i < nworkers; i++) {
			ls->fds[i] = net_listen((struct sockaddr *)&ss, sslen, true,
			    LISTEN_BACKLOG);
			if (ls->fds[i] < 0) {
				snprintf(err, errlen, "cannot listen on %s: %s",
				    b->text, strerror(errno));
				lsock_close(ls);
				return NULL;
			}
			/* Port 0: the other workers must join the port the
			 * kernel chose for the first socket. */
			if (i == 0 && net_local_addr(ls->fds[0], &ss, &sslen) < 0) {
				snprintf(err, errlen, "getsockname %s: %s", b->text,
				    strerror(errno));
				lsock_close(ls);
				return NULL;
			}
		}
	}
	if (net_local_addr(ls->fds[0], &ls->bound, &sslen) < 0)
		memcpy(&ls->bound, &b->addr, b->addrlen);
	addr_format((const struct sockaddr *)&ls->bound, ls->text, sizeof(ls->text));
	return ls;
}

int
listener_prepare(struct gen *g, unsigned nworkers, char *err, size_t errlen)
{
	struct lsock *created = NULL, **tail = &created;

	for (struct lsock *ls = lsocks; ls; ls = ls->next)
		ls->in_use = false;
	for (uint32_t i = 0; i < g->nlisteners; i++) {
		struct listener *l = &g->listeners[i];

		for (uint32_t b = 0; b < l->nbinds; b++) {
			struct bind *bd = &l->binds[b];
			const struct sockaddr *req = (const struct sockaddr *)&bd->addr;
			struct lsock *ls = lsock_find(lsocks, req);

			if (ls == NULL)
				ls = lsock_find(created, req);
			if (ls == NULL) {
				/* "*:0" or a host name on port 0 means several
				 * addresses: all of them on the one port the
				 * kernel picks for the first, which is the port
				 * printed and logged. */
				struct bind want = *bd;

				if (b > 0 && port_is_zero((struct sockaddr *)&bd->addr) &&
				    strcmp(bd->text, l->binds[b - 1].text) == 0 &&
				    l->binds[b - 1].ls != NULL)
					addr_set_port((struct sockaddr *)&want.addr,
					    addr_port((struct sockaddr *)&l->binds[b - 1].ls->bound));
				ls = lsock_open(&want, nworkers, err, errlen);
				if (ls == NULL)
					goto rollback;
				/* Matched on reload by what the file says
				 * (port 0), not by the port borrowed here. */
				memcpy(&ls->req, &bd->addr, bd->addrlen);
				ls->reqlen = bd->addrlen;
				*tail = ls;
				tail = &ls->next;
			}
			ls->in_use = true;
			bd->ls = ls;
		}
	}
	/* Only now, with every bind done, do the new sockets join the
	 * registry: a failure above leaves the registry as it was. */
	*tail = lsocks;
	lsocks = created;
	return 0;

rollback:
	while (created) {
		struct lsock *next = created->next;

		lsock_close(created);
		created = next;
	}
	for (uint32_t i = 0; i < g->nlisteners; i++)
		for (uint32_t b = 0; b < g->listeners[i].nbinds; b++)
			g->listeners[i].binds[b].ls = NULL;
	return -1;
}

static bool
gen_uses(const struct gen *g, const struct lsock *ls)
{
	for (uint32_t i = 0; i < g->nlisteners; i++)
		for (uint32_t b = 0; b < g->listeners[i].nbinds; b++)
			if (g->listeners[i].binds[b].ls == ls)
				return true;
	return false;
}

void
listener_commit(const struct gen *g)
{
	struct lsock **pp = &lsocks;

	while (*pp) {
		struct lsock *ls = *pp;

		if (gen_uses(g, ls)) {
			pp = &ls->next;
			continue;
		}
		log_info("closing listening socket %s", ls->text);
		*pp = ls->next;
		lsock_close(ls);
	}
}

void
listener_close_all(void)
{
	while (lsocks) {
		struct lsock *next = lsocks->next;

		lsock_close(lsocks);
		lsocks = next;
	}
}

/* Reserve a slot against global.max_connections and the listener's own
 * limit before accepting, so neither is ever exceeded; the session gives
 * both back in session_close(). */
static bool
reserve_slot(struct worker *w, struct wlisten *wl)
{
	uint32_t gmax = w->gen->global.max_conns;
	uint32_t lmax = wl->l->max_conns;

	if (atomic_fetch_add_explicit(&tcplb_active, 1, memory_order_relaxed) >= gmax && gmax) {
		atomic_fetch_sub_explicit(&tcplb_active, 1, memory_order_relaxed);
		if (wl->l->st->ws)
			stats_add(&wl->l->st->ws[w->id].refused_limit, 1);
		worker_pause_accept(w, NULL, PAUSE_LIMIT_S);
		return false;
	}
	if (atomic_fetch_add_explicit(&wl->l->st->active, 1, memory_order_relaxed) >= lmax && lmax) {
		atomic_fetch_sub_explicit(&wl->l->st->active, 1, memory_order_relaxed);
		atomic_fetch_sub_explicit(&tcplb_active, 1, memory_order_relaxed);
		if (wl->l->st->ws)
			stats_add(&wl->l->st->ws[w->id].refused_limit, 1);
		worker_pause_accept(w, wl, PAUSE_LIMIT_S);
		return false;
	}
	return true;
}

static void
release_slot(struct wlisten *wl)
{
	atomic_fetch_sub_explicit(&wl->l->st->active, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&tcplb_active, 1, memory_order_relaxed);
}

void
listener_accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct wlisten *wl = io->data;
	struct worker *w = wl->w;

	/* Bounded: a flood of connections on one listener must not keep the
	 * loop from serving the sessions it already has. */
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage peer;
		socklen_t plen;
		int fd;

		if (!reserve_slot(w, wl))
			return;
		fd = net_accept(wl->fd, &peer, &plen);
		if (fd < 0) {
			int e = errno;

			release_slot(wl);
			switch (e) {
			case EAGAIN:
#if EAGAIN != EWOULDBLOCK
			case EWOULDBLOCK:
#endif
				return;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
			/* Linux reports a pending network error of the new
			 * connection through accept(): that connection is lost,
			 * the next one may be fine. */
			case ENETDOWN:
			case ENOPROTOOPT:
			case EHOSTDOWN:
			case ENONET:
			case EHOSTUNREACH:
			case EOPNOTSUPP:
			case ENETUNREACH:
			case EPERM:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				/* Level-triggered epoll would call us again at
				 * once: pause instead of spinning. */
				if (ev_now(loop) - w->last_emfile_log > 10) {
					w->last_emfile_log = ev_now(loop);
					errno = e;
					log_warn("listener %s: accept paused for %.1fs",
					    wl->l->name, PAUSE_EMFILE_S);
				}
				worker_pause_accept(w, NULL, PAUSE_EMFILE_S);
				return;
			default:
				errno = e;
				log_warn("listener %s: accept", wl->l->name);
				return;
			}
		}
		if (guard_active(wl->l)) {
			struct guard_ticket tk;
			enum guard_reason r = guard_accept(wl->l,
			    (struct sockaddr *)&peer, &tk);

			if (r != GUARD_OK) {
				/* Refused before any backend work: a reset,
				 * no session, the slot back at once. */
				net_close_reset(fd);
				release_slot(wl);
				guard_refused(&w->guard, wl->l,
				    (struct sockaddr *)&peer, r, NULL);
				continue;
			}
			session_start(w, wl->l, fd, (struct sockaddr *)&peer,
			    plen, &tk);
			continue;
		}
		session_start(w, wl->l, fd, (struct sockaddr *)&peer, plen, NULL);
	}
}
