/*
 * mirror: a copy of a client's bytes for a shadow server (a pool's
 * `mirror: { pool, percent }`), whose replies are read and dropped.  The
 * client never waits for it: the copy is staged in a pipe of its own (with
 * tee() on the splice path, one write() on the buffered path) and flushed
 * when the shadow is writable; a shadow that is down, slow or not reading
 * when the pipe is full loses its copy -- its connection is cut and
 * counted -- and the client's session goes on untouched.
 */
#ifndef TCPLB_MIRROR_H
#define TCPLB_MIRROR_H

#include <ev.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/buffer.h"

struct gen;
struct pool;
struct mirror;

/* Per worker; written by that worker only, summed by readers. */
struct mirror_stats {
	atomic_uint_fast64_t conns;	/* mirror connections begun */
	atomic_uint_fast64_t bytes;	/* delivered to shadows */
	atomic_uint_fast64_t cuts;	/* cut: down, slow, reset */
	struct mirror *lingering;	/* detached, still flushing (the
					 * worker's own list) */
};

/* Should this connection be mirrored (percent of them, drawn from rnd)? */
bool mirror_wanted(const struct pool *p, uint32_t *rnd);
/* Pick a server of shadow (reserving a slot) and connect to it.  Never
 * NULL: a mirror that could not start is already cut (and counted).
 * client/local: for a PROXY header when the shadow server wants one.  g
 * is referenced until the mirror is freed.  wid: the worker, whose
 * counter blocks of the shadow server it writes (show servers). */
struct mirror *mirror_open(struct ev_loop *loop, struct gen *g,
    struct pool *shadow, const struct sockaddr *client,
    const struct sockaddr *local, uint32_t *rnd, struct mirror_stats *st,
    unsigned wid);

/* The relay's hooks (relay_dir.mirror). */
/* Buffered path: the newest n bytes of b were just read. */
void mirror_copy(struct mirror *m, const struct buffer *b, uint32_t n);
/* Splice path, before the source pipe's bytes leave it: copy them with
 * tee(); returns how many may leave now (tee copies from the head, so
 * bytes beyond those copied wait for the next round). */
uint32_t mirror_tee(struct mirror *m, int src, uint32_t in_pipe);
/* n bytes left the source pipe. */
void mirror_sent(struct mirror *m, uint32_t n);

/* The client ended its side: the shadow's ends once the copy is out. */
void mirror_eof(struct mirror *m);
/* The session is closing: what is staged is flushed for at most a short
 * while, then the mirror frees itself. */
void mirror_detach(struct mirror *m);
bool mirror_cut(const struct mirror *m);
/* The worker stops: cut (and free) every mirror still flushing. */
void mirror_cut_all(struct mirror_stats *st);
uint64_t mirror_bytes(const struct mirror *m);

#endif
