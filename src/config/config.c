/*
 * config: turns a YAML file or quick-mode arguments into a complete struct
 * gen.  This half owns the error list, reading the file, quick mode, the
 * defaults, and the steps shared with config_yaml.c that put resolved
 * servers and binds into a generation -- including duplicate detection
 * across them.  config_yaml.c owns the schema and the YAML walk.
 *
 * Nothing here touches the running generation, a socket or an event loop;
 * it may block on file I/O and DNS, so it runs on the main thread or the
 * reload thread only.
 */
#include "autoconfig.h"

#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "config/added.h"
#include "config/config_int.h"
#include "config/gen.h"
#include "base/hindex.h"
#include "base/log.h"
#include "base/util.h"
#include "config/resolved.h"
#include "tls/tls.h"

/* ---- errors ------------------------------------------------------------ */

void
config_errors_add(struct config_errors *e, const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 8;
		e->msg = xrealloc(e->msg, e->cap * sizeof(*e->msg));
	}
	e->msg[e->n++] = xstrdup(buf);
}

void
config_errors_report(const struct config_errors *e, bool to_log, size_t max)
{
	for (size_t i = 0; i < e->n && i < max; i++) {
		if (to_log)
			log_errx("%s", e->msg[i]);
		else
			fprintf(stderr, "%s\n", e->msg[i]);
	}
	if (e->n <= max)
		return;
	if (to_log)
		log_errx("... and %zu more errors (tcplb -t lists them all)",
		    e->n - max);
	else
		fprintf(stderr, "... and %zu more errors (tcplb -t lists them "
		    "all)\n", e->n - max);
}

void
config_errors_free(struct config_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	e->msg = NULL;
	e->n = e->cap = 0;
}

/* ---- defaults and health settings -------------------------------------- */

const struct pool_opts config_pool_defaults = {
	.alg = BAL_ROUNDROBIN,
	.connect_timeout_ms = 5 * 1000,
	.idle_timeout_ms = CFG_UNSET,
	.retries = 2,
	.max_fails = 3,
	.fail_timeout_ms = 10 * 1000,
	.slow_start_ms = 3 * 1000,
	.resolve_interval_ms = 30 * 1000,
	.resolve_max_addrs = RESOLVED_MAX_ADDRS,
	.max_queue = 0,
	.queue_timeout_ms = CFG_FOLLOW_CONNECT,
};

void
config_health_copy(struct health_cfg *dst, const struct health_cfg *src)
{
	*dst = *src;
	dst->send = src->send ? xstrndup(src->send, src->send_len) : NULL;
	dst->expect = src->expect ? xstrndup(src->expect, src->expect_len) :
	    NULL;
	dst->method = src->method ? xstrdup(src->method) : NULL;
	dst->path = src->path ? xstrdup(src->path) : NULL;
	dst->host = src->host ? xstrdup(src->host) : NULL;
	dst->verify = src->verify ? xstrdup(src->verify) : NULL;
	dst->tls = src->tls ? tls_ctx_ref(src->tls) : NULL;
}

void
config_health_clear(struct health_cfg *h)
{
	free(h->send);
	free(h->expect);
	free(h->method);
	free(h->path);
	free(h->host);
	free(h->verify);
	tls_ctx_unref(h->tls);
	memset(h, 0, sizeof(*h));
}

void
config_health_defaults(struct health_cfg *h)
{
	config_health_clear(h);
	h->enabled = true;
	h->interval_ms = 2000;
	h->timeout_ms = 1000;
	h->rise = 2;
	h->fall = 3;
	h->type = HEALTH_TCP;
	h->expect_status.n = 1;
	h->expect_status.lo[0] = 200;
	h->expect_status.hi[0] = 399;
}

/* ---- building the generation (shared by YAML and quick mode) ---------- */

void
config_pool_apply(struct pool *p, const struct pool_opts *o)
{
	p->alg = o->alg;
	p->connect_timeout_ms = o->connect_timeout_ms;
	p->idle_timeout_ms = o->idle_timeout_ms == CFG_UNSET ?
	    CFG_IDLE_TCP_MS : o->idle_timeout_ms;
	p->flow_idle_ms = o->idle_timeout_ms == CFG_UNSET ?
	    CFG_IDLE_UDP_MS : o->idle_timeout_ms;
	p->responses = (uint32_t)o->responses;
	p->retries = (unsigned)o->retries;
	p->max_fails = (unsigned)o->max_fails;
	p->fail_timeout_ms = o->fail_timeout_ms;
	p->slow_start_ms = o->slow_start_ms;
	p->proxy_protocol = o->proxy_protocol == CFG_PROXY_NONE ? 0 :
	    (uint8_t)o->proxy_protocol;
	p->resolve_interval_ms = o->resolve_interval_ms;
	p->resolve_max_addrs = (uint32_t)o->resolve_max_addrs;
	p->max_queue = (uint32_t)o->max_queue;
	p->queue_timeout_ms = o->queue_timeout_ms == CFG_FOLLOW_CONNECT ?
	    o->connect_timeout_ms : o->queue_timeout_ms;
	if (p->st == NULL)
		p->st = pool_state_new();
	p->initial_down = o->initial_down;
	p->source = o->source.ip;
	p->source_client = o->source.client;
	p->mptcp = o->mptcp;
	p->log_interval_ms = o->log_interval_ms;
	p->bw_upload = o->bw_upload;
	p->bw_download = o->bw_download;
	config_health_copy(&p->health, &o->health);
	p->on_down_shutdown = o->on_down_shutdown;
	p->on_up_shutdown_backup = o->on_up_shutdown_backup;
}

/* What the subsystems above config lend the loader (config_install). */
static struct config_env env;

void
config_install(const struct config_env *e)
{
	env = *e;
}

static struct server *
pool_find_addr(const struct pool *p, const struct server_index *x,
    const struct sockaddr *sa)
{
	size_t cur = 0;
	uint32_t i;

	while ((i = hindex_next(&x->addrs, addr_hash(sa), &cur)) != HINDEX_NONE)
		if (addr_equal((const struct sockaddr *)&p->servers[i].addr, sa))
			return &p->servers[i];
	return NULL;
}

bool
config_pool_has_addr(const struct pool *p, const struct server_index *x,
    const struct sockaddr *sa)
{
	return pool_find_addr(p, x, sa) != NULL;
}

bool
config_pool_has_name(const struct pool *p, const struct server_index *x,
    const char *name)
{
	size_t cur = 0;
	uint32_t i;

	while ((i = hindex_next(&x->names, hindex_hash_str(name), &cur)) !=
	    HINDEX_NONE)
		if (strcmp(p->servers[i].name, name) == 0)
			return true;
	return false;
}

void
config_server_index_free(struct server_index *x)
{
	hindex_free(&x->names);
	hindex_free(&x->addrs);
}

static bool
config_is_literal(const struct addr_spec *spec)
{
	unsigned char buf[16];

	return spec->bracketed || inet_pton(AF_INET, spec->host, buf) == 1 ||
	    inet_pton(AF_INET6, spec->host, buf) == 1;
}

/* The addresses of one entry: the resolver's latest answer when building
 * after a DNS change, else ask now.  *n > 0 on success. */
static int
config_entry_addrs(const struct pool *p, uint32_t idx,
    enum server_entry_kind kind, const struct addr_spec *spec,
    const char *host, int family, const struct config_build *b,
    struct resolved_addr **out, size_t *n, char *err, size_t errlen)
{
	const struct resolved_entry *r = kind == SE_ADDR ? NULL :
	    resolved_set_find(b->resolved, p->name, idx, host);
	struct sockaddr_storage *addrs;
	size_t total;

	if (r != NULL && r->n > 0) {
		*out = xcalloc(r->n, sizeof(**out));
		memcpy(*out, r->addrs, r->n * sizeof(**out));
		*n = r->n;
		return 0;
	}
	if (kind == SE_SRV || (kind == SE_HOST && b->resolvers != NULL)) {
		if (env.lookup == NULL) {
			snprintf(err, errlen, "cannot look up '%s': no "
			    "resolver in this program", host);
			return -1;
		}
		if (env.lookup(kind == SE_SRV, host,
		    kind == SE_SRV ? 0 : spec->port, b->resolvers,
		    p->resolve_max_addrs, family, out, n, &total, err,
		    errlen) == -1)
			return -1;
	} else {
		if (addr_resolve(spec, false, &addrs, n, err, errlen) == -1)
			return -1;
		*out = xcalloc(*n, sizeof(**out));
		for (size_t i = 0; i < *n; i++)
			(*out)[i].addr = addrs[i];
		free(addrs);
		if (kind == SE_ADDR)
			return 0;
		/* The same order and cap as re-resolution: the servers a
		 * load makes are the ones the next lookup keeps. */
		total = resolved_sort(*out, *n);
		*n = resolved_cap(*out, total, p->resolve_max_addrs);
	}
	if (total > *n)
		log_warnx("pool %s: %s'%s' has %zu addresses; using %zu of them "
		    "(resolve_max_addresses; primaries first, then by address)",
		    p->name, kind == SE_SRV ? "SRV " : "", host, total, *n);
	return 0;
}

/*
 * Append one server entry and one server per address it resolves to.  A
 * host name with several addresses becomes several servers sharing the
 * name: each address fails and recovers on its own, so each needs its own
 * state.  Every one gets the entry's weight (an SRV target its record's).
 * An address already in the pool is an error when the file names it twice
 * -- but not when DNS produced it (an SRV answer, a name that changed
 * address): the file is not wrong then, and the first server keeps it.
 * With a source address, only the addresses of its family are used: one
 * of the other family cannot be reached from it, an error for an IP
 * literal, and for a name with none of that family.
 * Returns 0, or -1 with err set, or CONFIG_ADD_SOURCE_FAMILY with err
 * set; nothing is added on error.
 */
static const char *
config_family(int af)
{
	return af == AF_INET ? "IPv4" : "IPv6";
}

/* Keep the addresses of o->source's family; -1 with err when none is
 * left (but an entry that resolved to nothing is left to its caller). */
static int
config_source_filter(const struct server_opts *o, const char *text,
    struct resolved_addr *addrs, size_t *n, char *err, size_t errlen)
{
	int af = o->source.ip.u.sa.sa_family;
	char src[ADDR_STRLEN], buf[ADDR_STRLEN];
	size_t k = 0;

	for (size_t i = 0; i < *n; i++)
		if (addrs[i].addr.ss_family == af)
			addrs[k++] = addrs[i];
	if (k > 0 || *n == 0) {
		*n = k;
		return 0;
	}
	addr_format_host(&o->source.ip.u.sa, src, sizeof(src));
	addr_format((struct sockaddr *)&addrs[0].addr, buf, sizeof(buf));
	if (strcmp(buf, text) == 0)
		snprintf(err, errlen, "source address %s is %s, but server %s "
		    "is %s", src, config_family(af), buf,
		    config_family(addrs[0].addr.ss_family));
	else
		snprintf(err, errlen, "source address %s is %s, but '%s' has "
		    "no %s address (it resolves to %s)", src,
		    config_family(af), text, config_family(af), buf);
	return -1;
}

int
config_pool_add_entry(struct pool *p, struct server_index *x,
    const struct addr_spec *spec, const char *srv, const char *text,
    const char *name, const struct server_opts *o,
    const struct config_build *b, char *err, size_t errlen)
{
	enum server_entry_kind kind = spec == NULL ? SE_SRV :
	    config_is_literal(spec) ? SE_ADDR : SE_HOST;
	const char *host = spec == NULL ? srv : spec->host;
	uint32_t idx = p->nentries;
	struct resolved_addr *addrs;
	struct server_entry *e;
	char buf[ADDR_STRLEN];
	bool from_dns;
	size_t n;

	if (spec != NULL && spec->wildcard) {
		snprintf(err, errlen, "'*' is only for listen addresses, not "
		    "servers: '%s'", text);
		return -1;
	}
	if (spec != NULL && spec->port == 0) {
		snprintf(err, errlen, "invalid port '0' in '%s' (1-65535)",
		    text);
		return -1;
	}
	/* A source of one family: only that family must answer (the filter
	 * below still says when a name has none of it). */
	if (config_entry_addrs(p, idx, kind, spec, host,
	    o->source.ip.len && !o->source.client ?
	    o->source.ip.u.sa.sa_family : AF_UNSPEC, b, &addrs, &n, err,
	    errlen) == -1)
		return -1;
	if (p->nservers + n > CFG_MAX_SERVERS) {
		snprintf(err, errlen, "too many servers in pool '%s' (at most "
		    "%d)", p->name, CFG_MAX_SERVERS);
		free(addrs);
		return -1;
	}
	if (o->source.ip.len &&
	    config_source_filter(o, text, addrs, &n, err, errlen) == -1) {
		free(addrs);
		return CONFIG_ADD_SOURCE_FAMILY;
	}
	from_dns = kind == SE_SRV || resolved_set_find(b->resolved, p->name,
	    idx, host) != NULL;
	for (size_t i = 0; i < n && !o->merge && !from_dns; i++) {
		const struct server *dup = pool_find_addr(p, x,
		    (struct sockaddr *)&addrs[i].addr);

		if (dup != NULL) {
			if (strcmp(dup->addr_text, text) == 0)
				snprintf(err, errlen, "duplicate address %s "
				    "(also server '%s')", text, dup->name);
			else
				snprintf(err, errlen, "'%s' resolves to %s, "
				    "already server '%s'", text,
				    dup->addr_text, dup->name);
			free(addrs);
			return -1;
		}
	}
	/* Geometric growth: one realloc per server copied the whole pool
	 * each time under allocators that never grow in place. */
	if (p->nservers + n > x->cap) {
		x->cap = x->cap * 2 > p->nservers + n ? x->cap * 2 :
		    p->nservers + n + 8;
		p->servers = xrealloc(p->servers, x->cap * sizeof(*p->servers));
	}
	for (size_t i = 0; i < n; i++) {
		struct server *s = &p->servers[p->nservers];
		struct server *dup = pool_find_addr(p, x,
		    (struct sockaddr *)&addrs[i].addr);

		if (dup != NULL) {
			if (o->merge && dup->weight < 256)
				dup->weight++;
			continue;
		}
		memset(s, 0, sizeof(*s));
		s->name = xstrdup(name);
		s->addr = addrs[i].addr;
		s->addrlen = addr_len((struct sockaddr *)&addrs[i].addr);
		s->addr_text = xstrdup(addr_format((struct sockaddr *)&s->addr,
		    buf, sizeof(buf)));
		s->weight = kind == SE_SRV ? addrs[i].weight :
		    (uint32_t)o->weight;
		s->max_conns = (uint32_t)o->max_conns;
		s->backup = kind == SE_SRV ? addrs[i].backup : o->backup;
		s->check_port = (uint16_t)o->check_port;
		s->agent_port = (uint16_t)o->agent_port;
		s->source = o->source.ip;
		s->source_client = o->source.client;
		s->mptcp = o->mptcp;
		/* A server's own setting wins over its pool's. */
		s->proxy_protocol = o->proxy_protocol == CFG_PROXY_UNSET ?
		    p->proxy_protocol : o->proxy_protocol == CFG_PROXY_NONE ? 0 :
		    (uint8_t)o->proxy_protocol;
		s->index = p->nservers;
		s->entry = idx;
		s->pool = p;
		s->st = server_state_new();
		/* initial_state: down -- no client until a check passes. */
		if (p->health.enabled && p->initial_down)
			atomic_store(&s->st->up, false);
		hindex_add(&x->names, hindex_hash_str(s->name), p->nservers);
		hindex_add(&x->addrs, addr_hash((struct sockaddr *)&s->addr),
		    p->nservers);
		p->nservers++;
	}
	free(addrs);
	if (p->nentries == x->ecap) {
		x->ecap = x->ecap ? x->ecap * 2 : 8;
		p->entries = xrealloc(p->entries, x->ecap *
		    sizeof(*p->entries));
	}
	e = &p->entries[p->nentries++];
	e->kind = kind;
	e->name = xstrdup(name);
	e->host = xstrdup(host);
	e->port = spec != NULL ? spec->port : 0;
	e->added = false;
	return 0;
}

/* Binds conflict only when identical: port 0 asks the kernel for a fresh
 * port each time, so two of those never collide.  binds maps an address
 * hash to (listener << 12 | bind), both bounded below that (CFG_MAX_*). */
static const struct listener *
gen_find_bind(const struct gen *g, const struct hindex *binds,
    const struct sockaddr *sa, bool udp)
{
	size_t cur = 0;
	uint32_t v;

	if (addr_port(sa) == 0)
		return NULL;
	while ((v = hindex_next(binds, addr_hash(sa), &cur)) != HINDEX_NONE) {
		const struct listener *l = &g->listeners[v >> 12];

		/* A TCP and a UDP listener may share an address: they are
		 * different sockets (iperf3, DNS over both). */
		if (l->udp == udp && addr_equal((const struct sockaddr *)
		    &l->binds[v & CFG_MAX_BINDS].addr, sa))
			return l;
	}
	return NULL;
}

/* Append the binds text resolves to; l must already be in g.  Returns 0,
 * or -1 with err set (nothing is added then). */
int
config_listener_add_binds(struct gen *g, struct hindex *binds,
    struct listener *l, const struct addr_spec *spec, const char *text,
    char *err, size_t errlen)
{
	struct sockaddr_storage *addrs;
	char buf[ADDR_STRLEN];
	size_t n;

	if (addr_resolve(spec, true, &addrs, &n, err, errlen) == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct listener *other = gen_find_bind(g, binds,
		    (struct sockaddr *)&addrs[i], l->udp);

		if (other != NULL) {
			bool same;

			addr_format((struct sockaddr *)&addrs[i], buf,
			    sizeof(buf));
			/* Name what the text resolved to, when not obvious. */
			same = strcmp(buf, text) == 0;
			if (other == l)
				snprintf(err, errlen, "%s%s%s%s is bound twice",
				    buf, same ? "" : " ('", same ? "" : text,
				    same ? "" : "')");
			else
				snprintf(err, errlen, "%s%s%s%s is already "
				    "bound by listener '%s'", buf, same ? "" :
				    " ('", same ? "" : text, same ? "" : "')",
				    other->name);
			free(addrs);
			return -1;
		}
	}
	if (l->nbinds + n > CFG_MAX_BINDS) {
		snprintf(err, errlen, "too many addresses for one listener (at "
		    "most %d)", CFG_MAX_BINDS);
		free(addrs);
		return -1;
	}
	l->binds = xrealloc(l->binds, (l->nbinds + n) * sizeof(*l->binds));
	for (size_t i = 0; i < n; i++) {
		struct bind *b = &l->binds[l->nbinds];

		hindex_add(binds, addr_hash((struct sockaddr *)&addrs[i]),
		    (uint32_t)(l - g->listeners) << 12 | l->nbinds);
		l->nbinds++;
		memset(b, 0, sizeof(*b));
		b->text = xstrdup(text);
		b->addr = addrs[i];
		b->addrlen = addr_len((struct sockaddr *)&addrs[i]);
	}
	free(addrs);
	return 0;
}

/* Is sa an address of this host (loopback, or on an interface)? */
static bool
config_addr_is_local(const struct sockaddr *sa, struct ifaddrs *ifs)
{
	if (sa->sa_family == AF_INET &&
	    (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127)
		return true;
	if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr))
		return true;
	for (struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != sa->sa_family)
			continue;
		if (sa->sa_family == AF_INET &&
		    memcmp(&((const struct sockaddr_in *)sa)->sin_addr,
		    &((const struct sockaddr_in *)i->ifa_addr)->sin_addr, 4) == 0)
			return true;
		if (sa->sa_family == AF_INET6 &&
		    memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr,
		    &((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16) == 0)
			return true;
	}
	return false;
}

static bool
config_bind_is_any(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	return sa->sa_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(
	    &((const struct sockaddr_in6 *)sa)->sin6_addr);
}

/* Where a connect to sa really goes, for the loop guard: an IPv4-mapped
 * IPv6 address is the IPv4 one, and the unspecified address (0.0.0.0, ::
 * -- what a DNS sinkhole answers) is this host: Linux connects it to the
 * source address when one is bound, else to loopback. */
static const struct sockaddr *
config_connect_target(const struct server *s, struct sockaddr_storage *out)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->addr;

	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(
	    &((const struct sockaddr_in6 *)sa)->sin6_addr)) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
		struct sockaddr_in *a4 = (struct sockaddr_in *)out;

		a4->sin_family = AF_INET;
		a4->sin_port = a6->sin6_port;
		memcpy(&a4->sin_addr, &a6->sin6_addr.s6_addr[12], 4);
	} else if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
		memcpy(out, sa, sa->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	} else {
		return sa;
	}
	if (!config_bind_is_any((const struct sockaddr *)out))
		return (const struct sockaddr *)out;
	if (s->source.len > 0 && s->source.u.sa.sa_family == out->ss_family) {
		if (out->ss_family == AF_INET)
			((struct sockaddr_in *)out)->sin_addr =
			    s->source.u.in.sin_addr;
		else
			((struct sockaddr_in6 *)out)->sin6_addr =
			    s->source.u.in6.sin6_addr;
	} else if (out->ss_family == AF_INET) {
		((struct sockaddr_in *)out)->sin_addr.s_addr =
		    htonl(INADDR_LOOPBACK);
	} else {
		((struct sockaddr_in6 *)out)->sin6_addr = in6addr_loopback;
	}
	return (const struct sockaddr *)out;
}

/* Loop guard: a server that is one of our own listeners (a DNS record can
 * name it) would have every client connect back to us, again and again,
 * until descriptors run out.  A listener on the wildcard address counts
 * for every local address of its family.  Binds are indexed (by address,
 * and the wildcard ones by port) so this stays linear in servers. */
static int
config_check_loops(const struct gen *g, char *err, size_t errlen)
{
	struct hindex exact, any;
	struct ifaddrs *ifs = NULL;
	bool have_ifs = false, have_any = false;
	int rc = 0;

	hindex_init(&exact);
	hindex_init(&any);
	for (uint32_t li = 0; li < g->nlisteners; li++)
		for (uint32_t b = 0; b < g->listeners[li].nbinds; b++) {
			const struct sockaddr *ba = (const struct sockaddr *)
			    &g->listeners[li].binds[b].addr;
			uint16_t port = addr_port(ba);

			if (port == 0)
				continue;	/* a fresh port each time */
			if (config_bind_is_any(ba)) {
				hindex_add(&any, port, li << 12 | b);
				have_any = true;
			} else {
				hindex_add(&exact, addr_hash(ba), li << 12 | b);
			}
		}
	for (uint32_t i = 0; i < g->npools && rc == 0; i++) {
		const struct pool *p = &g->pools[i];

		for (uint32_t k = 0; k < p->nservers && rc == 0; k++) {
			const struct server *s = &p->servers[k];
			struct sockaddr_storage target;
			const struct sockaddr *sa = config_connect_target(s,
			    &target);
			const struct listener *l = NULL;
			const struct bind *bd = NULL;
			size_t cur = 0;
			uint32_t v;

			while (l == NULL && (v = hindex_next(&exact,
			    addr_hash(sa), &cur)) != HINDEX_NONE) {
				const struct listener *cl = &g->listeners[v >> 12];

				/* A datagram server only loops to a UDP
				 * listener, a stream one to a TCP listener. */
				if (cl->udp == p->udp && addr_equal(
				    (const struct sockaddr *)
				    &cl->binds[v & CFG_MAX_BINDS].addr, sa)) {
					l = cl;
					bd = &cl->binds[v & CFG_MAX_BINDS];
				}
			}
			cur = 0;
			while (have_any && l == NULL && (v = hindex_next(&any,
			    addr_port(sa), &cur)) != HINDEX_NONE) {
				const struct listener *cl = &g->listeners[v >> 12];
				const struct bind *cb = &cl->binds[v & CFG_MAX_BINDS];

				if (cl->udp != p->udp ||
				    cb->addr.ss_family != sa->sa_family ||
				    addr_port((const struct sockaddr *)&cb->addr) !=
				    addr_port(sa))
					continue;
				if (!have_ifs && getifaddrs(&ifs) == 0)
					have_ifs = true;
				if (config_addr_is_local(sa, ifs)) {
					l = cl;
					bd = cb;
				}
			}
			if (l == NULL)
				continue;
			snprintf(err, errlen, "pool '%s': server '%s' (%s) is "
			    "tcplb's own listener '%s' (%s): its clients would "
			    "loop back to tcplb", p->name, s->name, s->addr_text,
			    l->name, bd->text);
			rc = -1;
		}
	}
	if (have_ifs)
		freeifaddrs(ifs);
	hindex_free(&exact);
	hindex_free(&any);
	return rc;
}

/* Every pool complete and error-free: the servers added at run time join
 * their pools (added.c); no server may be one of our own listeners; then
 * the subsystems above config build their parts (balancing tables,
 * queues, limit tables) through the table installed with
 * config_install(); none installed, none built. */
int
config_finish(struct gen *g, char *err, size_t errlen)
{
	added_apply(g);
	for (uint32_t i = 0; i < g->npools; i++) {
		const struct pool *p = &g->pools[i];

		if (p->udp && p->health.enabled && p->health.send_proxy) {
			snprintf(err, errlen, "pool '%s': health_check.send_proxy "
			    "is for TCP; this pool serves a UDP listener",
			    p->name);
			return -1;
		}
		if (p->udp && p->health.enabled &&
		    p->health.type != HEALTH_TCP) {
			snprintf(err, errlen, "pool '%s': health_check.type %s "
			    "is for TCP; this pool serves a UDP listener (its "
			    "checks send a datagram: send/expect)", p->name,
			    gen_health_type_name(p->health.type));
			return -1;
		}
		/* A shadow's copy is of a TCP stream, to a TCP server. */
		if (p->mirror != NULL && (p->udp || p->mirror->udp)) {
			snprintf(err, errlen, "pool '%s': mirror is for TCP; %s "
			    "serves a UDP listener", p->name, p->udp ?
			    "this pool" : p->mirror->name);
			return -1;
		}
		for (uint32_t j = 0; p->udp && j < p->nservers; j++) {
			if (p->servers[j].mptcp) {
				snprintf(err, errlen, "pool '%s': mptcp is for "
				    "TCP; this pool serves a UDP listener",
				    p->name);
				return -1;
			}
			if (p->servers[j].proxy_protocol) {
				snprintf(err, errlen, "pool '%s': proxy_protocol "
				    "is for TCP; this pool serves a UDP "
				    "listener", p->name);
				return -1;
			}
		}
	}
	for (uint32_t i = 0; i < g->nlisteners; i++) {
		if (g->listeners[i].udp && g->listeners[i].mptcp) {
			snprintf(err, errlen, "listener '%s': mptcp is for "
			    "TCP; this listener is protocol: udp",
			    g->listeners[i].name);
			return -1;
		}
	}
	if (config_check_loops(g, err, errlen) == -1)
		return -1;
	if (env.parts == NULL)
		return 0;
	g->parts = env.parts;
	return env.parts->build(g, err, errlen);
}

/* ---- quick mode -------------------------------------------------------- */

/* Quick mode's arguments as one NUL-separated text (listen, balance,
 * workers, backends...), kept in the generation for config_rebuild(). */
static void
config_quick_save(struct gen *g, const struct quick_opts *q)
{
	const char *fixed[4] = { q->listen, q->balance, q->workers,
	    q->udp ? "udp" : NULL };
	size_t len = 0;

	for (int i = 0; i < 4; i++)
		len += (fixed[i] ? strlen(fixed[i]) : 0) + 1;
	for (int i = 0; i < q->nbackends; i++)
		len += strlen(q->backends[i]) + 1;
	g->text = xcalloc(1, len ? len : 1);
	g->textlen = 0;
	for (int i = 0; i < 4 + q->nbackends; i++) {
		const char *f = i < 4 ? fixed[i] : q->backends[i - 4];
		size_t l = f ? strlen(f) : 0;

		memcpy(g->text + g->textlen, f ? f : "", l);
		g->textlen += l + 1;
	}
	g->quick = true;
}

static struct gen *config_quick_build(const struct quick_opts *q,
    const struct config_build *b, struct config_errors *e, bool *usage);

struct gen *
config_quick(const struct quick_opts *q, struct config_errors *e, bool *usage)
{
	struct config_build b = { 0 };

	return config_quick_build(q, &b, e, usage);
}

struct gen *
config_quick_rebuild(const struct gen *cur, const struct resolved_set *r,
    struct config_errors *e)
{
	struct config_build b = { .resolved = r };
	struct quick_opts q = { 0 };
	char *fields[4] = { NULL, NULL, NULL, NULL };
	char **backends;
	struct gen *g;
	size_t nf = 0;
	bool usage;

	backends = xcalloc(cur->textlen + 1, sizeof(*backends));
	for (size_t off = 0; off < cur->textlen; nf++) {
		char *f = cur->text + off;

		if (nf < 4)
			fields[nf] = *f ? f : NULL;
		else
			backends[q.nbackends++] = f;
		off += strlen(f) + 1;
	}
	q.listen = fields[0];
	q.balance = fields[1];
	q.workers = fields[2];
	q.udp = fields[3] != NULL;
	q.backends = backends;
	g = config_quick_build(&q, &b, e, &usage);
	free(backends);
	return g;
}

static struct gen *
config_quick_build(const struct quick_opts *q, const struct config_build *b,
    struct config_errors *e, bool *usage)
{
	const char *listen = q->listen ? q->listen : "127.0.0.1:0";
	const char *balance = q->balance ? q->balance : "roundrobin";
	struct pool_opts o = config_pool_defaults;
	struct server_opts so = { .weight = 1, .merge = true };
	struct addr_spec spec;
	struct gen *g = gen_new("command line");
	struct listener *l;
	struct pool *p;
	struct server_index sx = { 0 };
	struct hindex binds;
	char err[512];
	size_t nerr = e->n;
	bool bad = false;	/* a malformed argument: usage error */
	uint64_t v;

	if (gen_balance_parse(balance, &o.alg) == -1) {
		config_errors_add(e, "unknown balance algorithm '%s' (%s)",
		    balance, BALANCE_NAMES);
		bad = true;
	}
	if (q->workers != NULL && strcmp(q->workers, "auto") != 0) {
		if (parse_uint(q->workers, CFG_MAX_WORKERS, &v) == -1 ||
		    v == 0) {
			config_errors_add(e, "invalid number of workers '%s' "
			    "(auto or 1-%d)", q->workers, CFG_MAX_WORKERS);
			bad = true;
		} else {
			g->global.workers = (unsigned)v;
		}
	}
	if (q->nbackends <= 0) {
		config_errors_add(e, "no backends given (expected HOST:PORT "
		    "or [IPv6]:PORT)");
		bad = true;
	}

	g->pools = xcalloc(1, sizeof(*g->pools));
	p = &g->pools[g->npools++];
	p->name = xstrdup("quick");
	for (int i = 0; i < q->nbackends; i++) {
		const char *arg = q->backends[i];

		if (addr_parse_bare(arg, &spec, err, sizeof(err)) == -1) {
			config_errors_add(e, "invalid backend '%s': %s", arg,
			    err);
			bad = true;
		} else if (spec.port == 0 || spec.wildcard) {
			config_errors_add(e, "invalid backend '%s': %s", arg,
			    spec.wildcard ? "'*' is only for listen addresses" :
			    "invalid port '0' (1-65535)");
			bad = true;
		} else if (config_pool_add_entry(p, &sx, &spec, NULL, arg,
		    arg, &so, b, err, sizeof(err)) != 0) {
			/* Well formed, but it does not resolve. */
			config_errors_add(e, "%s", err);
		}
	}
	/* Quick mode has no retries knob: try every backend before giving
	 * up on a client, the behaviour a one-line invocation implies. */
	o.retries = p->nservers > 3 ? p->nservers - 1 : 2;
	config_pool_apply(p, &o);

	g->listeners = xcalloc(1, sizeof(*g->listeners));
	l = &g->listeners[g->nlisteners++];
	l->name = xstrdup("quick");
	l->st = listener_state_new();
	l->inspect_timeout_ms = LISTENER_INSPECT_TIMEOUT_MS;
	l->pool = p;
	l->udp = p->udp = q->udp;
	if (addr_parse_bare(listen, &spec, err, sizeof(err)) == -1) {
		config_errors_add(e, "invalid listen address '%s': %s", listen,
		    err);
		bad = true;
	} else {
		hindex_init(&binds);
		if (config_listener_add_binds(g, &binds, l, &spec, listen,
		    err, sizeof(err)) == -1)
			config_errors_add(e, "%s", err);
		hindex_free(&binds);
	}
	config_server_index_free(&sx);

	if (e->n == nerr && config_finish(g, err, sizeof(err)) == -1)
		config_errors_add(e, "%s", err);
	*usage = bad;
	if (e->n != nerr) {
		gen_put(g);
		return NULL;
	}
	config_quick_save(g, q);
	return g;
}
