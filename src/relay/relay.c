/*
 * relay: moves the bytes of one direction.  The policy is "write what is
 * held, then read, then write again", at most a few rounds per call so one
 * busy session cannot starve the others on its worker.  A read that does not
 * fill the free space means the socket is drained: the next read would only
 * say EAGAIN, so it is skipped and the event loop tells us when to try.
 *
 * Zero copy: a direction whose reads keep filling the buffer (half of it at
 * least, SPLICE_AFTER_FULL_READS times in a row) is a bulk
 * transfer; once its buffer is empty (so no byte can overtake another) it
 * switches to splice() through a pipe, and the bytes never enter user
 * space.  Interactive flows -- small reads -- stay buffered, where splice's
 * two system calls per chunk would cost more than the copy.  Pipes come
 * from a per-worker pool and go back only when empty: a pipe that still
 * holds bytes is closed, never reused.
 *
 * The FIN rides on the last bytes: once the source's EOF is known, the
 * bytes still held are written with MSG_MORE, so the kernel keeps the
 * last partial segment until the shutdown() (or close()) that follows in
 * the same loop iteration puts the FIN on it -- one segment where there
 * were two, and one ACK fewer from the peer.  A server that answers and
 * closes usually has its answer and FIN arrive together; eof_probe (set
 * by the session for the server's direction) reads once more after the
 * first read that drains the source, to learn of that EOF before the
 * answer leaves.  A segment costs the proxy more than a read: on
 * loopback the receiver's TCP processing and wake-up run in the sender's
 * system call.
 *
 * Urgent data: splice() stops at a TCP urgent mark and says EAGAIN while
 * epoll keeps saying readable, and would forever.  The sockets have
 * SO_OOBINLINE (net.c), so the urgent byte is an ordinary byte of the
 * stream to read(): a direction that finds its source at the mark goes
 * back to the buffer, which reads past it, and may switch to splice again
 * later like any other flow.
 *
 * Once the source's FIN has arrived, splice() at the mark says 0 instead
 * of EAGAIN (tcp_splice_read() stops on SOCK_DONE), which looks like EOF
 * but is not: the bytes past the mark are still queued.  So a 0 from
 * splice() is EOF only when the socket is not at a mark and holds no
 * byte (SIOCATMARK, SIOCINQ); otherwise it is handled like the mark.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay/mirror.h"
#include "relay/relay.h"
#include "base/util.h"

#define RELAY_ROUNDS 4
#define SPLICE_AFTER_FULL_READS 2

static bool
would_block(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK;
}

void
relay_pools_init(struct relay_pools *rp, size_t keep_bufs, size_t keep_pipes,
    bool splice)
{
	bufpool_init(&rp->bufs, keep_bufs);
	rp->pipes.free = keep_pipes ? xcalloc(keep_pipes, sizeof(*rp->pipes.free)) : NULL;
	rp->pipes.nfree = 0;
	rp->pipes.cap = keep_pipes;
	rp->pipes.out = 0;
	rp->splice = splice;
}

void
relay_pools_destroy(struct relay_pools *rp)
{
	bufpool_destroy(&rp->bufs);
	for (size_t i = 0; i < rp->pipes.nfree; i++) {
		close(rp->pipes.free[i][0]);
		close(rp->pipes.free[i][1]);
	}
	free(rp->pipes.free);
	rp->pipes.free = NULL;
	rp->pipes.nfree = rp->pipes.cap = 0;
}

void
relay_init(struct relay_dir *d)
{
	d->pipe[0] = d->pipe[1] = -1;
}

static bool
pipe_get(struct pipepool *pp, int p[2], uint32_t *cap)
{
	int sz;

	if (pp->nfree) {
		pp->nfree--;
		p[0] = pp->free[pp->nfree][0];
		p[1] = pp->free[pp->nfree][1];
	} else if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
		/* Out of descriptors or pipe quota: stay buffered. */
		return false;
	} else {
		/* Four times the default: a quarter of the splice calls and of
		 * the full/drained flips that cost epoll_ctl() (about a third
		 * less CPU per GB measured on loopback).  Past the per-user
		 * pipe quota this fails and the pipe keeps its size. */
		(void)fcntl(p[1], F_SETPIPE_SZ, RELAY_PIPE_SIZE);
	}
	sz = fcntl(p[1], F_GETPIPE_SZ);
	*cap = sz > 0 ? (uint32_t)sz : 4096;
	pp->out++;
	return true;
}

static void
pipe_put(struct pipepool *pp, int p[2], bool empty)
{
	if (empty && pp->nfree < pp->cap) {
		pp->free[pp->nfree][0] = p[0];
		pp->free[pp->nfree][1] = p[1];
		pp->nfree++;
	} else {
		close(p[0]);
		close(p[1]);
	}
	pp->out--;
	p[0] = p[1] = -1;
}

static bool
relay_at_urgent_mark(int fd)
{
	int at = 0;

	return ioctl(fd, SIOCATMARK, &at) == 0 && at;
}

/* splice() said 0: is that the end, or only a mark it will not cross? */
static bool
relay_splice_stopped_early(int fd)
{
	int queued = 0;

	if (relay_at_urgent_mark(fd))
		return true;
	return ioctl(fd, SIOCINQ, &queued) == 0 && queued > 0;
}

/* The source was reset (or failed otherwise): nothing more will come
 * from it, but what was read before stays to be delivered. */
static enum relay_status
relay_read_failed(struct relay_dir *d, int e)
{
	d->err = e;
	d->eof = true;
	d->src_reset = true;
	return RELAY_READ_ERR;
}

/* At most the bandwidth quota (shape.c) of a limited direction. */
static uint32_t
relay_limit(const struct relay_dir *d, uint32_t want)
{
	return d->limited && d->quota < want ? (uint32_t)d->quota : want;
}

static void
relay_read_n(struct relay_dir *d, uint64_t n)
{
	d->rbytes += n;
	if (d->limited)
		d->quota = d->quota > n ? d->quota - n : 0;
}

static enum relay_status
relay_pump_splice(struct relay_dir *d, int from, int to, bool readable)
{
	const unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

	for (int round = 0; round < RELAY_ROUNDS; round++) {
		bool progress = false;

		if (d->in_pipe > 0 && !d->wblocked) {
			uint32_t out = d->mirror ? mirror_tee(d->mirror,
			    d->pipe[0], d->in_pipe) : d->in_pipe;
			ssize_t n = splice(d->pipe[0], NULL, to, NULL, out, flags);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (!would_block(errno)) {
					d->err = errno;
					return RELAY_WRITE_ERR;
				}
				d->wblocked = true;
			} else {
				d->in_pipe -= (uint32_t)n;
				d->bytes += (uint64_t)n;
				progress = n > 0;
				if (d->mirror)
					mirror_sent(d->mirror, (uint32_t)n);
				if (n > 0)
					d->pipe_full = false;
				if ((uint32_t)n < out)
					d->wblocked = true;
			}
		}
		if (readable && relay_wants_read(d)) {
			uint32_t want = relay_limit(d, d->pipe_cap - d->in_pipe);
			ssize_t n = splice(from, NULL, d->pipe[1], NULL, want, flags);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (!would_block(errno))
					return relay_read_failed(d, errno);
				/* EAGAIN from splice() means "socket empty" or "pipe
				 * full"; with bytes in the pipe assume full, or a
				 * still-readable socket would wake us forever. The
				 * flag clears as soon as the pipe drains. */
				if (d->in_pipe > 0)
					d->pipe_full = true;
				else if (relay_at_urgent_mark(from))
					d->at_mark = true;
				readable = false;
			} else if (n == 0) {
				if (relay_splice_stopped_early(from)) {
					/* Not EOF: read() takes it from here
					 * once the pipe is empty. */
					d->at_mark = true;
					readable = false;
				} else {
					d->eof = true;
					progress = true;
				}
			} else {
				d->in_pipe += (uint32_t)n;
				relay_read_n(d, (uint64_t)n);
				progress = true;
				if ((uint32_t)n < want)
					readable = false;
			}
		}
		if (!progress || (d->wblocked && !readable))
			break;
		if (d->in_pipe == 0 && !readable)
			break;
	}
	return RELAY_OK;
}

/* One read into the buffer.  Clears *readable once the source is
 * drained: EAGAIN, or a read short of the room. */
static enum relay_status
relay_read_buffer(struct relay_dir *d, int from, struct relay_pools *rp,
    bool *readable, bool *progress)
{
	uint32_t room, free_room;
	ssize_t n;

	buffer_attach(&d->buf, &rp->bufs);
	free_room = buffer_room(&d->buf);
	room = relay_limit(d, free_room);
	n = buffer_read_fd_max(&d->buf, from, room);
	if (n < 0) {
		if (!would_block(errno))
			return relay_read_failed(d, errno);
		*readable = false;
		return RELAY_OK;
	}
	*progress = true;
	if (n == 0) {
		d->eof = true;
		return RELAY_OK;
	}
	relay_read_n(d, (uint64_t)n);
	if (d->mirror)
		mirror_copy(d->mirror, &d->buf, (uint32_t)n);
	/* Half the buffer, not all of it: a sender whose bytes arrive in
	 * bursts of 96 KiB is read 64 KiB, 32 KiB, 64 KiB... and is bulk
	 * all the same; an interactive flow reads far less. */
	if ((uint32_t)n >= d->buf.size / 2)
		d->full_reads++;
	else if (room == free_room)
		d->full_reads = 0;	/* (a read cut by the bandwidth quota
					 * says nothing of the flow) */
	if ((uint32_t)n < room)
		*readable = false;
	return RELAY_OK;
}

static enum relay_status
relay_pump_buffer(struct relay_dir *d, int from, int to, struct relay_pools *rp,
    bool *readable)
{
	for (int round = 0; round < RELAY_ROUNDS; round++) {
		bool progress = false;

		if (d->buf.len > 0 && !d->wblocked) {
			uint32_t had = d->buf.len;
			/* The source's EOF is known: hold the last partial
			 * segment back (MSG_MORE) so the FIN that follows
			 * at once, from shutdown() or close(), rides on it.
			 * A reset source gets no FIN, so nothing may wait. */
			int more = d->eof && !d->src_reset ? MSG_MORE : 0;
			ssize_t n = buffer_write_fd_flags(&d->buf, to, more);

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
		if (*readable && relay_wants_read(d)) {
			uint64_t had_read = d->rbytes;
			enum relay_status st;

			st = relay_read_buffer(d, from, rp, readable, &progress);
			/* The first bytes that drain the source (eof_probe):
			 * is its EOF already there too -- a server that
			 * answers and closes?  One more read says so before
			 * the bytes leave, so they and the FIN go in one
			 * segment.  Once per session: a source that stays
			 * open pays one EAGAIN in all. */
			if (st == RELAY_OK && d->eof_probe && !*readable &&
			    d->rbytes != had_read && relay_wants_read(d)) {
				d->eof_probe = false;
				*readable = true;
				st = relay_read_buffer(d, from, rp, readable,
				    &progress);
			}
			if (st != RELAY_OK)
				return st;
		}
		if (!progress || (d->wblocked && !*readable))
			break;
		if (d->buf.len == 0 && !*readable)
			break;
	}
	return RELAY_OK;
}

/* An aborted direction: read and drop.  MSG_TRUNC makes TCP discard
 * without copying; the buffer is only for sockets that would copy. */
static enum relay_status
relay_drain(struct relay_dir *d, int from)
{
	static _Thread_local char scratch[16384];

	for (int round = 0; round < RELAY_ROUNDS * 16; round++) {
		ssize_t n = recv(from, scratch, sizeof(scratch),
		    MSG_TRUNC | MSG_DONTWAIT);

		if (n == 0) {
			d->eof = true;
			return RELAY_OK;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (would_block(errno))
				return RELAY_OK;
			return relay_read_failed(d, errno);
		}
	}
	return RELAY_OK;
}

enum relay_status
relay_pump(struct relay_dir *d, int from, int to, struct relay_pools *rp,
    bool readable)
{
	enum relay_status st;

	if (d->discard)
		return readable && !d->eof ? relay_drain(d, from) : RELAY_OK;

	if (d->pipe[0] < 0) {
		st = relay_pump_buffer(d, from, to, rp, &readable);
		if (st != RELAY_OK)
			return st;
		/* Bulk and fully flushed: go zero-copy from here on. */
		if (rp->splice && d->full_reads >= SPLICE_AFTER_FULL_READS &&
		    d->buf.len == 0 && !d->eof && pipe_get(&rp->pipes, d->pipe, &d->pipe_cap)) {
			d->in_pipe = 0;
			if (readable) {
				st = relay_pump_splice(d, from, to, readable);
				if (st != RELAY_OK)
					return st;
			}
		}
	} else {
		st = relay_pump_splice(d, from, to, readable);
		if (st != RELAY_OK)
			return st;
	}
	/* Either splice call above may have stopped at a mark. */
	if (d->pipe[0] >= 0 && d->at_mark && d->in_pipe == 0) {
		/* Back to read(), which takes the urgent byte inline (and
		 * what follows it).  The source is known to hold bytes, so
		 * read it now: nothing else would wake us (a pipe at a mark
		 * wants no read). */
		d->at_mark = false;
		d->full_reads = 0;
		pipe_put(&rp->pipes, d->pipe, true);
		d->in_pipe = 0;
		d->pipe_full = false;
		readable = true;
		st = relay_pump_buffer(d, from, to, rp, &readable);
		if (st != RELAY_OK)
			return st;
	}
	/* A source that was reset ends in a reset, which the session
	 * sends: a FIN here would tell the destination all went well. */
	if (relay_flushed(d) && !d->shut && !d->src_reset) {
		/* ENOTCONN: the destination is already gone; the session
		 * learns that from its own read side. */
		if (!d->last) {
			if (d->defer_fin)
				d->fin_pending = true;
			else
				(void)shutdown(to, SHUT_WR);
		}
		d->shut = true;
	}
	buffer_detach_if_empty(&d->buf, &rp->bufs);
	if (d->pipe[0] >= 0 && d->in_pipe == 0 && d->eof)
		pipe_put(&rp->pipes, d->pipe, true);
	return RELAY_OK;
}

enum relay_status
relay_fill(struct relay_dir *d, int from)
{
	return relay_fill_max(d, from, UINT32_MAX);
}

enum relay_status
relay_fill_max(struct relay_dir *d, int from, uint32_t max)
{
	ssize_t n;

	if (d->buf.data == NULL || buffer_room(&d->buf) == 0 || d->eof ||
	    max == 0)
		return RELAY_OK;
	n = buffer_read_fd_max(&d->buf, from, max);
	if (n < 0) {
		if (would_block(errno))
			return RELAY_OK;
		d->err = errno;
		return RELAY_READ_ERR;
	}
	if (n == 0)
		d->eof = true;
	else
		d->rbytes += (uint64_t)n;
	return RELAY_OK;
}

void
relay_abort(struct relay_dir *d, struct relay_pools *rp)
{
	relay_release(d, rp);
	d->discard = true;
	d->shut = true;
	d->fin_pending = false;	/* no one left to send it to */
	d->wblocked = false;
}

void
relay_release(struct relay_dir *d, struct relay_pools *rp)
{
	buffer_release(&d->buf, &rp->bufs);
	if (d->pipe[0] >= 0)
		pipe_put(&rp->pipes, d->pipe, d->in_pipe == 0);
	d->in_pipe = 0;
	d->pipe_full = false;
}
