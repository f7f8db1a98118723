/*
 * inspect: the inspection stage -- bytes a client sends before tcplb
 * picks a server (a PROXY protocol header, a TLS ClientHello) are read
 * into one bounded buffer owned by the session and handed to pure parsers
 * in phases, in order, ending in one verdict.
 *
 * Interface (for session.c and for every phase):
 *
 *   session.c, after accept, when inspect_wanted(l):
 *     state INSPECTING; in = inspect_new(); cio on EV_READ; the session
 *     timer set to l->inspect_timeout_ms (expiry: close, reason
 *     "inspect timeout" / inspect_timeout_reason(in)).
 *   on each readable event:  v = inspect_read(in, fd, l, peer)
 *     INSPECT_WAIT      keep waiting (nothing else to do)
 *     INSPECT_CLOSE     close the client with a reset; in->reason says why
 *                       (a static string, safe to log)
 *     INSPECT_CONTINUE  done: in->client (when in->has_client) replaces
 *                       the peer address everywhere; in->local (when
 *                       in->has_local) is the address the client reached;
 *                       in->pool (when not NULL) replaces the listener's
 *                       pool; inspect_leftover() are client bytes to send
 *                       to the server first, unchanged (session puts them
 *                       at the front of the c2s relay buffer).
 *   inspect_free(in) once the verdict is used (or on close).
 *
 * A phase is a pair of functions in the table in inspect.c:
 *   bool wanted(const struct listener *l)
 *   enum inspect_verdict run(struct inspect *in, const struct listener *l)
 * run() looks at in->buf[in->off .. in->len) and returns
 *   INSPECT_WAIT (needs more bytes; called again after the next read),
 *   INSPECT_CONTINUE (this phase is done: the next one runs at once),
 *   INSPECT_CLOSE (set in->reason).
 * A phase that consumes its bytes (the PROXY header, which is never
 * forwarded) advances in->off; a phase that only looks (the ClientHello,
 * which is forwarded) leaves it.  in->eof is set when the client closed
 * its side: a phase that still needs bytes must then close or decide.
 * Phases run in table order: PROXY (l->accept_proxy), then admission
 * (l->accept_proxy: allow, deny and limits on the client's address, as
 * soon as it is known -- before any ClientHello; what guard_admit()
 * reserves goes into *in->ticket), then the TLS ClientHello (the listener
 * has routes: tls_hello.c parses, route.c matches; the verdict sets
 * in->pool, or closes with refuse = tls_hello or no_route).
 *
 * Listeners with no phase wanted skip the stage entirely: no allocation,
 * no extra read.
 */
#ifndef TCPLB_INSPECT_H
#define TCPLB_INSPECT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/gen.h"
#include "edge/guard.h"
#include "parse/tls_hello.h"

/* Bytes held while inspecting: a PROXY header (PROXY_MAX_HEADER, 4 KiB)
 * followed by a ClientHello of up to 16 KiB plus record headers. */
#define INSPECT_BUF_SIZE (4096 + 16384 + 1024)

enum inspect_verdict {
	INSPECT_WAIT,
	INSPECT_CONTINUE,
	INSPECT_CLOSE,
};

struct inspect {
	char *buf;			/* INSPECT_BUF_SIZE bytes */
	uint32_t len;			/* bytes read */
	uint32_t off;			/* bytes consumed by earlier phases */
	unsigned phase;			/* index of the phase running */
	bool eof;			/* the client closed its side */
	const char *reason;		/* INSPECT_CLOSE: why (static) */
	unsigned refuse;		/* INSPECT_CLOSE: enum guard_reason to
					 * count it under (0: proxy_header) */

	/* Admission (accept_proxy listeners): the socket's peer, used when
	 * the header carries no address (v1 UNKNOWN, v2 LOCAL), and where
	 * the reservation goes (NULL: none kept -- unit tests). */
	struct sockaddr_storage peer;
	struct guard_ticket *ticket;
	bool admitted;

	/* After inspect_compact(): the bytes held, counted in *held_counter
	 * until inspect_free(). */
	atomic_uint_fast64_t *held_counter;
	uint32_t held;

	/* Results. */
	bool has_client;
	struct sockaddr_storage client;	/* from a trusted PROXY header */
	bool has_local;
	struct sockaddr_storage local;	/* the header's destination */
	struct pool *pool;		/* chosen by a phase; NULL: listener's */
	unsigned proxy_version;		/* 0, or the PROXY header's version */

	/* TLS ClientHello phase (listeners with routes). */
	bool tls_seen;			/* the phase ran to a verdict */
	bool tls_ok;			/* a valid hello: hello.sni etc. hold */
	int route;			/* index in l->routes; -1: none */
	const char *tls_note;		/* how the pool was chosen (static) */
	struct tls_hello hello;		/* parser state, then its results */
};

/* Does any phase apply to this listener? */
bool inspect_wanted(const struct listener *l);

/* A fresh inspection (route = -1). */
struct inspect *inspect_new(void);
/* The socket's peer address and the ticket admission fills (session.c,
 * right after inspect_new()). */
void inspect_set_peer(struct inspect *in, const struct sockaddr *peer,
    struct guard_ticket *tk);
void inspect_free(struct inspect *in);

/* Read once from fd (non-blocking) and run the phases. */
enum inspect_verdict inspect_read(struct inspect *in, int fd,
    const struct listener *l);
/* Run the phases on bytes already in in->buf (tests, and inspect_read). */
enum inspect_verdict inspect_run(struct inspect *in, const struct listener *l);

/* The verdict is in, but the client's bytes wait for a server (a queue,
 * a slow connect): keep only them, in a buffer of their exact size (a
 * ClientHello is typically 0.5-2 KiB, not the 21 KiB inspection buffer),
 * and add their size to *counter (relaxed; one writer per counter) until
 * inspect_free(). */
void inspect_compact(struct inspect *in, atomic_uint_fast64_t *counter);

/* Client bytes not consumed by a phase, to forward first. */
static inline const char *inspect_leftover(const struct inspect *in) { return in->buf + in->off; }
static inline uint32_t inspect_leftover_len(const struct inspect *in) { return in->len - in->off; }

/*
 * How the TLS phase ended, counted per worker (the worker's thread writes,
 * anyone reads; relaxed atomics).  Names are fixed strings, fit for
 * metric labels; per-route counts are struct route's `hits`.
 */
enum inspect_tls_outcome {
	TLS_OUT_ROUTED,		/* "routed": a route matched */
	TLS_OUT_FALLBACK,	/* "fallback": valid hello, no route: listener pool */
	TLS_OUT_NOT_TLS,	/* "not_tls": not TLS: listener pool */
	TLS_OUT_NO_ROUTE,	/* "no_route": closed, no route and no pool */
	TLS_OUT_BAD_HELLO,	/* "bad_hello": malformed, too big, cut short */
	TLS_OUT_TIMEOUT,	/* "timeout": no hello before inspect_timeout */
	TLS_OUT_N
};

struct inspect_tls_stats {
	atomic_uint_fast64_t outcome[TLS_OUT_N];
};

const char *inspect_tls_outcome_name(enum inspect_tls_outcome o);
/* Count the TLS phase's verdict on in (a listener with routes), or its
 * timeout. */
void inspect_tls_count(struct inspect_tls_stats *st, const struct listener *l,
    const struct inspect *in, bool timed_out);


/* The close reason when inspect_timeout expires in the current phase. */
const char *inspect_timeout_reason(const struct inspect *in);

#endif
