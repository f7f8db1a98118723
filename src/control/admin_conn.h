/*
 * admin_conn: one request/answer connection on the main loop, shared by the
 * admin socket and the metrics endpoint -- non-blocking reads into a
 * bounded buffer, one timeout that covers both a client that never sends
 * and one that never reads (it restarts on every byte of progress), an
 * output buffer refilled on demand so a long answer never sits in memory
 * whole, and one teardown.  Nothing here can block the loop.
 */
#ifndef TCPLB_ADMIN_CONN_H
#define TCPLB_ADMIN_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "control/admin_fmt.h"

#define ACONN_OUT_LOW (64 * 1024)	/* refill the output below this */

struct aconn;

enum aconn_next {
	ACONN_MORE,		/* request incomplete: keep reading */
	ACONN_ANSWER,		/* the answer is in c->out: send it */
	ACONN_LATER,		/* the owner calls aconn_send() when ready */
};

struct aconn_ops {
	/* New bytes arrived; eof: the peer finished sending; full: inmax
	 * bytes and still incomplete (MORE is not an option then).  Must
	 * not call aconn_send() or aconn_close() itself. */
	enum aconn_next (*input)(struct aconn *c, bool eof, bool full);
	/* The output ran low while c->more: add to c->out, clear c->more
	 * at the end. */
	void (*refill)(struct aconn *c);
	/* Last call: free the owner.  c is freed by the caller after. */
	void (*closed)(struct aconn *c);
};

struct aconn {
	struct ev_loop *loop;
	int fd;
	ev_io io;
	ev_timer timer;
	double timeout;			/* seconds without progress */
	ev_timer deadline;		/* the whole request head, then the
					 * whole answer (aconn_set_deadlines) */
	double answer_s;		/* the answer's deadline; 0: none */
	char *in;
	size_t inlen, inmax;
	struct sbuf out;
	size_t outoff;
	bool more;			/* refill() has more to give */
	bool answering;			/* input complete */
	bool waiting;			/* answer not started yet (async) */
	const struct aconn_ops *ops;
	void *owner;
};

/* Takes fd (non-blocking); starts reading.  inmax: the request bound. */
struct aconn *aconn_new(struct ev_loop *loop, int fd, size_t inmax,
    double timeout, const struct aconn_ops *ops, void *owner);
/* Bound the whole request head to head_s seconds from now, however the
 * bytes trickle in, and the whole answer (once it starts) to answer_s
 * (0: only the progress timeout); past either the connection is reset.
 * Time spent waiting on our own work (ACONN_LATER) does not count. */
void aconn_set_deadlines(struct aconn *c, double head_s, double answer_s);
/* Reset the connection (SO_LINGER 0): a forced end, never a clean EOF. */
void aconn_abort(struct aconn *c);
/* The answer is in c->out (and c->more says whether refill follows):
 * start writing it; the connection closes when it is all written. */
void aconn_send(struct aconn *c);
/* Close now (stop watchers, close the fd, ops->closed, free). */
void aconn_close(struct aconn *c);

#endif
