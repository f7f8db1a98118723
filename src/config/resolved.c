/*
 * resolved: the plain data of name lookups -- the canonical order of the
 * addresses an entry expands to, the set a DNS change builds the next
 * generation from, and the syntax of a name server address -- shared by
 * the loader and the resolver (dns/) without either calling the other.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "config/resolved.h"

static int
resolved_addr_cmp(const void *a, const void *b)
{
	const struct resolved_addr *x = a, *y = b;
	const struct sockaddr *sx = (const struct sockaddr *)&x->addr;
	const struct sockaddr *sy = (const struct sockaddr *)&y->addr;
	int c;

	if (sx->sa_family != sy->sa_family)
		return sx->sa_family == AF_INET ? -1 : 1;
	if (sx->sa_family == AF_INET)
		c = memcmp(&((const struct sockaddr_in *)sx)->sin_addr,
		    &((const struct sockaddr_in *)sy)->sin_addr, 4);
	else
		c = memcmp(&((const struct sockaddr_in6 *)sx)->sin6_addr,
		    &((const struct sockaddr_in6 *)sy)->sin6_addr, 16);
	if (c != 0)
		return c;
	return addr_port(sx) < addr_port(sy) ? -1 : addr_port(sx) > addr_port(sy);
}

/* By address, then the one to keep of a repeat first: a primary before a
 * backup, a higher weight first.  Two SRV targets may resolve to the same
 * address, and their answers come in whatever order the network gives:
 * which one survives must not depend on it, or every round would see a
 * "change" and build a new generation. */
static int
resolved_cmp(const void *a, const void *b)
{
	const struct resolved_addr *x = a, *y = b;
	int c = resolved_addr_cmp(a, b);

	if (c != 0)
		return c;
	if (x->backup != y->backup)
		return x->backup ? 1 : -1;
	return x->weight > y->weight ? -1 : x->weight < y->weight;
}

/* For the cap: primaries before backups, then the canonical order. */
static int
resolved_cap_cmp(const void *a, const void *b)
{
	const struct resolved_addr *x = a, *y = b;

	if (x->backup != y->backup)
		return x->backup ? 1 : -1;
	return resolved_cmp(a, b);
}

size_t
resolved_cap(struct resolved_addr *a, size_t n, size_t max)
{
	if (max == 0 || n <= max)
		return n;
	qsort(a, n, sizeof(*a), resolved_cap_cmp);
	return resolved_sort(a, max);
}

size_t
resolved_sort(struct resolved_addr *a, size_t n)
{
	size_t k = 0;

	if (n == 0)
		return 0;
	qsort(a, n, sizeof(*a), resolved_cmp);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || resolved_addr_cmp(&a[k - 1], &a[i]) != 0)
			a[k++] = a[i];
	return k;
}

void
resolved_set_free(struct resolved_set *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].pool);
		free(r->v[i].host);
		free(r->v[i].addrs);
		free(r->v[i].rejected);
		free(r->v[i].rejected_addrs);
	}
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

const struct resolved_entry *
resolved_set_find(const struct resolved_set *r, const char *pool,
    uint32_t entry, const char *host)
{
	for (size_t i = 0; r != NULL && i < r->n; i++)
		if (r->v[i].entry == entry && strcmp(r->v[i].pool, pool) == 0 &&
		    strcmp(r->v[i].host, host) == 0)
			return &r->v[i];
	return NULL;
}

int
resolved_parse_server(const char *text, char *out, size_t outlen, char *err,
    size_t errlen)
{
	struct addr_spec spec;
	unsigned char buf[16];
	char why[256];

	/* A bare address first: "127.0.0.53", "::1". */
	if (inet_pton(AF_INET, text, buf) == 1) {
		snprintf(out, outlen, "%s:53", text);
		return 0;
	}
	if (inet_pton(AF_INET6, text, buf) == 1) {
		snprintf(out, outlen, "[%s]:53", text);
		return 0;
	}
	if (addr_parse_bare(text, &spec, why, sizeof(why)) == -1 ||
	    spec.wildcard || spec.port == 0) {
		snprintf(err, errlen, "invalid resolver '%s' (expected IP or "
		    "IP:PORT)", text);
		return -1;
	}
	if (inet_pton(AF_INET, spec.host, buf) == 1)
		snprintf(out, outlen, "%s:%u", spec.host, spec.port);
	else if (inet_pton(AF_INET6, spec.host, buf) == 1)
		snprintf(out, outlen, "[%s]:%u", spec.host, spec.port);
	else {
		snprintf(err, errlen, "invalid resolver '%s': a name server "
		    "is given by IP address, not by name", text);
		return -1;
	}
	return 0;
}

