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

#include <linux/filter.h>
#include <linux/sockios.h>
#include <netinet/udp.h>

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

/* Make fd (for sa, not bound yet) bindable: SO_REUSEADDR (+ SO_REUSEPORT),
 * IPV6_V6ONLY for IPv6 -- "[::]:80" and "0.0.0.0:80" are separate
 * listeners in tcplb's configuration; without V6ONLY the second bind
 * would fail.  Closes fd on failure. */
static int
net_bindable_fd(int fd, const struct sockaddr *sa, bool reuseport)
{
	int one = 1, saved;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* A non-blocking, close-on-exec socket of type for sa, made bindable. */
static int
net_bindable(const struct sockaddr *sa, int type, bool reuseport)
{
	return net_bindable_fd(socket(sa->sa_family,
	    type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), sa, reuseport);
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
	int fd, saved;

	fd = net_bindable_fd(net_stream_socket(sa->sa_family, mptcp,
	    fell_back), sa, reuseport);
	if (fd < 0)
		return -1;
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
	if (o->ack_with_data) {
		int zero = 0;

		/* Best effort (an old kernel's MPTCP socket refuses it).
		 * The handshake's end leaves delayed-ACK mode, but bytes
		 * sent right after it put the socket back in ("ping-pong",
		 * tcp_event_data_sent), so the answer's ACK waits for the
		 * next bytes or FIN we send too. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero,
		    sizeof(zero));
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
net_fd_matches(int fd, const struct sockaddr *sa, bool dgram)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int type = 0, listening = 0;
	socklen_t olen = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) < 0 ||
	    type != (dgram ? SOCK_DGRAM : SOCK_STREAM))
		return false;
	olen = sizeof(listening);
	if (!dgram && (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
	    &olen) < 0 || !listening))
		return false;
	if (net_local_addr(fd, &ss, &len) < 0)
		return false;
	return addr_equal((const struct sockaddr *)&ss, sa);
}

/* Big enough for a burst at line rate between two loop turns; the kernel
 * caps it at net.core.rmem_max (wmem_max) unless we may force it. */
#define NET_UDP_SOCKBUF (4 << 20)	/* a listening socket: every client */
#define NET_UDP_FLOWBUF (1 << 20)	/* one flow's server socket */

static void
net_udp_buffers(int fd, int sz)
{

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

int
net_udp_bind(const struct sockaddr *sa, socklen_t len, bool reuseport)
{
	int fd, saved;

	if ((fd = net_bindable(sa, SOCK_DGRAM, reuseport)) < 0)
		return -1;
	net_udp_buffers(fd, NET_UDP_SOCKBUF);
	net_udp_gro(fd);
	if (bind(fd, sa, len) < 0)
		goto fail;
	/* Bound: only now does a datagram arrive, and the address says
	 * whether it is a wildcard. */
	net_udp_pktinfo(fd);
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

void
net_udp_pktinfo(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int one = 1;

	/* Only a wildcard bind needs the destination address (the reply's
	 * source, dgram.c); elsewhere the bound address is the source, and
	 * every datagram would carry a control message for nothing. */
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(
	    &((struct sockaddr_in6 *)&ss)->sin6_addr))
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one,
		    sizeof(one));
	else if (ss.ss_family == AF_INET &&
	    ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY))
		(void)setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
}

int
net_udp_connect(const struct sockaddr *sa, socklen_t len,
    const struct sockaddr *source, socklen_t sourcelen, bool transparent)
{
	int fd, saved, one = 1;

	fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (source != NULL && transparent) {
		/* The client's own address and port (`source: client`): a
		 * foreign address, and a port the client may use toward other
		 * servers too -- connect() makes each 4-tuple distinct. */
		if (net_set_transparent(fd, source->sa_family) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one)) < 0)
			goto fail;
	} else if (source != NULL) {
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof(one));
	}
	if (source != NULL && bind(fd, source, sourcelen) < 0)
		goto fail;
	if (connect(fd, sa, len) < 0)
		goto fail;
	/* A server's burst of replies waits here until the worker turns:
	 * room for it costs nothing while the flow is idle (the kernel
	 * charges only queued datagrams). */
	net_udp_buffers(fd, NET_UDP_FLOWBUF);
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int
net_udp_steer(int fd, int family, unsigned nsocks)
{
	/* Classic BPF run by the kernel for each datagram to the group:
	 * hash of the source address and port, modulo nsocks.  skb data
	 * starts at the UDP payload; the IP header is reached through
	 * SKF_NET_OFF.  Each head leaves the port in M[0] and a word of the
	 * address in A.  IPv4: source at 12, the UDP header after IHL words
	 * (BPF_MSH).  IPv6: source at 8..23 (two words folded), UDP at 40
	 * (extension headers before UDP are rare enough to hash the port of
	 * whatever is there: still the same for every datagram of a flow). */
	static const struct sock_filter v4[] = {
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, (uint32_t)SKF_NET_OFF),
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, (uint32_t)SKF_NET_OFF),
		BPF_STMT(BPF_ST, 0),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)SKF_NET_OFF + 12),
	};
	static const struct sock_filter v6[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, (uint32_t)SKF_NET_OFF + 40),
		BPF_STMT(BPF_ST, 0),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)SKF_NET_OFF + 8),
		BPF_STMT(BPF_ST, 1),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)SKF_NET_OFF + 20),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_MEM, 1),
		BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
	};
	/* A = mix(A * golden, port); return A % nsocks */
	const struct sock_filter tail[] = {
		BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 0x9e3779b1u),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_MEM, 0),
		BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
		BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 0x85ebca6bu),
		BPF_STMT(BPF_ST, 1),
		BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_MEM, 1),
		BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, nsocks),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_filter prog[sizeof(v6) / sizeof(v6[0]) +
	    sizeof(tail) / sizeof(tail[0])];
	const struct sock_filter *head = family == AF_INET6 ? v6 : v4;
	size_t nhead = family == AF_INET6 ? sizeof(v6) / sizeof(v6[0]) :
	    sizeof(v4) / sizeof(v4[0]);
	struct sock_fprog fp = {
		.len = (unsigned short)(nhead + sizeof(tail) / sizeof(tail[0])),
		.filter = prog,
	};

	memcpy(prog, head, nhead * sizeof(*head));
	memcpy(prog + nhead, tail, sizeof(tail));
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fp,
	    sizeof(fp));
}

void
net_udp_gro(int fd)
{
	int one = 1;

	/* Best effort (Linux 5.0+): datagrams of one flow may then arrive
	 * coalesced, with their segment size (dgram.c splits or re-sends
	 * them as a GSO train). */
	(void)setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
}
