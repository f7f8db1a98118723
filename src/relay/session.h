/*
 * session: one client connection and the server connection made for it --
 * pick, connect with retries, relay both directions, timeouts -- ending in
 * session_close(), the one teardown.
 */
#ifndef TCPLB_SESSION_H
#define TCPLB_SESSION_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct worker;
struct listener;
struct server;
struct server_state;
struct pool;
struct gen;

/* A compact copy of one open session, made by its worker for
 * `show sessions` and read on the main thread.  gen is referenced by the
 * entry when owns_gen (by an earlier entry otherwise), so the listener and
 * server pointers stay valid until session_snap_free(). */
struct session_snap {
	struct gen *gen;
	bool owns_gen;
	bool connecting;
	const struct listener *l;
	const struct pool *pool;	/* the listener's, or chosen by a route */
	const struct server *srv;	/* NULL before a server is picked */
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} peer;
	uint64_t id;
	double age_s;
	uint64_t bytes_in;		/* client -> server */
	uint64_t bytes_out;		/* server -> client */
	bool dgram;			/* a UDP flow (dgram_snapshot) */
	uint64_t dgrams_in, dgrams_out;
	uint8_t mptcp;			/* SESSION_MPTCP_* */
};
struct guard_ticket;

/* Which sides of a session run Multipath TCP (not a fallback to TCP). */
#define SESSION_MPTCP_CLIENT	0x1
#define SESSION_MPTCP_SERVER	0x2
/* "client", "server", "both", or NULL for none. */
const char *session_mptcp_name(unsigned mptcp);

/* Takes ownership of fd (closed on every path) and of tk (what guard
 * reserved at accept; NULL: nothing). */
void session_start(struct worker *w, struct listener *l, int fd,
    const struct sockaddr *peer, socklen_t peerlen,
    const struct guard_ticket *tk);
/* Close every session of w with the given reason: a forced close, which
 * resets both sides of each. */
void session_close_all(struct worker *w, const char *reason);
/* Runs on w's own thread: copy its sessions of pool (NULL: all) and
 * server (name or address; NULL: all) into *out (malloc'd, *n entries). */
void session_snapshot(struct worker *w, const char *pool, const char *server,
    struct session_snap **out, size_t *n);
void session_snap_free(struct session_snap *v, size_t n);
/* Runs on w's own thread: close every session on a server with runtime
 * state st, for reason (the access log's); reset: with a TCP reset on
 * both sides (a server marked down: the client must not take a FIN for
 * a clean end), else with a FIN.  Returns how many. */
unsigned session_shutdown_server(struct worker *w, const struct server_state *st,
    const char *reason, bool reset);
/* w's mailbox said some of its queued sessions were woken: give each its
 * turn. */
void session_queue_wakeups(struct worker *w);
/* The worker's hupwatch saw the client of a queued session (ptr) reset
 * or close (HUPWATCH_* events). */
void session_queue_hup(void *ptr, unsigned events);
/* w switched generations: queued sessions whose listener now leads to
 * another pool's queue move there. */
void session_queue_follow(struct worker *w);
/* Send the FINs deferred during this loop iteration (w->fin_pending):
 * run before the loop waits again. */
void session_send_fins(struct worker *w);
/* Free w's slab of recycled sessions. */
void session_slab_free(struct worker *w);

#endif
