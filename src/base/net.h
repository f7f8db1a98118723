/*
 * net: thin wrappers around the socket calls tcplb makes, so every other
 * module states intent (listen, accept, connect, reset) instead of flags.
 * Each returns -1 with errno preserved on failure and logs nothing.
 */
#ifndef TCPLB_NET_H
#define TCPLB_NET_H

#include <stdbool.h>
#include <sys/socket.h>

/* socket + SO_REUSEADDR (+ SO_REUSEPORT) + IPV6_V6ONLY for [::] + bind +
 * listen(backlog), non-blocking and close-on-exec; TCP_NODELAY and
 * SO_OOBINLINE, which accepted sockets inherit. */
int net_listen(const struct sockaddr *sa, socklen_t len, bool reuseport, int backlog);
/* net_listen() with IPPROTO_MPTCP when mptcp: such a socket accepts
 * Multipath TCP and plain TCP clients alike.  When the kernel has no
 * MPTCP (not built, or net.mptcp.enabled=0) the socket is plain TCP and
 * *fell_back is set; the caller says so once. */
int net_listen_mptcp(const struct sockaddr *sa, socklen_t len, bool reuseport,
    int backlog, bool mptcp, bool *fell_back);
/* Is fd an IPPROTO_MPTCP socket (whether or not its peer speaks MPTCP)? */
bool net_is_mptcp_socket(int fd);
/* Does the connection on fd run Multipath TCP end to end (not a fallback
 * to TCP because the peer or a middlebox does not speak it)? */
bool net_mptcp_active(int fd);
/* accept4(NONBLOCK|CLOEXEC); TCP_NODELAY comes from the listener (net_listen),
 * except on sockets passed by systemd: see net_set_nodelay(). */
int net_accept(int lfd, struct sockaddr_storage *peer, socklen_t *len);
/* Non-blocking connect with TCP_NODELAY and SO_OOBINLINE, from source
 * when it is not NULL (bound with IP_BIND_ADDRESS_NO_PORT: the kernel
 * still picks the port at connect(), per destination).  Returns the fd;
 * *in_progress tells whether to wait for writability.  On an immediate
 * failure returns -1 with errno (ECONNREFUSED, ENETUNREACH, EMFILE, and
 * EADDRNOTAVAIL: no free local port, or source is not an address of this
 * host). */
int net_connect(const struct sockaddr *sa, socklen_t len,
    const struct sockaddr *source, socklen_t sourcelen, bool *in_progress);
/* How net_connect_ex() makes its socket. */
struct net_connect_opts {
	const struct sockaddr *source;	/* NULL: the kernel picks */
	socklen_t sourcelen;
	/* source is someone else's address -- the client's -- with its
	 * port (`source: client`): IP_TRANSPARENT, and no
	 * IP_BIND_ADDRESS_NO_PORT since the port is given.  Needs
	 * CAP_NET_RAW or CAP_NET_ADMIN: EPERM without. */
	bool transparent;
	bool mptcp;			/* IPPROTO_MPTCP, TCP when unavailable */
	/* Bytes are ready to go the moment the connection is up: delay
	 * the handshake's last ACK (TCP_QUICKACK 0) so it rides on them.
	 * Only then: the server cannot accept() before that ACK, and a
	 * server that speaks first would wait for the delayed-ACK timer
	 * (up to 200 ms). */
	bool ack_with_data;
};
int net_connect_ex(const struct sockaddr *sa, socklen_t len,
    const struct net_connect_opts *o, bool *in_progress);
/* Mark fd (TCP or UDP, before bind) so that it may bind to an address of
 * another host (IP_TRANSPARENT / IPV6_TRANSPARENT for af).  The hook
 * for every transparent socket, datagram flows included. */
int net_set_transparent(int fd, int af);
/* Can this process make transparent sockets of family af?  0, or the
 * errno of trying (EPERM: neither CAP_NET_RAW nor CAP_NET_ADMIN). */
int net_transparent_probe(int af);

/* SO_ERROR of a socket that became writable after connect: 0 or an errno. */
int net_connect_result(int fd);
void net_set_nodelay(int fd);
/* SO_OOBINLINE: a TCP urgent byte stays in the stream as an ordinary byte
 * (relay.c forwards it in order) instead of being dropped by read(). */
void net_set_oobinline(int fd);
/* Close so the peer sees a reset (SO_LINGER 0).  Bytes the kernel has not
 * sent yet are dropped: see net_unsent(). */
void net_close_reset(int fd);
/* Bytes written to fd that the kernel has not sent yet (0 on error). */
unsigned net_unsent(int fd);
/* Make fd report writable only once the kernel has sent everything
 * written to it (TCP_NOTSENT_LOWAT 1): a reset may follow without
 * dropping a byte. */
void net_writable_when_sent(int fd);
/* The bound address of a socket. */
int net_local_addr(int fd, struct sockaddr_storage *ss, socklen_t *len);
/* Is fd a listening TCP socket (dgram: a UDP socket) bound to sa?
 * (socket activation) */
bool net_fd_matches(int fd, const struct sockaddr *sa, bool dgram);

/* UDP.  A socket bound to sa for a `protocol: udp` listener: SO_REUSEPORT
 * when asked, V6ONLY for [::], large buffers, UDP_GRO, and on a wildcard
 * address the destination of each datagram reported (IP_PKTINFO /
 * IPV6_RECVPKTINFO), so that it can answer from the address the client
 * sent to. */
int net_udp_bind(const struct sockaddr *sa, socklen_t len, bool reuseport);
/* Receive coalesced datagrams (UDP_GRO): each comes with a UDP_GRO cmsg
 * giving the segment size. */
void net_udp_gro(int fd);
/* Ask for the destination address if fd is bound to a wildcard address
 * (also for a socket passed by systemd). */
void net_udp_pktinfo(int fd);
/* A connected UDP socket to a server (from source when not NULL): the
 * kernel then delivers only that server's datagrams to it and reports an
 * ICMP port unreachable as ECONNREFUSED.  transparent: source is the
 * client's own address and port (`source: client`, IP_TRANSPARENT). */
int net_udp_connect(const struct sockaddr *sa, socklen_t len,
    const struct sockaddr *source, socklen_t sourcelen, bool transparent);
/* Steer the datagrams of a reuseport group of nsocks sockets (fd is any
 * member) by a hash of the client's address and port, with a classic BPF
 * program: the same client always reaches the same member, whatever the
 * kernel's own hash would do as members come and go. */
int net_udp_steer(int fd, int family, unsigned nsocks);

#endif
