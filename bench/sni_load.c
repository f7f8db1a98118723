/*
 * sni_load: the load generator and backend of bench/sni (a benchmark, not
 * a test).  One thread, one epoll loop, loopback only, every run bounded
 * in time.
 *
 *   sni_load sink PORT close|keep
 *       Backend.  Each connection: read; once the first bytes are in,
 *       answer with 64 bytes (a stand-in for the ServerHello); then
 *       "close" shuts its side down at once (so the TIME_WAIT lands here,
 *       as with an HTTP server closing), "keep" goes on reading; both
 *       discard what they read and close at the client's EOF.
 *   sni_load conn PORT HELLO_FILE CLIENTS SECONDS
 *       New connections: CLIENTS at a time, each connects, sends the
 *       ClientHello of HELLO_FILE, reads the server's first bytes and then
 *       its EOF (the "close" sink's), closes, and starts over.  Prints
 *       "conns N seconds S".
 *   sni_load bulk PORT HELLO_FILE STREAMS SECONDS
 *       Routed bulk: each stream sends the ClientHello, waits for the first
 *       answer bytes (routing done), then writes 256 KiB blocks for
 *       SECONDS.  Prints "bytes N seconds S".
 *
 * A client that sees an error, an EOF before the answer or no answer
 * counts as a failure ("failed N"), never as a connection served.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXEV 256
#define BLOCK (256 * 1024)

static uint8_t hello[20000];
static size_t hello_len;
static uint8_t block[BLOCK];

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static struct sockaddr_in
loopback(int port)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

/* ---- backend ------------------------------------------------------------ */

static int
sink(int port, int keep)
{
	struct sockaddr_in sa = loopback(port);
	int one = 1, lfd, ep;
	struct epoll_event ev, evs[MAXEV];
	static uint8_t reply[64], buf[BLOCK];
	/* answered[fd]: the 64 bytes went out */
	static uint8_t answered[1 << 20];

	memset(reply, 'S', sizeof(reply));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind");
	if (listen(lfd, 4096) < 0)
		die("listen");
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, MAXEV, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK)) >= 0) {
					if (c >= (int)sizeof(answered)) {
						close(c);
						continue;
					}
					answered[c] = 0;
					ev.events = EPOLLIN;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			for (int k = 0; k < 16; k++) {
				ssize_t r = read(fd, buf, sizeof(buf));

				if (r > 0) {
					if (!answered[fd]) {
						answered[fd] = 1;
						(void)!write(fd, reply, sizeof(reply));
						if (!keep)
							shutdown(fd, SHUT_WR);
					}
					if ((size_t)r < sizeof(buf))
						break;
					continue;
				}
				if (r < 0 && errno == EAGAIN)
					break;
				close(fd);	/* EOF or error */
				break;
			}
		}
	}
	return 0;
}

/* ---- clients ------------------------------------------------------------ */

struct cl {
	int fd;
	int answered;
	int state;		/* 0 connecting, 1 awaiting answer, 2 bulk */
	size_t sent;		/* of the hello */
};

static int ep;
static struct sockaddr_in target;
static long served, failed;
static unsigned long long bulk_bytes;

static void
cl_start(struct cl *c)
{
	struct epoll_event ev;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		die("socket");
	c->state = 0;
	c->sent = 0;
	c->answered = 0;
	if (connect(c->fd, (struct sockaddr *)&target, sizeof(target)) < 0 &&
	    errno != EINPROGRESS)
		die("connect");
	ev.events = EPOLLOUT | EPOLLIN;
	ev.data.ptr = c;
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void
cl_restart(struct cl *c, int ok)
{
	if (ok)
		served++;
	else
		failed++;
	close(c->fd);
	cl_start(c);
}

static void
cl_event(struct cl *c, uint32_t events, int bulk)
{
	struct epoll_event ev;
	uint8_t buf[4096];
	ssize_t r;

	if (c->state == 0 && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			cl_restart(c, 0);
			return;
		}
		while (c->sent < hello_len) {
			r = write(c->fd, hello + c->sent, hello_len - c->sent);
			if (r <= 0)
				break;
			c->sent += (size_t)r;
		}
		if (c->sent == hello_len) {
			c->state = 1;
			ev.events = EPOLLIN;
			ev.data.ptr = c;
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
		return;
	}
	if (c->state == 1 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
		r = read(c->fd, buf, sizeof(buf));
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			cl_restart(c, r == 0 && c->answered);
			return;
		}
		c->answered = 1;
		if (!bulk)
			return;		/* wait for the server's EOF */
		c->state = 2;
		ev.events = EPOLLOUT;
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		return;
	}
	if (c->state == 2 && (events & EPOLLOUT)) {
		for (int k = 0; k < 8; k++) {
			r = write(c->fd, block, sizeof(block));
			if (r <= 0)
				break;
			bulk_bytes += (unsigned long long)r;
		}
	}
}

static int
clients(int port, const char *file, int n, double secs, int bulk)
{
	FILE *f = fopen(file, "rb");
	struct cl *cs = calloc((size_t)n, sizeof(*cs));
	struct epoll_event evs[MAXEV];
	double t0, end;

	if (f == NULL)
		die(file);
	hello_len = fread(hello, 1, sizeof(hello), f);
	fclose(f);
	target = loopback(port);
	ep = epoll_create1(0);
	t0 = now();
	end = t0 + secs;
	for (int i = 0; i < n; i++)
		cl_start(&cs[i]);
	while (now() < end) {
		int k = epoll_wait(ep, evs, MAXEV, 100);

		for (int i = 0; i < k; i++)
			cl_event(evs[i].data.ptr, evs[i].events, bulk);
	}
	if (bulk)
		printf("bytes %llu seconds %.3f failed %ld\n", bulk_bytes,
		    now() - t0, failed);
	else
		printf("conns %ld seconds %.3f failed %ld\n", served,
		    now() - t0, failed);
	return 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	memset(block, 'x', sizeof(block));
	if (argc == 4 && strcmp(argv[1], "sink") == 0)
		return sink(atoi(argv[2]), strcmp(argv[3], "keep") == 0);
	if (argc == 6 && (strcmp(argv[1], "conn") == 0 ||
	    strcmp(argv[1], "bulk") == 0))
		return clients(atoi(argv[2]), argv[3], atoi(argv[4]),
		    atof(argv[5]), argv[1][0] == 'b');
	fprintf(stderr, "usage: sni_load sink PORT close|keep | conn|bulk PORT "
	    "HELLO CLIENTS SECONDS\n");
	return 64;
}
