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
 * Phases run in table order: PROXY (l->accept_proxy), then TLS hello
 * (the listener has routes; engineer "sni" adds it).
 *
 * Listeners with no phase wanted skip the stage entirely: no allocation,
 * no extra read.
 */
#ifndef TCPLB_INSPECT_H
#define TCPLB_INSPECT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gen.h"

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

	/* Results. */
	bool has_client;
	struct sockaddr_storage client;	/* from a trusted PROXY header */
	bool has_local;
	struct sockaddr_storage local;	/* the header's destination */
	struct pool *pool;		/* chosen by a phase; NULL: listener's */
	unsigned proxy_version;		/* 0, or the PROXY header's version */
};

/* Does any phase apply to this listener? */
bool inspect_wanted(const struct listener *l);

struct inspect *inspect_new(void);
void inspect_free(struct inspect *in);

/* Read once from fd (non-blocking) and run the phases. */
enum inspect_verdict inspect_read(struct inspect *in, int fd,
    const struct listener *l);
/* Run the phases on bytes already in in->buf (tests, and inspect_read). */
enum inspect_verdict inspect_run(struct inspect *in, const struct listener *l);

/* Client bytes not consumed by a phase, to forward first. */
static inline const char *inspect_leftover(const struct inspect *in) { return in->buf + in->off; }
static inline uint32_t inspect_leftover_len(const struct inspect *in) { return in->len - in->off; }

/* The close reason when inspect_timeout expires in the current phase. */
const char *inspect_timeout_reason(const struct inspect *in);

#endif
