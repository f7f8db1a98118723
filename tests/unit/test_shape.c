/*
 * test_shape: bandwidth limits offline -- the byte-rate parser and the
 * token bucket (rate over simulated seconds, the largest burst, the wait
 * for a quantum) -- and relay_pump() over a socketpair reading no more
 * than its quota on the buffered path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parse/byterate.h"
#include "relay/relay.h"
#include "relay/shape.h"

static void
test_byterate(void **state)
{
	static const struct { const char *s; uint64_t v; } ok[] = {
		{ "1000/s", 1000 }, { "10MB/s", 10000000 },
		{ "512KiB/s", 524288 }, { "100Mbit/s", 12500000 },
		{ "1.5GB/s", 1500000000 }, { "2.25kB/s", 2250 },
		{ "1Gbit/s", 125000000 }, { "12bit/s", 1 }, { "9B/s", 9 },
		{ "0.001MB/s", 1000 }, { "3kbit/s", 375 },
		{ "1TB/s", 1000000000000ull },
	};
	static const char *const bad[] = {
		"", "10", "10MB", "10 MB/s", "MB/s", "10mb/s", "1.MB/s",
		"1.2345MB/s", "-1MB/s", "10MB/h", "99999999999999999999/s",
		"99999999999999GB/s",
	};
	char why[128], buf[32];
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(byterate_parse(ok[i].s, &v, why, sizeof(why)), 0);
		assert_int_equal(v, ok[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(byterate_parse(bad[i], &v, why, sizeof(why)), -1);
		assert_true(why[0] != '\0');
	}
	byterate_parse("10mb/s", &v, why, sizeof(why));
	assert_string_equal(why, "unknown unit 'mb' (" BYTERATE_UNITS ")");
	byterate_format(1000, buf, sizeof(buf));
	assert_string_equal(buf, "1kB/s");
	byterate_format(12500000, buf, sizeof(buf));
	assert_string_equal(buf, "12.5MB/s");
	byterate_format(1000000000000ull, buf, sizeof(buf));
	assert_string_equal(buf, "1TB/s");
}

/* A reader that takes all it may every 1 ms for 5 s: within 1% of the
 * rate (the first quantum is the only excess). */
static void
test_bucket_rate(void **state)
{
	static const uint64_t rates[] = { 1000, 200000, 20000000, 1000000000 };

	(void)state;
	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		struct shape_bucket b;
		uint64_t got = 0;
		double t;

		shape_bucket_init(&b, rates[r], 100.0);
		for (t = 100.0; t < 105.0; t += 0.001) {
			uint64_t q = shape_bucket_quota(&b, t);

			got += q;
			shape_bucket_charge(&b, got);
		}
		printf("rate %llu B/s: %llu bytes in 5 s (%.3f%% of the rate)\n",
		    (unsigned long long)rates[r], (unsigned long long)got,
		    100.0 * (double)got / (5.0 * (double)rates[r]));
		assert_true((double)got <= 5.0 * (double)rates[r] * 1.01);
		assert_true((double)got >= 5.0 * (double)rates[r] * 0.99);
	}
}

/* Idle for a minute: the burst is one second's worth, no more. */
static void
test_bucket_burst(void **state)
{
	struct shape_bucket b;

	(void)state;
	shape_bucket_init(&b, 1000000, 0.0);
	assert_int_equal(shape_bucket_quota(&b, 0.0), 20000);	/* 20 ms */
	assert_int_equal(shape_bucket_quota(&b, 60.0), 1000000);
	shape_bucket_charge(&b, 1000000);
	assert_int_equal(shape_bucket_quota(&b, 60.0), 0);
	/* a quantum (20 ms worth) later */
	assert_true(shape_bucket_wait(&b) > 0.0199 &&
	    shape_bucket_wait(&b) < 0.0201);
	/* an uncapped read overdraws; the wait grows to match */
	shape_bucket_charge(&b, 1000000 + 500000);
	assert_true(shape_bucket_wait(&b) > 0.519 && shape_bucket_wait(&b) < 0.521);
	assert_int_equal(shape_bucket_quota(&b, 60.3), 0);
	/* slow rates: a quantum is at most one second's worth */
	shape_bucket_init(&b, 1000, 0.0);
	assert_int_equal(shape_bucket_quota(&b, 0.0), 20);
	shape_bucket_charge(&b, 20);
	assert_true(shape_bucket_wait(&b) > 0.999 && shape_bucket_wait(&b) < 1.001);
}

/* relay_pump reads no more than the quota, buffered or spliced. */
static void
test_relay_quota(void **state)
{
	struct relay_pools rp;
	int a[2], b[2];
	static char blob[200000];
	char sink[200000];

	(void)state;
	for (int splice = 0; splice < 2; splice++) {
		struct relay_dir d;
		ssize_t n;
		enum relay_status st;

		relay_pools_init(&rp, 4, 4, splice);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
		fcntl(a[1], F_SETFL, O_NONBLOCK);
		fcntl(b[0], F_SETFL, O_NONBLOCK);
		memset(&d, 0, sizeof(d));
		relay_init(&d);
		n = write(a[0], blob, 100000);
		assert_true(n > 50000);
		d.limited = true;
		d.quota = 3000;
		st = relay_pump(&d, a[1], b[0], &rp, true);
		assert_int_equal(st, RELAY_OK);
		assert_int_equal(d.rbytes, 3000);
		assert_int_equal(d.quota, 0);
		assert_false(relay_wants_read(&d));
		/* a bigger quota: more reads, never past it */
		d.quota = 40000;
		for (int i = 0; i < 8 && relay_wants_read(&d); i++)
			relay_pump(&d, a[1], b[0], &rp, true);
		assert_int_equal(d.rbytes, 43000);
		assert_int_equal(read(b[1], sink, sizeof(sink)) > 0, 1);
		relay_release(&d, &rp);
		relay_pools_destroy(&rp);
		close(a[0]);
		close(a[1]);
		close(b[0]);
		close(b[1]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_byterate),
		cmocka_unit_test(test_bucket_rate),
		cmocka_unit_test(test_bucket_burst),
		cmocka_unit_test(test_relay_quota),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
