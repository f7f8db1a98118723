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
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edge/guard.h"
#include "relay/listener.h"
#include "base/log.h"
#include "base/net.h"
#include "relay/session.h"
#include "stats/peers.h"
#include "stats/stats.h"
#include "base/util.h"
#include "relay/worker.h"

#define LISTEN_BACKLOG 4096
#define ACCEPT_BATCH 64
#define PAUSE_LIMIT_S 0.1	/* max_connections reached */
#define PAUSE_EMFILE_S 0.5	/* out of file descriptors */

static struct lsock *lsocks;	/* registry, main thread only */

/* Sockets passed at start and not yet adopted (fd -1 once taken). */
struct inherited {
	int fd;
	char *name;		/* LISTEN_FDNAMES entry, or NULL */
	bool ours;		/* one of tcplb's own reuseport groups */
	char kind;		/* ours: fdname_kind() */
	bool has_bound;
	bool dgram;		/* SOCK_DGRAM */
	struct sockaddr_storage bound;	/* getsockname(), once */
};
static struct inherited *inherited;
static unsigned ninherited;

/* Where the sockets are also kept, so that a restart finds them again
 * (systemd's fd store); lent by the service (listener_install_keeper). */
static void
keeper_none_keep(const char *name, const int *fds, unsigned n)
{
}

static void
keeper_none_forget(const char *name)
{
}

static struct listener_keeper keeper = {
	.keep = keeper_none_keep,
	.forget = keeper_none_forget,
};

void
listener_install_keeper(const struct listener_keeper *k)
{
	keeper = *k;
}

/* What kind of name: 0 (not ours), a compact one's letter (see
 * fdname_make()), or 'o' (an older tcplb's "tcplb-ls-[udp-]REQ-BOUND"). */
static char
fdname_kind(const char *name)
{
	size_t n = strlen(LISTENER_FDNAME_COMPACT);

	if (name == NULL)
		return 0;
	if (strncmp(name, LISTENER_FDNAME_COMPACT, n) == 0 && name[n] != '\0' &&
	    strchr("LZUVMN", name[n]) != NULL && name[n + 1] == '-')
		return name[n];
	if (strncmp(name, LISTENER_FDNAME_PREFIX, strlen(LISTENER_FDNAME_PREFIX)) == 0)
		return 'o';
	return 0;
}

static void
inherited_add(int fd, const char *name)
{
	struct inherited *in;
	socklen_t len;
	int type = 0;

	inherited = xrealloc(inherited, (ninherited + 1) * sizeof(*inherited));
	in = &inherited[ninherited++];
	in->fd = fd;
	in->name = name ? xstrdup(name) : NULL;
	in->kind = fdname_kind(name);
	in->ours = in->kind != 0;
	in->has_bound = net_local_addr(fd, &in->bound, &len) == 0;
	len = sizeof(type);
	in->dgram = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	    type == SOCK_DGRAM;
}

void
listener_set_inherited(const int *fds, char **names, unsigned n)
{
	for (unsigned i = 0; i < ninherited; i++)
		free(inherited[i].name);
	free(inherited);
	inherited = NULL;
	ninherited = 0;
	for (unsigned i = 0; i < n; i++)
		inherited_add(fds[i], names ? names[i] : NULL);
}

#define FDNAME_MPTCP "-mptcp"

/* FDNAME of one of our groups.  It must be unique per group (the fd
 * store removes by name) and short: systemd passes every stored socket's
 * name in one LISTEN_FDNAMES string, which execve() caps at 128 KiB, so
 * at FileDescriptorStoreMax=4096 a name may have 31 bytes.  A group is
 * identified by its bound address (from getsockname() on adoption); the
 * name's letter says what the file asked for -- TCP 'L' (a port) or 'Z'
 * (port 0), UDP 'U' or 'V', MPTCP 'M' or 'N' (a group of its own: a
 * reload that toggles `mptcp:` keeps the new one in the store and
 * forgets the old one by name) -- and a hash of the bound address and
 * protocol makes it unique: 24 bytes. */
static char *
fdname_make(const struct sockaddr *req, const struct sockaddr *bound,
    bool dgram, bool mptcp)
{
	bool zero = addr_port(req) == 0;
	char k = dgram ? (zero ? 'V' : 'U') : mptcp ? (zero ? 'N' : 'M') : (zero ? 'Z' : 'L');
	uint64_t h = addr_hash(bound) ^ (dgram ? 0x5bd1e995ULL : 0) ^
	    (mptcp ? 0x27d4eb2f165667c5ULL : 0);

	return xasprintf("%s%c-%016llx", LISTENER_FDNAME_COMPACT, k, (unsigned long long)h);
}

/* An older tcplb's name, for matching what it passed. */
static char *
fdname_old_make(const struct sockaddr *req, const struct sockaddr *bound,
    bool dgram, bool mptcp)
{
	char r[ADDR_STRLEN], b[ADDR_STRLEN];
	char *name;

	addr_format(req, r, sizeof(r));
	addr_format(bound, b, sizeof(b));
	/* UDP groups say so ("tcplb-ls-udp-..."): a TCP and a UDP listener
	 * may share an address.  A group made for `mptcp: true` has a name of
	 * its own: on a reload that toggles the key, the new group is kept in
	 * the fd store while the old one is forgotten, by name. */
	name = xasprintf("%s%s%s-%s%s", LISTENER_FDNAME_PREFIX,
	    dgram ? "udp-" : "", r, b, mptcp ? FDNAME_MPTCP : "");
	for (char *p = name; *p; p++)
		if (*p == ':')
			*p = '_';
	return name;
}

static bool
fdname_is_mptcp(const char *name)
{
	size_t n = name ? strlen(name) : 0, k = strlen(FDNAME_MPTCP);
	char kind = fdname_kind(name);

	if (kind == 'M' || kind == 'N')
		return true;
	return kind == 'o' && n > k && strcmp(name + n - k, FDNAME_MPTCP) == 0;
}

/* Same family and host address, any port. */
static bool
addr_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	struct sockaddr_storage x;

	if (a->sa_family != b->sa_family)
		return false;
	memcpy(&x, a, a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in));
	addr_set_port((struct sockaddr *)&x, addr_port(b));
	return addr_equal((struct sockaddr *)&x, b);
}

/* Does an older tcplb's FDNAME say it was bound for req? */
static bool
fdname_old_matches_req(const char *name, const struct sockaddr *req, bool dgram)
{
	char *want = fdname_old_make(req, req, dgram, false);
	/* "tcplb-ls-REQ-": compare up to and including the dash after REQ */
	size_t n = strlen(want) - strlen(strrchr(want, '-')) + 1;
	bool ok = strncmp(name, want, n) == 0;

	free(want);
	return ok;
}

/* Does our inherited group say it was bound for req? */
static bool
fdname_matches_req(const struct inherited *in, const struct sockaddr *req, bool dgram)
{
	const struct sockaddr *b = (const struct sockaddr *)&in->bound;
	bool zero = addr_port(req) == 0;

	if (in->kind == 'o')
		return fdname_old_matches_req(in->name, req, dgram);
	if (!in->has_bound || in->dgram != dgram)
		return false;
	if (zero != (in->kind == 'Z' || in->kind == 'V' || in->kind == 'N'))
		return false;
	return zero ? addr_same_host(b, req) : addr_equal(b, req);
}

void
listener_warn_unused_inherited(void)
{
	for (unsigned i = 0; i < ninherited; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		char where[ADDR_STRLEN] = "?";

		if (inherited[i].fd < 0)
			continue;
		if (net_local_addr(inherited[i].fd, &ss, &len) == 0)
			addr_format((struct sockaddr *)&ss, where, sizeof(where));
		if (inherited[i].ours) {
			/* Ours, kept by the fd store or the previous process
			 * for an address the file no longer binds. */
			bool first = true;

			/* Once per group (the store removes by name; a
			 * group of 32 workers is one line, not 32). */
			for (unsigned j = 0; j < i && first; j++)
				first = !(inherited[j].ours && inherited[j].name &&
				    strcmp(inherited[j].name, inherited[i].name) == 0);
			if (first) {
				log_info("closing listening socket %s: no listener binds it any more",
				    where);
				keeper.forget(inherited[i].name);
			}
			close(inherited[i].fd);
			inherited[i].fd = -1;
			continue;
		}
		log_warnx("socket %d passed by systemd (%s) matches no listener's bind address: not used",
		    inherited[i].fd, where);
	}
}

static bool
port_is_zero(const struct sockaddr *sa)
{
	return addr_port(sa) == 0;
}

/* The socket in list for a configured address: the same request, or (for
 * a fixed port) the address it is bound to.  A port-0 request never takes
 * a socket another bind of this generation already uses: two listeners on
 * "host:0" get a port each. */
static struct lsock *
lsock_find(struct lsock *list, const struct sockaddr *req, bool dgram,
    bool mptcp)
{
	for (struct lsock *ls = list; ls; ls = ls->next) {
		if (ls->dgram != dgram)
			continue;
		/* `mptcp:` changed: a socket of the other protocol.  One
		 * passed by a socket unit is used as it is. */
		if (!dgram && !ls->adopted && ls->want_mptcp != mptcp)
			continue;
		if (port_is_zero(req)) {
			if (!ls->in_use &&
			    addr_equal((const struct sockaddr *)&ls->req, req))
				return ls;
			continue;
		}
		if (addr_equal((const struct sockaddr *)&ls->req, req) ||
		    addr_equal((const struct sockaddr *)&ls->bound, req))
			return ls;
	}
	return NULL;
}

static bool
inherited_matches(const struct inherited *in, const struct sockaddr *req,
    bool dgram)
{
	if (in->fd < 0)
		return false;
	if (in->ours)
		return fdname_matches_req(in, req, dgram);
	return net_fd_matches(in->fd, req, dgram);
}

/* Take the inherited socket(s) for req: a socket unit's one socket, or
 * every member of one of our reuseport groups (closing a member would
 * reset the connections waiting in its queue).  Returns how many. */
static unsigned
take_inherited(const struct sockaddr *req, bool dgram, int **fds, char **name,
    bool *ours)
{
	unsigned n = 0;
	int first = -1;

	for (unsigned i = 0; i < ninherited; i++) {
		if (inherited_matches(&inherited[i], req, dgram)) {
			first = (int)i;
			break;
		}
	}
	*fds = NULL;
	if (first < 0)
		return 0;
	*ours = inherited[first].ours;
	*name = inherited[first].name ? xstrdup(inherited[first].name) : NULL;
	for (unsigned i = (unsigned)first; i < ninherited; i++) {
		struct inherited *in = &inherited[i];

		if (in->fd < 0 || in->ours != *ours)
			continue;
		if (i != (unsigned)first &&
		    (!*ours || strcmp(in->name, inherited[first].name) != 0))
			continue;
		*fds = xrealloc(*fds, (n + 1) * sizeof(int));
		(*fds)[n++] = in->fd;
		in->fd = -1;
		if (!*ours)
			break;	/* a socket unit's socket is one socket */
	}
	return n;
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
			inherited_add(ls->fds[i], ls->fdname);
		} else {
			close(ls->fds[i]);
		}
	}
	free(ls->fdname);
	free(ls->fds);
	free(ls);
}

/* Retire a socket for good: also out of systemd's fd store, or systemd
 * would keep the port bound with nobody accepting. */
static void
lsock_retire(struct lsock *ls)
{
	if (!ls->adopted && ls->fdname)
		keeper.forget(ls->fdname);
	lsock_close(ls);
}

/* Another program listening on this address?  Our sockets set
 * SO_REUSEPORT, so the kernel would let us join a stranger's group (same
 * uid) and split its traffic: bind once without SO_REUSEPORT to find out. */
static int
probe_foreign(const struct sockaddr *sa, socklen_t len, bool dgram)
{
	int fd = dgram ? net_udp_bind(sa, len, false) :
	    net_listen(sa, len, false, 1);

	if (fd < 0)
		return errno == EADDRINUSE ? -1 : 0;
	close(fd);
	return 0;
}

static bool
addr_is_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

/* Would one of our own sockets in list make the probe bind of sa fail?
 * Only one on the same port whose address is sa's or a wildcard (or sa is
 * the wildcard): then the probe cannot tell ours from a stranger's and is
 * skipped.  Another address on the same port (127.0.0.1:P beside
 * 127.0.0.2:P) does not conflict, so it must not skip the probe -- a
 * stranger on that other address would be joined. */
static bool
bound_conflicts(const struct sockaddr *b, const struct sockaddr *sa)
{
	if (b->sa_family != sa->sa_family || addr_port(b) != addr_port(sa))
		return false;
	return addr_equal(b, sa) || addr_is_wildcard(b) || addr_is_wildcard(sa);
}

static bool
ours_conflicts(const struct lsock *list, const struct sockaddr *sa,
    bool dgram)
{
	for (const struct lsock *ls = list; ls; ls = ls->next)
		if (ls->dgram == dgram &&
		    bound_conflicts((const struct sockaddr *)&ls->bound, sa))
			return true;
	return false;
}

/* The same for the sockets passed in and not (yet) taken: the fd store's
 * groups after a restart, the previous process's in an upgrade, a socket
 * unit's.  They are ours too -- on start, reload, upgrade and restart --
 * even when the file moved the bind ("0.0.0.0:P" to "127.0.0.1:P"). */
static bool
inherited_conflicts(const struct sockaddr *sa, bool dgram)
{
	for (unsigned i = 0; i < ninherited; i++)
		if (inherited[i].fd >= 0 && inherited[i].has_bound &&
		    inherited[i].dgram == dgram &&
		    bound_conflicts((const struct sockaddr *)&inherited[i].bound, sa))
			return true;
	return false;
}

/* Bind one socket per worker with SO_REUSEPORT so the kernel spreads new
 * connections over the workers without a shared accept queue. */
static struct lsock *
lsock_open(const struct bind *b, const struct sockaddr *req, bool dgram,
    unsigned nworkers, bool mptcp, const struct lsock *created, char *err,
    size_t errlen)
{
	struct lsock *ls = xcalloc(1, sizeof(*ls));
	struct sockaddr_storage ss;
	socklen_t sslen;
	int *fds;
	char *name = NULL;
	bool ours = false, was_mptcp;
	unsigned n;

	memcpy(&ls->req, &b->addr, b->addrlen);
	ls->reqlen = b->addrlen;
	ls->dgram = dgram;
	n = take_inherited(req, dgram, &fds, &name, &ours);
	was_mptcp = n > 0 && ours && fdname_is_mptcp(name);
	if (n > 0 && ours && fdname_kind(name) == 'o') {
		/* An older tcplb's long name: stored again under a compact
		 * one below (removed first: the store ignores an fd it
		 * holds already), so LISTEN_FDNAMES stays short. */
		keeper.forget(name);
		free(name);
		name = NULL;
	}
	if (n > 0) {
		ls->adopted = !ours;
		/* Our own group keeps what it was made for (its name says),
		 * even when the file now says otherwise: replacing it here
		 * would bind beside it.  The next reload replaces it. */
		ls->want_mptcp = ours ? was_mptcp : mptcp;
		if (ls->want_mptcp != mptcp)
			log_notice("listener %s: the sockets passed were made for "
			    "`mptcp: %s`; kept until the next reload", b->text,
			    mptcp ? "false" : "true");
		ls->fdname = name;
		ls->nfds = n;
		ls->fds = fds;
		for (unsigned i = 0; i < n; i++) {
			/* A socket from a socket unit may be blocking; one
			 * blocking accept() would stall a whole worker. */
			int fl = fcntl(fds[i], F_GETFL);

			if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0 ||
			    fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0) {
				snprintf(err, errlen, "socket passed for %s: %s",
				    b->text, strerror(errno));
				lsock_close(ls);
				return NULL;
			}
			if (dgram) {
				net_udp_pktinfo(fds[i]);
				net_udp_gro(fds[i]);
				continue;
			}
			net_set_nodelay(fds[i]);
			net_set_oobinline(fds[i]);
		}
	} else {
		if (!port_is_zero((const struct sockaddr *)&b->addr) &&
		    !ours_conflicts(lsocks, (const struct sockaddr *)&b->addr, dgram) &&
		    !ours_conflicts(created, (const struct sockaddr *)&b->addr, dgram) &&
		    !inherited_conflicts((const struct sockaddr *)&b->addr, dgram) &&
		    probe_foreign((const struct sockaddr *)&b->addr, b->addrlen,
		    dgram) < 0) {
			snprintf(err, errlen,
			    "cannot listen on %s: %s (another program listens there)",
			    b->text, strerror(EADDRINUSE));
			free(ls);
			return NULL;
		}
		ls->nfds = nworkers;
		ls->fds = xmalloc(nworkers * sizeof(int));
		for (unsigned i = 0; i < nworkers; i++)
			ls->fds[i] = -1;
		memcpy(&ss, &b->addr, b->addrlen);
		sslen = b->addrlen;
		ls->want_mptcp = mptcp;
		for (unsigned i = 0; i < nworkers; i++) {
			bool fell_back = false;

			ls->fds[i] = dgram ?
			    net_udp_bind((struct sockaddr *)&ss, sslen, true) :
			    net_listen_mptcp((struct sockaddr *)&ss, sslen, true,
			    LISTEN_BACKLOG, mptcp, &fell_back);
			if (i == 0 && fell_back)
				log_warnx("listener %s: mptcp: the kernel has no "
				    "Multipath TCP (net.mptcp.enabled=0, or not "
				    "built in): accepting plain TCP only",
				    b->text);
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
	/* A flow lives on the worker that reads its first datagram: every
	 * later one must reach the same socket, whatever the kernel's
	 * reuseport hash would do.  A group keeps its program when handed
	 * to the next process (an upgrade), so attaching again is harmless. */
	if (dgram && ls->nfds > 1 && !ls->adopted &&
	    net_udp_steer(ls->fds[0], ls->bound.ss_family, ls->nfds) < 0)
		log_warn("listener %s: cannot steer datagrams by client "
		    "(SO_ATTACH_REUSEPORT_CBPF); the kernel's hash decides",
		    ls->text);
	if (ls->fdname == NULL && !ls->adopted) {
		ls->fdname = fdname_make(req, (const struct sockaddr *)&ls->bound,
		    dgram, ls->want_mptcp);
		/* Kept by systemd across a restart, so that connections
		 * arriving meanwhile wait in the queue instead of being
		 * refused (a no-op outside a unit with an fd store). */
		keeper.keep(ls->fdname, ls->fds, ls->nfds);
	}
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
			struct lsock *ls = lsock_find(lsocks, req, l->udp,
			    l->mptcp);

			if (ls == NULL)
				ls = lsock_find(created, req, l->udp, l->mptcp);
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
				ls = lsock_open(&want, req, l->udp, nworkers,
				    l->mptcp, created, err, errlen);
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

		lsock_retire(created);
		created = next;
	}
	for (uint32_t i = 0; i < g->nlisteners; i++)
		for (uint32_t b = 0; b < g->listeners[i].nbinds; b++)
			g->listeners[i].binds[b].ls = NULL;
	return -1;
}

unsigned
listener_export(int **fds, const char ***names)
{
	unsigned n = 0;

	*fds = NULL;
	*names = NULL;
	for (struct lsock *ls = lsocks; ls; ls = ls->next) {
		for (unsigned i = 0; i < ls->nfds; i++) {
			if (ls->fds[i] < 0)
				continue;
			*fds = xrealloc(*fds, (n + 1) * sizeof(int));
			*names = xrealloc(*names, (n + 1) * sizeof(char *));
			(*fds)[n] = ls->fds[i];
			(*names)[n] = ls->fdname ? ls->fdname : "unknown";
			n++;
		}
	}
	for (unsigned i = 0; i < ninherited; i++) {
		if (inherited[i].fd < 0)
			continue;
		*fds = xrealloc(*fds, (n + 1) * sizeof(int));
		*names = xrealloc(*names, (n + 1) * sizeof(char *));
		(*fds)[n] = inherited[i].fd;
		(*names)[n] = inherited[i].name ? inherited[i].name : "unknown";
		n++;
	}
	return n;
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
		lsock_retire(ls);
	}
}

void
listener_fdstore_all(void)
{
	for (struct lsock *ls = lsocks; ls; ls = ls->next)
		if (!ls->adopted && ls->fdname)
			keeper.keep(ls->fdname, ls->fds, ls->nfds);
}

void
listener_close_streams(void)
{
	struct lsock **pp = &lsocks;

	while (*pp) {
		struct lsock *ls = *pp;

		if (ls->dgram) {
			pp = &ls->next;
			continue;
		}
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
	uint32_t before;

	/* Global: the sessions an old process still drains after a binary
	 * upgrade count too (peers.h; refreshed a few times a second), and
	 * UDP flows (one descriptor each; RLIMIT_NOFILE is sized from gmax). */
	before = atomic_fetch_add_explicit(&tcplb_active, 1, memory_order_relaxed);
	if (gmax && before + atomic_load_explicit(&peers_active, memory_order_relaxed) +
	    atomic_load_explicit(&tcplb_flows, memory_order_relaxed) >= gmax) {
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
				guard_refused(&w->guard, w->id, wl->l,
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
