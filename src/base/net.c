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

int
net_listen(const struct sockaddr *sa, socklen_t len, bool reuseport, int backlog)
{
	int fd, one = 1, saved;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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
net_connect(const struct sockaddr *sa, socklen_t len,
    const struct sockaddr *source, socklen_t sourcelen, bool *in_progress)
{
	int fd, saved, one = 1;

	*in_progress = false;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	net_set_nodelay(fd);
	net_set_oobinline(fd);
	if (source != NULL) {
		/* A plain bind() would take a port for good, unique over every
		 * destination: ~28k connections in all.  Deferred to connect(),
		 * a port only has to be unique per destination.  Best effort:
		 * without it (kernels before 4.2) bind() picks the port. */
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof(one));
		if (bind(fd, source, sourcelen) < 0)
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
