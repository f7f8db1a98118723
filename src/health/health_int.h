/*
 * health_int: what health.c (thread, loop, schedule, verdicts) shares with
 * the check kinds (health_conn.c: connect, then the protocol of the check's
 * type through check.h; health_udp.c: a datagram and its answer or ICMP
 * error; another kind would plug in the same way).  A kind owns the
 * check's I/O -- its socket, its ev_io, its
 * buffers -- and reports the outcome through health_check_done(), the one
 * exit of a check.  health.c owns everything else: when a check starts, its
 * timeout, and what a result means for the server (rise/fall).
 */
#ifndef TCPLB_HEALTH_INT_H
#define TCPLB_HEALTH_INT_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/gen.h"
#include "health/check.h"

struct health_check;

struct health_kind {
	const char *name;
	/* (Re)build what the probe needs for server s under cfg (on a new
	 * check, and on one kept across a reload; c->cfg is the previous
	 * cfg, NULL the first time).  Returns true if the probe is the same
	 * as before, so a check in flight may finish.  health.c picks the
	 * kind (health_kind_for) and switches a kept check to another kind
	 * by abort + release + prepare. */
	bool (*prepare)(struct health_check *c, const struct server *s,
	    const struct health_cfg *cfg);
	/* Begin: open the socket, arm c->io.  Ends, now or later, in
	 * health_check_done(). */
	void (*start)(struct health_check *c);
	/* The timeout fired: first take whatever the socket has for us
	 * (the loop may have run late, and the answer may be waiting);
	 * return true if that ended the check, else the reason it failed. */
	bool (*progress)(struct health_check *c);
	/* Why the timed-out check failed, in words; the fixed reason
	 * (metrics) goes to c->why. */
	const char *(*timeout_reason)(struct health_check *c);
	/* Stop c->io, close the socket; the check is idle afterwards. */
	void (*abort)(struct health_check *c);
	/* Free what prepare() allocated (after abort). */
	void (*release)(struct health_check *c);
};

struct health_check {
	/* health.c */
	struct server *srv;
	const struct health_cfg *cfg;
	const struct health_kind *kind;
	struct ev_loop *loop;		/* the health thread's */
	bool kept;			/* taken over by the new set */
	bool running;			/* between start and done */
	unsigned epoch;			/* st->passive_epoch when it began */
	ev_tstamp started;		/* ev_now() when it began */
	ev_timer timeout;
	ev_timer sched;
	/* the kind's */
	int fd;				/* -1 unless a check is in progress */
	int phase;			/* the kind's own state machine */
	ev_io io;
	size_t sent;
	size_t got;
	char *buf;			/* what was read so far */
	char *out;			/* what is sent */
	size_t out_len;
	void *priv;			/* anything else a kind needs */
	/* What the kind reports with its verdict (reset at each start):
	 * the failure's fixed reason, the outcome in words for a success
	 * ("HTTP 200"), and an agent's parsed line. */
	enum check_reason why;
	char result[96];
	bool agent_valid;
	struct agent_reply agent;
};

/* The one exit of a check.  reason == NULL: success.  counts == false: a
 * local problem (no fds, say) that says nothing about the server. */
void health_check_done(struct health_check *c, const char *reason,
    bool counts);
/* A check could not start for a reason of our own: rate-limited record. */
void health_local_error(const struct health_check *c, int err);
const char *health_errno_reason(int err);
/* Errors that say something about this host, not about the server. */
bool health_errno_local(int err);

/* Connect (to the check port, from the traffic source), then speak the
 * protocol of the pool's health_check.type (check.h: tcp, http, tls,
 * agent). */
extern const struct health_kind health_kind_conn;
extern const struct health_kind health_kind_udp;	/* pools of UDP listeners */

#endif
