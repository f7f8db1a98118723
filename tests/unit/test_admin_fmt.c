/*
 * test_admin_fmt: the output buffer and every escaper -- JSON strings
 * (quotes, control characters, invalid UTF-8), Prometheus label values, HTML
 * text, whitespace-free text fields -- so that no name can break out of its
 * field, label or cell.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "control/admin_fmt.h"

typedef void (*esc_fn)(struct sbuf *, const char *);

static void
esc(esc_fn f, const char *in, const char *want)
{
	struct sbuf b = { 0 };

	f(&b, in);
	assert_string_equal(b.p, want);
	assert_int_equal(b.len, strlen(want));
	sbuf_free(&b);
}

static void
test_sbuf(void **state)
{
	struct sbuf b = { 0 };
	char big[5000];

	(void)state;
	sbuf_puts(&b, "ab");
	sbuf_printf(&b, "%d-%s", 42, "x");
	assert_string_equal(b.p, "ab42-x");
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sbuf_printf(&b, "%s!", big);
	assert_int_equal(b.len, 6 + 4999 + 1);
	assert_int_equal(b.p[b.len - 1], '!');
	sbuf_consume(&b, 6);
	assert_int_equal(b.len, 5000);
	assert_int_equal(b.p[0], 'q');
	sbuf_consume(&b, 10000);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.p, "");
	sbuf_add(&b, "z", 1);
	sbuf_reset(&b);
	assert_int_equal(b.len, 0);
	sbuf_free(&b);
	assert_null(b.p);
}

static void
test_json(void **state)
{
	(void)state;
	esc(sbuf_json_str, "plain", "\"plain\"");
	esc(sbuf_json_str, "", "\"\"");
	esc(sbuf_json_str, NULL, "\"\"");
	esc(sbuf_json_str, "a\"b\\c", "\"a\\\"b\\\\c\"");
	esc(sbuf_json_str, "l1\nl2\r\t", "\"l1\\nl2\\r\\t\"");
	esc(sbuf_json_str, "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	esc(sbuf_json_str, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* invalid UTF-8: lone continuation, truncated, overlong, surrogate */
	esc(sbuf_json_str, "a\x80z", "\"a\\ufffdz\"");
	esc(sbuf_json_str, "\xc3", "\"\\ufffd\"");
	esc(sbuf_json_str, "\xc0\xaf", "\"\\ufffd\\ufffd\"");
	esc(sbuf_json_str, "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	esc(sbuf_json_str, "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	esc(sbuf_json_str, "</script>", "\"</script>\"");
}

static void
test_prom(void **state)
{
	(void)state;
	esc(sbuf_prom_label, "web", "web");
	esc(sbuf_prom_label, "we\"b\\x\ny", "we\\\"b\\\\x\\ny");
	esc(sbuf_prom_label, "caf\xc3\xa9", "caf\xc3\xa9");
	esc(sbuf_prom_label, "bad\xff", "bad?");
}

static void
test_html(void **state)
{
	(void)state;
	esc(sbuf_html, "<b>&\"'x", "&lt;b&gt;&amp;&quot;&#39;x");
	esc(sbuf_html, "tab\there", "tab?here");
	esc(sbuf_html, "caf\xc3\xa9", "caf\xc3\xa9");
}

static void
test_field(void **state)
{
	struct sbuf b = { 0 };

	(void)state;
	esc(sbuf_field, "app2", "app2");
	esc(sbuf_field, "", "-");
	esc(sbuf_field, NULL, "-");
	/* Distinct names stay distinct; UTF-8 stays UTF-8 (issue 21). */
	esc(sbuf_field, "a b", "a\\x20b");
	esc(sbuf_field, "a_b", "a_b");
	esc(sbuf_field, "a\\x20b", "a\\\\x20b");
	esc(sbuf_field, "-", "\\x2d");
	esc(sbuf_field, "a\nb\tc\xc3\xa9", "a\\x0ab\\x09c\xc3\xa9");
	esc(sbuf_field, "\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac");
	esc(sbuf_field, "bad\xff", "bad\\xff");
	/* U+202E (right-to-left override) and U+00A0 (no-break space). */
	esc(sbuf_field, "x\xe2\x80\xaey\xc2\xa0", "x\\xe2\\x80\\xaey\\xc2\\xa0");
	esc(sbuf_word, "connection refused", "connection_refused");
	esc(sbuf_word, "caf\xc3\xa9 \x01", "caf\xc3\xa9_?");
	sbuf_prom_double(&b, 3);
	sbuf_add(&b, " ", 1);
	sbuf_prom_double(&b, 0.25);
	sbuf_add(&b, " ", 1);
	sbuf_prom_double(&b, 12345678901.0);
	assert_string_equal(b.p, "3 0.25 12345678901");
	sbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sbuf),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_prom),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
