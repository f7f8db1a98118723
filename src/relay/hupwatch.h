/*
 * hupwatch: tells a worker that a peer it is not reading from has gone
 * (reset, or EOF) -- the client sockets of queued sessions.  Those are not
 * read while they wait (their bytes stay in the kernel), so the loop
 * cannot watch them for EV_READ: a client that sent its request would wake
 * it forever.  A private epoll set watches them for EPOLLRDHUP, EPOLLHUP
 * and EPOLLERR only, edge-triggered, and the loop watches that set's fd.
 */
#ifndef TCPLB_HUPWATCH_H
#define TCPLB_HUPWATCH_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

/* events: HUPWATCH_RESET (reset or error), HUPWATCH_EOF (FIN only). */
#define HUPWATCH_EOF 0x1
#define HUPWATCH_RESET 0x2

struct hupwatch {
	int epfd;			/* -1: not available (every call a no-op) */
	ev_io io;
	void (*cb)(void *ptr, unsigned events);
};

void hupwatch_init(struct hupwatch *h, struct ev_loop *loop,
    void (*cb)(void *ptr, unsigned events));
void hupwatch_destroy(struct hupwatch *h, struct ev_loop *loop);
/* Watch fd for ptr; false if it cannot be watched (it then simply is not). */
bool hupwatch_add(struct hupwatch *h, int fd, void *ptr);
void hupwatch_del(struct hupwatch *h, int fd);

#endif
