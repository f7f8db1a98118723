/*
 * inspect: the phases that read a client's first bytes before the pick,
 * and the one read that feeds them.  Owns the inspection buffer; the
 * parsers (proxy_proto.c, tls_hello.c) stay pure and know nothing of it.
 * See inspect.h for the contract with session.c and with each phase.
 */
#include "autoconfig.h"

#include "inspect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy_proto.h"
#include "util.h"

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

/* ---- the phase table --------------------------------------------------- */

struct inspect_phase {
	const char *name;
	bool (*wanted)(const struct listener *l);
	enum inspect_verdict (*run)(struct inspect *in, const struct listener *l);
	const char *timeout_reason;
};

static const struct inspect_phase phases[] = {
	{ "proxy", proxy_wanted, proxy_run, "no complete PROXY header before inspect_timeout" },
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
	return in;
}

void
inspect_free(struct inspect *in)
{
	if (in == NULL)
		return;
	free(in->buf);
	free(in);
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
