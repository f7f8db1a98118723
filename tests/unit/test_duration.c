/*
 * test_duration: every accepted spelling of a duration, each rejected one
 * with its message, the exactness of fractions, and printing back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "base/duration.h"

static uint64_t
ok(const char *s)
{
	uint64_t ms = 12345;
	char err[128] = "";

	if (duration_parse(s, &ms, err, sizeof(err)) != 0)
		fail_msg("'%s' rejected: %s", s, err);
	return ms;
}

static void
bad(const char *s, const char *msg)
{
	uint64_t ms = 777;
	char err[128];

	assert_int_equal(duration_parse(s, &ms, err, sizeof(err)), -1);
	assert_string_equal(err, msg);
	assert_int_equal(ms, 777);
}

static void
test_units(void **state)
{
	(void)state;
	assert_int_equal(ok("0"), 0);
	assert_int_equal(ok("30"), 30000);
	assert_int_equal(ok("250ms"), 250);
	assert_int_equal(ok("30s"), 30000);
	assert_int_equal(ok("5m"), 300000);
	assert_int_equal(ok("1h"), 3600000);
	assert_int_equal(ok("0ms"), 0);
	assert_int_equal(ok("007s"), 7000);
}

static void
test_fractions(void **state)
{
	(void)state;
	assert_int_equal(ok("1.5s"), 1500);
	assert_int_equal(ok("0.1s"), 100);
	assert_int_equal(ok("0.001s"), 1);
	assert_int_equal(ok("1.5"), 1500);
	assert_int_equal(ok("0.5m"), 30000);
	assert_int_equal(ok("2.25h"), 8100000);
	assert_int_equal(ok("1.0ms"), 1);
	assert_int_equal(ok("1.5000000000000s"), 1500);
	bad("0.5ms", "finer than a millisecond");
	bad("1.0001s", "finer than a millisecond");
	bad("1.", "expected a digit after '.'");
	bad("1.s", "expected a digit after '.'");
}

static void
test_rejects(void **state)
{
	(void)state;
	bad("", "empty duration");
	bad("-1s", "a sign is not allowed");
	bad("+1s", "a sign is not allowed");
	bad("fast", "unknown unit (expected a number with an optional unit: "
	    "ms, s, m or h)");
	bad(".5s", "unknown unit (expected a number with an optional unit: "
	    "ms, s, m or h)");
	bad("5d", "unknown unit 'd' (ms, s, m or h)");
	bad("5 s", "unknown unit ' s' (ms, s, m or h)");
	bad("5S", "unknown unit 'S' (ms, s, m or h)");
	bad("5sec", "unknown unit 'sec' (ms, s, m or h)");
}

static void
test_range(void **state)
{
	char buf[32];

	(void)state;
	assert_int_equal(ok("8784h"), DURATION_MAX_MS);
	assert_int_equal(ok(duration_format(DURATION_MAX_MS, buf, sizeof(buf))),
	    DURATION_MAX_MS);
	bad("8785h", "too large (at most 8784h)");
	bad("8784.001h", "too large (at most 8784h)");
	bad("31622400001ms", "too large (at most 8784h)");
	bad("99999999999999999999999999s", "too large (at most 8784h)");
	bad("18446744073709551616", "too large (at most 8784h)");
}

static void
test_format(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(duration_format(0, buf, sizeof(buf)), "0s");
	assert_string_equal(duration_format(1500, buf, sizeof(buf)), "1500ms");
	assert_string_equal(duration_format(60000, buf, sizeof(buf)), "1m");
	assert_string_equal(duration_format(90000, buf, sizeof(buf)), "90s");
	assert_string_equal(duration_format(7200000, buf, sizeof(buf)), "2h");
	assert_string_equal(duration_format(1, buf, sizeof(buf)), "1ms");
	/* Round trip. */
	for (uint64_t ms = 1; ms < 5000000; ms = ms * 3 + 7)
		assert_int_equal(ok(duration_format(ms, buf, sizeof(buf))), ms);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_fractions),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
