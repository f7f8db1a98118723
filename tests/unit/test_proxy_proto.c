/*
 * test_proxy_proto: the PROXY protocol parser and builder -- every field of
 * v1 and v2, every malformed form we know of, TLVs skipped, every
 * truncation of a valid header answered "need more" (never a wrong
 * verdict), and build -> parse round trips for IPv4, IPv6 and mixed pairs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/proxy_proto.h"

static const unsigned char SIG[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static struct sockaddr_storage
sa(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return ss;
}

static void
assert_addr(const struct sockaddr_storage *got, const char *ip, uint16_t port)
{
	char buf[INET6_ADDRSTRLEN];

	if (got->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)got;

		inet_ntop(AF_INET, &s->sin_addr, buf, sizeof(buf));
		assert_string_equal(buf, ip);
		assert_int_equal(ntohs(s->sin_port), port);
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)got;

		assert_int_equal(got->ss_family, AF_INET6);
		inet_ntop(AF_INET6, &s->sin6_addr, buf, sizeof(buf));
		assert_string_equal(buf, ip);
		assert_int_equal(ntohs(s->sin6_port), port);
	}
}

static enum proxy_status
parse(const void *b, size_t n, struct proxy_hdr *h, const char **why)
{
	return proxy_parse(b, n, h, why);
}

/* Every strict prefix of a valid header is PROXY_MORE. */
static void
assert_prefixes_need_more(const void *b, size_t n)
{
	struct proxy_hdr h;
	const char *why;

	for (size_t i = 0; i < n; i++) {
		enum proxy_status st = parse(b, i, &h, &why);

		if (st != PROXY_MORE)
			fail_msg("prefix of %zu/%zu bytes: status %d (%s)", i,
			    n, st, why ? why : "");
	}
}

static void
test_v1_tcp4(void **state)
{
	const char *hdr = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /";
	struct proxy_hdr h;
	const char *why;

	(void)state;
	assert_int_equal(parse(hdr, strlen(hdr), &h, &why), PROXY_OK);
	assert_int_equal(h.version, PROXY_V1);
	assert_true(h.has_addr);
	assert_false(h.local);
	assert_int_equal(h.len, strlen(hdr) - 5);
	assert_addr(&h.src, "192.0.2.1", 56324);
	assert_addr(&h.dst, "198.51.100.2", 443);
	assert_prefixes_need_more(hdr, h.len);
}

static void
test_v1_tcp6(void **state)
{
	const char *hdr = "PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 0 65535\r\n";
	struct proxy_hdr h;
	const char *why;

	(void)state;
	assert_int_equal(parse(hdr, strlen(hdr), &h, &why), PROXY_OK);
	assert_int_equal(h.len, strlen(hdr));
	assert_addr(&h.src, "2001:db8::1", 0);
	assert_addr(&h.dst, "::ffff:10.0.0.1", 65535);
	assert_prefixes_need_more(hdr, h.len);
}

static void
test_v1_unknown(void **state)
{
	const char *a = "PROXY UNKNOWN\r\n";
	const char *b = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nrest";
	struct proxy_hdr h;
	const char *why;

	(void)state;
	assert_int_equal(parse(a, strlen(a), &h, &why), PROXY_OK);
	assert_false(h.has_addr);
	assert_int_equal(h.len, strlen(a));
	assert_int_equal(parse(b, strlen(b), &h, &why), PROXY_OK);
	assert_false(h.has_addr);
	assert_int_equal(h.len, strlen(b) - 4);
}

static void
test_v1_max_length(void **state)
{
	/* The longest legal line is exactly 107 bytes. */
	const char *hdr = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	char longer[200];
	struct proxy_hdr h;
	const char *why;

	(void)state;
	assert_int_equal(strlen(hdr), 104);
	assert_int_equal(parse(hdr, strlen(hdr), &h, &why), PROXY_OK);
	/* 107 bytes without a CRLF: refused, not waited for. */
	memset(longer, 'A', sizeof(longer));
	memcpy(longer, "PROXY UNKNOWN ", 14);
	assert_int_equal(parse(longer, 106, &h, &why), PROXY_MORE);
	assert_int_equal(parse(longer, 107, &h, &why), PROXY_INVALID);
	assert_non_null(strstr(why, "too long"));
	assert_int_equal(parse(longer, sizeof(longer), &h, &why), PROXY_INVALID);
}

static void
test_v1_bad(void **state)
{
	static const struct {
		const char *in;
		const char *why;	/* substring */
	} cases[] = {
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "CRLF" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", "character" },
		{ "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "protocol" },
		{ "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "protocol" },
		{ "PROXY \r\n", "protocol" },
		{ "PROXY TCP4\r\n", "number of" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "number of" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "number of" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "number of" },
		{ "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "number of" },
		{ "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "number of" },
		{ "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "source address" },
		{ "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "source address" },
		{ "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "source address" },
		{ "PROXY TCP4 1.2.3.4 5.6.7 1 2\r\n", "destination address" },
		{ "PROXY TCP6 ::1 ::g 1 2\r\n", "destination address" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "source port" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "source port" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n", "source port" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 x\r\n", "destination port" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", "destination port" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 +2\r\n", "destination port" },
		{ "PROXY TCP4 1.2.3.4\x00 5.6.7.8 1 2\r\n", "character" },
		{ "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "no PROXY" },
		{ "GET / HTTP/1.1\r\n", "no PROXY" },
		{ "PROXX", "no PROXY" },
	};
	struct proxy_hdr h;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].in);

		if (strstr(cases[i].in, "1.2.3.4") && i == 22)
			n = 34;		/* the one with a NUL inside */
		if (parse(cases[i].in, n, &h, &why) != PROXY_INVALID)
			fail_msg("case %zu '%s' accepted", i, cases[i].in);
		if (strstr(why, cases[i].why) == NULL)
			fail_msg("case %zu: why '%s', want '%s'", i, why,
			    cases[i].why);
	}
}

/* A v2 header: sig, ver/cmd, fam, body. */
static size_t
v2(unsigned char *out, unsigned char vc, unsigned char fam,
    const unsigned char *body, size_t blen)
{
	memcpy(out, SIG, 12);
	out[12] = vc;
	out[13] = fam;
	out[14] = (unsigned char)(blen >> 8);
	out[15] = (unsigned char)blen;
	memcpy(out + 16, body, blen);
	return 16 + blen;
}

static void
test_v2_tcp4(void **state)
{
	const unsigned char body[12] = { 192, 0, 2, 1, 198, 51, 100, 2,
	    0xdc, 0x04, 0x01, 0xbb };
	unsigned char b[64];
	size_t n = v2(b, 0x21, 0x11, body, sizeof(body));
	struct proxy_hdr h;
	const char *why;

	(void)state;
	memcpy(b + n, "data", 4);
	assert_int_equal(parse(b, n + 4, &h, &why), PROXY_OK);
	assert_int_equal(h.version, PROXY_V2);
	assert_true(h.has_addr);
	assert_false(h.local);
	assert_int_equal(h.len, 28);
	assert_addr(&h.src, "192.0.2.1", 56324);
	assert_addr(&h.dst, "198.51.100.2", 443);
	assert_prefixes_need_more(b, n);
}

static void
test_v2_tcp6_tlvs(void **state)
{
	unsigned char body[36 + 64], b[256];
	size_t bl = 36, n;
	struct proxy_hdr h;
	const char *why;

	(void)state;
	memset(body, 0, sizeof(body));
	body[0] = 0x20; body[1] = 0x01; body[2] = 0x0d; body[3] = 0xb8;
	body[15] = 1;				/* 2001:db8::1 */
	body[31] = 2;				/* ::2 */
	body[32] = 0x30; body[33] = 0x39;	/* 12345 */
	body[34] = 0x00; body[35] = 0x50;	/* 80 */
	/* TLVs: ALPN "h2", AUTHORITY "example.com", an empty NOOP, and a
	 * custom type 0xE0 with 5 bytes. */
	memcpy(body + bl, "\x01\x00\x02h2", 5); bl += 5;
	memcpy(body + bl, "\x02\x00\x0b" "example.com", 14); bl += 14;
	memcpy(body + bl, "\x04\x00\x00", 3); bl += 3;
	memcpy(body + bl, "\xe0\x00\x05" "abcde", 8); bl += 8;
	n = v2(b, 0x21, 0x21, body, bl);
	assert_int_equal(parse(b, n, &h, &why), PROXY_OK);
	assert_int_equal(h.len, n);
	assert_addr(&h.src, "2001:db8::1", 12345);
	assert_addr(&h.dst, "::2", 80);
	assert_prefixes_need_more(b, n);

	/* A TLV whose length runs past the header. */
	b[n - 6] = 0x06;
	assert_int_equal(parse(b, n, &h, &why), PROXY_INVALID);
	assert_non_null(strstr(why, "TLV"));
	/* Two stray bytes after the address block: not a TLV. */
	n = v2(b, 0x21, 0x21, body, 38);
	assert_int_equal(parse(b, n, &h, &why), PROXY_INVALID);
	assert_non_null(strstr(why, "TLV"));
}

static void
test_v2_local_and_unusable(void **state)
{
	unsigned char b[300], body[216];
	size_t n;
	struct proxy_hdr h;
	const char *why;

	(void)state;
	memset(body, 7, sizeof(body));
	/* LOCAL: no addresses whatever the family says. */
	n = v2(b, 0x20, 0x00, body, 0);
	assert_int_equal(parse(b, n, &h, &why), PROXY_OK);
	assert_true(h.local);
	assert_false(h.has_addr);
	assert_int_equal(h.len, 16);
	n = v2(b, 0x20, 0x11, body, 12);
	assert_int_equal(parse(b, n, &h, &why), PROXY_OK);
	assert_true(h.local);
	assert_false(h.has_addr);
	/* LOCAL with a short body is fine too (the block is ignored). */
	n = v2(b, 0x20, 0x21, body, 3);
	assert_int_equal(parse(b, n, &h, &why), PROXY_OK);
	/* PROXY over UNSPEC, UNIX, UDP: valid, but no address to use. */
	n = v2(b, 0x21, 0x00, body, 0);
	assert_int_equal(parse(b, n, &h, &why), PROXY_OK);
	assert_false(h.has_addr);
	assert_false(h.local);
	n = v2(b, 0x21, 0x31, body, 216);
	assert_int_equal(parse(b, n, &h, &why), PROXY_OK);
	assert_false(h.has_addr);
	n = v2(b, 0x21, 0x12, body, 12);
	assert_int_equal(parse(b, n, &h, &why), PROXY_OK);
	assert_false(h.has_addr);
}

static void
test_v2_bad(void **state)
{
	unsigned char b[PROXY_V2_MAX + 64], body[64];
	size_t n;
	struct proxy_hdr h;
	const char *why;

	(void)state;
	memset(body, 0, sizeof(body));
	n = v2(b, 0x11, 0x11, body, 12);		/* version 1 */
	assert_int_equal(parse(b, n, &h, &why), PROXY_INVALID);
	assert_non_null(strstr(why, "version"));
	n = v2(b, 0x31, 0x11, body, 12);		/* version 3 */
	assert_int_equal(parse(b, n, &h, &why), PROXY_INVALID);
	n = v2(b, 0x22, 0x11, body, 12);		/* command 2 */
	assert_int_equal(parse(b, n, &h, &why), PROXY_INVALID);
	assert_non_null(strstr(why, "command"));
	n = v2(b, 0x21, 0x41, body, 12);		/* family 4 */
	assert_int_equal(parse(b, n, &h, &why), PROXY_INVALID);
	assert_non_null(strstr(why, "family"));
	n = v2(b, 0x21, 0x13, body, 12);		/* protocol 3 */
	assert_int_equal(parse(b, n, &h, &why), PROXY_INVALID);
	n = v2(b, 0x21, 0x11, body, 11);		/* short IPv4 block */
	assert_int_equal(parse(b, n, &h, &why), PROXY_INVALID);
	assert_non_null(strstr(why, "shorter"));
	n = v2(b, 0x21, 0x21, body, 35);		/* short IPv6 block */
	assert_int_equal(parse(b, n, &h, &why), PROXY_INVALID);
	n = v2(b, 0x21, 0x31, body, 60);		/* short UNIX block */
	assert_int_equal(parse(b, n, &h, &why), PROXY_INVALID);
	/* Longer than we accept: refused from the 16 fixed bytes alone. */
	memcpy(b, SIG, 12);
	b[12] = 0x21; b[13] = 0x11;
	b[14] = (PROXY_V2_MAX - 16 + 1) >> 8;
	b[15] = (PROXY_V2_MAX - 16 + 1) & 0xff;
	assert_int_equal(parse(b, 16, &h, &why), PROXY_INVALID);
	assert_non_null(strstr(why, "too long"));
	b[14] = 0xff; b[15] = 0xff;
	assert_int_equal(parse(b, 16, &h, &why), PROXY_INVALID);
	/* Exactly the bound is fine (one big TLV). */
	b[14] = (PROXY_V2_MAX - 16) >> 8;
	b[15] = (PROXY_V2_MAX - 16) & 0xff;
	memset(b + 16, 0, 12);
	b[28] = 0xe1;
	b[29] = (PROXY_V2_MAX - 16 - 12 - 3) >> 8;
	b[30] = (PROXY_V2_MAX - 16 - 12 - 3) & 0xff;
	memset(b + 31, 'x', PROXY_V2_MAX - 31);
	assert_int_equal(parse(b, PROXY_V2_MAX - 1, &h, &why), PROXY_MORE);
	assert_int_equal(parse(b, PROXY_V2_MAX, &h, &why), PROXY_OK);
	assert_int_equal(h.len, PROXY_V2_MAX);
	/* A broken signature. */
	n = v2(b, 0x21, 0x11, body, 12);
	b[11] = 0x0b;
	assert_int_equal(parse(b, n, &h, &why), PROXY_INVALID);
	assert_non_null(strstr(why, "no PROXY"));
	assert_int_equal(parse(b, 11, &h, &why), PROXY_MORE);
	assert_int_equal(parse(b, 12, &h, &why), PROXY_INVALID);
}

static void
roundtrip(enum proxy_version v, const char *sip, uint16_t sp, const char *dip,
    uint16_t dp, const char *want_sip, const char *want_dip)
{
	struct sockaddr_storage s = sa(sip, sp), d = sa(dip, dp);
	unsigned char b[PROXY_BUILD_MAX + 8];
	struct proxy_hdr h;
	const char *why;
	size_t n = proxy_build(v, (struct sockaddr *)&s, (struct sockaddr *)&d,
	    b, PROXY_BUILD_MAX);

	assert_true(n > 0 && n <= PROXY_BUILD_MAX);
	assert_int_equal(parse(b, n, &h, &why), PROXY_OK);
	assert_int_equal(h.version, v);
	assert_int_equal(h.len, n);
	assert_true(h.has_addr);
	assert_addr(&h.src, want_sip, sp);
	assert_addr(&h.dst, want_dip, dp);
	assert_prefixes_need_more(b, n);
}

static void
test_build(void **state)
{
	struct sockaddr_storage s = sa("192.0.2.1", 56324), d = sa("198.51.100.2", 443);
	unsigned char b[PROXY_BUILD_MAX];
	size_t n;

	(void)state;
	n = proxy_build(PROXY_V1, (struct sockaddr *)&s, (struct sockaddr *)&d,
	    b, sizeof(b));
	assert_int_equal(n, strlen("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"));
	assert_memory_equal(b, "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", n);
	n = proxy_build(PROXY_V2, (struct sockaddr *)&s, (struct sockaddr *)&d,
	    b, sizeof(b));
	assert_int_equal(n, 28);
	assert_memory_equal(b, SIG, 12);
	assert_int_equal(b[12], 0x21);
	assert_int_equal(b[13], 0x11);
	assert_int_equal(b[15], 12);
	assert_memory_equal(b + 16, "\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x01\xbb", 12);
	/* Too small a buffer: nothing. */
	assert_int_equal(proxy_build(PROXY_V2, (struct sockaddr *)&s,
	    (struct sockaddr *)&d, b, 27), 0);
	assert_int_equal(proxy_build(PROXY_V1, (struct sockaddr *)&s,
	    (struct sockaddr *)&d, b, 20), 0);

	roundtrip(PROXY_V1, "10.1.2.3", 1, "10.3.2.1", 65535, "10.1.2.3", "10.3.2.1");
	roundtrip(PROXY_V2, "10.1.2.3", 1, "10.3.2.1", 65535, "10.1.2.3", "10.3.2.1");
	roundtrip(PROXY_V1, "2001:db8::5", 4000, "::1", 80, "2001:db8::5", "::1");
	roundtrip(PROXY_V2, "2001:db8::5", 4000, "::1", 80, "2001:db8::5", "::1");
	/* A mixed pair goes as IPv6 with the IPv4 address mapped. */
	roundtrip(PROXY_V1, "192.0.2.9", 5, "::1", 6, "::ffff:192.0.2.9", "::1");
	roundtrip(PROXY_V2, "::1", 5, "192.0.2.9", 6, "::1", "::ffff:192.0.2.9");
	roundtrip(PROXY_V1, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535,
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
}

static void
test_build_local(void **state)
{
	unsigned char b[PROXY_BUILD_MAX];
	struct sockaddr_un_like { sa_family_t f; char p[20]; } un = { AF_UNIX, "x" };
	struct sockaddr_storage d = sa("127.0.0.1", 1);
	struct proxy_hdr h;
	const char *why;
	size_t n;

	(void)state;
	n = proxy_build_local(PROXY_V2, b, sizeof(b));
	assert_int_equal(n, 16);
	assert_int_equal(b[12], 0x20);
	assert_int_equal(parse(b, n, &h, &why), PROXY_OK);
	assert_true(h.local);
	n = proxy_build_local(PROXY_V1, b, sizeof(b));
	assert_memory_equal(b, "PROXY UNKNOWN\r\n", n);
	assert_int_equal(parse(b, n, &h, &why), PROXY_OK);
	assert_false(h.has_addr);
	/* Non-IP source: UNKNOWN / LOCAL. */
	n = proxy_build(PROXY_V1, (struct sockaddr *)&un, (struct sockaddr *)&d,
	    b, sizeof(b));
	assert_memory_equal(b, "PROXY UNKNOWN\r\n", n);
	n = proxy_build(PROXY_V2, NULL, (struct sockaddr *)&d, b, sizeof(b));
	assert_int_equal(n, 16);
	assert_int_equal(b[12], 0x20);
}

static void
test_version_parse(void **state)
{
	enum proxy_version v;

	(void)state;
	assert_int_equal(proxy_version_parse("v1", &v), 0);
	assert_int_equal(v, PROXY_V1);
	assert_int_equal(proxy_version_parse("v2", &v), 0);
	assert_int_equal(v, PROXY_V2);
	assert_int_equal(proxy_version_parse("v3", &v), -1);
	assert_int_equal(proxy_version_parse("", &v), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_tcp4),
		cmocka_unit_test(test_v1_tcp6),
		cmocka_unit_test(test_v1_unknown),
		cmocka_unit_test(test_v1_max_length),
		cmocka_unit_test(test_v1_bad),
		cmocka_unit_test(test_v2_tcp4),
		cmocka_unit_test(test_v2_tcp6_tlvs),
		cmocka_unit_test(test_v2_local_and_unusable),
		cmocka_unit_test(test_v2_bad),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_build_local),
		cmocka_unit_test(test_version_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
