/*
 * relay: one direction of a session -- bytes read from one socket and written
 * to the other -- with back-pressure (nothing is read while the buffer is
 * full) and half-close (EOF read is forwarded as shutdown(SHUT_WR) once the
 * buffer is flushed).  Knows nothing of sessions or event loops: it moves
 * bytes when told the sockets may be ready, and reports what happened, so it
 * is tested over socketpairs.
 */
#ifndef TCPLB_RELAY_H
#define TCPLB_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buffer.h"

struct mirror;

/* Per-worker free list of pipes for splice(); like bufpool, never shared. */
struct pipepool {
	int (*free)[2];
	size_t nfree;
	size_t cap;
	size_t out;
};

/* What a worker lends its sessions' relays: buffer chunks and pipes. */
struct relay_pools {
	struct bufpool bufs;
	struct pipepool pipes;
	bool splice;		/* zero-copy allowed at all */
};

void relay_pools_init(struct relay_pools *rp, size_t keep_bufs, size_t keep_pipes,
    bool splice);
void relay_pools_destroy(struct relay_pools *rp);

struct relay_dir {
	struct buffer buf;
	int pipe[2];		/* splice mode: [0] read end, [1] write end; else -1 */
	uint32_t in_pipe;	/* bytes held in the pipe */
	uint32_t pipe_cap;	/* the pipe's size in bytes */
	bool pipe_full;		/* the pipe took no more: wait for it to drain */
	uint32_t full_reads;	/* consecutive reads that filled half the
				 * buffer or more */
	uint64_t bytes;		/* delivered to the destination */
	uint64_t rbytes;	/* read from the source */
	bool eof;		/* source said EOF */
	bool shut;		/* EOF forwarded with shutdown(SHUT_WR) */
	bool last;		/* the other direction is done: the session closes
				 * when this one is, and close() sends the FIN */
	bool defer_fin;		/* set by the owner: at EOF, do not send the FIN
				 * (shutdown) but set fin_pending; the owner sends
				 * it later, or close() does */
	bool fin_pending;	/* shut, the FIN not sent yet (defer_fin) */
	bool wblocked;		/* destination refused more: wait for writable */
	bool at_mark;		/* splice() stopped at a TCP urgent mark (or said
				 * 0 with bytes queued): read() them once the
				 * pipe is empty */
	bool discard;		/* the destination is gone (relay_abort): the
				 * source is read and its bytes dropped */
	bool src_reset;		/* the source was reset: what its socket still
				 * holds is read and delivered, and then the
				 * session resets the destination (no FIN) */
	bool eof_probe;		/* set by the owner: after the first read that
				 * drains the source, read once more before
				 * writing, so an EOF that came with the bytes
				 * is known and the FIN leaves with them
				 * (MSG_MORE, then shutdown); cleared then */
	int err;		/* errno of the failure, when one happened */
	struct mirror *mirror;	/* copy what is read (mirror.c); NULL */
	bool limited;		/* bandwidth (shape.c): read at most quota */
	uint64_t quota;		/* bytes it may still read now */
};

enum relay_status {
	RELAY_OK,		/* progress or nothing to do */
	RELAY_READ_ERR,		/* source failed (reset): dir->err; the
				 * direction is at its end (eof, src_reset) but
				 * may still hold bytes to deliver */
	RELAY_WRITE_ERR,	/* destination failed (reset, EPIPE): dir->err */
};

/* A direction starts buffered (no pipe). */
void relay_init(struct relay_dir *d);

/* Move what can be moved now.  readable: the source may have bytes (or
 * EOF); the destination is assumed writable unless dir->wblocked.  A
 * direction that keeps filling whole buffers switches to splice() through a
 * pipe from rp, when rp allows it. */
enum relay_status relay_pump(struct relay_dir *d, int from, int to,
    struct relay_pools *rp, bool readable);

/* The source is worth polling for reading / the destination for writing. */
#define RELAY_PIPE_SIZE (256 * 1024)	/* asked for; pipe_cap is what we got */

static inline bool
relay_wants_read(const struct relay_dir *d)
{
	if (d->eof)
		return false;
	if (d->discard)
		return true;
	if (d->limited && d->quota == 0)
		return false;
	/* A pipe fills by its slots (one per segment), not by bytes: small
	 * segments can fill it long before RELAY_PIPE_SIZE bytes. */
	if (d->pipe[0] >= 0)
		return !d->pipe_full && !d->at_mark && d->in_pipe < d->pipe_cap;
	return d->buf.data == NULL || d->buf.len < d->buf.size;
}

static inline bool
relay_wants_write(const struct relay_dir *d)
{
	return d->buf.len > 0 || d->in_pipe > 0;
}

/* Both EOF seen and forwarded. */
static inline bool
relay_done(const struct relay_dir *d)
{
	return d->shut;
}

/* The source has ended and every byte read from it has been handed to
 * the destination socket. */
static inline bool
relay_flushed(const struct relay_dir *d)
{
	return d->eof && d->buf.len == 0 && d->in_pipe == 0;
}

/* The destination is gone (reset): nothing held can ever reach it.  Drop
 * it; from now on the direction is done (no FIN will be sent) and what
 * its source still sends is read and dropped, until its EOF: a peer
 * must not block writing to a side that no longer exists, or it could
 * stop reading what the other direction still has to deliver to it. */
void relay_abort(struct relay_dir *d, struct relay_pools *rp);
/* Read once from the source into an attached buffer, writing nothing:
 * so bytes already queued (a PROXY header) leave together with the
 * first ones read.  EOF sets d->eof. */
enum relay_status relay_fill(struct relay_dir *d, int from);
/* The same, reading at most max bytes. */
enum relay_status relay_fill_max(struct relay_dir *d, int from, uint32_t max);

void relay_release(struct relay_dir *d, struct relay_pools *rp);

#endif
