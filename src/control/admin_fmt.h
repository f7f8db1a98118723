/*
 * admin_fmt: a growable output buffer and the escaping every answer needs --
 * JSON strings, Prometheus label values, HTML text, and plain-text fields.
 * Pure: no sockets, no loop.  Whatever reaches an answer from a name or an
 * admin argument goes through one of these, so no string can break out of
 * its field, its label or its table cell.
 */
#ifndef TCPLB_ADMIN_FMT_H
#define TCPLB_ADMIN_FMT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf {
	char *p;		/* NUL-terminated when len > 0 or after any add */
	size_t len;
	size_t cap;
};

void sbuf_free(struct sbuf *b);
void sbuf_reset(struct sbuf *b);
void sbuf_add(struct sbuf *b, const void *data, size_t len);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap);
/* Drop the first n bytes (what was written to a socket). */
void sbuf_consume(struct sbuf *b, size_t n);

/* "s" as a JSON string, quotes included: \" \\ and control characters
 * escaped; bytes that are not valid UTF-8 become U+FFFD. */
void sbuf_json_str(struct sbuf *b, const char *s);
/* A Prometheus label value (without quotes): \\ \" \n escaped. */
void sbuf_prom_label(struct sbuf *b, const char *s);
/* HTML text or attribute content: & < > " ' escaped. */
void sbuf_html(struct sbuf *b, const char *s);
/* A name as one whitespace-free field of a text answer, reversibly:
 * space, backslash, control characters, invisible or direction-changing
 * code points and bytes that are not UTF-8 become \xHH (\\ for a
 * backslash); other UTF-8 stays as it is; an empty string is "-" (and
 * "-" itself \x2d).  Distinct names never look alike, and the field can
 * be typed back into an admin command (admin_cmd.c decodes it). */
void sbuf_field(struct sbuf *b, const char *s);
/* A message (a check result, a DNS error) as one field: spaces become
 * '_', control characters and bytes that are not UTF-8 '?'.  Lossy:
 * for text meant to be read, never for names. */
void sbuf_word(struct sbuf *b, const char *s);
/* A Prometheus sample value: integers exactly, others with %.17g. */
void sbuf_prom_double(struct sbuf *b, double v);

#endif
