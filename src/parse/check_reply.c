/*
 * check_reply: the HTTP status-line and header-end scanner, expect_status
 * sets, and the agent-check line parser (see check_reply.h).  Pure.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse/check_reply.h"

enum http_parse
http_status_line(const char *buf, size_t len, int *code)
{
	static const char pfx[] = "HTTP/1.";
	const char *nl;
	size_t n = len < sizeof(pfx) - 1 ? len : sizeof(pfx) - 1;
	int c = 0;

	/* Refuse garbage on its first wrong byte. */
	if (memcmp(buf, pfx, n) != 0)
		return HTTP_BAD;
	if (len < sizeof(pfx) - 1)
		return HTTP_MORE;
	/* "HTTP/1.x NNN" then end of line or a space and a reason. */
	for (size_t i = sizeof(pfx) - 1; i < len && i < 13; i++) {
		char ch = buf[i];

		if (i == 7 && !isdigit((unsigned char)ch))
			return HTTP_BAD;
		if (i == 8 && ch != ' ')
			return HTTP_BAD;
		if (i >= 9 && i <= 11) {
			if (!isdigit((unsigned char)ch))
				return HTTP_BAD;
			c = c * 10 + (ch - '0');
		}
		if (i == 12 && ch != ' ' && ch != '\r' && ch != '\n')
			return HTTP_BAD;
	}
	nl = memchr(buf, '\n', len);
	if (nl == NULL)
		return len >= HTTP_CHECK_HEAD_MAX ? HTTP_TOO_LONG : HTTP_MORE;
	if (nl - buf < 12)
		return HTTP_BAD;
	for (const char *p = buf + 13; p < nl; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t' && *p != '\r')
			return HTTP_BAD;
	if (c < 100 || c > 599)
		return HTTP_BAD;
	*code = c;
	return HTTP_DONE;
}

enum http_parse
http_head_end(const char *buf, size_t len, size_t *end)
{
	/* An empty line: "\n\n" or "\n\r\n" (servers that send bare LF). */
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n') {
			*end = i + 2;
			return HTTP_DONE;
		}
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n') {
			*end = i + 3;
			return HTTP_DONE;
		}
	}
	return len >= HTTP_CHECK_HEAD_MAX ? HTTP_TOO_LONG : HTTP_MORE;
}

static int
status_code(const char *s, size_t n, char *err, size_t errlen)
{
	int v = 0;

	if (n != 3) {
		snprintf(err, errlen, "invalid status code '%.*s' (100-599)",
		    (int)(n > 16 ? 16 : n), s);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i])) {
			snprintf(err, errlen, "invalid status code '%.*s' "
			    "(100-599)", (int)n, s);
			return -1;
		}
		v = v * 10 + (s[i] - '0');
	}
	if (v < 100 || v > 599) {
		snprintf(err, errlen, "status code %d out of range (100-599)",
		    v);
		return -1;
	}
	return v;
}

int
status_set_parse(struct status_set *set, const char *text, char *err,
    size_t errlen)
{
	const char *p = text;

	if (*p == '\0') {
		snprintf(err, errlen, "empty status");
		return -1;
	}
	while (*p != '\0') {
		const char *e = p + strcspn(p, ",");
		const char *dash;
		int lo, hi;

		while (p < e && isspace((unsigned char)*p))
			p++;
		while (e > p && isspace((unsigned char)e[-1]))
			e--;
		dash = memchr(p, '-', (size_t)(e - p));
		if (dash == NULL) {
			if ((lo = status_code(p, (size_t)(e - p), err,
			    errlen)) < 0)
				return -1;
			hi = lo;
		} else {
			const char *a = dash, *b = dash + 1;

			while (a > p && isspace((unsigned char)a[-1]))
				a--;
			while (b < e && isspace((unsigned char)*b))
				b++;
			if ((lo = status_code(p, (size_t)(a - p), err,
			    errlen)) < 0 ||
			    (hi = status_code(b, (size_t)(e - b), err,
			    errlen)) < 0)
				return -1;
			if (hi < lo) {
				snprintf(err, errlen, "empty range %d-%d", lo,
				    hi);
				return -1;
			}
		}
		if (set->n == STATUS_SET_MAX) {
			snprintf(err, errlen, "too many status codes or "
			    "ranges (at most %d)", STATUS_SET_MAX);
			return -1;
		}
		set->lo[set->n] = (uint16_t)lo;
		set->hi[set->n] = (uint16_t)hi;
		set->n++;
		p += strcspn(p, ",");
		if (*p == ',') {
			p++;
			if (*p == '\0') {
				snprintf(err, errlen, "trailing comma");
				return -1;
			}
		}
	}
	return 0;
}

bool
status_set_match(const struct status_set *set, int code)
{
	for (unsigned i = 0; i < set->n; i++)
		if (code >= set->lo[i] && code <= set->hi[i])
			return true;
	return false;
}

void
check_text_sanitize(char *dst, size_t dstlen, const char *src, size_t len)
{
	size_t j = 0;

	if (dstlen == 0)
		return;
	for (size_t i = 0; i < len && j + 1 < dstlen; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[j++] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ?
		    (char)ch : '?';
	}
	dst[j] = '\0';
}

static bool
word_is(const char *w, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(w, lit, n) == 0;
}

int
agent_parse(const char *line, size_t len, struct agent_reply *r, char *err,
    size_t errlen)
{
	size_t i = 0;
	unsigned words = 0;

	memset(r, 0, sizeof(*r));
	r->weight_pct = -1;
	r->maxconn = -1;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	while (i < len) {
		size_t s, n;
		const char *w;

		while (i < len && (line[i] == ' ' || line[i] == '\t' ||
		    line[i] == ','))
			i++;
		if (i == len)
			break;
		if (line[i] == '#') {
			r->desc = line + i + 1;
			r->desc_len = len - i - 1;
			break;
		}
		s = i;
		while (i < len && line[i] != ' ' && line[i] != '\t' &&
		    line[i] != ',' && line[i] != '#')
			i++;
		w = line + s;
		n = i - s;
		words++;
		if (word_is(w, n, "up")) {
			r->health = AGENT_H_UP;
		} else if (word_is(w, n, "down") || word_is(w, n, "fail") ||
		    word_is(w, n, "stopped")) {
			r->health = AGENT_H_DOWN;
		} else if (word_is(w, n, "ready")) {
			r->admin = AGENT_A_READY;
		} else if (word_is(w, n, "drain")) {
			r->admin = AGENT_A_DRAIN;
		} else if (word_is(w, n, "maint")) {
			r->admin = AGENT_A_MAINT;
		} else if (n >= 2 && w[n - 1] == '%') {
			long v = 0;

			for (size_t k = 0; k + 1 < n; k++) {
				if (!isdigit((unsigned char)w[k]) || v > 100000)
					goto bad;
				v = v * 10 + (w[k] - '0');
			}
			/* HAProxy caps the ratio at 256x the weight; 100000%
			 * is far past any weight's 256 ceiling anyway. */
			if (v > 100000)
				goto bad;
			r->weight_pct = (int)v;
		} else if (n > 8 && strncasecmp(w, "maxconn:", 8) == 0) {
			long v = 0;

			for (size_t k = 8; k < n; k++) {
				if (!isdigit((unsigned char)w[k]) ||
				    v > 100000000)
					goto bad;
				v = v * 10 + (w[k] - '0');
			}
			r->maxconn = v;
		} else {
			goto bad;
		}
		continue;
bad:
		{
			char q[40];

			check_text_sanitize(q, sizeof(q), w, n);
			snprintf(err, errlen, "unknown word '%s'", q);
			return -1;
		}
	}
	if (words == 0 && r->desc == NULL) {
		snprintf(err, errlen, "empty line");
		return -1;
	}
	return 0;
}
