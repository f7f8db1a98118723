/*
 * relay: moves the bytes of one direction.  The policy is "write what is
 * held, then read, then write again", at most a few rounds per call so one
 * busy session cannot starve the others on its worker.  A read that does not
 * fill the free space means the socket is drained: the next read would only
 * say EAGAIN, so it is skipped and the event loop tells us when to try.
 */
#include "autoconfig.h"

#include <errno.h>
#include <sys/socket.h>

#include "relay.h"

#define RELAY_ROUNDS 4

static bool
would_block(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK;
}

enum relay_status
relay_pump(struct relay_dir *d, int from, int to, struct bufpool *pool,
    bool readable)
{
	for (int round = 0; round < RELAY_ROUNDS; round++) {
		bool progress = false;

		if (d->buf.len > 0 && !d->wblocked) {
			uint32_t had = d->buf.len;
			ssize_t n = buffer_write_fd(&d->buf, to);

			if (n < 0) {
				if (!would_block(errno)) {
					d->err = errno;
					return RELAY_WRITE_ERR;
				}
				d->wblocked = true;
			} else {
				d->bytes += (uint64_t)n;
				progress = n > 0;
				if ((uint32_t)n < had)
					d->wblocked = true;
			}
		}
		if (readable && !d->eof && relay_wants_read(d)) {
			uint32_t room;
			ssize_t n;

			buffer_attach(&d->buf, pool);
			room = buffer_room(&d->buf);
			n = buffer_read_fd(&d->buf, from);
			if (n < 0) {
				if (!would_block(errno)) {
					d->err = errno;
					return RELAY_READ_ERR;
				}
				readable = false;
			} else if (n == 0) {
				d->eof = true;
				progress = true;
			} else {
				progress = true;
				if ((uint32_t)n < room)
					readable = false;
			}
		}
		if (!progress || (d->wblocked && !readable))
			break;
		if (d->buf.len == 0 && !readable)
			break;
	}
	if (d->eof && d->buf.len == 0 && !d->shut) {
		/* ENOTCONN: the destination is already gone; the session
		 * learns that from its own read side. */
		(void)shutdown(to, SHUT_WR);
		d->shut = true;
	}
	buffer_detach_if_empty(&d->buf, pool);
	return RELAY_OK;
}

void
relay_release(struct relay_dir *d, struct bufpool *pool)
{
	buffer_release(&d->buf, pool);
}
