/*
 * dgram: UDP load balancing -- the flows of `protocol: udp` listeners on
 * each worker.  A flow is one client address:port on one listening
 * socket; its first datagram picks a server with the pool's balance and
 * opens one connected socket to it, and every later datagram of the flow
 * goes there.  Replies leave the listening socket from the address the
 * client sent to.  A flow ends after idle_timeout without a datagram
 * either way, after `responses` server datagrams, on an ICMP error, or at
 * shutdown, and then writes one access-log record.
 */
#ifndef TCPLB_DGRAM_H
#define TCPLB_DGRAM_H

#include <stddef.h>

#include "relay/session.h"

struct worker;

/* Register with the workers (before workers_start). */
void dgram_init(void);

/* Runs on w's own thread: append w's flows of pool (NULL: all) and server
 * (name or address; NULL: all) to *out / *n (as session_snapshot). */
void dgram_snapshot(struct worker *w, const char *pool, const char *server,
    struct session_snap **out, size_t *n);

/* Flows, on all workers, still waiting for `responses` from their
 * server: a drain waits for them (any thread; relaxed counters). */
unsigned dgram_awaiting(void);

/* Runs on w's own thread: end every flow on a server with runtime state
 * st ("shut down by admin"); returns how many. */
unsigned dgram_shutdown_server(struct worker *w, const struct server_state *st);

#endif
