/*
 * tls_hello: a pure, incremental parser for the first thing a TLS client
 * sends -- the ClientHello -- that finds the server name (SNI) and the ALPN
 * protocols without terminating TLS.  It reads the byte stream exactly as
 * it arrived (TLS records, possibly many, split across any number of TCP
 * segments), never modifies it, and makes no socket or event-loop calls.
 */
#ifndef TCPLB_TLS_HELLO_H
#define TCPLB_TLS_HELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest ClientHello handshake message accepted (body, without its 4-byte
 * header).  Real hellos are 200 bytes to ~2 KiB (post-quantum key shares
 * push them past one MTU); 16 KiB is one maximal TLS record, as HAProxy's
 * and nginx's preread buffers. */
#define TLS_HELLO_MAX_MSG 16384
/* A host name in text form (RFC 1035: 253 characters without the final
 * dot). */
#define TLS_HELLO_HOST_MAX 253
/* ALPN lists up to this size (wire form) are kept in the struct; real
 * lists are a few dozen bytes.  A longer one (a client may pad it to push
 * a name past a fixed window) is kept whole on the heap -- it is bounded
 * by the hello, TLS_HELLO_MAX_MSG -- so a route matches whatever comes
 * first, as HAProxy's does. */
#define TLS_HELLO_ALPN_INLINE 512

enum tls_hello_status {
	TLS_HELLO_NEED_MORE,	/* a prefix of a valid hello: read more */
	TLS_HELLO_OK,		/* complete and valid: results filled */
	TLS_HELLO_NOT_TLS,	/* the stream does not start a TLS handshake */
	TLS_HELLO_MALFORMED,	/* TLS, but broken: reason says what */
	TLS_HELLO_TOO_BIG,	/* the hello is longer than TLS_HELLO_MAX_MSG */
};

/*
 * Parser state and results.  tls_hello_init() it, then call
 * tls_hello_parse() with the whole stream received so far (the same bytes
 * each time, longer or not) until it returns something other than
 * NEED_MORE.  Work per call is proportional to the bytes and records that
 * arrived since the previous call, not to the whole stream.
 */
struct tls_hello {
	/* progress through records fully seen (private) */
	size_t rec_off;		/* stream offset of the next record header */
	size_t hs_got;		/* handshake bytes in records before rec_off */
	uint32_t nrec;		/* records before rec_off */
	uint8_t hs_hdr[4];	/* handshake header, as far as seen */

	/* results, valid after TLS_HELLO_OK */
	bool has_sni;		/* a host_name was sent */
	char sni[TLS_HELLO_HOST_MAX + 1];	/* lower case, NUL-terminated */
	size_t sni_len;
	uint8_t alpn_inline[TLS_HELLO_ALPN_INLINE];
	uint8_t *alpn_heap;	/* a longer list, or NULL (tls_hello_clear) */
	size_t alpn_len;	/* bytes of the list (tls_hello_alpn()) */
	unsigned nalpn;		/* protocols offered (kept or not) */
	uint16_t version;	/* highest version offered: 0x0301..0x0304 */
	size_t hello_end;	/* stream offset just past the hello's last byte */

	/* NOT_TLS, MALFORMED, TOO_BIG: why, a static string */
	const char *reason;
};

void tls_hello_init(struct tls_hello *h);
/* Free what a long ALPN list took; h may be parsed again after
 * tls_hello_init(). */
void tls_hello_clear(struct tls_hello *h);
/* The ALPN list offered, wire form (len, bytes, ...), alpn_len bytes. */
static inline const uint8_t *
tls_hello_alpn(const struct tls_hello *h)
{
	return h->alpn_heap ? h->alpn_heap : h->alpn_inline;
}
enum tls_hello_status tls_hello_parse(struct tls_hello *h, const uint8_t *buf,
    size_t len);
const char *tls_hello_status_name(enum tls_hello_status st);

/* The client offered protocol name (len bytes) in its ALPN list. */
bool tls_hello_offers_alpn(const struct tls_hello *h, const char *name,
    size_t len);

/* Is s (len bytes) a valid DNS host name: labels of letters, digits, '-'
 * and '_' (seen in the wild), 1..63 bytes each, at most 253 in all, no
 * empty label and no trailing dot?  Shared with route patterns. */
bool tls_hello_valid_host(const char *s, size_t len);

#endif
