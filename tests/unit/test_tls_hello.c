/*
 * Unit tests for the ClientHello parser: hellos captured from real clients
 * (tests/unit/fixtures/tls/, see capture.py there), every prefix of each,
 * the same hellos re-framed into many records, hand-built hellos with each
 * length wrong, and every single-byte mutation (no crash, no bogus name).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/tls_hello.h"

struct fixture {
	const char *file;
	const char *sni;	/* NULL: none */
	const char *alpn[3];	/* offered, in order */
	uint16_t version;
};

static const struct fixture fixtures[] = {
	{ "openssl-tls12.bin", "a.example.com", { NULL }, 0x0303 },
	{ "openssl-tls12-alpn.bin", "a.example.com", { "h2", "http/1.1" }, 0x0303 },
	{ "openssl-tls13.bin", "www.b.example.com", { NULL }, 0x0304 },
	{ "openssl-tls13-alpn.bin", "b.example.com", { "acme-tls/1" }, 0x0304 },
	{ "openssl-nosni.bin", NULL, { NULL }, 0x0304 },
	{ "gnutls.bin", "gnutls.example.com", { NULL }, 0x0304 },
	{ "gnutls-alpn.bin", "gnutls.example.com", { "h2", "http/1.1" }, 0x0304 },
	{ "gnutls-tls12.bin", "gnutls.example.com", { NULL }, 0x0303 },
	{ "python.bin", "py.example.com", { NULL }, 0x0304 },
	{ "python-alpn.bin", "py.example.com", { "h2", "http/1.1" }, 0x0304 },
};

static uint8_t *
load(const char *name, size_t *len)
{
	char path[1024];
	FILE *f;
	uint8_t *buf = malloc(65536);

	snprintf(path, sizeof(path), "%s/tls/%s", FIXTURES, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	*len = fread(buf, 1, 65536, f);
	fclose(f);
	assert_true(*len > 5);
	return buf;
}

static enum tls_hello_status
parse_once(const uint8_t *buf, size_t len, struct tls_hello *h)
{
	tls_hello_init(h);
	return tls_hello_parse(h, buf, len);
}

static void
check_result(const struct fixture *fx, const struct tls_hello *h, size_t len)
{
	size_t n = 0;

	if (fx->sni) {
		assert_true(h->has_sni);
		assert_string_equal(h->sni, fx->sni);
		assert_int_equal(h->sni_len, strlen(fx->sni));
	} else {
		assert_false(h->has_sni);
	}
	for (; n < 3 && fx->alpn[n]; n++)
		assert_true(tls_hello_offers_alpn(h, fx->alpn[n],
		    strlen(fx->alpn[n])));
	assert_int_equal(h->nalpn, n);
	assert_false(tls_hello_offers_alpn(h, "h3", 2));
	assert_int_equal(h->version, fx->version);
	assert_int_equal(h->hello_end, len);
}

/* Each real hello parses, with the expected name, ALPN and version. */
static void
test_fixtures(void **state)
{
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		struct tls_hello h;
		size_t len;
		uint8_t *buf = load(fixtures[i].file, &len);

		print_message("%s\n", fixtures[i].file);
		assert_int_equal(parse_once(buf, len, &h), TLS_HELLO_OK);
		check_result(&fixtures[i], &h, len);
		free(buf);
	}
}

/* Every strict prefix is NEED_MORE, parsed from scratch and fed one byte
 * at a time to one parser; the last byte completes it. */
static void
test_prefixes(void **state)
{
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		struct tls_hello h, inc;
		size_t len;
		uint8_t *buf = load(fixtures[i].file, &len);

		tls_hello_init(&inc);
		for (size_t n = 0; n < len; n++) {
			/* A copy of exactly n bytes, so ASan sees any
			 * read past the prefix. */
			uint8_t *p = malloc(n ? n : 1);

			memcpy(p, buf, n);
			assert_int_equal(parse_once(p, n, &h), TLS_HELLO_NEED_MORE);
			assert_int_equal(tls_hello_parse(&inc, p, n),
			    TLS_HELLO_NEED_MORE);
			free(p);
		}
		assert_int_equal(tls_hello_parse(&inc, buf, len), TLS_HELLO_OK);
		check_result(&fixtures[i], &inc, len);
		free(buf);
	}
}

/* Re-frame the handshake bytes of a one-record hello into records of
 * `size` bytes each. */
static uint8_t *
reframe(const uint8_t *buf, size_t len, size_t size, size_t *outlen)
{
	size_t hs = len - 5, nrec = (hs + size - 1) / size;
	uint8_t *out = malloc(hs + nrec * 5);
	size_t o = 0;

	for (size_t at = 0; at < hs; at += size) {
		size_t n = hs - at < size ? hs - at : size;

		out[o++] = 0x16;
		out[o++] = buf[1];
		out[o++] = buf[2];
		out[o++] = (uint8_t)(n >> 8);
		out[o++] = (uint8_t)n;
		memcpy(out + o, buf + 5 + at, n);
		o += n;
	}
	*outlen = o;
	return out;
}

static void
test_many_records(void **state)
{
	static const size_t sizes[] = { 1, 2, 3, 4, 5, 7, 100, 511 };

	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		size_t len;
		uint8_t *buf = load(fixtures[i].file, &len);

		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			struct tls_hello h, inc;
			size_t rlen;
			uint8_t *r = reframe(buf, len, sizes[k], &rlen);

			assert_int_equal(parse_once(r, rlen, &h), TLS_HELLO_OK);
			check_result(&fixtures[i], &h, rlen);
			/* incrementally, one byte per call */
			tls_hello_init(&inc);
			for (size_t n = 0; n < rlen; n++)
				assert_int_equal(tls_hello_parse(&inc, r, n),
				    TLS_HELLO_NEED_MORE);
			assert_int_equal(tls_hello_parse(&inc, r, rlen),
			    TLS_HELLO_OK);
			check_result(&fixtures[i], &inc, rlen);
			free(r);
		}
		free(buf);
	}
}

/* Bytes after the hello (early data, a second flight) are left alone:
 * hello_end says where the hello's record ended. */
static void
test_trailing_bytes(void **state)
{
	size_t len;
	uint8_t *buf = load("python.bin", &len);
	uint8_t *more = malloc(len + 100);
	struct tls_hello h;

	memcpy(more, buf, len);
	memset(more + len, 0x17, 100);
	assert_int_equal(parse_once(more, len + 100, &h), TLS_HELLO_OK);
	assert_int_equal(h.hello_end, len);
	assert_string_equal(h.sni, "py.example.com");
	free(more);
	free(buf);
}

/* ---- hand-built hellos ------------------------------------------------- */

struct hb {
	uint8_t b[70000];
	size_t n;
};

static void
put8(struct hb *h, unsigned v)
{
	h->b[h->n++] = (uint8_t)v;
}

static void
put16(struct hb *h, unsigned v)
{
	put8(h, v >> 8);
	put8(h, v & 0xff);
}

static void
putn(struct hb *h, const void *p, size_t n)
{
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

/* A record with a ClientHello whose extension block is ext (elen bytes);
 * ext == NULL: no extension block at all. */
static void
build(struct hb *h, const uint8_t *ext, size_t elen)
{
	uint8_t random[32] = { 0 };
	size_t body = 2 + 32 + 1 + 2 + 2 + 2 + (ext ? 2 + elen : 0);

	h->n = 0;
	put8(h, 0x16);
	put16(h, 0x0301);
	put16(h, (unsigned)(4 + body));
	put8(h, 1);
	put8(h, (unsigned)(body >> 16));
	put16(h, (unsigned)(body & 0xffff));
	put16(h, 0x0303);
	putn(h, random, 32);
	put8(h, 0);		/* session id */
	put16(h, 2);
	put16(h, 0x1301);
	put8(h, 1);
	put8(h, 0);
	if (ext) {
		put16(h, (unsigned)elen);
		putn(h, ext, elen);
	}
}

/* An extension block with one server_name holding name. */
static size_t
sni_ext(uint8_t *e, const char *name, size_t nlen)
{
	size_t n = 0;

	e[n++] = 0;
	e[n++] = 0;
	e[n++] = (uint8_t)((nlen + 5) >> 8);
	e[n++] = (uint8_t)(nlen + 5);
	e[n++] = (uint8_t)((nlen + 3) >> 8);
	e[n++] = (uint8_t)(nlen + 3);
	e[n++] = 0;
	e[n++] = (uint8_t)(nlen >> 8);
	e[n++] = (uint8_t)nlen;
	memcpy(e + n, name, nlen);
	return n + nlen;
}

static enum tls_hello_status
parse_hb(const struct hb *hb, struct tls_hello *h)
{
	return parse_once(hb->b, hb->n, h);
}

static void
test_built_ok(void **state)
{
	static struct hb hb;
	struct tls_hello h;
	uint8_t e[600];
	size_t n;
	char longname[254];

	build(&hb, NULL, 0);
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_OK);
	assert_false(h.has_sni);
	assert_int_equal(h.version, 0x0303);

	n = sni_ext(e, "Mixed.Case-Name_x.EXAMPLE", 25);
	build(&hb, e, n);
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_OK);
	assert_string_equal(h.sni, "mixed.case-name_x.example");

	/* 253 characters, labels of 63 */
	memset(longname, 'a', 253);
	longname[63] = longname[127] = longname[191] = '.';
	n = sni_ext(e, longname, 253);
	build(&hb, e, n);
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_OK);
	assert_int_equal(h.sni_len, 253);

	/* an empty extension block is allowed */
	build(&hb, e, 0);
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_OK);

	/* an unknown name type is skipped, the host name still found */
	{
		uint8_t x[] = { 0, 0, 0, 12, 0, 10, 7, 0, 2, 'x', 'y',
			0, 0, 2, 'a', 'b' };

		build(&hb, x, sizeof(x));
		assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_OK);
		assert_string_equal(h.sni, "ab");
	}
	/* A list longer than the inline room is kept whole: a name past
	 * 512 bytes of others is still offered (HAProxy matches at 4,500). */
	{
		uint8_t x[4 + 2 + 1200 * 4];
		size_t k = 0;

		x[k++] = 0;
		x[k++] = 16;
		x[k++] = (uint8_t)((2 + 4800) >> 8);
		x[k++] = (uint8_t)(2 + 4800);
		x[k++] = (uint8_t)(4800 >> 8);
		x[k++] = (uint8_t)4800;
		for (int i = 0; i < 1200; i++) {
			x[k++] = 3;
			x[k++] = 'p';
			x[k++] = (uint8_t)('0' + i / 10 % 10);
			x[k++] = (uint8_t)('0' + i % 10);
		}
		memcpy(x + k - 3, "zzz", 3);	/* last, at byte 4796 */
		build(&hb, x, k);
		assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_OK);
		assert_int_equal(h.nalpn, 1200);
		assert_true(tls_hello_offers_alpn(&h, "p00", 3));
		assert_true(tls_hello_offers_alpn(&h, "zzz", 3));
		assert_false(tls_hello_offers_alpn(&h, "p199", 4));
		assert_int_equal(h.alpn_len, 4800);
		tls_hello_clear(&h);
	}
}

static void
expect_bad(const uint8_t *ext, size_t n, const char *reason_part)
{
	static struct hb hb;
	struct tls_hello h;

	build(&hb, ext, n);
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);
	assert_non_null(h.reason);
	if (strstr(h.reason, reason_part) == NULL)
		fail_msg("reason '%s' lacks '%s'", h.reason, reason_part);
}

static void
test_built_malformed_extensions(void **state)
{
	uint8_t e[600];
	size_t n;
	char longname[300];

	/* server_name list length one too long / short */
	n = sni_ext(e, "a.example", 9);
	e[5]++;
	expect_bad(e, n, "server_name list length");
	n = sni_ext(e, "a.example", 9);
	e[5]--;
	expect_bad(e, n, "server_name list length");
	/* entry length beyond the list */
	n = sni_ext(e, "a.example", 9);
	e[8]++;
	expect_bad(e, n, "longer than its list");
	/* extension length beyond the block */
	n = sni_ext(e, "a.example", 9);
	e[3]++;
	expect_bad(e, n, "extension longer");
	/* empty list, empty extension */
	{
		uint8_t x[] = { 0, 0, 0, 2, 0, 0 };
		uint8_t y[] = { 0, 0, 0, 0 };

		expect_bad(x, sizeof(x), "empty server_name list");
		expect_bad(y, sizeof(y), "server_name list length");
	}
	/* invalid names */
	expect_bad(e, sni_ext(e, "a..b", 4), "invalid host name");
	expect_bad(e, sni_ext(e, "a.b.", 4), "invalid host name");
	expect_bad(e, sni_ext(e, ".a", 2), "invalid host name");
	expect_bad(e, sni_ext(e, "a b", 3), "invalid host name");
	expect_bad(e, sni_ext(e, "a\0b", 3), "invalid host name");
	expect_bad(e, sni_ext(e, "a/b", 3), "invalid host name");
	expect_bad(e, sni_ext(e, "", 0), "invalid host name");
	memset(longname, 'a', sizeof(longname));
	expect_bad(e, sni_ext(e, longname, 64), "invalid host name");
	for (int i = 1; i < 5; i++)
		longname[i * 60] = '.';
	expect_bad(e, sni_ext(e, longname, 254), "invalid host name");
	/* two server_name extensions; two host names in one */
	n = sni_ext(e, "a", 1);
	n += sni_ext(e + n, "b", 1);
	expect_bad(e, n, "two server_name");
	{
		uint8_t x[] = { 0, 0, 0, 10, 0, 8, 0, 0, 1, 'a', 0, 0, 1, 'b' };

		expect_bad(x, sizeof(x), "two host names");
	}
	/* ALPN */
	{
		uint8_t ok[] = { 0, 16, 0, 5, 0, 3, 2, 'h', '2' };
		uint8_t x[sizeof(ok)];

		memcpy(x, ok, sizeof(ok));
		x[5]++;
		expect_bad(x, sizeof(x), "ALPN list length");
		memcpy(x, ok, sizeof(ok));
		x[6] = 0;
		expect_bad(x, sizeof(x), "empty ALPN protocol");
		memcpy(x, ok, sizeof(ok));
		x[6] = 3;
		expect_bad(x, sizeof(x), "longer than its list");
		{
			uint8_t y[] = { 0, 16, 0, 2, 0, 0 };

			expect_bad(y, sizeof(y), "empty ALPN list");
		}
		{
			uint8_t two[2 * sizeof(ok)];

			memcpy(two, ok, sizeof(ok));
			memcpy(two + sizeof(ok), ok, sizeof(ok));
			expect_bad(two, sizeof(two), "two ALPN");
		}
	}
	/* supported_versions: odd list */
	{
		uint8_t x[] = { 0, 43, 0, 4, 3, 3, 4, 3 };

		expect_bad(x, sizeof(x), "supported_versions");
	}
	/* a truncated extension header */
	{
		uint8_t x[] = { 0, 21, 0 };

		expect_bad(x, sizeof(x), "extension header truncated");
	}
}

static void
test_built_malformed_framing(void **state)
{
	static struct hb hb;
	struct tls_hello h;
	uint8_t e[64];
	size_t n = sni_ext(e, "a.example", 9);

	/* extensions length off by one either way */
	build(&hb, e, n);
	hb.b[5 + 4 + 2 + 32 + 1 + 2 + 2 + 2 + 1]++;
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);
	build(&hb, e, n);
	hb.b[5 + 4 + 2 + 32 + 1 + 2 + 2 + 2 + 1]--;
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);

	/* handshake longer than the record: the next "record" is garbage */
	build(&hb, e, n);
	hb.b[8]++;
	hb.b[hb.n++] = 0x17;
	hb.b[hb.n++] = 3;
	hb.b[hb.n++] = 3;
	hb.b[hb.n++] = 0;
	hb.b[hb.n++] = 1;
	hb.b[hb.n++] = 0;
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);
	assert_non_null(strstr(h.reason, "other than handshake"));

	/* handshake shorter than its record: trailing bytes, fine (a second
	 * handshake message would follow) -- but a body too short is not */
	build(&hb, e, n);
	hb.b[8] -= 3;
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);

	/* not a ClientHello */
	build(&hb, e, n);
	hb.b[5] = 2;
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);
	assert_non_null(strstr(h.reason, "not a ClientHello"));
	/* ...detected from the first handshake byte */
	assert_int_equal(parse_once(hb.b, 6, &h), TLS_HELLO_MALFORMED);

	/* record length 0, > 2^14, unknown record version */
	build(&hb, e, n);
	hb.b[3] = hb.b[4] = 0;
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);
	build(&hb, e, n);
	hb.b[3] = 0x40;
	hb.b[4] = 0x01;
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);
	build(&hb, e, n);
	hb.b[2] = 5;
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);

	/* session id > 32; odd / empty cipher list; no compression */
	build(&hb, e, n);
	hb.b[5 + 4 + 34] = 33;
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);
	build(&hb, e, n);
	hb.b[5 + 4 + 36] = 3;
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);
	build(&hb, e, n);
	hb.b[5 + 4 + 36] = 0;
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);
	build(&hb, e, n);
	hb.b[5 + 4 + 39] = 0;
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);
	/* client version 2.x */
	build(&hb, e, n);
	hb.b[9] = 2;
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);

	/* one stray byte after the compression methods */
	build(&hb, NULL, 0);
	hb.b[hb.n++] = 0;
	hb.b[4]++;
	hb.b[8]++;
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);
}

static void
test_too_big(void **state)
{
	static struct hb hb;
	struct tls_hello h;
	uint8_t e[64];
	size_t n = sni_ext(e, "a.example", 9);

	/* Known from the header alone, before the body arrives. */
	build(&hb, e, n);
	hb.b[6] = 0;
	hb.b[7] = 0x40;
	hb.b[8] = 0x01;		/* 16385 */
	assert_int_equal(parse_once(hb.b, 9, &h), TLS_HELLO_TOO_BIG);
	/* 16384 exactly is fine so far */
	hb.b[8] = 0x00;
	assert_int_equal(parse_once(hb.b, 9, &h), TLS_HELLO_NEED_MORE);
	/* header split over one-byte records */
	{
		uint8_t r[] = { 0x16, 3, 1, 0, 1, 1, 0x16, 3, 1, 0, 1, 0,
			0x16, 3, 1, 0, 1, 0x50, 0x16, 3, 1, 0, 1, 0 };

		assert_int_equal(parse_once(r, 18, &h), TLS_HELLO_NEED_MORE);
		assert_int_equal(parse_once(r, sizeof(r), &h), TLS_HELLO_TOO_BIG);
	}
}

/* A hello of 16 KiB exactly, spread over two records. */
static void
test_max_size(void **state)
{
	static struct hb hb, two;
	struct tls_hello h;
	static uint8_t e[TLS_HELLO_MAX_MSG];
	size_t n = sni_ext(e, "big.example", 11);
	size_t body = 2 + 32 + 1 + 2 + 2 + 2 + 2;
	size_t pad = TLS_HELLO_MAX_MSG - body - n - 4;

	e[n++] = 0;
	e[n++] = 21;		/* padding */
	e[n++] = (uint8_t)(pad >> 8);
	e[n++] = (uint8_t)pad;
	memset(e + n, 0, pad);
	n += pad;
	build(&hb, e, n);	/* record length 16388: too long for one */
	assert_int_equal(parse_hb(&hb, &h), TLS_HELLO_MALFORMED);
	{
		size_t hs = hb.n - 5, first = 16000;

		two.n = 0;
		memcpy(two.b, "\x16\x03\x01", 3);
		two.b[3] = (uint8_t)(first >> 8);
		two.b[4] = (uint8_t)first;
		memcpy(two.b + 5, hb.b + 5, first);
		memcpy(two.b + 5 + first, "\x16\x03\x01", 3);
		two.b[5 + first + 3] = (uint8_t)((hs - first) >> 8);
		two.b[5 + first + 4] = (uint8_t)(hs - first);
		memcpy(two.b + 10 + first, hb.b + 5 + first, hs - first);
		two.n = 10 + hs;
	}
	assert_int_equal(parse_hb(&two, &h), TLS_HELLO_OK);
	assert_string_equal(h.sni, "big.example");
}

static void
test_not_tls(void **state)
{
	struct tls_hello h;
	static const uint8_t sslv2[] = { 0x80, 0x2e, 0x01, 0x03, 0x01, 0x00,
		0x15, 0x00, 0x00, 0x00, 0x10 };

	assert_int_equal(parse_once((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &h),
	    TLS_HELLO_NOT_TLS);
	assert_int_equal(parse_once((const uint8_t *)"G", 1, &h),
	    TLS_HELLO_NOT_TLS);
	assert_int_equal(parse_once((const uint8_t *)"SSH-2.0-x\r\n", 11, &h),
	    TLS_HELLO_NOT_TLS);
	assert_int_equal(parse_once(sslv2, 2, &h), TLS_HELLO_NEED_MORE);
	assert_int_equal(parse_once(sslv2, sizeof(sslv2), &h), TLS_HELLO_NOT_TLS);
	assert_non_null(strstr(h.reason, "SSLv2"));
	/* 0x16 then not 3.x: some other protocol */
	assert_int_equal(parse_once((const uint8_t *)"\x16\x01", 2, &h),
	    TLS_HELLO_NOT_TLS);
	assert_int_equal(parse_once((const uint8_t *)"\x16", 1, &h),
	    TLS_HELLO_NEED_MORE);
	assert_int_equal(parse_once((const uint8_t *)"", 0, &h),
	    TLS_HELLO_NEED_MORE);
}

/* Every single-byte change of every fixture: never a crash (ASan), and a
 * name reported is always a valid lower-case host name. */
static void
test_mutations(void **state)
{
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		size_t len;
		uint8_t *buf = load(fixtures[i].file, &len);
		uint8_t *p = malloc(len);

		for (size_t at = 0; at < len; at++) {
			static const int deltas[] = { 1, -1, 0x80 };

			for (int k = 0; k < 5; k++) {
				struct tls_hello h;
				enum tls_hello_status st;

				memcpy(p, buf, len);
				p[at] = k < 3 ? (uint8_t)(p[at] + deltas[k]) :
				    (k == 3 ? 0 : 0xff);
				st = parse_once(p, len, &h);
				if (st == TLS_HELLO_OK && h.has_sni) {
					assert_true(tls_hello_valid_host(h.sni,
					    h.sni_len));
					for (size_t c = 0; c < h.sni_len; c++)
						assert_false(h.sni[c] >= 'A' &&
						    h.sni[c] <= 'Z');
				}
				if (st != TLS_HELLO_OK &&
				    st != TLS_HELLO_NEED_MORE)
					assert_non_null(h.reason);
			}
		}
		free(p);
		free(buf);
	}
}

static void
test_valid_host(void **state)
{
	assert_true(tls_hello_valid_host("a", 1));
	assert_true(tls_hello_valid_host("xn--bcher-kva.example", 21));
	assert_true(tls_hello_valid_host("10.0.0.1", 8));
	assert_false(tls_hello_valid_host("a.", 2));
	assert_false(tls_hello_valid_host("*.a", 3));
	assert_false(tls_hello_valid_host("a:443", 5));
	assert_false(tls_hello_valid_host("\xc3\xa9", 2));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_many_records),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_built_ok),
		cmocka_unit_test(test_built_malformed_extensions),
		cmocka_unit_test(test_built_malformed_framing),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_max_size),
		cmocka_unit_test(test_not_tls),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_valid_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
