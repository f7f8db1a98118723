/*
 * fuzz_proxy: libFuzzer target for the PROXY protocol parser
 * (proxy_parse) and the CIDR parser (cidr_parse), with invariants:
 *   - an accepted header is no longer than the input nor than
 *     PROXY_MAX_HEADER, and the input cut one byte short of it is
 *     "need more" (never a different verdict);
 *   - an accepted header with addresses, rebuilt with proxy_build() in
 *     the same version, parses back to the same addresses;
 *   - a rejected input always says why;
 *   - an accepted CIDR prefix contains its first and last address.
 */
#include "autoconfig.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "parse/cidr.h"
#include "parse/proxy_proto.h"

/* Is k in ::ffff:0:0/96, where IPv4 addresses live? */
static bool
in_v4_block(const struct cidr_key *k)
{
	return k->hi == 0 && (k->lo >> 32) == 0xffff;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
addr_bytes(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_hdr h, h2;
	const char *why = NULL;
	enum proxy_status st = proxy_parse(data, size, &h, &why);

	if (st == PROXY_INVALID && (why == NULL || *why == '\0'))
		abort();
	if (st == PROXY_OK) {
		if (h.len == 0 || h.len > size || h.len > PROXY_MAX_HEADER)
			abort();
		if (proxy_parse(data, h.len - 1, &h2, &why) != PROXY_MORE)
			abort();
		if (proxy_parse(data, h.len, &h2, &why) != PROXY_OK ||
		    h2.len != h.len)
			abort();
		if (h.has_addr) {
			unsigned char b[PROXY_BUILD_MAX];
			size_t n = proxy_build(h.version,
			    (struct sockaddr *)&h.src, (struct sockaddr *)&h.dst,
			    b, sizeof(b));

			if (n == 0 || proxy_parse(b, n, &h2, &why) != PROXY_OK ||
			    !h2.has_addr || h2.len != n ||
			    memcmp(&h2.src, &h.src, addr_bytes(&h.src)) != 0 ||
			    memcmp(&h2.dst, &h.dst, addr_bytes(&h.dst)) != 0)
				abort();
		}
	}

	if (size < 128) {
		char s[128], err[128];
		struct cidr_range r;
		struct cidr_set set = { 0 };

		memcpy(s, data, size);
		s[size] = '\0';
		memset(err, 'x', sizeof(err));
		if (cidr_parse(s, &r, err, sizeof(err)) == 0) {
			/* An IPv6 prefix wider than the IPv4-mapped block
			 * matches IPv6 clients only (as in nginx): its ends
			 * inside that block must not match; every other end
			 * must. */
			bool wide = !(in_v4_block(&r.first) &&
			    in_v4_block(&r.last));

			cidr_set_add(&set, &r);
			cidr_set_finish(&set);
			if (cidr_set_contains_key(&set, &r.first) !=
			    !(wide && in_v4_block(&r.first)) ||
			    cidr_set_contains_key(&set, &r.last) !=
			    !(wide && in_v4_block(&r.last)))
				abort();
			cidr_set_free(&set);
		} else if (memchr(err, '\0', sizeof(err)) == NULL) {
			abort();
		}
	}
	return 0;
}
