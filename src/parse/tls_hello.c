/*
 * tls_hello: finds the server name and ALPN list in a TLS ClientHello
 * (RFC 8446 4.1.2, RFC 6066 3, RFC 7301), reading the stream as it arrived:
 * any number of handshake records (TLS 1.0-1.3 record versions) split at
 * any byte across TCP segments.  Pure code: no sockets, no event loop, no
 * global state; the caller owns the bytes and forwards them unchanged.
 *
 * Strictness: every length is checked against what contains it, and the
 * hello must end exactly where its extensions end.  An SSLv2-compatible
 * hello is reported as NOT_TLS: it is a legacy but well-formed start of a
 * handshake that cannot carry extensions, so it routes like a client that
 * sent no server name (nginx ssl_preread and HAProxy req.ssl_sni also treat
 * it as "no name").
 *
 * Incremental: records already seen whole are remembered (offset, handshake
 * bytes, the 4-byte handshake header), so a hello arriving one byte per
 * segment costs O(1) per call until it is complete, and O(hello) once.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "parse/tls_hello.h"
#include "base/util.h"

#define REC_HDR		5
#define REC_MAX		16384	/* RFC 8446 5.1: 2^14 bytes of plaintext */
#define CT_HANDSHAKE	22
#define HS_CLIENT_HELLO	1
#define EXT_SERVER_NAME	0
#define EXT_ALPN	16
#define EXT_SUPPORTED_VERSIONS 43
#define SNI_HOST_NAME	0

void
tls_hello_init(struct tls_hello *h)
{
	memset(h, 0, sizeof(*h));
}

void
tls_hello_clear(struct tls_hello *h)
{
	free(h->alpn_heap);
	h->alpn_heap = NULL;
	h->alpn_len = 0;
}

const char *
tls_hello_status_name(enum tls_hello_status st)
{
	switch (st) {
	case TLS_HELLO_NEED_MORE:
		return "need more";
	case TLS_HELLO_OK:
		return "ok";
	case TLS_HELLO_NOT_TLS:
		return "not TLS";
	case TLS_HELLO_MALFORMED:
		return "malformed";
	case TLS_HELLO_TOO_BIG:
		return "too big";
	}
	return "?";
}

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static bool
host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool
tls_hello_valid_host(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > TLS_HELLO_HOST_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				return false;	/* empty label */
			label = 0;
			continue;
		}
		if (!host_char(c) || ++label > 63)
			return false;
	}
	return label > 0;	/* no trailing dot */
}

bool
tls_hello_offers_alpn(const struct tls_hello *h, const char *name, size_t len)
{
	const uint8_t *a = tls_hello_alpn(h);

	for (size_t i = 0; i < h->alpn_len; i += 1u + a[i]) {
		if (a[i] == len && memcmp(a + i + 1, name, len) == 0)
			return true;
	}
	return false;
}

/* A cursor over the hello's body; every read is bounds-checked. */
struct rd {
	const uint8_t *p;
	size_t n, at;
};

static bool
rd_has(const struct rd *r, size_t k)
{
	return r->n - r->at >= k;
}

static enum tls_hello_status
bad(struct tls_hello *h, const char *why)
{
	h->reason = why;
	return TLS_HELLO_MALFORMED;
}

static enum tls_hello_status
parse_sni(struct tls_hello *h, const uint8_t *p, size_t n)
{
	size_t at;

	if (n < 2 || be16(p) != n - 2)
		return bad(h, "server_name list length does not match its extension");
	if (n == 2)
		return bad(h, "empty server_name list");
	for (at = 2; at < n; ) {
		uint8_t type;
		size_t len;

		if (n - at < 3)
			return bad(h, "server_name entry truncated");
		type = p[at];
		len = be16(p + at + 1);
		at += 3;
		if (len > n - at)
			return bad(h, "server_name entry longer than its list");
		if (type == SNI_HOST_NAME) {
			/* RFC 6066: at most one name of each type. */
			if (h->has_sni)
				return bad(h, "two host names in server_name");
			if (!tls_hello_valid_host((const char *)p + at, len))
				return bad(h, "invalid host name in server_name");
			for (size_t i = 0; i < len; i++) {
				char c = (char)p[at + i];

				h->sni[i] = (c >= 'A' && c <= 'Z') ?
				    (char)(c - 'A' + 'a') : c;
			}
			h->sni[len] = '\0';
			h->sni_len = len;
			h->has_sni = true;
		}
		at += len;
	}
	return TLS_HELLO_OK;
}

static enum tls_hello_status
parse_alpn(struct tls_hello *h, const uint8_t *p, size_t n)
{
	if (n < 2 || be16(p) != n - 2)
		return bad(h, "ALPN list length does not match its extension");
	if (n == 2)
		return bad(h, "empty ALPN list");
	for (size_t at = 2; at < n; ) {
		size_t len = p[at++];

		if (len == 0)
			return bad(h, "empty ALPN protocol name");
		if (len > n - at)
			return bad(h, "ALPN protocol name longer than its list");
		h->nalpn++;
		at += len;
	}
	/* Valid: keep it all, already in wire form. */
	if (n - 2 > sizeof(h->alpn_inline)) {
		free(h->alpn_heap);
		h->alpn_heap = xmalloc(n - 2);
		memcpy(h->alpn_heap, p + 2, n - 2);
	} else {
		memcpy(h->alpn_inline, p + 2, n - 2);
	}
	h->alpn_len = n - 2;
	return TLS_HELLO_OK;
}

static enum tls_hello_status
parse_versions(struct tls_hello *h, const uint8_t *p, size_t n)
{
	if (n < 1 || p[0] != n - 1 || p[0] < 2 || p[0] % 2 != 0)
		return bad(h, "supported_versions list length is wrong");
	for (size_t at = 1; at < n; at += 2) {
		uint16_t v = be16(p + at);

		/* GREASE (0x?a?a) and unknown versions are skipped. */
		if (v >= 0x0300 && v <= 0x0304 && v > h->version)
			h->version = v;
	}
	return TLS_HELLO_OK;
}

/* The handshake message body (without its 4-byte header), complete. */
static enum tls_hello_status
parse_body(struct tls_hello *h, const uint8_t *body, size_t n)
{
	struct rd r = { body, n, 0 };
	bool seen_alpn = false, seen_sni = false, seen_versions = false;
	uint16_t legacy;
	size_t len;

	if (!rd_has(&r, 2 + 32 + 1))
		return bad(h, "ClientHello too short for version and random");
	legacy = be16(r.p);
	if (r.p[0] != 3)
		return bad(h, "ClientHello version is not 3.x");
	r.at += 2 + 32;
	len = r.p[r.at++];
	if (len > 32)
		return bad(h, "session id longer than 32 bytes");
	if (!rd_has(&r, len + 2))
		return bad(h, "session id longer than the ClientHello");
	r.at += len;
	len = be16(r.p + r.at);
	r.at += 2;
	if (len == 0 || len % 2 != 0)
		return bad(h, "cipher suite list empty or of odd length");
	if (!rd_has(&r, len + 1))
		return bad(h, "cipher suite list longer than the ClientHello");
	r.at += len;
	len = r.p[r.at++];
	if (len == 0)
		return bad(h, "empty compression method list");
	if (!rd_has(&r, len))
		return bad(h, "compression methods longer than the ClientHello");
	r.at += len;
	h->version = legacy > 0x0303 ? 0x0303 : legacy;
	if (r.at == n)
		return TLS_HELLO_OK;	/* no extensions (SSL 3.0 style) */
	if (!rd_has(&r, 2))
		return bad(h, "one stray byte after the compression methods");
	len = be16(r.p + r.at);
	r.at += 2;
	if (len != n - r.at)
		return bad(h, "extensions length does not match the ClientHello length");
	while (r.at < n) {
		uint16_t type;
		size_t elen;
		enum tls_hello_status st = TLS_HELLO_OK;

		if (!rd_has(&r, 4))
			return bad(h, "extension header truncated");
		type = be16(r.p + r.at);
		elen = be16(r.p + r.at + 2);
		r.at += 4;
		if (!rd_has(&r, elen))
			return bad(h, "extension longer than the extension list");
		switch (type) {
		case EXT_SERVER_NAME:
			if (seen_sni)
				return bad(h, "two server_name extensions");
			seen_sni = true;
			st = parse_sni(h, r.p + r.at, elen);
			break;
		case EXT_ALPN:
			if (seen_alpn)
				return bad(h, "two ALPN extensions");
			seen_alpn = true;
			st = parse_alpn(h, r.p + r.at, elen);
			break;
		case EXT_SUPPORTED_VERSIONS:
			if (seen_versions)
				return bad(h, "two supported_versions extensions");
			seen_versions = true;
			st = parse_versions(h, r.p + r.at, elen);
			break;
		default:
			break;
		}
		if (st != TLS_HELLO_OK)
			return st;
		r.at += elen;
	}
	return TLS_HELLO_OK;
}

/* The hello is complete in buf: gather its body (it may be spread over
 * several records) and parse it. */
static enum tls_hello_status
parse_complete(struct tls_hello *h, const uint8_t *buf, size_t msglen)
{
	enum tls_hello_status st;
	uint8_t *copy;
	size_t off = 0, skip = 4, have = 0;

	/* The common case: the whole message sits in the first record. */
	if ((size_t)be16(buf + 3) >= 4 + msglen)
		return parse_body(h, buf + REC_HDR + 4, msglen);
	copy = xmalloc(msglen ? msglen : 1);
	while (have < msglen) {
		size_t rlen = be16(buf + off + 3), take;
		const uint8_t *p = buf + off + REC_HDR;

		if (skip >= rlen) {
			skip -= rlen;
		} else {
			take = rlen - skip;
			if (take > msglen - have)
				take = msglen - have;
			memcpy(copy + have, p + skip, take);
			have += take;
			skip = 0;
		}
		off += REC_HDR + rlen;
	}
	st = parse_body(h, copy, msglen);
	free(copy);
	return st;
}

/* Checks that need only the first bytes of the stream. */
static enum tls_hello_status
check_start(struct tls_hello *h, const uint8_t *buf, size_t len)
{
	if (buf[0] != CT_HANDSHAKE) {
		/* SSLv2 record header: 2-byte length with the top bit set,
		 * then message type 1 (CLIENT-HELLO). */
		if ((buf[0] & 0x80) != 0) {
			if (len < 3)
				return TLS_HELLO_NEED_MORE;
			if (buf[2] == HS_CLIENT_HELLO) {
				h->reason = "SSLv2-compatible ClientHello (no extensions, so no server name)";
				return TLS_HELLO_NOT_TLS;
			}
		}
		h->reason = "not a TLS handshake record";
		return TLS_HELLO_NOT_TLS;
	}
	if (len >= 2 && buf[1] != 3) {
		h->reason = "not a TLS record version (3.x)";
		return TLS_HELLO_NOT_TLS;
	}
	return TLS_HELLO_OK;
}

enum tls_hello_status
tls_hello_parse(struct tls_hello *h, const uint8_t *buf, size_t len)
{
	uint8_t hdr[4];
	size_t off = h->rec_off, got = h->hs_got;

	if (len == 0)
		return TLS_HELLO_NEED_MORE;
	if (h->nrec == 0) {
		enum tls_hello_status st = check_start(h, buf, len);

		if (st != TLS_HELLO_OK)
			return st;
	}
	memcpy(hdr, h->hs_hdr, sizeof(hdr));
	for (;;) {
		size_t rlen, in, total, g;
		const uint8_t *p = buf + off;

		if (len - off < REC_HDR)
			return TLS_HELLO_NEED_MORE;
		if (p[0] != CT_HANDSHAKE)
			return bad(h, "a record other than handshake inside the ClientHello");
		if (p[1] != 3 || p[2] > 4)
			return bad(h, "unknown TLS record version");
		rlen = be16(p + 3);
		if (rlen == 0)
			return bad(h, "empty handshake record");
		if (rlen > REC_MAX)
			return bad(h, "record longer than 16 KiB");
		in = len - off - REC_HDR;
		if (in > rlen)
			in = rlen;
		for (g = got; g < 4 && g - got < in; g++)
			hdr[g] = p[REC_HDR + g - got];
		total = got + in;
		if (total >= 1 && hdr[0] != HS_CLIENT_HELLO)
			return bad(h, "first handshake message is not a ClientHello");
		if (total >= 4) {
			size_t msglen = (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];

			if (msglen > TLS_HELLO_MAX_MSG) {
				h->reason = "ClientHello longer than 16 KiB";
				return TLS_HELLO_TOO_BIG;
			}
			if (total >= 4 + msglen) {
				h->hello_end = off + REC_HDR + (4 + msglen - got);
				return parse_complete(h, buf, msglen);
			}
		}
		if (in < rlen)
			return TLS_HELLO_NEED_MORE;
		/* This record is whole: never look at it again. */
		off += REC_HDR + rlen;
		got += rlen;
		h->rec_off = off;
		h->hs_got = got;
		h->nrec++;
		memcpy(h->hs_hdr, hdr, sizeof(hdr));
	}
}
