/*
 * resolv_stub: included by the fuzz targets.  Replaces getaddrinfo() and
 * freeaddrinfo() for the whole fuzzer executable (the executable's own
 * definitions take precedence over libc's and over the sanitizer runtime's
 * weak interceptors), so that a fuzzed configuration can never make the
 * resolver send a DNS query: numeric hosts are resolved by libc with
 * AI_NUMERICHOST forced, "localhost" becomes 127.0.0.1 and ::1, and every
 * other name fails with EAI_NONAME.  fuzz_lookup() is the loader's lookup
 * for SRV names and host names under global.resolvers (installed with
 * config_install() instead of dns/'s resolve_sync()): it always fails.
 */
#ifndef TCPLB_FUZZ_RESOLV_STUB_H
#define TCPLB_FUZZ_RESOLV_STUB_H

#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

typedef int (*fuzz_gai_fn)(const char *, const char *,
    const struct addrinfo *, struct addrinfo **);
typedef void (*fuzz_fai_fn)(struct addrinfo *);

static fuzz_gai_fn
fuzz_real_gai(void)
{
	static fuzz_gai_fn fn;

	if (fn == NULL)
		fn = (fuzz_gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
	if (fn == NULL)
		abort();
	return fn;
}

static fuzz_fai_fn
fuzz_real_fai(void)
{
	static fuzz_fai_fn fn;

	if (fn == NULL)
		fn = (fuzz_fai_fn)dlsym(RTLD_NEXT, "freeaddrinfo");
	if (fn == NULL)
		abort();
	return fn;
}

static int
fuzz_numeric(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo h;

	if (hints != NULL)
		h = *hints;
	else {
		memset(&h, 0, sizeof(h));
		h.ai_family = AF_UNSPEC;
	}
	h.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
	return fuzz_real_gai()(node, service, &h, res);
}

int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	if (node != NULL && strcasecmp(node, "localhost") == 0) {
		struct addrinfo *v4 = NULL, *v6 = NULL, *t;
		int rc4 = fuzz_numeric("127.0.0.1", service, hints, &v4);
		int rc6 = fuzz_numeric("::1", service, hints, &v6);

		if (rc4 != 0 && rc6 != 0)
			return rc4;
		if (rc4 != 0) {
			*res = v6;
			return 0;
		}
		/* glibc frees an addrinfo list node by node, so two lists
		 * may be chained and freed as one. */
		for (t = v4; t->ai_next != NULL; t = t->ai_next)
			;
		t->ai_next = rc6 == 0 ? v6 : NULL;
		*res = v4;
		return 0;
	}
	return fuzz_numeric(node, service, hints, res);
}

void
freeaddrinfo(struct addrinfo *ai)
{
	fuzz_real_fai()(ai);
}

#include <stdio.h>

#include "config/resolved.h"

static int __attribute__((unused))
fuzz_lookup(bool srv, const char *host, uint16_t port,
    const char *resolvers, size_t max, int family, struct resolved_addr **out,
    size_t *n, size_t *total, char *err, size_t errlen)
{
	(void)max;
	(void)family;
	*out = NULL;
	*n = 0;
	*total = 0;
	snprintf(err, errlen, "cannot resolve '%s': no DNS while fuzzing", host);
	return -1;
}

#endif
