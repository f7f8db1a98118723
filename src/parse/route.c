/*
 * route: matching a TLS server name and ALPN list against a listener's
 * routes.  Routes are tried in the order written and the first match wins
 * (as HAProxy's use_backend lines), so a specific name placed before a
 * wildcard takes precedence.  A linear scan: a few hundred routes cost
 * less than the accept() that precedes them; ordering is what operators
 * reason about.
 *
 * Names from the client are lower-cased by tls_hello and patterns here, so
 * the comparison is a plain memcmp and "case-insensitive" holds.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/route.h"
#include "parse/tls_hello.h"
#include "base/util.h"

int
route_name_parse(const char *pattern, struct route_name *out, char *err,
    size_t errlen)
{
	const char *host = pattern;
	size_t len = strlen(pattern);
	bool wildcard = false;

	memset(out, 0, sizeof(*out));
	if (len == 0) {
		snprintf(err, errlen, "empty server name");
		return -1;
	}
	if (pattern[0] == '*') {
		if (pattern[1] != '.' || len < 3) {
			snprintf(err, errlen, "invalid server name pattern "
			    "'%s': a wildcard is '*.' followed by a domain "
			    "('*.example.com')", pattern);
			return -1;
		}
		wildcard = true;
		host = pattern + 2;
		len -= 2;
	}
	if (strchr(host, '*') != NULL) {
		snprintf(err, errlen, "invalid server name pattern '%s': '*' "
		    "is allowed only as the whole first label ('*.example.com')",
		    pattern);
		return -1;
	}
	if (len > 0 && host[len - 1] == '.') {
		snprintf(err, errlen, "invalid server name '%s': no trailing "
		    "dot (clients send names without one)", pattern);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)host[i] >= 0x80) {
			snprintf(err, errlen, "invalid server name '%s': "
			    "write internationalised names in their ASCII "
			    "form (xn--...)", pattern);
			return -1;
		}
	}
	/* A wildcard's suffix plus at least "x." must fit a host name. */
	if (!tls_hello_valid_host(host, len) ||
	    (wildcard && len + 2 > TLS_HELLO_HOST_MAX)) {
		snprintf(err, errlen, "invalid server name '%s': expected "
		    "labels of letters, digits, '-' or '_', 1-63 characters "
		    "each, separated by dots, at most %d characters", pattern,
		    TLS_HELLO_HOST_MAX);
		return -1;
	}
	out->wildcard = wildcard;
	out->len = wildcard ? len + 1 : len;
	out->text = xmalloc(out->len + 1);
	if (wildcard)
		out->text[0] = '.';
	for (size_t i = 0; i < len; i++) {
		char c = host[i];

		out->text[i + wildcard] = (c >= 'A' && c <= 'Z') ?
		    (char)(c - 'A' + 'a') : c;
	}
	out->text[out->len] = '\0';
	return 0;
}

void
route_name_clear(struct route_name *n)
{
	free(n->text);
	n->text = NULL;
	n->len = 0;
}

bool
route_name_match(const struct route_name *n, const char *host, size_t len)
{
	if (!n->wildcard)
		return len == n->len && memcmp(host, n->text, len) == 0;
	/* ".suffix" with at least one character (so one whole label, the
	 * host being a valid name) before it. */
	return len > n->len &&
	    memcmp(host + len - n->len, n->text, n->len) == 0;
}

bool
route_name_equal(const struct route_name *a, const struct route_name *b)
{
	return a->wildcard == b->wildcard && a->len == b->len &&
	    memcmp(a->text, b->text, a->len) == 0;
}

int
route_alpn_check(const char *s, size_t len, char *err, size_t errlen)
{
	if (len == 0 || len > 255) {
		snprintf(err, errlen, "an ALPN protocol name is 1-255 bytes "
		    "long");
		return -1;
	}
	if (memchr(s, '\0', len) != NULL) {
		snprintf(err, errlen, "NUL byte in an ALPN protocol name");
		return -1;
	}
	return 0;
}

static bool
alpn_offered(const struct route *r, const uint8_t *alpn, size_t alpnlen)
{
	for (size_t i = 0; i < alpnlen; i += 1u + alpn[i]) {
		if (alpn[i] == r->alpn_len && i + 1 + alpn[i] <= alpnlen &&
		    memcmp(alpn + i + 1, r->alpn, r->alpn_len) == 0)
			return true;
	}
	return false;
}

int
route_match(const struct route *r, uint32_t n, const char *host,
    size_t hostlen, const uint8_t *alpn, size_t alpnlen)
{
	for (uint32_t i = 0; i < n; i++) {
		bool ok = r[i].nnames == 0;

		for (uint32_t k = 0; !ok && k < r[i].nnames && host; k++)
			ok = route_name_match(&r[i].names[k], host, hostlen);
		if (ok && r[i].alpn != NULL)
			ok = alpn_offered(&r[i], alpn, alpnlen);
		if (ok)
			return (int)i;
	}
	return -1;
}

void
route_clear(struct route *r)
{
	for (uint32_t i = 0; i < r->nnames; i++)
		route_name_clear(&r->names[i]);
	free(r->names);
	free(r->alpn);
	memset(r, 0, sizeof(*r));
}
