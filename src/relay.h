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

#include "buffer.h"

struct relay_dir {
	struct buffer buf;
	uint64_t bytes;		/* delivered to the destination */
	bool eof;		/* source said EOF */
	bool shut;		/* EOF forwarded with shutdown(SHUT_WR) */
	bool wblocked;		/* destination refused more: wait for writable */
	int err;		/* errno of the failure, when one happened */
};

enum relay_status {
	RELAY_OK,		/* progress or nothing to do */
	RELAY_READ_ERR,		/* source failed (reset): dir->err */
	RELAY_WRITE_ERR,	/* destination failed (reset, EPIPE): dir->err */
};

/* Move what can be moved now.  readable: the source may have bytes (or
 * EOF); the destination is assumed writable unless dir->wblocked. */
enum relay_status relay_pump(struct relay_dir *d, int from, int to,
    struct bufpool *pool, bool readable);

/* The source is worth polling for reading / the destination for writing. */
static inline bool
relay_wants_read(const struct relay_dir *d)
{
	return !d->eof && (d->buf.data == NULL || d->buf.len < d->buf.size);
}

static inline bool
relay_wants_write(const struct relay_dir *d)
{
	return d->buf.len > 0;
}

/* Both EOF seen and forwarded. */
static inline bool
relay_done(const struct relay_dir *d)
{
	return d->shut;
}

void relay_release(struct relay_dir *d, struct bufpool *pool);

#endif
