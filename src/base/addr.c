/*
 * addr: the text form of socket addresses -- parsing "HOST:PORT",
 * "[IPv6]:PORT" and "*:PORT", printing "1.2.3.4:80" and "[::1]:80" -- plus
 * comparison, hashing and load-time resolution.
 *
 * Everything here is pure except addr_resolve(), which calls getaddrinfo()
 * and may block on DNS: it belongs to configuration loading on the main
 * thread, never to a worker loop.  Nothing here logs; errors go back to the
 * caller as text that quotes what was written.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "base/addr.h"
#include "base/util.h"

#define ADDR_HINT "expected HOST:PORT or [IPv6]:PORT"

/* Host names: letters, digits, '-', '.', and '_' (found in real SRV-style
 * and internal names even though RFC 952 forbids it). */
static int
addr_host_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* One message, with or without the whole text quoted: bare messages are
 * for callers that already quote it ("invalid backend 'x': ..."). */
static int
addr_fail(char *err, size_t errlen, const char *text, bool withtext,
    const char *reason, const char *hint)
{
	if (withtext)
		snprintf(err, errlen, "%s in '%.300s'%s%s%s", reason, text,
		    hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
	else
		snprintf(err, errlen, "%s%s%s%s", reason,
		    hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
	return -1;
}

static int
addr_parse_impl(const char *text, struct addr_spec *out, bool withtext,
    char *err, size_t errlen)
{
	const char *colon, *host, *port;
	char reason[400];
	size_t hostlen;
	uint64_t pv;

	memset(out, 0, sizeof(*out));
	if (text == NULL || *text == '\0') {
		snprintf(err, errlen, "empty address (%s)", ADDR_HINT);
		return -1;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		char tmp[sizeof(out->host)];
		char *pct;
		struct in6_addr a6;

		if (close == NULL)
			return addr_fail(err, errlen, text, withtext,
			    "missing ']'", ADDR_HINT);
		host = text + 1;
		hostlen = (size_t)(close - host);
		if (close[1] == '\0')
			return addr_fail(err, errlen, text, withtext,
			    "missing port", ADDR_HINT);
		if (close[1] != ':')
			return addr_fail(err, errlen, text, withtext,
			    "expected ':' after ']'", ADDR_HINT);
		port = close + 2;
		if (hostlen == 0 || hostlen >= sizeof(tmp))
			return addr_fail(err, errlen, text, withtext,
			    "invalid IPv6 address", NULL);
		memcpy(tmp, host, hostlen);
		tmp[hostlen] = '\0';
		/* A zone ("%eth0") is fine for getaddrinfo but not inet_pton. */
		if ((pct = strchr(tmp, '%')) != NULL)
			*pct = '\0';
		if (inet_pton(AF_INET6, tmp, &a6) != 1) {
			snprintf(reason, sizeof(reason),
			    "invalid IPv6 address '%.*s'", (int)hostlen, host);
			return addr_fail(err, errlen, text, withtext, reason,
			    NULL);
		}
		out->bracketed = true;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL)
			return addr_fail(err, errlen, text, withtext,
			    "missing port", ADDR_HINT);
		host = text;
		hostlen = (size_t)(colon - text);
		port = colon + 1;
		if (memchr(host, ':', hostlen) != NULL)
			return addr_fail(err, errlen, text, withtext,
			    "IPv6 address must be in brackets",
			    "e.g. '[::1]:80'");
		if (hostlen == 0)
			return addr_fail(err, errlen, text, withtext,
			    "missing host", ADDR_HINT "; '*:PORT' for all "
			    "addresses");
		if (hostlen == 1 && host[0] == '*') {
			out->wildcard = true;
			hostlen = 0;
		} else {
			if (hostlen >= sizeof(out->host))
				return addr_fail(err, errlen, text, false,
				    "host name too long", NULL);
			for (size_t i = 0; i < hostlen; i++) {
				if (addr_host_char_ok((unsigned char)host[i]))
					continue;
				snprintf(err, errlen, "invalid character '%c' "
				    "in host '%.*s'", host[i], (int)hostlen,
				    host);
				return -1;
			}
		}
	}
	if (*port == '\0')
		return addr_fail(err, errlen, text, withtext, "missing port",
		    ADDR_HINT);
	/* Port 0 is accepted here: it is valid for a listen address (the
	 * kernel picks one); callers reject it for servers. */
	if (parse_uint(port, 65535, &pv) == -1) {
		snprintf(reason, sizeof(reason), "invalid port '%.16s'", port);
		return addr_fail(err, errlen, text, withtext, reason,
		    "1-65535");
	}
	memcpy(out->host, host, hostlen);
	out->host[hostlen] = '\0';
	out->port = (uint16_t)pv;
	return 0;
}

int
addr_parse_bare(const char *text, struct addr_spec *out, char *err,
    size_t errlen)
{
	return addr_parse_impl(text, out, false, err, errlen);
}

int
addr_parse(const char *text, struct addr_spec *out, char *err, size_t errlen)
{
	return addr_parse_impl(text, out, true, err, errlen);
}

static void
addr_spec_text(const struct addr_spec *spec, char *buf, size_t len)
{
	if (spec->wildcard)
		snprintf(buf, len, "*:%u", spec->port);
	else if (spec->bracketed)
		snprintf(buf, len, "[%s]:%u", spec->host, spec->port);
	else
		snprintf(buf, len, "%s:%u", spec->host, spec->port);
}

static int
addr_push(struct sockaddr_storage **out, size_t *n, const struct sockaddr *sa,
    socklen_t salen)
{
	for (size_t i = 0; i < *n; i++)
		if (addr_equal((const struct sockaddr *)&(*out)[i], sa))
			return 0;
	*out = xrealloc(*out, (*n + 1) * sizeof(**out));
	memset(&(*out)[*n], 0, sizeof(**out));
	memcpy(&(*out)[*n], sa, salen);
	(*n)++;
	return 0;
}

int
addr_resolve(const struct addr_spec *spec, bool passive,
    struct sockaddr_storage **out, size_t *n, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[8], text[300];
	int rc;

	*out = NULL;
	*n = 0;
	if (spec->wildcard) {
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;

		if (!passive) {
			addr_spec_text(spec, text, sizeof(text));
			snprintf(err, errlen, "'%s': '*' is only valid for "
			    "listen addresses", text);
			return -1;
		}
		/* Both families, IPv4 first, without asking the resolver:
		 * the listener binds [::] with IPV6_V6ONLY so they coexist. */
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(spec->port);
		sin.sin_addr.s_addr = htonl(INADDR_ANY);
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(spec->port);
		sin6.sin6_addr = in6addr_any;
		addr_push(out, n, (struct sockaddr *)&sin, sizeof(sin));
		addr_push(out, n, (struct sockaddr *)&sin6, sizeof(sin6));
		return 0;
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* No AI_ADDRCONFIG: on a host with only loopback configured it would
	 * hide 127.0.0.1 and ::1, which are exactly what tests and sidecar
	 * setups use. */
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) |
	    (spec->bracketed ? AI_NUMERICHOST : 0);
	snprintf(portstr, sizeof(portstr), "%u", spec->port);
	rc = getaddrinfo(spec->host, portstr, &hints, &res);
	if (rc != 0) {
		addr_spec_text(spec, text, sizeof(text));
		snprintf(err, errlen, "cannot resolve '%s': %s", text,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		addr_push(out, n, ai->ai_addr, ai->ai_addrlen);
	}
	freeaddrinfo(res);
	if (*n == 0) {
		addr_spec_text(spec, text, sizeof(text));
		snprintf(err, errlen, "cannot resolve '%s': no IPv4 or IPv6 "
		    "address", text);
		return -1;
	}
	return 0;
}

int
addr_parse_ip(const char *text, struct addr_ip *out, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(text);
	const char *h = text;

	memset(out, 0, sizeof(*out));
	if (n >= 2 && text[0] == '[' && text[n - 1] == ']' &&
	    n - 2 < sizeof(host)) {
		memcpy(host, text + 1, n - 2);
		host[n - 2] = '\0';
		h = host;
		if (inet_pton(AF_INET6, h, &out->u.in6.sin6_addr) != 1)
			goto bad;
		out->u.in6.sin6_family = AF_INET6;
		out->len = sizeof(out->u.in6);
	} else if (inet_pton(AF_INET, h, &out->u.in.sin_addr) == 1) {
		out->u.in.sin_family = AF_INET;
		out->len = sizeof(out->u.in);
	} else if (inet_pton(AF_INET6, h, &out->u.in6.sin6_addr) == 1) {
		out->u.in6.sin6_family = AF_INET6;
		out->len = sizeof(out->u.in6);
	} else {
		goto bad;
	}
	if ((out->u.sa.sa_family == AF_INET &&
	    out->u.in.sin_addr.s_addr == htonl(INADDR_ANY)) ||
	    (out->u.sa.sa_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&out->u.in6.sin6_addr))) {
		snprintf(err, errlen, "'%s' is the unspecified address (leave "
		    "source out to let the kernel choose)", text);
		out->len = 0;
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "invalid address '%s' (expected an IPv4 or IPv6 "
	    "address of this host, without a port)", text);
	out->len = 0;
	return -1;
}

const char *
addr_format_host(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[NI_MAXHOST];

	if (len == 0)
		return buf;
	if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
	    getnameinfo(sa, addr_len(sa), host, sizeof(host), NULL, 0,
	    NI_NUMERICHOST) != 0) {
		snprintf(buf, len, "?");
		return buf;
	}
	snprintf(buf, len, "%s", host);
	return buf;
}

const char *
addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[NI_MAXHOST];

	if (len == 0)
		return buf;
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
		snprintf(buf, len, "?");
		return buf;
	}
	addr_format_host(sa, host, sizeof(host));
	if (sa->sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", host, addr_port(sa));
	else
		snprintf(buf, len, "%s:%u", host, addr_port(sa));
	return buf;
}

socklen_t
addr_len(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	case AF_UNIX:
		return sizeof(struct sockaddr_un);
	default:
		return 0;
	}
}

void
addr_set_port(struct sockaddr *sa, uint16_t port)
{
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

uint16_t
addr_port(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	case AF_INET6:
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	default:
		return 0;
	}
}

/* Exact identity (family, address, port, IPv6 zone): 0.0.0.0:80 and
 * [::]:80 are different sockets, and so are 1.2.3.4 and ::ffff:1.2.3.4. */
bool
addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	switch (a->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;

		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

		return x->sin6_port == y->sin6_port &&
		    x->sin6_scope_id == y->sin6_scope_id &&
		    memcmp(&x->sin6_addr, &y->sin6_addr,
		    sizeof(x->sin6_addr)) == 0;
	}
	default:
		return false;
	}
}

/*
 * FNV-1a over the address bytes, then the murmur3 64-bit finalizer: FNV
 * alone leaves the high bits poorly mixed for inputs that differ only in
 * the last byte (neighbouring client addresses), and the consistent-hash
 * ring looks at all 64 bits.  An IPv4-mapped IPv6 address (a dual-stack
 * socket's view of an IPv4 client) hashes as the IPv4 address, so a client
 * keeps its server whichever socket it arrived on.
 */
uint64_t
addr_hash_host(const struct sockaddr *sa)
{
	const unsigned char *p;
	size_t n;
	uint64_t h = 0xcbf29ce484222325ULL;

	switch (sa->sa_family) {
	case AF_INET:
		p = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
		n = 4;
		break;
	case AF_INET6: {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		p = (const unsigned char *)a6;
		n = 16;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			p += 12;
			n = 4;
		}
		break;
	}
	default:
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

uint64_t
addr_hash(const struct sockaddr *sa)
{
	return addr_hash_host(sa) ^
	    ((uint64_t)addr_port(sa) * 0x9e3779b97f4a7c15ULL);
}
