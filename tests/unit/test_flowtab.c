/* Unit tests for the flow table (dgram/flowtab.c): keys from IPv4 and
 * IPv6 addresses (an IPv4 client and its v4-mapped form are one key; the
 * port and the listening socket tell flows apart), insert/find/remove
 * through growth, and a seed that changes the hash. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dgram/flowtab.h"

static struct sockaddr_in
v4(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static void
test_keys(void **state)
{
	struct flowtab_key a, b, c;
	struct sockaddr_in x = v4("192.0.2.1", 53);
	struct sockaddr_in6 y = { .sin6_family = AF_INET6, .sin6_port = htons(53) };
	struct sockaddr_un { sa_family_t f; } z = { AF_UNIX };

	(void)state;
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &y.sin6_addr);
	assert_int_equal(flowtab_key_make(&a, (struct sockaddr *)&x, 7), 0);
	assert_int_equal(flowtab_key_make(&b, (struct sockaddr *)&y, 7), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(flowtab_key_make(&c, (struct sockaddr *)&x, 8), 0);
	assert_memory_not_equal(&a, &c, sizeof(a));
	assert_int_equal(flowtab_key_make(&c, (struct sockaddr *)&z, 7), -1);
}

struct ent {
	struct flowtab_node node;
	int id;
};

static void
test_insert_find_remove(void **state)
{
	enum { N = 5000 };
	struct flowtab t;
	struct ent *e = calloc(N, sizeof(*e));
	char ip[32];

	(void)state;
	flowtab_init(&t, 12345);
	for (int i = 0; i < N; i++) {
		struct sockaddr_in a;

		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		a = v4(ip, 1000 + i % 7);
		flowtab_key_make(&e[i].node.key, (struct sockaddr *)&a, 3);
		e[i].node.hash = flowtab_hash(&t, &e[i].node.key);
		e[i].id = i;
		assert_null(flowtab_find(&t, &e[i].node.key, e[i].node.hash));
		flowtab_insert(&t, &e[i].node);
	}
	assert_int_equal(t.n, N);
	assert_true(t.nb >= N);
	for (int i = 0; i < N; i++) {
		struct flowtab_node *n = flowtab_find(&t, &e[i].node.key,
		    flowtab_hash(&t, &e[i].node.key));

		assert_ptr_equal(n, &e[i].node);
	}
	/* the same address on another port, or another socket: not found */
	{
		struct flowtab_key k = e[0].node.key;

		k.port ^= 1;
		assert_null(flowtab_find(&t, &k, flowtab_hash(&t, &k)));
		k = e[0].node.key;
		k.lfd = 4;
		assert_null(flowtab_find(&t, &k, flowtab_hash(&t, &k)));
	}
	for (int i = 0; i < N; i += 2)
		flowtab_remove(&t, &e[i].node);
	assert_int_equal(t.n, N / 2);
	for (int i = 0; i < N; i++) {
		struct flowtab_node *n = flowtab_find(&t, &e[i].node.key,
		    e[i].node.hash);

		if (i % 2)
			assert_ptr_equal(n, &e[i].node);
		else
			assert_null(n);
	}
	flowtab_free(&t);
	free(e);
}

static void
test_seed(void **state)
{
	struct flowtab a, b;
	struct flowtab_key k;
	struct sockaddr_in x = v4("198.51.100.7", 4242);
	int differ = 0;

	(void)state;
	flowtab_key_make(&k, (struct sockaddr *)&x, 5);
	flowtab_init(&a, 1);
	flowtab_init(&b, 2);
	differ = flowtab_hash(&a, &k) != flowtab_hash(&b, &k);
	assert_true(differ);
	flowtab_free(&a);
	flowtab_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_insert_find_remove),
		cmocka_unit_test(test_seed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
