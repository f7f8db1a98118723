/*
 * test_addr: address parsing (every accepted form and the message for each
 * mistake), printing, comparison, hashing, and resolution of numeric
 * addresses and "localhost" only -- no test here needs a network.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"

static struct sockaddr_in
v4(const char *ip, uint16_t port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return sin;
}

static struct sockaddr_in6
v6(const char *ip, uint16_t port)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
	return sin6;
}

static void
test_parse_good(void **state)
{
	struct addr_spec s;
	char err[256];

	(void)state;
	assert_int_equal(addr_parse("10.0.0.1:8080", &s, err, sizeof(err)), 0);
	assert_string_equal(s.host, "10.0.0.1");
	assert_int_equal(s.port, 8080);
	assert_false(s.wildcard);
	assert_false(s.bracketed);

	assert_int_equal(addr_parse("[::1]:80", &s, err, sizeof(err)), 0);
	assert_string_equal(s.host, "::1");
	assert_int_equal(s.port, 80);
	assert_true(s.bracketed);

	assert_int_equal(addr_parse("[fe80::1%eth0]:443", &s, err,
	    sizeof(err)), 0);
	assert_string_equal(s.host, "fe80::1%eth0");

	assert_int_equal(addr_parse("app-2.internal_x:65535", &s, err,
	    sizeof(err)), 0);
	assert_string_equal(s.host, "app-2.internal_x");
	assert_int_equal(s.port, 65535);

	assert_int_equal(addr_parse("*:443", &s, err, sizeof(err)), 0);
	assert_true(s.wildcard);
	assert_string_equal(s.host, "");
	assert_int_equal(s.port, 443);

	/* Port 0 parses (listen addresses); callers reject it for servers. */
	assert_int_equal(addr_parse("127.0.0.1:0", &s, err, sizeof(err)), 0);
	assert_int_equal(s.port, 0);
}

static void
expect_bad(const char *text, const char *msg)
{
	struct addr_spec s;
	char err[256];

	assert_int_equal(addr_parse(text, &s, err, sizeof(err)), -1);
	assert_string_equal(err, msg);
}

static void
test_parse_bad(void **state)
{
	(void)state;
	expect_bad("host:99999",
	    "invalid port '99999' in 'host:99999' (1-65535)");
	expect_bad("host",
	    "missing port in 'host' (expected HOST:PORT or [IPv6]:PORT)");
	expect_bad("host:",
	    "missing port in 'host:' (expected HOST:PORT or [IPv6]:PORT)");
	expect_bad("host:http",
	    "invalid port 'http' in 'host:http' (1-65535)");
	expect_bad("host:-1", "invalid port '-1' in 'host:-1' (1-65535)");
	expect_bad("::1:80",
	    "IPv6 address must be in brackets in '::1:80' (e.g. '[::1]:80')");
	expect_bad(":80", "missing host in ':80' (expected HOST:PORT or "
	    "[IPv6]:PORT; '*:PORT' for all addresses)");
	expect_bad("", "empty address (expected HOST:PORT or [IPv6]:PORT)");
	expect_bad("[::1]", "missing port in '[::1]' (expected HOST:PORT or "
	    "[IPv6]:PORT)");
	expect_bad("[::1]80", "expected ':' after ']' in '[::1]80' (expected "
	    "HOST:PORT or [IPv6]:PORT)");
	expect_bad("[::1:80", "missing ']' in '[::1:80' (expected HOST:PORT "
	    "or [IPv6]:PORT)");
	expect_bad("[nothost]:80",
	    "invalid IPv6 address 'nothost' in '[nothost]:80'");
	expect_bad("a b:80", "invalid character ' ' in host 'a b'");
}

static void
test_parse_bare(void **state)
{
	struct addr_spec s;
	char err[256];

	(void)state;
	assert_int_equal(addr_parse_bare("foo", &s, err, sizeof(err)), -1);
	assert_string_equal(err,
	    "missing port (expected HOST:PORT or [IPv6]:PORT)");
	assert_int_equal(addr_parse_bare("foo:99999", &s, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "invalid port '99999' (1-65535)");
}

static void
test_format(void **state)
{
	struct sockaddr_in a = v4("1.2.3.4", 80);
	struct sockaddr_in6 b = v6("::1", 8080);
	struct sockaddr_in6 c = v6("2001:db8::10", 1);
	char buf[ADDR_STRLEN];

	(void)state;
	assert_string_equal(addr_format((struct sockaddr *)&a, buf,
	    sizeof(buf)), "1.2.3.4:80");
	assert_string_equal(addr_format((struct sockaddr *)&b, buf,
	    sizeof(buf)), "[::1]:8080");
	assert_string_equal(addr_format((struct sockaddr *)&c, buf,
	    sizeof(buf)), "[2001:db8::10]:1");
	assert_string_equal(addr_format_host((struct sockaddr *)&c, buf,
	    sizeof(buf)), "2001:db8::10");
	assert_string_equal(addr_format_host((struct sockaddr *)&a, buf,
	    sizeof(buf)), "1.2.3.4");
	/* Truncation still terminates. */
	assert_string_equal(addr_format((struct sockaddr *)&a, buf, 4),
	    "1.2");
	assert_int_equal(addr_len((struct sockaddr *)&a), sizeof(a));
	assert_int_equal(addr_len((struct sockaddr *)&b), sizeof(b));
	assert_int_equal(addr_port((struct sockaddr *)&b), 8080);
}

static void
test_equal(void **state)
{
	struct sockaddr_in a = v4("10.0.0.1", 80), a2 = v4("10.0.0.1", 80);
	struct sockaddr_in ap = v4("10.0.0.1", 81), b = v4("10.0.0.2", 80);
	struct sockaddr_in6 m = v6("::ffff:10.0.0.1", 80), m2 = m;

	(void)state;
	assert_true(addr_equal((struct sockaddr *)&a, (struct sockaddr *)&a2));
	assert_false(addr_equal((struct sockaddr *)&a, (struct sockaddr *)&ap));
	assert_false(addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	/* Different sockets, even if they reach the same host. */
	assert_false(addr_equal((struct sockaddr *)&a, (struct sockaddr *)&m));
	assert_true(addr_equal((struct sockaddr *)&m, (struct sockaddr *)&m2));
	m2.sin6_scope_id = 2;
	assert_false(addr_equal((struct sockaddr *)&m, (struct sockaddr *)&m2));
}

static void
test_hash(void **state)
{
	struct sockaddr_in a = v4("192.0.2.7", 80), ap = v4("192.0.2.7", 9999);
	struct sockaddr_in b = v4("192.0.2.8", 80);
	struct sockaddr_in6 m = v6("::ffff:192.0.2.7", 1234);
	struct sockaddr_in6 x = v6("2001:db8::7", 80), xp = v6("2001:db8::7", 1);
	uint64_t ha = addr_hash_host((struct sockaddr *)&a);

	(void)state;
	assert_true(ha != 0);
	assert_true(ha == addr_hash_host((struct sockaddr *)&ap));
	assert_true(ha != addr_hash_host((struct sockaddr *)&b));
	assert_true(ha == addr_hash_host((struct sockaddr *)&m));
	assert_true(addr_hash_host((struct sockaddr *)&x) ==
	    addr_hash_host((struct sockaddr *)&xp));
	assert_true(addr_hash_host((struct sockaddr *)&x) != ha);
	/* Neighbouring addresses must differ in the high bits too: the
	 * consistent-hash ring is ordered by them. */
	assert_true((ha >> 32) != (addr_hash_host((struct sockaddr *)&b) >> 32));
}

static void
test_resolve(void **state)
{
	struct sockaddr_storage *out;
	struct addr_spec s;
	char err[256], buf[ADDR_STRLEN];
	size_t n;

	(void)state;
	assert_int_equal(addr_parse("127.0.0.1:8080", &s, err, sizeof(err)), 0);
	assert_int_equal(addr_resolve(&s, false, &out, &n, err, sizeof(err)),
	    0);
	assert_int_equal(n, 1);
	assert_string_equal(addr_format((struct sockaddr *)&out[0], buf,
	    sizeof(buf)), "127.0.0.1:8080");
	free(out);

	assert_int_equal(addr_parse("[::1]:81", &s, err, sizeof(err)), 0);
	assert_int_equal(addr_resolve(&s, false, &out, &n, err, sizeof(err)),
	    0);
	assert_int_equal(n, 1);
	assert_string_equal(addr_format((struct sockaddr *)&out[0], buf,
	    sizeof(buf)), "[::1]:81");
	free(out);

	/* The wildcard is both families, IPv4 first. */
	assert_int_equal(addr_parse("*:0", &s, err, sizeof(err)), 0);
	assert_int_equal(addr_resolve(&s, true, &out, &n, err, sizeof(err)),
	    0);
	assert_int_equal(n, 2);
	assert_string_equal(addr_format((struct sockaddr *)&out[0], buf,
	    sizeof(buf)), "0.0.0.0:0");
	assert_string_equal(addr_format((struct sockaddr *)&out[1], buf,
	    sizeof(buf)), "[::]:0");
	free(out);
	assert_int_equal(addr_parse("*:80", &s, err, sizeof(err)), 0);
	assert_int_equal(addr_resolve(&s, false, &out, &n, err, sizeof(err)),
	    -1);
	assert_null(out);

	/* localhost: at least one loopback address, no duplicates. */
	assert_int_equal(addr_parse("localhost:7", &s, err, sizeof(err)), 0);
	assert_int_equal(addr_resolve(&s, false, &out, &n, err, sizeof(err)),
	    0);
	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++) {
		addr_format((struct sockaddr *)&out[i], buf, sizeof(buf));
		assert_true(strcmp(buf, "127.0.0.1:7") == 0 ||
		    strcmp(buf, "[::1]:7") == 0);
		for (size_t j = 0; j < i; j++)
			assert_false(addr_equal((struct sockaddr *)&out[i],
			    (struct sockaddr *)&out[j]));
	}
	free(out);

	/* A bracketed name is never looked up. */
	s.bracketed = true;
	assert_int_equal(addr_resolve(&s, false, &out, &n, err, sizeof(err)),
	    -1);
	/* The resolver's own words vary by libc: check only ours. */
	assert_memory_equal(err, "cannot resolve '[localhost]:7': ", 32);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_bare),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_resolve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
