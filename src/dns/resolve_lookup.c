/*
 * resolve_lookup: one server entry's lookup on a c-ares channel -- a host
 * name to its A and AAAA addresses (/etc/hosts first, as the C library
 * does), or an SRV name to its records and then every target's addresses
 * -- ending in exactly one callback.  Also the channel set-up both drivers
 * share.
 *
 * A failed or empty answer is reported as a failure, never as "no
 * addresses": the caller keeps the last good ones (a server is never taken
 * out of service because DNS failed).  An answer is whole or it is a
 * failure: A and AAAA are asked separately, and either one timing out or
 * failing (a NODATA answer is an answer) fails the lookup; so does an SRV
 * target that does not exist.  The addresses are then capped the same way
 * whatever order they came in (resolved_cap()).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "dns/resolve.h"
#include "dns/resolve_int.h"
#include "dns/resolve_srv.h"
#include "base/util.h"

int
resolve_channel_new(ares_channel *ch, const char *resolvers,
    ares_sock_state_cb sock_cb, void *sock_arg, char *err, size_t errlen)
{
	struct ares_options o;
	int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS;
	int rc;

	memset(&o, 0, sizeof(o));
	o.timeout = RESOLVE_TIMEOUT_MS;
	o.tries = RESOLVE_TRIES;
	/* Files, then DNS: /etc/hosts must win, as with getaddrinfo(). */
	o.lookups = (char *)"fb";
	if (sock_cb != NULL) {
		o.sock_state_cb = sock_cb;
		o.sock_state_cb_data = sock_arg;
		mask |= ARES_OPT_SOCK_STATE_CB;
	}
	if ((rc = ares_init_options(ch, &o, mask)) != ARES_SUCCESS) {
		snprintf(err, errlen, "cannot start the DNS resolver: %s",
		    ares_strerror(rc));
		return -1;
	}
	if (resolvers != NULL && *resolvers != '\0' &&
	    (rc = ares_set_servers_ports_csv(*ch, resolvers)) != ARES_SUCCESS) {
		snprintf(err, errlen, "cannot use resolvers '%s': %s",
		    resolvers, ares_strerror(rc));
		ares_destroy(*ch);
		return -1;
	}
	return 0;
}

/* ---- one lookup -------------------------------------------------------- */

/* Addresses collected per lookup before the cap is applied: the whole
 * answer must be seen to cap it the same way whatever order it came in;
 * a DNS message (64 KiB at most) holds far fewer. */
#define RESOLVE_COLLECT_MAX	65536

struct lookup;

/* One name's A and AAAA (a host entry, or one SRV target). */
struct host_query {
	struct lookup *lk;
	char *name;
	uint16_t port;
	uint32_t weight;
	bool backup;
	unsigned pending;		/* families still out */
	bool nxdomain[2];		/* A, AAAA: the name does not exist */
	const char *fail[2];		/* A, AAAA: why it did not answer */
};

struct fam_query {
	struct host_query *hq;
	int af;
};

struct lookup {
	resolve_lookup_cb cb;
	void *arg;
	ares_channel ch;
	enum server_entry_kind kind;
	uint16_t port;
	size_t max;			/* resolve_max_addresses */
	int family;			/* whose failure counts; AF_UNSPEC: both */
	/* SRV: the records and the targets chosen from them. */
	struct srv_record *recs;
	struct srv_target targets[SRV_MAX_TARGETS];
	size_t ntargets;
	size_t pending;			/* host queries still out */
	struct resolved_addr *out;
	size_t nout, capout;
	bool nxdomain;			/* a name (host or target) does not exist */
	char error[320];		/* first failure that spoils the answer */
};

static void
lookup_fail(struct lookup *lk, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
lookup_fail(struct lookup *lk, const char *fmt, ...)
{
	va_list ap;

	if (lk->error[0] != '\0')
		return;		/* the first failure is the one reported */
	va_start(ap, fmt);
	vsnprintf(lk->error, sizeof(lk->error), fmt, ap);
	va_end(ap);
}

static void
lookup_finish(struct lookup *lk)
{
	size_t n = lk->nout, total;

	if (lk->error[0] == '\0' && n > 0) {
		n = resolved_sort(lk->out, n);
		total = n;
		n = resolved_cap(lk->out, n, lk->max);
		lk->cb(lk->arg, true, NULL, lk->out, n, total);
	} else {
		free(lk->out);
		lk->cb(lk->arg, false, lk->error[0] ? lk->error :
		    lk->nxdomain ? "no such name" : "no IPv4 or IPv6 address",
		    NULL, 0, 0);
	}
	free(lk->recs);
	free(lk);
}

static const char *
lookup_error(int status)
{
	switch (status) {
	case ARES_ENOTFOUND:
		return "no such name";
	case ARES_ENODATA:
		return "no records";
	case ARES_ETIMEOUT:
		return "timed out";
	case ARES_ESERVFAIL:
		return "server failure";
	case ARES_EREFUSED:
		return "refused by the name server";
	case ARES_ECONNREFUSED:
		return "connection refused by the name server";
	case ARES_EDESTRUCTION:
	case ARES_ECANCELLED:
		return "cancelled";
	default:
		return ares_strerror(status);
	}
}

/* Append one address of hq. */
static void
lookup_add(struct lookup *lk, const struct host_query *hq, int af,
    const void *raw)
{
	struct resolved_addr *a;

	if (lk->nout == RESOLVE_COLLECT_MAX)
		return;
	if (lk->nout == lk->capout) {
		lk->capout = lk->capout ? lk->capout * 2 : 8;
		lk->out = xrealloc(lk->out, lk->capout * sizeof(*lk->out));
	}
	a = &lk->out[lk->nout++];
	memset(a, 0, sizeof(*a));
	if (af == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&a->addr;

		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, raw, 4);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->addr;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, raw, 16);
	}
	addr_set_port((struct sockaddr *)&a->addr, hq->port);
	a->weight = hq->weight;
	a->backup = hq->backup;
}

static void
lookup_add_hostent(struct lookup *lk, const struct host_query *hq,
    const struct hostent *he)
{
	for (char **p = he->h_addr_list; p != NULL && *p != NULL; p++)
		if ((he->h_addrtype == AF_INET && he->h_length == 4) ||
		    (he->h_addrtype == AF_INET6 && he->h_length == 16))
			lookup_add(lk, hq, he->h_addrtype, *p);
}

static void
host_query_done(struct host_query *hq)
{
	struct lookup *lk = hq->lk;
	static const char *const fam[2] = { "A", "AAAA" };
	static const int af[2] = { AF_INET, AF_INET6 };

	/* A's failure first, whichever came back first: the reason logged
	 * must not flip between rounds of the same outage.  Both families
	 * are asked (an answer of the other family alone is told apart
	 * from no answer), but when the servers' source has one family,
	 * only that family's failure spoils the answer: a pool that cannot
	 * use AAAA must not keep stale A addresses because AAAA fails. */
	for (int i = 0; i < 2; i++)
		if (hq->fail[i] != NULL && (lk->family == AF_UNSPEC ||
		    lk->family == af[i])) {
			if (lk->kind == SE_SRV)
				lookup_fail(lk, "SRV target '%s' %s: %s", hq->name,
				    fam[i], hq->fail[i]);
			else
				lookup_fail(lk, "%s: %s", fam[i], hq->fail[i]);
		}
	/* NXDOMAIN for both families: the name does not exist.  For an SRV
	 * target that is a failure like any other ("no such name" is among
	 * those that change nothing): a target the records name must
	 * resolve, or the answer is not whole. */
	if (hq->nxdomain[0] && hq->nxdomain[1]) {
		lk->nxdomain = true;
		if (lk->kind == SE_SRV)
			lookup_fail(lk, "SRV target '%s': no such name", hq->name);
	}
	free(hq->name);
	free(hq);
	if (--lk->pending == 0)
		lookup_finish(lk);
}

/* One family's answer.  A name with no record of the family (NODATA) has
 * answered; a family that timed out or failed has not, and the lookup as
 * a whole fails: the entry keeps its last good addresses, rather than
 * lose (or later bring back as new) every address of that family. */
static void
fam_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct fam_query *fq = arg;
	struct host_query *hq = fq->hq;
	struct lookup *lk = hq->lk;
	int af = fq->af;
	int i = af == AF_INET ? 0 : 1;

	(void)timeouts;
	free(fq);
	if (status == ARES_SUCCESS) {
		struct hostent *he = NULL;
		int rc = af == AF_INET ?
		    ares_parse_a_reply(abuf, alen, &he, NULL, NULL) :
		    ares_parse_aaaa_reply(abuf, alen, &he, NULL, NULL);

		if (rc == ARES_SUCCESS && he != NULL)
			lookup_add_hostent(lk, hq, he);
		else if (rc != ARES_ENODATA)
			hq->fail[i] = lookup_error(rc);
		if (he != NULL)
			ares_free_hostent(he);
	} else if (status == ARES_ENOTFOUND) {
		hq->nxdomain[i] = true;
	} else if (status != ARES_ENODATA) {
		hq->fail[i] = lookup_error(status);
	}
	if (--hq->pending == 0)
		host_query_done(hq);
}

/* A name's addresses: /etc/hosts first (as the C library does: a name it
 * lists is not asked of DNS), else A and AAAA, each on its own so that
 * one that does not answer is seen. */
static void
host_query_start(struct lookup *lk, const char *name, uint16_t port,
    uint32_t weight, bool backup)
{
	struct host_query *hq = xcalloc(1, sizeof(*hq));
	static const int fams[2] = { AF_INET, AF_INET6 };
	bool in_file = false;

	hq->lk = lk;
	hq->name = xstrdup(name);
	hq->port = port;
	hq->weight = weight;
	hq->backup = backup;
	for (int i = 0; i < 2; i++) {
		struct hostent *he = NULL;

		if (ares_gethostbyname_file(lk->ch, name, fams[i], &he) ==
		    ARES_SUCCESS && he != NULL) {
			lookup_add_hostent(lk, hq, he);
			in_file = true;
		}
		if (he != NULL)
			ares_free_hostent(he);
	}
	if (in_file) {
		hq->pending = 1;
		host_query_done(hq);
		return;
	}
	/* Count both first: an answer may come back at once. */
	hq->pending = 3;
	for (int i = 0; i < 2; i++) {
		struct fam_query *fq = xcalloc(1, sizeof(*fq));

		fq->hq = hq;
		fq->af = fams[i];
		ares_search(lk->ch, name, 1 /* C_IN */, fams[i] == AF_INET ?
		    1 /* T_A */ : 28 /* T_AAAA */, fam_cb, fq);
	}
	if (--hq->pending == 0)
		host_query_done(hq);
}

static void
lookup_srv_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct lookup *lk = arg;
	struct ares_srv_reply *reply = NULL;
	size_t nrecs = 0, dropped;
	int rc;

	if (status != ARES_SUCCESS) {
		lookup_fail(lk, "%s", lookup_error(status));
		lookup_finish(lk);
		return;
	}
	if ((rc = ares_parse_srv_reply(abuf, alen, &reply)) != ARES_SUCCESS) {
		lookup_fail(lk, "%s", rc == ARES_ENODATA ? "no SRV records" :
		    ares_strerror(rc));
		lookup_finish(lk);
		return;
	}
	for (struct ares_srv_reply *r = reply; r; r = r->next)
		nrecs++;
	lk->recs = xcalloc(nrecs ? nrecs : 1, sizeof(*lk->recs));
	nrecs = 0;
	for (struct ares_srv_reply *r = reply; r; r = r->next) {
		struct srv_record *sr = &lk->recs[nrecs++];

		snprintf(sr->target, sizeof(sr->target), "%s", r->host);
		sr->priority = r->priority;
		sr->weight = r->weight;
		sr->port = r->port;
	}
	ares_free_data(reply);
	lk->ntargets = resolve_srv_expand(lk->recs, nrecs, lk->targets,
	    &dropped);
	if (lk->ntargets == 0) {
		lookup_fail(lk, "no usable SRV records");
		lookup_finish(lk);
		return;
	}
	/* Count them all first, plus one for this loop: a lookup can
	 * complete synchronously (the hosts file), and the last one to
	 * finish ends -- and frees -- the whole lookup. */
	lk->pending = lk->ntargets + 1;
	for (size_t i = 0; i < lk->ntargets; i++)
		host_query_start(lk, lk->targets[i].rec->target,
		    lk->targets[i].rec->port, lk->targets[i].weight,
		    lk->targets[i].backup);
	if (--lk->pending == 0)
		lookup_finish(lk);
}

void
resolve_lookup(ares_channel ch, enum server_entry_kind kind, const char *host,
    uint16_t port, size_t max, int family, resolve_lookup_cb cb, void *arg)
{
	struct lookup *lk = xcalloc(1, sizeof(*lk));

	lk->cb = cb;
	lk->arg = arg;
	lk->ch = ch;
	lk->kind = kind;
	lk->port = port;
	lk->max = max ? max : RESOLVED_MAX_ADDRS;
	lk->family = family;
	if (kind == SE_SRV) {
		ares_search(ch, host, 1 /* C_IN */, 33 /* T_SRV */,
		    lookup_srv_cb, lk);
		return;
	}
	lk->pending = 1;
	host_query_start(lk, host, port, 0, false);
}
