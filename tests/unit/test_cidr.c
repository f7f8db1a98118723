/*
 * test_cidr: prefix parsing (forms, errors), set lookups at the edges of
 * every range, IPv4 / IPv4-mapped IPv6 equivalence, merging, a 100,000
 * entry set checked against a brute-force scan; and the limit tables
 * (per-address connection counts with deletion, token buckets, the
 * per-address bucket table staying bounded under a flood).
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

#include "parse/cidr.h"
#include "edge/limit.h"

static struct sockaddr_storage
sa(const char *ip)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return ss;
}

static bool
has(const struct cidr_set *s, const char *ip)
{
	struct sockaddr_storage ss = sa(ip);

	return cidr_set_contains(s, (struct sockaddr *)&ss);
}

static void
add(struct cidr_set *s, const char *text)
{
	struct cidr_range r;
	char err[256];

	if (cidr_parse(text, &r, err, sizeof(err)) != 0)
		fail_msg("'%s': %s", text, err);
	cidr_set_add(s, &r);
}

static void
test_parse(void **state)
{
	static const char *const good[] = {
		"10.0.0.0/8", "0.0.0.0/0", "192.0.2.7", "192.0.2.7/32",
		"::/0", "::1", "2001:db8::/32", "::ffff:10.0.0.0/104",
		"fe80::/10", "255.255.255.255/32",
	};
	static const struct { const char *in, *why; } bad[] = {
		{ "", "invalid address" },
		{ "/8", "invalid address" },
		{ "10.0.0.0/", "prefix length" },
		{ "10.0.0.0/33", "prefix length" },
		{ "10.0.0.0/-1", "prefix length" },
		{ "10.0.0.0/8x", "prefix length" },
		{ "::/129", "prefix length" },
		{ "10.1.0.0/8", "bits set" },
		{ "2001:db8::1/32", "bits set" },
		{ "10.0.0", "invalid address" },
		{ "example.com/8", "invalid address" },
		{ "10.0.0.0/8/8", "prefix length" },
		{ " 10.0.0.0/8", "invalid address" },
	};
	struct cidr_range r;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (cidr_parse(good[i], &r, err, sizeof(err)) != 0)
			fail_msg("'%s' refused: %s", good[i], err);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cidr_parse(bad[i].in, &r, err, sizeof(err)) == 0)
			fail_msg("'%s' accepted", bad[i].in);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("'%s': '%s' lacks '%s'", bad[i].in, err, bad[i].why);
	}
}

static void
test_lookup(void **state)
{
	struct cidr_set s = { 0 };

	(void)state;
	add(&s, "10.0.0.0/8");
	add(&s, "192.0.2.7");
	add(&s, "2001:db8::/32");
	add(&s, "::1");
	cidr_set_finish(&s);
	assert_true(has(&s, "10.0.0.0"));
	assert_true(has(&s, "10.255.255.255"));
	assert_false(has(&s, "9.255.255.255"));
	assert_false(has(&s, "11.0.0.0"));
	assert_true(has(&s, "192.0.2.7"));
	assert_false(has(&s, "192.0.2.6"));
	assert_false(has(&s, "192.0.2.8"));
	/* IPv4-mapped IPv6 is the same address. */
	assert_true(has(&s, "::ffff:10.1.2.3"));
	assert_true(has(&s, "::ffff:192.0.2.7"));
	assert_false(has(&s, "::ffff:11.0.0.0"));
	/* ... but not IPv4-compatible (::10.1.2.3) or NAT64. */
	assert_false(has(&s, "::10.1.2.3"));
	assert_false(has(&s, "64:ff9b::10.1.2.3"));
	assert_true(has(&s, "2001:db8::"));
	assert_true(has(&s, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(has(&s, "2001:db9::"));
	assert_false(has(&s, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_true(has(&s, "::1"));
	assert_false(has(&s, "::2"));
	assert_false(has(&s, "::"));
	cidr_set_free(&s);

	/* The empty set and the whole space. */
	assert_false(has(&s, "1.2.3.4"));
	add(&s, "::/0");
	cidr_set_finish(&s);
	assert_true(has(&s, "::"));
	assert_true(has(&s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_true(has(&s, "::fffe:ffff:ffff"));
	assert_true(has(&s, "::1:0:0:0"));
	/* An IPv6 prefix matches IPv6 clients only (nginx's rule; issue 22,
	 * item 10): deny ::/0 must not lock IPv4 out. */
	assert_false(has(&s, "1.2.3.4"));
	assert_false(has(&s, "::ffff:1.2.3.4"));
	cidr_set_free(&s);
	add(&s, "::/64");
	cidr_set_finish(&s);
	assert_false(has(&s, "10.0.0.1"));
	assert_true(has(&s, "::2"));
	cidr_set_free(&s);
	/* A prefix inside the IPv4 block is the IPv4 prefix it spells. */
	add(&s, "::ffff:0:0/96");
	cidr_set_finish(&s);
	assert_true(has(&s, "1.2.3.4"));
	assert_false(has(&s, "::1"));
	cidr_set_free(&s);
	add(&s, "0.0.0.0/0");
	cidr_set_finish(&s);
	assert_true(has(&s, "0.0.0.0"));
	assert_true(has(&s, "255.255.255.255"));
	assert_true(has(&s, "::ffff:1.2.3.4"));
	assert_false(has(&s, "::1"));
	assert_false(has(&s, "2001:db8::1"));
	cidr_set_free(&s);
}

static void
test_merge(void **state)
{
	struct cidr_set s = { 0 };

	(void)state;
	add(&s, "10.0.0.1");
	add(&s, "10.0.0.0/24");
	add(&s, "10.0.1.0/24");		/* adjacent: merged */
	add(&s, "10.0.0.0/23");		/* duplicate of the two */
	add(&s, "10.0.3.0/24");		/* a gap at 10.0.2.0/24 */
	add(&s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120");
	add(&s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	add(&s, "::");
	add(&s, "::1");
	cidr_set_finish(&s);
	assert_int_equal(s.n + s.n4, 4);
	assert_int_equal(s.n4, 2);		/* the IPv4 ones, compact */
	assert_true(has(&s, "10.0.1.255"));
	assert_false(has(&s, "10.0.2.0"));
	assert_true(has(&s, "10.0.3.0"));
	assert_true(has(&s, "::"));
	assert_true(has(&s, "::1"));
	assert_false(has(&s, "::2"));
	assert_true(has(&s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	cidr_set_free(&s);
}

static uint32_t
rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* 100,000 random prefixes against a linear scan of the same prefixes. */
static void
test_large_vs_scan(void **state)
{
	enum { N = 100000, Q = 2000 };
	struct cidr_range *all = calloc(N, sizeof(*all));
	struct cidr_set s = { 0 };
	uint32_t x = 12345;

	(void)state;
	for (int i = 0; i < N; i++) {
		char text[64], err[128];
		uint32_t a = rnd(&x), len = 16 + rnd(&x) % 17;

		a &= len == 32 ? ~0u : ~(~0u >> len);
		snprintf(text, sizeof(text), "%u.%u.%u.%u/%u", a >> 24,
		    (a >> 16) & 255, (a >> 8) & 255, a & 255, len);
		assert_int_equal(cidr_parse(text, &all[i], err, sizeof(err)), 0);
		cidr_set_add(&s, &all[i]);
	}
	cidr_set_finish(&s);
	for (int q = 0; q < Q; q++) {
		uint32_t a = q % 2 ? rnd(&x) : (uint32_t)all[rnd(&x) % N].first.lo + q % 7;
		struct sockaddr_in in = { .sin_family = AF_INET };
		struct cidr_key k;
		bool want = false;

		in.sin_addr.s_addr = htonl(a);
		assert_true(cidr_key_of((struct sockaddr *)&in, &k));
		for (int i = 0; i < N && !want; i++)
			want = k.hi == all[i].first.hi && k.lo >= all[i].first.lo &&
			    k.lo <= all[i].last.lo;
		assert_int_equal(cidr_set_contains_key(&s, &k), want);
	}
	cidr_set_free(&s);
	free(all);
}

static struct cidr_key
key(uint32_t i)
{
	struct cidr_key k = { 0, 0xffff00000000ull | i };

	return k;
}

static void
test_conns(void **state)
{
	struct limit_conns t;
	struct cidr_key a = key(1), b = key(2);

	(void)state;
	limit_conns_init(&t, 4);
	assert_int_equal(limit_conns_acquire(&t, &a, 2), LIMIT_OK);
	assert_int_equal(limit_conns_acquire(&t, &a, 2), LIMIT_OK);
	assert_int_equal(limit_conns_acquire(&t, &a, 2), LIMIT_OVER);
	assert_int_equal(limit_conns_count(&t, &a), 2);
	assert_int_equal(limit_conns_acquire(&t, &b, 2), LIMIT_OK);
	limit_conns_release(&t, &a);
	assert_int_equal(limit_conns_acquire(&t, &a, 2), LIMIT_OK);
	limit_conns_release(&t, &a);
	limit_conns_release(&t, &a);
	assert_int_equal(limit_conns_count(&t, &a), 0);
	assert_int_equal(t.used, 1);
	/* Releasing what is not held changes nothing. */
	limit_conns_release(&t, &a);
	assert_int_equal(limit_conns_count(&t, &b), 1);
	limit_conns_release(&t, &b);
	assert_int_equal(t.used, 0);
	limit_conns_free(&t);

	/* Full: room for cap/2 addresses, then LIMIT_FULL for new ones,
	 * while those present may still count up. */
	limit_conns_init(&t, 8);
	for (uint32_t i = 0; i < t.max_used; i++) {
		struct cidr_key k = key(100 + i);

		assert_int_equal(limit_conns_acquire(&t, &k, 5), LIMIT_OK);
	}
	b = key(99);
	assert_int_equal(limit_conns_acquire(&t, &b, 5), LIMIT_FULL);
	a = key(100);
	assert_int_equal(limit_conns_acquire(&t, &a, 5), LIMIT_OK);
	limit_conns_free(&t);
}

/* Random acquire/release against a plain array of counts: deletion by
 * backward shift must never lose or duplicate an entry. */
static void
test_conns_churn(void **state)
{
	enum { KEYS = 300, OPS = 200000 };
	static uint32_t count[KEYS];
	struct limit_conns t;
	uint32_t x = 777;

	(void)state;
	limit_conns_init(&t, KEYS);
	for (int op = 0; op < OPS; op++) {
		uint32_t i = rnd(&x) % KEYS;
		struct cidr_key k = key(i * 2654435761u);

		if (rnd(&x) % 2) {
			enum limit_result r = limit_conns_acquire(&t, &k, 3);

			assert_int_equal(r, count[i] < 3 ? LIMIT_OK : LIMIT_OVER);
			if (r == LIMIT_OK)
				count[i]++;
		} else if (count[i] > 0) {
			limit_conns_release(&t, &k);
			count[i]--;
		}
		if (op % 1000 == 0) {
			uint32_t used = 0;

			for (uint32_t j = 0; j < KEYS; j++) {
				struct cidr_key kj = key(j * 2654435761u);

				assert_int_equal(limit_conns_count(&t, &kj), count[j]);
				used += count[j] > 0;
			}
			assert_int_equal(t.used, used);
		}
	}
	limit_conns_free(&t);
}

static void
test_bucket(void **state)
{
	struct limit_bucket b;
	int ok = 0;

	(void)state;
	limit_bucket_init(&b, 5, 1000);
	for (int i = 0; i < 10; i++)
		ok += limit_bucket_take(&b, 10, 5, 1000);
	assert_int_equal(ok, 5);		/* the burst */
	assert_false(limit_bucket_take(&b, 10, 5, 1099));
	assert_true(limit_bucket_take(&b, 10, 5, 1100));	/* 100 ms = 1 */
	assert_false(limit_bucket_take(&b, 10, 5, 1100));
	/* A long pause refills to the burst only. */
	ok = 0;
	for (int i = 0; i < 20; i++)
		ok += limit_bucket_take(&b, 10, 5, 100000);
	assert_int_equal(ok, 5);
	/* 1 per second, burst 1: exactly one a second over 10 s. */
	limit_bucket_init(&b, 1, 0);
	ok = 0;
	for (int ms = 0; ms < 10000; ms += 10)
		ok += limit_bucket_take(&b, 1, 1, ms);
	assert_int_equal(ok, 10);
	/* Time going backwards takes nothing and gives nothing. */
	assert_false(limit_bucket_take(&b, 1, 1, 5));
	/* A token given back (a later check refused) can be taken again,
	 * and never lifts the bucket past its burst. */
	limit_bucket_init(&b, 2, 0);
	assert_true(limit_bucket_take(&b, 1, 2, 0));
	assert_true(limit_bucket_take(&b, 1, 2, 0));
	assert_false(limit_bucket_take(&b, 1, 2, 0));
	limit_bucket_give(&b);
	assert_true(limit_bucket_take(&b, 1, 2, 0));
	assert_false(limit_bucket_take(&b, 1, 2, 0));
	limit_bucket_give(&b);
	limit_bucket_give(&b);
	limit_bucket_give(&b);
	ok = 0;
	for (int i = 0; i < 5; i++)
		ok += limit_bucket_take(&b, 1, 2, 0);
	assert_int_equal(ok, 2);
}

static void
test_rates(void **state)
{
	struct limit_rates t;
	struct cidr_key a = key(1);
	int ok = 0;

	(void)state;
	limit_rates_init(&t, 64);
	for (int i = 0; i < 10; i++)
		ok += limit_rates_take(&t, &a, 2, 3, 0);
	assert_int_equal(ok, 3);
	/* A flood of other addresses: the table does not grow, and an
	 * address seen recently keeps its (empty) bucket only while it is
	 * among the most recently used of its set. */
	for (uint32_t i = 0; i < 100000; i++) {
		struct cidr_key k = key(1000 + i);

		assert_true(limit_rates_take(&t, &k, 2, 3, 0));
	}
	assert_int_equal(t.nsets * LIMIT_RATE_WAYS, 64);
	limit_rates_free(&t);
	/* Heavy hitter stays limited while it keeps coming back. */
	limit_rates_init(&t, 64);
	ok = 0;
	for (uint32_t i = 0; i < 1000; i++) {
		struct cidr_key k = key(5000 + i);

		ok += limit_rates_take(&t, &a, 1, 1, 0);
		(void)limit_rates_take(&t, &k, 1, 1, 0);
	}
	assert_true(ok <= 2);
	limit_rates_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_large_vs_scan),
		cmocka_unit_test(test_conns),
		cmocka_unit_test(test_conns_churn),
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_rates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
