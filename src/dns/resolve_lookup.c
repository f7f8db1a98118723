/*
 * resolve_lookup: one server entry's lookup on a c-ares channel -- a host
 * name to its A and AAAA addresses (/etc/hosts first, as the C library
 * does), or an SRV name to its records and then every target's addresses
 * -- ending in exactly one callback.  Also the channel set-up both drivers
 * share.
 *
 * A failed or empty answer is reported as a failure, never as "no
 * addresses": the caller keeps the last good ones (a server is never taken
 * out of service because DNS failed).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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

/* ---- plain data helpers (resolve.h) ------------------------------------ */

/* ---- one lookup -------------------------------------------------------- */

struct lookup {
	resolve_lookup_cb cb;
	void *arg;
	ares_channel ch;
	enum server_entry_kind kind;
	uint16_t port;
	/* SRV: the records, the targets chosen from them, and each
	 * target's addresses as they come in. */
	struct srv_record *recs;
	struct srv_target targets[SRV_MAX_TARGETS];
	size_t ntargets;
	size_t pending;
	struct resolved_addr *out;
	size_t nout;
	const char *error;		/* first failure that spoils the answer */
};

struct target_query {
	struct lookup *lk;
	size_t idx;
};

static void
lookup_finish(struct lookup *lk)
{
	size_t n = lk->nout;

	if (lk->error == NULL && n > 0) {
		n = resolved_sort(lk->out, n);
		lk->cb(lk->arg, true, NULL, lk->out, n);
	} else {
		free(lk->out);
		lk->cb(lk->arg, false, lk->error ? lk->error :
		    "no IPv4 or IPv6 address", NULL, 0);
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
	case ARES_ECONNREFUSED:
		return "connection refused by the name server";
	case ARES_EDESTRUCTION:
	case ARES_ECANCELLED:
		return "cancelled";
	default:
		return ares_strerror(status);
	}
}

/* Append res's addresses with the given weight/backup. */
static void
lookup_add(struct lookup *lk, const struct ares_addrinfo *res, uint16_t port,
    uint32_t weight, bool backup)
{
	for (const struct ares_addrinfo_node *n = res ? res->nodes : NULL; n;
	    n = n->ai_next) {
		struct resolved_addr *a;

		if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) ||
		    (size_t)n->ai_addrlen > sizeof(a->addr))
			continue;
		if (lk->nout == RESOLVE_MAX_ADDRS)
			return;
		lk->out = xrealloc(lk->out, (lk->nout + 1) * sizeof(*lk->out));
		a = &lk->out[lk->nout++];
		memset(a, 0, sizeof(*a));
		memcpy(&a->addr, n->ai_addr, n->ai_addrlen);
		addr_set_port((struct sockaddr *)&a->addr, port);
		a->weight = weight;
		a->backup = backup;
	}
}

static void
lookup_host_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct lookup *lk = arg;

	if (status == ARES_SUCCESS)
		lookup_add(lk, res, lk->port, 0, false);
	else
		lk->error = lookup_error(status);
	if (res)
		ares_freeaddrinfo(res);
	lookup_finish(lk);
}

static void
lookup_target_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct target_query *tq = arg;
	struct lookup *lk = tq->lk;
	const struct srv_target *t = &lk->targets[tq->idx];

	if (status == ARES_SUCCESS)
		lookup_add(lk, res, t->rec->port, t->weight, t->backup);
	else if (status != ARES_ENOTFOUND && status != ARES_ENODATA &&
	    lk->error == NULL)
		/* A target that does not exist is simply not a server; one
		 * we could not ask about spoils the answer (keep the last
		 * good one rather than drain a live target). */
		lk->error = lookup_error(status);
	if (res)
		ares_freeaddrinfo(res);
	free(tq);
	if (--lk->pending == 0)
		lookup_finish(lk);
}

static void
lookup_getaddrinfo(ares_channel ch, const char *host, ares_addrinfo_callback cb,
    void *arg)
{
	struct ares_addrinfo_hints hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	ares_getaddrinfo(ch, host, NULL, &hints, cb, arg);
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
		lk->error = lookup_error(status);
		lookup_finish(lk);
		return;
	}
	if ((rc = ares_parse_srv_reply(abuf, alen, &reply)) != ARES_SUCCESS) {
		lk->error = rc == ARES_ENODATA ? "no SRV records" :
		    ares_strerror(rc);
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
		lk->error = "no usable SRV records";
		lookup_finish(lk);
		return;
	}
	/* Count them all first, plus one for this loop: a lookup can
	 * complete synchronously (the hosts file), and the last one to
	 * finish ends -- and frees -- the whole lookup. */
	lk->pending = lk->ntargets + 1;
	for (size_t i = 0; i < lk->ntargets; i++) {
		struct target_query *tq = xcalloc(1, sizeof(*tq));

		tq->lk = lk;
		tq->idx = i;
		lookup_getaddrinfo(lk->ch, lk->targets[i].rec->target,
		    lookup_target_cb, tq);
	}
	if (--lk->pending == 0)
		lookup_finish(lk);
}

void
resolve_lookup(ares_channel ch, enum server_entry_kind kind, const char *host,
    uint16_t port, resolve_lookup_cb cb, void *arg)
{
	struct lookup *lk = xcalloc(1, sizeof(*lk));

	lk->cb = cb;
	lk->arg = arg;
	lk->ch = ch;
	lk->kind = kind;
	lk->port = port;
	if (kind == SE_SRV)
		ares_search(ch, host, 1 /* C_IN */, 33 /* T_SRV */,
		    lookup_srv_cb, lk);
	else
		lookup_getaddrinfo(ch, host, lookup_host_cb, lk);
}
