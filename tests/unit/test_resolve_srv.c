/* Unit tests for SRV answer -> servers (resolve_srv.c): lowest priority
 * primary, the rest backup; weights kept, scaled to 1-256, 0 -> 1; "."
 * and repeats dropped; a stable order whatever the answer's order; the
 * target cap. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "dns/resolve.h"
#include "dns/resolve_srv.h"

static struct srv_record
rec(const char *target, uint16_t prio, uint16_t weight, uint16_t port)
{
	struct srv_record r;

	memset(&r, 0, sizeof(r));
	snprintf(r.target, sizeof(r.target), "%s", target);
	r.priority = prio;
	r.weight = weight;
	r.port = port;
	return r;
}

static void
test_priorities_and_weights(void **state)
{
	struct srv_record r[] = {
		rec("c.example", 20, 5, 8080),
		rec("b.example", 10, 3, 8080),
		rec("a.example", 10, 1, 8081),
		rec("d.example", 30, 0, 8080),
	};
	struct srv_target t[SRV_MAX_TARGETS];
	size_t dropped, n = resolve_srv_expand(r, 4, t, &dropped);

	(void)state;
	assert_int_equal(n, 4);
	assert_int_equal(dropped, 0);
	/* priority 10 first (primary), sorted by name; then backups */
	assert_string_equal(t[0].rec->target, "a.example");
	assert_int_equal(t[0].rec->port, 8081);
	assert_int_equal(t[0].weight, 1);
	assert_false(t[0].backup);
	assert_string_equal(t[1].rec->target, "b.example");
	assert_int_equal(t[1].weight, 3);
	assert_false(t[1].backup);
	assert_string_equal(t[2].rec->target, "c.example");
	assert_int_equal(t[2].weight, 5);
	assert_true(t[2].backup);
	/* weight 0: "rarely", not never */
	assert_string_equal(t[3].rec->target, "d.example");
	assert_int_equal(t[3].weight, 1);
	assert_true(t[3].backup);
}

static void
test_scaling_and_order(void **state)
{
	struct srv_record r[] = {
		rec("b", 1, 65535, 1),
		rec("a", 1, 1000, 1),
		rec("c", 1, 1, 1),
	};
	struct srv_record r2[] = { r[2], r[0], r[1] };
	struct srv_target t[SRV_MAX_TARGETS], t2[SRV_MAX_TARGETS];
	size_t dropped, n = resolve_srv_expand(r, 3, t, &dropped);

	(void)state;
	assert_int_equal(n, 3);
	/* largest becomes 256, ratios kept (rounded up), never 0 */
	assert_string_equal(t[0].rec->target, "a");
	assert_int_equal(t[0].weight, 4);	/* ceil(1000*256/65535) */
	assert_string_equal(t[1].rec->target, "b");
	assert_int_equal(t[1].weight, 256);
	assert_int_equal(t[2].weight, 1);
	/* the same answer in another order gives the same list */
	assert_int_equal(resolve_srv_expand(r2, 3, t2, &dropped), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(t[i].rec->target, t2[i].rec->target);
		assert_int_equal(t[i].weight, t2[i].weight);
	}
}

static void
test_dropped(void **state)
{
	struct srv_record r[SRV_MAX_TARGETS + 10];
	struct srv_target t[SRV_MAX_TARGETS];
	size_t dropped, n;
	char name[32];

	(void)state;
	/* "." means no service; repeats (even at another priority, another
	 * case) count once, at their lowest priority; port 0 is unusable */
	r[0] = rec(".", 0, 0, 0);
	r[1] = rec("a", 5, 1, 80);
	r[2] = rec("A", 1, 2, 80);
	r[3] = rec("b", 9, 1, 0);
	n = resolve_srv_expand(r, 4, t, &dropped);
	assert_int_equal(n, 1);
	assert_int_equal(t[0].rec->priority, 1);
	assert_false(t[0].backup);
	assert_int_equal(resolve_srv_expand(r, 1, t, &dropped), 0);
	assert_int_equal(resolve_srv_expand(r, 0, t, &dropped), 0);
	/* more targets than the cap: the first by priority/name are kept */
	for (int i = 0; i < SRV_MAX_TARGETS + 10; i++) {
		snprintf(name, sizeof(name), "t%03d", i);
		r[i] = rec(name, 0, 1, 80);
	}
	n = resolve_srv_expand(r, SRV_MAX_TARGETS + 10, t, &dropped);
	assert_int_equal(n, SRV_MAX_TARGETS);
	assert_int_equal(dropped, 10);
	assert_string_equal(t[0].rec->target, "t000");
}

/* A target repeated at a later priority, not next to its first record
 * after sorting, must not take a distinct target's place under the cap. */
static void
test_cap_after_repeats(void **state)
{
	struct srv_record r[SRV_MAX_TARGETS + 2];
	struct srv_target t[SRV_MAX_TARGETS];
	size_t dropped, n, k = 0;
	char name[32];

	(void)state;
	r[k++] = rec("m.example", 1, 1, 80);
	r[k++] = rec("z.example", 1, 1, 80);
	r[k++] = rec("m.example", 2, 1, 80);
	for (int i = 0; i < SRV_MAX_TARGETS - 2; i++) {
		snprintf(name, sizeof(name), "t%03d", i);
		r[k++] = rec(name, 2, 1, 80);
	}
	r[k++] = rec("zz.example", 2, 1, 80);
	n = resolve_srv_expand(r, k, t, &dropped);
	assert_int_equal(n, SRV_MAX_TARGETS);
	assert_int_equal(dropped, 1);
	for (size_t i = 0; i < n; i++)
		assert_string_not_equal(t[i].rec->target, "zz.example");
	assert_string_equal(t[n - 1].rec->target, "t061");
}

static struct resolved_addr
raddr(const char *ip, uint16_t port, uint32_t weight, bool backup)
{
	struct resolved_addr a;
	struct sockaddr_in *in = (struct sockaddr_in *)&a.addr;

	memset(&a, 0, sizeof(a));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	inet_pton(AF_INET, ip, &in->sin_addr);
	a.weight = weight;
	a.backup = backup;
	return a;
}

/* Two SRV targets resolving to one address: the same one is kept (a
 * primary, the higher weight) whichever answer came first, or each round
 * would differ from the last and build a new generation. */
static void
test_sort_repeat_stable(void **state)
{
	struct resolved_addr v1[] = {
		raddr("10.0.0.1", 80, 5, false),
		raddr("10.0.0.1", 80, 50, false),
		raddr("10.0.0.2", 80, 7, true),
		raddr("10.0.0.2", 80, 3, false),
	};
	struct resolved_addr v2[] = { v1[3], v1[1], v1[2], v1[0] };

	(void)state;
	assert_int_equal(resolved_sort(v1, 4), 2);
	assert_int_equal(resolved_sort(v2, 4), 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(v1[i].weight, v2[i].weight);
		assert_int_equal(v1[i].backup, v2[i].backup);
	}
	assert_int_equal(v1[0].weight, 50);
	assert_false(v1[1].backup);
	assert_int_equal(v1[1].weight, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_priorities_and_weights),
		cmocka_unit_test(test_scaling_and_order),
		cmocka_unit_test(test_dropped),
		cmocka_unit_test(test_sort_repeat_stable),
		cmocka_unit_test(test_cap_after_repeats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
