/*
 * hupwatch: a private epoll set of sockets watched only for the peer's
 * reset or EOF (see hupwatch.h).
 */
#include "autoconfig.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "relay/hupwatch.h"
#include "base/log.h"

/* Events handled per wake-up: a flood of resets is spread over loop turns
 * so the other sessions keep moving. */
#define HUPWATCH_BATCH 64

static void
hupwatch_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct hupwatch *h = io->data;

	(void)loop;
	(void)revents;
	/* One event per epoll_wait(): the callback may close other sessions
	 * of the set, whose events must not be delivered from a stale
	 * batch. */
	for (int i = 0; i < HUPWATCH_BATCH; i++) {
		struct epoll_event ev;
		unsigned what = 0;
		int n = epoll_wait(h->epfd, &ev, 1, 0);

		if (n <= 0)
			return;
		if (ev.events & (EPOLLERR | EPOLLHUP))
			what |= HUPWATCH_RESET;
		if (ev.events & EPOLLRDHUP)
			what |= HUPWATCH_EOF;
		if (what)
			h->cb(ev.data.ptr, what);
	}
}

void
hupwatch_init(struct hupwatch *h, struct ev_loop *loop,
    void (*cb)(void *ptr, unsigned events))
{
	h->cb = cb;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0) {
		log_warn("cannot create an epoll set for queued clients; "
		    "clients that leave the queue keep their place until their turn");
		return;
	}
	ev_io_init(&h->io, hupwatch_cb, h->epfd, EV_READ);
	h->io.data = h;
	ev_io_start(loop, &h->io);
}

void
hupwatch_destroy(struct hupwatch *h, struct ev_loop *loop)
{
	if (h->epfd < 0)
		return;
	ev_io_stop(loop, &h->io);
	close(h->epfd);
	h->epfd = -1;
}

bool
hupwatch_add(struct hupwatch *h, int fd, void *ptr)
{
	struct epoll_event ev = {
		.events = EPOLLRDHUP | EPOLLET,
		.data.ptr = ptr,
	};

	if (h->epfd < 0)
		return false;
	return epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void
hupwatch_del(struct hupwatch *h, int fd)
{
	if (h->epfd >= 0)
		(void)epoll_ctl(h->epfd, EPOLL_CTL_DEL, fd, NULL);
}
