/*
 * test_check_reply: the HTTP status-line parser (good lines, garbage on its
 * first byte, partial input, overlong lines), the header-end scanner, the
 * expect_status sets (code, list, range, errors) and the agent-check line
 * parser (every word, combinations, descriptions, unknown words, limits).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "parse/check_reply.h"

static enum http_parse
sl(const char *s, int *code)
{
	*code = -1;
	return http_status_line(s, strlen(s), code);
}

static void
test_status_line(void **state)
{
	int code;

	(void)state;
	assert_int_equal(sl("HTTP/1.1 200 OK\r\n", &code), HTTP_DONE);
	assert_int_equal(code, 200);
	assert_int_equal(sl("HTTP/1.0 503 Service Unavailable\r\nX: y\r\n", &code), HTTP_DONE);
	assert_int_equal(code, 503);
	assert_int_equal(sl("HTTP/1.1 204\r\n", &code), HTTP_DONE);
	assert_int_equal(code, 204);
	assert_int_equal(sl("HTTP/1.1 404\n", &code), HTTP_DONE);
	assert_int_equal(code, 404);
	/* Partial input: more, never a verdict. */
	assert_int_equal(sl("", &code), HTTP_MORE);
	assert_int_equal(sl("HT", &code), HTTP_MORE);
	assert_int_equal(sl("HTTP/1.1 2", &code), HTTP_MORE);
	assert_int_equal(sl("HTTP/1.1 200 OK", &code), HTTP_MORE);
	/* Garbage is refused on its first wrong byte. */
	assert_int_equal(sl("G", &code), HTTP_BAD);
	assert_int_equal(sl("hello world\r\n", &code), HTTP_BAD);
	assert_int_equal(sl("HTTP/2 200\r\n", &code), HTTP_BAD);
	assert_int_equal(sl("HTTP/1.1 2x0 OK\r\n", &code), HTTP_BAD);
	assert_int_equal(sl("HTTP/1.1  200 OK\r\n", &code), HTTP_BAD);
	assert_int_equal(sl("HTTP/1.1 2000 OK\r\n", &code), HTTP_BAD);
	assert_int_equal(sl("HTTP/1.1 099 OK\r\n", &code), HTTP_BAD);
	assert_int_equal(sl("HTTP/1.1 700 OK\r\n", &code), HTTP_BAD);
	assert_int_equal(sl("HTTP/1.1 20\r\n", &code), HTTP_BAD);
	assert_int_equal(sl("HTTP/1.1 200 O\001K\r\n", &code), HTTP_BAD);
	/* Binary with a NUL. */
	assert_int_equal(http_status_line("HTTP/1\0", 7, &code), HTTP_BAD);
}

static void
test_status_line_long(void **state)
{
	size_t n = HTTP_CHECK_HEAD_MAX + 10;
	char *b = malloc(n);
	int code;

	(void)state;
	memcpy(b, "HTTP/1.1 200 ", 13);
	memset(b + 13, 'a', n - 13);
	assert_int_equal(http_status_line(b, 100, &code), HTTP_MORE);
	assert_int_equal(http_status_line(b, HTTP_CHECK_HEAD_MAX, &code), HTTP_TOO_LONG);
	free(b);
}

static void
test_head_end(void **state)
{
	size_t end = 0;
	const char *a = "HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody";
	const char *b = "HTTP/1.1 200 OK\nA: b\n\nbody";
	char *big;

	(void)state;
	assert_int_equal(http_head_end(a, strlen(a), &end), HTTP_DONE);
	assert_int_equal(end, strlen(a) - 4);
	assert_int_equal(http_head_end(b, strlen(b), &end), HTTP_DONE);
	assert_int_equal(end, strlen(b) - 4);
	assert_int_equal(http_head_end(a, 20, &end), HTTP_MORE);
	/* "\r\n\r" is not yet the end. */
	assert_int_equal(http_head_end(a, 24, &end), HTTP_MORE);
	big = malloc(HTTP_CHECK_HEAD_MAX);
	memset(big, 'x', HTTP_CHECK_HEAD_MAX);
	for (size_t i = 20; i < HTTP_CHECK_HEAD_MAX; i += 20)
		memcpy(big + i - 2, "\r\n", 2);
	assert_int_equal(http_head_end(big, HTTP_CHECK_HEAD_MAX - 1, &end), HTTP_MORE);
	assert_int_equal(http_head_end(big, HTTP_CHECK_HEAD_MAX, &end), HTTP_TOO_LONG);
	free(big);
}

static void
test_status_set(void **state)
{
	struct status_set s;
	char err[128];

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(status_set_parse(&s, "200", err, sizeof(err)), 0);
	assert_true(status_set_match(&s, 200));
	assert_false(status_set_match(&s, 201));

	memset(&s, 0, sizeof(s));
	assert_int_equal(status_set_parse(&s, "200-399", err, sizeof(err)), 0);
	assert_true(status_set_match(&s, 200));
	assert_true(status_set_match(&s, 302));
	assert_true(status_set_match(&s, 399));
	assert_false(status_set_match(&s, 199));
	assert_false(status_set_match(&s, 400));

	memset(&s, 0, sizeof(s));
	assert_int_equal(status_set_parse(&s, "200, 204,300 - 301", err, sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	assert_true(status_set_match(&s, 204));
	assert_true(status_set_match(&s, 301));
	assert_false(status_set_match(&s, 203));
	/* Items add up (a YAML list is parsed item by item). */
	assert_int_equal(status_set_parse(&s, "503", err, sizeof(err)), 0);
	assert_true(status_set_match(&s, 503));

	memset(&s, 0, sizeof(s));
	assert_int_equal(status_set_parse(&s, "", err, sizeof(err)), -1);
	assert_int_equal(status_set_parse(&s, "abc", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "abc"));
	assert_int_equal(status_set_parse(&s, "99", err, sizeof(err)), -1);
	assert_int_equal(status_set_parse(&s, "600", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "600"));
	assert_int_equal(status_set_parse(&s, "399-200", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "399-200"));
	assert_int_equal(status_set_parse(&s, "200,", err, sizeof(err)), -1);
	assert_int_equal(status_set_parse(&s, "200-", err, sizeof(err)), -1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(status_set_parse(&s,
	    "200,201,202,203,204,205,206,207,208,209,210,211,212,213,214,215",
	    err, sizeof(err)), 0);
	assert_int_equal(status_set_parse(&s, "216", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too many"));
}

static int
ap(const char *s, struct agent_reply *r, char *err)
{
	return agent_parse(s, strlen(s), r, err, 128);
}

static void
test_agent_words(void **state)
{
	struct agent_reply r;
	char err[128];

	(void)state;
	assert_int_equal(ap("up", &r, err), 0);
	assert_int_equal(r.health, AGENT_H_UP);
	assert_int_equal(r.admin, AGENT_A_NONE);
	assert_int_equal(r.weight_pct, -1);
	assert_int_equal(ap("DOWN", &r, err), 0);
	assert_int_equal(r.health, AGENT_H_DOWN);
	assert_int_equal(ap("fail", &r, err), 0);
	assert_int_equal(r.health, AGENT_H_DOWN);
	assert_int_equal(ap("stopped\r", &r, err), 0);
	assert_int_equal(r.health, AGENT_H_DOWN);
	assert_int_equal(ap("drain", &r, err), 0);
	assert_int_equal(r.admin, AGENT_A_DRAIN);
	assert_int_equal(r.health, AGENT_H_NONE);
	assert_int_equal(ap("maint", &r, err), 0);
	assert_int_equal(r.admin, AGENT_A_MAINT);
	assert_int_equal(ap("Ready", &r, err), 0);
	assert_int_equal(r.admin, AGENT_A_READY);
	assert_int_equal(ap("75%", &r, err), 0);
	assert_int_equal(r.weight_pct, 75);
	assert_int_equal(ap("0%", &r, err), 0);
	assert_int_equal(r.weight_pct, 0);
	assert_int_equal(ap("maxconn:30", &r, err), 0);
	assert_int_equal(r.maxconn, 30);
}

static void
test_agent_combinations(void **state)
{
	struct agent_reply r;
	char err[128];

	(void)state;
	assert_int_equal(ap("up 50% ready", &r, err), 0);
	assert_int_equal(r.health, AGENT_H_UP);
	assert_int_equal(r.admin, AGENT_A_READY);
	assert_int_equal(r.weight_pct, 50);
	assert_int_equal(ap("75%, drain", &r, err), 0);
	assert_int_equal(r.admin, AGENT_A_DRAIN);
	assert_int_equal(r.weight_pct, 75);
	assert_int_equal(ap("\tup,,maint  10%", &r, err), 0);
	assert_int_equal(r.health, AGENT_H_UP);
	assert_int_equal(r.admin, AGENT_A_MAINT);
	assert_int_equal(r.weight_pct, 10);
	assert_int_equal(ap("down#disk full", &r, err), 0);
	assert_int_equal(r.health, AGENT_H_DOWN);
	assert_non_null(r.desc);
	assert_int_equal(r.desc_len, 9);
	assert_memory_equal(r.desc, "disk full", 9);
	assert_int_equal(ap("down # not a word: foo", &r, err), 0);
	assert_int_equal(r.health, AGENT_H_DOWN);
	/* The last word of a kind wins, as in HAProxy. */
	assert_int_equal(ap("down up", &r, err), 0);
	assert_int_equal(r.health, AGENT_H_UP);
}

static void
test_agent_bad(void **state)
{
	struct agent_reply r;
	char err[128];
	char *big;

	(void)state;
	assert_int_equal(ap("", &r, err), -1);
	assert_non_null(strstr(err, "empty"));
	assert_int_equal(ap("  \r", &r, err), -1);
	assert_int_equal(ap("up sideways", &r, err), -1);
	assert_non_null(strstr(err, "sideways"));
	assert_int_equal(ap("x%", &r, err), -1);
	assert_int_equal(ap("%", &r, err), -1);
	assert_int_equal(ap("-5%", &r, err), -1);
	assert_int_equal(ap("99999999999%", &r, err), -1);
	assert_int_equal(ap("maxconn:", &r, err), -1);
	assert_int_equal(ap("maxconn:x", &r, err), -1);
	/* A hostile word is shown sanitised and bounded. */
	assert_int_equal(agent_parse("\x1b[31mred\"", 10, &r, err, sizeof(err)), -1);
	assert_null(strchr(err, '\x1b'));
	assert_null(strchr(err, '"'));
	big = malloc(100000);
	memset(big, 'z', 100000);
	assert_int_equal(agent_parse(big, 100000, &r, err, sizeof(err)), -1);
	assert_true(strlen(err) < 80);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_line),
		cmocka_unit_test(test_status_line_long),
		cmocka_unit_test(test_head_end),
		cmocka_unit_test(test_status_set),
		cmocka_unit_test(test_agent_words),
		cmocka_unit_test(test_agent_combinations),
		cmocka_unit_test(test_agent_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
