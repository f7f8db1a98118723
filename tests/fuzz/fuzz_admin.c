/*
 * fuzz_admin: libFuzzer target for what the admin socket and the metrics
 * endpoint do with bytes they do not control -- admin_cmd_parse() on the raw
 * input (any bytes, any length), and every escaper of admin_fmt on a
 * NUL-terminated copy -- with invariants:
 *   - a rejection has a NUL-terminated, single-line, printable message;
 *   - an accepted command has NUL-terminated, blank-free pool/server names,
 *     a known verb, a weight <= 256 and a state of ready/drain/maint;
 *   - JSON output has no raw control character and no unescaped quote;
 *     Prometheus labels no raw newline or unescaped quote; HTML no < > & "
 *     except in entities; text fields no blank or control byte.
 */
#include "autoconfig.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/admin_cmd.h"
#include "control/admin_fmt.h"
#include "config/gen.h"

/* Strict UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
static bool
utf8_valid(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = p[i], len, cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
		if (len == 0 || c > 0xf4 || i + len > n)
			return false;
		cp = c & (0x7f >> len);
		for (unsigned k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A name argument is a lookup key, terminated within its buffer.  It may
 * hold any byte but NUL: commands accept the \xHH escapes the text
 * answers print (sbuf_field), so "a\x20b" is the name "a b". */
static void
check_name(const char *s, size_t cap)
{
	if (memchr(s, '\0', cap) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct admin_cmd c;
	struct sbuf b = { 0 };
	char err[512];
	char *s;

	memset(err, 'x', sizeof(err));
	if (admin_cmd_parse((const char *)data, size, &c, err, sizeof(err)) == 0) {
		if (c.verb > ADM_DEL_SERVER)
			abort();
		check_name(c.pool, sizeof(c.pool));
		check_name(c.server, sizeof(c.server));
		if (c.weight > ADMIN_WEIGHT_MAX)
			abort();
		if (c.state != SRV_ADMIN_READY && c.state != SRV_ADMIN_DRAIN &&
		    c.state != SRV_ADMIN_MAINT)
			abort();
	} else {
		if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
			abort();
		for (const char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				abort();
	}

	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';

	sbuf_json_str(&b, s);
	if (b.len < 2 || b.p[0] != '"' || b.p[b.len - 1] != '"')
		abort();
	for (size_t i = 1; i + 1 < b.len; i++) {
		unsigned char ch = (unsigned char)b.p[i];

		if (ch < 0x20 || ch == 0x7f)
			abort();
		if (ch == '\\') {
			i++;		/* the escaped character */
			continue;
		}
		if (ch == '"')
			abort();
	}
	sbuf_reset(&b);
	sbuf_prom_label(&b, s);
	for (size_t i = 0; i < b.len; i++) {
		if (b.p[i] == '\\') {
			i++;
			continue;
		}
		if (b.p[i] == '"' || b.p[i] == '\n')
			abort();
	}
	sbuf_reset(&b);
	sbuf_html(&b, s);
	for (size_t i = 0; i < b.len; i++)
		if (b.p[i] == '<' || b.p[i] == '>' || b.p[i] == '"' || b.p[i] == '\'' ||
		    (unsigned char)b.p[i] < 0x20)
			abort();
	sbuf_reset(&b);
	sbuf_field(&b, s);
	if (b.len == 0)
		abort();
	/* A text field: no space, control byte or DEL (they are escaped as
	 * \xHH), and what is above ASCII is valid UTF-8, shown as is. */
	for (size_t i = 0; i < b.len; i++)
		if ((unsigned char)b.p[i] <= 0x20 || (unsigned char)b.p[i] == 0x7f)
			abort();
	if (!utf8_valid((const unsigned char *)b.p, b.len))
		abort();
	sbuf_free(&b);
	free(s);
	return 0;
}
