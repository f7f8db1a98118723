/*
 * inspect: the phases that read a client's first bytes before the pick,
 * and the one read that feeds them.  Owns the inspection buffer; the
 * parsers (proxy_proto.c, tls_hello.c) stay pure and know nothing of it.
 * See inspect.h for the contract with session.c and with each phase.
 */
#include "autoconfig.h"

#include "edge/inspect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/addr.h"
#include "edge/guard.h"
#include "parse/proxy_proto.h"
#include "parse/route.h"
#include "parse/tls_hello.h"
#include "base/util.h"

/* ---- phase: PROXY protocol header ------------------------------------- */

static bool
proxy_wanted(const struct listener *l)
{
	return l->accept_proxy;
}

static enum inspect_verdict
proxy_run(struct inspect *in, const struct listener *l)
{
	struct proxy_hdr h;
	const char *why;

	(void)l;
	switch (proxy_parse(in->buf + in->off, in->len - in->off, &h, &why)) {
	case PROXY_MORE:
		if (in->eof) {
			in->reason = in->len == in->off ?
			    "client closed before the PROXY header" :
			    "PROXY header truncated (client closed)";
			return INSPECT_CLOSE;
		}
		if (in->len == INSPECT_BUF_SIZE) {
			in->reason = "PROXY header too long";
			return INSPECT_CLOSE;
		}
		return INSPECT_WAIT;
	case PROXY_INVALID:
		in->reason = why;
		return INSPECT_CLOSE;
	case PROXY_OK:
		break;
	}
	in->off += (uint32_t)h.len;
	in->proxy_version = h.version;
	/* v1 UNKNOWN and v2 LOCAL keep the real peer, as HAProxy does: the
	 * proxy speaks for itself (a health check, usually). */
	if (h.has_addr) {
		in->has_client = true;
		in->client = h.src;
		in->has_local = true;
		in->local = h.dst;
	}
	return INSPECT_CONTINUE;
}

/* ---- phase: admission -------------------------------------------------
 *
 * On an accept_proxy listener the client's address is known only once the
 * header is read: allow, deny and the limits apply to it at once, so a
 * denied client is reset before it sends (and tcplb holds) a ClientHello
 * or anything else.  The trusted proxy was checked at accept. */

static bool
admit_wanted(const struct listener *l)
{
	return l->accept_proxy;
}

static enum inspect_verdict
admit_run(struct inspect *in, const struct listener *l)
{
	struct guard_ticket scratch;
	struct guard_ticket *tk = in->ticket ? in->ticket : &scratch;
	const struct sockaddr *who = (const struct sockaddr *)(in->has_client ?
	    &in->client : &in->peer);
	enum guard_reason r = guard_admit(l, who, tk);

	if (r != GUARD_OK) {
		in->refuse = r;
		return INSPECT_CLOSE;
	}
	if (tk == &scratch)
		guard_release(&scratch);
	in->admitted = true;
	return INSPECT_CONTINUE;
}

/* ---- phase: TLS ClientHello (routes by server name and ALPN) -----------
 *
 * Looks at the client's first bytes without consuming them: whatever the
 * verdict, the hello is forwarded unchanged.  Outcomes, as an HAProxy or
 * nginx user expects them:
 *   a route matches            -> its pool
 *   no route matches (or no    -> the listener's pool; closed when it
 *   name, or not TLS at all)      has none ("no_route")
 *   malformed, over 16 KiB, or -> closed, the parser's reason logged
 *   the client closed early       ("tls_hello")
 *   silent past inspect_timeout-> closed (session.c's timer)
 * The buffer bound (INSPECT_BUF_SIZE) is also the bound on a hello cut
 * into many tiny records: one that does not fit is "too big".
 */

static bool
tls_wanted(const struct listener *l)
{
	return l->nroutes > 0;
}

static enum inspect_verdict
tls_fallback(struct inspect *in, const struct listener *l, const char *note)
{
	in->tls_seen = true;
	in->route = -1;
	in->tls_note = note;
	if (l->pool == NULL) {
		in->reason = note;
		in->refuse = GUARD_NO_ROUTE;
		return INSPECT_CLOSE;
	}
	in->pool = l->pool;
	return INSPECT_CONTINUE;
}

static enum inspect_verdict
tls_run(struct inspect *in, const struct listener *l)
{
	struct tls_hello *h = &in->hello;
	enum tls_hello_status st;
	int r;

	st = tls_hello_parse(h, (const uint8_t *)in->buf + in->off,
	    in->len - in->off);
	switch (st) {
	case TLS_HELLO_NEED_MORE:
		if (in->eof) {
			in->reason = in->len == in->off ?
			    "client closed before sending anything" :
			    "client closed inside the ClientHello";
			in->refuse = GUARD_TLS_HELLO;
			return INSPECT_CLOSE;
		}
		if (in->len == INSPECT_BUF_SIZE) {
			in->reason = "ClientHello records do not fit in the "
			    "inspection buffer";
			in->refuse = GUARD_TLS_HELLO;
			return INSPECT_CLOSE;
		}
		return INSPECT_WAIT;
	case TLS_HELLO_NOT_TLS:
		return tls_fallback(in, l, "not TLS");
	case TLS_HELLO_MALFORMED:
	case TLS_HELLO_TOO_BIG:
		in->tls_seen = true;
		in->reason = h->reason;
		in->refuse = GUARD_TLS_HELLO;
		return INSPECT_CLOSE;
	case TLS_HELLO_OK:
		break;
	}
	in->tls_ok = true;
	r = route_match(l->routes, l->nroutes, h->has_sni ? h->sni : NULL,
	    h->sni_len, tls_hello_alpn(h), h->alpn_len);
	if (r < 0)
		return tls_fallback(in, l, h->has_sni ? "no route matched" :
		    "no server name, no route matched");
	in->tls_seen = true;
	in->route = r;
	in->tls_note = "route";
	in->pool = l->routes[r].pool;
	return INSPECT_CONTINUE;
}

/* ---- the phase table --------------------------------------------------- */

struct inspect_phase {
	const char *name;
	bool (*wanted)(const struct listener *l);
	enum inspect_verdict (*run)(struct inspect *in, const struct listener *l);
	const char *timeout_reason;
};

static const struct inspect_phase phases[] = {
	{ "proxy", proxy_wanted, proxy_run, "no complete PROXY header before inspect_timeout" },
	{ "admit", admit_wanted, admit_run, "inspect timeout" },
	{ "tls", tls_wanted, tls_run, "no complete TLS ClientHello before inspect_timeout" },
};

#define NPHASES (sizeof(phases) / sizeof(phases[0]))

bool
inspect_wanted(const struct listener *l)
{
	for (size_t i = 0; i < NPHASES; i++)
		if (phases[i].wanted(l))
			return true;
	return false;
}

struct inspect *
inspect_new(void)
{
	struct inspect *in = xcalloc(1, sizeof(*in));

	in->buf = xmalloc(INSPECT_BUF_SIZE);
	in->route = -1;
	tls_hello_init(&in->hello);
	return in;
}

void
inspect_set_peer(struct inspect *in, const struct sockaddr *peer,
    struct guard_ticket *tk)
{
	socklen_t len = addr_len(peer);

	memset(&in->peer, 0, sizeof(in->peer));
	memcpy(&in->peer, peer, len < sizeof(in->peer) ? len : sizeof(in->peer));
	in->ticket = tk;
}

void
inspect_free(struct inspect *in)
{
	if (in == NULL)
		return;
	if (in->held_counter != NULL)
		atomic_store_explicit(in->held_counter, atomic_load_explicit(
		    in->held_counter, memory_order_relaxed) - in->held,
		    memory_order_relaxed);
	tls_hello_clear(&in->hello);
	free(in->buf);
	free(in);
}

void
inspect_compact(struct inspect *in, atomic_uint_fast64_t *counter)
{
	uint32_t left = in->len - in->off;
	char *buf;

	if (in->held_counter != NULL)
		return;		/* done already */
	buf = xmalloc(left ? left : 1);
	memcpy(buf, in->buf + in->off, left);
	free(in->buf);
	in->buf = buf;
	in->off = 0;
	in->len = left;
	/* The parser's results were used (the route, the name copied). */
	tls_hello_clear(&in->hello);
	in->held = left;
	in->held_counter = counter;
	atomic_store_explicit(counter, atomic_load_explicit(counter,
	    memory_order_relaxed) + left, memory_order_relaxed);
}

enum inspect_verdict
inspect_run(struct inspect *in, const struct listener *l)
{
	while (in->phase < NPHASES) {
		const struct inspect_phase *p = &phases[in->phase];
		enum inspect_verdict v;

		if (!p->wanted(l)) {
			in->phase++;
			continue;
		}
		v = p->run(in, l);
		if (v != INSPECT_CONTINUE)
			return v;
		in->phase++;
	}
	return INSPECT_CONTINUE;
}

/* A reset in the middle of a phase is counted under that phase's reason:
 * a hello cut short is a bad hello, not a bad PROXY header. */
static unsigned
inspect_phase_refusal(struct inspect *in, const struct listener *l)
{
	while (in->phase < NPHASES && !phases[in->phase].wanted(l))
		in->phase++;
	if (in->phase < NPHASES && phases[in->phase].run == tls_run) {
		in->tls_seen = true;
		return GUARD_TLS_HELLO;
	}
	return GUARD_PROXY_HEADER;
}

enum inspect_verdict
inspect_read(struct inspect *in, int fd, const struct listener *l)
{
	if (in->len < INSPECT_BUF_SIZE && !in->eof) {
		ssize_t n;

		/* One read of what is there: a header and the request
		 * after it usually arrive together, and whatever follows
		 * the header is kept, never read twice. */
		do
			n = read(fd, in->buf + in->len, INSPECT_BUF_SIZE - in->len);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return INSPECT_WAIT;
			in->reason = "client reset while inspecting";
			in->refuse = inspect_phase_refusal(in, l);
			return INSPECT_CLOSE;
		}
		if (n == 0)
			in->eof = true;
		in->len += (uint32_t)n;
	}
	return inspect_run(in, l);
}

const char *
inspect_timeout_reason(const struct inspect *in)
{
	if (in->phase < NPHASES)
		return phases[in->phase].timeout_reason;
	return "inspect timeout";
}

static const char *const tls_outcome_names[TLS_OUT_N] = {
	[TLS_OUT_ROUTED] = "routed",
	[TLS_OUT_FALLBACK] = "fallback",
	[TLS_OUT_NOT_TLS] = "not_tls",
	[TLS_OUT_NO_ROUTE] = "no_route",
	[TLS_OUT_BAD_HELLO] = "bad_hello",
	[TLS_OUT_TIMEOUT] = "timeout",
};

const char *
inspect_tls_outcome_name(enum inspect_tls_outcome o)
{
	return o < TLS_OUT_N ? tls_outcome_names[o] : "unknown";
}

static void
count(atomic_uint_fast64_t *c)
{
	/* Only the owning worker writes: no locked add needed. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
	    memory_order_relaxed);
}

void
inspect_tls_count(struct inspect_tls_stats *st, const struct listener *l,
    const struct inspect *in, bool timed_out)
{
	enum inspect_tls_outcome o;

	if (timed_out) {
		/* Only a timeout inside the TLS phase is the hello's. */
		if (in->phase >= NPHASES || phases[in->phase].run != tls_run)
			return;
		o = TLS_OUT_TIMEOUT;
	} else if (!in->tls_seen && in->reason == NULL) {
		return;		/* an earlier phase decided */
	} else if (in->route >= 0) {
		o = TLS_OUT_ROUTED;
		/* Per-route: shared by the workers, so an atomic add. */
		atomic_fetch_add_explicit(&l->routes[in->route].hits, 1,
		    memory_order_relaxed);
	} else if (in->refuse == GUARD_NO_ROUTE) {
		o = TLS_OUT_NO_ROUTE;
	} else if (in->refuse == GUARD_TLS_HELLO) {
		o = TLS_OUT_BAD_HELLO;
	} else if (in->reason != NULL) {
		return;		/* closed by an earlier phase */
	} else {
		o = in->tls_ok ? TLS_OUT_FALLBACK : TLS_OUT_NOT_TLS;
	}
	count(&st->outcome[o]);
}
