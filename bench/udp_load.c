/*
 * udp_load: the load generator and the echo server of bench/udp.
 *
 *   udp_load echo PORT
 *       echo every datagram back to its sender (recvmmsg/sendmmsg, one
 *       thread), on 127.0.0.1:PORT, until killed.
 *   udp_load load HOST PORT FLOWS SIZE WINDOW SECONDS
 *       FLOWS connected sockets (one flow each) to HOST:PORT, each keeping
 *       WINDOW datagrams of SIZE bytes in flight: every reply sends one
 *       more (closed loop, so a slower balancer gets less, never a queue).
 *       A flow that got nothing for 200 ms refills its window (datagrams
 *       lost under overload).  Prints "replies N seconds S" at the end.
 *
 * Bounded: the load runs SECONDS, then exits.  Loopback only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
bigbuf(int fd)
{
	int sz = 8 << 20;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

static int
echo(int port)
{
	static char buf[BATCH][65536];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in from[BATCH];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	bigbuf(fd);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("bind");
		return 1;
	}
	for (;;) {
		int n;

		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = buf[i];
			iov[i].iov_len = sizeof(buf[i]);
			memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
			m[i].msg_hdr.msg_name = &from[i];
			m[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		n = recvmmsg(fd, m, BATCH, MSG_WAITFORONE, NULL);
		if (n <= 0)
			continue;
		for (int i = 0; i < n; i++)
			iov[i].iov_len = m[i].msg_len;
		(void)sendmmsg(fd, m, (unsigned)n, 0);
	}
}

struct flow {
	int fd;
	unsigned out;		/* in flight */
	double last;		/* last reply */
};

static void
push(struct flow *f, const char *payload, size_t size, unsigned n)
{
	struct mmsghdr m[BATCH];
	struct iovec iov = { (void *)payload, size };

	while (n > 0) {
		unsigned k = n > BATCH ? BATCH : n;
		int r;

		for (unsigned i = 0; i < k; i++) {
			memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
			m[i].msg_hdr.msg_iov = &iov;
			m[i].msg_hdr.msg_iovlen = 1;
		}
		r = sendmmsg(f->fd, m, k, 0);
		if (r <= 0)
			return;
		f->out += (unsigned)r;
		n -= (unsigned)r;
	}
}

static int
load(const char *host, int port, int nflows, size_t size, unsigned window,
    double seconds)
{
	static char buf[BATCH][65536];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct flow *flows = calloc((size_t)nflows, sizeof(*flows));
	char *payload = malloc(size);
	int ep = epoll_create1(0);
	unsigned long long replies = 0;
	double t0, end, last_check;

	memset(payload, 'x', size);
	inet_pton(AF_INET, host, &sa.sin_addr);
	for (int i = 0; i < nflows; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		flows[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (flows[i].fd < 0) {
			perror("socket");
			return 1;
		}
		bigbuf(flows[i].fd);
		if (connect(flows[i].fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("connect");
			return 1;
		}
		epoll_ctl(ep, EPOLL_CTL_ADD, flows[i].fd, &ev);
	}
	t0 = now();
	end = t0 + seconds;
	last_check = t0;
	for (int i = 0; i < nflows; i++) {
		flows[i].last = t0;
		push(&flows[i], payload, size, window);
	}
	while (now() < end) {
		struct epoll_event evs[256];
		int ne = epoll_wait(ep, evs, 256, 50);
		double t = now();

		for (int e = 0; e < ne; e++) {
			struct flow *f = &flows[evs[e].data.u32];
			int n;

			for (int i = 0; i < BATCH; i++) {
				iov[i].iov_base = buf[i];
				iov[i].iov_len = sizeof(buf[i]);
				memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
				m[i].msg_hdr.msg_iov = &iov[i];
				m[i].msg_hdr.msg_iovlen = 1;
			}
			n = recvmmsg(f->fd, m, BATCH, MSG_DONTWAIT, NULL);
			if (n <= 0)
				continue;
			replies += (unsigned)n;
			f->out = f->out > (unsigned)n ? f->out - (unsigned)n : 0;
			f->last = t;
			push(f, payload, size, window - f->out);
		}
		if (t - last_check > 0.1) {
			last_check = t;
			for (int i = 0; i < nflows; i++) {
				if (t - flows[i].last > 0.2) {
					flows[i].out = 0;
					flows[i].last = t;
					push(&flows[i], payload, size, window);
				}
			}
		}
	}
	printf("replies %llu seconds %.3f\n", replies, now() - t0);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "echo") == 0)
		return echo(atoi(argv[2]));
	if (argc == 8 && strcmp(argv[1], "load") == 0)
		return load(argv[2], atoi(argv[3]), atoi(argv[4]),
		    (size_t)atoi(argv[5]), (unsigned)atoi(argv[6]),
		    atof(argv[7]));
	fprintf(stderr, "usage: udp_load echo PORT | "
	    "udp_load load HOST PORT FLOWS SIZE WINDOW SECONDS\n");
	return 64;
}
