/* Unit tests for route matching: exact and wildcard names, ALPN, first
 * match wins, pattern validation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "parse/route.h"

static struct route_name
pat(const char *s)
{
	struct route_name n;
	char err[256];

	if (route_name_parse(s, &n, err, sizeof(err)) != 0)
		fail_msg("%s: %s", s, err);
	return n;
}

static bool
m(const char *pattern, const char *host)
{
	struct route_name n = pat(pattern);
	bool r = route_name_match(&n, host, strlen(host));

	route_name_clear(&n);
	return r;
}

static void
test_exact(void **state)
{
	assert_true(m("a.example.com", "a.example.com"));
	assert_true(m("A.Example.COM", "a.example.com"));
	assert_false(m("a.example.com", "b.example.com"));
	assert_false(m("a.example.com", "a.example.co"));
	assert_false(m("a.example.com", "xa.example.com"));
	assert_false(m("a.example.com", "x.a.example.com"));
	assert_false(m("example.com", "a.example.com"));
}

static void
test_wildcard(void **state)
{
	/* one or more labels */
	assert_true(m("*.b.example.com", "x.b.example.com"));
	assert_true(m("*.b.example.com", "x.y.b.example.com"));
	assert_true(m("*.B.example.com", "x.b.example.com"));
	/* never the bare domain, nor a name merely ending the same */
	assert_false(m("*.b.example.com", "b.example.com"));
	assert_false(m("*.b.example.com", "xb.example.com"));
	assert_false(m("*.b.example.com", "b.example.com.evil"));
	assert_false(m("*.b.example.com", "example.com"));
	assert_true(m("*.com", "a.com"));
}

static void
test_invalid_patterns(void **state)
{
	static const char *const bad[] = {
		"", "*", "*.", "**.a", "*a.com", "a.*.com", "a.*", "a..b",
		".a", "a.", "a b", "a/b", "caf\xc3\xa9.fr", "a:443",
		"*.*.a",
	};
	char err[256];
	char longlabel[80], longname[300];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct route_name n;

		err[0] = '\0';
		if (route_name_parse(bad[i], &n, err, sizeof(err)) == 0)
			fail_msg("'%s' accepted", bad[i]);
		assert_true(strlen(err) > 0);
		assert_null(n.text);
	}
	memset(longlabel, 'a', 64);
	longlabel[64] = '\0';
	{
		struct route_name n;

		assert_int_equal(route_name_parse(longlabel, &n, err,
		    sizeof(err)), -1);
		longlabel[63] = '\0';
		assert_int_equal(route_name_parse(longlabel, &n, err,
		    sizeof(err)), 0);
		route_name_clear(&n);
	}
	/* 253 characters is the limit; a wildcard needs room for "x." */
	memset(longname, 'a', 253);
	for (int i = 1; i < 5; i++)
		longname[i * 50] = '.';
	longname[253] = '\0';
	{
		struct route_name n;
		char wild[300] = "*.";

		assert_int_equal(route_name_parse(longname, &n, err,
		    sizeof(err)), 0);
		route_name_clear(&n);
		strcat(wild, longname + 1);	/* 252 characters after "*." */
		assert_int_equal(route_name_parse(wild, &n, err,
		    sizeof(err)), -1);
		wild[strlen(wild) - 1] = '\0';
		assert_int_equal(route_name_parse(wild, &n, err,
		    sizeof(err)), 0);
		route_name_clear(&n);
	}
	assert_int_equal(route_alpn_check("h2", 2, err, sizeof(err)), 0);
	assert_int_equal(route_alpn_check("", 0, err, sizeof(err)), -1);
	assert_int_equal(route_alpn_check("a\0b", 3, err, sizeof(err)), -1);
}

static void
test_equal(void **state)
{
	struct route_name a = pat("*.A.com"), b = pat("*.a.com"), c = pat("a.com");
	struct route_name d = pat("x.a.com");

	assert_true(route_name_equal(&a, &b));
	assert_false(route_name_equal(&a, &c));
	assert_false(route_name_equal(&c, &d));
	route_name_clear(&a);
	route_name_clear(&b);
	route_name_clear(&c);
	route_name_clear(&d);
}

static size_t
slen(const char *s)
{
	return s ? strlen(s) : 0;
}

/* The example, plus a catch-all ALPN route: first match wins. */
static void
test_match_order(void **state)
{
	struct route_name a[1] = { pat("a.example.com") };
	struct route_name b[2] = { pat("*.b.example.com"), pat("b.example.com") };
	struct route_name w[1] = { pat("*.example.com") };
	struct route_name h[1] = { pat("h.example.com") };
	struct route r[] = {
		{ .names = a, .nnames = 1 },
		{ .names = b, .nnames = 2 },
		{ .alpn = (char *)"acme-tls/1", .alpn_len = 10 },
		{ .names = h, .nnames = 1, .alpn = (char *)"h2", .alpn_len = 2 },
		{ .names = w, .nnames = 1 },
	};
	static const uint8_t acme[] = "\x0a" "acme-tls/1";
	static const uint8_t h2h1[] = "\x02h2\x08http/1.1";
	static const uint8_t h1[] = "\x08http/1.1";
	uint32_t n = 5;

#define MATCH(host, al, alen) route_match(r, n, host, slen(host), al, alen)
	assert_int_equal(MATCH("a.example.com", NULL, 0), 0);
	assert_int_equal(MATCH("b.example.com", NULL, 0), 1);
	assert_int_equal(MATCH("x.b.example.com", NULL, 0), 1);
	assert_int_equal(MATCH("x.y.b.example.com", NULL, 0), 1);
	/* a name route before the ALPN one wins even with acme-tls/1 */
	assert_int_equal(MATCH("a.example.com", acme, sizeof(acme) - 1), 0);
	assert_int_equal(MATCH("c.example.com", acme, sizeof(acme) - 1), 2);
	assert_int_equal(MATCH(NULL, acme, sizeof(acme) - 1), 2);
	/* name and ALPN must both match */
	assert_int_equal(MATCH("h.example.com", h2h1, sizeof(h2h1) - 1), 3);
	assert_int_equal(MATCH("h.example.com", h1, sizeof(h1) - 1), 4);
	assert_int_equal(MATCH("h.example.com", NULL, 0), 4);
	/* the wildcard catches the rest of example.com, not example.com */
	assert_int_equal(MATCH("zz.example.com", NULL, 0), 4);
	assert_int_equal(MATCH("example.com", NULL, 0), -1);
	assert_int_equal(MATCH("other.org", NULL, 0), -1);
	assert_int_equal(MATCH(NULL, NULL, 0), -1);
	assert_int_equal(MATCH(NULL, h2h1, sizeof(h2h1) - 1), -1);
	/* an ALPN list cut short never reads past its end */
	assert_int_equal(MATCH("c.example.com", acme, 5), 4);
	/* with fewer routes */
	n = 1;
	assert_int_equal(MATCH("b.example.com", NULL, 0), -1);
#undef MATCH
	route_name_clear(&a[0]);
	route_name_clear(&b[0]);
	route_name_clear(&b[1]);
	route_name_clear(&w[0]);
	route_name_clear(&h[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_wildcard),
		cmocka_unit_test(test_invalid_patterns),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_match_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
