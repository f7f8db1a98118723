/*
 * admin_fmt: output buffer and escaping for the admin socket, the metrics
 * endpoint and the status page.  It owns nothing but strings; see
 * admin_fmt.h for the rules each escaper keeps.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "control/admin_fmt.h"
#include "base/util.h"

static void
sbuf_reserve(struct sbuf *b, size_t more)
{
	size_t need = b->len + more + 1;

	if (need <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 256;
	while (b->cap < need)
		b->cap *= 2;
	b->p = xrealloc(b->p, b->cap);
}

void
sbuf_free(struct sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void
sbuf_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

void
sbuf_add(struct sbuf *b, const void *data, size_t len)
{
	sbuf_reserve(b, len);
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void
sbuf_puts(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

void
sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	sbuf_reserve(b, 64);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	if (n < 0) {
		va_end(ap2);
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		sbuf_reserve(b, (size_t)n);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap2);
	}
	va_end(ap2);
	b->len += (size_t)n;
}

void
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sbuf_vprintf(b, fmt, ap);
	va_end(ap);
}

void
sbuf_consume(struct sbuf *b, size_t n)
{
	if (n >= b->len) {
		sbuf_reset(b);
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
	b->p[b->len] = '\0';
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one. */
static size_t
utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void
sbuf_json_str(struct sbuf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");

	sbuf_add(b, "\"", 1);
	while (*s) {
		size_t n = utf8_len(s);

		if (n == 0) {
			sbuf_puts(b, "\\ufffd");
			s++;
			continue;
		}
		if (n > 1) {
			sbuf_add(b, s, n);
			s += n;
			continue;
		}
		switch (*s) {
		case '"': sbuf_puts(b, "\\\""); break;
		case '\\': sbuf_puts(b, "\\\\"); break;
		case '\n': sbuf_puts(b, "\\n"); break;
		case '\r': sbuf_puts(b, "\\r"); break;
		case '\t': sbuf_puts(b, "\\t"); break;
		default:
			if (*s < 0x20 || *s == 0x7f)
				sbuf_printf(b, "\\u%04x", *s);
			else
				sbuf_add(b, s, 1);
		}
		s++;
	}
	sbuf_add(b, "\"", 1);
}

void
sbuf_prom_label(struct sbuf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");

	for (; *s; s++) {
		switch (*s) {
		case '\\': sbuf_puts(b, "\\\\"); break;
		case '"': sbuf_puts(b, "\\\""); break;
		case '\n': sbuf_puts(b, "\\n"); break;
		default:
			/* Label values are UTF-8: anything else is replaced
			 * rather than handed to a scraper that rejects it. */
			if (*s >= 0x80) {
				size_t n = utf8_len(s);

				if (n == 0) {
					sbuf_add(b, "?", 1);
				} else {
					sbuf_add(b, s, n);
					s += n - 1;
				}
			} else {
				sbuf_add(b, s, 1);
			}
		}
	}
}

void
sbuf_html(struct sbuf *b, const char *str)
{
	const char *s = str ? str : "";

	for (; *s; s++) {
		switch (*s) {
		case '&': sbuf_puts(b, "&amp;"); break;
		case '<': sbuf_puts(b, "&lt;"); break;
		case '>': sbuf_puts(b, "&gt;"); break;
		case '"': sbuf_puts(b, "&quot;"); break;
		case '\'': sbuf_puts(b, "&#39;"); break;
		default:
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				sbuf_add(b, "?", 1);
			else
				sbuf_add(b, s, 1);
		}
	}
}

/* Code points shown escaped although valid: C1 controls, no-break and
 * other invisible spaces, and the bidirectional overrides that can make a
 * name look like another one. */
static bool
utf8_hidden(const unsigned char *s, size_t n)
{
	uint32_t cp;

	if (n == 2)
		cp = ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
	else if (n == 3)
		cp = ((uint32_t)(s[0] & 0x0f) << 12) |
		    ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
	else
		return false;
	return (cp >= 0x80 && cp <= 0xa0) || cp == 0xad ||
	    (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
	    (cp >= 0x2060 && cp <= 0x2069) || cp == 0x3000 || cp == 0xfeff;
}

void
sbuf_field(struct sbuf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");

	if (*s == '\0') {
		sbuf_add(b, "-", 1);
		return;
	}
	if (strcmp((const char *)s, "-") == 0) {
		sbuf_puts(b, "\\x2d");	/* "-" alone means empty */
		return;
	}
	while (*s) {
		size_t n = utf8_len(s);

		if (n > 1 && !utf8_hidden(s, n)) {
			sbuf_add(b, s, n);	/* UTF-8 shown as UTF-8 */
			s += n;
			continue;
		}
		if (n == 0)
			n = 1;			/* not UTF-8: each byte */
		for (size_t i = 0; i < n; i++, s++) {
			if (*s == '\\')
				sbuf_puts(b, "\\\\");
			else if (*s <= ' ' || *s >= 0x7f)
				sbuf_printf(b, "\\x%02x", *s);
			else
				sbuf_add(b, s, 1);
		}
	}
}

void
sbuf_word(struct sbuf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");

	if (*s == '\0') {
		sbuf_add(b, "-", 1);
		return;
	}
	while (*s) {
		size_t n = utf8_len(s);

		if (n > 1 && !utf8_hidden(s, n)) {
			sbuf_add(b, s, n);
			s += n;
		} else {
			sbuf_add(b, *s == ' ' ? "_" : n == 1 && *s > ' ' &&
			    *s < 0x7f ? (const char *)s : "?", 1);
			s++;
		}
	}
}

void
sbuf_prom_double(struct sbuf *b, double v)
{
	if (v == (double)(int64_t)v && v > -9e15 && v < 9e15)
		sbuf_printf(b, "%lld", (long long)(int64_t)v);
	else
		sbuf_printf(b, "%.17g", v);
}
