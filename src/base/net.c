/*
 * net: the socket system calls tcplb makes, each behind a name that says what
 * it is for.  Every function returns -1 with errno intact on failure and
 * logs nothing: the caller knows the context and logs once.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "base/addr.h"
#include "base/net.h"

/*
 * TEST HOOK, never set in production: with TCPLB_TEST_CONNECT_WAIT=1 in the
 * environment, net_connect() waits (blocking, up to a second) for a
 * connect that is in progress and reports it as completed at once.  That
 * is the path a real connect() returning 0 takes, which loopback never
 * takes on its own; tests/integration/t_connect_immediate.py drives the
 * relay through it.  Read once, before any thread starts.
 */
static bool net_test_connect_wait;

__attribute__((constructor)) static void
net_test_hooks(void)
{
	const char *v = getenv("TCPLB_TEST_CONNECT_WAIT");

	net_test_connect_wait = v != NULL && strcmp(v, "1") == 0;
}

/* The test hook's wait: 0 once connected, or an errno. */
static int
net_test_wait_connected(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	if (poll(&pfd, 1, 1000) != 1)
		return ETIMEDOUT;
	return net_connect_result(fd);
}

void
net_set_nodelay(int fd)
{
	int one = 1;

	/* Best effort: a proxy that adds Nagle delay on top of the client's
	 * own doubles the latency of small request/response exchanges. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void
net_set_oobinline(int fd)
{
	int one = 1;

	/* Best effort: without it read() silently drops an urgent byte. */
	(void)setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
}

/*
 * A stream socket, Multipath TCP when asked and the kernel has it.
 * socket(IPPROTO_MPTCP) fails with EPROTONOSUPPORT on a kernel built
 * without MPTCP, ENOPROTOOPT while net.mptcp.enabled=0 (per namespace),
 * and EINVAL on old kernels that do not know the protocol number: all of
 * them mean "use TCP".  Anything else (EMFILE...) is a real failure.
 */
static int
net_stream_socket(int af, bool mptcp, bool *fell_back)
{
	int fd;

	if (fell_back != NULL)
		*fell_back = false;
	if (mptcp) {
		fd = socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    IPPROTO_MPTCP);
		if (fd >= 0 || (errno != EPROTONOSUPPORT &&
		    errno != ENOPROTOOPT && errno != EINVAL))
			return fd;
		if (fell_back != NULL)
			*fell_back = true;
	}
	return socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

bool
net_is_mptcp_socket(int fd)
{
	int proto = 0;
	socklen_t len = sizeof(proto);

	return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 &&
	    proto == IPPROTO_MPTCP;
}

#ifndef TCP_IS_MPTCP
#define TCP_IS_MPTCP 43		/* linux/tcp.h, 5.16 */
#endif

bool
net_mptcp_active(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);

	/* On an MPTCP socket: 1 unless it fell back to plain TCP.  On a
	 * TCP socket: 0. */
	return getsockopt(fd, IPPROTO_TCP, TCP_IS_MPTCP, &v, &len) == 0 &&
	    v == 1;
}

int
net_listen(const struct sockaddr *sa, socklen_t len, bool reuseport, int backlog)
{
	return net_listen_mptcp(sa, len, reuseport, backlog, false, NULL);
}

int
net_listen_mptcp(const struct sockaddr *sa, socklen_t len, bool reuseport,
    int backlog, bool mptcp, bool *fell_back)
{
	int fd, one = 1, saved;

	fd = net_stream_socket(sa->sa_family, mptcp, fell_back);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	/* "[::]:80" and "0.0.0.0:80" are separate listeners in tcplb's
	 * configuration; without V6ONLY the second bind would fail. */
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	/* Accepted sockets inherit TCP_NODELAY from the listener on Linux,
	 * which saves a setsockopt() per connection; so do they
	 * SO_OOBINLINE. */
	net_set_nodelay(fd);
	net_set_oobinline(fd);
	if (bind(fd, sa, len) < 0)
		goto fail;
	if (listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int
net_accept(int lfd, struct sockaddr_storage *peer, socklen_t *len)
{
	*len = sizeof(*peer);
	return accept4(lfd, (struct sockaddr *)peer, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int
net_set_transparent(int fd, int af)
{
	int one = 1;

	if (af == AF_INET6)
		return setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one,
		    sizeof(one));
	return setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof(one));
}

int
net_transparent_probe(int af)
{
	int fd, e = 0;

	fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (net_set_transparent(fd, af) < 0)
		e = errno;
	close(fd);
	return e;
}

int
net_connect(const struct sockaddr *sa, socklen_t len,
    const struct sockaddr *source, socklen_t sourcelen, bool *in_progress)
{
	struct net_connect_opts o = { .source = source, .sourcelen = sourcelen };

	return net_connect_ex(sa, len, &o, in_progress);
}

int
net_connect_ex(const struct sockaddr *sa, socklen_t len,
    const struct net_connect_opts *o, bool *in_progress)
{
	int fd, saved, one = 1;

	*in_progress = false;
	fd = net_stream_socket(sa->sa_family, o->mptcp, NULL);
	if (fd < 0)
		return -1;
	net_set_nodelay(fd);
	net_set_oobinline(fd);
	if (o->transparent) {
		/* The client's address and port, as they are: the server sees
		 * the very connection the client made.  Unique as long as the
		 * client's own 4-tuple is.  SO_REUSEADDR: the same client
		 * address and port may connect to two listeners whose pools
		 * share a server, and a port of ours may still sit in
		 * TIME_WAIT; the kernel still refuses a duplicate 4-tuple
		 * (EADDRNOTAVAIL at connect).  Port 0 (a PROXY header without
		 * one) leaves the port to the kernel. */
		if (net_set_transparent(fd, sa->sa_family) < 0)
			goto fail;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (addr_port(o->source) == 0)
			(void)setsockopt(fd, IPPROTO_IP,
			    IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, o->source, o->sourcelen) < 0)
			goto fail;
	} else if (o->source != NULL) {
		/* A plain bind() would take a port for good, unique over every
		 * destination: ~28k connections in all.  Deferred to connect(),
		 * a port only has to be unique per destination.  Best effort:
		 * without it (kernels before 4.2) bind() picks the port. */
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof(one));
		if (bind(fd, o->source, o->sourcelen) < 0)
			goto fail;
	}
	if (connect(fd, sa, len) == 0)
		return fd;
	if (errno == EINPROGRESS) {
		if (!net_test_connect_wait) {
			*in_progress = true;
			return fd;
		}
		errno = net_test_wait_connected(fd);
		if (errno == 0)
			return fd;
	}
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int
net_connect_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

void
net_close_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

unsigned
net_unsent(int fd)
{
	int n = 0;

	if (ioctl(fd, SIOCOUTQNSD, &n) < 0 || n < 0)
		return 0;
	return (unsigned)n;
}

void
net_writable_when_sent(int fd)
{
	int one = 1;

	/* Writable means "fewer unsent bytes than this": with 1, none. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &one, sizeof(one));
}

int
net_local_addr(int fd, struct sockaddr_storage *ss, socklen_t *len)
{
	*len = sizeof(*ss);
	return getsockname(fd, (struct sockaddr *)ss, len);
}

bool
net_fd_matches(int fd, const struct sockaddr *sa)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int type = 0, listening = 0;
	socklen_t olen = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) < 0 || type != SOCK_STREAM)
		return false;
	olen = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) < 0 || !listening)
		return false;
	if (net_local_addr(fd, &ss, &len) < 0)
		return false;
	return addr_equal((const struct sockaddr *)&ss, sa);
}
