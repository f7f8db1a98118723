/*
 * metrics_carry: which samples an old process writes (counters not
 * carried with a server's or listener's state, integers only), and how a
 * new process adds them to its own rendering -- same name and labels, the
 * rest untouched.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/metrics_carry.h"

static const char old_text[] =
    "# HELP tcplb_reloads_total Reloads.\n"
    "# TYPE tcplb_reloads_total counter\n"
    "tcplb_reloads_total 2\n"
    "# TYPE tcplb_refused_connections_total counter\n"
    "tcplb_refused_connections_total{reason=\"denied\"} 7\n"
    "tcplb_refused_connections_total{reason=\"a b\"} 1\n"
    "# TYPE tcplb_workers gauge\n"
    "tcplb_workers 4\n"
    "# TYPE tcplb_server_connections_total counter\n"
    "tcplb_server_connections_total{pool=\"p\",server=\"s\"} 9\n"
    "# TYPE tcplb_pool_queued_total counter\n"
    "tcplb_pool_queued_total{pool=\"p\"} 3\n"
    "# TYPE tcplb_pool_connections_total counter\n"
    "tcplb_pool_connections_total{pool=\"p\"} 9\n"
    "# TYPE tcplb_x_seconds_total counter\n"
    "tcplb_x_seconds_total 1.5\n";

static void
test_write(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	metrics_carry_write(f, old_text, strlen(old_text), "metric");
	fclose(f);
	/* Counters only, not the structural families. */
	assert_string_equal(buf,
	    "metric 2 tcplb_reloads_total\n"
	    "metric 7 tcplb_refused_connections_total{reason=\"denied\"}\n"
	    "metric 1 tcplb_refused_connections_total{reason=\"a b\"}\n"
	    "metric 3 tcplb_pool_queued_total{pool=\"p\"}\n"
	    "metric 1.5 tcplb_x_seconds_total\n");
	free(buf);
}

static void
test_apply(void **state)
{
	struct sbuf b = { 0 };
	const char *now =
	    "# TYPE tcplb_reloads_total counter\n"
	    "tcplb_reloads_total 1\n"
	    "# TYPE tcplb_refused_connections_total counter\n"
	    "tcplb_refused_connections_total{reason=\"denied\"} 0\n"
	    "tcplb_refused_connections_total{reason=\"a b\"} 5\n"
	    "# TYPE tcplb_workers gauge\n"
	    "tcplb_workers 2\n"
	    "# TYPE tcplb_server_connections_total counter\n"
	    "tcplb_server_connections_total{pool=\"p\",server=\"s\"} 10\n";

	(void)state;
	/* Nothing carried: untouched. */
	sbuf_puts(&b, "HEAD\n");
	sbuf_puts(&b, now);
	metrics_carry_apply(&b, 5);
	assert_string_equal(b.p + 5, now);

	metrics_carry_take("2 tcplb_reloads_total");
	metrics_carry_take("7 tcplb_refused_connections_total{reason=\"denied\"}");
	metrics_carry_take("1 tcplb_refused_connections_total{reason=\"a b\"}");
	metrics_carry_take("4 tcplb_workers");	/* not a counter here: ignored */
	metrics_carry_take("junk");
	metrics_carry_apply(&b, 5);
	assert_string_equal(b.p,
	    "HEAD\n"
	    "# TYPE tcplb_reloads_total counter\n"
	    "tcplb_reloads_total 3\n"
	    "# TYPE tcplb_refused_connections_total counter\n"
	    "tcplb_refused_connections_total{reason=\"denied\"} 7\n"
	    "tcplb_refused_connections_total{reason=\"a b\"} 6\n"
	    "# TYPE tcplb_workers gauge\n"
	    "tcplb_workers 2\n"
	    "# TYPE tcplb_server_connections_total counter\n"
	    "tcplb_server_connections_total{pool=\"p\",server=\"s\"} 10\n");
	/* Seconds: floating point. */
	metrics_carry_take("1.5 tcplb_x_seconds_total");
	sbuf_reset(&b);
	sbuf_puts(&b, "# TYPE tcplb_x_seconds_total counter\ntcplb_x_seconds_total 0.25\n");
	metrics_carry_apply(&b, 0);
	assert_string_equal(b.p, "# TYPE tcplb_x_seconds_total counter\ntcplb_x_seconds_total 1.75\n");
	/* Read again at the handover: the later values replace. */
	metrics_carry_reset();
	metrics_carry_take("9 tcplb_reloads_total");
	sbuf_reset(&b);
	sbuf_puts(&b, "# TYPE tcplb_reloads_total counter\ntcplb_reloads_total 1\n");
	metrics_carry_apply(&b, 0);
	assert_string_equal(b.p, "# TYPE tcplb_reloads_total counter\ntcplb_reloads_total 10\n");
	sbuf_free(&b);
	metrics_carry_reset();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_apply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
